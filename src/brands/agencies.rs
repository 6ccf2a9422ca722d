//! Vetting agencies: who checks a brand's claims, tried in priority order
//! (`brand_vetting_agencies`). The part of [`BrandRepo`] that reads and writes them: brand admins
//! write, members read.

use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};

use super::BrandRepo;
use super::input::{
    NewVettingAgency, VettingAgencyFilter, VettingAgencyPatch, vetting_agency_input_columns,
};
use super::model::{VettingAgency, vetting_agency_columns};
use crate::repo::{Needs, why_unchanged};
use crate::types::{BrandId, VettingAgencyId};
use crate::{Error, Result};

/// What [`why_unchanged`] reads to tell a stale write from a missing agency (agencies are never
/// soft-deleted).
const PROBE: &str = "SELECT version, false FROM mixerai.brand_vetting_agencies WHERE id = $1";

impl BrandRepo<'_> {
    /// Adds a vetting agency to `brand`. Brand admins may.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `brand_vetting_agencies_name_key` (field `agency_name`) when the brand
    /// already has an agency of that name; [`Error::Forbidden`] for anyone but a brand admin in a
    /// tenant scope.
    #[tracing::instrument(name = "mixerai.brands.create_vetting_agency", parent = self.ctx.span(), skip_all, fields(brand = %brand), err(level = "debug"))]
    pub async fn create_vetting_agency(
        &mut self,
        brand: BrandId,
        new: &NewVettingAgency,
    ) -> Result<VettingAgency> {
        sqlx::query_as::<_, VettingAgency>(concat!(
            "INSERT INTO mixerai.brand_vetting_agencies (brand_id, ",
            vetting_agency_input_columns!(),
            ") SELECT $1, ",
            vetting_agency_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.brand_vetting_agencies, $2) RETURNING ",
            vetting_agency_columns!()
        ))
        .bind(brand)
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await
        .map_err(Error::from)
    }

    /// The agency with this id, if visible in the scope; otherwise [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.brands.vetting_agency", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn vetting_agency(&mut self, id: VettingAgencyId) -> Result<VettingAgency> {
        sqlx::query_as::<_, VettingAgency>(concat!(
            "SELECT ",
            vetting_agency_columns!(),
            " FROM mixerai.brand_vetting_agencies WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound {
            entity: "vetting agency",
        })
    }

    /// Every vetting agency of `brand` visible in the scope that matches `filter`, in the order they
    /// are tried: active first, then by priority (lower first), then by name.
    ///
    /// The one list of the crate without a [`Cursor`](crate::Cursor): a brand works with a handful
    /// of agencies, and the order callers need (priority) is not the creation order a cursor follows.
    /// Served by `idx_brand_vetting_agencies_brand (brand_id, priority)`.
    #[tracing::instrument(name = "mixerai.brands.vetting_agencies", parent = self.ctx.span(), skip_all, fields(brand = %brand), err(level = "debug"))]
    pub async fn vetting_agencies(
        &mut self,
        brand: BrandId,
        filter: &VettingAgencyFilter,
    ) -> Result<Vec<VettingAgency>> {
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            vetting_agency_columns!(),
            " FROM mixerai.brand_vetting_agencies WHERE brand_id = "
        ));
        q.push_bind(brand);
        if let Some(active) = filter.is_active {
            q.push(" AND is_active = ").push_bind(active);
        }
        q.push(" ORDER BY is_active DESC, priority, agency_name, id");
        Ok(q.build_query_as::<VettingAgency>()
            .fetch_all(self.conn())
            .await?)
    }

    /// Applies `patch` (name, priority, activity) to an agency still at `expected_version`.
    /// Deactivating is a patch of `is_active`: a deactivated agency stays listed, after the active
    /// ones. Brand admins may. An empty patch writes nothing and returns the agency.
    ///
    /// # Errors
    /// [`Error::Stale`] when it changed since it was read (nothing is written); [`Error::Conflict`]
    /// on `brand_vetting_agencies_name_key` (field `agency_name`); [`Error::NotFound`] when the agency
    /// is not visible; [`Error::Forbidden`] when it is visible but the acting user is not an admin.
    #[tracing::instrument(name = "mixerai.brands.update_vetting_agency", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update_vetting_agency(
        &mut self,
        id: VettingAgencyId,
        expected_version: i32,
        patch: &VettingAgencyPatch,
    ) -> Result<VettingAgency> {
        if patch.is_empty() {
            let current = self.vetting_agency(id).await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "vetting agency",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        let updated = sqlx::query_as::<_, VettingAgency>(concat!(
            "UPDATE mixerai.brand_vetting_agencies AS t SET (",
            vetting_agency_input_columns!(),
            ") = (SELECT ",
            vetting_agency_input_columns!(),
            " FROM jsonb_populate_record(t, $3))
             WHERE t.id = $1 AND t.version = $2 RETURNING ",
            vetting_agency_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(agency) => Ok(agency),
            None => Err(self.agency_refused(id, expected_version).await?),
        }
    }

    /// Removes an agency still at `expected_version` and returns it as it was. The row is deleted
    /// (the audit trail keeps it); to keep an agency on record but stop using it, deactivate it with
    /// [`update_vetting_agency`](Self::update_vetting_agency). Brand admins may.
    ///
    /// # Errors
    /// [`Error::Stale`], [`Error::NotFound`] and [`Error::Forbidden`] as
    /// [`update_vetting_agency`](Self::update_vetting_agency).
    #[tracing::instrument(name = "mixerai.brands.remove_vetting_agency", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn remove_vetting_agency(
        &mut self,
        id: VettingAgencyId,
        expected_version: i32,
    ) -> Result<VettingAgency> {
        let removed = sqlx::query_as::<_, VettingAgency>(concat!(
            "DELETE FROM mixerai.brand_vetting_agencies WHERE id = $1 AND version = $2 RETURNING ",
            vetting_agency_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match removed {
            Some(agency) => Ok(agency),
            None => Err(self.agency_refused(id, expected_version).await?),
        }
    }

    async fn agency_refused(&mut self, id: VettingAgencyId, expected: i32) -> Result<Error> {
        why_unchanged(
            self.conn(),
            PROBE,
            "vetting agency",
            id.as_uuid(),
            expected,
            Needs::Live,
        )
        .await
    }
}
