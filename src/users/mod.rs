//! Users: the people who sign in (spec 2.1). Model, builder and repository.
//!
//! Users belong to no brand. Creating one is set-up work for a [`SystemScope`](crate::SystemScope);
//! inside a tenant [`Scope`](crate::Scope) a user sees themselves and the members of the scope's brand,
//! and edits only their own profile. The password hash and MFA material are never selected here.
//!
//! # Which scope may do what
//! | method | tenant [`Scope`](crate::Scope) | [`SystemScope`](crate::SystemScope) |
//! |---|---|---|
//! | [`create`](UserRepo::create), [`soft_delete`](UserRepo::soft_delete), [`restore`](UserRepo::restore), [`set_platform_admin`](UserRepo::set_platform_admin), sign-in and MFA | [`Error::Forbidden`] | yes |
//! | [`get`](UserRepo::get), [`get_by_email`](UserRepo::get_by_email), [`list`](UserRepo::list) | the acting user and the brand's members | every live user |
//! | [`update_profile`](UserRepo::update_profile) | the acting user's own profile only | any live user |
//!
//! # Soft delete
//! A soft-deleted user is not returned by `get`, `get_by_email` or `list`, cannot sign in, and grants
//! nothing in any brand (the policies' role look-up skips them). Their address stays taken: the unique
//! key on the normalised address covers deleted rows too (`migrations/0003_users.sql`), so creating a
//! new account with it is [`Error::Conflict`], and [`restore`](UserRepo::restore) therefore never
//! conflicts. Freeing an address means purging the row, which retention (spec 5.2) does later.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::types::{Email, LanguageCode, Timezone, UserId, http_url, non_blank, text};
use crate::{Error, Result, ValidationErrors};

mod auth;

pub use auth::{LockoutPolicy, LoginOutcome, mfa_secret_binding};

/// A user as the application sees it: no password hash, no MFA material.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Sign-in address, normalised to lowercase; unique in any letter case.
    pub email: Email,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Profile picture URL.
    pub avatar_url: Option<String>,
    /// Phone number as entered.
    pub phone: Option<String>,
    /// IANA time zone.
    pub timezone: Timezone,
    /// ISO 639-1 language.
    pub language: LanguageCode,
    /// Whether the address was verified.
    pub email_verified: bool,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Successful sign-ins so far.
    pub login_count: i32,
    /// Consecutive failed sign-ins.
    pub failed_login_attempts: i32,
    /// Sign-in refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Whether a second factor is required.
    pub mfa_enabled: bool,
    /// Free-form attributes; `is_platform_admin` lives here and only a system scope may set it.
    pub metadata: serde_json::Value,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The columns of [`User`], in one place for every query that returns users.
const USER_COLUMNS: &str = "id, email, first_name, last_name, avatar_url, phone, timezone, language, \
    email_verified, last_login_at, login_count, failed_login_attempts, locked_until, mfa_enabled, metadata, \
    created_at, updated_at, deleted_at";

/// A validated new user; build one with [`NewUser::builder`].
#[derive(Debug, Clone)]
pub struct NewUser {
    email: Email,
    first_name: String,
    last_name: String,
    timezone: Timezone,
    language: LanguageCode,
    avatar_url: Option<String>,
    phone: Option<String>,
}

impl NewUser {
    /// Starts a builder; [`NewUserBuilder::build`] reports every problem at once.
    pub fn builder() -> NewUserBuilder {
        NewUserBuilder::default()
    }

    /// The validated address.
    pub fn email(&self) -> &Email {
        &self.email
    }
}

/// Raw input for a [`NewUser`]. Nothing is checked until [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct NewUserBuilder {
    email: String,
    first_name: String,
    last_name: String,
    timezone: Option<String>,
    language: Option<String>,
    avatar_url: Option<String>,
    phone: Option<String>,
}

