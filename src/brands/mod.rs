//! Brands (the tenants), the roles users hold in them, and the agencies that vet their claims (spec
//! 2.1, 2.2, 3.2).
//!
//! Laid out as every domain module is: model (what a brand is: [`Brand`] and its parts
//! [`BrandIdentity`], [`BrandLogo`], [`BrandColors`], [`BrandSettings`]; [`Membership`] and
//! [`BrandRole`]; [`VettingAgency`]), input (what a caller hands in: [`BrandInput`], [`NewBrand`] and
//! [`BrandPatch`] with their builders, [`MembershipInput`] with [`NewMembership`] and
//! [`MembershipPatch`], [`VettingAgencyInput`] with [`NewVettingAgency`] and [`VettingAgencyPatch`],
//! and the filters [`BrandFilter`], [`MemberFilter`], [`VettingAgencyFilter`]), and one repository,
//! [`BrandRepo`], whose membership and agency parts live in `members.rs` and `agencies.rs`.
//!
//! # Which scope may do what
//! A tenant [`Scope`](crate::Scope) sees exactly one brand row, its own (`brands_scope` in
//! `migrations/0004_brands.sql`), so anything that reaches across brands is system-scope work:
//!
//! | method | tenant scope | [`SystemScope`](crate::SystemScope) |
//! |---|---|---|
//! | [`create`](BrandRepo::create) | platform admin, for [`NewBrand::id`] | yes |
//! | [`get`](BrandRepo::get), [`list`](BrandRepo::list) | the scope's brand (members) | every brand |
//! | [`get_including_deleted`](BrandRepo::get_including_deleted) | the scope's brand (members; a deleted one only to platform admins) | every brand |
//! | [`update`](BrandRepo::update) | brand admins | yes |
//! | [`soft_delete`](BrandRepo::soft_delete), [`restore`](BrandRepo::restore) | platform admins | yes |
//! | [`sub_brands`](BrandRepo::sub_brands) | nothing (sub-brands are other tenants) | yes |
//! | [`grant`](BrandRepo::grant), [`change_role`](BrandRepo::change_role), [`revoke`](BrandRepo::revoke) | brand admins | yes |
//! | [`membership`](BrandRepo::membership), [`members`](BrandRepo::members) | the scope's brand (members) | any brand |
//! | [`memberships_of`](BrandRepo::memberships_of) | the scope's brand only | every brand: the list a user picks a brand from |
//! | [`touch_access`](BrandRepo::touch_access) | records one use of the acting user's role | does nothing (no acting user) |
//! | [`vetting_agency`](BrandRepo::vetting_agency), [`vetting_agencies`](BrandRepo::vetting_agencies) | members | yes |
//! | [`create_vetting_agency`](BrandRepo::create_vetting_agency), [`update_vetting_agency`](BrandRepo::update_vetting_agency), [`remove_vetting_agency`](BrandRepo::remove_vetting_agency) | brand admins | yes |
//!
//! A write the policies refuse is [`Error::Forbidden`](crate::Error::Forbidden), whether PostgreSQL
//! raises an error or silently filters the row out (the repository then looks again: a row it can read
//! but did not change is `Forbidden`, one it cannot read is `NotFound`).
//!
//! # Decisions
//! - **Optimistic concurrency.** Brands, memberships and vetting agencies each carry a `version` that
//!   the database adds one to on every change (for a membership: of its role, permissions,
//!   restrictions, expiry or assignment; recording access with
//!   [`touch_access`](BrandRepo::touch_access) is not a change). Every write names the version it was
//!   based on; a moved-on row is [`Error::Stale`](crate::Error::Stale) with the version it is at, and
//!   nothing is written. A patch that sets nothing writes nothing.
//! - **Soft delete.** A soft-deleted brand is not returned by [`get`](BrandRepo::get),
//!   [`list`](BrandRepo::list) or [`sub_brands`](BrandRepo::sub_brands) unless
//!   [`BrandFilter::deleted`] asks; [`get_including_deleted`](BrandRepo::get_including_deleted) finds
//!   it. Its name and slug stay taken (the unique keys cover deleted rows), so
//!   [`restore`](BrandRepo::restore) never conflicts. Only a platform admin or a system scope may
//!   soft-delete or restore (trigger `brands_guard_soft_delete`), since a brand admin could otherwise
//!   make their brand vanish for everyone. While deleted, the brand is closed to its members.
//! - **Hierarchy**: `parent_brand_id` never forms a cycle (trigger `brands_no_cycle`); a refused parent
//!   is [`Error::Invalid`](crate::Error::Invalid) on the field `parent_brand_id`.
//! - **Master claim brands** must exist (a trigger, reported as
//!   [`Error::InvalidReference`](crate::Error::InvalidReference) on
//!   `brands_master_claim_brand_ids_fkey`), must not repeat and must not name the brand itself.
//! - **Colours**: "no colours" is stored as `{}` (the column is NOT NULL), and read back as `None`.
//! - **Memberships are granted once**: [`grant`](BrandRepo::grant) creates the role, and a user who
//!   already holds one (expired or not) is a [`Error::Conflict`](crate::Error::Conflict) on `user_id`;
//!   changing it is [`change_role`](BrandRepo::change_role) with the version read, so two admins
//!   cannot silently overwrite each other's grant. A membership is keyed by its brand and user, as
//!   callers know it; revoking deletes the row and returns it.
//! - **Member lists** ([`members`](BrandRepo::members), [`memberships_of`](BrandRepo::memberships_of))
//!   leave out expired roles and soft-deleted users unless [`MemberFilter`] asks for them (issue #10):
//!   by default a list says who has access now. [`membership`](BrandRepo::membership) reads one role
//!   whatever its state, so an expired one can be extended. `memberships_of` never lists roles in
//!   soft-deleted brands: they open nothing.
//! - **Permissions and restrictions** of a membership are names the host chooses and interprets; the
//!   crate's policies read only the role.
//! - **Vetting agencies** are listed whole, not paged (see
//!   [`vetting_agencies`](BrandRepo::vetting_agencies)); deactivating one is a patch of `is_active`,
//!   removing one deletes it.
//! - **Access tracking** is explicit ([`touch_access`](BrandRepo::touch_access)), not a side effect of
//!   opening a scope: recording it on every scope would add a row write (and a row lock that
//!   serialises a user's concurrent requests) to every read-only request.

mod agencies;
mod input;
mod members;
mod model;
mod repo;

pub use input::{
    BrandFilter, BrandInput, BrandPatch, BrandPatchBuilder, ColorsInput, LogoInput, MemberFilter,
    MembershipInput, MembershipPatch, MembershipPatchBuilder, NewBrand, NewBrandBuilder,
    NewMembership, NewMembershipBuilder, NewVettingAgency, NewVettingAgencyBuilder,
    VettingAgencyFilter, VettingAgencyInput, VettingAgencyPatch, VettingAgencyPatchBuilder,
};
pub use model::{
    Brand, BrandColors, BrandIdentity, BrandLogo, BrandRole, BrandSettings, LogoKind, Membership,
    VettingAgency,
};
pub use repo::BrandRepo;
