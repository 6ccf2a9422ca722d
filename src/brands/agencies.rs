//! Vetting agencies: who checks a brand's claims, tried in priority order
//! (`brand_vetting_agencies`). Brand admins write; members read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BrandRepo;
use crate::types::{BrandId, VettingAgencyId, non_blank};
use crate::{Error, Result, ValidationErrors};

/// One agency that vets a brand's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct VettingAgency {
    /// Primary key.
    pub id: VettingAgencyId,
    /// The brand it vets for.
    pub brand_id: BrandId,
    /// Name, unique within the brand.
    pub agency_name: String,
    /// Lower comes first.
    pub priority: i32,
    /// Whether it is still used; deactivated agencies are kept for the record.
    pub is_active: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

const AGENCY_COLUMNS: &str = "id, brand_id, agency_name, priority, is_active, created_at";

/// A validated new vetting agency; build one with [`NewVettingAgency::builder`].
#[derive(Debug, Clone)]
pub struct NewVettingAgency {
    agency_name: String,
    priority: i32,
}

impl NewVettingAgency {
    /// Starts a builder; [`NewVettingAgencyBuilder::build`] reports every problem at once.
    pub fn builder() -> NewVettingAgencyBuilder {
        NewVettingAgencyBuilder::default()
    }
}

/// Raw input for a [`NewVettingAgency`].
#[derive(Debug, Clone, Default)]
pub struct NewVettingAgencyBuilder {
    agency_name: String,
    priority: i32,
}

impl NewVettingAgencyBuilder {
    /// Name (required, not blank, at most 255 characters, unique within the brand).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.agency_name = v.into();
        self
    }
    /// Priority; lower is tried first (default 0).
    pub fn priority(mut self, v: i32) -> Self {
        self.priority = v;
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewVettingAgency, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        errors.check("agency_name", non_blank(&self.agency_name, 255));
        errors.into_result()?;
        Ok(NewVettingAgency {
            agency_name: self.agency_name,
            priority: self.priority,
        })
    }
}

/// A change to a vetting agency: a new name, a new priority, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VettingAgencyPatch {
    agency_name: Option<String>,
    priority: Option<i32>,
}

impl VettingAgencyPatch {
    /// A patch that renames the agency (not blank, at most 255 characters) and/or moves it to a new
    /// priority. Validated here, every problem at once.
    pub fn new(agency_name: Option<&str>, priority: Option<i32>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(name) = agency_name {
            errors.check("agency_name", non_blank(name, 255));
        }
        errors.into_result()?;
        Ok(Self {
            agency_name: agency_name.map(str::to_owned),
            priority,
        })
    }
}

impl BrandRepo<'_> {
    /// Adds a vetting agency to `brand`. Brand admins may.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `brand_vetting_agencies_name_key` when the brand already has an agency
    /// of that name; [`Error::Forbidden`] for anyone but a brand admin in a tenant scope.
    pub async fn add_vetting_agency(
        &mut self,
        brand: BrandId,
        new: &NewVettingAgency,
    ) -> Result<VettingAgency> {
        let sql = format!(
            "INSERT INTO mixerai.brand_vetting_agencies (brand_id, agency_name, priority) VALUES ($1, $2, $3)
             RETURNING {AGENCY_COLUMNS}"
        );
        Ok(sqlx::query_as::<_, VettingAgency>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(&new.agency_name)
            .bind(new.priority)
            .fetch_one(self.ctx.conn())
            .await?)
    }

    /// The vetting agencies of `brand` visible in the scope, in the order they are tried: active
    /// first, then by priority (lower first), then by name.
    ///
    /// Not paginated, unlike the crate's other lists: a brand works with a handful of agencies, and
    /// the order callers need (priority) is not the creation order a [`Cursor`](crate::Cursor)
    /// follows. Served by `idx_brand_vetting_agencies_brand (brand_id, priority)`.
    pub async fn vetting_agencies(&mut self, brand: BrandId) -> Result<Vec<VettingAgency>> {
        let sql = format!(
            "SELECT {AGENCY_COLUMNS} FROM mixerai.brand_vetting_agencies WHERE brand_id = $1
             ORDER BY is_active DESC, priority, agency_name, id"
        );
        Ok(sqlx::query_as::<_, VettingAgency>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .fetch_all(self.ctx.conn())
            .await?)
    }

    /// Renames an agency and/or changes its priority. Brand admins may.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `brand_vetting_agencies_name_key`; [`Error::NotFound`] when the agency
    /// is not visible; [`Error::Forbidden`] when it is visible but the acting user is not an admin.
    pub async fn update_vetting_agency(
        &mut self,
        id: VettingAgencyId,
        patch: &VettingAgencyPatch,
    ) -> Result<VettingAgency> {
        let sql = format!(
            "UPDATE mixerai.brand_vetting_agencies
             SET agency_name = coalesce($2, agency_name), priority = coalesce($3, priority)
             WHERE id = $1 RETURNING {AGENCY_COLUMNS}"
        );
        let updated = sqlx::query_as::<_, VettingAgency>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(&patch.agency_name)
            .bind(patch.priority)
            .fetch_optional(self.ctx.conn())
            .await?;
        match updated {
            Some(a) => Ok(a),
            None => Err(self.agency_refused_or_missing(id).await?),
        }
    }

    /// Deactivates (`false`) or reactivates (`true`) an agency. Deactivated agencies stay listed,
    /// after the active ones, so the record of who vetted what survives. Brand admins may.
    ///
    /// # Errors
    /// As [`update_vetting_agency`](Self::update_vetting_agency).
    pub async fn set_vetting_agency_active(
        &mut self,
        id: VettingAgencyId,
        active: bool,
    ) -> Result<VettingAgency> {
        let sql = format!(
            "UPDATE mixerai.brand_vetting_agencies SET is_active = $2 WHERE id = $1 RETURNING {AGENCY_COLUMNS}"
        );
        let updated = sqlx::query_as::<_, VettingAgency>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(active)
            .fetch_optional(self.ctx.conn())
            .await?;
        match updated {
            Some(a) => Ok(a),
            None => Err(self.agency_refused_or_missing(id).await?),
        }
    }

    async fn agency_refused_or_missing(&mut self, id: VettingAgencyId) -> Result<Error> {
        let visible: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mixerai.brand_vetting_agencies WHERE id = $1)",
        )
        .bind(id)
        .fetch_one(self.ctx.conn())
        .await?;
        Ok(if visible {
            Error::forbidden("only a brand admin may change its vetting agencies")
        } else {
            Error::NotFound {
                entity: "vetting agency",
            }
        })
    }
}