impl NewUserBuilder {
    /// Sign-in address (required).
    pub fn email(mut self, v: impl Into<String>) -> Self {
        self.email = v.into();
        self
    }
    /// Given name (required, at most 100 characters).
    pub fn first_name(mut self, v: impl Into<String>) -> Self {
        self.first_name = v.into();
        self
    }
    /// Family name (required, at most 100 characters).
    pub fn last_name(mut self, v: impl Into<String>) -> Self {
        self.last_name = v.into();
        self
    }
    /// IANA time zone (default `UTC`).
    pub fn timezone(mut self, v: impl Into<String>) -> Self {
        self.timezone = Some(v.into());
        self
    }
    /// ISO 639-1 language (default `en`).
    pub fn language(mut self, v: impl Into<String>) -> Self {
        self.language = Some(v.into());
        self
    }
    /// Profile picture URL.
    pub fn avatar_url(mut self, v: impl Into<String>) -> Self {
        self.avatar_url = Some(v.into());
        self
    }
    /// Phone number (at most 50 characters).
    pub fn phone(mut self, v: impl Into<String>) -> Self {
        self.phone = Some(v.into());
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewUser, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&self.email));
        let first_name = errors
            .check("first_name", non_blank(&self.first_name, 100))
            .map(str::to_owned);
        let last_name = errors
            .check("last_name", non_blank(&self.last_name, 100))
            .map(str::to_owned);
        let timezone = match &self.timezone {
            Some(tz) => errors.check("timezone", Timezone::parse(tz)),
            None => Some(Timezone::default()),
        };
        let language = errors.check(
            "language",
            LanguageCode::parse(self.language.as_deref().unwrap_or("en")),
        );
        let avatar_url = match &self.avatar_url {
            Some(url) => errors
                .check("avatar_url", http_url(url))
                .map(|u| Some(u.to_owned())),
            None => Some(None),
        };
        let phone = match &self.phone {
            Some(p) => errors
                .check("phone", text(p, 50))
                .map(|p| Some(p.to_owned())),
            None => Some(None),
        };
        errors.into_result()?;
        // Every Option is Some when no error was recorded.
        Ok(NewUser {
            email: email.expect("checked"),
            first_name: first_name.expect("checked"),
            last_name: last_name.expect("checked"),
            timezone: timezone.expect("checked"),
            language: language.expect("checked"),
            avatar_url: avatar_url.expect("checked"),
            phone: phone.expect("checked"),
        })
    }
}

/// A validated change to a user's profile; build one with [`UserPatch::builder`].
///
/// Only the fields that were set change. The optional fields (`avatar_url`, `phone`) can also be
/// cleared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    first_name: Option<String>,
    last_name: Option<String>,
    avatar_url: Option<Option<String>>,
    phone: Option<Option<String>>,
    timezone: Option<Timezone>,
    language: Option<LanguageCode>,
}

