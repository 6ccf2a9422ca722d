//! Integration tests of the `users` module's repository, run as `mixerai_app` through scopes.
//!
//! Sign-in with lockout, MFA and rehashing are tested in `crypto.rs`; here the sign-in path is only
//! exercised where soft delete or the version changes it.

use std::sync::Arc;

use mixerai_data::crypto::{Key, KeyId, KeyState, Keyring, PasswordPolicy};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, Email, UserId};
use mixerai_data::users::{
    LockoutPolicy, LoginOutcome, NewUser, User, UserFilter, UserPatch, UserProfile,
};
use mixerai_data::{Deleted, Error, PageRequest};
use proptest::prelude::*;
use secrecy::SecretString;
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

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
    system.users().get_including_deleted(id).await
}

/// Audit events recorded for one user, read as the owner.
async fn events(db: &TestDatabase, id: UserId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
        .bind(id)
        .fetch_one(pool(db))
        .await
        .unwrap()
}

/// Two members of one brand (a viewer each) and an outsider with no role.
async fn brand_with_members(db: &TestDatabase) -> (BrandId, User, User, User) {
    let a = create(db, "a@example.com").await;
    let b = create(db, "b@example.com").await;
    let outsider = create(db, "outsider@example.com").await;
    let brand = insert_brand(pool(db), "acme", a.id.as_uuid()).await;
    for u in [&a, &b] {
        insert_role(pool(db), u.id.as_uuid(), brand, "viewer").await;
    }
    (BrandId::from_uuid(brand), a, b, outsider)
}

fn is_not_found(result: &mixerai_data::Result<impl std::fmt::Debug>) -> bool {
    matches!(result, Err(Error::NotFound { entity: "user" }))
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
    assert_eq!((user.avatar_url, user.phone), (None, None));
    assert_eq!(user.version, 1);

    let mut system = db.database().system_scope().await.unwrap();
    let err = system
        .users()
        .create(&new_user("GRACE.HOPPER@navy.mil"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, field, .. }
            if constraint == "users_email_normalized_key" && field.as_deref() == Some("email")),
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

    assert!(is_not_found(&system.users().get(UserId::new()).await));
    let nobody = Email::parse("nobody@example.com").unwrap();
    assert!(is_not_found(&system.users().get_by_email(&nobody).await));
}

#[tokio::test]
async fn a_tenant_scope_reads_the_acting_users_account_and_only_the_public_profile_of_members() {
    let db = fresh_db().await;
    let (brand, a, b, outsider) = brand_with_members(&db).await;
    let mut scope = db.database().scope(a.id, brand).await.unwrap();

    // The acting user's own account, in full.
    assert_eq!(scope.users().me().await.unwrap(), a);
    assert_eq!(scope.users().get(a.id).await.unwrap(), a);
    assert_eq!(scope.users().get_by_email(&a.email).await.unwrap(), a);
    let listed = scope
        .users()
        .list(&UserFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!((listed.items, listed.next), (vec![a.clone()], None));

    // Another member's account is not readable, whatever the look-up...
    assert!(is_not_found(&scope.users().get(b.id).await));
    assert!(is_not_found(&scope.users().get_by_email(&b.email).await));
    assert!(is_not_found(
        &scope.users().get_including_deleted(b.id).await
    ));
    for column in ["phone", "metadata"] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} FROM mixerai.users WHERE id = $1"
        )))
        .bind(b.id)
        .fetch_all(scope.connection())
        .await
        .unwrap();
        assert!(rows.is_empty(), "a member's {column} is not readable");
    }
    // ...only their public profile is.
    assert_eq!(
        scope.users().profile(b.id).await.unwrap(),
        UserProfile::from(b.clone())
    );
    assert_eq!(
        scope.users().profile(a.id).await.unwrap(),
        UserProfile::from(a.clone())
    );
    let page = scope
        .users()
        .profiles(&PageRequest::first(10))
        .await
        .unwrap();
    // Newest account first: b was created after a.
    let expected = vec![UserProfile::from(b.clone()), UserProfile::from(a.clone())];
    assert_eq!((page.items, page.next), (expected, None));

    // An outsider is not even a profile.
    assert!(is_not_found(&scope.users().get(outsider.id).await));
    assert!(is_not_found(&scope.users().profile(outsider.id).await));
    drop(scope);

    // A system scope acts as no one and reads accounts, not profiles.
    let mut system = db.database().system_scope().await.unwrap();
    for result in [
        system.users().me().await.map(|_| ()),
        system.users().profile(b.id).await.map(|_| ()),
        system
            .users()
            .profiles(&PageRequest::default())
            .await
            .map(|_| ()),
    ] {
        assert!(matches!(result, Err(Error::Forbidden { .. })), "{result:?}");
    }
}

