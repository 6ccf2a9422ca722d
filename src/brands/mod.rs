//! Brands (the tenants) and the roles users hold in them (spec 2.1, 2.2). Models, builders, repositories.
//!
//! # Which scope may do what
//! A tenant [`Scope`](crate::Scope) sees exactly one brand row, its own (`brands_scope` in
//! `migrations/0013_tenancy.sql`), so anything that reaches across brands is system-scope work:
//!
//! | method | tenant scope | [`SystemScope`](crate::SystemScope) |
//! |---|---|---|
//! | [`create`](BrandRepo::create) | platform admin, for [`NewBrand::id`] | yes |
//! | [`get`](BrandRepo::get), [`list`](BrandRepo::list) | the scope's brand (members) | every live brand |
//! | [`update`](BrandRepo::update) | brand admins | yes |
//! | [`soft_delete`](BrandRepo::soft_delete), [`restore`](BrandRepo::restore) | platform admins | yes |
//! | [`sub_brands`](BrandRepo::sub_brands) | nothing (sub-brands are other tenants) | yes |
//! | [`grant`](BrandRepo::grant), [`change_role`](BrandRepo::change_role), [`revoke`](BrandRepo::revoke) | brand admins | yes |
//! | [`members`](BrandRepo::members) | the scope's brand (members) | any brand |
//! | [`memberships_of`](BrandRepo::memberships_of) | the scope's brand only | every brand: the list a user picks a brand from |
//! | [`touch_access`](BrandRepo::touch_access) | records one use of the acting user's role | does nothing (no acting user) |
//! | vetting agencies: [`vetting_agencies`](BrandRepo::vetting_agencies) | members | yes |
//! | vetting agencies: [`add_vetting_agency`](BrandRepo::add_vetting_agency), [`update_vetting_agency`](BrandRepo::update_vetting_agency), [`set_vetting_agency_active`](BrandRepo::set_vetting_agency_active) | brand admins | yes |
//!
//! Refused writes are [`Error::Forbidden`] where PostgreSQL raises an error, and where a policy
//! silently filters the row out of an `UPDATE` or `DELETE`, the repository looks again and reports
//! [`Error::Forbidden`] if the row is visible, [`Error::NotFound`] if it is not.
//!
//! # Decisions
//! - **Soft delete**: a soft-deleted brand is not returned by [`get`](BrandRepo::get),
//!   [`list`](BrandRepo::list) or [`sub_brands`](BrandRepo::sub_brands); its name and slug stay taken
//!   (the unique keys cover deleted rows), so [`restore`](BrandRepo::restore) never conflicts. Only a
//!   platform admin or a system scope may soft-delete or restore (a trigger in
//!   `migrations/0014_people.sql`), since a brand admin could otherwise make their brand vanish for everyone.
//! - **Hierarchy**: `parent_brand_id` never forms a cycle (trigger `brands_no_cycle`); a refused
//!   parent is reported as [`Error::Invalid`] on the field `parent_brand_id`.
//! - **Master claim brands** must exist (a trigger, reported as [`Error::InvalidReference`] on
//!   `brands_master_claim_brand_ids_fkey`), must not repeat and must not name the brand itself.
//! - **Optimistic concurrency**: [`update`](BrandRepo::update) takes the `updated_at` the caller read;
//!   a changed row is [`Error::Conflict`] on [`BRANDS_STALE_VERSION`] and nothing is written.
//! - **Access tracking** is explicit ([`touch_access`](BrandRepo::touch_access)), not a side effect of
//!   opening a scope: recording it on every scope would add a row write (and a row lock that
//!   serialises a user's concurrent requests) to every read-only request.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::text_enum::text_enum;
use crate::types::{
    BrandId, CountryCode, CurrencyCode, HexColor, LanguageCode, Slug, UserId, http_url, no_nul,
    non_blank,
};
use crate::{Error, Result, ValidationErrors};

mod agencies;
mod members;

pub use agencies::{NewVettingAgency, NewVettingAgencyBuilder, VettingAgency, VettingAgencyPatch};
pub use members::{BrandRole, Membership};

