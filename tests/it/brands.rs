//! Integration tests of the `brands` module's repository, run as `mixerai_app` through scopes.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mixerai_data::brands::{
    Brand, BrandFilter, BrandIdentity, BrandLogo, BrandPatch, BrandPatchBuilder, BrandRepo,
    BrandRole, BrandSettings, ColorsInput, LogoInput, LogoKind, MemberFilter, MembershipPatch,
    MembershipPatchBuilder, NewBrand, NewBrandBuilder, NewMembership, NewMembershipBuilder,
    NewVettingAgency, NewVettingAgencyBuilder, VettingAgencyFilter, VettingAgencyPatch,
    VettingAgencyPatchBuilder,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, UserId, VettingAgencyId};
use mixerai_data::{Deleted, Error, PageRequest};
use proptest::prelude::*;
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{fresh_db, insert_role, insert_user, pool};

/// Users with a live role each in one brand made by a system scope.
struct World {
    brand: Brand,
    owner: UserId,
    admin: UserId,
    editor: UserId,
    viewer: UserId,
    outsider: UserId,
}

async fn user(db: &TestDatabase, name: &str) -> UserId {
    UserId::from_uuid(insert_user(pool(db), &format!("{name}@example.com")).await)
}

fn minimal(name: &str) -> NewBrand {
    NewBrand::builder()
        .name(name)
        .country("GB")
        .language("en")
        .build()
        .unwrap()
}

fn role(role: BrandRole) -> NewMembership {
    NewMembership::builder().role(role).build().unwrap()
}

fn expiring(role: BrandRole, at: DateTime<Utc>) -> NewMembership {
    NewMembership::builder()
        .role(role)
        .expires_at(at)
        .build()
        .unwrap()
}

fn member_patch(b: MembershipPatchBuilder) -> MembershipPatch {
    b.build().unwrap()
}

async fn create(db: &TestDatabase, new: &NewBrand, by: UserId) -> Brand {
    let mut system = db.database().system_scope().await.unwrap();
    let brand = system.brands().create(new, by).await.unwrap();
    system.commit().await.unwrap();
    brand
}

async fn world(db: &TestDatabase) -> World {
    let owner = user(db, "owner").await;
    let brand = create(db, &minimal("Acme"), owner).await;
    let (admin, editor, viewer, outsider) = (
        user(db, "admin").await,
        user(db, "editor").await,
        user(db, "viewer").await,
        user(db, "outsider").await,
    );
    let mut system = db.database().system_scope().await.unwrap();
    for (u, r) in [
        (admin, BrandRole::Admin),
        (editor, BrandRole::Editor),
        (viewer, BrandRole::Viewer),
    ] {
        system.brands().grant(brand.id, u, &role(r)).await.unwrap();
    }
    system.commit().await.unwrap();
    World {
        brand,
        owner,
        admin,
        editor,
        viewer,
        outsider,
    }
}

/// Audit events recorded for one row, read as the owner.
async fn events(db: &TestDatabase, row: impl Into<Uuid>) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
        .bind(row.into())
        .fetch_one(pool(db))
        .await
        .unwrap()
}

async fn make_platform_admin(db: &TestDatabase, user: UserId) {
    sqlx::query(
        "UPDATE mixerai.users SET metadata = jsonb_set(metadata, '{is_platform_admin}', 'true') WHERE id = $1",
    )
    .bind(user)
    .execute(pool(db))
    .await
    .unwrap();
}

async fn soft_delete_user(db: &TestDatabase, user: UserId) {
    sqlx::query("UPDATE mixerai.users SET deleted_at = now() WHERE id = $1")
        .bind(user)
        .execute(pool(db))
        .await
        .unwrap();
}

fn full_brand_builder() -> NewBrandBuilder {
    let mut integrations = serde_json::Map::new();
    integrations.insert(
        "slack".into(),
        serde_json::json!({"channel": "#brand", "on": true}),
    );
    NewBrand::builder()
        .name("Analytical Engines")
        .slug("engines")
        .description("Machines that weave algebra")
        .identity(BrandIdentity {
            mission: Some("Compute".into()),
            vision: None,
            values: vec!["Rigour".into(), "Poetry".into()],
            usp: Some("First".into()),
        })
        .tone_of_voice("Precise")
        .communication_style("Letters")
        .personality_trait("curious")
        .guardrail("No medical claims")
        .guardrail("Cite sources")
        .key_message("Numbers are poetry")
        .target_audience("Engineers")
        .country("gb")
        .language("EN")
        .currency("gbp")
        .logo(LogoInput::new(
            "https://example.com/logo.svg",
            "Engine logo",
            "dark",
        ))
        .colors(ColorsInput::new("#ABC").secondary("#112233"))
        .settings(BrandSettings {
            content_types: vec!["article".into()],
            features: vec!["ai".into()],
            integrations,
        })
}

fn full_brand() -> NewBrand {
    full_brand_builder().build().unwrap()
}

// ---- brands -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_brand_with_every_field_round_trips_through_the_database() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let new = full_brand();
    let created = create(&db, &new, owner).await;
    assert_eq!(created.id, new.id());
    assert_eq!(created.version, 1);
    assert_eq!(created.created_by, owner);
    assert_eq!(created.country.as_str(), "GB");
    assert_eq!(created.language.as_str(), "en");
    assert_eq!(created.currency.unwrap().as_str(), "GBP");
    assert_eq!(created.colors.as_ref().unwrap().primary.as_str(), "#aabbcc");
    assert_eq!(created.colors.as_ref().unwrap().accent, None);
    assert_eq!(
        created.logo,
        Some(BrandLogo {
            url: "https://example.com/logo.svg".into(),
            alt_text: "Engine logo".into(),
            kind: LogoKind::Dark
        })
    );
    assert_eq!(created.guardrails, ["No medical claims", "Cite sources"]);
    assert_eq!(created.brand_personality, ["curious"]);
    assert_eq!(created.identity.values, ["Rigour", "Poetry"]);
    assert_eq!(created.settings.content_types, ["article"]);
    let mut system = db.database().system_scope().await.unwrap();
    let read = system.brands().get(created.id).await.unwrap();
    assert_eq!(read, created);
    // The model's serde form round-trips exactly, and stores the spec's JSON names.
    let json = serde_json::to_value(&read).unwrap();
    assert_eq!(json["logo"]["altText"], "Engine logo");
    assert_eq!(json["settings"]["contentTypes"][0], "article");
    assert_eq!(serde_json::from_value::<Brand>(json).unwrap(), read);
    let stored: serde_json::Value =
        sqlx::query_scalar("SELECT logo FROM mixerai.brands WHERE id = $1")
            .bind(read.id)
            .fetch_one(pool(&db))
            .await
            .unwrap();
    assert_eq!(stored["type"], "dark");

    // A minimal brand reads back with empty lists and no colours or logo; no colours are stored as
    // the column's `{}`, never NULL.
    let plain = create(&db, &minimal("Plain"), owner).await;
    assert_eq!((plain.colors, plain.logo), (None, None));
    assert!(plain.brand_personality.is_empty() && plain.key_messages.is_empty());
    assert_eq!(plain.identity, BrandIdentity::default());
    assert_eq!(plain.settings, BrandSettings::default());
    let colors: serde_json::Value =
        sqlx::query_scalar("SELECT colors FROM mixerai.brands WHERE id = $1")
            .bind(plain.id)
            .fetch_one(pool(&db))
            .await
            .unwrap();
    assert_eq!(colors, serde_json::json!({}));
}