#[tokio::test]
async fn profiles_show_who_holds_or_held_a_role_but_not_deleted_users_nor_to_a_non_member() {
    let db = fresh_db().await;
    let (brand, a, b, outsider) = brand_with_members(&db).await;
    let lapsed = create(&db, "lapsed@example.com").await;
    let gone = create(&db, "gone@example.com").await;
    for (user, expired) in [(&lapsed, true), (&gone, false)] {
        sqlx::query(
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role, expires_at)
             VALUES ($1, $2, 'viewer', CASE WHEN $3 THEN now() - interval '1 day' END)",
        )
        .bind(user.id)
        .bind(brand)
        .bind(expired)
        .execute(pool(&db))
        .await
        .unwrap();
    }
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .soft_delete(gone.id, gone.version)
        .await
        .unwrap();
    system.commit().await.unwrap();

    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let page = scope
        .users()
        .profiles(&PageRequest::first(100))
        .await
        .unwrap();
    let ids: Vec<_> = page.items.iter().map(|p| p.id).collect();
    // Newest account first.
    let expected = vec![lapsed.id, b.id, a.id];
    assert_eq!(
        ids, expected,
        "held a role: in; soft-deleted or outsider: out"
    );
    assert!(is_not_found(&scope.users().profile(gone.id).await));
    drop(scope);

    // The one whose role lapsed is no reader of the brand: they see only themselves.
    let mut scope = db.database().scope(lapsed.id, brand).await.unwrap();
    let page = scope
        .users()
        .profiles(&PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items, [UserProfile::from(lapsed.clone())]);
    assert!(is_not_found(&scope.users().profile(a.id).await));
    drop(scope);
    // An outsider of the brand likewise.
    let mut scope = db.database().scope(outsider.id, brand).await.unwrap();
    let page = scope
        .users()
        .profiles(&PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(page.items, [UserProfile::from(outsider)]);
}

#[tokio::test]
async fn profiles_page_newest_first_without_repeats_or_gaps() {
    let db = fresh_db().await;
    let (brand, a, b, _) = brand_with_members(&db).await;
    let mut members = vec![a.id, b.id];
    for i in 0..5 {
        let user = create(&db, &format!("m{i}@example.com")).await;
        insert_role(pool(&db), user.id.as_uuid(), brand.as_uuid(), "editor").await;
        members.push(user.id);
    }
    // Newest account first: the order they were created in, reversed.
    members.reverse();
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let mut seen = Vec::new();
    let mut request = PageRequest::first(2);
    loop {
        let page = scope.users().profiles(&request).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|p| p.id));
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    assert_eq!(seen, members);
}

#[tokio::test]
async fn list_pages_through_users_newest_first_and_the_filter_asks_for_deleted_ones() {
    let db = fresh_db().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&db, &format!("u{i}@example.com")).await);
    }
    let deleted = created[3].clone();
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .soft_delete(deleted.id, deleted.version)
        .await
        .unwrap();
    let mut list = async |deleted: Deleted, limit: u32| {
        let filter = UserFilter { deleted };
        let mut seen = Vec::new();
        let mut request = PageRequest::first(limit);
        loop {
            let page = system.users().list(&filter, &request).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|u| (u.created_at, u.id.as_uuid())));
            match page.next {
                Some(cursor) => request = request.after(cursor),
                None => break,
            }
        }
        seen
    };
    let seen = list(Deleted::Exclude, 2).await;
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first, "ordered by (created_at, id) descending");
    let sorted_ids = |seen: &[(chrono::DateTime<chrono::Utc>, Uuid)]| {
        let mut ids: Vec<_> = seen.iter().map(|(_, id)| *id).collect();
        ids.sort();
        ids
    };
    let mut expected: Vec<_> = created
        .iter()
        .filter(|u| u.id != deleted.id)
        .map(|u| u.id.as_uuid())
        .collect();
    expected.sort();
    assert_eq!(
        sorted_ids(&seen),
        expected,
        "every live user exactly once, the deleted one not at all"
    );
    let only = list(Deleted::Only, 2).await;
    assert_eq!(sorted_ids(&only), [deleted.id.as_uuid()]);
    assert_eq!(list(Deleted::Include, 3).await.len(), created.len());
}