/// The constraint name an optimistic-concurrency miss on `brands` is reported with, in
/// [`Error::Conflict`].
pub const BRANDS_STALE_VERSION: &str = "brands_stale_version";

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
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed; the optimistic-concurrency token of [`BrandRepo::update`].
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The columns of [`Brand`]. The nullable arrays read as empty lists, and colours stored as `{}` (the
/// column's default) read as `None`, so the model has one way to say "none".
const BRAND_COLUMNS: &str = "id, name, slug, description, identity, tone_of_voice, communication_style, \
    coalesce(brand_personality, '{}') AS brand_personality, guardrails, \
    coalesce(key_messages, '{}') AS key_messages, target_audience, country, language, currency, logo, \
    NULLIF(colors, '{}'::jsonb) AS colors, settings, parent_brand_id, master_claim_brand_ids, \
    created_by, created_at, updated_at, deleted_at";

// ---------------------------------------------------------------------------------------------
// Validation shared by NewBrand and BrandPatch
// ---------------------------------------------------------------------------------------------

/// A list item: not blank, no NUL. The spec bounds neither the lists nor their items.
fn check_list(errors: &mut ValidationErrors, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        errors.check(&format!("{field}[{i}]"), non_blank(item, usize::MAX));
    }
}

fn check_optional_text(errors: &mut ValidationErrors, field: &str, v: Option<&str>) {
    if let Some(v) = v {
        errors.check(field, no_nul(v));
    }
}

fn check_identity(errors: &mut ValidationErrors, identity: &BrandIdentity) {
    check_optional_text(errors, "identity.mission", identity.mission.as_deref());
    check_optional_text(errors, "identity.vision", identity.vision.as_deref());
    check_optional_text(errors, "identity.usp", identity.usp.as_deref());
    check_list(errors, "identity.values", &identity.values);
}

fn check_logo(errors: &mut ValidationErrors, logo: &BrandLogo) {
    errors.check("logo.url", http_url(&logo.url));
    errors.check("logo.alt_text", non_blank(&logo.alt_text, usize::MAX));
}

fn check_settings(errors: &mut ValidationErrors, settings: &BrandSettings) {
    for (i, t) in settings.content_types.iter().enumerate() {
        errors.check(&format!("settings.content_types[{i}]"), non_blank(t, 50));
    }
    check_list(errors, "settings.features", &settings.features);
    // jsonb cannot hold U+0000; refusing it here names the field instead of failing in the database.
    for (name, value) in &settings.integrations {
        let json = serde_json::to_string(value).unwrap_or_default();
        if name.contains('\0') || json.contains("\\u0000") {
            errors.push(
                format!("settings.integrations.{}", name.replace('\0', "")),
                "contains a NUL character",
            );
        }
    }
}

fn check_master_claim_brands(errors: &mut ValidationErrors, ids: &[BrandId], own: Option<BrandId>) {
    let mut seen = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            errors.push(format!("master_claim_brand_ids[{i}]"), "listed twice");
        } else if Some(*id) == own {
            errors.push(
                format!("master_claim_brand_ids[{i}]"),
                "a brand cannot be its own master claim brand",
            );
        }
    }
}

/// Raw colours as given to a builder, parsed in `build`.
#[derive(Debug, Clone, Default)]
struct RawColors {
    primary: String,
    secondary: Option<String>,
    accent: Option<String>,
}

fn check_colors(errors: &mut ValidationErrors, raw: &RawColors) -> Option<BrandColors> {
    let primary = errors.check("colors.primary", HexColor::parse(&raw.primary));
    let mut optional = |field: &str, v: &Option<String>| match v {
        Some(c) => errors.check(field, HexColor::parse(c)).map(Some),
        None => Some(None),
    };
    let secondary = optional("colors.secondary", &raw.secondary);
    let accent = optional("colors.accent", &raw.accent);
    Some(BrandColors {
        primary: primary?,
        secondary: secondary?,
        accent: accent?,
    })
}

fn check_slug(errors: &mut ValidationErrors, slug: &str) -> Option<Slug> {
    let slug = errors.check("slug", Slug::parse(slug))?;
    check_slug_length(errors, slug)
}

fn check_slug_length(errors: &mut ValidationErrors, slug: Slug) -> Option<Slug> {
    if slug.as_str().chars().count() > Slug::BRAND_MAX_CHARS {
        errors.push("slug", "longer than 255 characters");
        return None;
    }
    Some(slug)
}

// ---------------------------------------------------------------------------------------------
// NewBrand
// ---------------------------------------------------------------------------------------------