impl UserPatch {
    /// Starts a builder; [`UserPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> UserPatchBuilder {
        UserPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Raw input for a [`UserPatch`]. Nothing is checked until [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct UserPatchBuilder {
    first_name: Option<String>,
    last_name: Option<String>,
    avatar_url: Option<Option<String>>,
    phone: Option<Option<String>>,
    timezone: Option<String>,
    language: Option<String>,
}

impl UserPatchBuilder {
    /// New given name (not blank, at most 100 characters).
    pub fn first_name(mut self, v: impl Into<String>) -> Self {
        self.first_name = Some(v.into());
        self
    }
    /// New family name (not blank, at most 100 characters).
    pub fn last_name(mut self, v: impl Into<String>) -> Self {
        self.last_name = Some(v.into());
        self
    }
    /// New profile picture URL (`http`/`https`).
    pub fn avatar_url(mut self, v: impl Into<String>) -> Self {
        self.avatar_url = Some(Some(v.into()));
        self
    }
    /// Removes the profile picture.
    pub fn clear_avatar_url(mut self) -> Self {
        self.avatar_url = Some(None);
        self
    }
    /// New phone number (at most 50 characters).
    pub fn phone(mut self, v: impl Into<String>) -> Self {
        self.phone = Some(Some(v.into()));
        self
    }
    /// Removes the phone number.
    pub fn clear_phone(mut self) -> Self {
        self.phone = Some(None);
        self
    }
    /// New IANA time zone, e.g. `Europe/London`.
    pub fn timezone(mut self, v: impl Into<String>) -> Self {
        self.timezone = Some(v.into());
        self
    }
    /// New ISO 639-1 language.
    pub fn language(mut self, v: impl Into<String>) -> Self {
        self.language = Some(v.into());
        self
    }

    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<UserPatch, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut name = |field: &str, v: Option<String>| match v {
            Some(n) => errors
                .check(field, non_blank(&n, 100))
                .map(|n| Some(n.to_owned())),
            None => Some(None),
        };
        let first_name = name("first_name", self.first_name);
        let last_name = name("last_name", self.last_name);
        let avatar_url = match self.avatar_url {
            Some(Some(url)) => errors
                .check("avatar_url", http_url(&url))
                .map(|u| Some(Some(u.to_owned()))),
            other => Some(other),
        };
        let phone = match self.phone {
            Some(Some(p)) => errors
                .check("phone", text(&p, 50))
                .map(|p| Some(Some(p.to_owned()))),
            other => Some(other),
        };
        let timezone = match &self.timezone {
            Some(tz) => errors.check("timezone", Timezone::parse(tz)).map(Some),
            None => Some(None),
        };
        let language = match &self.language {
            Some(l) => errors.check("language", LanguageCode::parse(l)).map(Some),
            None => Some(None),
        };
        errors.into_result()?;
        Ok(UserPatch {
            first_name: first_name.expect("checked"),
            last_name: last_name.expect("checked"),
            avatar_url: avatar_url.expect("checked"),
            phone: phone.expect("checked"),
            timezone: timezone.expect("checked"),
            language: language.expect("checked"),
        })
    }
}

/// The constraint name an optimistic-concurrency miss on `users` is reported with, in
/// [`Error::Conflict`].
pub const USERS_STALE_VERSION: &str = "users_stale_version";

/// Users repository over one scope's transaction.
#[derive(Debug)]
pub struct UserRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> UserRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    /// Creates a user. A taken address in any letter case is [`Error::Conflict`] on
    /// `users_email_normalized_key`. Needs a [`SystemScope`](crate::SystemScope): the application role
    /// may not create users ([`Error::Forbidden`]).
    pub async fn create(&mut self, new: &NewUser) -> Result<User> {
        let sql = format!(
            "INSERT INTO mixerai.users (email, first_name, last_name, timezone, language, avatar_url, phone)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
        );
        let user = sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(&new.email)
            .bind(&new.first_name)
            .bind(&new.last_name)
            .bind(new.timezone)
            .bind(new.language)
            .bind(&new.avatar_url)
            .bind(&new.phone)
            .fetch_one(self.ctx.conn())
            .await?;
        Ok(user)
    }

