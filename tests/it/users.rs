//! Integration tests of the `users` module's repository, run as `mixerai_app` through scopes.
//!
//! Sign-in with lockout, MFA and rehashing are tested in `crypto.rs`; here the sign-in path is only
//! exercised where soft delete changes it.

use std::sync::Arc;

use mixerai_data::crypto::PasswordPolicy;
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, Email, UserId};
use mixerai_data::users::{LockoutPolicy, LoginOutcome, NewUser, User, UserPatch};
use mixerai_data::{Error, PageRequest};
use proptest::prelude::*;
use secrecy::SecretString;
use tokio::sync::Barrier;

use crate::support::{fresh_db, insert_brand, insert_user, pool};

fn new_user(email: &str) -> NewUser {
    NewUser::builder()
        .email(email)
        .first_name("Grace")
        .last_name("Hopper")
        .build()
        .unwrap()
}

async fn create(db: &TestDatabase, email: &str) -> User {
    let mut system = db.database().system_scope().await.unwrap();
    let user = system.users().create(&new_user(email)).await.unwrap();
    system.commit().await.unwrap();
    user
}

async fn system_get(db: &TestDatabase, id: UserId) -> mixerai_data::Result<User> {
    let mut system = db.database().system_scope().await.unwrap();
    system.users().get(id).await
}

/// Two members of one brand (a viewer each) and an outsider with no role.
async fn brand_with_members(db: &TestDatabase) -> (BrandId, User, User, User) {
    let a = create(db, "a@example.com").await;
    let b = create(db, "b@example.com").await;
    let outsider = create(db, "outsider@example.com").await;
    let brand = insert_brand(pool(db), "acme", a.id.as_uuid()).await;
    for u in [&a, &b] {
        sqlx::query(
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($1, $2, 'viewer')",
        )
        .bind(u.id)
        .bind(brand)
        .execute(pool(db))
        .await
        .unwrap();
    }
    (BrandId::from_uuid(brand), a, b, outsider)
}

#[tokio::test]
async fn create_normalises_the_address_and_refuses_it_again_in_any_letter_case() {
    let db = fresh_db().await;
    let user = create(&db, "  Grace.Hopper@Navy.MIL ").await;
    assert_eq!(user.email.as_str(), "grace.hopper@navy.mil");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Grace", "Hopper")
    );
    assert_eq!(user.timezone.as_str(), "UTC");
    assert_eq!(user.language.as_str(), "en");

    let mut system = db.database().system_scope().await.unwrap();
    let err = system
        .users()
        .create(&new_user("GRACE.HOPPER@navy.mil"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "users_email_normalized_key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn creating_a_user_is_forbidden_in_a_tenant_scope() {
    let db = fresh_db().await;
    let (brand, a, _, _) = brand_with_members(&db).await;
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let err = scope
        .users()
        .create(&new_user("new@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn get_and_get_by_email_find_a_user_in_any_letter_case_and_report_others_as_not_found() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(system.users().get(user.id).await.unwrap(), user);
    let shouted = Email::parse("GRACE@EXAMPLE.COM").unwrap();
    assert_eq!(system.users().get_by_email(&shouted).await.unwrap(), user);

    let err = system.users().get(UserId::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { entity: "user" }), "{err:?}");
    let nobody = Email::parse("nobody@example.com").unwrap();
    let err = system.users().get_by_email(&nobody).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { entity: "user" }), "{err:?}");
}