/// A validated new brand; build one with [`NewBrand::builder`].
#[derive(Debug, Clone)]
pub struct NewBrand {
    id: BrandId,
    name: String,
    slug: Slug,
    description: Option<String>,
    identity: BrandIdentity,
    tone_of_voice: Option<String>,
    communication_style: Option<String>,
    brand_personality: Vec<String>,
    guardrails: Vec<String>,
    key_messages: Vec<String>,
    target_audience: Option<String>,
    country: CountryCode,
    language: LanguageCode,
    currency: Option<CurrencyCode>,
    logo: Option<BrandLogo>,
    colors: Option<BrandColors>,
    settings: BrandSettings,
    parent_brand_id: Option<BrandId>,
    master_claim_brand_ids: Vec<BrandId>,
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

/// Raw input for a [`NewBrand`]. Nothing is checked until [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct NewBrandBuilder {
    name: String,
    slug: Option<String>,
    description: Option<String>,
    identity: BrandIdentity,
    tone_of_voice: Option<String>,
    communication_style: Option<String>,
    brand_personality: Vec<String>,
    guardrails: Vec<String>,
    key_messages: Vec<String>,
    target_audience: Option<String>,
    country: String,
    language: String,
    currency: Option<String>,
    logo: Option<(String, String, String)>,
    colors: Option<RawColors>,
    settings: BrandSettings,
    parent_brand_id: Option<BrandId>,
    master_claim_brand_ids: Vec<BrandId>,
}

