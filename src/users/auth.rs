//! Authentication and multi-factor material: passwords, login with lockout, MFA secrets and backup
//! codes.
//!
//! # Where these run: a [`SystemScope`](crate::SystemScope)
//! The application role (`mixerai_app`, the role of every tenant [`Scope`](crate::Scope)) has no
//! privilege on `users.password_hash`, `users.mfa_secret` or `users.mfa_backup_codes`
//! (`migrations/0003_users.sql`), so every method of this module fails with
//! [`Error::Forbidden`] in a tenant scope. Call them on [`SystemScope::users`](crate::SystemScope::users)
//! and commit the system scope afterwards, **whatever the outcome**: a failed login's counter and a
//! lock are writes too, and rolling them back would undo the lockout.
//!
//! # What never leaves this module
//! Passwords arrive as [`SecretString`], MFA secrets leave as [`SecretSlice`] and backup codes as
//! [`SecretString`]: their `Debug` output is redacted. The password hash, the encrypted MFA secret and
//! the backup-code hashes are never returned, never put into an error, nor into a tracing span, and the
//! audit trigger on `users` omits those columns from every event (`migrations/0003_users.sql`).
//!
//! # Not a change of the account
//! None of this moves [`User::version`]: sign-in counters, locks, the password hash and MFA material
//! are not columns of the account's version (`migrations/0003_users.sql`), so signing in never makes a
//! profile edit that is open elsewhere stale, and these methods take no expected version.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{SecretSlice, SecretString};
use uuid::Uuid;

use super::model::{User, user_columns};
use super::repo::UserRepo;
use crate::crypto::backup_codes::DEFAULT_COUNT;
use crate::crypto::{
    Binding, CryptoError, Keyring, PasswordPolicy, generate_backup_codes, hash_backup_code,
};
use crate::types::{Email, UserId};
use crate::{Error, Result};

/// The table and column the MFA secret lives in: the binding its envelope is authenticated with.
const MFA_TABLE: &str = "users";
const MFA_COLUMN: &str = "mfa_secret";

/// The binding of user `id`'s MFA secret: an envelope copied into another user's row fails to decrypt.
pub fn mfa_secret_binding(id: UserId) -> Binding {
    Binding::new(MFA_TABLE, MFA_COLUMN, id.as_uuid())
}

/// When repeated wrong passwords lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive wrong passwords that lock the account (the counter is then reset). Default 5.
    pub max_failures: u32,
    /// How long a lock lasts. Default 15 minutes.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    /// 5 failures lock the account for 15 minutes.
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            lock_for: Duration::from_secs(15 * 60),
        }
    }
}

/// What [`UserRepo::verify_login`] decided.
///
/// Holds no secret: [`User`] carries neither the password hash nor MFA material.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LoginOutcome {
    /// The password is right and the user has no second factor: signed in.
    Success(User),
    /// The password is right; the user must now prove the second factor (TOTP or a backup code)
    /// before being signed in. The login was counted.
    MfaRequired(User),
    /// Unknown address, soft-deleted account, account without a password (SSO), or wrong password:
    /// deliberately one outcome, so the address's existence is not revealed.
    Failed,
    /// The account is locked until `until`; the password was not checked. Also returned by the wrong
    /// password that reaches [`LockoutPolicy::max_failures`].
    Locked {
        /// When sign-in is allowed again.
        until: DateTime<Utc>,
    },
}

/// The row `verify_login` locks: the user, the stored hash, and whether a lock is in force.
#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: User,
    password_hash: Option<String>,
    locked: bool,
}

/// Runs Argon2 off the async executor: a hash costs tens of milliseconds of CPU under the default policy.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        Error::Crypto(CryptoError::Password {
            reason: "password hashing task did not complete",
        })
    })
}

