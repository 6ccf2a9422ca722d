//! The crate's one error type, and the validation report builders return.
//!
//! Database errors are mapped once, here, by SQLSTATE and constraint name, so a caller matches on
//! [`Error`] variants and never parses a message string. Every mapped variant keeps the database error
//! it came from as its [`source`](std::error::Error::source); no variant prints its source in its own
//! message, so an error chain prints each cause once.
//!
//! # Which refusal is which
//! | variant | what happened | what a caller does |
//! |---|---|---|
//! | [`Error::Invalid`] | input refused, by a builder or by a CHECK / NOT NULL constraint, every problem with its field | fix the input |
//! | [`Error::Conflict`] | a unique key is taken (a slug, an address, the one default workflow) | choose another value |
//! | [`Error::Stale`] | the row changed since the caller read it (its `version` moved on) | re-read, then decide |
//! | [`Error::IllegalTransition`] | a content item cannot go from its status to the one asked for | take a step the [transition table](crate::content#lifecycle) allows |
//! | [`Error::ComplianceBlocked`] | the brand gates approval or publishing, and the version's compliance checks do not clear it in the markets named | re-check the version ([`ClaimRepo::check`](crate::claims::ClaimRepo::check)) in those markets, fix the findings and save and re-check, or have an admin change the compliance settings; [`ClaimRepo::gate`](crate::claims::ClaimRepo::gate) says why, market by market |
//! | [`Error::InvalidReference`] | a referenced row does not exist, or is not the scope's to reference | fix the reference |
//! | [`Error::NotFound`] | no such row, or not visible in this scope | nothing to act on |
//! | [`Error::Forbidden`] | the acting user may not do this | ask someone who may |
//! | [`Error::Misconfigured`] | the deployment is wrong (the connecting role, missing grants) | fix the set-up |
//! | [`Error::Retryable`] | a race lost to another transaction, rolled back | run the whole scope again |
//! | [`Error::Unavailable`] | the database could not be reached, or the connection broke before the outcome was decided: nothing was committed | run the whole scope again, after a pause |
//! | [`Error::CommitUnknown`] | the connection broke while `COMMIT` was in flight: the scope may or may not have been applied | do not retry blindly: check (an idempotency key, see [`Scope::claim_once`](crate::Scope::claim_once)) |
//!
//! [`Error::is_retryable`] is true exactly for the two that are safe to run again as they are,
//! `Retryable` and `Unavailable`; [`Database::run_in_scope`](crate::Database::run_in_scope) retries
//! those and nothing else.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was refused before or by the database: every problem found, each with its field path
    /// and reason. A CHECK or NOT NULL constraint that fires is reported here too, under the field it
    /// guards. Nothing was written.
    #[error("invalid input: {0}")]
    Invalid(ValidationErrors),

    /// A unique key is already taken (SQLSTATE 23505). Nothing was written.
    #[error("conflict: {} is already taken", field.as_deref().unwrap_or(constraint))]
    Conflict {
        /// The unique constraint or index, e.g. `content_brand_slug_key`.
        constraint: String,
        /// The input field it guards, e.g. `slug`, when the crate knows it.
        field: Option<String>,
        /// The database's error.
        #[source]
        source: Option<sqlx::Error>,
    },

    /// The row changed since the caller read it: the write named `expected` as the version it was
    /// based on, and the row is at `actual` now. Nothing was written. Re-read the row, then decide
    /// whether to apply the change again.
    #[error("{entity} changed since it was read (expected version {expected}, now {actual})")]
    Stale {
        /// What was written, e.g. `"content"`.
        entity: &'static str,
        /// The version the write was based on.
        expected: i32,
        /// The version the row is at.
        actual: i32,
    },

    /// A content item cannot move from status `from` to `to`: no step of the
    /// [transition table](crate::content#lifecycle) leads there (the database refused it, whoever
    /// asked). Nothing was written. Take a step the table allows from `from`.
    #[error("content cannot go from {} to {}", from.as_str(), to.as_str())]
    IllegalTransition {
        /// The status the item is in.
        from: crate::content::ContentStatus,
        /// The status asked for.
        to: crate::content::ContentStatus,
    },

    /// The compliance gate refused the step: the brand gates `stage`, and in `markets` (of its target
    /// markets, in code order) the content version's last compliance check is missing, was made under
    /// rules that changed since, or has blocking findings (see [the gate](crate::claims#the-gate)).
    /// The database refused it, whoever asked (migration 0020, `content_compliance_gate`): approving,
    /// scheduling (or moving a schedule), publishing, or the publishing job firing a schedule. Nothing
    /// was written. [`ClaimRepo::gate`](crate::claims::ClaimRepo::gate) says why per market; re-check
    /// the version there ([`ClaimRepo::check`](crate::claims::ClaimRepo::check)), fix the text if the
    /// check has blocking findings, or change the brand's compliance settings.
    #[error("the compliance gate blocks {} in {}", stage.as_str(), CountryList(markets))]
    ComplianceBlocked {
        /// The stage refused: approval, or publishing (scheduling included).
        stage: crate::claims::GateStage,
        /// The target markets that block it, in code order.
        markets: Vec<crate::types::CountryCode>,
    },

    /// A referenced row does not exist, or is not one the scope may reference (SQLSTATE 23503): a
    /// brand id that names no brand, another brand's template. Nothing was written.
    #[error("invalid reference: {} names no row this may reference", field.as_deref().unwrap_or(constraint))]
    InvalidReference {
        /// The foreign key (or the check standing in for one) that refused the write.
        constraint: String,
        /// The input field holding the reference, e.g. `template_id`, when the crate knows it.
        field: Option<String>,
        /// The database's error.
        #[source]
        source: Option<sqlx::Error>,
    },

    /// The row does not exist, or is not visible in the current scope. Row-level security makes
    /// "not yours" and "not there" indistinguishable on purpose.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `"content"`.
        entity: &'static str,
    },

    /// The acting user may not do this: their role in the scope's brand does not allow it, or the
    /// row is outside what they may write. Nothing was written.
    #[error("forbidden: {reason}")]
    Forbidden {
        /// What was refused, in the crate's words, without any row data.
        reason: Cow<'static, str>,
        /// The database's error, when the database refused it.
        #[source]
        source: Option<sqlx::Error>,
    },

    /// The deployment is set up wrong: the role the pool connects as cannot do what the crate needs
    /// (see [`Database`](crate::Database)). Not about any user; nothing was applied.
    #[error("misconfigured: {reason}")]
    Misconfigured {
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The transaction lost a race (serialization failure 40001, deadlock 40P01) or waited too long
    /// for a lock (55P03, the scope's `lock_timeout`), and was rolled back. Running the same work again
    /// in a new transaction is expected to succeed.
    #[error("transaction must be retried ({sqlstate})")]
    Retryable {
        /// `40001`, `40P01` or `55P03`.
        sqlstate: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },

    /// The database could not be reached, or the connection broke (terminated by an administrator, the
    /// server restarting, the network) before the scope's outcome was decided. Nothing was committed:
    /// running the same work again in a new scope is safe, after a pause.
    #[error("database unavailable: the connection failed before anything was committed")]
    Unavailable {
        /// The driver's or the server's error.
        #[source]
        source: sqlx::Error,
    },

    /// The connection broke while `COMMIT` was in flight: the server may have committed the scope or
    /// not, and this side cannot tell. Running it again could apply it twice; first find out whether
    /// it was applied (a write guarded by [`Scope::claim_once`](crate::Scope::claim_once) tells).
    #[error("the outcome of the commit is unknown: the connection failed while it was in flight")]
    CommitUnknown {
        /// The driver's or the server's error.
        #[source]
        source: sqlx::Error,
    },

    /// The user has no second factor to read: MFA is not enabled.
    #[cfg(feature = "crypto")]
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
    #[error("cannot migrate")]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// Encrypting or decrypting a secret, loading keys, or hashing a password failed. Never carries
    /// plaintext or key material; see [`CryptoError`](crate::crypto::CryptoError).
    #[cfg(feature = "crypto")]
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),

    /// Any other database or connection error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether running the same work again in a fresh scope is safe and may succeed: a lost race
    /// ([`Error::Retryable`]) or a connection that failed before anything was committed
    /// ([`Error::Unavailable`]). Never an unknown commit outcome, a stale write (re-read first) or a
    /// refusal.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retryable { .. } | Error::Unavailable { .. })
    }

    /// The error of a failed `COMMIT`: a connection that broke while it was in flight leaves the
    /// outcome unknown; any other error is the server's answer (the scope was rolled back).
    pub(crate) fn at_commit(err: sqlx::Error) -> Self {
        match Error::from(err) {
            Error::Unavailable { source } => Error::CommitUnknown { source },
            other => other,
        }
    }

    /// The validation problems, when this is [`Error::Invalid`].
    pub fn validation(&self) -> Option<&ValidationErrors> {
        match self {
            Error::Invalid(errors) => Some(errors),
            _ => None,
        }
    }

    /// A refusal of the acting user, in the crate's words.
    pub(crate) fn forbidden(reason: impl Into<Cow<'static, str>>) -> Self {
        Error::Forbidden {
            reason: reason.into(),
            source: None,
        }
    }
}