impl NewBrandBuilder {
    /// Display name (required, unique, at most 255 characters).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = v.into();
        self
    }
    /// URL name (default: derived from the name; unique, at most 255 characters).
    pub fn slug(mut self, v: impl Into<String>) -> Self {
        self.slug = Some(v.into());
        self
    }
    /// Free text.
    pub fn description(mut self, v: impl Into<String>) -> Self {
        self.description = Some(v.into());
        self
    }
    /// Mission, vision, values and unique selling proposition.
    pub fn identity(mut self, identity: BrandIdentity) -> Self {
        self.identity = identity;
        self
    }
    /// How the brand sounds.
    pub fn tone_of_voice(mut self, v: impl Into<String>) -> Self {
        self.tone_of_voice = Some(v.into());
        self
    }
    /// How the brand communicates.
    pub fn communication_style(mut self, v: impl Into<String>) -> Self {
        self.communication_style = Some(v.into());
        self
    }
    /// Adds a personality trait (not blank).
    pub fn personality_trait(mut self, v: impl Into<String>) -> Self {
        self.brand_personality.push(v.into());
        self
    }
    /// Adds a content rule (not blank).
    pub fn guardrail(mut self, v: impl Into<String>) -> Self {
        self.guardrails.push(v.into());
        self
    }
    /// Adds a key message (not blank).
    pub fn key_message(mut self, v: impl Into<String>) -> Self {
        self.key_messages.push(v.into());
        self
    }
    /// Who the brand speaks to.
    pub fn target_audience(mut self, v: impl Into<String>) -> Self {
        self.target_audience = Some(v.into());
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
    /// Logo: an `http(s)` URL, alternative text (not blank), and `light`, `dark` or `full`.
    pub fn logo(
        mut self,
        url: impl Into<String>,
        alt_text: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        self.logo = Some((url.into(), alt_text.into(), kind.into()));
        self
    }
    /// Colours as hex strings; `primary` is required once any colour is given.
    pub fn colors(
        mut self,
        primary: impl Into<String>,
        secondary: Option<&str>,
        accent: Option<&str>,
    ) -> Self {
        self.colors = Some(RawColors {
            primary: primary.into(),
            secondary: secondary.map(str::to_owned),
            accent: accent.map(str::to_owned),
        });
        self
    }
    /// Allowed content types, features and integrations.
    pub fn settings(mut self, settings: BrandSettings) -> Self {
        self.settings = settings;
        self
    }
    /// Makes this a sub-brand of `parent`.
    pub fn parent(mut self, parent: BrandId) -> Self {
        self.parent_brand_id = Some(parent);
        self
    }
    /// Adds a brand whose claims this brand uses as master claims (must exist, not repeat).
    pub fn master_claim_brand(mut self, brand: BrandId) -> Self {
        self.master_claim_brand_ids.push(brand);
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewBrand, ValidationErrors> {
        let id = BrandId::new();
        let mut errors = ValidationErrors::new();
        let name = errors
            .check("name", non_blank(&self.name, 255))
            .map(str::to_owned);
        let slug = match &self.slug {
            Some(s) => check_slug(&mut errors, s),
            None => match Slug::from_title(&self.name) {
                Some(s) => check_slug_length(&mut errors, s),
                None => {
                    // A blank name is already reported; a derived slug is only missing for a valid name.
                    if name.is_some() {
                        errors.push("slug", "cannot be derived from the name; give one");
                    }
                    None
                }
            },
        };
        check_optional_text(&mut errors, "description", self.description.as_deref());
        check_identity(&mut errors, &self.identity);
        check_optional_text(&mut errors, "tone_of_voice", self.tone_of_voice.as_deref());
        check_optional_text(
            &mut errors,
            "communication_style",
            self.communication_style.as_deref(),
        );
        check_list(&mut errors, "brand_personality", &self.brand_personality);
        check_list(&mut errors, "guardrails", &self.guardrails);
        check_list(&mut errors, "key_messages", &self.key_messages);
        check_optional_text(
            &mut errors,
            "target_audience",
            self.target_audience.as_deref(),
        );
        let country = errors.check("country", CountryCode::parse(&self.country));
        let language = errors.check("language", LanguageCode::parse(&self.language));
        let currency = match &self.currency {
            Some(c) => errors.check("currency", CurrencyCode::parse(c)).map(Some),
            None => Some(None),
        };
        let logo = match &self.logo {
            Some((url, alt_text, kind)) => {
                let kind = errors.check("logo.type", kind.parse::<LogoKind>());
                let logo = kind.map(|kind| BrandLogo {
                    url: url.clone(),
                    alt_text: alt_text.clone(),
                    kind,
                });
                // Checked even when the kind is wrong, so every problem is reported.
                check_logo(
                    &mut errors,
                    &BrandLogo {
                        url: url.clone(),
                        alt_text: alt_text.clone(),
                        kind: LogoKind::Full,
                    },
                );
                logo.map(Some)
            }
            None => Some(None),
        };
        let colors = match &self.colors {
            Some(raw) => check_colors(&mut errors, raw).map(Some),
            None => Some(None),
        };
        check_settings(&mut errors, &self.settings);
        check_master_claim_brands(&mut errors, &self.master_claim_brand_ids, Some(id));
        errors.into_result()?;
        Ok(NewBrand {
            id,
            name: name.expect("checked"),
            slug: slug.expect("checked"),
            description: self.description,
            identity: self.identity,
            tone_of_voice: self.tone_of_voice,
            communication_style: self.communication_style,
            brand_personality: self.brand_personality,
            guardrails: self.guardrails,
            key_messages: self.key_messages,
            target_audience: self.target_audience,
            country: country.expect("checked"),
            language: language.expect("checked"),
            currency: currency.expect("checked"),
            logo: logo.expect("checked"),
            colors: colors.expect("checked"),
            settings: self.settings,
            parent_brand_id: self.parent_brand_id,
            master_claim_brand_ids: self.master_claim_brand_ids,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// BrandPatch
// ---------------------------------------------------------------------------------------------

/// A validated change to a brand; build one with [`BrandPatch::builder`]. Only the fields that were
/// set change; lists and structured fields are replaced whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrandPatch {
    name: Option<String>,
    slug: Option<Slug>,
    description: Option<Option<String>>,
    identity: Option<BrandIdentity>,
    tone_of_voice: Option<Option<String>>,
    communication_style: Option<Option<String>>,
    brand_personality: Option<Vec<String>>,
    guardrails: Option<Vec<String>>,
    key_messages: Option<Vec<String>>,
    target_audience: Option<Option<String>>,
    country: Option<CountryCode>,
    language: Option<LanguageCode>,
    currency: Option<Option<CurrencyCode>>,
    logo: Option<Option<BrandLogo>>,
    colors: Option<Option<BrandColors>>,
    settings: Option<BrandSettings>,
    parent_brand_id: Option<Option<BrandId>>,
    master_claim_brand_ids: Option<Vec<BrandId>>,
}

impl BrandPatch {
    /// Starts a builder; [`BrandPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> BrandPatchBuilder {
        BrandPatchBuilder::default()
    }
}

/// Raw input for a [`BrandPatch`]. Nothing is checked until [`build`](Self::build).
#[derive(Debug, Clone, Default)]
pub struct BrandPatchBuilder {
    name: Option<String>,
    slug: Option<String>,
    description: Option<Option<String>>,
    identity: Option<BrandIdentity>,
    tone_of_voice: Option<Option<String>>,
    communication_style: Option<Option<String>>,
    brand_personality: Option<Vec<String>>,
    guardrails: Option<Vec<String>>,
    key_messages: Option<Vec<String>>,
    target_audience: Option<Option<String>>,
    country: Option<String>,
    language: Option<String>,
    currency: Option<Option<String>>,
    logo: Option<Option<BrandLogo>>,
    colors: Option<Option<RawColors>>,
    settings: Option<BrandSettings>,
    parent_brand_id: Option<Option<BrandId>>,
    master_claim_brand_ids: Option<Vec<BrandId>>,
}

impl BrandPatchBuilder {
    /// New display name (not blank, unique, at most 255 characters).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = Some(v.into());
        self
    }
    /// New URL name (unique, at most 255 characters). Not re-derived from a new name: a slug is an
    /// address, and changing it breaks links.
    pub fn slug(mut self, v: impl Into<String>) -> Self {
        self.slug = Some(v.into());
        self
    }
    /// New description, or `None` to clear it.
    pub fn description(mut self, v: Option<String>) -> Self {
        self.description = Some(v);
        self
    }
    /// New identity, replacing the old one whole.
    pub fn identity(mut self, v: BrandIdentity) -> Self {
        self.identity = Some(v);
        self
    }
    /// New tone of voice, or `None` to clear it.
    pub fn tone_of_voice(mut self, v: Option<String>) -> Self {
        self.tone_of_voice = Some(v);
        self
    }
    /// New communication style, or `None` to clear it.
    pub fn communication_style(mut self, v: Option<String>) -> Self {
        self.communication_style = Some(v);
        self
    }
    /// New personality traits (each not blank), replacing the old list.
    pub fn brand_personality(mut self, v: Vec<String>) -> Self {
        self.brand_personality = Some(v);
        self
    }
    /// New content rules (each not blank), replacing the old list.
    pub fn guardrails(mut self, v: Vec<String>) -> Self {
        self.guardrails = Some(v);
        self
    }
    /// New key messages (each not blank), replacing the old list.
    pub fn key_messages(mut self, v: Vec<String>) -> Self {
        self.key_messages = Some(v);
        self
    }
    /// New target audience, or `None` to clear it.
    pub fn target_audience(mut self, v: Option<String>) -> Self {
        self.target_audience = Some(v);
        self
    }
    /// New ISO 3166-1 alpha-2 market.
    pub fn country(mut self, v: impl Into<String>) -> Self {
        self.country = Some(v.into());
        self
    }
    /// New ISO 639-1 language.
    pub fn language(mut self, v: impl Into<String>) -> Self {
        self.language = Some(v.into());
        self
    }
    /// New ISO 4217 currency, or `None` to clear it.
    pub fn currency(mut self, v: Option<String>) -> Self {
        self.currency = Some(v);
        self
    }
    /// New logo, or `None` to remove it.
    pub fn logo(mut self, v: Option<BrandLogo>) -> Self {
        self.logo = Some(v);
        self
    }
    /// New colours as hex strings.
    pub fn colors(
        mut self,
        primary: impl Into<String>,
        secondary: Option<&str>,
        accent: Option<&str>,
    ) -> Self {
        self.colors = Some(Some(RawColors {
            primary: primary.into(),
            secondary: secondary.map(str::to_owned),
            accent: accent.map(str::to_owned),
        }));
        self
    }
    /// Removes the colours.
    pub fn clear_colors(mut self) -> Self {
        self.colors = Some(None);
        self
    }
    /// New settings, replacing the old ones whole.
    pub fn settings(mut self, v: BrandSettings) -> Self {
        self.settings = Some(v);
        self
    }
    /// New parent brand, or `None` to make this a top-level brand. A parent that would close a cycle
    /// is refused by the database ([`Error::Invalid`] on `parent_brand_id`).
    pub fn parent(mut self, v: Option<BrandId>) -> Self {
        self.parent_brand_id = Some(v);
        self
    }
    /// New master claim brands (each existing, none repeated), replacing the old list.
    pub fn master_claim_brands(mut self, v: Vec<BrandId>) -> Self {
        self.master_claim_brand_ids = Some(v);
        self
    }

    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<BrandPatch, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = match &self.name {
            Some(n) => errors
                .check("name", non_blank(n, 255))
                .map(|n| Some(n.to_owned())),
            None => Some(None),
        };
        let slug = match &self.slug {
            Some(s) => check_slug(&mut errors, s).map(Some),
            None => Some(None),
        };
        for (field, v) in [
            ("description", &self.description),
            ("tone_of_voice", &self.tone_of_voice),
            ("communication_style", &self.communication_style),
            ("target_audience", &self.target_audience),
        ] {
            check_optional_text(&mut errors, field, v.as_ref().and_then(|v| v.as_deref()));
        }
        if let Some(identity) = &self.identity {
            check_identity(&mut errors, identity);
        }
        for (field, v) in [
            ("brand_personality", &self.brand_personality),
            ("guardrails", &self.guardrails),
            ("key_messages", &self.key_messages),
        ] {
            if let Some(list) = v {
                check_list(&mut errors, field, list);
            }
        }
        let country = match &self.country {
            Some(c) => errors.check("country", CountryCode::parse(c)).map(Some),
            None => Some(None),
        };
        let language = match &self.language {
            Some(l) => errors.check("language", LanguageCode::parse(l)).map(Some),
            None => Some(None),
        };
        let currency = match &self.currency {
            Some(Some(c)) => errors
                .check("currency", CurrencyCode::parse(c))
                .map(|c| Some(Some(c))),
            Some(None) => Some(Some(None)),
            None => Some(None),
        };
        if let Some(Some(logo)) = &self.logo {
            check_logo(&mut errors, logo);
        }
        let colors = match &self.colors {
            Some(Some(raw)) => check_colors(&mut errors, raw).map(|c| Some(Some(c))),
            Some(None) => Some(Some(None)),
            None => Some(None),
        };
        if let Some(settings) = &self.settings {
            check_settings(&mut errors, settings);
        }
        if let Some(ids) = &self.master_claim_brand_ids {
            // Self-reference is checked by the repository, which knows the brand's id.
            check_master_claim_brands(&mut errors, ids, None);
        }
        errors.into_result()?;
        Ok(BrandPatch {
            name: name.expect("checked"),
            slug: slug.expect("checked"),
            description: self.description,
            identity: self.identity,
            tone_of_voice: self.tone_of_voice,
            communication_style: self.communication_style,
            brand_personality: self.brand_personality,
            guardrails: self.guardrails,
            key_messages: self.key_messages,
            target_audience: self.target_audience,
            country: country.expect("checked"),
            language: language.expect("checked"),
            currency: currency.expect("checked"),
            logo: self.logo,
            colors: colors.expect("checked"),
            settings: self.settings,
            parent_brand_id: self.parent_brand_id,
            master_claim_brand_ids: self.master_claim_brand_ids,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------------

/// Turns the hierarchy's database refusals into a validation error on the field the caller set.
fn hierarchy_error(err: Error) -> Error {
    match err.validation() {
        Some(v) if v.get("brands_no_cycle").is_some() => Error::Invalid(ValidationErrors::single(
            "parent_brand_id",
            "would make the brand its own ancestor",
        )),
        Some(v) if v.get("brands_not_own_parent").is_some() => Error::Invalid(
            ValidationErrors::single("parent_brand_id", "a brand cannot be its own parent"),
        ),
        _ => err,
    }
}

/// Brands and memberships repository over one scope's transaction.
#[derive(Debug)]
pub struct BrandRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> BrandRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    /// Creates a brand, recording `created_by`. In a tenant scope only a platform admin may, in a scope
    /// opened for [`NewBrand::id`]; a system scope may always.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `brands_name_key` or `brands_slug_key` when the name or slug is taken
    /// (by a soft-deleted brand too); [`Error::InvalidReference`] when the parent
    /// (`brands_parent_brand_id_fkey`) or a master claim brand
    /// (`brands_master_claim_brand_ids_fkey`) does not exist; [`Error::Forbidden`] in a tenant scope
    /// of anyone but a platform admin.
    pub async fn create(&mut self, new: &NewBrand, created_by: UserId) -> Result<Brand> {
        let sql = format!(
            "INSERT INTO mixerai.brands (id, name, slug, description, identity, tone_of_voice, communication_style,
                 brand_personality, guardrails, key_messages, target_audience, country, language, currency,
                 logo, colors, settings, parent_brand_id, master_claim_brand_ids, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                 coalesce($16, '{{}}'::jsonb), $17, $18, $19, $20)
             RETURNING {BRAND_COLUMNS}"
        );
        sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(new.id)
            .bind(&new.name)
            .bind(&new.slug)
            .bind(&new.description)
            .bind(Json(&new.identity))
            .bind(&new.tone_of_voice)
            .bind(&new.communication_style)
            .bind(&new.brand_personality)
            .bind(&new.guardrails)
            .bind(&new.key_messages)
            .bind(&new.target_audience)
            .bind(new.country)
            .bind(new.language)
            .bind(new.currency)
            .bind(new.logo.as_ref().map(Json))
            .bind(new.colors.as_ref().map(Json))
            .bind(Json(&new.settings))
            .bind(new.parent_brand_id)
            .bind(&new.master_claim_brand_ids)
            .bind(created_by)
            .fetch_one(self.ctx.conn())
            .await
            .map_err(|e| hierarchy_error(e.into()))
    }

    /// The live (not soft-deleted) brand with this id, if visible in the scope; otherwise
    /// [`Error::NotFound`].
    pub async fn get(&mut self, id: BrandId) -> Result<Brand> {
        let sql = format!(
            "SELECT {BRAND_COLUMNS} FROM mixerai.brands WHERE id = $1 AND deleted_at IS NULL"
        );
        sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.ctx.conn())
            .await?
            .ok_or(Error::NotFound { entity: "brand" })
    }

    /// One page of the live brands visible in the scope, newest first: every brand in a system
    /// scope, the scope's own brand in a tenant scope.
    pub async fn list(&mut self, page: &PageRequest) -> Result<Page<Brand>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {BRAND_COLUMNS} FROM mixerai.brands
             WHERE deleted_at IS NULL AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2))
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.ctx.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |b| {
            (b.created_at, b.id.as_uuid())
        }))
    }

    /// One page of the live sub-brands of `parent`, newest first. Sub-brands are other tenants, so
    /// this is [`SystemScope`](crate::SystemScope) work: a tenant scope sees none.
    pub async fn sub_brands(&mut self, parent: BrandId, page: &PageRequest) -> Result<Page<Brand>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {BRAND_COLUMNS} FROM mixerai.brands
             WHERE parent_brand_id = $1 AND deleted_at IS NULL
               AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(parent)
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.ctx.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |b| {
            (b.created_at, b.id.as_uuid())
        }))
    }

    /// Applies `patch` to a live brand if it is still as it was read: `expected` is the
    /// [`Brand::updated_at`] the caller saw. Brand admins may in a tenant scope.
    ///
    /// # Errors
    /// - [`Error::Conflict`] on [`BRANDS_STALE_VERSION`] when the brand changed since it was read
    ///   (nothing is written), or on `brands_name_key` / `brands_slug_key`;
    /// - [`Error::Invalid`] on `parent_brand_id` when the new parent would close a cycle or is the
    ///   brand itself, and on `master_claim_brand_ids` when the list names the brand itself;
    /// - [`Error::InvalidReference`] when the parent or a master claim brand does not exist;
    /// - [`Error::NotFound`] when there is no such live brand in the scope;
    /// - [`Error::Forbidden`] when the brand is visible but the acting user is not its admin.
    pub async fn update(
        &mut self,
        id: BrandId,
        expected: DateTime<Utc>,
        patch: &BrandPatch,
    ) -> Result<Brand> {
        if let Some(ids) = &patch.master_claim_brand_ids {
            let mut errors = ValidationErrors::new();
            check_master_claim_brands(&mut errors, ids, Some(id));
            errors.into_result()?;
        }
        // One statement whatever was set: NOT NULL columns take coalesce(new, old); nullable ones
        // take a "was set" flag beside the value, so that setting NULL (clearing) is expressible.
        let sql = format!(
            "UPDATE mixerai.brands SET
                name = coalesce($3, name),
                slug = coalesce($4, slug),
                description = CASE WHEN $5 THEN $6 ELSE description END,
                identity = coalesce($7, identity),
                tone_of_voice = CASE WHEN $8 THEN $9 ELSE tone_of_voice END,
                communication_style = CASE WHEN $10 THEN $11 ELSE communication_style END,
                brand_personality = coalesce($12, brand_personality),
                guardrails = coalesce($13, guardrails),
                key_messages = coalesce($14, key_messages),
                target_audience = CASE WHEN $15 THEN $16 ELSE target_audience END,
                country = coalesce($17, country),
                language = coalesce($18, language),
                currency = CASE WHEN $19 THEN $20 ELSE currency END,
                logo = CASE WHEN $21 THEN $22 ELSE logo END,
                colors = CASE WHEN $23 THEN coalesce($24, '{{}}'::jsonb) ELSE colors END,
                settings = coalesce($25, settings),
                parent_brand_id = CASE WHEN $26 THEN $27 ELSE parent_brand_id END,
                master_claim_brand_ids = coalesce($28, master_claim_brand_ids)
             WHERE id = $1 AND updated_at = $2 AND deleted_at IS NULL
             RETURNING {BRAND_COLUMNS}"
        );
        let p = patch;
        let updated = sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected)
            .bind(&p.name)
            .bind(&p.slug)
            .bind(p.description.is_some())
            .bind(p.description.clone().flatten())
            .bind(p.identity.as_ref().map(Json))
            .bind(p.tone_of_voice.is_some())
            .bind(p.tone_of_voice.clone().flatten())
            .bind(p.communication_style.is_some())
            .bind(p.communication_style.clone().flatten())
            .bind(&p.brand_personality)
            .bind(&p.guardrails)
            .bind(&p.key_messages)
            .bind(p.target_audience.is_some())
            .bind(p.target_audience.clone().flatten())
            .bind(p.country)
            .bind(p.language)
            .bind(p.currency.is_some())
            .bind(p.currency.flatten())
            .bind(p.logo.is_some())
            .bind(p.logo.as_ref().and_then(|l| l.as_ref()).map(Json))
            .bind(p.colors.is_some())
            .bind(p.colors.as_ref().and_then(|c| c.as_ref()).map(Json))
            .bind(p.settings.as_ref().map(Json))
            .bind(p.parent_brand_id.is_some())
            .bind(p.parent_brand_id.flatten())
            .bind(&p.master_claim_brand_ids)
            .fetch_optional(self.ctx.conn())
            .await
            .map_err(|e| hierarchy_error(e.into()))?;
        if let Some(brand) = updated {
            return Ok(brand);
        }
        // Nothing matched: tell a stale token from a missing row from a row the policies refused.
        let current: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT updated_at FROM mixerai.brands WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.ctx.conn())
        .await?;
        Err(match current {
            None => Error::NotFound { entity: "brand" },
            Some(at) if at != expected => Error::Conflict {
                constraint: BRANDS_STALE_VERSION.to_owned(),
                field: None,
                source: None,
            },
            Some(_) => Error::forbidden("only a brand admin may update the brand"),
        })
    }

    /// Soft-deletes a live brand: it disappears from `get`, `list` and `sub_brands`; its rows, name
    /// and slug are kept for [`restore`](Self::restore). Its members' roles grant nothing while it is
    /// deleted (their scopes see none of its rows); platform admins keep access to restore it. A system
    /// scope or a platform admin may delete.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such live brand in the scope; [`Error::Forbidden`] for
    /// anyone else in a tenant scope.
    pub async fn soft_delete(&mut self, id: BrandId) -> Result<()> {
        let done = sqlx::query(
            "UPDATE mixerai.brands SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(self.ctx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.refused_or_missing(id, false).await?);
        }
        Ok(())
    }

    /// Brings a soft-deleted brand back. Never conflicts: its name and slug stayed reserved. A system
    /// scope or a platform admin may.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such soft-deleted brand in the scope;
    /// [`Error::Forbidden`] for anyone else in a tenant scope.
    pub async fn restore(&mut self, id: BrandId) -> Result<Brand> {
        let sql = format!(
            "UPDATE mixerai.brands SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL
             RETURNING {BRAND_COLUMNS}"
        );
        let restored = sqlx::query_as::<_, Brand>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.ctx.conn())
            .await?;
        match restored {
            Some(brand) => Ok(brand),
            None => Err(self.refused_or_missing(id, true).await?),
        }
    }

    /// After a write that matched no row: [`Error::Forbidden`] if the brand (in the state the write
    /// looked for) is visible, so a policy filtered it out; [`Error::NotFound`] otherwise.
    async fn refused_or_missing(&mut self, id: BrandId, deleted: bool) -> Result<Error> {
        let visible: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mixerai.brands WHERE id = $1 AND (deleted_at IS NOT NULL) = $2)",
        )
        .bind(id)
        .bind(deleted)
        .fetch_one(self.ctx.conn())
        .await?;
        Ok(if visible {
            Error::forbidden("not allowed to change this brand")
        } else {
            Error::NotFound { entity: "brand" }
        })
    }
}