#[tokio::test]
async fn a_tenant_scope_sees_the_acting_user_and_the_brands_members_but_not_outsiders() {
    let db = fresh_db().await;
    let (brand, a, b, outsider) = brand_with_members(&db).await;
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    assert_eq!(scope.users().get(a.id).await.unwrap().id, a.id);
    assert_eq!(scope.users().get_by_email(&b.email).await.unwrap().id, b.id);
    let err = scope.users().get(outsider.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = scope
        .users()
        .get_by_email(&outsider.email)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let page = scope.users().list(&PageRequest::first(10)).await.unwrap();
    let mut ids: Vec<_> = page.items.iter().map(|u| u.id).collect();
    ids.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn list_pages_through_live_users_newest_first_without_repeats_or_gaps() {
    let db = fresh_db().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&db, &format!("u{i}@example.com")).await.id);
    }
    let mut system = db.database().system_scope().await.unwrap();
    system.users().soft_delete(created[3]).await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = system.users().list(&request).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|u| (u.created_at, u.id.as_uuid())));
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "ordered by (created_at, id) descending");
    let mut ids: Vec<_> = seen.iter().map(|(_, id)| *id).collect();
    ids.sort();
    let mut expected: Vec<_> = created
        .iter()
        .filter(|id| **id != created[3])
        .map(|id| id.as_uuid())
        .collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every live user exactly once, the deleted one not at all"
    );
}

#[test]
fn user_patch_reports_every_problem_at_once() {
    let err = UserPatch::builder()
        .first_name(" ")
        .last_name("x".repeat(101))
        .avatar_url("javascript:alert(1)")
        .phone("9".repeat(51))
        .timezone("Mars/Olympus_Mons")
        .language("english")
        .build()
        .unwrap_err();
    let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "first_name",
            "last_name",
            "avatar_url",
            "phone",
            "timezone",
            "language"
        ],
        "{err}"
    );
    assert!(UserPatch::builder().build().unwrap().is_empty());
}

#[tokio::test]
async fn update_profile_changes_only_the_fields_set_and_can_clear_optional_ones() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    let patch = UserPatch::builder()
        .first_name("Amazing")
        .avatar_url("https://example.com/grace.png")
        .phone("+1 555 0100")
        .timezone("america/new_york")
        .language("FR")
        .build()
        .unwrap();
    let updated = system
        .users()
        .update_profile(user.id, user.updated_at, &patch)
        .await
        .unwrap();
    assert_eq!(updated.first_name, "Amazing");
    assert_eq!(updated.last_name, "Hopper");
    assert_eq!(
        updated.avatar_url.as_deref(),
        Some("https://example.com/grace.png")
    );
    assert_eq!(updated.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(updated.timezone.as_str(), "America/New_York");
    assert_eq!(updated.language.as_str(), "fr");
    system.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let clear = UserPatch::builder()
        .clear_avatar_url()
        .clear_phone()
        .build()
        .unwrap();
    let cleared = system
        .users()
        .update_profile(user.id, updated.updated_at, &clear)
        .await
        .unwrap();
    assert_eq!((cleared.avatar_url, cleared.phone), (None, None));
    assert_eq!(cleared.first_name, "Amazing");
    assert_eq!(cleared.timezone.as_str(), "America/New_York");
    system.commit().await.unwrap();
    assert_eq!(
        system_get(&db, user.id).await.unwrap().first_name,
        "Amazing"
    );
}

#[tokio::test]
async fn a_stale_update_conflicts_and_overwrites_nothing() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    let first = UserPatch::builder().first_name("First").build().unwrap();
    system
        .users()
        .update_profile(user.id, user.updated_at, &first)
        .await
        .unwrap();
    system.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let second = UserPatch::builder()
        .first_name("Second")
        .last_name("Lost")
        .build()
        .unwrap();
    let err = system
        .users()
        .update_profile(user.id, user.updated_at, &second)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "users_stale_version"),
        "{err:?}"
    );
    drop(system);
    let now = system_get(&db, user.id).await.unwrap();
    assert_eq!(
        (now.first_name.as_str(), now.last_name.as_str()),
        ("First", "Hopper")
    );
}

