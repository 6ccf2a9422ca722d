//! Memberships: the roles users hold in brands (`user_brand_roles`), and access tracking.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BrandRepo;
use crate::page::{Page, PageRequest};
use crate::text_enum::text_enum;
use crate::types::{BrandId, UserBrandRoleId, UserId};
use crate::{Error, Result};

/// A role in a brand (`user_brand_roles.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrandRole {
    /// Manages the brand, its members, agencies, workflows and claims; also writes content.
    Admin,
    /// Reads and writes content, templates, workflow instances and AI generations.
    Editor,
    /// Reads.
    Viewer,
}

text_enum!(BrandRole { Admin => "admin", Editor => "editor", Viewer => "viewer" });

/// One user's role in one brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Membership {
    /// Primary key.
    pub id: UserBrandRoleId,
    /// The member.
    pub user_id: UserId,
    /// The brand.
    pub brand_id: BrandId,
    /// What the member may do.
    pub role: BrandRole,
    /// Who granted it (`None` when granted by a system scope).
    pub assigned_by: Option<UserId>,
    /// When it was granted or last changed; lists of memberships are ordered by it.
    pub assigned_at: DateTime<Utc>,
    /// Temporary access ends here; a passed expiry grants nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use recorded by [`BrandRepo::touch_access`].
    pub last_accessed_at: Option<DateTime<Utc>>,
    /// Uses recorded so far by [`BrandRepo::touch_access`].
    pub access_count: i32,
}

const MEMBERSHIP_COLUMNS: &str = "id, user_id, brand_id, role, assigned_by, assigned_at, expires_at, \
    last_accessed_at, access_count";

fn membership_key(m: &Membership) -> (DateTime<Utc>, uuid::Uuid) {
    (m.assigned_at, m.id.as_uuid())
}

impl BrandRepo<'_> {
    /// Grants `user` a role in `brand`, or replaces the role they have (with its expiry). Brand
    /// admins (and platform admins) may; anyone else gets [`Error::Forbidden`]. `expires_at` makes
    /// the access temporary: once it passes, the role grants nothing.
    pub async fn grant(
        &mut self,
        brand: BrandId,
        user: UserId,
        role: BrandRole,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Membership> {
        let sql = format!(
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role, assigned_by, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, brand_id) DO UPDATE
                SET role = EXCLUDED.role, assigned_by = EXCLUDED.assigned_by, assigned_at = now(),
                    expires_at = EXCLUDED.expires_at
             RETURNING {MEMBERSHIP_COLUMNS}"
        );
        let membership = sqlx::query_as::<_, Membership>(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .bind(brand)
            .bind(role)
            .bind(self.ctx.user())
            .bind(expires_at)
            .fetch_one(self.ctx.conn())
            .await?;
        Ok(membership)
    }

    /// Changes the role `user` already holds in `brand`, keeping its expiry and access counters;
    /// records the acting user and the time as the new assignment.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the user holds no role there (or it is not visible);
    /// [`Error::Forbidden`] when the membership is visible but the acting user is not the brand's
    /// admin.
    pub async fn change_role(
        &mut self,
        brand: BrandId,
        user: UserId,
        role: BrandRole,
    ) -> Result<Membership> {
        let sql = format!(
            "UPDATE mixerai.user_brand_roles SET role = $3, assigned_by = $4, assigned_at = now()
             WHERE brand_id = $1 AND user_id = $2 RETURNING {MEMBERSHIP_COLUMNS}"
        );
        let changed = sqlx::query_as::<_, Membership>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(user)
            .bind(role)
            .bind(self.ctx.user())
            .fetch_optional(self.ctx.conn())
            .await?;
        match changed {
            Some(m) => Ok(m),
            None => Err(self.membership_refused_or_missing(brand, user).await?),
        }
    }

    /// Takes away the role `user` holds in `brand`.
    ///
    /// # Errors
    /// As [`change_role`](Self::change_role).
    pub async fn revoke(&mut self, brand: BrandId, user: UserId) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2",
        )
        .bind(brand)
        .bind(user)
        .execute(self.ctx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.membership_refused_or_missing(brand, user).await?);
        }
        Ok(())
    }

    async fn membership_refused_or_missing(
        &mut self,
        brand: BrandId,
        user: UserId,
    ) -> Result<Error> {
        let visible: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2)",
        )
        .bind(brand)
        .bind(user)
        .fetch_one(self.ctx.conn())
        .await?;
        Ok(if visible {
            Error::forbidden("only a brand admin may change its members' roles")
        } else {
            Error::NotFound {
                entity: "membership",
            }
        })
    }

    /// One page of the members of `brand` visible in the scope, newest assignment first, expired
    /// roles included (they show who had access until when). Changing a role moves it to the front.
    pub async fn members(
        &mut self,
        brand: BrandId,
        page: &PageRequest,
    ) -> Result<Page<Membership>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM mixerai.user_brand_roles
             WHERE brand_id = $1 AND ($2::timestamptz IS NULL OR (assigned_at, id) < ($2, $3))
             ORDER BY assigned_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query_as::<_, Membership>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.ctx.conn())
            .await?;
        Ok(Page::from_rows(rows, page, membership_key))
    }

    /// One page of `user`'s live memberships (not expired, in brands not soft-deleted), newest
    /// first: the brands the user can open a scope for.
    ///
    /// A [`SystemScope`](crate::SystemScope) job: a tenant scope sees only its own brand's rows, so
    /// there it returns at most the scope's brand. A host that shows a user "my brands" before any
    /// brand is chosen calls this in a system scope with the signed-in user's id.
    pub async fn memberships_of(
        &mut self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<Membership>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM mixerai.user_brand_roles r
             WHERE r.user_id = $1 AND (r.expires_at IS NULL OR r.expires_at > now())
               AND EXISTS (SELECT 1 FROM mixerai.brands b WHERE b.id = r.brand_id AND b.deleted_at IS NULL)
               AND ($2::timestamptz IS NULL OR (r.assigned_at, r.id) < ($2, $3))
             ORDER BY r.assigned_at DESC, r.id DESC LIMIT $4"
        );
        let rows = sqlx::query_as::<_, Membership>(sqlx::AssertSqlSafe(sql))
            .bind(user)
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.ctx.conn())
            .await?;
        Ok(Page::from_rows(rows, page, membership_key))
    }

    /// Records one use of the acting user's role in the scope's brand: `last_accessed_at = now()`,
    /// `access_count + 1`. Call it where the host counts a visit (e.g. once per session or page
    /// view), not on every request: it is a row write.
    ///
    /// Any member may, viewers included, through the `app_touch_brand_access()` helper
    /// (`migrations/0013_tenancy.sql`) rather than an `UPDATE` privilege on role rows. Concurrent
    /// calls each count: the increment is one atomic `UPDATE`. An expired role, or a system scope
    /// (no acting user), records nothing.
    pub async fn touch_access(&mut self) -> Result<()> {
        sqlx::query("SELECT mixerai.app_touch_brand_access()")
            .execute(self.ctx.conn())
            .await?;
        Ok(())
    }
}