impl UserRepo<'_> {
    /// Sets the user's password: stores its Argon2id hash under `policy`. Needs a
    /// [`SystemScope`](crate::SystemScope) (see the [`users` module docs](crate::users)).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user; [`Error::Crypto`] if hashing fails.
    #[tracing::instrument(name = "mixerai.users.set_password", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn set_password(
        &mut self,
        id: UserId,
        password: &SecretString,
        policy: &PasswordPolicy,
    ) -> Result<()> {
        let (password, policy) = (password.clone(), policy.clone());
        let phc = blocking(move || policy.hash(&password)).await??;
        let done = sqlx::query("UPDATE mixerai.users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(phc)
            .execute(self.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }

    /// Checks a sign-in attempt and records its result, in one path safe against concurrent attempts.
    ///
    /// The user's row is locked (`SELECT … FOR UPDATE`) for the rest of the transaction, so parallel
    /// attempts on one account are counted one after the other and cannot exceed the lockout.
    /// - Locked (`locked_until` in the future): [`LoginOutcome::Locked`], password not checked.
    /// - Wrong password: `failed_login_attempts` + 1; reaching [`LockoutPolicy::max_failures`] locks
    ///   the account for [`LockoutPolicy::lock_for`] and resets the counter
    ///   ([`LoginOutcome::Locked`]), otherwise [`LoginOutcome::Failed`].
    /// - Right password: counter reset, lock cleared, `login_count` + 1, `last_login_at = now()`, and
    ///   the stored hash replaced if it was made under other parameters than `policy`
    ///   ([`PasswordPolicy::needs_rehash`]); [`LoginOutcome::MfaRequired`] when the user has MFA
    ///   enabled, else [`LoginOutcome::Success`].
    /// - Unknown or soft-deleted address, or no password set: [`LoginOutcome::Failed`], after hashing
    ///   the password once anyway so the time taken does not tell which.
    ///
    /// Needs a [`SystemScope`](crate::SystemScope), which the caller must commit whatever the outcome
    /// (see the [`users` module docs](crate::users)), and promptly: the row stays locked until then.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the stored hash is not a valid Argon2 PHC string (a corrupt hash is
    /// surfaced, not treated as a wrong password); database errors.
    #[tracing::instrument(name = "mixerai.users.verify_login", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn verify_login(
        &mut self,
        email: &Email,
        password: &SecretString,
        policy: &PasswordPolicy,
        lockout: &LockoutPolicy,
    ) -> Result<LoginOutcome> {
        let row = sqlx::query_as::<_, LoginRow>(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash, coalesce(locked_until > now(), false) AS locked
             FROM mixerai.users WHERE email_normalized = $1 AND deleted_at IS NULL FOR UPDATE"
        ))
        .bind(email)
        .fetch_optional(self.conn())
        .await?;

        let (password, policy) = (password.clone(), policy.clone());
        let Some(row) = row else {
            // Same work as a real verification: an unknown address costs one Argon2 run too.
            blocking(move || policy.hash(&password)).await??;
            return Ok(LoginOutcome::Failed);
        };
        if row.locked
            && let Some(until) = row.user.locked_until
        {
            return Ok(LoginOutcome::Locked { until });
        }
        let Some(phc) = row.password_hash else {
            blocking(move || policy.hash(&password)).await??;
            return Ok(LoginOutcome::Failed);
        };

        let id = row.user.id;
        let (valid, rehash) = blocking(move || -> Result<_, CryptoError> {
            if !policy.verify(&password, &phc)? {
                return Ok((false, None));
            }
            let rehash = if policy.needs_rehash(&phc) {
                Some(policy.hash(&password)?)
            } else {
                None
            };
            Ok((true, rehash))
        })
        .await??;

        if !valid {
            let max = i32::try_from(lockout.max_failures).unwrap_or(i32::MAX);
            let (locked, until): (bool, Option<DateTime<Utc>>) = sqlx::query_as(
                "UPDATE mixerai.users SET
                    failed_login_attempts = CASE WHEN failed_login_attempts + 1 >= $2 THEN 0
                                                 ELSE failed_login_attempts + 1 END,
                    locked_until = CASE WHEN failed_login_attempts + 1 >= $2
                                        THEN now() + make_interval(secs => $3)
                                        ELSE locked_until END
                 WHERE id = $1
                 RETURNING failed_login_attempts = 0, locked_until",
            )
            .bind(id)
            .bind(max)
            .bind(lockout.lock_for.as_secs_f64())
            .fetch_one(self.conn())
            .await?;
            return Ok(match (locked, until) {
                (true, Some(until)) => LoginOutcome::Locked { until },
                _ => LoginOutcome::Failed,
            });
        }

        let user = sqlx::query_as::<_, User>(concat!(
            "UPDATE mixerai.users SET failed_login_attempts = 0, locked_until = NULL,
                 login_count = login_count + 1, last_login_at = now(),
                 password_hash = coalesce($2, password_hash)
             WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(rehash)
        .fetch_one(self.conn())
        .await?;
        Ok(if user.mfa_enabled {
            LoginOutcome::MfaRequired(user)
        } else {
            LoginOutcome::Success(user)
        })
    }

    /// Turns MFA on: stores `secret` (e.g. the TOTP seed) encrypted with the keyring's primary key,
    /// as an envelope bound to this user's row ([`mfa_secret_binding`]), replaces any backup codes
    /// with [`DEFAULT_COUNT`] fresh ones, and returns those codes. They are shown once: only their
    /// SHA-256 hashes are stored. Needs a [`SystemScope`](crate::SystemScope).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user; [`Error::Crypto`] if the keyring has no primary
    /// key or no randomness is available.
    #[tracing::instrument(name = "mixerai.users.enable_mfa", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn enable_mfa(
        &mut self,
        id: UserId,
        keyring: &Keyring,
        secret: &[u8],
    ) -> Result<Vec<SecretString>> {
        let envelope = keyring.encrypt(&mfa_secret_binding(id), secret)?;
        let (codes, hashes) = generate_backup_codes(DEFAULT_COUNT)?;
        let done = sqlx::query(
            "UPDATE mixerai.users SET mfa_secret = $2, mfa_backup_codes = $3, mfa_enabled = true WHERE id = $1",
        )
        .bind(id)
        .bind(envelope)
        .bind(hashes)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(codes)
    }

    /// The user's MFA secret, decrypted, to verify a second-factor code against. Wiped from memory
    /// when dropped. Needs a [`SystemScope`](crate::SystemScope).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user; [`Error::MfaNotEnabled`] if MFA is off;
    /// [`Error::Crypto`] if the envelope does not decrypt: its key is missing or disabled, it was
    /// altered, or it was copied from another row.
    #[tracing::instrument(name = "mixerai.users.mfa_secret", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn mfa_secret(&mut self, id: UserId, keyring: &Keyring) -> Result<SecretSlice<u8>> {
        let row: Option<(bool, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT mfa_enabled, mfa_secret FROM mixerai.users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.conn())
                .await?;
        match row {
            None => Err(Error::NotFound { entity: "user" }),
            Some((true, Some(envelope))) => {
                Ok(keyring.decrypt(&mfa_secret_binding(id), &envelope)?)
            }
            Some(_) => Err(Error::MfaNotEnabled),
        }
    }

    /// Turns MFA off: clears the secret, the backup codes and the flag. Needs a
    /// [`SystemScope`](crate::SystemScope).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user.
    #[tracing::instrument(name = "mixerai.users.disable_mfa", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn disable_mfa(&mut self, id: UserId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mixerai.users SET mfa_enabled = false, mfa_secret = NULL, mfa_backup_codes = NULL
             WHERE id = $1",
        )
        .bind(id)
        .execute(self.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }

    /// Uses up one backup code: `true` if `code` (as typed; see
    /// [`hash_backup_code`] for the normalisation) was one of the user's unused codes, which is
    /// now removed; `false` otherwise (wrong, already used, or MFA off).
    ///
    /// One atomic statement (`UPDATE … array_remove … WHERE $2 = ANY(…) RETURNING`): when two requests
    /// race with the same code, the second waits for the first's row lock and, under READ COMMITTED,
    /// re-checks the condition against the committed row, so exactly one of them gets `true`. Needs a
    /// [`SystemScope`](crate::SystemScope), committed for the use to count.
    ///
    /// # Errors
    /// Database errors only.
    #[tracing::instrument(name = "mixerai.users.consume_backup_code", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn consume_backup_code(&mut self, id: UserId, code: &str) -> Result<bool> {
        let used: Option<Uuid> = sqlx::query_scalar(
            "UPDATE mixerai.users SET mfa_backup_codes = array_remove(mfa_backup_codes, $2)
             WHERE id = $1 AND mfa_enabled AND $2 = ANY(mfa_backup_codes) RETURNING id",
        )
        .bind(id)
        .bind(hash_backup_code(code))
        .fetch_optional(self.conn())
        .await?;
        Ok(used.is_some())
    }
}
