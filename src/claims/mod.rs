//! Claims: what a brand may, may not and must say, by market and date (spec 2.5 / 3.5).
//!
//! Laid out as every domain module is: the model (what a claim is: [`Claim`], [`ClaimText`],
//! [`ClaimReplacement`] and the enums), input (what a caller hands in: [`ClaimInput`], [`NewClaim`]
//! and [`ClaimPatch`] with their builders, [`ClaimFilter`]), and the repository ([`ClaimRepo`]).
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

mod input;
mod model;
mod repo;

pub use input::{
    ClaimFilter, ClaimInput, ClaimPatch, ClaimPatchBuilder, ClaimReplacementInput, ClaimTextInput,
    NewClaim, NewClaimBuilder,
};
pub use model::{Claim, ClaimLevel, ClaimReplacement, ClaimStatus, ClaimText, ClaimType};
pub use repo::ClaimRepo;