impl From<ValidationErrors> for Error {
    fn from(errors: ValidationErrors) -> Self {
        Error::Invalid(errors)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(err)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if connection_failed(&err) {
            return Error::Unavailable { source: err };
        }
        let sqlx::Error::Database(db) = &err else {
            return Error::Database(err);
        };
        let code = db.code().map(|c| c.into_owned());
        let table = db.table().map(str::to_owned);
        let constraint = db.constraint().unwrap_or("unknown").to_owned();
        match code.as_deref() {
            Some("23505") => Error::Conflict {
                field: constraint_field(table.as_deref(), &constraint, "_key"),
                constraint,
                source: Some(err),
            },
            Some("23503") => Error::InvalidReference {
                field: constraint_field(table.as_deref(), &constraint, "_fkey"),
                constraint,
                source: Some(err),
            },
            Some("23514") if constraint == "content_status_transition" => {
                // The lifecycle trigger (migration 0014) names the step in its detail: `from>to`.
                let detail = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|e| e.detail())
                    .and_then(|d| d.split_once('>'))
                    .and_then(|(from, to)| Some((from.parse().ok()?, to.parse().ok()?)));
                match detail {
                    Some((from, to)) => Error::IllegalTransition { from, to },
                    None => Error::Database(err),
                }
            }
            Some("23514") if constraint == "content_compliance_gate" => {
                // The gate trigger (migration 0020) names the stage and the blocking markets in its
                // detail: `stage>GB,FR`.
                let detail = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|e| e.detail())
                    .and_then(parse_gate_detail);
                match detail {
                    Some((stage, markets)) => Error::ComplianceBlocked { stage, markets },
                    None => Error::Database(err),
                }
            }
            Some("23514") => {
                let field = constraint_field(table.as_deref(), &constraint, "_check")
                    .unwrap_or_else(|| constraint.clone());
                Error::Invalid(ValidationErrors::single(field, check_reason(&constraint)))
            }
            Some("23502") => {
                let field = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|e| e.column())
                    .unwrap_or("unknown")
                    .to_owned();
                Error::Invalid(ValidationErrors::single(field, "is required"))
            }
            // 42501 is insufficient_privilege: a privilege the role lacks, a write row-level security
            // refused ("new row violates row-level security policy"), or a rule of the crate's own
            // triggers. The crate's words, not PostgreSQL's.
            Some("42501") => {
                let reason = if db.message().contains("row-level security") {
                    "the row is outside what the acting user may write in this brand"
                } else {
                    "the acting user's role does not allow this"
                };
                Error::Forbidden {
                    reason: Cow::Borrowed(reason),
                    source: Some(err),
                }
            }
            Some("40001") => Error::Retryable {
                sqlstate: "40001",
                source: err,
            },
            Some("40P01") => Error::Retryable {
                sqlstate: "40P01",
                source: err,
            },
            // read_only_sql_transaction: a write inside a read-only scope (Database::read_scope).
            Some("25006") => Error::Forbidden {
                reason: Cow::Borrowed("a read-only scope cannot write"),
                source: Some(err),
            },
            // lock_not_available: a lock wait ran out (the scope's lock_timeout).
            Some("55P03") => Error::Retryable {
                sqlstate: "55P03",
                source: err,
            },
            _ => Error::Database(err),
        }
    }
}