/// Builders deserialised from a request's JSON write exactly what the setters write.
#[tokio::test]
async fn builders_deserialised_from_json_write_what_the_setters_write() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let json = serde_json::to_value(full_brand_builder()).unwrap();
    assert_eq!(json["logo"]["altText"], "Engine logo");
    let from_json: NewBrandBuilder = serde_json::from_value(json).unwrap();
    let a = create(&db, &from_json.build().unwrap(), w.owner).await;
    let b = create(
        &db,
        &full_brand_builder()
            .name("Other Engines")
            .slug("other-engines")
            .build()
            .unwrap(),
        w.owner,
    )
    .await;
    let same_as_a = Brand {
        id: a.id,
        name: a.name.clone(),
        slug: a.slug.clone(),
        created_at: a.created_at,
        updated_at: a.updated_at,
        ..b.clone()
    };
    assert_eq!(a, same_as_a);

    let patch: BrandPatchBuilder = serde_json::from_str(
        r##"{"description": null, "guardrails": ["Be brief"], "colors": {"primary": "#000"}}"##,
    )
    .unwrap();
    let by_setters = BrandPatch::builder()
        .clear_description()
        .guardrails(["Be brief"])
        .colors(ColorsInput::new("#000"));
    assert_eq!(patch, by_setters);
    let mut system = db.database().system_scope().await.unwrap();
    let a = system
        .brands()
        .update(a.id, a.version, &patch.build().unwrap())
        .await
        .unwrap();
    let b = system
        .brands()
        .update(b.id, b.version, &by_setters.build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (&a.description, &a.guardrails),
        (&None, &vec!["Be brief".to_owned()])
    );
    assert_eq!(
        (&a.description, &a.guardrails, &a.colors),
        (&b.description, &b.guardrails, &b.colors)
    );

    let (newcomer, other) = (user(&db, "newcomer").await, user(&db, "other").await);
    let json =
        r#"{"role": "editor", "expires_at": "2031-02-03T04:05:06Z", "permissions": ["publish"]}"#;
    let from_json: NewMembershipBuilder = serde_json::from_str(json).unwrap();
    let m1 = system
        .brands()
        .grant(w.brand.id, newcomer, &from_json.build().unwrap())
        .await
        .unwrap();
    let at: DateTime<Utc> = "2031-02-03T04:05:06Z".parse().unwrap();
    let m2 = system
        .brands()
        .grant(
            w.brand.id,
            other,
            &NewMembership::builder()
                .role(BrandRole::Editor)
                .expires_at(at)
                .permission("publish")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (m1.role, m1.expires_at, &m1.permissions, &m1.restrictions),
        (m2.role, m2.expires_at, &m2.permissions, &m2.restrictions)
    );
    assert_eq!(m1.expires_at, Some(at));

    let from_json: NewVettingAgencyBuilder =
        serde_json::from_str(r#"{"agency_name": "Lab", "priority": 4, "is_active": false}"#)
            .unwrap();
    let lab = system
        .brands()
        .create_vetting_agency(w.brand.id, &from_json.build().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (lab.agency_name.as_str(), lab.priority, lab.is_active),
        ("Lab", 4, false)
    );
    let patch: VettingAgencyPatchBuilder = serde_json::from_str(r#"{"is_active": true}"#).unwrap();
    assert_eq!(patch, VettingAgencyPatch::builder().is_active(true));
    let lab = system
        .brands()
        .update_vetting_agency(lab.id, lab.version, &patch.build().unwrap())
        .await
        .unwrap();
    assert_eq!((lab.is_active, lab.priority, lab.version), (true, 4, 2));
}

#[test]
fn the_builders_report_every_problem_at_once() {
    let err = NewBrand::builder()
        .name(" ")
        .slug("Not A Slug")
        .country("XX")
        .language("english")
        .currency("EURO")
        .guardrail("")
        .logo(LogoInput::new("ftp://example.com/x", " ", "neon"))
        .colors(ColorsInput::new("red").secondary("#12"))
        .settings(BrandSettings {
            content_types: vec!["x".repeat(51)],
            ..BrandSettings::default()
        })
        .build()
        .unwrap_err();
    let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "slug",
            "guardrails[0]",
            "country",
            "language",
            "currency",
            "logo.type",
            "logo.url",
            "logo.alt_text",
            "colors.primary",
            "colors.secondary",
            "settings.content_types[0]"
        ],
        "{err}"
    );
    let twice = BrandId::new();
    let err = BrandPatch::builder()
        .name("")
        .slug("a--b")
        .country("gbr")
        .key_messages(["ok", " "])
        .colors(ColorsInput::new("#zzz"))
        .master_claim_brand_ids([twice, twice])
        .build()
        .unwrap_err();
    let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "slug",
            "key_messages[1]",
            "country",
            "colors.primary",
            "master_claim_brand_ids[1]"
        ],
        "{err}"
    );
}

#[tokio::test]
async fn a_taken_name_or_slug_conflicts_even_when_its_brand_is_soft_deleted() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let first = create(&db, &minimal("Acme"), owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .soft_delete(first.id, first.version)
        .await
        .unwrap();
    let same_name = NewBrand::builder()
        .name("Acme")
        .slug("other")
        .country("GB")
        .language("en")
        .build()
        .unwrap();
    let err = system.brands().create(&same_name, owner).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
            if constraint == "brands_name_key" && f == "name"),
        "{err:?}"
    );
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    let same_slug = NewBrand::builder()
        .name("Other")
        .slug("acme")
        .country("GB")
        .language("en")
        .build()
        .unwrap();
    let err = system.brands().create(&same_slug, owner).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
            if constraint == "brands_slug_key" && f == "slug"),
        "{err:?}"
    );
    drop(system);
    // And through an update, which then writes nothing.
    let second = create(&db, &minimal("Second"), owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    let patch = BrandPatch::builder().slug("acme").build().unwrap();
    let err = system
        .brands()
        .update(second.id, second.version, &patch)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
            if constraint == "brands_slug_key" && f == "slug"),
        "{err:?}"
    );
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(system.brands().get(second.id).await.unwrap(), second);
}

#[tokio::test]
async fn creating_a_brand_is_forbidden_in_a_tenant_scope_of_a_brand_admin() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .create(&minimal("Sneaky"), w.admin)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn a_brand_admin_updates_the_brand_and_others_are_refused_with_nothing_written() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let patch = BrandPatch::builder()
        .description("New words")
        .tone_of_voice("Warm")
        .guardrails(["Be kind"])
        .currency("EUR")
        .logo(BrandLogo {
            url: "https://example.com/l.png".into(),
            alt_text: "Logo".into(),
            kind: LogoKind::Light,
        })
        .colors(ColorsInput::new("#000").accent("#fff"))
        .build()
        .unwrap();
    for (who, expect) in [
        (w.viewer, "forbidden"),
        (w.editor, "forbidden"),
        (w.outsider, "not found"),
    ] {
        let mut scope = db.database().scope(who, w.brand.id).await.unwrap();
        let err = scope
            .brands()
            .update(w.brand.id, w.brand.version, &patch)
            .await
            .unwrap_err();
        match expect {
            "forbidden" => assert!(matches!(err, Error::Forbidden { .. }), "{err:?}"),
            _ => assert!(matches!(err, Error::NotFound { .. }), "{err:?}"),
        }
    }
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let updated = scope
        .brands()
        .update(w.brand.id, w.brand.version, &patch)
        .await
        .unwrap();
    assert_eq!(updated.version, w.brand.version + 1);
    assert_eq!(updated.description.as_deref(), Some("New words"));
    assert_eq!(updated.guardrails, ["Be kind"]);
    assert_eq!(updated.currency.unwrap().as_str(), "EUR");
    assert_eq!(
        updated
            .colors
            .as_ref()
            .unwrap()
            .accent
            .as_ref()
            .unwrap()
            .as_str(),
        "#ffffff"
    );
    assert_eq!(updated.name, "Acme", "unset fields keep their value");
    scope.commit().await.unwrap();

    // Clearing, and a stale version.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let clear = BrandPatch::builder()
        .clear_description()
        .clear_currency()
        .clear_logo()
        .clear_colors()
        .build()
        .unwrap();
    let cleared = scope
        .brands()
        .update(w.brand.id, updated.version, &clear)
        .await
        .unwrap();
    assert_eq!((cleared.description, cleared.currency), (None, None));
    assert_eq!((cleared.logo, cleared.colors), (None, None));
    assert_eq!(cleared.tone_of_voice.as_deref(), Some("Warm"));
    scope.commit().await.unwrap();
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let late = BrandPatch::builder().name("Late").build().unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, updated.version, &late)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stale { entity: "brand", expected, actual }
            if expected == updated.version && actual == cleared.version),
        "{err:?}"
    );
    drop(scope);
    let mut system = db.database().system_scope().await.unwrap();
    let now = system.brands().get(w.brand.id).await.unwrap();
    assert_eq!((now.name.as_str(), now.version), ("Acme", cleared.version));
    let err = system
        .brands()
        .update(BrandId::new(), 1, &late)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn an_empty_brand_patch_writes_no_row_and_no_audit_event() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let before = events(&db, w.brand.id).await;
    let empty = BrandPatch::builder()
        .maybe_name(None::<String>)
        .build()
        .unwrap();
    assert!(empty.is_empty());
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let same = scope
        .brands()
        .update(w.brand.id, w.brand.version, &empty)
        .await
        .unwrap();
    assert_eq!(same, w.brand);
    let err = scope
        .brands()
        .update(w.brand.id, w.brand.version + 5, &empty)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stale { entity: "brand", actual, .. } if actual == w.brand.version),
        "{err:?}"
    );
    scope.commit().await.unwrap();
    assert_eq!(events(&db, w.brand.id).await, before);
    let mut system = db.database().system_scope().await.unwrap();
    let read = system.brands().get(w.brand.id).await.unwrap();
    assert_eq!(
        (read.version, read.updated_at),
        (w.brand.version, w.brand.updated_at)
    );
}

