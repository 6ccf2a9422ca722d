//! Integration tests of the `brands` module's repository, run as `mixerai_app` through scopes.

use std::sync::Arc;

use chrono::{Duration, Utc};
use mixerai_data::brands::{
    Brand, BrandIdentity, BrandLogo, BrandPatch, BrandRole, BrandSettings, LogoKind, NewBrand,
    NewVettingAgency, VettingAgencyPatch,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, UserId, VettingAgencyId};
use mixerai_data::{Error, PageRequest};
use proptest::prelude::*;
use tokio::sync::Barrier;

use crate::support::{fresh_db, insert_user, pool};

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
    for (u, role) in [
        (admin, BrandRole::Admin),
        (editor, BrandRole::Editor),
        (viewer, BrandRole::Viewer),
    ] {
        system
            .brands()
            .grant(brand.id, u, role, None)
            .await
            .unwrap();
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

fn full_brand() -> NewBrand {
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
        .logo("https://example.com/logo.svg", "Engine logo", "dark")
        .colors("#ABC", Some("#112233"), None)
        .settings(BrandSettings {
            content_types: vec!["article".into()],
            features: vec!["ai".into()],
            integrations,
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_brand_with_every_field_round_trips_through_the_database() {
    let db = fresh_db().await;
    let owner = user(&db, "owner").await;
    let new = full_brand();
    let created = create(&db, &new, owner).await;
    assert_eq!(created.id, new.id());
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

    // A minimal brand reads back with empty lists and no colours or logo.
    let plain = create(&db, &minimal("Plain"), owner).await;
    assert_eq!((plain.colors, plain.logo), (None, None));
    assert!(plain.brand_personality.is_empty() && plain.key_messages.is_empty());
    assert_eq!(plain.identity, BrandIdentity::default());
    assert_eq!(plain.settings, BrandSettings::default());
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
        .logo("ftp://example.com/x", " ", "neon")
        .colors("red", Some("#12"), None)
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
        .key_messages(vec!["ok".into(), " ".into()])
        .colors("#zzz", None, None)
        .master_claim_brands(vec![twice, twice])
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
    system.brands().soft_delete(first.id).await.unwrap();
    let same_name = NewBrand::builder()
        .name("Acme")
        .slug("other")
        .country("GB")
        .language("en")
        .build()
        .unwrap();
    let err = system.brands().create(&same_name, owner).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "brands_name_key"),
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
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "brands_slug_key"),
        "{err:?}"
    );
    drop(system);
    // And through an update.
    let second = create(&db, &minimal("Second"), owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    let patch = BrandPatch::builder().slug("acme").build().unwrap();
    let err = system
        .brands()
        .update(second.id, second.updated_at, &patch)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "brands_slug_key"),
        "{err:?}"
    );
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
        .description(Some("New words".into()))
        .tone_of_voice(Some("Warm".into()))
        .guardrails(vec!["Be kind".into()])
        .currency(Some("EUR".into()))
        .logo(Some(BrandLogo {
            url: "https://example.com/l.png".into(),
            alt_text: "Logo".into(),
            kind: LogoKind::Light,
        }))
        .colors("#000", None, Some("#fff"))
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
            .update(w.brand.id, w.brand.updated_at, &patch)
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
        .update(w.brand.id, w.brand.updated_at, &patch)
        .await
        .unwrap();
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

    // Clearing, and a stale token.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let clear = BrandPatch::builder()
        .description(None)
        .currency(None)
        .logo(None)
        .clear_colors()
        .build()
        .unwrap();
    let cleared = scope
        .brands()
        .update(w.brand.id, updated.updated_at, &clear)
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
        .update(w.brand.id, updated.updated_at, &late)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "brands_stale_version"),
        "{err:?}"
    );
    drop(scope);
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(system.brands().get(w.brand.id).await.unwrap().name, "Acme");
    let err = system
        .brands()
        .update(BrandId::new(), Utc::now(), &late)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
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
                .target_audience(Some(format!("Audience {i}")))
                .build()
                .unwrap();
            barrier.wait().await;
            let result = system
                .brands()
                .update(brand.id, brand.updated_at, &patch)
                .await;
            system.commit().await.unwrap();
            result.is_ok()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn soft_delete_and_restore_belong_to_system_scopes_and_platform_admins() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope.brands().soft_delete(w.brand.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Forbidden { .. }),
        "brand admin: {err:?}"
    );
    drop(scope);
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let err = scope.brands().soft_delete(w.brand.id).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "viewer: {err:?}");
    drop(scope);

    let mut system = db.database().system_scope().await.unwrap();
    system.brands().soft_delete(w.brand.id).await.unwrap();
    assert!(matches!(
        system.brands().get(w.brand.id).await,
        Err(Error::NotFound { .. })
    ));
    let listed = system.brands().list(&PageRequest::default()).await.unwrap();
    assert!(listed.items.is_empty());
    let err = system.brands().soft_delete(w.brand.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "twice: {err:?}");
    system.commit().await.unwrap();

    // A deleted brand is closed to its members (migration 0018): its own admin no longer even sees it.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope.brands().restore(w.brand.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "brand admin restore: {err:?}"
    );
    drop(scope);

    let mut system = db.database().system_scope().await.unwrap();
    let outsider = system.users().get(w.outsider).await.unwrap();
    system
        .users()
        .set_platform_admin(w.outsider, outsider.version, true)
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.outsider, w.brand.id).await.unwrap();
    let restored = scope.brands().restore(w.brand.id).await.unwrap();
    assert_eq!((restored.id, restored.deleted_at), (w.brand.id, None));
    let err = scope.brands().restore(w.brand.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "restore twice: {err:?}"
    );
    scope.brands().soft_delete(w.brand.id).await.unwrap();
    scope.brands().restore(w.brand.id).await.unwrap();
    scope.commit().await.unwrap();
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(
        system.brands().get(w.brand.id).await.unwrap().deleted_at,
        None
    );
    let err = system.brands().restore(BrandId::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
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
            .parent(root.id)
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
            .parent(children[0].id)
            .build()
            .unwrap(),
        owner,
    )
    .await;
    let mut system = db.database().system_scope().await.unwrap();
    let first = system
        .brands()
        .sub_brands(root.id, &PageRequest::first(2))
        .await
        .unwrap();
    let second = system
        .brands()
        .sub_brands(root.id, &PageRequest::first(2).after(first.next.unwrap()))
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

    // root -> child 0 -> grandchild; making root a child of grandchild closes a loop.
    let patch = BrandPatch::builder()
        .parent(Some(grandchild.id))
        .build()
        .unwrap();
    let err = system
        .brands()
        .update(root.id, root.updated_at, &patch)
        .await
        .unwrap_err();
    let report = err.validation().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(report.errors()[0].field, "parent_brand_id", "{report}");
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    let own = BrandPatch::builder().parent(Some(root.id)).build().unwrap();
    let err = system
        .brands()
        .update(root.id, root.updated_at, &own)
        .await
        .unwrap_err();
    assert_eq!(
        err.validation().map(|v| v.errors()[0].field.as_str()),
        Some("parent_brand_id"),
        "{err:?}"
    );
    drop(system);
    let mut system = db.database().system_scope().await.unwrap();
    let orphan = NewBrand::builder()
        .name("Orphan")
        .country("GB")
        .language("en")
        .parent(BrandId::new())
        .build()
        .unwrap();
    let err = system.brands().create(&orphan, owner).await.unwrap_err();
    assert!(matches!(err, Error::InvalidReference { .. }), "{err:?}");
    drop(system);

    // Moving a child to the top level is fine; a tenant scope sees no sub-brands (other tenants).
    let mut system = db.database().system_scope().await.unwrap();
    let top = BrandPatch::builder().parent(None).build().unwrap();
    let moved = system
        .brands()
        .update(children[2].id, children[2].updated_at, &top)
        .await
        .unwrap();
    assert_eq!(moved.parent_brand_id, None);
    system
        .brands()
        .grant(root.id, owner, BrandRole::Admin, None)
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(owner, root.id).await.unwrap();
    let seen = scope
        .brands()
        .sub_brands(root.id, &PageRequest::default())
        .await
        .unwrap();
    assert!(seen.items.is_empty());
}