#[tokio::test]
async fn two_concurrent_updates_from_the_same_read_let_exactly_one_through() {
    let db = Arc::new(fresh_db().await);
    let user = create(&db, "grace@example.com").await;
    let barrier = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (db, barrier) = (db.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut system = db.database().system_scope().await.unwrap();
            let patch = UserPatch::builder()
                .first_name(format!("Writer {i}"))
                .build()
                .unwrap();
            barrier.wait().await;
            let result = system
                .users()
                .update_profile(user.id, user.updated_at, &patch)
                .await;
            system.commit().await.unwrap();
            result.map(|u| u.first_name)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(name) => winners.push(name),
            Err(Error::Conflict { constraint, .. }) => {
                assert_eq!(constraint, "users_stale_version")
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        system_get(&db, user.id).await.unwrap().first_name,
        winners[0]
    );
}

#[tokio::test]
async fn a_user_updates_their_own_profile_in_a_tenant_scope_but_no_one_elses() {
    let db = fresh_db().await;
    let (brand, a, b, outsider) = brand_with_members(&db).await;
    let patch = UserPatch::builder().first_name("Changed").build().unwrap();

    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let me = scope
        .users()
        .update_profile(a.id, a.updated_at, &patch)
        .await
        .unwrap();
    assert_eq!(me.first_name, "Changed");
    let err = scope
        .users()
        .update_profile(b.id, b.updated_at, &patch)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "member: {err:?}");
    let err = scope
        .users()
        .update_profile(outsider.id, outsider.updated_at, &patch)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "outsider: {err:?}");
    let err = scope
        .users()
        .update_profile(UserId::new(), a.updated_at, &patch)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "unknown: {err:?}");
    scope.commit().await.unwrap();

    assert_eq!(system_get(&db, a.id).await.unwrap().first_name, "Changed");
    assert_eq!(system_get(&db, b.id).await.unwrap().first_name, "Grace");
    assert_eq!(
        system_get(&db, outsider.id).await.unwrap().first_name,
        "Grace"
    );
}

#[tokio::test]
async fn a_soft_deleted_user_is_hidden_cannot_sign_in_keeps_the_address_and_comes_back_on_restore()
{
    let db = fresh_db().await;
    let (brand, a, _, _) = brand_with_members(&db).await;
    let policy = PasswordPolicy::new(256, 1, 1).unwrap();
    let password = SecretString::from("correct horse");
    let login = |db: &TestDatabase| {
        let (policy, password, email) = (policy.clone(), password.clone(), a.email.clone());
        let db = db.database().clone();
        async move {
            let mut system = db.system_scope().await.unwrap();
            let outcome = system
                .users()
                .verify_login(&email, &password, &policy, &LockoutPolicy::default())
                .await
                .unwrap();
            system.commit().await.unwrap();
            outcome
        }
    };
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .set_password(a.id, &password, &policy)
        .await
        .unwrap();
    system.users().soft_delete(a.id).await.unwrap();
    let err = system.users().soft_delete(a.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "deleted twice: {err:?}"
    );
    system.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    assert!(matches!(
        system.users().get(a.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        system.users().get_by_email(&a.email).await,
        Err(Error::NotFound { .. })
    ));
    let listed = system.users().list(&PageRequest::first(100)).await.unwrap();
    assert!(listed.items.iter().all(|u| u.id != a.id));
    let err = system
        .users()
        .create(&new_user(a.email.as_str()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict { .. }),
        "address stays taken: {err:?}"
    );
    drop(system);
    assert_eq!(login(&db).await, LoginOutcome::Failed);
    // Their role grants nothing while deleted.
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    assert!(matches!(
        scope.brands().get(brand).await,
        Err(Error::NotFound { .. })
    ));
    drop(scope);

    let mut system = db.database().system_scope().await.unwrap();
    let restored = system.users().restore(a.id).await.unwrap();
    assert_eq!((restored.id, restored.deleted_at), (a.id, None));
    let err = system.users().restore(a.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }),
        "restored twice: {err:?}"
    );
    let err = system.users().restore(UserId::new()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "unknown: {err:?}");
    system.commit().await.unwrap();
    assert!(matches!(login(&db).await, LoginOutcome::Success(u) if u.id == a.id));
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    assert_eq!(scope.brands().get(brand).await.unwrap().id, brand);
}