#[tokio::test]
async fn concurrent_updates_from_one_read_let_exactly_one_through() {
    let db = Arc::new(fresh_db().await);
    let owner = user(&db, "owner").await;
    let brand = create(&db, &minimal("Acme"), owner).await;
    let barrier = Arc::new(Barrier::new(3));
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (db, barrier, brand) = (db.clone(), barrier.clone(), brand.clone());
        tasks.push(tokio::spawn(async move {
            let mut system = db.database().system_scope().await.unwrap();
            let patch = BrandPatch::builder()
                .target_audience(format!("Audience {i}"))
                .build()
                .unwrap();
            barrier.wait().await;
            let result = system
                .brands()
                .update(brand.id, brand.version, &patch)
                .await;
            system.commit().await.unwrap();
            result
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(b) => {
                won += 1;
                assert_eq!(b.version, 2);
            }
            Err(Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn soft_delete_and_restore_belong_to_system_scopes_and_platform_admins() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .soft_delete(w.brand.id, w.brand.version)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden { .. }),
        "brand admin: {err:?}"
    );
    drop(scope);
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .soft_delete(w.brand.id, w.brand.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "viewer: {err:?}");
    drop(scope);

    let mut system = db.database().system_scope().await.unwrap();
    let deleted = system
        .brands()
        .soft_delete(w.brand.id, w.brand.version)
        .await
        .unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(deleted.version, w.brand.version + 1);
    assert!(matches!(
        system.brands().get(w.brand.id).await,
        Err(Error::NotFound { .. })
    ));
    let listed = system
        .brands()
        .list(&BrandFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    let err = system
        .brands()
        .soft_delete(w.brand.id, deleted.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "twice: {err:?}");
    system.commit().await.unwrap();

    // A deleted brand is closed to its members: its own admin no longer even sees it.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .restore(w.brand.id, deleted.version)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "brand admin restore: {err:?}"
    );
    drop(scope);

    make_platform_admin(&db, w.outsider).await;
    let mut scope = db.database().scope(w.outsider, w.brand.id).await.unwrap();
    assert_eq!(
        scope
            .brands()
            .get_including_deleted(w.brand.id)
            .await
            .unwrap(),
        deleted
    );
    let restored = scope
        .brands()
        .restore(w.brand.id, deleted.version)
        .await
        .unwrap();
    assert_eq!((restored.id, restored.deleted_at), (w.brand.id, None));
    assert_eq!(restored.version, deleted.version + 1);
    let err = scope
        .brands()
        .restore(w.brand.id, restored.version)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "restore twice: {err:?}"
    );
    let again = scope
        .brands()
        .soft_delete(w.brand.id, restored.version)
        .await
        .unwrap();
    scope
        .brands()
        .restore(w.brand.id, again.version)
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(
        system.brands().get(w.brand.id).await.unwrap().deleted_at,
        None
    );
    let err = system
        .brands()
        .restore(BrandId::new(), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_soft_deleted_brand_is_not_found_by_get_but_by_get_including_deleted_and_the_filter() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let gone = create(&db, &minimal("Gone"), owner).await;
    let kept = create(&db, &minimal("Kept"), owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    let deleted = system
        .brands()
        .soft_delete(gone.id, gone.version)
        .await
        .unwrap();
    let err = system.brands().get(gone.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "brand" }),
        "{err:?}"
    );
    assert_eq!(
        system
            .brands()
            .get_including_deleted(gone.id)
            .await
            .unwrap(),
        deleted
    );
    let ids = |page: mixerai_data::Page<Brand>| page.items.iter().map(|b| b.id).collect::<Vec<_>>();
    for (deleted_filter, expected) in [
        (Deleted::Exclude, vec![kept.id]),
        (Deleted::Only, vec![gone.id]),
        (Deleted::Include, vec![kept.id, gone.id]),
    ] {
        let filter = BrandFilter {
            deleted: deleted_filter,
            ..BrandFilter::default()
        };
        let page = system
            .brands()
            .list(&filter, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(ids(page), expected, "{deleted_filter:?}");
    }

    // State changes name the version they were based on, too.
    let err = system
        .brands()
        .restore(gone.id, gone.version)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stale { entity: "brand", expected, actual }
            if expected == gone.version && actual == deleted.version),
        "{err:?}"
    );
    let moved = system
        .brands()
        .update(
            kept.id,
            kept.version,
            &BrandPatch::builder().description("moved").build().unwrap(),
        )
        .await
        .unwrap();
    let err = system
        .brands()
        .soft_delete(kept.id, kept.version)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stale { actual, .. } if actual == moved.version),
        "{err:?}"
    );
    assert_eq!(system.brands().get(kept.id).await.unwrap(), moved);
    assert!(
        system
            .brands()
            .get_including_deleted(gone.id)
            .await
            .unwrap()
            .deleted_at
            .is_some()
    );
}

