//! # mixerai-data
//!
//! The embeddable PostgreSQL data layer of MixerAI 2.0: typed models, validated builders and
//! repositories over a schema whose tenant isolation PostgreSQL itself enforces.
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`db`] | [`Database`]: the pool (and an optional tenant login), the embedded migrations ([`db::MIGRATOR`]), the doors into scopes, [`Database::run_in_scope`] with its [`RetryPolicy`] |
//! | [`scope`] | [`Scope`] (one user inside one brand, under row-level security; its docs hold the threat model), [`SystemScope`], [`Isolation`], idempotency keys ([`Scope::claim_once`]) |
//! | [`error`] | [`Error`], one enum with SQLSTATEs and constraints mapped to meaning (what a caller does about each), and [`ValidationErrors`] |
//! | [`types`] | value types parsed once at the edge ([`types::Email`], [`types::Slug`], ISO codes, ...) and typed ids |
//! | [`users`] | users: the account and the public profile members see of each other, builder, versioned profile patch, soft delete; passwords, sign-in with lockout, MFA secret and backup codes (system scope only, feature `crypto`) |
//! | [`brands`] | brands (identity, voice, guardrails, hierarchy, master claim brands), memberships with temporary access and access tracking, vetting agencies |
//! | [`content`] | content items: versioned updates, soft delete, filtered pages, full-text search, bulk insert, creation from a template; the version log (history, diff, restore), drafts of published items, the publishing lifecycle, approvals pinned to a version, scheduled publishing |
//! | [`templates`] | content templates: typed field definitions and [`templates::Template::validate`] over a content item's fields |
//! | [`workflows`] | review and approval workflow definitions; one default per brand and content type |
//! | [`reviews`] | review runs of those workflows: submission, steps with resolved assignees, decisions (any, all, N of M), re-approval after an edit, deadlines and escalation, the notification outbox, my pending decisions |
//! | [`claims`] | claims a brand may, may not or must make, by market and date: resolution by precedence, compliance checks of content, the approval and publishing gate |
//! | [`ai`] | the AI generation log (create, then complete or fail once, by version) and monthly usage per brand |
//! | [`events`] | the audit trail and event store: appends with expected versions, idempotent by event id; stream and feed reads in a gap-free global order; the realtime change feed ([`events::ChangeFeed`], a `Stream` per subscription) and checkpointed projections |
//! | [`page`] | keyset pagination shared by every list: [`PageRequest`], [`Page`], [`Cursor`] |
//! | [`crypto`] | (feature `crypto`, on by default) keyring, authenticated envelope bound to its row, Argon2id passwords, backup codes, the key-rotation job ([`crypto::rotation`]) |
//! | `test_support` | (feature `test-support`) a throwaway PostgreSQL and a fresh database per test |
//!
//! Every domain module is laid out the same way (`model`, `input`, `repo`): one raw input shared by
//! its create and patch builders, static SQL beside the Rust that runs it, the same verbs and errors;
//! `docs/architecture.md` in the repository describes it, and how to add a column.
//!
//! The schema lives in `migrations/`, one plain-SQL file per step in dependency order, each saying what
//! it adds, why, and which erratum of the specification it fixes. Every object is in the schema
//! `mixerai` and its history in `mixerai._migrations`, so the crate shares a database with its host.
//! [`sqlx`] is re-exported for the types the API names.
//!
//! ## How data is reached
//!
//! Every read and write runs in a scope. A [`Scope`] is one transaction acting as one user inside one
//! brand: it switches to the `mixerai_app` role and opens a sealed context transaction-locally in the
//! same round trip as `BEGIN`, and PostgreSQL's policies decide what that user may see and change.
//! [`Database::read_scope`] opens a read-only one that ends off the caller's path. Set-up and
//! maintenance (creating users and brands, granting the first roles) run in a [`SystemScope`].
//!
//! ```
//! use mixerai_data::brands::{BrandRole, ColorsInput, NewBrand, NewMembership};
//! use mixerai_data::content::NewContent;
//! use mixerai_data::users::NewUser;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> mixerai_data::Result<()> {
//! # let test_db = mixerai_data::test_support::TestServer::global().await?.database().await?;
//! # let db = test_db.database();
//! // `db` is a `mixerai_data::Database`, e.g. `Database::connect(url).await?` then `db.migrate().await?`.
//! let mut system = db.system_scope().await?;
//! let ada = system.users().create(&NewUser::builder()
//!     .email("Ada@Example.com").first_name("Ada").last_name("Lovelace").build()?).await?;
//! let brand = system.brands().create(&NewBrand::builder()
//!     .name("Analytical Engines").country("gb").language("en").build()?, ada.id).await?;
//! system.brands().grant(brand.id, ada.id, &NewMembership::builder().role(BrandRole::Editor).build()?).await?;
//! system.commit().await?;
//!
//! let mut scope = db.scope(ada.id, brand.id).await?;
//! let note = scope.content().create(&NewContent::builder()
//!     .content_type("article").title("Notes on the Engine").build()?).await?;
//! scope.commit().await?;
//!
//! assert_eq!(ada.email.as_str(), "ada@example.com");
//! assert_eq!(brand.country.as_str(), "GB");
//! assert_eq!(note.slug.as_str(), "notes-on-the-engine");
//!
//! // Bad input is refused before any round trip, every problem at once.
//! let err = NewBrand::builder().name("").country("XX").language("en").colors(ColorsInput::new("red")).build().unwrap_err();
//! assert_eq!(err.errors().len(), 3, "{err}");
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The sqlx this crate is built on, for the types its API names ([`sqlx::PgPool`],
/// [`sqlx::PgConnection`], [`sqlx::Error`], [`sqlx::postgres::PgConnectOptions`]), so a host needs no
/// sqlx of its own to name them, nor one whose version and features must match.
pub use sqlx;

pub mod ai;
pub mod brands;
pub mod claims;
pub mod content;
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
mod input;
pub mod page;
mod repo;
pub mod reviews;
pub mod scope;
pub mod templates;
#[cfg(feature = "test-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-support")))]
pub mod test_support;
mod text_enum;
pub mod types;
pub mod users;
pub mod workflows;

#[cfg(feature = "crypto")]
pub use crypto::{Binding, CryptoError, Key, KeyId, KeyState, Keyring};
pub use db::{Database, RetryPolicy, ScopeFuture};
pub use error::{Error, FieldError, Result, ValidationErrors};
pub use page::{Cursor, Deleted, Page, PageRequest};
pub use scope::{Isolation, Scope, SystemScope};
pub use types::{
    AiGenerationId, AssignmentId, BrandId, ClaimId, ComplianceCheckId, ContentId, CountryCode,
    CurrencyCode, Email, EventId, HexColor, InvalidValue, LanguageCode, NotificationId,
    ReviewDecisionId, ReviewStepId, Slug, TemplateId, Timezone, UserBrandRoleId, UserId,
    VettingAgencyId, WorkflowId, WorkflowInstanceId,
};

/// The README's examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
