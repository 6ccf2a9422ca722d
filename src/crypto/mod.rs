//! Encryption of secrets at rest, password hashing and backup codes.
//!
//! Encryption happens here, in the crate, and never in the database: the keys stay in this process
//! and never reach PostgreSQL (no pgcrypto, no vault), so a stolen dump, a leaked replica or a copied
//! column reveals nothing. What PostgreSQL stores is an opaque, self-describing envelope (see
//! [`envelope`]) bound to the table, column and row it lives in.
//!
//! - [`Keyring`]: the AES-256 keys, each with a stable [`KeyId`] and a [`KeyState`]; exactly one
//!   primary key encrypts, older keys stay readable until rotated away.
//! - [`Keyring::encrypt`] / [`Keyring::decrypt`]: AES-256-GCM envelopes bound to a [`Binding`].
//! - [`password`]: Argon2id PHC strings for account passwords.
//! - [`backup_codes`]: one-time recovery codes and the hashes stored for them.
//! - [`rotation`]: the job that re-encrypts stored values under the primary key after a rotation.
//!
//! Every failure is a [`CryptoError`]; none of them ever carries plaintext or key bytes.

pub mod backup_codes;
pub mod envelope;
pub mod keyring;
pub mod password;
pub mod rotation;

pub use backup_codes::{generate_backup_codes, hash_backup_code};
pub use envelope::{Binding, key_id_of};
pub use keyring::{Key, KeyId, KeyState, Keyring};
pub use password::{PasswordPolicy, hash_password, needs_rehash, verify_password};

/// Everything that can go wrong while encrypting, decrypting, loading keys or hashing passwords.
///
/// No variant carries plaintext, key material or a password: errors end up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The envelope names a key this keyring does not hold (never configured, or already removed
    /// after a rotation finished).
    #[error("encryption key {id} is not in the keyring")]
    UnknownKey {
        /// The key id read from the envelope, or asked for.
        id: KeyId,
    },

    /// The envelope was written with a key that has been disabled: it is kept in the keyring only
    /// so that this refusal is explicit rather than an [`UnknownKey`](Self::UnknownKey).
    #[error("encryption key {id} is disabled")]
    KeyDisabled {
        /// The disabled key.
        id: KeyId,
    },

    /// No key is primary, so nothing can be encrypted.
    #[error("the keyring has no primary key")]
    NoPrimaryKey,

    /// The bytes are not an envelope this build can read (too short, unsupported format version),
    /// or a value cannot be put into or taken out of one.
    #[error("malformed envelope: {reason}")]
    Malformed {
        /// What is wrong, e.g. `"shorter than the smallest envelope"`.
        reason: &'static str,
    },

    /// Authentication failed: wrong key, tampered bytes, or an envelope copied from another row,
    /// column or table. Deliberately one variant, so callers (and attackers) learn nothing about
    /// which check failed.
    #[error("decryption failed")]
    Decryption,

    /// Key material or key configuration is unusable.
    #[error("invalid encryption key{}: {reason}", .id.map(|id| format!(" {id}")).unwrap_or_default())]
    InvalidKey {
        /// The key concerned, when known.
        id: Option<KeyId>,
        /// What is wrong, e.g. `"must be 32 bytes"`; never the key itself.
        reason: &'static str,
    },

    /// A password hash could not be computed, or a stored hash is not a valid Argon2 PHC string.
    /// A merely wrong password is not an error: [`verify_password`] returns `Ok(false)`.
    #[error("password hashing failed: {reason}")]
    Password {
        /// What is wrong, e.g. `"stored hash is not a valid PHC string"`.
        reason: &'static str,
    },

    /// The operating system's random number generator failed; nothing was produced.
    #[error("the operating system's random number generator failed")]
    Rng,
}

impl From<getrandom::Error> for CryptoError {
    fn from(_: getrandom::Error) -> Self {
        CryptoError::Rng
    }
}