#[tokio::test]
async fn sub_brands_are_listed_and_a_cycle_or_missing_parent_is_refused() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let root = create(&db, &minimal("Root"), owner).await;
    let mut children = Vec::new();
    for i in 0..3 {
        let new = NewBrand::builder()
            .name(format!("Child {i}"))
            .country("FR")
            .language("fr")
            .parent_brand_id(root.id)
            .build()
            .unwrap();
        children.push(create(&db, &new, owner).await);
    }
    let grandchild = create(
        &db,
        &NewBrand::builder()
            .name("Grandchild")
            .country("FR")
            .language("fr")
            .parent_brand_id(children[0].id)
            .build()
            .unwrap(),
        owner,
    )
    .await;
    let all = BrandFilter::default();
    let mut system = db.database().system_scope().await.unwrap();
    let first = system
        .brands()
        .sub_brands(root.id, &all, &PageRequest::first(2))
        .await
        .unwrap();
    let second = system
        .brands()
        .sub_brands(
            root.id,
            &all,
            &PageRequest::first(2).after(first.next.unwrap()),
        )
        .await
        .unwrap();
    let mut ids: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|b| b.id)
        .collect();
    ids.sort();
    let mut expected: Vec<_> = children.iter().map(|b| b.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(second.next, None);
    // The filter applies to sub-brands too.
    let in_gb = BrandFilter {
        country: Some("GB".parse().unwrap()),
        ..BrandFilter::default()
    };
    assert!(
        system
            .brands()
            .sub_brands(root.id, &in_gb, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // root -> child 0 -> grandchild; making root a child of grandchild closes a loop.
    let patch = BrandPatch::builder()
        .parent_brand_id(grandchild.id)
        .build()
        .unwrap();
    let err = system
        .brands()
        .update(root.id, root.version, &patch)
        .await
        .unwrap_err();
    let report = err.validation().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(report.errors()[0].field, "parent_brand_id", "{report}");
    assert_eq!(
        report.errors()[0].reason,
        "would make the brand its own ancestor"
    );
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    let own = BrandPatch::builder()
        .parent_brand_id(root.id)
        .build()
        .unwrap();
    let err = system
        .brands()
        .update(root.id, root.version, &own)
        .await
        .unwrap_err();
    assert_eq!(
        err.validation().map(|v| v.errors()[0].field.as_str()),
        Some("parent_brand_id"),
        "{err:?}"
    );
    let orphan = NewBrand::builder()
        .name("Orphan")
        .country("GB")
        .language("en")
        .parent_brand_id(BrandId::new())
        .build()
        .unwrap();
    let err = system.brands().create(&orphan, owner).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { field: Some(f), .. } if f == "parent_brand_id"),
        "{err:?}"
    );
    drop(system);

    // Moving a child to the top level is fine; a tenant scope sees no sub-brands (other tenants).
    let mut system = db.database().system_scope().await.unwrap();
    let top = BrandPatch::builder()
        .clear_parent_brand_id()
        .build()
        .unwrap();
    let moved = system
        .brands()
        .update(children[2].id, children[2].version, &top)
        .await
        .unwrap();
    assert_eq!(moved.parent_brand_id, None);
    system
        .brands()
        .grant(root.id, owner, &role(BrandRole::Admin))
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(owner, root.id).await.unwrap();
    let seen = scope
        .brands()
        .sub_brands(root.id, &all, &PageRequest::default())
        .await
        .unwrap();
    assert!(seen.items.is_empty());
}

#[tokio::test]
async fn master_claim_brands_must_exist_and_must_not_be_the_brand_itself() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let master = create(&db, &minimal("Master"), w.owner).await;
    let patch = BrandPatch::builder()
        .master_claim_brand_ids([master.id])
        .build()
        .unwrap();
    // A brand admin may not name a brand they do not administer: that would graft their brand onto
    // another tenant's claims.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, w.brand.version, &patch)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { constraint, .. } if constraint == "brands_master_claim_brand_ids_fkey"),
        "{err:?}"
    );
    drop(scope);
    // An admin of both links their brand to the master brand's claims.
    insert_role(pool(&db), w.admin.as_uuid(), master.id.as_uuid(), "admin").await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let linked = scope
        .brands()
        .update(w.brand.id, w.brand.version, &patch)
        .await
        .unwrap();
    assert_eq!(linked.master_claim_brand_ids, [master.id]);
    scope.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let missing = BrandPatch::builder()
        .master_claim_brand_ids([master.id, BrandId::new()])
        .build()
        .unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, linked.version, &missing)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { constraint, .. } if constraint == "brands_master_claim_brand_ids_fkey"),
        "{err:?}"
    );
    drop(scope);
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let itself = BrandPatch::builder()
        .master_claim_brand_id(w.brand.id)
        .build()
        .unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, linked.version, &itself)
        .await
        .unwrap_err();
    assert_eq!(
        err.validation().map(|v| v.errors()[0].field.as_str()),
        Some("master_claim_brand_ids[0]"),
        "{err:?}"
    );
    drop(scope);
    let mut system = db.database().system_scope().await.unwrap();
    let err = system
        .brands()
        .create(
            &NewBrand::builder()
                .name("Linked")
                .country("GB")
                .language("en")
                .master_claim_brand_id(BrandId::new())
                .build()
                .unwrap(),
            w.owner,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidReference { .. }), "{err:?}");
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(
        system
            .brands()
            .get(w.brand.id)
            .await
            .unwrap()
            .master_claim_brand_ids,
        [master.id]
    );
}

#[tokio::test]
async fn list_shows_every_live_brand_to_a_system_scope_and_only_its_own_to_a_tenant_scope() {
    let db = fresh_db().await;
    let w = world(&db).await;
    for i in 0..4 {
        create(&db, &minimal(&format!("Other {i}")), w.owner).await;
    }
    let french = create(
        &db,
        &NewBrand::builder()
            .name("Française")
            .country("FR")
            .language("fr")
            .build()
            .unwrap(),
        w.owner,
    )
    .await;
    let all = BrandFilter::default();
    let mut system = db.database().system_scope().await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = system.brands().list(&all, &request).await.unwrap();
        seen.extend(page.items.iter().map(|b| (b.created_at, b.id.as_uuid())));
        match page.next {
            Some(c) => request = request.after(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    let in_france = BrandFilter {
        country: Some("fr".parse().unwrap()),
        ..BrandFilter::default()
    };
    let page = system
        .brands()
        .list(&in_france, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        [french.id]
    );
    drop(system);
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let mine = scope
        .brands()
        .list(&all, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        mine.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        [w.brand.id]
    );
    drop(scope);
    let mut scope = db.database().scope(w.outsider, w.brand.id).await.unwrap();
    assert!(
        scope
            .brands()
            .list(&all, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        scope.brands().get(w.brand.id).await,
        Err(Error::NotFound { .. })
    ));
}

// ---- memberships --------------------------------------------------------------------------------

#[tokio::test]
async fn roles_are_granted_changed_and_revoked_by_admins_only() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let newcomer = user(&db, "newcomer").await;
    let to_admin = member_patch(MembershipPatch::builder().role(BrandRole::Admin));
    for who in [w.viewer, w.editor] {
        let mut scope = db.database().scope(who, w.brand.id).await.unwrap();
        let err = scope
            .brands()
            .change_role(w.brand.id, w.viewer, 1, &to_admin)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "change: {err:?}");
        let err = scope
            .brands()
            .revoke(w.brand.id, w.admin, 1)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "revoke: {err:?}");
        drop(scope);
        let mut scope = db.database().scope(who, w.brand.id).await.unwrap();
        let err = scope
            .brands()
            .grant(w.brand.id, newcomer, &role(BrandRole::Viewer))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "grant: {err:?}");
    }
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let granted = scope
        .brands()
        .grant(w.brand.id, newcomer, &role(BrandRole::Viewer))
        .await
        .unwrap();
    assert_eq!(
        (granted.role, granted.assigned_by, granted.version),
        (BrandRole::Viewer, Some(w.admin), 1)
    );
    let changed = scope
        .brands()
        .change_role(
            w.brand.id,
            newcomer,
            granted.version,
            &member_patch(MembershipPatch::builder().role(BrandRole::Editor)),
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.id, changed.role, changed.version),
        (granted.id, BrandRole::Editor, 2)
    );
    let revoked = scope
        .brands()
        .revoke(w.brand.id, w.viewer, 1)
        .await
        .unwrap();
    assert_eq!(
        (revoked.user_id, revoked.role),
        (w.viewer, BrandRole::Viewer)
    );
    let err = scope
        .brands()
        .revoke(w.brand.id, w.viewer, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                entity: "membership"
            }
        ),
        "{err:?}"
    );
    let err = scope
        .brands()
        .change_role(w.brand.id, w.outsider, 1, &to_admin)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    scope.commit().await.unwrap();

    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    assert!(
        matches!(
            scope.brands().get(w.brand.id).await,
            Err(Error::NotFound { .. })
        ),
        "revoked viewer"
    );
    drop(scope);
    let mut scope = db.database().scope(newcomer, w.brand.id).await.unwrap();
    let members = scope
        .brands()
        .members(
            w.brand.id,
            &MemberFilter::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    let mut roles: Vec<_> = members.items.iter().map(|m| (m.user_id, m.role)).collect();
    roles.sort_by_key(|(u, _)| u.as_uuid());
    let mut expected = vec![
        (w.admin, BrandRole::Admin),
        (w.editor, BrandRole::Editor),
        (newcomer, BrandRole::Editor),
    ];
    expected.sort_by_key(|(u, _)| u.as_uuid());
    assert_eq!(roles, expected);
    // A changed role is the newest assignment.
    assert_eq!(members.items[0].user_id, newcomer);
}

