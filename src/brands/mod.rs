//! Brands (the tenants) and the roles users hold in them (spec 2.1, 2.2). Models, builders, repositories.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::text_enum::text_enum;
use crate::types::{
    BrandId, CountryCode, CurrencyCode, HexColor, LanguageCode, Slug, UserBrandRoleId, UserId,
    no_nul, non_blank,
};
use crate::{Error, Result, ValidationErrors};

/// A brand's colours (`brands.colors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandColors {
    /// Main colour.
    pub primary: HexColor,
    /// Second colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<HexColor>,
    /// Accent colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<HexColor>,
}

/// A brand, the unit of tenancy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Brand {
    /// Primary key; also the tenant id scopes are opened with.
    pub id: BrandId,
    /// Unique display name.
    pub name: String,
    /// Unique URL name.
    pub slug: Slug,
    /// Free text.
    pub description: Option<String>,
    /// ISO 3166-1 alpha-2 market.
    pub country: CountryCode,
    /// ISO 639-1 language.
    pub language: LanguageCode,
    /// ISO 4217 currency.
    pub currency: Option<CurrencyCode>,
    /// Colours; `None` when none were set.
    pub colors: Json<serde_json::Value>,
    /// The parent brand of a sub-brand.
    pub parent_brand_id: Option<BrandId>,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

const BRAND_COLUMNS: &str = "id, name, slug, description, country, language, currency, colors, \
    parent_brand_id, created_by, created_at, updated_at, deleted_at";

/// A validated new brand; build one with [`NewBrand::builder`].
#[derive(Debug, Clone)]
pub struct NewBrand {
    id: BrandId,
    name: String,
    slug: Slug,
    description: Option<String>,
    country: CountryCode,
    language: LanguageCode,
    currency: Option<CurrencyCode>,
    colors: Option<BrandColors>,
    parent_brand_id: Option<BrandId>,
}

impl NewBrand {
    /// Starts a builder; [`NewBrandBuilder::build`] reports every problem at once.
    pub fn builder() -> NewBrandBuilder {
        NewBrandBuilder::default()
    }

    /// The id the brand will have. Chosen up front so a platform admin can open a scope for the brand
    /// before it exists, and create it inside that scope.
    pub fn id(&self) -> BrandId {
        self.id
    }
}

/// Raw input for a [`NewBrand`].
#[derive(Debug, Clone, Default)]
pub struct NewBrandBuilder {
    name: String,
    slug: Option<String>,
    description: Option<String>,
    country: String,
    language: String,
    currency: Option<String>,
    primary_color: Option<String>,
    secondary_color: Option<String>,
    accent_color: Option<String>,
    parent_brand_id: Option<BrandId>,
}

impl NewBrandBuilder {
    /// Display name (required, unique, at most 255 characters).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = v.into();
        self
    }
    /// URL name (default: derived from the name).
    pub fn slug(mut self, v: impl Into<String>) -> Self {
        self.slug = Some(v.into());
        self
    }
    /// Free text.
    pub fn description(mut self, v: impl Into<String>) -> Self {
        self.description = Some(v.into());
        self
    }
    /// ISO 3166-1 alpha-2 market (required).
    pub fn country(mut self, v: impl Into<String>) -> Self {
        self.country = v.into();
        self
    }
    /// ISO 639-1 language (required).
    pub fn language(mut self, v: impl Into<String>) -> Self {
        self.language = v.into();
        self
    }
    /// ISO 4217 currency.
    pub fn currency(mut self, v: impl Into<String>) -> Self {
        self.currency = Some(v.into());
        self
    }
    /// Colours as hex strings; `primary` is required once any colour is given.
    pub fn colors(
        mut self,
        primary: impl Into<String>,
        secondary: Option<&str>,
        accent: Option<&str>,
    ) -> Self {
        self.primary_color = Some(primary.into());
        self.secondary_color = secondary.map(str::to_owned);
        self.accent_color = accent.map(str::to_owned);
        self
    }
    /// Makes this a sub-brand of `parent`.
    pub fn parent(mut self, parent: BrandId) -> Self {
        self.parent_brand_id = Some(parent);
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewBrand, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = errors
            .check("name", non_blank(&self.name, 255))
            .map(str::to_owned);
        let slug = match &self.slug {
            Some(s) => errors.check("slug", Slug::parse(s)),
            None => Slug::from_title(&self.name).or_else(|| {
                // A blank name is already reported; a derived slug is only missing for a valid name.
                if name.is_some() {
                    errors.push("slug", "cannot be derived from the name; give one");
                }
                None
            }),
        };
        if slug
            .as_ref()
            .is_some_and(|s| s.as_str().chars().count() > Slug::BRAND_MAX_CHARS)
        {
            errors.push("slug", "longer than 255 characters");
        }
        let description = match &self.description {
            Some(d) => errors
                .check("description", no_nul(d))
                .map(|d| Some(d.to_owned())),
            None => Some(None),
        };
        let country = errors.check("country", CountryCode::parse(&self.country));
        let language = errors.check("language", LanguageCode::parse(&self.language));
        let currency = match &self.currency {
            Some(c) => errors.check("currency", CurrencyCode::parse(c)).map(Some),
            None => Some(None),
        };
        let mut colour = |field: &str, v: &Option<String>| match v {
            Some(c) => errors.check(field, HexColor::parse(c)).map(Some),
            None => Some(None),
        };
        let primary = colour("colors.primary", &self.primary_color);
        let secondary = colour("colors.secondary", &self.secondary_color);
        let accent = colour("colors.accent", &self.accent_color);
        errors.into_result()?;
        let colors = primary.flatten().map(|primary| BrandColors {
            primary,
            secondary: secondary.flatten(),
            accent: accent.flatten(),
        });
        Ok(NewBrand {
            id: BrandId::new(),
            name: name.expect("checked"),
            slug: slug.expect("checked"),
            description: description.expect("checked"),
            country: country.expect("checked"),
            language: language.expect("checked"),
            currency: currency.expect("checked"),
            colors,
            parent_brand_id: self.parent_brand_id,
        })
    }
}

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
    /// Who granted it.
    pub assigned_by: Option<UserId>,
    /// When it was granted.
    pub assigned_at: DateTime<Utc>,
    /// Temporary access ends here; a passed expiry grants nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use.
    pub last_accessed_at: Option<DateTime<Utc>>,
    /// Uses so far.
    pub access_count: i32,
}

