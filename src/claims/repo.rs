//! The claim repository: every statement that reads or writes `mixerai.claims`.

use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{ClaimFilter, ClaimPatch, NewClaim, claim_input_columns};
use super::model::{Claim, claim_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::ClaimId;
use crate::{Error, Result};

/// What [`why_unchanged`] reads to tell a stale write from a missing row.
const PROBE: &str = "SELECT version, deleted_at IS NOT NULL FROM mixerai.claims WHERE id = $1";

/// Claim repository over one tenant scope: the scope's brand's claims, their resolution for a market
/// (`resolve.rs`), compliance checks of its content (`check.rs`), and the gate with its settings
/// (`gate.rs`).
///
/// Reads need a live role in the brand (viewer and up); writing claims and compliance settings needs
/// admin; recording a compliance check needs editor or admin: anyone else gets [`Error::Forbidden`].
/// Another brand's claims are invisible: reading or changing one is [`Error::NotFound`]. Resolution
/// alone reads the claims of the brand's parent and master claim brands, through
/// `mixerai.claims_resolve()`.
#[derive(Debug)]
pub struct ClaimRepo<'s> {
    pub(super) ctx: &'s mut Ctx,
}

impl<'s> ClaimRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a claim in the scope's brand, created and last updated by the scope's user, at
    /// version 1. Brand admins may; anyone else gets [`Error::Forbidden`].
    #[tracing::instrument(name = "mixerai.claims.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewClaim) -> Result<Claim> {
        let (user, brand) = self.ctx.tenant()?;
        Ok(sqlx::query_as::<_, Claim>(concat!(
            "INSERT INTO mixerai.claims (brand_id, created_by, updated_by, ",
            claim_input_columns!(),
            ") SELECT $1, $2, $2, ",
            claim_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.claims, $3) RETURNING ",
            claim_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await?)
    }

    /// The live claim with this id in the scope's brand. [`Error::NotFound`] when absent,
    /// soft-deleted or not visible.
    #[tracing::instrument(name = "mixerai.claims.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: ClaimId) -> Result<Claim> {
        sqlx::query_as::<_, Claim>(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM mixerai.claims WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "claim" })
    }

    /// The claim with this id in the scope's brand, soft-deleted or not (its `deleted_at` says which):
    /// for finding what to restore. [`Error::NotFound`] when absent or not visible.
    #[tracing::instrument(name = "mixerai.claims.get_including_deleted", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get_including_deleted(&mut self, id: ClaimId) -> Result<Claim> {
        sqlx::query_as::<_, Claim>(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM mixerai.claims WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "claim" })
    }

    /// Applies `patch` to a live claim if it is still at `expected_version` (the `version` the caller
    /// read), recording the scope's user as `updated_by`; the database adds one to the version.
    ///
    /// A patch that sets a field a rule relates to another (the effective range, countries and
    /// replacements) is first checked against the stored claim: every broken rule is reported
    /// together in [`Error::Invalid`] and nothing is written. A claim saved since is [`Error::Stale`]
    /// with the version it is at; an absent, deleted or invisible one is [`Error::NotFound`]; anyone but
    /// an admin is [`Error::Forbidden`]. An empty patch writes nothing (no new version, no audit event)
    /// and returns the claim.
    #[tracing::instrument(name = "mixerai.claims.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: ClaimId,
        expected_version: i32,
        patch: &ClaimPatch,
    ) -> Result<Claim> {
        if patch.is_empty() || patch.needs_whole_check() {
            let current = self.current(id, expected_version).await?;
            if patch.is_empty() {
                return Ok(current);
            }
            patch.check_whole(&current)?;
        }
        let user = self.ctx.tenant_user();
        // Every input column is assigned: from the patch where it is set, else from the row itself
        // (jsonb_populate_record over `t`), so one static statement serves every patch. The version
        // guard makes a check against the row read above and this write one step: a save in between
        // leaves the statement nothing to update.
        let updated = sqlx::query_as::<_, Claim>(concat!(
            "UPDATE mixerai.claims AS t SET (",
            claim_input_columns!(),
            ") = (SELECT ",
            claim_input_columns!(),
            " FROM jsonb_populate_record(t, $3)), updated_by = $4
             WHERE t.id = $1 AND t.version = $2 AND t.deleted_at IS NULL
             RETURNING ",
            claim_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(claim) => Ok(claim),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Soft-deletes a live claim at `expected_version`: it leaves lists and [`get`](Self::get), stays
    /// readable with [`get_including_deleted`](Self::get_including_deleted), and can be
    /// [restored](Self::restore); returns it as it is now. [`Error::Stale`] when it changed since,
    /// [`Error::NotFound`] when there is no such live claim, [`Error::Forbidden`] for anyone but an
    /// admin.
    #[tracing::instrument(name = "mixerai.claims.soft_delete", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn soft_delete(&mut self, id: ClaimId, expected_version: i32) -> Result<Claim> {
        let user = self.ctx.tenant_user();
        let deleted = sqlx::query_as::<_, Claim>(concat!(
            "UPDATE mixerai.claims SET deleted_at = now(), updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL RETURNING ",
            claim_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match deleted {
            Some(claim) => Ok(claim),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Brings a soft-deleted claim at `expected_version` back; returns it as it is now.
    /// [`Error::Stale`] when it changed since, [`Error::NotFound`] when there is no such deleted
    /// claim, [`Error::Forbidden`] for anyone but an admin.
    #[tracing::instrument(name = "mixerai.claims.restore", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn restore(&mut self, id: ClaimId, expected_version: i32) -> Result<Claim> {
        let user = self.ctx.tenant_user();
        let restored = sqlx::query_as::<_, Claim>(concat!(
            "UPDATE mixerai.claims SET deleted_at = NULL, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NOT NULL RETURNING ",
            claim_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match restored {
            Some(claim) => Ok(claim),
            None => Err(self.refused(id, expected_version, Needs::Deleted).await?),
        }
    }

    /// The live claim as stored, if it is still at `expected_version`; else [`Error::Stale`].
    async fn current(&mut self, id: ClaimId, expected_version: i32) -> Result<Claim> {
        let current = self.get(id).await?;
        if current.version == expected_version {
            Ok(current)
        } else {
            Err(Error::Stale {
                entity: "claim",
                expected: expected_version,
                actual: current.version,
            })
        }
    }

    async fn refused(&mut self, id: ClaimId, expected: i32, needs: Needs) -> Result<Error> {
        why_unchanged(self.conn(), PROBE, "claim", id.as_uuid(), expected, needs).await
    }

    /// One page of the brand's claims matching `filter`, newest first (`created_at DESC, id DESC`).
    ///
    /// Live claims are served by `idx_claims_brand_created` (brand, `created_at DESC`, `id DESC`, live
    /// rows only, migration 0010): the page is read in index order and the filters are applied on the
    /// way, so no sort and no OFFSET, at any depth.
    #[tracing::instrument(name = "mixerai.claims.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &ClaimFilter,
        request: &PageRequest,
    ) -> Result<Page<Claim>> {
        let brand = self.ctx.tenant_brand();
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            claim_columns!(),
            " FROM mixerai.claims WHERE brand_id = "
        ));
        q.push_bind(brand).push(filter.deleted.condition());
        // Only the conditions that are set reach the statement, so each shape gets a plan of its own.
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status);
        }
        if let Some(claim_type) = filter.claim_type {
            q.push(" AND type = ").push_bind(claim_type);
        }
        if let Some(level) = filter.level {
            q.push(" AND level = ").push_bind(level);
        }
        if let Some(country) = filter.country {
            // An empty list applies everywhere (see the module docs).
            q.push(" AND (countries = '{}' OR countries @> ARRAY[")
                .push_bind(country)
                .push("::text])");
        }
        if let Some(at) = filter.effective_at {
            q.push(" AND effective_from <= ")
                .push_bind(at)
                .push(" AND (effective_to IS NULL OR ")
                .push_bind(at)
                .push(" < effective_to)");
        }
        page(self.conn(), q, request, BY_CREATION, |c: &Claim| {
            (c.created_at, c.id.as_uuid())
        })
        .await
    }
}
