//! The users repository: every statement that reads or writes accounts (`mixerai.users`) and public
//! profiles (`mixerai.user_profiles`). Sign-in and MFA are in `auth.rs`.

use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{NewUser, UserFilter, UserPatch, user_editable_columns, user_input_columns};
use super::model::{User, UserProfile, user_columns, user_profile_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::{Email, UserId};
use crate::{Error, Result};

/// What [`why_unchanged`] reads to tell a stale write from a missing row.
const PROBE: &str = "SELECT version, deleted_at IS NOT NULL FROM mixerai.users WHERE id = $1";

/// Users repository over one scope: see the [module docs](super) for what each scope may do.
#[derive(Debug)]
pub struct UserRepo<'s> {
    pub(super) ctx: &'s mut Ctx,
}

impl<'s> UserRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a user. A taken address in any letter case (soft-deleted accounts included) is
    /// [`Error::Conflict`] on `users_email_normalized_key`, field `email`. Needs a
    /// [`SystemScope`](crate::SystemScope): the application role may not create users
    /// ([`Error::Forbidden`]).
    #[tracing::instrument(name = "mixerai.users.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewUser) -> Result<User> {
        Ok(sqlx::query_as::<_, User>(concat!(
            "INSERT INTO mixerai.users (",
            user_input_columns!(),
            ") SELECT ",
            user_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.users, $1) RETURNING ",
            user_columns!()
        ))
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await?)
    }

    /// The live user with this id: in a system scope any user, in a tenant scope only the acting
    /// user (another member's public profile is [`profile`](Self::profile)). [`Error::NotFound`]
    /// when absent, soft-deleted or not readable.
    #[tracing::instrument(name = "mixerai.users.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: UserId) -> Result<User> {
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM mixerai.users WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "user" })
    }

    /// The acting user's own account, also when it is soft-deleted (its `deleted_at` says so: such an
    /// account is read-only). Only in a tenant scope ([`Error::Forbidden`] in a system scope, which
    /// acts as no one).
    #[tracing::instrument(name = "mixerai.users.me", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn me(&mut self) -> Result<User> {
        let (user, _) = self.ctx.tenant()?;
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM mixerai.users WHERE id = $1"
        ))
        .bind(user)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "user" })
    }

    /// The user with this id, soft-deleted or not (its `deleted_at` says which): for finding what to
    /// restore. Meant for a system scope; a tenant scope reads only the acting user.
    /// [`Error::NotFound`] when absent or not readable.
    #[tracing::instrument(name = "mixerai.users.get_including_deleted", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get_including_deleted(&mut self, id: UserId) -> Result<User> {
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM mixerai.users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "user" })
    }

    /// The live user with this address in any letter case, if readable in the scope (in a tenant
    /// scope only the acting user); otherwise [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.users.get_by_email", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn get_by_email(&mut self, email: &Email) -> Result<User> {
        sqlx::query_as::<_, User>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM mixerai.users WHERE email_normalized = $1 AND deleted_at IS NULL"
        ))
        .bind(email)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "user" })
    }

    /// One page of the accounts readable in the scope matching `filter`, newest first
    /// (`created_at DESC, id DESC`, served by `idx_users_created` for live users): in a system scope
    /// everyone, in a tenant scope only the acting user.
    #[tracing::instrument(name = "mixerai.users.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(&mut self, filter: &UserFilter, request: &PageRequest) -> Result<Page<User>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM mixerai.users WHERE true"
        ));
        q.push(filter.deleted.condition());
        page(self.conn(), q, request, BY_CREATION, |u: &User| {
            (u.created_at, u.id.as_uuid())
        })
        .await
    }

    /// The public profile of a live user the acting user may see: themselves, or anyone who holds or
    /// held a role in the scope's brand, while the acting user has a live role there. Only in a tenant
    /// scope ([`Error::Forbidden`] in a system scope, which reads the [`User`] itself). Anyone else is
    /// [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.users.profile", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn profile(&mut self, id: UserId) -> Result<UserProfile> {
        self.ctx.tenant()?;
        sqlx::query_as::<_, UserProfile>(concat!(
            "SELECT ",
            user_profile_columns!(),
            " FROM mixerai.user_profiles WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "user" })
    }

    /// One page of the public profiles the acting user may see (as for [`profile`](Self::profile)),
    /// newest account first. Only in a tenant scope ([`Error::Forbidden`] in a system scope).
    #[tracing::instrument(name = "mixerai.users.profiles", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn profiles(&mut self, request: &PageRequest) -> Result<Page<UserProfile>> {
        self.ctx.tenant()?;
        let query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            user_profile_columns!(),
            " FROM mixerai.user_profiles WHERE true"
        ));
        page(
            self.conn(),
            query,
            request,
            BY_CREATION,
            |p: &UserProfile| (p.created_at, p.id.as_uuid()),
        )
        .await
    }

    /// Applies `patch` to a live user's profile if the account is still at `expected_version` (the
    /// `version` the caller read); the database adds one to the version. In a tenant scope a user
    /// updates only their own profile, and not once their account is soft-deleted; a system scope
    /// updates anyone's.
    ///
    /// An empty patch writes nothing (no new version, no audit event) and returns the user.
    ///
    /// # Errors
    /// - [`Error::Stale`] with the version the account is at, when it changed since it was read
    ///   (nothing is written);
    /// - [`Error::NotFound`] when there is no such live user or it is not readable: in a tenant scope
    ///   anyone but the acting user, and the acting user once soft-deleted.
    #[tracing::instrument(name = "mixerai.users.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: UserId,
        expected_version: i32,
        patch: &UserPatch,
    ) -> Result<User> {
        if patch.is_empty() {
            let current = self.get(id).await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "user",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        // Every profile column is assigned: from the patch where it is set, else from the row. Unlike
        // content, the row is not handed to jsonb_populate_record whole (`t`): a whole-row reference
        // needs SELECT on every column, and the application role may not read the password hash or
        // MFA material. So the current profile is rebuilt from its own columns and the patch laid
        // over it; the SET list is exactly the columns the application role may update.
        let updated = sqlx::query_as::<_, User>(concat!(
            "UPDATE mixerai.users AS t SET (",
            user_editable_columns!(),
            ") = (SELECT ",
            user_editable_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.users,
                 (SELECT to_jsonb(cur) FROM (SELECT ",
            user_editable_columns!(),
            ") AS cur) || $3))
             WHERE t.id = $1 AND t.version = $2 AND t.deleted_at IS NULL
             RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(user) => Ok(user),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    async fn refused(&mut self, id: UserId, expected: i32, needs: Needs) -> Result<Error> {
        why_unchanged(self.conn(), PROBE, "user", id.as_uuid(), expected, needs).await
    }

    /// Marks a live user as a platform admin (admin of every brand), or not, if the account is still
    /// at `expected_version`; returns the user. Only a system scope can: the application role has no
    /// privilege on `users.metadata`, so no user can raise their own privileges
    /// ([`Error::Forbidden`]). [`Error::Stale`] when the account changed since; [`Error::NotFound`]
    /// when there is no such live user.
    #[tracing::instrument(name = "mixerai.users.set_platform_admin", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn set_platform_admin(
        &mut self,
        id: UserId,
        expected_version: i32,
        is_admin: bool,
    ) -> Result<User> {
        let updated = sqlx::query_as::<_, User>(concat!(
            "UPDATE mixerai.users
             SET metadata = jsonb_set(metadata, '{is_platform_admin}', to_jsonb($3::boolean))
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(is_admin)
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(user) => Ok(user),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Soft-deletes a live user at `expected_version`: they leave `get` and `list`, cannot sign in
    /// and hold no access, but the row (and its address) is kept for [`restore`](Self::restore);
    /// returns the user as it is now. Needs a [`SystemScope`](crate::SystemScope)
    /// ([`Error::Forbidden`] in a tenant scope, also for oneself).
    ///
    /// # Errors
    /// [`Error::Stale`] when the account changed since; [`Error::NotFound`] when there is no such live
    /// user (including one already deleted).
    #[tracing::instrument(name = "mixerai.users.soft_delete", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn soft_delete(&mut self, id: UserId, expected_version: i32) -> Result<User> {
        let deleted = sqlx::query_as::<_, User>(concat!(
            "UPDATE mixerai.users SET deleted_at = now()
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match deleted {
            Some(user) => Ok(user),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Brings a soft-deleted user at `expected_version` back, with their memberships as they were.
    /// Never conflicts: the address stayed reserved while the user was deleted (see the
    /// [module docs](super)). Needs a [`SystemScope`](crate::SystemScope) ([`Error::Forbidden`] in a
    /// tenant scope).
    ///
    /// # Errors
    /// [`Error::Stale`] when the account changed since; [`Error::NotFound`] when there is no such
    /// soft-deleted user.
    #[tracing::instrument(name = "mixerai.users.restore", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn restore(&mut self, id: UserId, expected_version: i32) -> Result<User> {
        let restored = sqlx::query_as::<_, User>(concat!(
            "UPDATE mixerai.users SET deleted_at = NULL
             WHERE id = $1 AND version = $2 AND deleted_at IS NOT NULL RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match restored {
            Some(user) => Ok(user),
            None => Err(self.refused(id, expected_version, Needs::Deleted).await?),
        }
    }
}