    /// The live (not soft-deleted) user with this id, if visible in the scope; otherwise
    /// [`Error::NotFound`].
    pub async fn get(&mut self, id: UserId) -> Result<User> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM mixerai.users WHERE id = $1 AND deleted_at IS NULL"
        );
        sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.ctx.conn())
            .await?
            .ok_or(Error::NotFound { entity: "user" })
    }

    /// The live user with this address in any letter case, if visible in the scope; otherwise
    /// [`Error::NotFound`].
    pub async fn get_by_email(&mut self, email: &Email) -> Result<User> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM mixerai.users WHERE email_normalized = $1 AND deleted_at IS NULL"
        );
        sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .fetch_optional(self.ctx.conn())
            .await?
            .ok_or(Error::NotFound { entity: "user" })
    }

    /// Marks a user as a platform admin (or not). Only a system scope can: the application role has no
    /// privilege on `users.metadata`, so no user can raise their own privileges.
    pub async fn set_platform_admin(&mut self, id: UserId, is_admin: bool) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mixerai.users SET metadata = jsonb_set(metadata, '{is_platform_admin}', to_jsonb($2::boolean))
             WHERE id = $1",
        )
        .bind(id)
        .bind(is_admin)
        .execute(self.ctx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }

    /// One page of the live users visible in the scope, newest first: in a tenant scope the acting
    /// user and the brand's members, in a system scope everyone.
    pub async fn list(&mut self, page: &PageRequest) -> Result<Page<User>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM mixerai.users
             WHERE deleted_at IS NULL AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2))
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.ctx.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |u| {
            (u.created_at, u.id.as_uuid())
        }))
    }

    /// Applies `patch` to a live user's profile if the row is still as it was read: `expected` is
    /// the [`User::updated_at`] the caller saw. Returns the updated user.
    ///
    /// In a tenant scope a user may update only their own profile; a system scope may update anyone.
    /// An empty patch ([`UserPatch::is_empty`]) still moves `updated_at`, like any other save.
    ///
    /// # Errors
    /// - [`Error::Conflict`] on [`USERS_STALE_VERSION`] when the row changed since it was read
    ///   (nothing is written);
    /// - [`Error::NotFound`] when there is no such live user, or it is not visible;
    /// - [`Error::Forbidden`] when it is visible but not the acting user's own.
    pub async fn update_profile(
        &mut self,
        id: UserId,
        expected: DateTime<Utc>,
        patch: &UserPatch,
    ) -> Result<User> {
        // One statement whatever was set: a column not in the patch is assigned itself. Only the
        // profile columns the application role may update (0013) appear in the SET list.
        let sql = format!(
            "UPDATE mixerai.users SET
                first_name = coalesce($3, first_name),
                last_name = coalesce($4, last_name),
                avatar_url = CASE WHEN $5 THEN $6 ELSE avatar_url END,
                phone = CASE WHEN $7 THEN $8 ELSE phone END,
                timezone = coalesce($9, timezone),
                language = coalesce($10, language)
             WHERE id = $1 AND updated_at = $2 AND deleted_at IS NULL
             RETURNING {USER_COLUMNS}"
        );
        let updated = sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected)
            .bind(&patch.first_name)
            .bind(&patch.last_name)
            .bind(patch.avatar_url.is_some())
            .bind(patch.avatar_url.clone().flatten())
            .bind(patch.phone.is_some())
            .bind(patch.phone.clone().flatten())
            .bind(patch.timezone)
            .bind(patch.language)
            .fetch_optional(self.ctx.conn())
            .await?;
        if let Some(user) = updated {
            return Ok(user);
        }
        // Nothing matched: tell a stale token from a missing row from a row the policies refused.
        let current: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT updated_at FROM mixerai.users WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.ctx.conn())
        .await?;
        Err(match current {
            None => Error::NotFound { entity: "user" },
            Some(at) if at != expected => Error::Conflict {
                constraint: USERS_STALE_VERSION.to_owned(),
                field: None,
                source: None,
            },
            Some(_) => Error::forbidden("a user may update only their own profile"),
        })
    }

    /// Soft-deletes a live user: they disappear from `get` and `list`, cannot sign in and hold no
    /// access, but the row (and its address) is kept for [`restore`](Self::restore). Needs a
    /// [`SystemScope`](crate::SystemScope) ([`Error::Forbidden`] in a tenant scope).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such live user (including one already deleted).
    pub async fn soft_delete(&mut self, id: UserId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mixerai.users SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(self.ctx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }

    /// Brings a soft-deleted user back, with their memberships as they were. Never conflicts: the
    /// address stayed reserved while the user was deleted (see the [module docs](self)). Needs a
    /// [`SystemScope`](crate::SystemScope) ([`Error::Forbidden`] in a tenant scope).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such soft-deleted user.
    pub async fn restore(&mut self, id: UserId) -> Result<User> {
        let sql = format!(
            "UPDATE mixerai.users SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL
             RETURNING {USER_COLUMNS}"
        );
        sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.ctx.conn())
            .await?
            .ok_or(Error::NotFound { entity: "user" })
    }
}
