//! Memberships: the roles users hold in brands (`user_brand_roles`), and access tracking. The part of
//! [`BrandRepo`] that reads and writes them.

use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::BrandRepo;
use super::input::{MemberFilter, MembershipPatch, NewMembership, membership_input_columns};
use super::model::{Membership, membership_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{Keyset, Needs, page, why_unchanged};
use crate::types::{BrandId, UserId};
use crate::{Error, Result};

/// What [`why_unchanged`] reads to tell a stale write from a missing membership (memberships are
/// never soft-deleted).
const PROBE: &str = "SELECT version, false FROM mixerai.user_brand_roles WHERE id = $1";

/// Memberships are listed newest assignment first: a changed role moves to the front. Served by
/// `idx_user_brand_roles_brand_assigned` and `idx_user_brand_roles_user_assigned`.
const BY_ASSIGNMENT: Keyset = Keyset {
    at: "assigned_at",
    id: "id",
};

/// A tenant scope reads other people only through `user_profiles`, which shows the live users who
/// hold a role in the scope's brand (and the acting user); `users` itself shows it only the acting
/// user.
const LIVE_USER_TENANT: &str =
    " AND EXISTS (SELECT 1 FROM mixerai.user_profiles p WHERE p.id = r.user_id)";

/// A system scope reads `users` directly; `user_profiles` is empty without an acting user.
const LIVE_USER_SYSTEM: &str = " AND EXISTS (SELECT 1 FROM mixerai.users u \
     WHERE u.id = r.user_id AND u.deleted_at IS NULL)";

impl BrandRepo<'_> {
    /// Grants `user` a role in `brand`, recording the acting user as `assigned_by` (`None` in a
    /// system scope). Brand admins (and platform admins) may; a system scope may always. An
    /// `expires_at` makes the access temporary: once it passes, the role grants nothing.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `user_brand_roles_user_brand_key` (field `user_id`) when the user
    /// already holds a role there, expired or not: change it with [`change_role`](Self::change_role);
    /// [`Error::InvalidReference`] when the user or brand does not exist; [`Error::Forbidden`] for
    /// anyone but a brand admin in a tenant scope.
    #[tracing::instrument(name = "mixerai.brands.grant", parent = self.ctx.span(), skip_all, fields(brand = %brand, user = %user), err(level = "debug"))]
    pub async fn grant(
        &mut self,
        brand: BrandId,
        user: UserId,
        new: &NewMembership,
    ) -> Result<Membership> {
        let assigned_by = self.ctx.user();
        Ok(sqlx::query_as::<_, Membership>(concat!(
            "INSERT INTO mixerai.user_brand_roles (brand_id, user_id, assigned_by, ",
            membership_input_columns!(),
            ") SELECT $1, $2, $3, ",
            membership_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.user_brand_roles, $4) RETURNING ",
            membership_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(assigned_by)
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await?)
    }

    /// The role `user` holds in `brand`, expired or not (so that an expired one can be extended).
    /// [`Error::NotFound`] when there is none, or it is not visible in the scope.
    #[tracing::instrument(name = "mixerai.brands.membership", parent = self.ctx.span(), skip_all, fields(brand = %brand, user = %user), err(level = "debug"))]
    pub async fn membership(&mut self, brand: BrandId, user: UserId) -> Result<Membership> {
        sqlx::query_as::<_, Membership>(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2"
        ))
        .bind(brand)
        .bind(user)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound {
            entity: "membership",
        })
    }

    /// Applies `patch` to the role `user` holds in `brand` (its role, expiry, permissions or
    /// restrictions) if it is still at `expected_version`, and records the acting user and the time as
    /// the new assignment. Access counters are kept. An empty patch writes nothing and returns the
    /// membership.
    ///
    /// # Errors
    /// [`Error::Stale`] when the membership changed since it was read (nothing is written);
    /// [`Error::NotFound`] when the user holds no role there (or it is not visible);
    /// [`Error::Forbidden`] when the membership is visible but the acting user is not the brand's
    /// admin.
    #[tracing::instrument(name = "mixerai.brands.change_role", parent = self.ctx.span(), skip_all, fields(brand = %brand, user = %user), err(level = "debug"))]
    pub async fn change_role(
        &mut self,
        brand: BrandId,
        user: UserId,
        expected_version: i32,
        patch: &MembershipPatch,
    ) -> Result<Membership> {
        if patch.is_empty() {
            let current = self.membership(brand, user).await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "membership",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        let assigned_by = self.ctx.user();
        let changed = sqlx::query_as::<_, Membership>(concat!(
            "UPDATE mixerai.user_brand_roles AS t SET (",
            membership_input_columns!(),
            ") = (SELECT ",
            membership_input_columns!(),
            " FROM jsonb_populate_record(t, $4)), assigned_by = $5, assigned_at = now()
             WHERE t.brand_id = $1 AND t.user_id = $2 AND t.version = $3 RETURNING ",
            membership_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .bind(assigned_by)
        .fetch_optional(self.conn())
        .await?;
        match changed {
            Some(m) => Ok(m),
            None => Err(self
                .membership_refused(brand, user, expected_version)
                .await?),
        }
    }

    /// Takes away the role `user` holds in `brand`, if it is still at `expected_version`, and returns
    /// it as it was. The row is deleted (the audit trail keeps it).
    ///
    /// # Errors
    /// As [`change_role`](Self::change_role).
    #[tracing::instrument(name = "mixerai.brands.revoke", parent = self.ctx.span(), skip_all, fields(brand = %brand, user = %user), err(level = "debug"))]
    pub async fn revoke(
        &mut self,
        brand: BrandId,
        user: UserId,
        expected_version: i32,
    ) -> Result<Membership> {
        let revoked = sqlx::query_as::<_, Membership>(concat!(
            "DELETE FROM mixerai.user_brand_roles
             WHERE brand_id = $1 AND user_id = $2 AND version = $3 RETURNING ",
            membership_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match revoked {
            Some(m) => Ok(m),
            None => Err(self
                .membership_refused(brand, user, expected_version)
                .await?),
        }
    }

    /// Why a write of the membership (`brand`, `user`) touched no row. [`why_unchanged`] probes by
    /// id, so the id is looked up first; none visible is [`Error::NotFound`].
    async fn membership_refused(
        &mut self,
        brand: BrandId,
        user: UserId,
        expected: i32,
    ) -> Result<Error> {
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM mixerai.user_brand_roles WHERE brand_id = $1 AND user_id = $2",
        )
        .bind(brand)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match id {
            Some(id) => {
                why_unchanged(self.conn(), PROBE, "membership", id, expected, Needs::Live).await
            }
            None => Ok(Error::NotFound {
                entity: "membership",
            }),
        }
    }

    /// Appends the conditions of `filter`: by default only roles that grant access now, of users who
    /// are not soft-deleted.
    fn push_member_filter(&self, q: &mut QueryBuilder<Postgres>, filter: &MemberFilter) {
        if let Some(role) = filter.role {
            q.push(" AND r.role = ").push_bind(role);
        }
        if !filter.include_expired {
            q.push(" AND (r.expires_at IS NULL OR r.expires_at > now())");
        }
        if !filter.include_deleted_users {
            q.push(if self.ctx.brand().is_some() {
                LIVE_USER_TENANT
            } else {
                LIVE_USER_SYSTEM
            });
        }
    }

    /// One page of the members of `brand` visible in the scope that match `filter`, newest
    /// assignment first. By default expired roles and soft-deleted users are left out; the filter's
    /// switches bring them back (e.g. to show who had access until when). A tenant scope sees the
    /// members of its own brand only, and only as a member.
    #[tracing::instrument(name = "mixerai.brands.members", parent = self.ctx.span(), skip_all, fields(brand = %brand), err(level = "debug"))]
    pub async fn members(
        &mut self,
        brand: BrandId,
        filter: &MemberFilter,
        request: &PageRequest,
    ) -> Result<Page<Membership>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM mixerai.user_brand_roles r WHERE r.brand_id = "
        ));
        q.push_bind(brand);
        self.push_member_filter(&mut q, filter);
        page(self.conn(), q, request, BY_ASSIGNMENT, |m: &Membership| {
            (m.assigned_at, m.id.as_uuid())
        })
        .await
    }

    /// One page of `user`'s memberships in brands that are not soft-deleted, matching `filter`,
    /// newest first. With the default filter: the brands the user can open a scope for.
    ///
    /// A [`SystemScope`](crate::SystemScope) job: a tenant scope sees only its own brand's rows, so
    /// there it returns at most the scope's brand. A host that shows a user "my brands" before any
    /// brand is chosen calls this in a system scope with the signed-in user's id.
    #[tracing::instrument(name = "mixerai.brands.memberships_of", parent = self.ctx.span(), skip_all, fields(user = %user), err(level = "debug"))]
    pub async fn memberships_of(
        &mut self,
        user: UserId,
        filter: &MemberFilter,
        request: &PageRequest,
    ) -> Result<Page<Membership>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM mixerai.user_brand_roles r
             WHERE EXISTS (SELECT 1 FROM mixerai.brands b WHERE b.id = r.brand_id AND b.deleted_at IS NULL)
               AND r.user_id = "
        ));
        q.push_bind(user);
        self.push_member_filter(&mut q, filter);
        page(self.conn(), q, request, BY_ASSIGNMENT, |m: &Membership| {
            (m.assigned_at, m.id.as_uuid())
        })
        .await
    }

    /// Records one use of the acting user's role in the scope's brand: `last_accessed_at = now()`,
    /// `access_count + 1`; the membership's `version` does not change. Call it where the host counts
    /// a visit (e.g. once per session or page view), not on every request: it is a row write.
    ///
    /// Any member may, viewers included, through the `app_touch_brand_access()` helper
    /// (`migrations/0005_user_brand_roles.sql`) rather than an `UPDATE` privilege on role rows.
    /// Concurrent calls each count: the increment is one atomic `UPDATE`. An expired role, or a system
    /// scope (no acting user), records nothing.
    #[tracing::instrument(name = "mixerai.brands.touch_access", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn touch_access(&mut self) -> Result<()> {
        sqlx::query("SELECT mixerai.app_touch_brand_access()")
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
