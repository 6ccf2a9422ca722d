//! The brand repository: every statement that reads or writes `mixerai.brands`. Memberships
//! (`members.rs`) and vetting agencies (`agencies.rs`) are further `impl` blocks of the same
//! [`BrandRepo`], one file each.

use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{BrandFilter, BrandPatch, NewBrand, brand_input_columns};
use super::model::{Brand, brand_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::{BrandId, UserId};
use crate::{Error, Result, ValidationErrors};

/// What [`why_unchanged`] reads to tell a stale write from a missing row.
const PROBE: &str = "SELECT version, deleted_at IS NOT NULL FROM mixerai.brands WHERE id = $1";

/// Brands, memberships and vetting agencies over one scope's transaction. Which scope may do what is
/// in the [module docs](super).
#[derive(Debug)]
pub struct BrandRepo<'s> {
    pub(super) ctx: &'s mut Ctx,
}

/// The hierarchy's refusals (triggers and checks of `brands`) as a validation error on the field the
/// caller set, with a reason that says which rule it broke.
fn hierarchy_error(err: sqlx::Error) -> Error {
    let reason = match err.as_database_error().and_then(|e| e.constraint()) {
        Some("brands_no_cycle") => "would make the brand its own ancestor",
        Some("brands_not_own_parent") => "a brand cannot be its own parent",
        _ => return err.into(),
    };
    Error::Invalid(ValidationErrors::single("parent_brand_id", reason))
}

/// Appends the conditions of `filter` that are set, so each shape gets a plan of its own.
fn push_filter(q: &mut QueryBuilder<Postgres>, filter: &BrandFilter) {
    q.push(filter.deleted.condition());
    if let Some(country) = filter.country {
        q.push(" AND country = ").push_bind(country);
    }
}

