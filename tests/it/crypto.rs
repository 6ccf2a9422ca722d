//! Passwords, login lockout, MFA secrets, backup codes and key rotation against the real schema.

use std::collections::HashMap;
use std::sync::Arc;

use mixerai_data::crypto::rotation::{self, ReEncryption};
use mixerai_data::crypto::{Key, KeyId, KeyState, Keyring, PasswordPolicy};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, Email, UserId};
use mixerai_data::users::{LockoutPolicy, LoginOutcome, mfa_secret_binding};
use mixerai_data::{CryptoError, Error};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_user, pool};

/// Tiny Argon2 parameters keep the suite fast.
fn policy() -> PasswordPolicy {
    PasswordPolicy::new(256, 1, 1).unwrap()
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s)
}

fn ring(keys: &[(u32, KeyState)]) -> Keyring {
    let mut ring = Keyring::new();
    for &(id, state) in keys {
        ring.add(KeyId(id), Key::from_bytes([id as u8; 32]), state)
            .unwrap();
    }
    ring
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

async fn user_with_password(db: &TestDatabase, address: &str, password: &str) -> UserId {
    let id = UserId::from_uuid(insert_user(pool(db), address).await);
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .set_password(id, &pw(password), &policy())
        .await
        .unwrap();
    system.commit().await.unwrap();
    id
}

/// One sign-in attempt in its own committed system scope, as a host would run it.
async fn login(
    db: &TestDatabase,
    address: &str,
    password: &str,
    lockout: &LockoutPolicy,
) -> LoginOutcome {
    login_with(db, address, password, &policy(), lockout).await
}

async fn login_with(
    db: &TestDatabase,
    address: &str,
    password: &str,
    policy: &PasswordPolicy,
    lockout: &LockoutPolicy,
) -> LoginOutcome {
    let mut system = db.database().system_scope().await.unwrap();
    let outcome = system
        .users()
        .verify_login(&email(address), &pw(password), policy, lockout)
        .await
        .unwrap();
    system.commit().await.unwrap();
    outcome
}

async fn counters(db: &TestDatabase, id: UserId) -> (i32, i32, bool) {
    sqlx::query_as(
        "SELECT failed_login_attempts, login_count, coalesce(locked_until > now(), false)
         FROM mixerai.users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool(db))
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Login

#[tokio::test]
async fn right_password_signs_in_and_counts_the_login() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "ok@example.com", "correct horse").await;
    let outcome = login(
        &db,
        "OK@example.com",
        "correct horse",
        &LockoutPolicy::default(),
    )
    .await;
    let LoginOutcome::Success(user) = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(user.id, id);
    assert_eq!(user.login_count, 1);
    assert!(user.last_login_at.is_some());
    assert_eq!(counters(&db, id).await, (0, 1, false));
}

#[tokio::test]
async fn wrong_password_fails_and_counts_consecutive_failures_until_a_success_resets_them() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "wrong@example.com", "right").await;
    let lockout = LockoutPolicy::default();
    for n in 1..=3 {
        assert_eq!(
            login(&db, "wrong@example.com", "nope", &lockout).await,
            LoginOutcome::Failed
        );
        assert_eq!(counters(&db, id).await, (n, 0, false));
    }
    assert!(matches!(
        login(&db, "wrong@example.com", "right", &lockout).await,
        LoginOutcome::Success(_)
    ));
    assert_eq!(counters(&db, id).await, (0, 1, false));
}

#[tokio::test]
async fn unknown_address_and_account_without_password_fail_like_a_wrong_password() {
    let db = fresh_db().await;
    insert_user(pool(&db), "sso@example.com").await;
    let lockout = LockoutPolicy::default();
    assert_eq!(
        login(&db, "nobody@example.com", "x", &lockout).await,
        LoginOutcome::Failed
    );
    assert_eq!(
        login(&db, "sso@example.com", "x", &lockout).await,
        LoginOutcome::Failed
    );
}

