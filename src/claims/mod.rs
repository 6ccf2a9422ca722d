//! Claims: what a brand may, may not and must say, by market and date (spec 2.5 / 3.5).
//!
//! Laid out as every domain module is: the model (what a claim is: [`Claim`], [`ClaimText`],
//! [`ClaimReplacement`] and the enums), input (what a caller hands in: [`ClaimInput`], [`NewClaim`]
//! and [`ClaimPatch`] with their builders, [`ClaimFilter`]), and the repository ([`ClaimRepo`]). Three
//! parts of their own, each laid out the same way inside: **resolution** (`resolve.rs`:
//! [`ResolutionRequest`], [`ResolvedClaim`], [`ClaimRepo::resolve`]), **compliance checks**
//! (`check.rs`: [`ClaimChecker`], [`CheckedText`], [`Finding`], [`ComplianceCheck`],
//! [`ClaimRepo::check`], [`ClaimRepo::stale_checks`]) and the **gate** (`gate.rs`:
//! [`ComplianceSettings`], [`GateRequest`], [`GateDecision`], [`ClaimRepo::gate`]). How a text and a
//! wording are compared lives in `matching.rs`.
//!
//! A claim is a rule content is checked against, so only a brand's admins write claims (migration
//! 0010); its viewers and editors read them.
//!
//! # Where a claim applies
//! - **Countries**: an empty list means every country (spec: "empty = all"). So a
//!   [`ClaimFilter::country`] filter for `FR` returns the claims listing `FR` *and* the claims
//!   listing no country: both apply in France.
//! - **Dates**: a claim is in effect at `t` when `effective_from <= t` and (`effective_to` is open or
//!   `t < effective_to`): the range is half-open, so a claim replaced by another at the same instant
//!   is never in effect together with it.
//!
//! # Decisions where the spec is silent
//! - **Optimistic concurrency.** Every write ([`ClaimRepo::update`], [`ClaimRepo::soft_delete`],
//!   [`ClaimRepo::restore`]) takes the `version` the caller read and records the scope's user as
//!   `updated_by`. If the claim was saved since, nothing is written and the error is
//!   [`Error::Stale`](crate::Error::Stale) with the version it is at; the database adds one to
//!   `version` on every write, whoever makes it.
//! - **Soft delete** keeps the row: [`ClaimRepo::soft_delete`] sets `deleted_at`, and
//!   [`ClaimRepo::restore`] brings the claim back. [`ClaimRepo::get`] and lists see live claims only;
//!   [`ClaimRepo::get_including_deleted`] and [`ClaimFilter::deleted`] find deleted ones.
//! - **Lists** (`products`, `ingredients`, `regulatory_references`, `documentation_urls`,
//!   `replacements`) are never NULL in the model: empty means none. The crate writes empty lists, and
//!   reads a NULL written by others as empty.
//! - Countries, products, ingredients and translation languages may not repeat; a replacement names
//!   a country the claim applies in (any country when the claim lists none), at most once per country.
//! - **Wording**: the raw text ([`ClaimTextInput`]) has the stored shape, an original and translations
//!   keyed by language; translations are read in key order, so of `FR` and `fr` the second, `fr`, is
//!   the repeat reported.
//! - Effective dates are kept to the microsecond (PostgreSQL's precision), between the years 1 and
//!   9999, so what is built is exactly what is stored.
//! - **A patch is checked twice.** Its builder checks what it sets, and the rules between the fields
//!   it sets, before any round trip. But the rules relate fields (the effective range; replacements
//!   only in the claim's countries), and a patch that sets one of them cannot know the other:
//!   [`ClaimRepo::update`] reads the stored claim and checks the rules on the claim as the patch would
//!   leave it, reporting every broken rule at once, before it writes; the version guard of the write
//!   makes that check and the write one step. The database's `claims_effective_range` is the second
//!   line.
//! - There is no unique key on claims (two may share a wording), so no duplicate error exists.
//!
//! # Resolution
//! [`ClaimRepo::resolve`] answers: for content of the scope's brand, in one market (country), for an
//! optional product and ingredients, at one point in time (the publication or scheduled time, not
//! "now"), which claims are in effect, with which status, decided by which rule.
//!
//! - **Which claims are read**: the brand's own, its parent brand's, and its master claim brands'
//!   (the regulator-level lists it names, `brands.master_claim_brand_ids`). A soft-deleted parent or
//!   master brand gives none; the parent's own parent and master brands are not followed (a brand
//!   that wants them names them as its own master claim brands). Those brands are other tenants: the
//!   scope reads their claims only through `mixerai.claims_resolve()` (migration 0020), a definer
//!   function that returns claims and nothing else of theirs, and only of the brands the scope's own
//!   brand row names.
//! - **Which apply**: live; in effect at the time asked (`effective_from <= at < effective_to`: a
//!   claim applies from the instant it takes effect and no longer at the instant it lapses); for the
//!   market (it lists the country, or no country); a claim listing products applies only to those, one
//!   listing ingredients only to content with one of them (trimmed, case-insensitive); a product-level
//!   claim needs a product, an ingredient-level one an ingredient.
//! - **The same statement**: claims whose original wordings are equal once accents, case,
//!   punctuation and spacing are set aside (`claims.statement_key`, migration 0010) make one
//!   statement. One claim decides each statement, by these rules, in this order:
//!   1. a **master (regulator-level) disallow beats any allow**, at any scope: a disallowed claim of a
//!      master claim brand, or of type [`ClaimType::Master`] from any source
//!      ([`ResolutionRule::MasterDisallow`]);
//!   2. the **more specific scope wins**: ingredient over product over brand level
//!      ([`ResolutionRule::MoreSpecificScope`]);
//!   3. at **equal scope, disallowed beats allowed** (and mandatory): [`ResolutionRule::DisallowedOverAllowed`];
//!      **mandatory** is allowed plus an obligation to say it, so it beats a plain allow
//!      ([`ResolutionRule::MandatoryOverAllowed`]);
//!   4. then, where the status is the same anyway, the nearest source (own, parent, master), the
//!      latest to take effect, and the id, so the choice is always the same
//!      ([`ResolutionRule::Uncontested`] when nothing disagreed).
//! - **Wording for the market**: the deciding claim's replacement for the country, else its
//!   translation into the language asked for, else into the brand's language, else its original
//!   ([`ResolvedClaim::wording`], [`WordingSource`]).
//! - **One round trip**, at any size: the statement reads the claims of the three brands for the one
//!   market through the GIN index `idx_claims_market` (keys `<brand>:<country>` and `<brand>:*`, so
//!   claims of other markets are never read), groups and ranks them with window functions, and returns
//!   the winners (`tests/it/claims_plans.rs` proves the plan at 100k claims; `benches/claims.rs`
//!   measures it beside the same query written by hand).
//!
//! # Compliance checks
//! [`ClaimRepo::check`] checks a content item (title, excerpt, body, template string fields, SEO
//! title and description) against the claims resolved for a market and language and against the
//! brand's guardrails, and records the result with the item's `(content_id, version)`, `version`
//! being the content version (the item's `latest_version`, the key of its
//! [`ContentVersion`](crate::content::ContentVersion)s and of the approved, scheduled and live
//! pointers), not the row's concurrency token: a status change (submitting, approving, scheduling)
//! saves no content and leaves a check standing; a save makes a new version to check. It finds
//! disallowed claims in the text, mandatory claims missing from it, claims worded otherwise where the
//! market has a replacement, and phrases the guardrails forbid (what they quote: `Never say "a
//! cure"`), each [`Finding`] with the claim, the rule that decided it and its position in the text
//! ([`TextLocation`]: field, byte range, line and column). [`ClaimChecker`] is the same check without
//! I/O.
//!
//! **How text is matched, and why.** A wording is found where its words occur one after another in
//! the text, comparing words after folding case, accents (Unicode compatibility decomposition, marks
//! dropped; `ß`, `œ`, `æ` spelled out) and treating every run of spaces, line breaks, punctuation and
//! markup as one boundary; HTML character references are decoded. So `Riche en\n<em>fibres</em>`
//! matches `riche en fibres`, `enriched` does not match `rich`, and every position refers to the
//! original text. PostgreSQL's full-text search was considered and not used for the match itself: its
//! language configurations drop stop words, and those include negations (`no`, `not`, `sans`,
//! `ohne`), so a phrase query for "no added sugar" matches "with added sugar"; stemming conflates
//! wordings a regulator keeps apart ("low fat" and "lower fat"); and it reports word numbers, not
//! positions in the text. Claims are regulated wordings ("wording may vary only if the meaning stays"
//! is a human judgement), so the check matches the wording, every translation and every replacement
//! exactly up to case, accents and spacing, and leaves paraphrase to reviewers. A disallowed wording
//! inside a longer wording that may stand is not a finding (`no added sugar` contains `added sugar`).
//! The matcher is the crate's own (`matching.rs`, a word index with one hash look-up per word of a
//! wording), over `unicode-normalization`; it needs no extension in the database.
//!
//! **Stale checks.** A check stops describing the rules when a claim it could have read (of the brand,
//! its parent or a master claim brand, in that market or in every market) is created, edited, deleted
//! or restored, when the brand's guardrails, language or claim sources change, or when a claim takes
//! effect or lapses after the time it was made for. The first two are counted by the database
//! (migration 0017: per brand and market, in the same transaction as the change); the third is read
//! off the claims. [`ClaimRepo::stale_checks`] lists the live items' last checks that are stale for
//! any of these reasons, or because the item was saved since (its content version moved on).
//!
//! # The gate
//! A brand's [`ComplianceSettings`] say whether approval and publishing are gated and which kinds of
//! finding block ([`DEFAULT_BLOCKING_KINDS`]: the claim findings; guardrail findings advise).
//! [`ClaimRepo::gate`] (SQL: `mixerai.compliance_gate()`) answers, for a version, a stage, its target
//! markets and the time it would be seen, whether the stage is blocked and, per market, why: no check
//! of that version there, a check made under rules that changed since, or blocking findings. The
//! settings are read when the gate is asked, so a brand that starts gating applies it to versions
//! checked before.
//!
//! **The lifecycle enforces it.** A brand that gates a stage cannot pass a version through it while
//! the gate blocks: the step fails with [`Error::ComplianceBlocked`](crate::Error::ComplianceBlocked)
//! (the stage and the blocking markets) and nothing of it is written. Decisions:
//! - **Which steps, which version, which time.** Approving ([`ContentRepo::approve`](crate::content::ContentRepo::approve))
//!   is stage approval for the version approved (`approved_version`, the head's latest), as of now.
//!   Scheduling, and moving a pending schedule ([`ContentRepo::schedule`](crate::content::ContentRepo::schedule),
//!   [`ContentRepo::reschedule`](crate::content::ContentRepo::reschedule)), is stage publishing for the
//!   pinned version (`scheduled_version`) as of the scheduled time, when it will be seen: a schedule
//!   the gate would refuse is refused when it is set, not discovered when it fires. Making a version
//!   live ([`ContentRepo::publish`](crate::content::ContentRepo::publish), and the publishing job
//!   firing a schedule) is stage publishing for that version (`live_version`) as of now: a schedule
//!   that passed when it was set is asked again when it fires, since the rules may have changed in
//!   between; the job records the refusal like any other
//!   ([`publish_due`](crate::content::publish_due), `content_publish_failures`) and goes on with the
//!   other items. Cancelling a schedule, taking a version down, discarding a draft and saves are not
//!   gated.
//! - **Which markets.** The brand's [`ComplianceSettings::markets`], or, when it lists none, the
//!   brand's own country ([`ComplianceSettings::target_markets`]), read when the step is taken. A
//!   market with no check of the version blocks (the gate's [`GateVerdict::NotChecked`]), as do a
//!   check made under rules that changed since and blocking findings: a gated brand checks every
//!   version in every target market before approving or publishing it.
//! - **Why the database and not the crate.** The gate is a trigger on `mixerai.content` (migration
//!   0020, `content_compliance_gate`), after the lifecycle trigger has computed the step's pointers,
//!   so every path is gated: this crate's lifecycle methods, the publishing job's system scope, and a
//!   host's raw SQL in a scope, as the transition table is enforced for all of them (a check in the
//!   crate would be skipped by the other two). It runs as the owner, so what the writing role may read
//!   does not change the answer; a stage the brand does not gate costs one look-up of its settings.
//!
//! Checks are recorded by the crate, which computes the findings: a tenant running its own SQL in its
//! scope could record a check of its own making, as it could write an item's status directly. What
//! the database holds to: a check names an item of its own brand at the content version the item is
//! at (a row of its version log: a foreign key), who checked and when are the database's, and no check
//! is ever changed or deleted (migration 0018).

mod check;
mod gate;
mod input;
mod matching;
mod model;
mod repo;
mod resolve;

pub use check::{
    CheckedText, ClaimChecker, ComplianceCheck, DEFAULT_BLOCKING_KINDS, Finding, FindingKind,
    StaleCheck, TextLocation,
};
pub use gate::{
    ComplianceSettings, ComplianceSettingsInput, ComplianceSettingsPatch,
    ComplianceSettingsPatchBuilder, GateDecision, GateRequest, GateStage, GateVerdict, MarketGate,
    NewComplianceSettings, NewComplianceSettingsBuilder,
};
pub use input::{
    ClaimFilter, ClaimInput, ClaimPatch, ClaimPatchBuilder, ClaimReplacementInput, ClaimTextInput,
    NewClaim, NewClaimBuilder,
};
pub use model::{Claim, ClaimLevel, ClaimReplacement, ClaimStatus, ClaimText, ClaimType};
pub use repo::ClaimRepo;
pub use resolve::{ClaimSource, ResolutionRequest, ResolutionRule, ResolvedClaim, WordingSource};