#[tokio::test]
async fn soft_delete_and_restore_are_forbidden_in_a_tenant_scope_even_for_oneself() {
    let db = fresh_db().await;
    let (brand, a, b, _) = brand_with_members(&db).await;
    for target in [a.id, b.id] {
        let mut scope = db.database().scope(a.id, brand).await.unwrap();
        let err = scope.users().soft_delete(target).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }
    let mut system = db.database().system_scope().await.unwrap();
    system.users().soft_delete(b.id).await.unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let err = scope.users().restore(b.id).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    assert!(matches!(
        system_get(&db, b.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(system_get(&db, a.id).await.is_ok());
}

#[tokio::test]
async fn set_platform_admin_sets_the_flag_and_reports_an_unknown_user() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .set_platform_admin(user.id, true)
        .await
        .unwrap();
    let flag = &system.users().get(user.id).await.unwrap().metadata["is_platform_admin"];
    assert_eq!(flag, &serde_json::json!(true));
    let err = system
        .users()
        .set_platform_admin(UserId::new(), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

/// Raw patch input: first name, avatar URL, phone, time zone, language.
type PatchInput = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn patch_input() -> impl Strategy<Value = PatchInput> {
    (
        proptest::option::of(prop_oneof!["[A-Za-z ]{0,12}", any::<String>()]),
        proptest::option::of(prop_oneof![
            "https://[a-z]{1,8}\\.com/[a-z]{0,8}",
            any::<String>()
        ]),
        proptest::option::of(prop_oneof!["[0-9 +]{0,20}", ".{0,60}"]),
        proptest::option::of(prop_oneof![
            Just("Europe/Paris".to_owned()),
            Just("asia/tokyo".to_owned()),
            any::<String>()
        ]),
        proptest::option::of(prop_oneof!["[a-z]{2}", any::<String>()]),
    )
}

proptest! {
    #[test]
    fn any_user_input_builds_or_is_refused_without_panicking((first, avatar, phone, tz, lang) in patch_input(), email in any::<String>()) {
        let mut builder = UserPatch::builder();
        if let Some(v) = &first { builder = builder.first_name(v); }
        if let Some(v) = &avatar { builder = builder.avatar_url(v); }
        if let Some(v) = &phone { builder = builder.phone(v); }
        if let Some(v) = &tz { builder = builder.timezone(v); }
        if let Some(v) = &lang { builder = builder.language(v); }
        let _ = builder.build();
        let mut new = NewUser::builder().email(email).first_name(first.unwrap_or_default()).last_name("x");
        if let Some(v) = avatar { new = new.avatar_url(v); }
        if let Some(v) = tz { new = new.timezone(v); }
        let _ = new.build();
    }
}

proptest! {
    // One database per case: keep the cases few and each a short sequence of patches.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any input builds or is refused (never a panic); whatever builds is stored and read back
    /// exactly as the patch said.
    #[test]
    fn any_user_patch_builds_or_is_refused_and_what_builds_round_trips(cases in prop::collection::vec(patch_input(), 1..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let db = fresh_db().await;
            let user_id = UserId::from_uuid(insert_user(pool(&db), "prop@example.com").await);
            for (first, avatar, phone, tz, lang) in cases {
                let mut builder = UserPatch::builder();
                if let Some(v) = &first { builder = builder.first_name(v); }
                if let Some(v) = &avatar { builder = builder.avatar_url(v); }
                if let Some(v) = &phone { builder = builder.phone(v); }
                if let Some(v) = &tz { builder = builder.timezone(v); }
                if let Some(v) = &lang { builder = builder.language(v); }
                let Ok(patch) = builder.build() else { continue };
                let mut system = db.database().system_scope().await.unwrap();
                let before = system.users().get(user_id).await.unwrap();
                let after = system.users().update_profile(user_id, before.updated_at, &patch).await.unwrap();
                let read = system.users().get(user_id).await.unwrap();
                system.commit().await.unwrap();
                assert_eq!(&read, &after);
                assert_eq!(after.first_name, first.unwrap_or(before.first_name));
                assert_eq!(after.avatar_url, avatar.or(before.avatar_url));
                assert_eq!(after.phone, phone.or(before.phone));
                if tz.is_none() { assert_eq!(after.timezone, before.timezone); }
                if let Some(l) = lang { assert_eq!(after.language.as_str(), l.to_ascii_lowercase()); }
            }
        });
    }
}