#[tokio::test]
async fn max_failures_lock_the_account_and_the_lock_holds_even_for_the_right_password() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "lock@example.com", "right").await;
    let lockout = LockoutPolicy {
        max_failures: 3,
        lock_for: std::time::Duration::from_secs(600),
    };
    for _ in 0..2 {
        assert_eq!(
            login(&db, "lock@example.com", "nope", &lockout).await,
            LoginOutcome::Failed
        );
    }
    let third = login(&db, "lock@example.com", "nope", &lockout).await;
    let LoginOutcome::Locked { until } = third else {
        panic!("expected the third failure to lock, got {third:?}");
    };
    let lasts = until - chrono::Utc::now();
    assert!(
        lasts > chrono::Duration::seconds(590) && lasts <= chrono::Duration::seconds(600),
        "{lasts}"
    );
    // The counter is reset when the lock is set.
    assert_eq!(counters(&db, id).await, (0, 0, true));

    assert_eq!(
        login(&db, "lock@example.com", "right", &lockout).await,
        LoginOutcome::Locked { until }
    );
    assert_eq!(
        counters(&db, id).await,
        (0, 0, true),
        "a locked attempt changes nothing"
    );
}

#[tokio::test]
async fn expired_lock_no_longer_blocks_sign_in() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "expired@example.com", "right").await;
    sqlx::query(
        "UPDATE mixerai.users SET locked_until = now() - interval '1 second' WHERE id = $1",
    )
    .bind(id)
    .execute(pool(&db))
    .await
    .unwrap();
    let outcome = login(
        &db,
        "expired@example.com",
        "right",
        &LockoutPolicy::default(),
    )
    .await;
    let LoginOutcome::Success(user) = outcome else {
        panic!("expected success, got {outcome:?}");
    };
    assert_eq!(
        user.locked_until, None,
        "a successful sign-in clears the stale lock"
    );
}

#[tokio::test]
async fn sign_in_rehashes_the_password_when_the_policy_changed() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "rehash@example.com", "right").await;
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM mixerai.users WHERE id = $1")
            .bind(id)
            .fetch_one(pool(&db))
            .await
            .unwrap()
    };
    let before = stored().await;
    assert!(before.contains("m=256,t=1,p=1"), "{before}");

    // Same policy: no rehash.
    login(
        &db,
        "rehash@example.com",
        "right",
        &LockoutPolicy::default(),
    )
    .await;
    assert_eq!(stored().await, before);

    let stronger = PasswordPolicy::new(512, 2, 1).unwrap();
    let outcome = login_with(
        &db,
        "rehash@example.com",
        "right",
        &stronger,
        &LockoutPolicy::default(),
    )
    .await;
    assert!(matches!(outcome, LoginOutcome::Success(_)), "{outcome:?}");
    let after = stored().await;
    assert!(after.contains("m=512,t=2,p=1"), "{after}");
    assert!(stronger.verify(&pw("right"), &after).unwrap());

    // A wrong password never rehashes.
    let strongest = PasswordPolicy::new(1024, 2, 1).unwrap();
    login_with(
        &db,
        "rehash@example.com",
        "nope",
        &strongest,
        &LockoutPolicy::default(),
    )
    .await;
    assert_eq!(stored().await, after);
}

