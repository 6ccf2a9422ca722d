//! Content: the items brands create, review and publish (spec 2.3).
//!
//! Laid out as every domain module is: [`model`](self#model) (what an item is: [`Content`],
//! [`ContentStatus`], [`SeoMetadata`], [`SearchHit`]), input (what a caller hands in: [`ContentInput`],
//! [`NewContent`] and [`ContentPatch`] with their builders, [`ContentFilter`]), and the repository
//! ([`ContentRepo`]).
//!
//! A content row is the item's head: its latest draft (the working copy) and `version`, the token every
//! write names. Beside it: the immutable version log ([`ContentVersion`], [`ContentRepo::history`],
//! [`ContentRepo::get_version`], [`ContentRepo::diff`], [`ContentRepo::restore_version`]), the live
//! item readers get ([`LiveContent`], [`ContentRepo::get_live`], [`ContentRepo::list_live`]), the
//! lifecycle steps with their approvals ([`Approval`], [`TRANSITIONS`]), and the publishing job
//! ([`publish_due`]).
//!
//! # Versions
//! Every save (a write that changes title, body, excerpt, fields, metadata, tags, categories or the
//! template) appends one immutable [`ContentVersion`] in the same transaction, written by a trigger
//! whatever path the write came through (this crate, or raw SQL by any role): the content, the
//! template and that template's version at the save, the author, the time, the save's note and the
//! content's SHA-256 ([`ContentHash`]). Versions are keyed `(content_id, version)`, `version` being the
//! item's token right after the save; transitions move the token without saving content, so the
//! history's numbers have gaps there (the keys #15's compliance checks and #13's reviews pin stay
//! these). The head points at its versions (`latest_version`, `live_version`, `approved_version`,
//! `scheduled_version`): reading the live item or the latest draft is one primary-key look-up, a save
//! writes one new row and nothing on older ones, so its cost is flat in the number of versions. The
//! application role reads versions and can neither change nor delete one (no grant; a trigger refuses
//! it for every role, except the cascade of the item's own hard delete).
//!
//! A diff ([`ContentDiff`]) compares two versions as documents, so it needs no template and keeps
//! working across a template change; restoring a version is a new save of its content: history is
//! never rewritten.
//!
//! # Drafts of published items
//! `status` is the head's: editing a `published` item makes the head a `draft` again while
//! `live_version` keeps serving ([`ContentRepo::get_live`]); the draft goes through review and
//! [`ContentRepo::publish`] switches the live pointer in one statement; [`ContentRepo::discard_draft`]
//! puts the live content back on the head and leaves the live version untouched. Readers choose:
//! [`ContentRepo::get`] is the latest draft, [`ContentRepo::get_live`] the live version. The slug is
//! the item's address, not versioned: one for draft and live.
//!
//! # Lifecycle
//! The database enforces the machine (migration 0014): one table, `mixerai.content_transitions` (here
//! [`TRANSITIONS`]), says which status may follow which, by which action, and who may take it; a
//! trigger refuses every other change of status, from any role, as
//! [`Error::IllegalTransition`](crate::Error::IllegalTransition) naming from and to, and sets every
//! pointer and `published_at` / `published_by` itself (written by hand, they are refused). A
//! statement takes one step: a save, a status change, or a publication request. Every step names the
//! version it was based on ([`Error::Stale`](crate::Error::Stale) otherwise) and leaves an audit event
//! in the same transaction (the content audit trigger).
//!
//! | from | action (method) | to | who |
//! |---|---|---|---|
//! | `draft` | submit ([`ContentRepo::submit`]) | `pending_review` | editor |
//! | `pending_review` | withdraw | `draft` | editor |
//! | `pending_review` | start_review | `in_review` | admin |
//! | `in_review` | approve | `approved` | admin |
//! | `in_review` | reject | `rejected` | admin |
//! | `rejected` | revise | `draft` | editor |
//! | `approved` | revoke ([`ContentRepo::revoke_approval`]) | `pending_review` | admin |
//! | `approved` | schedule | `scheduled` | editor |
//! | `approved` | publish | `published` | editor |
//! | `scheduled` | unschedule | `approved` | editor |
//! | `scheduled` | publish (now, or the job when due) | `published` | editor, job |
//! | `published` | archive ([`ContentRepo::unpublish`], or the job when expired) | `archived` | admin, job |
//! | `archived` | reopen | `draft` | editor |
//! | `published`, `archived`, `rejected` | edit (a save) | `draft` | editor |
//! | `approved`, `scheduled` | edit (a save) | `pending_review` | editor |
//! | any but `published`, `archived`, with a live version | discard ([`ContentRepo::discard_draft`]) | `published` | editor |
//!
//! "Editor" means editors and admins. Saves of `draft`, `pending_review` and `in_review` items leave
//! the status as it is (approving names the version read, so an edit in between is `Stale`).
//!
//! Decisions the issue left open:
//! - **Re-editing a published item** creates a draft of it (above); **unpublishing**
//!   ([`ContentRepo::unpublish`], admins) takes the live version down: a published head becomes
//!   `archived`, a draft ahead of it stays a draft. `published_at` / `published_by` record the
//!   first publication and survive republishing (the order of [`ContentRepo::list_live`]).
//! - **Approval pinned to a version.** Approving records an [`Approval`] of the head's latest version
//!   and its content hash. A save after approval voids it and sends the item back to review; revoking
//!   voids it too. Publishing publishes the approved version, scheduling pins it, and the database
//!   checks at publication that the version's hash is the approval's.
//! - **A save after scheduling** sends the head back to review like any save after approval, but the
//!   schedule keeps its pinned, approved version: at its time that version goes live, never the later
//!   edit (the edit waits for its own review). [`ContentRepo::reschedule`] moves or cancels such a
//!   schedule; publishing a newer approved version supersedes it.
//! - **Expiry** takes the live version down and clears `expires_at` (a republished item needs a new
//!   one).
//! - **The compliance gate** (issue #15) is part of the machine: for a brand whose
//!   [`ComplianceSettings`](crate::claims::ComplianceSettings) gate approval, approving a version is
//!   refused unless the gate clears that version in every target market as of now; gating publishing,
//!   so are scheduling or moving a schedule (the pinned version, as of the scheduled time) and every
//!   publication (the version going live, as of now: [`ContentRepo::publish`] and the job firing a
//!   schedule). The refusal is [`Error::ComplianceBlocked`](crate::Error::ComplianceBlocked), naming the
//!   stage and the blocking markets; nothing is written. Enforced by the database (migration 0020), so
//!   raw SQL is gated too; the decisions (which version, time and markets) are in
//!   [the claims module](crate::claims#the-gate).
//!
//! # Scheduling
//! [`publish_due`] (a system scope per batch, [`PublishingJob`] for one batch) publishes what is due
//! and takes down what expired, from several workers at once (`FOR UPDATE SKIP LOCKED`), each item
//! exactly once, catching up missed runs; a refused step (a tampered approval, a publication the
//! compliance gate blocks) is recorded in `mixerai.content_publish_failures` and given up after
//! [`MAX_PUBLISH_ATTEMPTS`], while the other items go on; it returns a [`PublishReport`] and reports
//! progress after every batch.
//!
//! # Decisions
//! - **Optimistic concurrency.** Every write ([`ContentRepo::update`], [`ContentRepo::soft_delete`],
//!   [`ContentRepo::restore`], every lifecycle step) takes the `version` the caller read. If the row was saved since,
//!   nothing is written and the error is [`Error::Stale`](crate::Error::Stale) with the version it is
//!   at; the database adds one to `version` on every write, whoever makes it.
//! - **Soft delete.** [`ContentRepo::soft_delete`] sets `deleted_at`; the slug is then free for a new
//!   item (erratum W8). [`ContentRepo::restore`] brings an item back, unless its slug was taken
//!   meanwhile ([`Error::Conflict`](crate::Error::Conflict) on `content_brand_slug_key`).
//!   [`ContentRepo::get`], slugs, lists and search see live items only;
//!   [`ContentRepo::get_including_deleted`] and [`ContentFilter::deleted`] find deleted ones.
//! - **Tags and categories** are trimmed, non-blank, at most [`MAX_LABEL_CHARS`] characters each and
//!   [`MAX_LABELS`] per item, duplicates dropped (first spelling kept). Tags are also lowercased, so
//!   `Recipes` and `recipes` are one tag and a tag filter matches either spelling; categories keep their
//!   case, since they are shown as names.
//! - **SEO metadata** ([`SeoMetadata`], stored in `content.metadata` with the spec's camelCase keys): the
//!   spec gives no lengths, so the limits are what search engines display: a meta title of at most
//!   [`SeoMetadata::MAX_TITLE_CHARS`] (60) characters, a description of at most
//!   [`SeoMetadata::MAX_DESCRIPTION_CHARS`] (160), at most 20 keywords of 100 characters; `og_image` and
//!   `canonical_url` are absolute http(s) URLs.
//! - **Search** ([`ContentRepo::search`]) reads `websearch_to_tsquery('english', …)` (quotes for phrases,
//!   `or`, `-word`) and returns the best [`MAX_PAGE_LIMIT`](crate::page::MAX_PAGE_LIMIT) matches at
//!   most, ranked by `ts_rank` then id: a capped top list, not a paginated one (a ranking shifts as
//!   items are edited, so a cursor into it would not be stable). It keeps the GIN index under
//!   row-level security through `mixerai.content_search_ids()` (migration 0008 says how), and reads
//!   the rows from `content` under every policy.

mod diff;
mod input;
mod lifecycle;
mod model;
mod publishing;
mod repo;
mod versions;

pub use diff::{Change, ChangeKind, ContentDiff, Diffed, diff};
pub use lifecycle::{Approval, TRANSITIONS, Transition};
pub use publishing::{
    JobAction, JobFailure, JobItem, MAX_PUBLISH_ATTEMPTS, PublishReport, PublishingJob, publish_due,
};
pub use versions::{ContentHash, ContentVersion, LiveContent};

pub use input::{
    ContentFilter, ContentInput, ContentPatch, ContentPatchBuilder, Fields, MAX_LABEL_CHARS,
    MAX_LABELS, NewContent, NewContentBuilder,
};
pub use model::{Content, ContentStatus, SearchHit, SeoMetadata};
pub use repo::{ContentRepo, MAX_QUERY_CHARS};
