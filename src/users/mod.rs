//! Users: the people who sign in (spec 2.1). Model, builder and repository.
//!
//! Users belong to no brand. Creating one is set-up work for a [`SystemScope`](crate::SystemScope);
//! inside a tenant [`Scope`](crate::Scope) a user sees themselves and the members of the scope's brand,
//! and edits only their own profile. The password hash and MFA material are never selected here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

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

/// Users repository over one scope's transaction.
#[derive(Debug)]
pub struct UserRepo<'s> {
    conn: &'s mut PgConnection,
}

impl<'s> UserRepo<'s> {
    pub(crate) fn new(conn: &'s mut PgConnection) -> Self {
        Self { conn }
    }

    /// Creates a user. A taken address in any letter case is [`Error::Conflict`] on
    /// `users_email_normalized_key`. Needs a [`SystemScope`](crate::SystemScope): the application role
    /// may not create users ([`Error::Forbidden`]).
    pub async fn create(&mut self, new: &NewUser) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (email, first_name, last_name, timezone, language, avatar_url, phone)
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
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(user)
    }

    /// The user with this id, if visible in the scope.
    pub async fn get(&mut self, id: UserId) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?
            .ok_or(Error::NotFound { entity: "user" })
    }

    /// The user with this address in any letter case, if visible in the scope.
    pub async fn get_by_email(&mut self, email: &Email) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_normalized = $1");
        sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .fetch_optional(&mut *self.conn)
            .await?
            .ok_or(Error::NotFound { entity: "user" })
    }

    /// Marks a user as a platform admin (or not). Only a system scope can: the application role has no
    /// privilege on `users.metadata`, so no user can raise their own privileges.
    pub async fn set_platform_admin(&mut self, id: UserId, is_admin: bool) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET metadata = jsonb_set(metadata, '{is_platform_admin}', to_jsonb($2::boolean))
             WHERE id = $1",
        )
        .bind(id)
        .bind(is_admin)
        .execute(&mut *self.conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { entity: "user" });
        }
        Ok(())
    }
}