/// Whether `err` says the connection failed (or could not be had) rather than that the server refused
/// a statement: I/O and TLS errors, a pool that timed out, and the server's own shutdown and connection
/// classes (57P01 administrator shutdown or terminated backend, 57P02 crash shutdown, 57P03 cannot
/// connect now, class 08 connection exceptions).
pub(crate) fn connection_failed(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            matches!(c.as_ref(), "57P01" | "57P02" | "57P03") || c.starts_with("08")
        }),
        _ => false,
    }
}

/// The detail of a `content_compliance_gate` refusal, `stage>GB,FR`: the stage and the markets.
fn parse_gate_detail(
    detail: &str,
) -> Option<(crate::claims::GateStage, Vec<crate::types::CountryCode>)> {
    let (stage, markets) = detail.split_once('>')?;
    let markets = markets
        .split(',')
        .map(|m| crate::types::CountryCode::parse(m).ok())
        .collect::<Option<Vec<_>>>()?;
    Some((stage.parse().ok()?, markets))
}

/// Markets as an error message lists them: `FR, GB`.
struct CountryList<'a>(&'a [crate::types::CountryCode]);

impl fmt::Display for CountryList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(c.as_str())?;
        }
        Ok(())
    }
}

/// Constraints whose name does not say the field they guard, with that field. Every other
/// constraint is named as PostgreSQL names them, `<table>_<field>_check` / `_fkey` / `_key`, and its
/// field is read off the name.
const CONSTRAINT_FIELDS: &[(&str, &str)] = &[
    ("users_email_format", "email"),
    ("users_email_normalized_key", "email"),
    ("users_language_format", "language"),
    ("users_mfa_secret_when_enabled", "mfa_secret"),
    ("brands_slug_format", "slug"),
    ("brands_country_format", "country"),
    ("brands_language_format", "language"),
    ("brands_currency_format", "currency"),
    ("brands_not_own_parent", "parent_brand_id"),
    ("brands_no_cycle", "parent_brand_id"),
    ("user_brand_roles_user_brand_key", "user_id"),
    ("brand_vetting_agencies_name_key", "agency_name"),
    (
        "content_templates_validation_rules_array",
        "validation_rules",
    ),
    ("workflows_default_has_types", "content_types"),
    ("workflows_one_default_per_brand_type", "is_default"),
    ("content_title_not_empty", "title"),
    ("content_slug_format", "slug"),
    ("content_brand_slug_key", "slug"),
    ("content_published_has_time", "published_at"),
    ("content_scheduled_has_time", "scheduled_for"),
    ("content_schedule_is_pinned", "scheduled_for"),
    ("content_created_as_draft", "status"),
    ("content_one_lifecycle_step", "status"),
    ("content_published_is_live", "status"),
    ("content_approved_is_pinned", "status"),
    ("content_publish_approved", "approved_version"),
    ("content_live_has_time", "published_at"),
    ("content_versions_in_order", "version"),
    ("workflow_instances_content_fkey", "content_id"),
    ("workflow_instances_one_active", "content_id"),
    ("workflow_instances_completed_when_done", "completed_at"),
    ("workflow_instances_workflow_required", "workflow_id"),
    ("workflow_instances_needs_reviewers", "steps"),
    ("workflow_instances_assignees_resolve", "steps"),
    (
        "workflow_instances_content_version_current",
        "content_version",
    ),
    ("workflow_decisions_once_per_user", "decided_by"),
    ("workflow_decisions_comment_required", "comment"),
    ("workflow_decisions_skip_allowed", "decision"),
    ("workflow_decisions_action_offered", "decision"),
    ("claims_text_has_original", "text"),
    ("claims_countries_format", "countries"),
    ("claims_effective_range", "effective_to"),
    ("compliance_checks_version_current", "version"),
    ("compliance_settings_markets_format", "markets"),
    ("ai_generations_content_fkey", "content_id"),
    ("ai_generations_outcome", "status"),
    ("events_pkey", "id"),
    ("events_aggregate_id_fkey", "aggregate_id"),
    ("events_stream_type", "aggregate_type"),
    ("events_category_check", "category"),
];