#[tokio::test]
async fn a_second_grant_to_the_same_user_conflicts_on_the_user_and_changes_nothing() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .grant(w.brand.id, w.editor, &role(BrandRole::Admin))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
            if constraint == "user_brand_roles_user_brand_key" && f == "user_id"),
        "{err:?}"
    );
    drop(scope);
    let mut system = db.database().system_scope().await.unwrap();
    let err = system
        .brands()
        .grant(w.brand.id, UserId::new(), &role(BrandRole::Viewer))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { field: Some(f), .. } if f == "user_id"),
        "{err:?}"
    );
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    let kept = system
        .brands()
        .membership(w.brand.id, w.editor)
        .await
        .unwrap();
    assert_eq!((kept.role, kept.version), (BrandRole::Editor, 1));
}

#[tokio::test]
async fn a_stale_role_change_or_revoke_is_refused_and_overwrites_nothing() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let tomorrow = Utc::now() + Duration::days(1);
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let first = scope
        .brands()
        .change_role(
            w.brand.id,
            w.editor,
            1,
            &member_patch(
                MembershipPatch::builder()
                    .expires_at(tomorrow)
                    .restriction("no-publish"),
            ),
        )
        .await
        .unwrap();
    assert_eq!(first.version, 2);
    assert_eq!(
        first.role,
        BrandRole::Editor,
        "unset fields keep their value"
    );
    assert_eq!(first.restrictions, ["no-publish"]);
    scope.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .change_role(
            w.brand.id,
            w.editor,
            1,
            &member_patch(MembershipPatch::builder().role(BrandRole::Admin)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "membership",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    let err = scope
        .brands()
        .revoke(w.brand.id, w.editor, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        scope
            .brands()
            .membership(w.brand.id, w.editor)
            .await
            .unwrap(),
        first
    );
    // Clearing the expiry makes the access permanent again.
    let permanent = scope
        .brands()
        .change_role(
            w.brand.id,
            w.editor,
            first.version,
            &member_patch(MembershipPatch::builder().clear_expires_at()),
        )
        .await
        .unwrap();
    assert_eq!((permanent.expires_at, permanent.version), (None, 3));
    assert_eq!(permanent.restrictions, ["no-publish"]);
}

#[tokio::test]
async fn an_empty_membership_patch_writes_no_row_and_no_audit_event() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut system = db.database().system_scope().await.unwrap();
    let before = system
        .brands()
        .membership(w.brand.id, w.editor)
        .await
        .unwrap();
    drop(system);
    let events_before = events(&db, before.id).await;
    let empty = member_patch(MembershipPatch::builder().maybe_role(None::<BrandRole>));
    assert!(empty.is_empty());
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let same = scope
        .brands()
        .change_role(w.brand.id, w.editor, before.version, &empty)
        .await
        .unwrap();
    assert_eq!(same, before);
    let err = scope
        .brands()
        .change_role(w.brand.id, w.editor, before.version + 1, &empty)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Stale { actual, .. } if actual == before.version),
        "{err:?}"
    );
    scope.commit().await.unwrap();
    assert_eq!(events(&db, before.id).await, events_before);
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(
        system
            .brands()
            .membership(w.brand.id, w.editor)
            .await
            .unwrap(),
        before
    );
}

/// The members a list returns, as a set.
async fn member_ids(
    repo: &mut BrandRepo<'_>,
    brand: BrandId,
    filter: &MemberFilter,
) -> BTreeSet<UserId> {
    repo.members(brand, filter, &PageRequest::first(50))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.user_id)
        .collect()
}

