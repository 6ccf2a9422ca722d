//! The crate's one error type, and the validation report builders return.
//!
//! Database errors are mapped once, here, by SQLSTATE and constraint name, so a caller matches on
//! [`Error`] variants and never parses a message string.

use std::borrow::Cow;
use std::fmt;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was refused before or by the database: every problem found, each with its field path
    /// and reason. A database CHECK constraint that fires (SQLSTATE 23514) is reported here too, with
    /// the constraint's name as the field. Nothing was written.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationErrors),

    /// A unique key is already taken (SQLSTATE 23505), or an optimistic-concurrency check found the
    /// row changed since it was read. `constraint` names the constraint or check that refused it.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The unique constraint or index (e.g. `users_email_normalized_key`), or the stale check.
        constraint: String,
    },

    /// A referenced row does not exist (SQLSTATE 23503): e.g. a brand id that names no brand.
    #[error("reference {constraint} points at a row that does not exist")]
    InvalidReference {
        /// The foreign key that refused the write.
        constraint: String,
    },

    /// The row does not exist, or is not visible in the current scope. Row-level security makes
    /// "not yours" and "not there" indistinguishable on purpose.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `"content"`.
        entity: &'static str,
    },

    /// The acting user may not do this (SQLSTATE 42501, including writes refused by row-level
    /// security).
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What was refused, without any row data.
        reason: String,
    },

    /// The transaction lost a race (serialization failure 40001 or deadlock 40P01) and was rolled back.
    /// Running the same work again in a new transaction is expected to succeed.
    #[error("transaction must be retried ({sqlstate})")]
    Retryable {
        /// `40001` or `40P01`.
        sqlstate: &'static str,
    },

    /// The user has no second factor to read: MFA is not enabled.
    #[error("multi-factor authentication is not enabled for this user")]
    MfaNotEnabled,

    /// One of the crate's migrations failed to apply; its transaction was rolled back, so nothing
    /// of it is in the database. The source is PostgreSQL's error.
    #[error("migration {version} ({description}) failed")]
    Migration {
        /// The migration's version: the number its file name starts with.
        version: i64,
        /// The migration's description: the rest of its file name.
        description: String,
        /// Why it failed.
        #[source]
        source: sqlx::Error,
    },

    /// The migration history cannot be reconciled with this build (a migration applied that this build
    /// does not know, or one whose checksum changed), or the history could not be read.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Encrypting or decrypting a secret, loading keys, or hashing a password failed. Never carries
    /// plaintext or key material; see [`CryptoError`](crate::crypto::CryptoError).
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),

    /// Any other database or connection error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether running the same work again in a fresh transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retryable { .. })
    }

    /// The validation problems, when this is [`Error::Invalid`].
    pub fn validation(&self) -> Option<&ValidationErrors> {
        match self {
            Error::Invalid(errors) => Some(errors),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        let sqlx::Error::Database(db) = &err else {
            return Error::Database(err);
        };
        let constraint = || db.constraint().unwrap_or("unknown").to_owned();
        match db.code().as_deref() {
            Some("23505") => Error::Conflict {
                constraint: constraint(),
            },
            Some("23503") => Error::InvalidReference {
                constraint: constraint(),
            },
            Some("23514") => Error::Invalid(ValidationErrors::single(
                constraint(),
                "violates a check constraint",
            )),
            // 42501 is insufficient_privilege; row-level security refusing a write ("new row violates
            // row-level security policy") is reported with this code too.
            Some("42501") => Error::Forbidden {
                reason: db.message().to_owned(),
            },
            Some("40001") => Error::Retryable { sqlstate: "40001" },
            Some("40P01") => Error::Retryable { sqlstate: "40P01" },
            _ => Error::Database(err),
        }
    }
}

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `colors.primary` or `fields[2].name`.
    pub field: String,
    /// Why it was refused, e.g. `not a hex colour`.
    pub reason: Cow<'static, str>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every problem found in one input, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// An empty report, to push problems into.
    pub fn new() -> Self {
        Self::default()
    }

    /// A report of exactly one problem.
    pub fn single(field: impl Into<String>, reason: impl Into<Cow<'static, str>>) -> Self {
        let mut errors = Self::new();
        errors.push(field, reason);
        errors
    }

    /// Records a problem with `field`.
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<Cow<'static, str>>) {
        self.errors.push(FieldError {
            field: field.into(),
            reason: reason.into(),
        });
    }

    /// Parses `value` with `parse`, recording its problem under `field` on failure.
    ///
    /// Builders call this for each field, so one pass collects every problem.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: &str,
        value: std::result::Result<T, E>,
    ) -> Option<T> {
        match value {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(field, e.to_string());
                None
            }
        }
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The problems, in the order they were found.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The problem recorded for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.field == field)
    }

    /// `Ok(())` when empty, otherwise this report as an error.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}