impl<'s> BrandRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a brand with the id [`NewBrand::id`], recording `created_by`. A system scope may; in a
    /// tenant scope only a platform admin, in a scope opened for [`NewBrand::id`].
    ///
    /// # Errors
    /// [`Error::Conflict`] on `brands_name_key` (field `name`) or `brands_slug_key` (field `slug`)
    /// when the name or slug is taken, by a soft-deleted brand too; [`Error::InvalidReference`] when
    /// the parent (`brands_parent_brand_id_fkey`) or a master claim brand
    /// (`brands_master_claim_brand_ids_fkey`) does not exist; [`Error::Forbidden`] in a tenant scope
    /// of anyone but a platform admin.
    #[tracing::instrument(name = "mixerai.brands.create", parent = self.ctx.span(), skip_all, fields(id = %new.id), err(level = "debug"))]
    pub async fn create(&mut self, new: &NewBrand, created_by: UserId) -> Result<Brand> {
        sqlx::query_as::<_, Brand>(concat!(
            "INSERT INTO mixerai.brands (id, created_by, ",
            brand_input_columns!(),
            ") SELECT $1, $2, ",
            brand_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.brands, $3) RETURNING ",
            brand_columns!()
        ))
        .bind(new.id)
        .bind(created_by)
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await
        .map_err(hierarchy_error)
    }

    /// The live brand with this id, if visible in the scope. [`Error::NotFound`] when absent,
    /// soft-deleted or not visible.
    #[tracing::instrument(name = "mixerai.brands.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: BrandId) -> Result<Brand> {
        sqlx::query_as::<_, Brand>(concat!(
            "SELECT ",
            brand_columns!(),
            " FROM mixerai.brands WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "brand" })
    }

    /// The brand with this id, soft-deleted or not (its `deleted_at` says which): for finding what to
    /// restore. [`Error::NotFound`] when absent or not visible; a tenant scope sees a soft-deleted
    /// brand only as a platform admin.
    #[tracing::instrument(name = "mixerai.brands.get_including_deleted", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get_including_deleted(&mut self, id: BrandId) -> Result<Brand> {
        sqlx::query_as::<_, Brand>(concat!(
            "SELECT ",
            brand_columns!(),
            " FROM mixerai.brands WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "brand" })
    }

    /// One page of the brands visible in the scope that match `filter`, newest first: every brand in
    /// a system scope, at most the scope's own brand in a tenant scope (the policies decide). Live
    /// brands are served by `idx_brands_created`.
    #[tracing::instrument(name = "mixerai.brands.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &BrandFilter,
        request: &PageRequest,
    ) -> Result<Page<Brand>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            brand_columns!(),
            " FROM mixerai.brands WHERE true"
        ));
        push_filter(&mut q, filter);
        page(self.conn(), q, request, BY_CREATION, |b: &Brand| {
            (b.created_at, b.id.as_uuid())
        })
        .await
    }

    /// One page of the sub-brands of `parent` that match `filter`, newest first (live ones are served
    /// by `idx_brands_parent_created`). Sub-brands are other tenants, so this is
    /// [`SystemScope`](crate::SystemScope) work: a tenant scope sees none.
    #[tracing::instrument(name = "mixerai.brands.sub_brands", parent = self.ctx.span(), skip_all, fields(parent = %parent), err(level = "debug"))]
    pub async fn sub_brands(
        &mut self,
        parent: BrandId,
        filter: &BrandFilter,
        request: &PageRequest,
    ) -> Result<Page<Brand>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            brand_columns!(),
            " FROM mixerai.brands WHERE parent_brand_id = "
        ));
        q.push_bind(parent);
        push_filter(&mut q, filter);
        page(self.conn(), q, request, BY_CREATION, |b: &Brand| {
            (b.created_at, b.id.as_uuid())
        })
        .await
    }

    /// Applies `patch` to a live brand if it is still at `expected_version` (the `version` the caller
    /// read); the database adds one to the version. Brand admins may in a tenant scope. An empty patch
    /// writes nothing (no new version, no audit event) and returns the brand.
    ///
    /// # Errors
    /// - [`Error::Stale`] when the brand changed since it was read, with the version it is at; nothing
    ///   is written;
    /// - [`Error::Conflict`] on `brands_name_key` / `brands_slug_key`;
    /// - [`Error::Invalid`] on `parent_brand_id` when the new parent is the brand itself or would close
    ///   a cycle, and on `master_claim_brand_ids[i]` when the list names the brand itself;
    /// - [`Error::InvalidReference`] when the parent or a master claim brand does not exist;
    /// - [`Error::NotFound`] when there is no such live brand in the scope;
    /// - [`Error::Forbidden`] when the brand is visible but the acting user is not its admin.
    #[tracing::instrument(name = "mixerai.brands.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: BrandId,
        expected_version: i32,
        patch: &BrandPatch,
    ) -> Result<Brand> {
        patch.check_for(id)?;
        if patch.is_empty() {
            let current = self.get(id).await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "brand",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        // Every input column is assigned: from the patch where it is set, else from the row itself
        // (jsonb_populate_record over `t`), so one static statement serves every patch.
        let updated = sqlx::query_as::<_, Brand>(concat!(
            "UPDATE mixerai.brands AS t SET (",
            brand_input_columns!(),
            ") = (SELECT ",
            brand_input_columns!(),
            " FROM jsonb_populate_record(t, $3))
             WHERE t.id = $1 AND t.version = $2 AND t.deleted_at IS NULL RETURNING ",
            brand_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .fetch_optional(self.conn())
        .await
        .map_err(hierarchy_error)?;
        match updated {
            Some(brand) => Ok(brand),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    async fn refused(&mut self, id: BrandId, expected: i32, needs: Needs) -> Result<Error> {
        why_unchanged(self.conn(), PROBE, "brand", id.as_uuid(), expected, needs).await
    }

    /// Soft-deletes a live brand at `expected_version` and returns it as it is now: it leaves `get`,
    /// `list` and `sub_brands`; its rows, name and slug are kept for [`restore`](Self::restore). Its
    /// members' roles grant nothing while it is deleted (their scopes see none of its rows); platform
    /// admins keep access, to restore it. A system scope or a platform admin may.
    ///
    /// # Errors
    /// [`Error::Stale`] when it changed since it was read; [`Error::NotFound`] when there is no such
    /// live brand in the scope; [`Error::Forbidden`] for anyone else in a tenant scope.
    #[tracing::instrument(name = "mixerai.brands.soft_delete", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn soft_delete(&mut self, id: BrandId, expected_version: i32) -> Result<Brand> {
        let deleted = sqlx::query_as::<_, Brand>(concat!(
            "UPDATE mixerai.brands SET deleted_at = now()
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL RETURNING ",
            brand_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match deleted {
            Some(brand) => Ok(brand),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Brings a soft-deleted brand at `expected_version` back. Never conflicts: its name and slug
    /// stayed reserved. A system scope or a platform admin may.
    ///
    /// # Errors
    /// [`Error::Stale`] when it changed since it was read; [`Error::NotFound`] when there is no such
    /// soft-deleted brand in the scope (its former members no longer see it); [`Error::Forbidden`]
    /// for anyone else in a tenant scope.
    #[tracing::instrument(name = "mixerai.brands.restore", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn restore(&mut self, id: BrandId, expected_version: i32) -> Result<Brand> {
        let restored = sqlx::query_as::<_, Brand>(concat!(
            "UPDATE mixerai.brands SET deleted_at = NULL
             WHERE id = $1 AND version = $2 AND deleted_at IS NOT NULL RETURNING ",
            brand_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match restored {
            Some(brand) => Ok(brand),
            None => Err(self.refused(id, expected_version, Needs::Deleted).await?),
        }
    }
}
