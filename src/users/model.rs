//! What a user is: the account as its owner and system scopes read it, and the public profile one
//! member may see of another.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::{Email, LanguageCode, Timezone, UserId};

/// A user's account as the application sees it: no password hash, no MFA material.
///
/// Only the account's owner (in a tenant scope) and system scopes read this; what other members of a
/// brand may see is the [`UserProfile`].
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
    /// Changes of the account so far (profile, address, metadata, deletion), counting the creation:
    /// the optimistic-concurrency token every write names. Signing in, passwords and MFA do not count.
    pub version: i32,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed (as `version` counts changes).
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The columns of [`User`], for every statement that returns users (`concat!` keeps each one a
/// `&'static str`).
macro_rules! user_columns {
    () => {
        "id, email, first_name, last_name, avatar_url, phone, timezone, language, email_verified, \
         last_login_at, login_count, failed_login_attempts, locked_until, mfa_enabled, metadata, \
         version, created_at, updated_at, deleted_at"
    };
}
pub(crate) use user_columns;

/// What one member of a brand may see of another, and hand to a client: the columns of the view
/// `mixerai.user_profiles` (name, avatar, address). No phone, metadata or sign-in state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct UserProfile {
    /// The user's id.
    pub id: UserId,
    /// Sign-in address, normalised to lowercase.
    pub email: Email,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Profile picture URL.
    pub avatar_url: Option<String>,
    /// When the account was created (the order profiles are listed in).
    pub created_at: DateTime<Utc>,
}

/// The columns of [`UserProfile`], as `mixerai.user_profiles` has them.
macro_rules! user_profile_columns {
    () => {
        "id, email, first_name, last_name, avatar_url, created_at"
    };
}
pub(crate) use user_profile_columns;

impl From<User> for UserProfile {
    /// The public part of an account, e.g. of the acting user's own.
    fn from(user: User) -> Self {
        UserProfile {
            id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            avatar_url: user.avatar_url,
            created_at: user.created_at,
        }
    }
}