/// The input field a constraint guards: from [`CONSTRAINT_FIELDS`], else read off a name of the form
/// `<table>_<field><suffix>`.
fn constraint_field(table: Option<&str>, constraint: &str, suffix: &str) -> Option<String> {
    if let Some((_, field)) = CONSTRAINT_FIELDS.iter().find(|(c, _)| *c == constraint) {
        return Some((*field).to_owned());
    }
    let rest = constraint.strip_prefix(table?)?.strip_prefix('_')?;
    let field = rest.strip_suffix(suffix)?;
    (!field.is_empty()).then(|| field.to_owned())
}

/// The reason a CHECK violation is reported with.
fn check_reason(constraint: &str) -> &'static str {
    if constraint.ends_with("_format") {
        "is not in the expected format"
    } else if constraint.ends_with("_not_empty") {
        "must not be blank"
    } else {
        "is not an allowed value"
    }
}

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
///
/// Serialises as a JSON array of `{"field": …, "reason": …}`, ready to be a response body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_fields_come_from_the_table_or_the_name() {
        assert_eq!(
            constraint_field(Some("content"), "content_brand_slug_key", "_key").as_deref(),
            Some("slug")
        );
        assert_eq!(
            constraint_field(Some("content"), "content_template_id_fkey", "_fkey").as_deref(),
            Some("template_id")
        );
        assert_eq!(
            constraint_field(Some("claims"), "claims_status_check", "_check").as_deref(),
            Some("status")
        );
        assert_eq!(
            constraint_field(Some("claims"), "other_thing", "_check"),
            None
        );
        assert_eq!(constraint_field(None, "x_y_check", "_check"), None);
    }

    #[test]
    fn messages_never_repeat_their_source() {
        let err = Error::Database(sqlx::Error::PoolTimedOut);
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(!err.to_string().contains(&source), "{err}");
        let err = Error::Stale {
            entity: "content",
            expected: 3,
            actual: 5,
        };
        assert_eq!(
            err.to_string(),
            "content changed since it was read (expected version 3, now 5)"
        );
    }

    #[test]
    fn a_gate_refusal_names_its_stage_and_markets() {
        use crate::claims::GateStage;
        use crate::types::CountryCode;
        let (stage, markets) = parse_gate_detail("publishing>FR,GB").unwrap();
        assert_eq!(stage, GateStage::Publishing);
        assert_eq!(
            markets,
            [
                CountryCode::parse("FR").unwrap(),
                CountryCode::parse("GB").unwrap()
            ]
        );
        assert_eq!(
            Error::ComplianceBlocked { stage, markets }.to_string(),
            "the compliance gate blocks publishing in FR, GB"
        );
        assert!(parse_gate_detail("approval>").is_none());
        assert!(parse_gate_detail("review>GB").is_none());
        assert!(parse_gate_detail("approval").is_none());
    }

    #[test]
    fn validation_errors_serialise_as_a_list_of_field_and_reason() {
        let mut errors = ValidationErrors::single("title", "must not be blank");
        errors.push("tags[1]", "at most 100 characters");
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            serde_json::json!([
                {"field": "title", "reason": "must not be blank"},
                {"field": "tags[1]", "reason": "at most 100 characters"},
            ])
        );
    }
}
