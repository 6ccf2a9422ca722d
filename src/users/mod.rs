//! Users: the people who sign in (spec 2.1).
//!
//! Laid out as every domain module is: model (what an account is: [`User`], and what members see of
//! each other: [`UserProfile`]), input (what a caller hands in: [`UserInput`], [`NewUser`] and
//! [`UserPatch`] with their builders, [`UserFilter`]), the repository ([`UserRepo`]), and `auth`
//! (passwords, sign-in with lockout, MFA secret and backup codes: [`LoginOutcome`],
//! [`LockoutPolicy`], [`mfa_secret_binding`]).
//!
//! Users belong to no brand. Creating one is set-up work for a [`SystemScope`](crate::SystemScope).
//! Inside a tenant [`Scope`](crate::Scope) a user reads their own account ([`UserRepo::me`]) and edits
//! their own profile, and sees the other members of the scope's brand only through their public
//! [`UserProfile`] (name, avatar, address): never their phone, metadata or sign-in state. The password
//! hash and MFA material are never selected outside `auth`.
//!
//! # Which scope may do what
//! | method | tenant [`Scope`](crate::Scope) | [`SystemScope`](crate::SystemScope) |
//! |---|---|---|
//! | [`create`](UserRepo::create), [`soft_delete`](UserRepo::soft_delete), [`restore`](UserRepo::restore), [`set_platform_admin`](UserRepo::set_platform_admin), sign-in and MFA | [`Error::Forbidden`](crate::Error::Forbidden) | yes |
//! | [`get`](UserRepo::get), [`get_including_deleted`](UserRepo::get_including_deleted), [`get_by_email`](UserRepo::get_by_email), [`list`](UserRepo::list) | the acting user's own account only | every user |
//! | [`me`](UserRepo::me) | the acting user's own account | [`Error::Forbidden`](crate::Error::Forbidden) (acts as no one) |
//! | [`profile`](UserRepo::profile), [`profiles`](UserRepo::profiles) | the acting user and everyone who holds or held a role in the brand | [`Error::Forbidden`](crate::Error::Forbidden) (read the [`User`]) |
//! | [`update`](UserRepo::update) | the acting user's own profile, while their account is live | any live user |
//!
//! The rule is the schema's (`migrations/0003_users.sql`, policy `users_read_self`, and the view
//! `mixerai.user_profiles` of `migrations/0005_user_brand_roles.sql`); the crate adds nothing to it.
//!
//! # Decisions
//! - **Optimistic concurrency.** [`UserRepo::update`], [`UserRepo::set_platform_admin`],
//!   [`UserRepo::soft_delete`] and [`UserRepo::restore`] take the `version` the caller read; if the
//!   account changed since, nothing is written and the error is [`Error::Stale`](crate::Error::Stale)
//!   with the version it is at. The database counts changes of the account only (profile, address,
//!   metadata, deletion): signing in, a new password or MFA never make an open edit stale.
//! - **The address is not part of the profile.** A [`UserPatch`] refuses `email`; the application role
//!   may not update it either. Changing an address is not offered yet.
//! - **A soft-deleted account is read-only.** Its owner still reads it with [`UserRepo::me`] (its
//!   `deleted_at` set), but an update of it is [`Error::NotFound`](crate::Error::NotFound), as for any
//!   write of a deleted row.
//! - <a id="profiles"></a>**Profiles page newest first** like every other list, by `(created_at, id)`
//!   of the accounts; the view reads the brand's roles first, so a page costs the brand's people, not
//!   every user.
//!
//! # Soft delete
//! A soft-deleted user is not returned by `get`, `get_by_email` or `list` (unless
//! [`UserFilter::deleted`] asks), nor by `profile` and `profiles`; cannot sign in; and grants nothing
//! in any brand (the policies' role look-up skips them). [`UserRepo::get_including_deleted`] finds them.
//! Their address stays taken: the unique key on the normalised address covers deleted rows too
//! (`migrations/0003_users.sql`), so creating a new account with it is
//! [`Error::Conflict`](crate::Error::Conflict), and [`restore`](UserRepo::restore) therefore never
//! conflicts. Freeing an address means purging the row, which retention (spec 5.2) does later.

#[cfg(feature = "crypto")]
mod auth;
mod input;
mod model;
mod repo;

#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use auth::{LockoutPolicy, LoginOutcome, mfa_secret_binding};
pub use input::{NewUser, NewUserBuilder, UserFilter, UserInput, UserPatch, UserPatchBuilder};
pub use model::{User, UserProfile};
pub use repo::UserRepo;