#[tokio::test]
async fn right_password_with_mfa_enabled_requires_the_second_factor() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "mfa-login@example.com", "right").await;
    let keys = ring(&[(1, KeyState::Primary)]);
    let mut system = db.database().system_scope().await.unwrap();
    system.users().enable_mfa(id, &keys, b"seed").await.unwrap();
    system.commit().await.unwrap();
    let outcome = login(
        &db,
        "mfa-login@example.com",
        "right",
        &LockoutPolicy::default(),
    )
    .await;
    assert!(
        matches!(outcome, LoginOutcome::MfaRequired(ref u) if u.id == id),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn authentication_material_is_forbidden_in_a_tenant_scope() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "tenant@example.com").await;
    let brand = insert_brand(pool(&db), "tenant", user).await;
    let mut scope = db
        .database()
        .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
        .await
        .unwrap();
    let err = scope
        .users()
        .mfa_secret(UserId::from_uuid(user), &ring(&[(1, KeyState::Primary)]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// MFA

#[tokio::test]
async fn mfa_enable_read_and_disable_round_trip() {
    let db = fresh_db().await;
    let id = UserId::from_uuid(insert_user(pool(&db), "mfa@example.com").await);
    let keys = ring(&[(1, KeyState::Primary)]);
    let mut system = db.database().system_scope().await.unwrap();
    let mut users = system.users();
    assert!(matches!(
        users.mfa_secret(id, &keys).await,
        Err(Error::MfaNotEnabled)
    ));

    let codes = users
        .enable_mfa(id, &keys, b"JBSWY3DPEHPK3PXP")
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        users.mfa_secret(id, &keys).await.unwrap().expose_secret(),
        b"JBSWY3DPEHPK3PXP"
    );
    assert!(users.get(id).await.unwrap().mfa_enabled);

    // Codes are single-use and may be typed loosely.
    let loose = codes[0].expose_secret().to_lowercase().replace('-', " ");
    assert!(users.consume_backup_code(id, &loose).await.unwrap());
    assert!(
        !users
            .consume_backup_code(id, codes[0].expose_secret())
            .await
            .unwrap()
    );
    assert!(
        !users
            .consume_backup_code(id, "AAAA-AAAA-AAAA-AAAA")
            .await
            .unwrap()
    );

    users.disable_mfa(id).await.unwrap();
    assert!(!users.get(id).await.unwrap().mfa_enabled);
    assert!(matches!(
        users.mfa_secret(id, &keys).await,
        Err(Error::MfaNotEnabled)
    ));
    assert!(
        !users
            .consume_backup_code(id, codes[1].expose_secret())
            .await
            .unwrap()
    );
    let left: (Option<Vec<u8>>, Option<Vec<String>>) =
        sqlx::query_as("SELECT mfa_secret, mfa_backup_codes FROM mixerai.users WHERE id = $1")
            .bind(id)
            .fetch_one(system.connection())
            .await
            .unwrap();
    assert_eq!(left, (None, None));
    system.commit().await.unwrap();
}

#[tokio::test]
async fn mfa_secret_never_reaches_the_audit_trail_nor_debug_output() {
    let db = fresh_db().await;
    let id = user_with_password(&db, "audit@example.com", "right").await;
    let keys = ring(&[(1, KeyState::Primary)]);
    let secret = b"JBSWY3DPEHPK3PXP";
    let mut system = db.database().system_scope().await.unwrap();
    let codes = system.users().enable_mfa(id, &keys, secret).await.unwrap();
    let read = system.users().mfa_secret(id, &keys).await.unwrap();
    assert!(
        system
            .users()
            .consume_backup_code(id, codes[0].expose_secret())
            .await
            .unwrap()
    );
    system.commit().await.unwrap();
    let outcome = login(&db, "audit@example.com", "right", &LockoutPolicy::default()).await;

    let (envelope_hex, hashes): (String, Vec<String>) = sqlx::query_as(
        "SELECT encode(mfa_secret, 'hex'), mfa_backup_codes FROM mixerai.users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool(&db))
    .await
    .unwrap();
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut needles = vec![
        "JBSWY3DPEHPK3PXP".to_owned(),
        secret_hex,
        envelope_hex[..40].to_owned(),
        "argon2id".to_owned(),
    ];
    needles.extend(hashes);
    needles.extend(codes.iter().map(|c| c.expose_secret().to_owned()));

    let payloads: Vec<String> =
        sqlx::query_scalar("SELECT payload::text FROM mixerai.events WHERE aggregate_id = $1")
            .bind(id)
            .fetch_all(pool(&db))
            .await
            .unwrap();
    assert!(
        payloads.len() >= 4,
        "set password, enable, consume and login are audited"
    );
    let debug = format!("{codes:?} {read:?} {outcome:?} {:?}", Error::MfaNotEnabled);
    for needle in &needles {
        for payload in &payloads {
            assert!(
                !payload.contains(needle.as_str()),
                "{needle} leaked into the audit trail: {payload}"
            );
        }
        assert!(
            !debug.contains(needle.as_str()),
            "{needle} leaked into Debug: {debug}"
        );
    }
    assert!(
        payloads.iter().any(|p| p.contains("mfa_secret")),
        "omitted columns are named"
    );
}

#[tokio::test]
async fn mfa_secret_copied_into_another_users_row_fails_to_decrypt() {
    let db = fresh_db().await;
    let alice = UserId::from_uuid(insert_user(pool(&db), "alice@example.com").await);
    let mallory = UserId::from_uuid(insert_user(pool(&db), "mallory@example.com").await);
    let keys = ring(&[(1, KeyState::Primary)]);
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .enable_mfa(alice, &keys, b"alice-seed")
        .await
        .unwrap();
    system
        .users()
        .enable_mfa(mallory, &keys, b"mallory-seed")
        .await
        .unwrap();
    system.commit().await.unwrap();

    sqlx::query(
        "UPDATE mixerai.users SET mfa_secret = (SELECT mfa_secret FROM mixerai.users WHERE id = $1) WHERE id = $2",
    )
    .bind(alice)
    .bind(mallory)
    .execute(pool(&db))
    .await
    .unwrap();
    let mut system = db.database().system_scope().await.unwrap();
    let err = system.users().mfa_secret(mallory, &keys).await.unwrap_err();
    assert!(
        matches!(err, Error::Crypto(CryptoError::Decryption)),
        "{err:?}"
    );
    assert_eq!(
        system
            .users()
            .mfa_secret(alice, &keys)
            .await
            .unwrap()
            .expose_secret(),
        b"alice-seed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_code_raced_by_two_requests_is_accepted_exactly_once() {
    let db = Arc::new(fresh_db().await);
    let id = UserId::from_uuid(insert_user(pool(&db), "race@example.com").await);
    let keys = ring(&[(1, KeyState::Primary)]);
    for round in 0..20 {
        let mut system = db.database().system_scope().await.unwrap();
        let codes = system.users().enable_mfa(id, &keys, b"seed").await.unwrap();
        system.commit().await.unwrap();
        let code = codes[round % codes.len()].expose_secret().to_owned();

        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (db, barrier, code) = (db.clone(), barrier.clone(), code.clone());
                tokio::spawn(async move {
                    let mut system = db.database().system_scope().await.unwrap();
                    barrier.wait().await;
                    let used = system.users().consume_backup_code(id, &code).await.unwrap();
                    system.commit().await.unwrap();
                    used
                })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

// ---------------------------------------------------------------------------------------------
// Key rotation

const ROWS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_of_10k_rows_by_two_concurrent_workers_moves_every_readable_value_to_the_new_key()
{
    let db = fresh_db().await;
    let old = ring(&[(1, KeyState::Primary)]);

    // Seed in one statement: envelopes made here under key 1.
    let mut ids = Vec::with_capacity(ROWS);
    let mut emails = Vec::with_capacity(ROWS);
    let mut envelopes = Vec::with_capacity(ROWS);
    let mut plaintexts = HashMap::with_capacity(ROWS);
    for i in 0..ROWS {
        let id = Uuid::new_v4();
        let plaintext = format!("seed-{i}");
        envelopes.push(
            old.encrypt(
                &mfa_secret_binding(UserId::from_uuid(id)),
                plaintext.as_bytes(),
            )
            .unwrap(),
        );
        ids.push(id);
        emails.push(format!("u{i}@example.com"));
        plaintexts.insert(id, plaintext);
    }
    let tampered = ids[ROWS / 2];
    let last = envelopes[ROWS / 2].len() - 1;
    envelopes[ROWS / 2][last] ^= 0x01;
    let tampered_bytes = envelopes[ROWS / 2].clone();
    sqlx::query(
        "INSERT INTO mixerai.users (id, email, first_name, last_name, mfa_secret, mfa_enabled)
         SELECT id, email, 'Seed', 'User', secret, true
         FROM UNNEST($1::uuid[], $2::text[], $3::bytea[]) AS v(id, email, secret)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&envelopes)
    .execute(pool(&db))
    .await
    .unwrap();

    let new = Arc::new(ring(&[(1, KeyState::DecryptOnly), (2, KeyState::Primary)]));
    let before = rotation::progress(pool(&db), &new).await.unwrap();
    assert_eq!(
        (before.total, before.on_primary, before.remaining),
        (ROWS as u64, 0, ROWS as u64)
    );
    assert_eq!(
        rotation::rows_using(pool(&db), KeyId(1)).await.unwrap(),
        ROWS as u64
    );

    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (pool, keys, barrier) = (pool(&db).clone(), new.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut reports = 0;
                let report = ReEncryption::run_to_completion(&pool, &keys, 200, |_| reports += 1)
                    .await
                    .unwrap();
                (report, reports)
            })
        })
        .collect();
    let mut rotated = 0;
    for worker in workers {
        let (report, progress_calls) = worker.await.unwrap();
        assert!(report.rotated > 0, "each worker makes progress: {report:?}");
        assert!(progress_calls > 0);
        assert!(
            report
                .failed
                .iter()
                .all(|f| f.row == tampered && f.error == CryptoError::Decryption)
        );
        rotated += report.rotated;
    }
    assert_eq!(
        rotated,
        ROWS as u64 - 1,
        "every readable row rotated exactly once"
    );

    // The tampered value is untouched, still under key 1, and a fresh batch reports it as failed.
    let (stored,): (Vec<u8>,) =
        sqlx::query_as("SELECT mfa_secret FROM mixerai.users WHERE id = $1")
            .bind(tampered)
            .fetch_one(pool(&db))
            .await
            .unwrap();
    assert_eq!(stored, tampered_bytes);
    assert_eq!(rotation::rows_using(pool(&db), KeyId(1)).await.unwrap(), 1);
    let again = ReEncryption::run_batch(pool(&db), &new, 100).await.unwrap();
    assert_eq!(
        (again.examined, again.rotated, again.failed.len()),
        (1, 0, 1)
    );
    assert_eq!(again.failed[0].row, tampered);
    let after = rotation::progress(pool(&db), &new).await.unwrap();
    assert_eq!((after.on_primary, after.remaining), (ROWS as u64 - 1, 1));

    // The operator resets that user's MFA; then no row uses key 1 any more.
    let mut system = db.database().system_scope().await.unwrap();
    system
        .users()
        .disable_mfa(UserId::from_uuid(tampered))
        .await
        .unwrap();
    system.commit().await.unwrap();
    assert_eq!(rotation::rows_using(pool(&db), KeyId(1)).await.unwrap(), 0);
    assert_eq!(
        rotation::rows_using(pool(&db), KeyId(2)).await.unwrap(),
        ROWS as u64 - 1
    );

    // Everything decrypts with key 2 alone, to what was stored.
    let only_new = ring(&[(2, KeyState::Primary)]);
    let rows: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, mfa_secret FROM mixerai.users WHERE mfa_secret IS NOT NULL")
            .fetch_all(pool(&db))
            .await
            .unwrap();
    assert_eq!(rows.len(), ROWS - 1);
    for (id, envelope) in rows {
        let plain = only_new
            .decrypt(&mfa_secret_binding(UserId::from_uuid(id)), &envelope)
            .unwrap();
        assert_eq!(plain.expose_secret(), plaintexts[&id].as_bytes());
    }
}

#[tokio::test]
async fn rotation_is_a_no_op_when_every_value_is_under_the_primary_key() {
    let db = fresh_db().await;
    let id = UserId::from_uuid(insert_user(pool(&db), "noop@example.com").await);
    let keys = ring(&[(1, KeyState::Primary)]);
    let mut system = db.database().system_scope().await.unwrap();
    system.users().enable_mfa(id, &keys, b"seed").await.unwrap();
    system.commit().await.unwrap();
    let report = ReEncryption::run_batch(pool(&db), &keys, 10).await.unwrap();
    assert_eq!((report.examined, report.rotated), (0, 0));
    let p = rotation::progress(pool(&db), &keys).await.unwrap();
    assert_eq!((p.total, p.on_primary, p.remaining), (1, 1, 0));
}