#[tokio::test]
async fn update_changes_only_the_fields_set_can_clear_optional_ones_and_counts_each_change() {
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
    let updated = system.users().update(user.id, 1, &patch).await.unwrap();
    assert_eq!(updated.version, 2);
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
    let cleared = system.users().update(user.id, 2, &clear).await.unwrap();
    assert_eq!(cleared.version, 3);
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
async fn a_stale_update_is_stale_with_the_current_version_and_overwrites_nothing() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    let first = UserPatch::builder().first_name("First").build().unwrap();
    system.users().update(user.id, 1, &first).await.unwrap();
    system.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    let second = UserPatch::builder()
        .first_name("Second")
        .last_name("Lost")
        .build()
        .unwrap();
    let err = system
        .users()
        .update(user.id, 1, &second)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "user",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    drop(system);
    let now = system_get(&db, user.id).await.unwrap();
    assert_eq!(
        (now.first_name.as_str(), now.last_name.as_str(), now.version),
        ("First", "Hopper", 2)
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
            let result = system.users().update(user.id, user.version, &patch).await;
            system.commit().await.unwrap();
            result.map(|u| u.first_name)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(name) => winners.push(name),
            Err(Error::Stale {
                expected, actual, ..
            }) => assert_eq!((expected, actual), (1, 2)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let now = system_get(&db, user.id).await.unwrap();
    assert_eq!((now.first_name, now.version), (winners[0].clone(), 2));
}

#[tokio::test]
async fn an_empty_patch_writes_no_row_and_no_audit_event() {
    let db = fresh_db().await;
    let (brand, a, _, _) = brand_with_members(&db).await;
    let empty = UserPatch::builder().build().unwrap();
    let before = events(&db, a.id).await;

    let mut system = db.database().system_scope().await.unwrap();
    assert_eq!(system.users().update(a.id, 1, &empty).await.unwrap(), a);
    system.commit().await.unwrap();
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    assert_eq!(scope.users().update(a.id, 1, &empty).await.unwrap(), a);
    scope.commit().await.unwrap();
    assert_eq!(events(&db, a.id).await, before);
    assert_eq!(system_get(&db, a.id).await.unwrap(), a, "no new version");

    // Still checked against the version, and against what the scope may read.
    let one = UserPatch::builder().first_name("Ada").build().unwrap();
    let mut system = db.database().system_scope().await.unwrap();
    system.users().update(a.id, 1, &one).await.unwrap();
    let err = system.users().update(a.id, 1, &empty).await.unwrap_err();
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
    assert!(is_not_found(
        &system.users().update(UserId::new(), 1, &empty).await
    ));
}

#[tokio::test]
async fn a_user_updates_their_own_profile_in_a_tenant_scope_but_no_one_elses() {
    let db = fresh_db().await;
    let (brand, a, b, outsider) = brand_with_members(&db).await;
    let patch = UserPatch::builder().first_name("Changed").build().unwrap();

    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let read = scope.users().me().await.unwrap();
    let me = scope
        .users()
        .update(a.id, read.version, &patch)
        .await
        .unwrap();
    assert_eq!((me.first_name.as_str(), me.version), ("Changed", 2));
    // A fellow member is as invisible to a write as to a read: no account to change.
    for (who, user) in [("member", &b), ("outsider", &outsider)] {
        let result = scope.users().update(user.id, user.version, &patch).await;
        assert!(is_not_found(&result), "{who}: {result:?}");
    }
    assert!(is_not_found(
        &scope.users().update(UserId::new(), 1, &patch).await
    ));
    scope.commit().await.unwrap();

    // Nor can the acting user reach their own account beyond the profile.
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let err = sqlx::query("UPDATE mixerai.users SET metadata = '{}' WHERE id = $1")
        .bind(a.id)
        .execute(scope.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    assert_eq!(system_get(&db, a.id).await.unwrap().first_name, "Changed");
    assert_eq!(system_get(&db, b.id).await.unwrap(), b);
    assert_eq!(system_get(&db, outsider.id).await.unwrap(), outsider);
}

#[tokio::test]
async fn a_soft_deleted_user_cannot_update_their_profile_in_a_tenant_scope() {
    let db = fresh_db().await;
    let (brand, a, _, _) = brand_with_members(&db).await;
    let mut system = db.database().system_scope().await.unwrap();
    let deleted = system.users().soft_delete(a.id, a.version).await.unwrap();
    system.commit().await.unwrap();

    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    // They still read their own account, read-only.
    let me = scope.users().me().await.unwrap();
    assert_eq!(me, deleted);
    assert!(me.deleted_at.is_some());
    let patch = UserPatch::builder().first_name("Undead").build().unwrap();
    let result = scope.users().update(a.id, me.version, &patch).await;
    assert!(is_not_found(&result), "{result:?}");
    // The policy itself refuses it, not only the crate's statement.
    let touched = sqlx::query("UPDATE mixerai.users SET first_name = 'Undead' WHERE id = $1")
        .bind(a.id)
        .execute(scope.connection())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(touched, 0);
    scope.commit().await.unwrap();
    assert_eq!(system_get(&db, a.id).await.unwrap(), deleted);
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
    let deleted = system.users().soft_delete(a.id, a.version).await.unwrap();
    assert_eq!((deleted.id, deleted.version), (a.id, 2));
    assert!(deleted.deleted_at.is_some());
    let twice = system.users().soft_delete(a.id, deleted.version).await;
    assert!(is_not_found(&twice), "deleted twice: {twice:?}");
    let err = system.users().soft_delete(a.id, 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "from a stale read: {err:?}"
    );
    system.commit().await.unwrap();

    let mut system = db.database().system_scope().await.unwrap();
    assert!(is_not_found(&system.users().get(a.id).await));
    assert!(is_not_found(&system.users().get_by_email(&a.email).await));
    assert_eq!(
        system.users().get_including_deleted(a.id).await.unwrap(),
        deleted
    );
    let listed = system
        .users()
        .list(&UserFilter::default(), &PageRequest::first(100))
        .await
        .unwrap();
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
    let err = system.users().restore(a.id, 1).await.unwrap_err();
    assert!(matches!(err, Error::Stale { actual: 2, .. }), "{err:?}");
    let restored = system.users().restore(a.id, deleted.version).await.unwrap();
    assert_eq!(
        (restored.id, restored.deleted_at, restored.version),
        (a.id, None, 3)
    );
    let twice = system.users().restore(a.id, restored.version).await;
    assert!(is_not_found(&twice), "restored twice: {twice:?}");
    assert!(is_not_found(
        &system.users().restore(UserId::new(), 1).await
    ));
    system.commit().await.unwrap();
    assert!(matches!(login(&db).await, LoginOutcome::Success(u) if u.id == a.id));
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    assert_eq!(scope.brands().get(brand).await.unwrap().id, brand);
}

#[tokio::test]
async fn soft_delete_and_restore_are_forbidden_in_a_tenant_scope_even_for_oneself() {
    let db = fresh_db().await;
    let (brand, a, b, _) = brand_with_members(&db).await;
    for target in [&a, &b] {
        let mut scope = db.database().scope(a.id, brand).await.unwrap();
        let err = scope
            .users()
            .soft_delete(target.id, target.version)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }
    let mut system = db.database().system_scope().await.unwrap();
    let deleted = system.users().soft_delete(b.id, b.version).await.unwrap();
    system.commit().await.unwrap();
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let err = scope
        .users()
        .restore(b.id, deleted.version)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    assert_eq!(system_get(&db, b.id).await.unwrap(), deleted);
    assert_eq!(system_get(&db, a.id).await.unwrap(), a);
}

#[tokio::test]
async fn set_platform_admin_sets_the_flag_as_a_new_version_and_refuses_stale_or_unknown_users() {
    let db = fresh_db().await;
    let user = create(&db, "grace@example.com").await;
    let mut system = db.database().system_scope().await.unwrap();
    let admin = system
        .users()
        .set_platform_admin(user.id, user.version, true)
        .await
        .unwrap();
    assert_eq!(admin.metadata["is_platform_admin"], serde_json::json!(true));
    assert_eq!(admin.version, 2);
    assert_eq!(system.users().get(user.id).await.unwrap(), admin);
    let err = system
        .users()
        .set_platform_admin(user.id, 1, false)
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
    assert_eq!(system.users().get(user.id).await.unwrap(), admin);
    let unknown = system
        .users()
        .set_platform_admin(UserId::new(), 1, true)
        .await;
    assert!(is_not_found(&unknown), "{unknown:?}");
}

#[tokio::test]
async fn signing_in_passwords_and_mfa_never_make_an_open_edit_stale() {
    let db = fresh_db().await;
    let (brand, a, _, _) = brand_with_members(&db).await;
    let policy = PasswordPolicy::new(256, 1, 1).unwrap();
    let mut keys = Keyring::new();
    keys.add(KeyId(1), Key::from_bytes([1; 32]), KeyState::Primary)
        .unwrap();
    let mut system = db.database().system_scope().await.unwrap();
    let mut users = system.users();
    users
        .set_password(a.id, &SecretString::from("right"), &policy)
        .await
        .unwrap();
    for password in ["wrong", "right"] {
        users
            .verify_login(
                &a.email,
                &SecretString::from(password),
                &policy,
                &LockoutPolicy::default(),
            )
            .await
            .unwrap();
    }
    users.enable_mfa(a.id, &keys, b"seed").await.unwrap();
    users.disable_mfa(a.id).await.unwrap();
    system.commit().await.unwrap();

    let now = system_get(&db, a.id).await.unwrap();
    assert_eq!((now.version, now.updated_at), (a.version, a.updated_at));
    assert_eq!(now.login_count, 1);
    // The profile edit opened before all that still goes through.
    let mut scope = db.database().scope(a.id, brand).await.unwrap();
    let patch = UserPatch::builder().last_name("Murray").build().unwrap();
    let updated = scope.users().update(a.id, a.version, &patch).await.unwrap();
    assert_eq!(updated.version, a.version + 1);
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

fn patch_of(
    (first, avatar, phone, tz, lang): &PatchInput,
) -> mixerai_data::users::UserPatchBuilder {
    UserPatch::builder()
        .maybe_first_name(first.clone())
        .maybe_avatar_url(avatar.clone())
        .maybe_phone(phone.clone())
        .maybe_timezone(tz.clone())
        .maybe_language(lang.clone())
}

proptest! {
    #[test]
    fn any_user_input_builds_or_is_refused_without_panicking(input in patch_input(), email in any::<String>()) {
        let _ = patch_of(&input).build();
        let (first, avatar, _, tz, _) = input;
        let new = NewUser::builder().email(email).first_name(first.unwrap_or_default()).last_name("x")
            .maybe_avatar_url(avatar).maybe_timezone(tz);
        let _ = new.build();
    }
}

proptest! {
    // One database per case: keep the cases few and each a short sequence of patches.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any input builds or is refused (never a panic); whatever builds is stored and read back
    /// exactly as the patch said, as one new version (none for an empty patch).
    #[test]
    fn any_user_patch_builds_or_is_refused_and_what_builds_round_trips(cases in prop::collection::vec(patch_input(), 1..4)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let db = fresh_db().await;
            let user_id = UserId::from_uuid(insert_user(pool(&db), "prop@example.com").await);
            for input in cases {
                let Ok(patch) = patch_of(&input).build() else { continue };
                let (first, avatar, phone, tz, lang) = input;
                let mut system = db.database().system_scope().await.unwrap();
                let before = system.users().get(user_id).await.unwrap();
                let after = system.users().update(user_id, before.version, &patch).await.unwrap();
                let read = system.users().get(user_id).await.unwrap();
                system.commit().await.unwrap();
                assert_eq!(&read, &after);
                assert_eq!(after.version, before.version + i32::from(!patch.is_empty()));
                assert_eq!(after.first_name, first.unwrap_or(before.first_name));
                assert_eq!(after.avatar_url, avatar.or(before.avatar_url));
                assert_eq!(after.phone, phone.or(before.phone));
                if tz.is_none() { assert_eq!(after.timezone, before.timezone); }
                if let Some(l) = lang { assert_eq!(after.language.as_str(), l.to_ascii_lowercase()); }
            }
        });
    }
}