#[tokio::test]
async fn master_claim_brands_must_exist_and_must_not_be_the_brand_itself() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let master = create(&db, &minimal("Master"), w.owner).await;
    // A brand admin links their brand to another brand's claims, which their scope cannot see.
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let patch = BrandPatch::builder()
        .master_claim_brands(vec![master.id])
        .build()
        .unwrap();
    let linked = scope
        .brands()
        .update(w.brand.id, w.brand.updated_at, &patch)
        .await
        .unwrap();
    assert_eq!(linked.master_claim_brand_ids, [master.id]);
    scope.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let missing = BrandPatch::builder()
        .master_claim_brands(vec![master.id, BrandId::new()])
        .build()
        .unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, linked.updated_at, &missing)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { constraint, .. } if constraint == "brands_master_claim_brand_ids_fkey"),
        "{err:?}"
    );
    drop(scope);
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let itself = BrandPatch::builder()
        .master_claim_brands(vec![w.brand.id])
        .build()
        .unwrap();
    let err = scope
        .brands()
        .update(w.brand.id, linked.updated_at, &itself)
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
                .master_claim_brand(BrandId::new())
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
    let mut system = db.database().system_scope().await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = system.brands().list(&request).await.unwrap();
        seen.extend(page.items.iter().map(|b| (b.created_at, b.id.as_uuid())));
        match page.next {
            Some(c) => request = request.after(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    drop(system);
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let mine = scope.brands().list(&PageRequest::default()).await.unwrap();
    assert_eq!(
        mine.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        [w.brand.id]
    );
    drop(scope);
    let mut scope = db.database().scope(w.outsider, w.brand.id).await.unwrap();
    assert!(
        scope
            .brands()
            .list(&PageRequest::default())
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

#[tokio::test]
async fn roles_are_granted_changed_and_revoked_by_admins_only() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let newcomer = user(&db, "newcomer").await;
    for who in [w.viewer, w.editor] {
        let mut scope = db.database().scope(who, w.brand.id).await.unwrap();
        let err = scope
            .brands()
            .change_role(w.brand.id, w.viewer, BrandRole::Admin)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "change: {err:?}");
        drop(scope);
        let mut scope = db.database().scope(who, w.brand.id).await.unwrap();
        let err = scope
            .brands()
            .revoke(w.brand.id, w.admin)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "revoke: {err:?}");
    }
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let granted = scope
        .brands()
        .grant(w.brand.id, newcomer, BrandRole::Viewer, None)
        .await
        .unwrap();
    assert_eq!(
        (granted.role, granted.assigned_by),
        (BrandRole::Viewer, Some(w.admin))
    );
    let changed = scope
        .brands()
        .change_role(w.brand.id, newcomer, BrandRole::Editor)
        .await
        .unwrap();
    assert_eq!((changed.id, changed.role), (granted.id, BrandRole::Editor));
    scope.brands().revoke(w.brand.id, w.viewer).await.unwrap();
    let err = scope
        .brands()
        .revoke(w.brand.id, w.viewer)
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
        .change_role(w.brand.id, w.outsider, BrandRole::Admin)
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
        .members(w.brand.id, &PageRequest::first(10))
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
            .grant(w.brand.id, u, BrandRole::Viewer, None)
            .await
            .unwrap();
    }
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(3);
    loop {
        let page = scope.brands().members(w.brand.id, &request).await.unwrap();
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
            BrandRole::Editor,
            Some(Utc::now() + Duration::days(1)),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            expired.id,
            someone,
            BrandRole::Admin,
            Some(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(deleted.id, someone, BrandRole::Viewer, None)
        .await
        .unwrap();
    system
        .brands()
        .grant(live.id, owner, BrandRole::Admin, None)
        .await
        .unwrap();
    system.brands().soft_delete(deleted.id).await.unwrap();
    let page = system
        .brands()
        .memberships_of(someone, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|m| m.brand_id).collect::<Vec<_>>(),
        [live.id]
    );
    assert_eq!(page.next, None);
    system.commit().await.unwrap();
    // In a tenant scope, only the scope's brand is visible.
    system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(expired.id, owner, BrandRole::Admin, None)
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(owner, expired.id).await.unwrap();
    let page = scope
        .brands()
        .memberships_of(owner, &PageRequest::default())
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
    system
        .brands()
        .grant(
            w.brand.id,
            temp,
            BrandRole::Admin,
            Some(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(temp, w.brand.id).await.unwrap();
    assert!(matches!(
        scope.brands().get(w.brand.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        scope
            .brands()
            .members(w.brand.id, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let err = scope
        .brands()
        .grant(w.brand.id, temp, BrandRole::Admin, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    // The same grant, still running, works.
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(
            w.brand.id,
            temp,
            BrandRole::Viewer,
            Some(Utc::now() + Duration::hours(1)),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(temp, w.brand.id).await.unwrap();
    assert_eq!(scope.brands().get(w.brand.id).await.unwrap().id, w.brand.id);
}

async fn access(db: &TestDatabase, brand: BrandId, user: UserId) -> (i32, bool) {
    sqlx::query_as(
        "SELECT access_count, last_accessed_at IS NOT NULL FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2",
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
    assert_eq!(access(&db, w.brand.id, w.viewer).await, (0, false));
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
    assert_eq!(access(&db, w.brand.id, w.viewer).await, (N as i32, true));
    assert_eq!(
        access(&db, w.brand.id, w.editor).await,
        (0, false),
        "only the acting user's role"
    );

    // A system scope has no acting user; an expired role records nothing.
    let mut system = db.database().system_scope().await.unwrap();
    system.brands().touch_access().await.unwrap();
    system
        .brands()
        .grant(
            w.brand.id,
            w.editor,
            BrandRole::Editor,
            Some(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.editor, w.brand.id).await.unwrap();
    scope.brands().touch_access().await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(access(&db, w.brand.id, w.editor).await, (0, false));
    assert_eq!(access(&db, w.brand.id, w.viewer).await.0, N as i32);
}

#[tokio::test]
async fn vetting_agencies_are_managed_by_admins_and_listed_in_priority_order() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let agency = |name: &str, priority| {
        NewVettingAgency::builder()
            .name(name)
            .priority(priority)
            .build()
            .unwrap()
    };
    let mut scope = db.database().scope(w.editor, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("Nope", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let second = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("Second", 20))
        .await
        .unwrap();
    let first = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("First", 10))
        .await
        .unwrap();
    let third = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("Third", 30))
        .await
        .unwrap();
    assert!(first.is_active && first.brand_id == w.brand.id);
    scope.commit().await.unwrap();
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("First", 5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "brand_vetting_agencies_name_key"),
        "{err:?}"
    );
    drop(scope);

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let moved = scope
        .brands()
        .update_vetting_agency(
            third.id,
            &VettingAgencyPatch::new(Some("Third (renamed)"), Some(0)).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.agency_name.as_str(), moved.priority),
        ("Third (renamed)", 0)
    );
    let off = scope
        .brands()
        .set_vetting_agency_active(first.id, false)
        .await
        .unwrap();
    assert!(!off.is_active);
    scope.commit().await.unwrap();
    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let err = scope
        .brands()
        .update_vetting_agency(
            second.id,
            &VettingAgencyPatch::new(Some("Third (renamed)"), None).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    drop(scope);

    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    let names: Vec<_> = scope
        .brands()
        .vetting_agencies(w.brand.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.agency_name)
        .collect();
    assert_eq!(names, ["Third (renamed)", "Second", "First"]);
    let err = scope
        .brands()
        .set_vetting_agency_active(second.id, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = scope
        .brands()
        .update_vetting_agency(second.id, &VettingAgencyPatch::new(None, Some(1)).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    // Another brand's admin sees none of them and changes none.
    let other = create(&db, &minimal("Other"), w.owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(other.id, w.outsider, BrandRole::Admin, None)
        .await
        .unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.outsider, other.id).await.unwrap();
    assert!(
        scope
            .brands()
            .vetting_agencies(w.brand.id)
            .await
            .unwrap()
            .is_empty()
    );
    let err = scope
        .brands()
        .set_vetting_agency_active(second.id, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .update_vetting_agency(
            VettingAgencyId::new(),
            &VettingAgencyPatch::new(None, Some(1)).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .add_vetting_agency(w.brand.id, &agency("Cross", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    let err = NewVettingAgency::builder().name(" ").build().unwrap_err();
    assert_eq!(err.errors()[0].field, "agency_name");
    assert!(VettingAgencyPatch::new(Some(""), None).is_err());
}

// ---- properties ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct BrandInput {
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

fn brand_input() -> impl Strategy<Value = BrandInput> {
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
            )| BrandInput {
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

fn build(input: &BrandInput) -> Result<NewBrand, mixerai_data::ValidationErrors> {
    let mut b = NewBrand::builder()
        .name(&input.name)
        .country(&input.country)
        .language(&input.language)
        .identity(BrandIdentity {
            mission: input.mission.clone(),
            ..BrandIdentity::default()
        })
        .settings(BrandSettings {
            content_types: input.content_types.clone(),
            ..BrandSettings::default()
        });
    if let Some(s) = &input.slug {
        b = b.slug(s);
    }
    if let Some(c) = &input.currency {
        b = b.currency(c);
    }
    if let Some((p, s, a)) = &input.colors {
        b = b.colors(p, s.as_deref(), a.as_deref());
    }
    if let Some((u, alt, k)) = &input.logo {
        b = b.logo(u, alt, k);
    }
    for g in &input.guardrails {
        b = b.guardrail(g);
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

/// Every list of this module and of `users` is served by an index in its order: with sequential
/// scans priced out, the plan reads an index and never sorts.
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
    for (sql, index) in [
        (
            format!(
                "SELECT id FROM mixerai.users WHERE deleted_at IS NULL AND $1::uuid IS NOT NULL AND {key} ORDER BY created_at DESC, id DESC LIMIT 26"
            ),
            "idx_users_created",
        ),
        (
            format!(
                "SELECT id FROM mixerai.brands WHERE deleted_at IS NULL AND $1::uuid IS NOT NULL AND {key} ORDER BY created_at DESC, id DESC LIMIT 26"
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
                "SELECT id FROM mixerai.user_brand_roles WHERE brand_id = $1 AND {assigned} ORDER BY assigned_at DESC, id DESC LIMIT 26"
            ),
            "idx_user_brand_roles_brand_assigned",
        ),
        (
            format!(
                "SELECT id FROM mixerai.user_brand_roles WHERE user_id = $1 AND {assigned} ORDER BY assigned_at DESC, id DESC LIMIT 26"
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

#[tokio::test]
async fn a_brand_admin_neither_sees_nor_changes_the_memberships_of_another_brand() {
    let db = fresh_db().await;
    let w = world(&db).await;
    let other = create(&db, &minimal("Other"), w.owner).await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .brands()
        .grant(other.id, w.outsider, BrandRole::Admin, None)
        .await
        .unwrap();
    system.commit().await.unwrap();

    let mut scope = db.database().scope(w.admin, w.brand.id).await.unwrap();
    let members = scope
        .brands()
        .members(other.id, &PageRequest::default())
        .await
        .unwrap();
    assert!(members.items.is_empty());
    let err = scope
        .brands()
        .change_role(other.id, w.outsider, BrandRole::Viewer)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .brands()
        .revoke(other.id, w.outsider)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    scope.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let page = system
        .brands()
        .members(other.id, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|m| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        [(w.outsider, BrandRole::Admin)]
    );
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
    let mut b = BrandPatch::builder();
    if let Some(v) = &input.name {
        b = b.name(v);
    }
    if let Some(v) = &input.tone {
        b = b.tone_of_voice(v.clone());
    }
    if let Some(v) = &input.guardrails {
        b = b.guardrails(v.clone());
    }
    if let Some(v) = &input.country {
        b = b.country(v);
    }
    match &input.colors {
        Some(Some((p, s))) => b = b.colors(p, s.as_deref(), None),
        Some(None) => b = b.clear_colors(),
        None => {}
    }
    b.build()
}

proptest! {
    // One database per case: keep the cases few and each a short sequence of patches.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any patch input builds or is refused without panicking; whatever builds is applied exactly:
    /// set fields take the new value, others keep theirs.
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
                let after = system.brands().update(brand.id, brand.updated_at, &patch).await.unwrap();
                let read = system.brands().get(brand.id).await.unwrap();
                system.commit().await.unwrap();
                assert_eq!(&read, &after);
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
    system.brands().soft_delete(w.brand.id).await.unwrap();
    system.commit().await.unwrap();

    for member in [w.admin, w.editor, w.viewer] {
        let mut scope = db.database().scope(member, w.brand.id).await.unwrap();
        let err = scope.content().get(before.id).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        let members = scope
            .brands()
            .members(w.brand.id, &PageRequest::default())
            .await
            .unwrap();
        assert!(members.items.is_empty());
        // A refused write aborts the transaction, so it goes last.
        let err = scope.content().create(&article("After")).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }

    // Restored, the same roles work again.
    let mut system = db.database().system_scope().await.unwrap();
    system.brands().restore(w.brand.id).await.unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(w.viewer, w.brand.id).await.unwrap();
    assert_eq!(scope.content().get(before.id).await.unwrap().id, before.id);
}