const MEMBERSHIP_COLUMNS: &str = "id, user_id, brand_id, role, assigned_by, assigned_at, expires_at, last_accessed_at, access_count";

/// Brands and memberships repository over one scope's transaction.
#[derive(Debug)]
pub struct BrandRepo<'s> {
    conn: &'s mut PgConnection,
    actor: Option<UserId>,
}

impl<'s> BrandRepo<'s> {
    pub(crate) fn new(conn: &'s mut PgConnection, actor: Option<UserId>) -> Self {
        Self { conn, actor }
    }

    /// Creates a brand, recording `created_by`. In a tenant scope only a platform admin may, in a scope
    /// opened for [`NewBrand::id`]; a system scope may always. Taken name or slug is
    /// [`Error::Conflict`] (`brands_name_key`, `brands_slug_key`).
    pub async fn create(&mut self, new: &NewBrand, created_by: UserId) -> Result<Brand> {
        let sql = format!(
            "INSERT INTO brands (id, name, slug, description, country, language, currency, colors, parent_brand_id, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, '{{}}'::jsonb), $9, $10) RETURNING {BRAND_COLUMNS}"
        );
        let brand = sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(new.id)
            .bind(&new.name)
            .bind(&new.slug)
            .bind(&new.description)
            .bind(new.country)
            .bind(new.language)
            .bind(new.currency)
            .bind(new.colors.as_ref().map(Json))
            .bind(new.parent_brand_id)
            .bind(created_by)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(brand)
    }

    /// The brand with this id, if visible in the scope.
    pub async fn get(&mut self, id: BrandId) -> Result<Brand> {
        let sql = format!("SELECT {BRAND_COLUMNS} FROM brands WHERE id = $1");
        sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await?
            .ok_or(Error::NotFound { entity: "brand" })
    }

    /// Grants `user` a role in `brand`, or changes the role they have. Brand admins (and platform
    /// admins) may; anyone else gets [`Error::Forbidden`].
    pub async fn grant(
        &mut self,
        brand: BrandId,
        user: UserId,
        role: BrandRole,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Membership> {
        let sql = format!(
            "INSERT INTO user_brand_roles (user_id, brand_id, role, assigned_by, expires_at)
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
            .bind(self.actor)
            .bind(expires_at)
            .fetch_one(&mut *self.conn)
            .await?;
        Ok(membership)
    }

    /// The members of `brand` visible in the scope, oldest grant first.
    pub async fn members(&mut self, brand: BrandId) -> Result<Vec<Membership>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM user_brand_roles WHERE brand_id = $1 ORDER BY assigned_at, id"
        );
        Ok(sqlx::query_as::<_, Membership>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .fetch_all(&mut *self.conn)
            .await?)
    }
}