#[tokio::test]
async fn member_lists_exclude_expired_roles_and_deleted_users_unless_asked() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let (gone, lapsed) = (user(&db, "gone").await, user(&db, "lapsed").await);
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(w.brand.id, gone, &role(BrandRole::Viewer))
        .await
        .unwrap();
    system
        .brands()
        .grant(
            w.brand.id,
            lapsed,
            &expiring(BrandRole::Editor, Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    soft_delete_user(&db, gone).await;

    let live = BTreeSet::from([w.admin, w.editor, w.viewer]);
    let with = |extra: &[UserId]| live.iter().chain(extra).copied().collect::<BTreeSet<_>>();
    let cases = [
        (MemberFilter::default(), live.clone()),
        (
            MemberFilter {
                include_expired: true,
                ..MemberFilter::default()
            },
            with(&[lapsed]),
        ),
        (
            MemberFilter {
                include_deleted_users: true,
                ..MemberFilter::default()
            },
            with(&[gone]),
        ),
        (
            MemberFilter {
                include_expired: true,
                include_deleted_users: true,
                ..MemberFilter::default()
            },
            with(&[gone, lapsed]),
        ),
        (
            MemberFilter {
                role: Some(BrandRole::Editor),
                ..MemberFilter::default()
            },
            BTreeSet::from([w.editor]),
        ),
        (
            MemberFilter {
                role: Some(BrandRole::Editor),
                include_expired: true,
                ..MemberFilter::default()
            },
            BTreeSet::from([w.editor, lapsed]),
        ),
    ];
    // The same answers in a member's tenant scope and in a system scope.
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    for (filter, expected) in &cases {
        assert_eq!(
            &member_ids(&mut scope.brands(), w.brand.id, filter).await,
            expected,
            "tenant {filter:?}"
        );
    }
    drop(scope);
    let mut system = db.database().system_scope().await.unwrap();
    for (filter, expected) in &cases {
        assert_eq!(
            &member_ids(&mut system.brands(), w.brand.id, filter).await,
            expected,
            "system {filter:?}"
        );
    }

    // memberships_of follows the same rules.
    let brands_of = |page: mixerai_data::Page<mixerai_data::brands::Membership>| {
        page.items.iter().map(|m| m.brand_id).collect::<Vec<_>>()
    };
    for (who, filter, expected) in [
        (gone, MemberFilter::default(), vec![]),
        (
            gone,
            MemberFilter {
                include_deleted_users: true,
                ..MemberFilter::default()
            },
            vec![w.brand.id],
        ),
        (lapsed, MemberFilter::default(), vec![]),
        (
            lapsed,
            MemberFilter {
                include_expired: true,
                ..MemberFilter::default()
            },
            vec![w.brand.id],
        ),
    ] {
        let page = system
            .brands()
            .memberships_of(who, &filter, &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(brands_of(page), expected, "{filter:?}");
    }
}

#[tokio::test]
async fn members_page_newest_grant_first_without_repeats() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut system = db.database().system_scope().await.unwrap();
    for i in 0..5 {
        let u = user(&db, &format!("m{i}")).await;
        system
            .brands()
            .grant(w.brand.id, u, &role(BrandRole::Viewer))
            .await
            .unwrap();
    }
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(3);
    loop {
        let page = scope
            .brands()
            .members(w.brand.id, &MemberFilter::default(), &request)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|m| (m.assigned_at, m.id.as_uuid())));
        match page.next {
            Some(c) => request = request.after(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn memberships_of_a_user_list_only_live_roles_in_live_brands() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let someone = user(&db, "someone").await;
    let (live, expired, deleted) = (
        create(&db, &minimal("Live"), owner).await,
        create(&db, &minimal("Expired"), owner).await,
        create(&db, &minimal("Deleted"), owner).await,
    );
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(
            live.id,
            someone,
            &expiring(BrandRole::Editor, Utc::now() + Duration::days(1)),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            expired.id,
            someone,
            &expiring(BrandRole::Admin, Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(deleted.id, someone, &role(BrandRole::Viewer))
        .await
        .unwrap();
    system
        .brands()
        .grant(live.id, owner, &role(BrandRole::Admin))
        .await
        .unwrap();
    system
        .brands()
        .soft_delete(deleted.id, deleted.version)
        .await
        .unwrap();
    let page = system
        .brands()
        .memberships_of(someone, &MemberFilter::default(), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|m| m.brand_id).collect::<Vec<_>>(),
        [live.id]
    );
    assert_eq!(page.next, None);
    // Asked for, the expired role comes too; a deleted brand's never does: it opens nothing.
    let history = MemberFilter {
        include_expired: true,
        ..MemberFilter::default()
    };
    let page = system
        .brands()
        .memberships_of(someone, &history, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|m| m.brand_id)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([live.id, expired.id])
    );
    system.commit().await.unwrap();
    // In a tenant scope, only the scope's brand is visible.
    system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(expired.id, owner, &role(BrandRole::Admin))
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(owner, expired.id).await.unwrap();
    let page = scope
        .brands()
        .memberships_of(owner, &MemberFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|m| m.brand_id).collect::<Vec<_>>(),
        [expired.id]
    );
}

#[tokio::test]
async fn an_expired_grant_gives_no_access_through_the_api() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let temp = user(&db, "temp").await;
    let mut system = db.database().system_scope().await.unwrap();
    let lapsed = system
        .brands()
        .grant(
            w.brand.id,
            temp,
            &expiring(BrandRole::Admin, Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(temp, w.brand.id).await.unwrap();
    assert!(matches!(
        scope.brands().get(w.brand.id).await,
        Err(Error::NotFound { .. })
    ));
    let everyone = MemberFilter {
        include_expired: true,
        include_deleted_users: true,
        ..MemberFilter::default()
    };
    assert!(
        scope
            .brands()
            .members(w.brand.id, &everyone, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let err = scope
        .brands()
        .grant(w.brand.id, w.outsider, &role(BrandRole::Admin))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    // The same role, extended, works.
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .change_role(
            w.brand.id,
            temp,
            lapsed.version,
            &member_patch(
                MembershipPatch::builder()
                    .role(BrandRole::Viewer)
                    .expires_at(Utc::now() + Duration::hours(1)),
            ),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(temp, w.brand.id).await.unwrap();
    assert_eq!(scope.brands().get(w.brand.id).await.unwrap().id, w.brand.id);
}

async fn access(db: &TestDatabase, brand: BrandId, user: UserId) -> (i32, bool, i32) {
    sqlx::query_as(
        "SELECT access_count, last_accessed_at IS NOT NULL, version FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2",
    )
    .bind(brand)
    .bind(user)
    .fetch_one(pool(db))
    .await
    .unwrap()
}

#[tokio::test]
async fn touch_access_counts_every_concurrent_use_exactly_and_ignores_expired_roles() {
    let db = Arc::new(fresh_db().await);
    let w = world(&db).await;
    assert_eq!(access(&db, w.brand.id, w.viewer).await, (0, false, 1));
    const N: usize = 16;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let (db, barrier, brand, viewer) = (db.clone(), barrier.clone(), w.brand.id, w.viewer);
        tasks.push(tokio::spawn(async move {
            // The test pool has 5 connections: scopes are opened after the barrier, so up to 5
            // touches run at once and the rest queue for a connection, rather than deadlocking.
            barrier.wait().await;
            let mut scope = db.database().scope(viewer, brand).await.unwrap();
            scope.brands().touch_access().await.unwrap();
            scope.commit().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Access tracking is not a change of the grant: the version stays.
    assert_eq!(access(&db, w.brand.id, w.viewer).await, (N as i32, true, 1));
    assert_eq!(
        access(&db, w.brand.id, w.editor).await,
        (0, false, 1),
        "only the acting user's role"
    );

    // A system scope has no acting user; an expired role records nothing.
    let mut system = db.database().system_scope().await.unwrap();
    system.brands().touch_access().await.unwrap();
    system
        .brands()
        .change_role(
            w.brand.id,
            w.editor,
            1,
            &member_patch(MembershipPatch::builder().expires_at(Utc::now() - Duration::seconds(1))),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.editor, w.brand.id).await.unwrap();
    scope.brands().touch_access().await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(access(&db, w.brand.id, w.editor).await, (0, false, 2));
    assert_eq!(access(&db, w.brand.id, w.viewer).await.0, N as i32);
}

#[tokio::test]
async fn a_brand_admin_neither_sees_nor_changes_the_memberships_of_another_brand() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let other = create(&db, &minimal("Other"), w.owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(other.id, w.outsider, &role(BrandRole::Admin))
        .await
        .unwrap();
    system.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let everyone = MemberFilter {
        include_expired: true,
        include_deleted_users: true,
        ..MemberFilter::default()
    };
    let members = scope
        .brands()
        .members(other.id, &everyone, &PageRequest::default())
        .await
        .unwrap();
    assert!(members.items.is_empty());
    let err = scope
        .brands()
        .membership(other.id, w.outsider)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .change_role(
            other.id,
            w.outsider,
            1,
            &member_patch(MembershipPatch::builder().role(BrandRole::Viewer)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .revoke(other.id, w.outsider, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    scope.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let page = system
        .brands()
        .members(other.id, &MemberFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|m| (m.user_id, m.role, m.version))
            .collect::<Vec<_>>(),
        [(w.outsider, BrandRole::Admin, 1)]
    );
}

#[tokio::test]
async fn members_of_a_soft_deleted_brand_can_neither_read_nor_write_it() {
    use mixerai_data::content::NewContent;
    let db = fresh_db().await;
    let w = world(&db).await;
    let article = |title: &str| {
        NewContent::builder()
            .content_type("article")
            .title(title)
            .build()
            .unwrap()
    };
    let mut scope = db.database().scope(w.editor, w.brand.id).await.unwrap();
    let before = scope.content().create(&article("Before")).await.unwrap();
    scope.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let deleted = system
        .brands()
        .soft_delete(w.brand.id, w.brand.version)
        .await
        .unwrap();
    system.commit().await.unwrap();

    for member in [w.admin, w.editor, w.viewer] {
        let mut scope = db.database().scope(member, w.brand.id).await.unwrap();
        let err = scope.content().get(before.id).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        let members = scope
            .brands()
            .members(
                w.brand.id,
                &MemberFilter::default(),
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert!(members.items.is_empty());
        // A refused write aborts the transaction, so it goes last.
        let err = scope.content().create(&article("After")).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }

    // Restored, the same roles work again.
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .restore(w.brand.id, deleted.version)
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    assert_eq!(scope.content().get(before.id).await.unwrap().id, before.id);
}

// ---- vetting agencies ---------------------------------------------------------------------------

fn agency(name: &str, priority: i32) -> NewVettingAgency {
    NewVettingAgency::builder()
        .agency_name(name)
        .priority(priority)
        .build()
        .unwrap()
}

fn agency_patch(b: VettingAgencyPatchBuilder) -> VettingAgencyPatch {
    b.build().unwrap()
}

#[tokio::test]
async fn vetting_agencies_are_managed_by_admins_and_listed_in_priority_order() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.editor, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("Nope", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let second = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("Second", 20))
        .await
        .unwrap();
    let first = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("First", 10))
        .await
        .unwrap();
    let third = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("Third", 30))
        .await
        .unwrap();
    assert!(first.is_active && first.brand_id == w.brand.id && first.version == 1);
    scope.commit().await.unwrap();
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("First", 5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
            if constraint == "brand_vetting_agencies_name_key" && f == "agency_name"),
        "{err:?}"
    );
    drop(scope);

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let moved = scope
        .brands()
        .update_vetting_agency(
            third.id,
            third.version,
            &agency_patch(
                VettingAgencyPatch::builder()
                    .agency_name("Third (renamed)")
                    .priority(0),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.agency_name.as_str(), moved.priority, moved.version),
        ("Third (renamed)", 0, 2)
    );
    let off = scope
        .brands()
        .update_vetting_agency(
            first.id,
            first.version,
            &agency_patch(VettingAgencyPatch::builder().is_active(false)),
        )
        .await
        .unwrap();
    assert!(!off.is_active);
    assert_eq!(off.priority, 10, "unset fields keep their value");
    scope.commit().await.unwrap();
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .update_vetting_agency(
            second.id,
            second.version,
            &agency_patch(VettingAgencyPatch::builder().agency_name("Third (renamed)")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { field: Some(f), .. } if f == "agency_name"),
        "{err:?}"
    );
    drop(scope);

    let names = |agencies: Vec<mixerai_data::brands::VettingAgency>| {
        agencies
            .into_iter()
            .map(|a| a.agency_name)
            .collect::<Vec<_>>()
    };
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    for (is_active, expected) in [
        (None, vec!["Third (renamed)", "Second", "First"]),
        (Some(true), vec!["Third (renamed)", "Second"]),
        (Some(false), vec!["First"]),
    ] {
        let listed = scope
            .brands()
            .vetting_agencies(w.brand.id, &VettingAgencyFilter { is_active })
            .await
            .unwrap();
        assert_eq!(names(listed), expected, "{is_active:?}");
    }
    let err = scope
        .brands()
        .update_vetting_agency(
            second.id,
            second.version,
            &agency_patch(VettingAgencyPatch::builder().is_active(false)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = scope
        .brands()
        .update_vetting_agency(
            second.id,
            second.version,
            &agency_patch(VettingAgencyPatch::builder().priority(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = scope
        .brands()
        .remove_vetting_agency(second.id, second.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    // Another brand's admin sees none of them and changes none.
    let other = create(&db, &minimal("Other"), w.owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(other.id, w.outsider, &role(BrandRole::Admin))
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.outsider, other.id).await.unwrap();
    assert!(
        scope
            .brands()
            .vetting_agencies(w.brand.id, &VettingAgencyFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let err = scope.brands().vetting_agency(second.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .update_vetting_agency(
            second.id,
            second.version,
            &agency_patch(VettingAgencyPatch::builder().is_active(false)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .update_vetting_agency(
            VettingAgencyId::new(),
            1,
            &agency_patch(VettingAgencyPatch::builder().priority(1)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .remove_vetting_agency(second.id, second.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("Cross", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    let err = NewVettingAgency::builder()
        .agency_name(" ")
        .build()
        .unwrap_err();
    assert_eq!(err.errors()[0].field, "agency_name");
    assert!(
        VettingAgencyPatch::builder()
            .agency_name("")
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn agency_writes_name_their_version_and_an_empty_patch_writes_nothing() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let lab = scope
        .brands()
        .create_vetting_agency(w.brand.id, &agency("Lab", 1))
        .await
        .unwrap();
    let moved = scope
        .brands()
        .update_vetting_agency(
            lab.id,
            lab.version,
            &agency_patch(VettingAgencyPatch::builder().priority(5)),
        )
        .await
        .unwrap();
    assert_eq!((moved.priority, moved.version), (5, 2));
    scope.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .update_vetting_agency(
            lab.id,
            lab.version,
            &agency_patch(VettingAgencyPatch::builder().priority(9)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "vetting agency",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    let err = scope
        .brands()
        .remove_vetting_agency(lab.id, lab.version)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(scope.brands().vetting_agency(lab.id).await.unwrap(), moved);

    let events_before = events(&db, lab.id).await;
    let empty = agency_patch(VettingAgencyPatch::builder().maybe_priority(None::<i32>));
    assert!(empty.is_empty());
    let same = scope
        .brands()
        .update_vetting_agency(lab.id, moved.version, &empty)
        .await
        .unwrap();
    assert_eq!(same, moved);
    let err = scope
        .brands()
        .update_vetting_agency(lab.id, lab.version, &empty)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Stale { actual: 2, .. }), "{err:?}");
    scope.commit().await.unwrap();
    assert_eq!(events(&db, lab.id).await, events_before);

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let removed = scope
        .brands()
        .remove_vetting_agency(lab.id, moved.version)
        .await
        .unwrap();
    assert_eq!(removed, moved);
    let err = scope.brands().vetting_agency(lab.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                entity: "vetting agency"
            }
        ),
        "{err:?}"
    );
    let err = scope
        .brands()
        .remove_vetting_agency(lab.id, moved.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(
        scope
            .brands()
            .vetting_agencies(w.brand.id, &VettingAgencyFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

// ---- plans --------------------------------------------------------------------------------------

/// Every list of this module and of `users` is served by an index in its order: with sequential
/// scans priced out, the plan reads an index and never sorts. The statements are the repositories'
/// own shapes, with their default filters.
#[tokio::test]
async fn every_people_list_is_served_by_an_index_in_its_order() {
    let db = fresh_db().await;
    let mut conn = pool(&db).acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    let key = "($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))";
    let assigned = "($2::timestamptz IS NULL OR (assigned_at, id) < ($2, $3))";
    let current = "(r.expires_at IS NULL OR r.expires_at > now()) \
        AND EXISTS (SELECT 1 FROM mixerai.users u WHERE u.id = r.user_id AND u.deleted_at IS NULL)";
    for (sql, index) in [
        (
            format!(
                "SELECT id FROM mixerai.users WHERE deleted_at IS NULL AND $1::uuid IS NOT NULL AND {key} ORDER BY created_at DESC, id DESC LIMIT 26"
            ),
            "idx_users_created",
        ),
        (
            format!(
                "SELECT id FROM mixerai.brands WHERE true AND deleted_at IS NULL AND $1::uuid IS NOT NULL AND {key} ORDER BY created_at DESC, id DESC LIMIT 26"
            ),
            "idx_brands_created",
        ),
        (
            format!(
                "SELECT id FROM mixerai.brands WHERE parent_brand_id = $1 AND deleted_at IS NULL AND {key} ORDER BY created_at DESC, id DESC LIMIT 26"
            ),
            "idx_brands_parent_created",
        ),
        (
            format!(
                "SELECT id FROM mixerai.user_brand_roles r WHERE r.brand_id = $1 AND {current} AND {assigned} ORDER BY assigned_at DESC, id DESC LIMIT 26"
            ),
            "idx_user_brand_roles_brand_assigned",
        ),
        (
            format!(
                "SELECT id FROM mixerai.user_brand_roles r
                 WHERE EXISTS (SELECT 1 FROM mixerai.brands b WHERE b.id = r.brand_id AND b.deleted_at IS NULL)
                   AND r.user_id = $1 AND {current} AND {assigned} ORDER BY assigned_at DESC, id DESC LIMIT 26"
            ),
            "idx_user_brand_roles_user_assigned",
        ),
    ] {
        let explain = format!("EXPLAIN (FORMAT TEXT) {sql}");
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(explain))
            .bind(uuid::Uuid::new_v4())
            .bind(Option::<chrono::DateTime<Utc>>::None)
            .bind(Option::<uuid::Uuid>::None)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{index} not used:\n{plan}");
        assert!(
            !plan.contains("Sort"),
            "sorted instead of reading in order:\n{plan}"
        );
    }
}

// ---- properties ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Generated {
    name: String,
    slug: Option<String>,
    country: String,
    language: String,
    currency: Option<String>,
    colors: Option<(String, Option<String>, Option<String>)>,
    logo: Option<(String, String, String)>,
    guardrails: Vec<String>,
    mission: Option<String>,
    content_types: Vec<String>,
}

fn brand_input() -> impl Strategy<Value = Generated> {
    let text = || prop_oneof!["[A-Za-z0-9 ]{0,16}", any::<String>()];
    let colour = || prop_oneof!["#[0-9a-fA-F]{3}", "#[0-9a-fA-F]{6}", any::<String>()];
    (
        (
            text(),
            proptest::option::of(prop_oneof![
                "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}",
                any::<String>()
            ]),
            prop_oneof!["GB", "fr", "[A-Z]{2}", any::<String>()],
            prop_oneof!["en", "DE", "[a-z]{2}", any::<String>()],
            proptest::option::of(prop_oneof!["GBP", "eur", any::<String>()]),
        ),
        (
            proptest::option::of((
                colour(),
                proptest::option::of(colour()),
                proptest::option::of(colour()),
            )),
            proptest::option::of((
                prop_oneof!["https://[a-z]{1,8}\\.com/[a-z]{0,6}", any::<String>()],
                text(),
                prop_oneof!["light", "dark", "full", any::<String>()],
            )),
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(text()),
            proptest::collection::vec(text(), 0..3),
        ),
    )
        .prop_map(
            |(
                (name, slug, country, language, currency),
                (colors, logo, guardrails, mission, content_types),
            )| Generated {
                name,
                slug,
                country,
                language,
                currency,
                colors,
                logo,
                guardrails,
                mission,
                content_types,
            },
        )
}

fn build(input: &Generated) -> Result<NewBrand, mixerai_data::ValidationErrors> {
    let mut b = NewBrand::builder()
        .name(&input.name)
        .maybe_slug(input.slug.as_ref())
        .country(&input.country)
        .language(&input.language)
        .maybe_currency(input.currency.as_ref())
        .guardrails(&input.guardrails)
        .identity(BrandIdentity {
            mission: input.mission.clone(),
            ..BrandIdentity::default()
        })
        .settings(BrandSettings {
            content_types: input.content_types.clone(),
            ..BrandSettings::default()
        });
    if let Some((primary, secondary, accent)) = &input.colors {
        b = b.colors(ColorsInput {
            primary: primary.clone(),
            secondary: secondary.clone(),
            accent: accent.clone(),
        });
    }
    if let Some((u, alt, k)) = &input.logo {
        b = b.logo(LogoInput::new(u, alt, k));
    }
    b.build()
}

proptest! {
    #[test]
    fn any_brand_input_builds_or_is_refused_without_panicking(input in brand_input()) {
        if let Err(errors) = build(&input) {
            prop_assert!(!errors.is_empty());
        }
    }
}

proptest! {
    // One database per case: keep the cases few.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever builds is stored and read back unchanged, and its serde form round-trips.
    #[test]
    fn every_brand_that_builds_round_trips_through_the_database(inputs in prop::collection::vec(brand_input(), 1..5)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let db = fresh_db().await;
            let owner = UserId::from_uuid(insert_user(pool(&db), "prop@example.com").await);
            for (i, input) in inputs.iter().enumerate() {
                let Ok(new) = build(input) else { continue };
                let mut system = db.database().system_scope().await.unwrap();
                let created = match system.brands().create(&new, owner).await {
                    Ok(b) => b,
                    // Two generated names or slugs may collide; that is the unique key working.
                    Err(Error::Conflict { .. }) => continue,
                    Err(e) => panic!("input {i} built but was refused: {e:?} {input:?}"),
                };
                let read = system.brands().get(created.id).await.unwrap();
                system.commit().await.unwrap();
                assert_eq!(read, created);
                assert_eq!(read.name, input.name);
                assert_eq!(read.guardrails, input.guardrails);
                assert_eq!(read.identity.mission, input.mission);
                assert_eq!(read.settings.content_types, input.content_types);
                assert_eq!(read.logo.as_ref().map(|l| l.url.clone()), input.logo.as_ref().map(|l| l.0.clone()));
                let json = serde_json::to_string(&read).unwrap();
                assert_eq!(serde_json::from_str::<Brand>(&json).unwrap(), read);
            }
        });
    }
}

#[derive(Debug, Clone)]
struct PatchInput {
    name: Option<String>,
    tone: Option<Option<String>>,
    guardrails: Option<Vec<String>>,
    country: Option<String>,
    colors: Option<Option<(String, Option<String>)>>,
}

fn patch_input() -> impl Strategy<Value = PatchInput> {
    let text = || prop_oneof!["[A-Za-z0-9 ]{0,16}", any::<String>()];
    let colour = || prop_oneof!["#[0-9a-fA-F]{6}", any::<String>()];
    (
        proptest::option::of(text()),
        proptest::option::of(proptest::option::of(text())),
        proptest::option::of(proptest::collection::vec(text(), 0..3)),
        proptest::option::of(prop_oneof!["[A-Z]{2}", any::<String>()]),
        proptest::option::of(proptest::option::of((
            colour(),
            proptest::option::of(colour()),
        ))),
    )
        .prop_map(|(name, tone, guardrails, country, colors)| PatchInput {
            name,
            tone,
            guardrails,
            country,
            colors,
        })
}

fn build_patch(input: &PatchInput) -> Result<BrandPatch, mixerai_data::ValidationErrors> {
    let mut b = BrandPatch::builder()
        .maybe_name(input.name.as_ref())
        .maybe_guardrails(input.guardrails.as_ref())
        .maybe_country(input.country.as_ref());
    match &input.tone {
        Some(Some(t)) => b = b.tone_of_voice(t),
        Some(None) => b = b.clear_tone_of_voice(),
        None => {}
    }
    match &input.colors {
        Some(Some((p, s))) => {
            b = b.colors(ColorsInput {
                primary: p.clone(),
                secondary: s.clone(),
                accent: None,
            })
        }
        Some(None) => b = b.clear_colors(),
        None => {}
    }
    b.build()
}

proptest! {
    // One database per case: keep the cases few and each a short sequence of patches.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any patch input builds or is refused without panicking; whatever builds is applied exactly:
    /// set fields take the new value, others keep theirs, and only a patch that sets something makes
    /// a new version.
    #[test]
    fn every_brand_patch_that_builds_is_applied_exactly(inputs in prop::collection::vec(patch_input(), 1..5)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let db = fresh_db().await;
            let owner = UserId::from_uuid(insert_user(pool(&db), "prop@example.com").await);
            let mut brand = create(&db, &full_brand(), owner).await;
            for input in &inputs {
                let Ok(patch) = build_patch(input) else { continue };
                let mut system = db.database().system_scope().await.unwrap();
                let after = system.brands().update(brand.id, brand.version, &patch).await.unwrap();
                let read = system.brands().get(brand.id).await.unwrap();
                system.commit().await.unwrap();
                assert_eq!(&read, &after);
                assert_eq!(after.version, brand.version + i32::from(!patch.is_empty()));
                assert_eq!(&after.name, input.name.as_ref().unwrap_or(&brand.name));
                assert_eq!(&after.tone_of_voice, input.tone.as_ref().unwrap_or(&brand.tone_of_voice));
                assert_eq!(&after.guardrails, input.guardrails.as_ref().unwrap_or(&brand.guardrails));
                match &input.colors {
                    None => assert_eq!(after.colors, brand.colors),
                    Some(None) => assert_eq!(after.colors, None),
                    Some(Some((p, _))) => assert_eq!(after.colors.as_ref().unwrap().primary.as_str(), p.to_ascii_lowercase()),
                }
                assert_eq!(after.slug, brand.slug, "unset fields keep their value");
                brand = after;
            }
        });
    }
}
