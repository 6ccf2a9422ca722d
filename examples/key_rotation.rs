//! Key rotation end to end: users get MFA secrets under key 1, key 2 is added and promoted, the
//! re-encryption job moves every secret to key 2, key 1 is disabled, and secrets still read back.
//!
//! ```text
//! cargo run --example key_rotation                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example key_rotation   # uses that database
//! ```
//!
//! The re-encryption job runs as the pool's own role, which must bypass row-level security (`users`
//! has `FORCE ROW LEVEL SECURITY`): the role that owns the schema and runs the migrations, which has
//! `BYPASSRLS` (see `mixerai_data::Database`). See `mixerai_data::crypto::rotation`.

use mixerai_data::crypto::rotation::{self, ReEncryption};
use mixerai_data::users::NewUser;
use mixerai_data::{Key, KeyId, KeyState, Keyring, Result};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> Result<()> {
    // With DATABASE_URL, that database; otherwise a throwaway server started from the installed
    // PostgreSQL binaries, with a fresh database (deleted when this process exits).
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;
    println!("migrated");

    // In production the keys come from configuration: Keyring::from_env().
    let mut keyring = Keyring::new();
    keyring.add(KeyId(1), Key::generate()?, KeyState::Primary)?;

    // A few users with MFA, their secrets encrypted under key 1.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut users = Vec::new();
    let mut system = db.system_scope().await?;
    for i in 0..5 {
        let user = system
            .users()
            .create(
                &NewUser::builder()
                    .email(format!("user{i}+{run}@example.com"))
                    .first_name("User")
                    .last_name(format!("{i}"))
                    .build()?,
            )
            .await?;
        let seed = format!("TOTP-SEED-{i}");
        let _backup_codes = system
            .users()
            .enable_mfa(user.id, &keyring, seed.as_bytes())
            .await?;
        users.push((user.id, seed));
    }
    system.commit().await?;
    let pool = db.pool();
    println!(
        "{} user(s) with MFA; values under key 1: {}",
        users.len(),
        rotation::rows_using(pool, KeyId(1)).await?
    );

    // Rotate: add key 2 and promote it. Key 1 becomes decrypt-only, so nothing breaks meanwhile.
    keyring.add(KeyId(2), Key::generate()?, KeyState::DecryptOnly)?;
    keyring.promote(KeyId(2))?;
    println!("promoted key 2; keyring: {keyring:?}");

    let report = ReEncryption::run_to_completion(pool, &keyring, 2, |p| {
        println!(
            "  progress: {}/{} on the primary key, {} remaining",
            p.on_primary, p.total, p.remaining
        );
    })
    .await?;
    println!(
        "re-encrypted {} value(s), {} failed",
        report.rotated,
        report.failed.len()
    );

    let left = rotation::rows_using(pool, KeyId(1)).await?;
    println!("values still under key 1: {left}");
    assert_eq!(left, 0);

    // Nothing uses key 1 any more: disable it (and later remove it from configuration).
    keyring.set_state(KeyId(1), KeyState::Disabled)?;
    println!("disabled key 1; keyring: {keyring:?}");

    let mut system = db.system_scope().await?;
    for (id, seed) in &users {
        let secret = system.users().mfa_secret(*id, &keyring).await?;
        assert_eq!(secret.expose_secret(), seed.as_bytes());
    }
    let (first, _) = users[0];
    let secret = system.users().mfa_secret(first, &keyring).await?;
    drop(system);
    println!(
        "read back every MFA secret with key 2 alone (e.g. user {first}: {} bytes, {secret:?})",
        secret.expose_secret().len()
    );
    Ok(())
}
