//! What a brand is (its identity, voice, look, settings and place in the hierarchy), what a membership
//! is (one user's role in one brand), and what a vetting agency is; with the column list of each.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::types::{
    BrandId, CountryCode, CurrencyCode, HexColor, LanguageCode, Slug, UserBrandRoleId, UserId,
    VettingAgencyId,
};

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

/// What a brand stands for (`brands.identity`). Every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandIdentity {
    /// Mission statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<String>,
    /// Vision statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<String>,
    /// Values, each non-blank.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Unique selling proposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usp: Option<String>,
}

/// Which background a logo is drawn for (`brands.logo.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogoKind {
    /// For light backgrounds.
    Light,
    /// For dark backgrounds.
    Dark,
    /// The full logo.
    Full,
}

text_enum!(LogoKind { Light => "light", Dark => "dark", Full => "full" });

/// A brand's logo (`brands.logo`), stored as `{url, altText, type}` as the spec names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandLogo {
    /// Absolute `http(s)` URL of the image.
    pub url: String,
    /// Text for readers who cannot see the image (not blank).
    #[serde(rename = "altText")]
    pub alt_text: String,
    /// Which background it is for.
    #[serde(rename = "type")]
    pub kind: LogoKind,
}

/// A brand's configuration (`brands.settings`), stored as `{contentTypes, features, integrations}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrandSettings {
    /// Content types the brand allows (each as `content.type`: not blank, at most 50 characters).
    #[serde(default)]
    pub content_types: Vec<String>,
    /// Enabled features, each non-blank.
    #[serde(default)]
    pub features: Vec<String>,
    /// Integration settings by integration name; any JSON without NUL characters.
    #[serde(default)]
    pub integrations: serde_json::Map<String, serde_json::Value>,
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
    /// Mission, vision, values, unique selling proposition.
    #[sqlx(json)]
    pub identity: BrandIdentity,
    /// How the brand sounds.
    pub tone_of_voice: Option<String>,
    /// How the brand communicates.
    pub communication_style: Option<String>,
    /// Personality traits.
    pub brand_personality: Vec<String>,
    /// Content rules every piece of content must follow.
    pub guardrails: Vec<String>,
    /// Messages content should carry.
    pub key_messages: Vec<String>,
    /// Who the brand speaks to.
    pub target_audience: Option<String>,
    /// ISO 3166-1 alpha-2 market.
    pub country: CountryCode,
    /// ISO 639-1 language.
    pub language: LanguageCode,
    /// ISO 4217 currency.
    pub currency: Option<CurrencyCode>,
    /// Logo; `None` when none was set.
    #[sqlx(json(nullable))]
    pub logo: Option<BrandLogo>,
    /// Colours; `None` when none were set.
    #[sqlx(json(nullable))]
    pub colors: Option<BrandColors>,
    /// Allowed content types, features, integrations.
    #[sqlx(json)]
    pub settings: BrandSettings,
    /// The parent brand of a sub-brand.
    pub parent_brand_id: Option<BrandId>,
    /// Brands whose claims this brand uses as master claims.
    pub master_claim_brand_ids: Vec<BrandId>,
    /// Changes so far, counting the creation: the optimistic-concurrency token every write names.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The columns of [`Brand`], for every statement that returns brands. The nullable arrays read as
/// empty lists, and colours stored as `{}` (the column's default, and what "no colours" is written
/// as) read as `None`, so the model has one way to say "none".
macro_rules! brand_columns {
    () => {
        "id, name, slug, description, identity, tone_of_voice, communication_style, \
         coalesce(brand_personality, '{}') AS brand_personality, guardrails, \
         coalesce(key_messages, '{}') AS key_messages, target_audience, country, language, currency, \
         logo, NULLIF(colors, '{}'::jsonb) AS colors, settings, parent_brand_id, \
         master_claim_brand_ids, version, created_by, created_at, updated_at, deleted_at"
    };
}
pub(crate) use brand_columns;

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

/// One user's role in one brand (a row of `user_brand_roles`).
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
    /// Extra permissions, as the host names them (the crate's policies read only `role`).
    pub permissions: Vec<String>,
    /// Restrictions, as the host names them (the crate's policies read only `role`).
    pub restrictions: Vec<String>,
    /// Who granted it, or changed it last (`None` when a system scope did).
    pub assigned_by: Option<UserId>,
    /// When it was granted or last changed; lists of memberships are ordered by it.
    pub assigned_at: DateTime<Utc>,
    /// Temporary access ends here; a passed expiry grants nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use recorded by [`BrandRepo::touch_access`](super::BrandRepo::touch_access).
    pub last_accessed_at: Option<DateTime<Utc>>,
    /// Uses recorded so far by [`BrandRepo::touch_access`](super::BrandRepo::touch_access).
    pub access_count: i32,
    /// Changes of the grant so far (role, permissions, restrictions, expiry, assignment), counting
    /// the grant: the optimistic-concurrency token. Access tracking does not count.
    pub version: i32,
}

/// The columns of [`Membership`].
macro_rules! membership_columns {
    () => {
        "id, user_id, brand_id, role, permissions, restrictions, assigned_by, assigned_at, \
         expires_at, last_accessed_at, access_count, version"
    };
}
pub(crate) use membership_columns;

/// One agency that vets a brand's claims (a row of `brand_vetting_agencies`).
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
    /// Changes so far, counting the creation: the optimistic-concurrency token.
    pub version: i32,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// The columns of [`VettingAgency`].
macro_rules! vetting_agency_columns {
    () => {
        "id, brand_id, agency_name, priority, is_active, version, created_at"
    };
}
pub(crate) use vetting_agency_columns;
