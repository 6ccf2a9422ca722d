//! What a caller hands in: the raw inputs of a brand, a membership and a vetting agency, the create
//! and patch builders over each, the one parse of each, and the list filters.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::model::{BrandColors, BrandIdentity, BrandLogo, BrandRole, BrandSettings, LogoKind};
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::page::Deleted;
use crate::types::{
    BrandId, CountryCode, CurrencyCode, HexColor, InvalidValue, LanguageCode, Slug, http_url,
    no_nul, non_blank,
};

// ---------------------------------------------------------------------------------------------
// Brands
// ---------------------------------------------------------------------------------------------

/// A logo as a caller hands it in: the parts of a [`BrandLogo`] with the kind still as text, so that a
/// wrong kind is reported together with every other problem (`logo.type`). Its JSON is the stored
/// form, `{"url", "altText", "type"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogoInput {
    /// Absolute `http(s)` URL of the image.
    pub url: String,
    /// Text for readers who cannot see the image (not blank).
    #[serde(rename = "altText")]
    pub alt_text: String,
    /// `light`, `dark` or `full`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl LogoInput {
    /// A logo from its URL, alternative text and kind (`light`, `dark` or `full`).
    pub fn new(
        url: impl Into<String>,
        alt_text: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            alt_text: alt_text.into(),
            kind: kind.into(),
        }
    }
}

impl From<BrandLogo> for LogoInput {
    fn from(logo: BrandLogo) -> Self {
        Self::new(logo.url, logo.alt_text, logo.kind.as_str())
    }
}

/// Colours as a caller hands them in: hex strings (`#abc` or `#aabbcc`, any case), parsed by `build`
/// and stored as `#aabbcc`. The primary colour is required once any colour is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColorsInput {
    /// Main colour.
    pub primary: String,
    /// Second colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<String>,
    /// Accent colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent: Option<String>,
}

impl ColorsInput {
    /// Colours with this primary colour and no others.
    pub fn new(primary: impl Into<String>) -> Self {
        Self {
            primary: primary.into(),
            secondary: None,
            accent: None,
        }
    }

    /// Sets the second colour.
    pub fn secondary(mut self, v: impl Into<String>) -> Self {
        self.secondary = Some(v.into());
        self
    }

    /// Sets the accent colour.
    pub fn accent(mut self, v: impl Into<String>) -> Self {
        self.accent = Some(v.into());
        self
    }
}

impl From<BrandColors> for ColorsInput {
    fn from(colors: BrandColors) -> Self {
        Self {
            primary: colors.primary.into(),
            secondary: colors.secondary.map(Into::into),
            accent: colors.accent.map(Into::into),
        }
    }
}

/// What `brands.colors` is written as: the colours, or `{}` for none. The column is NOT NULL with
/// `{}` as its default, so clearing the colours writes `{}`, never NULL; the model reads `{}` back as
/// `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredColors(pub(crate) Option<BrandColors>);

impl Serialize for StoredColors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(colors) => colors.serialize(serializer),
            None => serde_json::Map::new().serialize(serializer),
        }
    }
}

/// A validated new brand; build one with [`NewBrand::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewBrand {
    pub(crate) id: BrandId,
    pub(crate) values: BrandValues,
}

impl NewBrand {
    /// Starts a builder; [`NewBrandBuilder::build`] reports every problem at once.
    pub fn builder() -> NewBrandBuilder {
        NewBrandBuilder::default()
    }

    /// The id the brand will have. Chosen by `build`, so a platform admin can open a scope for the
    /// brand before it exists and create it inside that scope.
    pub fn id(&self) -> BrandId {
        self.id
    }
}

/// A validated change to a brand: only what was set is written (lists and structured fields are
/// replaced whole), and a patch that sets nothing writes nothing. Build one with
/// [`BrandPatch::builder`]; apply it with [`BrandRepo::update`](super::BrandRepo::update).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrandPatch {
    pub(crate) values: BrandValues,
}

impl BrandPatch {
    /// Starts a builder; [`BrandPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> BrandPatchBuilder {
        BrandPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The checks that need the id of the brand patched, which a builder does not know: a brand is
    /// neither its own parent nor its own master claim brand.
    pub(crate) fn check_for(&self, id: BrandId) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.values.parent_brand_id == Some(Some(id)) {
            errors.push("parent_brand_id", "a brand cannot be its own parent");
        }
        for (i, m) in self
            .values
            .master_claim_brand_ids
            .iter()
            .flatten()
            .enumerate()
        {
            if *m == id {
                errors.push(
                    format!("master_claim_brand_ids[{i}]"),
                    "a brand cannot be its own master claim brand",
                );
            }
        }
        errors.into_result()
    }
}

/// Raw input for a [`NewBrand`]. Nothing is checked until [`build`](Self::build). Deserialises from
/// the JSON of a [`BrandInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewBrandBuilder(BrandInput);

/// Raw input for a [`BrandPatch`]: every setter replaces that part of the brand; unset parts stay.
/// Deserialises from the JSON of a [`BrandInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrandPatchBuilder(BrandInput);

input! {
    /// The raw input of a brand, shared by [`NewBrandBuilder`] and [`BrandPatchBuilder`]: every
    /// field optional, as a request carries it.
    pub struct BrandInput;
    builders NewBrandBuilder, BrandPatchBuilder;
    values BrandValues, columns brand_input_columns;
    fields {
        /// Display name (required on create; not blank, at most 255 characters, unique).
        name "name": value String => String, name maybe_name;
        /// URL name (unique, at most 255 characters; on create derived from the name when not
        /// given). A patch never derives it from a new name: a slug is an address, and changing it
        /// breaks links.
        slug "slug": value String => Slug, slug maybe_slug;
        /// Free text.
        description "description": nullable String => String,
            description maybe_description clear_description;
        /// Mission, vision, values and unique selling proposition, replaced whole.
        identity "identity": value BrandIdentity => BrandIdentity, identity maybe_identity;
        /// How the brand sounds.
        tone_of_voice "tone_of_voice": nullable String => String,
            tone_of_voice maybe_tone_of_voice clear_tone_of_voice;
        /// How the brand communicates.
        communication_style "communication_style": nullable String => String,
            communication_style maybe_communication_style clear_communication_style;
        /// Personality traits, each not blank.
        brand_personality "brand_personality": list String => Vec<String>,
            brand_personality maybe_brand_personality personality_trait;
        /// Content rules every piece of content must follow, each not blank.
        guardrails "guardrails": list String => Vec<String>, guardrails maybe_guardrails guardrail;
        /// Messages content should carry, each not blank.
        key_messages "key_messages": list String => Vec<String>,
            key_messages maybe_key_messages key_message;
        /// Who the brand speaks to.
        target_audience "target_audience": nullable String => String,
            target_audience maybe_target_audience clear_target_audience;
        /// ISO 3166-1 alpha-2 market, any case (required on create).
        country "country": value String => CountryCode, country maybe_country;
        /// ISO 639-1 language, any case (required on create).
        language "language": value String => LanguageCode, language maybe_language;
        /// ISO 4217 currency, any case.
        currency "currency": nullable String => CurrencyCode, currency maybe_currency clear_currency;
        /// Logo: an `http(s)` URL, alternative text (not blank), and `light`, `dark` or `full`.
        logo "logo": nullable LogoInput => BrandLogo, logo maybe_logo clear_logo;
        /// Colours, replaced whole.
        colors "colors": nullable ColorsInput => StoredColors, colors maybe_colors clear_colors;
        /// Allowed content types, features and integrations, replaced whole.
        settings "settings": value BrandSettings => BrandSettings, settings maybe_settings;
        /// The parent brand, making this a sub-brand (must exist; never closes a cycle); clear it to
        /// make the brand a top-level one.
        parent_brand_id "parent_brand_id": nullable BrandId => BrandId,
            parent_brand_id maybe_parent_brand_id clear_parent_brand_id;
        /// Brands whose claims this brand uses as master claims (each existing, none repeated, not
        /// the brand itself).
        master_claim_brand_ids "master_claim_brand_ids": list BrandId => Vec<BrandId>,
            master_claim_brand_ids maybe_master_claim_brand_ids master_claim_brand_id;
    }
}

impl NewBrandBuilder {
    /// Validates every field, returning all problems together; chooses the brand's id.
    pub fn build(self) -> Result<NewBrand, ValidationErrors> {
        Ok(NewBrand {
            id: BrandId::new(),
            values: parse_brand(&self.0, Mode::Create)?,
        })
    }
}

impl BrandPatchBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<BrandPatch, ValidationErrors> {
        Ok(BrandPatch {
            values: parse_brand(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a brand input, for a create (required fields, defaults) or a patch.
///
/// The spec bounds neither the free texts nor the lists, so they are only refused when PostgreSQL
/// could not store them (a NUL character) or, for list items, when blank.
fn parse_brand(input: &BrandInput, mode: Mode) -> Result<BrandValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let name = p.required("name", &input.name, |n| owned(non_blank(n, 255)));
    let slug = match (&input.slug, mode) {
        (Some(s), _) => p.errors.check("slug", Slug::parse(s).and_then(brand_slug)),
        (None, Mode::Create) => match input.name.as_deref().and_then(Slug::from_title) {
            Some(derived) => p.errors.check("slug", brand_slug(derived)),
            None => {
                // A missing or blank name is reported already; only a valid one needs this.
                if name.is_some() {
                    p.push("slug", "cannot be derived from the name; give one");
                }
                None
            }
        },
        (None, Mode::Patch) => None,
    };
    let description = p.nullable("description", &input.description, |s| owned(no_nul(s)));
    let identity = match &input.identity {
        Some(identity) => {
            check_identity(&mut p.errors, identity);
            Some(identity.clone())
        }
        None => (mode == Mode::Create).then(BrandIdentity::default),
    };
    let tone_of_voice = p.nullable("tone_of_voice", &input.tone_of_voice, |s| owned(no_nul(s)));
    let communication_style = p.nullable("communication_style", &input.communication_style, |s| {
        owned(no_nul(s))
    });
    let brand_personality = list(&mut p, "brand_personality", &input.brand_personality);
    let guardrails = list(&mut p, "guardrails", &input.guardrails);
    let key_messages = list(&mut p, "key_messages", &input.key_messages);
    let target_audience = p.nullable("target_audience", &input.target_audience, |s| {
        owned(no_nul(s))
    });
    let country = p.required("country", &input.country, |c| CountryCode::parse(c));
    let language = p.required("language", &input.language, |l| LanguageCode::parse(l));
    let currency = p.nullable("currency", &input.currency, |c| CurrencyCode::parse(c));
    let logo = match &input.logo {
        Some(Some(raw)) => check_logo(&mut p.errors, raw).map(Some),
        Some(None) => Some(None),
        None => (mode == Mode::Create).then_some(None),
    };
    let none = || Some(StoredColors(None));
    let colors = match &input.colors {
        Some(Some(raw)) => check_colors(&mut p.errors, raw).map(|c| Some(StoredColors(Some(c)))),
        Some(None) => Some(none()),
        None => (mode == Mode::Create).then(none),
    };
    let settings = match &input.settings {
        Some(settings) => {
            check_settings(&mut p.errors, settings);
            Some(settings.clone())
        }
        None => (mode == Mode::Create).then(BrandSettings::default),
    };
    let parent_brand_id = p.nullable("parent_brand_id", &input.parent_brand_id, |id| {
        Ok::<_, InvalidValue>(*id)
    });
    let master_claim_brand_ids = match &input.master_claim_brand_ids {
        Some(ids) => {
            let mut seen = HashSet::new();
            for (i, id) in ids.iter().enumerate() {
                if !seen.insert(*id) {
                    p.push(format!("master_claim_brand_ids[{i}]"), "listed twice");
                }
            }
            Some(ids.clone())
        }
        None => (mode == Mode::Create).then(Vec::new),
    };
    p.finish(BrandValues {
        name,
        slug,
        description,
        identity,
        tone_of_voice,
        communication_style,
        brand_personality,
        guardrails,
        key_messages,
        target_audience,
        country,
        language,
        currency,
        logo,
        colors,
        settings,
        parent_brand_id,
        master_claim_brand_ids,
    })
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

/// A slug that also fits `brands.slug`, which is narrower than `content.slug`.
fn brand_slug(slug: Slug) -> Result<Slug, InvalidValue> {
    if slug.as_str().len() > Slug::BRAND_MAX_CHARS {
        Err(InvalidValue::new("slug", "longer than 255 characters"))
    } else {
        Ok(slug)
    }
}

/// A list whose items must not be blank, each checked under `field[i]`. Unset in a patch is `None`;
/// unset on create is empty.
fn list(p: &mut Parser, field: &str, items: &Option<Vec<String>>) -> Option<Vec<String>> {
    let Some(items) = items else {
        return (p.mode == Mode::Create).then(Vec::new);
    };
    check_items(&mut p.errors, field, items);
    Some(items.clone())
}

fn check_items(errors: &mut ValidationErrors, field: &str, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        errors.check(&format!("{field}[{i}]"), non_blank(item, usize::MAX));
    }
}

fn check_identity(errors: &mut ValidationErrors, identity: &BrandIdentity) {
    for (field, v) in [
        ("identity.mission", &identity.mission),
        ("identity.vision", &identity.vision),
        ("identity.usp", &identity.usp),
    ] {
        if let Some(v) = v {
            errors.check(field, no_nul(v));
        }
    }
    check_items(errors, "identity.values", &identity.values);
}

/// Every problem of a logo: its kind, URL and alternative text, each checked even when another is
/// wrong.
fn check_logo(errors: &mut ValidationErrors, raw: &LogoInput) -> Option<BrandLogo> {
    let kind = errors.check("logo.type", raw.kind.parse::<LogoKind>());
    let url = errors.check("logo.url", http_url(&raw.url));
    let alt_text = errors.check("logo.alt_text", non_blank(&raw.alt_text, usize::MAX));
    Some(BrandLogo {
        url: url?.to_owned(),
        alt_text: alt_text?.to_owned(),
        kind: kind?,
    })
}

fn check_colors(errors: &mut ValidationErrors, raw: &ColorsInput) -> Option<BrandColors> {
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

fn check_settings(errors: &mut ValidationErrors, settings: &BrandSettings) {
    for (i, t) in settings.content_types.iter().enumerate() {
        errors.check(&format!("settings.content_types[{i}]"), non_blank(t, 50));
    }
    check_items(errors, "settings.features", &settings.features);
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

/// Which brands [`BrandRepo::list`](super::BrandRepo::list) and
/// [`BrandRepo::sub_brands`](super::BrandRepo::sub_brands) return: every set condition must hold.
/// Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandFilter {
    /// Only brands for this market.
    pub country: Option<CountryCode>,
    /// Soft-deleted brands too, or only them (default: live brands only).
    pub deleted: Deleted,
}

// ---------------------------------------------------------------------------------------------
// Memberships
// ---------------------------------------------------------------------------------------------

/// A validated new membership (a role to grant); build one with [`NewMembership::builder`] and grant
/// it with [`BrandRepo::grant`](super::BrandRepo::grant).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMembership {
    pub(crate) values: MembershipValues,
}

impl NewMembership {
    /// Starts a builder; [`NewMembershipBuilder::build`] reports every problem at once.
    pub fn builder() -> NewMembershipBuilder {
        NewMembershipBuilder::default()
    }
}

/// A validated change to a membership: only what was set is written, and a patch that sets nothing
/// writes nothing. Build one with [`MembershipPatch::builder`]; apply it with
/// [`BrandRepo::change_role`](super::BrandRepo::change_role).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MembershipPatch {
    pub(crate) values: MembershipValues,
}

impl MembershipPatch {
    /// Starts a builder; [`MembershipPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> MembershipPatchBuilder {
        MembershipPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Raw input for a [`NewMembership`]. Deserialises from the JSON of a [`MembershipInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewMembershipBuilder(MembershipInput);

/// Raw input for a [`MembershipPatch`]. Deserialises from the JSON of a [`MembershipInput`] (`null`
/// clears the expiry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MembershipPatchBuilder(MembershipInput);

input! {
    /// The raw input of a membership, shared by [`NewMembershipBuilder`] and
    /// [`MembershipPatchBuilder`]: every field optional, as a request carries it.
    pub struct MembershipInput;
    builders NewMembershipBuilder, MembershipPatchBuilder;
    values MembershipValues, columns membership_input_columns;
    fields {
        /// The role (required on create).
        role "role": value BrandRole => BrandRole, role maybe_role;
        /// When the access ends; clear it for access without end. A passed expiry grants nothing
        /// (granting one is allowed: it records access that has ended).
        expires_at "expires_at": nullable DateTime<Utc> => DateTime<Utc>,
            expires_at maybe_expires_at clear_expires_at;
        /// Extra permissions as the host names them, each not blank; repeats dropped.
        permissions "permissions": list String => Vec<String>,
            permissions maybe_permissions permission;
        /// Restrictions as the host names them, each not blank; repeats dropped.
        restrictions "restrictions": list String => Vec<String>,
            restrictions maybe_restrictions restriction;
    }
}

impl NewMembershipBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewMembership, ValidationErrors> {
        Ok(NewMembership {
            values: parse_membership(&self.0, Mode::Create)?,
        })
    }
}

impl MembershipPatchBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<MembershipPatch, ValidationErrors> {
        Ok(MembershipPatch {
            values: parse_membership(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a membership input.
fn parse_membership(
    input: &MembershipInput,
    mode: Mode,
) -> Result<MembershipValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let role = p.required("role", &input.role, |r| Ok::<_, InvalidValue>(*r));
    let expires_at = p.nullable("expires_at", &input.expires_at, |t| {
        Ok::<_, InvalidValue>(*t)
    });
    let permissions = names(&mut p, "permissions", &input.permissions);
    let restrictions = names(&mut p, "restrictions", &input.restrictions);
    p.finish(MembershipValues {
        role,
        expires_at,
        permissions,
        restrictions,
    })
}

/// Permission or restriction names: not blank, at most 100 characters, repeats dropped (first kept).
fn names(p: &mut Parser, field: &str, items: &Option<Vec<String>>) -> Option<Vec<String>> {
    let Some(items) = items else {
        return (p.mode == Mode::Create).then(Vec::new);
    };
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(v) = p
            .errors
            .check(&format!("{field}[{i}]"), non_blank(item, 100))
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_owned());
        }
    }
    Some(out)
}

/// Which memberships [`BrandRepo::members`](super::BrandRepo::members) and
/// [`BrandRepo::memberships_of`](super::BrandRepo::memberships_of) return. By default only roles that
/// grant access now, held by users who are not soft-deleted (issue #10); the two switches bring the
/// others back, e.g. to show who had access until when. Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemberFilter {
    /// Only this role.
    pub role: Option<BrandRole>,
    /// Expired roles too.
    pub include_expired: bool,
    /// Roles of soft-deleted users too.
    pub include_deleted_users: bool,
}

// ---------------------------------------------------------------------------------------------
// Vetting agencies
// ---------------------------------------------------------------------------------------------

/// A validated new vetting agency; build one with [`NewVettingAgency::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewVettingAgency {
    pub(crate) values: VettingAgencyValues,
}

impl NewVettingAgency {
    /// Starts a builder; [`NewVettingAgencyBuilder::build`] reports every problem at once.
    pub fn builder() -> NewVettingAgencyBuilder {
        NewVettingAgencyBuilder::default()
    }
}

/// A validated change to a vetting agency: only what was set is written, and a patch that sets
/// nothing writes nothing. Build one with [`VettingAgencyPatch::builder`]; apply it with
/// [`BrandRepo::update_vetting_agency`](super::BrandRepo::update_vetting_agency).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VettingAgencyPatch {
    pub(crate) values: VettingAgencyValues,
}

impl VettingAgencyPatch {
    /// Starts a builder; [`VettingAgencyPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> VettingAgencyPatchBuilder {
        VettingAgencyPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Raw input for a [`NewVettingAgency`]. Deserialises from the JSON of a [`VettingAgencyInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewVettingAgencyBuilder(VettingAgencyInput);

/// Raw input for a [`VettingAgencyPatch`]. Deserialises from the JSON of a [`VettingAgencyInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VettingAgencyPatchBuilder(VettingAgencyInput);

input! {
    /// The raw input of a vetting agency, shared by [`NewVettingAgencyBuilder`] and
    /// [`VettingAgencyPatchBuilder`]: every field optional, as a request carries it.
    pub struct VettingAgencyInput;
    builders NewVettingAgencyBuilder, VettingAgencyPatchBuilder;
    values VettingAgencyValues, columns vetting_agency_input_columns;
    fields {
        /// Name (required on create; not blank, at most 255 characters, unique within the brand).
        agency_name "agency_name": value String => String, agency_name maybe_agency_name;
        /// Priority; lower is tried first (default 0).
        priority "priority": value i32 => i32, priority maybe_priority;
        /// Whether it is used (default `true`). A deactivated agency stays listed, after the active
        /// ones, so the record of who vetted what survives.
        is_active "is_active": value bool => bool, is_active maybe_is_active;
    }
}

impl NewVettingAgencyBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewVettingAgency, ValidationErrors> {
        Ok(NewVettingAgency {
            values: parse_vetting_agency(&self.0, Mode::Create)?,
        })
    }
}

impl VettingAgencyPatchBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<VettingAgencyPatch, ValidationErrors> {
        Ok(VettingAgencyPatch {
            values: parse_vetting_agency(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a vetting agency input.
fn parse_vetting_agency(
    input: &VettingAgencyInput,
    mode: Mode,
) -> Result<VettingAgencyValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let agency_name = p.required("agency_name", &input.agency_name, |n| {
        owned(non_blank(n, 255))
    });
    let priority = p.defaulted(
        "priority",
        &input.priority,
        || 0,
        |v| Ok::<_, InvalidValue>(*v),
    );
    let is_active = p.defaulted(
        "is_active",
        &input.is_active,
        || true,
        |v| Ok::<_, InvalidValue>(*v),
    );
    p.finish(VettingAgencyValues {
        agency_name,
        priority,
        is_active,
    })
}

/// Which agencies [`BrandRepo::vetting_agencies`](super::BrandRepo::vetting_agencies) returns.
/// Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VettingAgencyFilter {
    /// Only active (`true`) or only deactivated (`false`) agencies.
    pub is_active: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn minimal() -> NewBrandBuilder {
        NewBrand::builder()
            .name("Acme")
            .country("gb")
            .language("EN")
    }

    #[test]
    fn setters_of_both_brand_builders_fill_the_same_raw_input() {
        let new = NewBrand::builder()
            .name("A")
            .guardrail("x")
            .guardrail("y")
            .colors(ColorsInput::new("#abc").accent("#fff"))
            .clear_currency()
            .maybe_slug(None::<String>);
        let patch = BrandPatch::builder()
            .name("A")
            .guardrails(["x", "y"])
            .colors(ColorsInput::new("#abc").accent("#fff"))
            .clear_currency();
        assert_eq!(new.input(), patch.input());
    }

    #[test]
    fn a_create_writes_every_input_column_with_defaults_and_a_patch_only_what_is_set() {
        let new = minimal().build().unwrap();
        let record = serde_json::to_value(&new.values).unwrap();
        let mut keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut columns: Vec<&str> = brand_input_columns!().split(", ").collect();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(record["slug"], "acme");
        assert_eq!(record["country"], "GB");
        assert_eq!(record["language"], "en");
        assert_eq!(
            record["colors"],
            serde_json::json!({}),
            "none is {{}}, never NULL"
        );
        assert_eq!(record["logo"], serde_json::Value::Null);
        assert_eq!(record["identity"], serde_json::json!({}));

        let patch = BrandPatch::builder()
            .clear_colors()
            .clear_description()
            .maybe_name(None::<String>)
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({"colors": {}, "description": null})
        );
        assert!(BrandPatch::builder().build().unwrap().is_empty());
    }

    #[test]
    fn a_create_needs_name_country_and_language_and_a_derivable_slug() {
        let err = NewBrand::builder().build().unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "country", "language"], "{err}");
        let err = NewBrand::builder()
            .name("!!!")
            .country("GB")
            .language("en")
            .build()
            .unwrap_err();
        assert_eq!(err.errors()[0].field, "slug", "{err}");
        let err = NewBrand::builder()
            .name("a")
            .slug("a".repeat(256))
            .country("GB")
            .language("en")
            .build()
            .unwrap_err();
        assert_eq!(err.errors()[0].reason, "longer than 255 characters");
    }

    #[test]
    fn a_patch_that_names_the_brand_itself_is_refused_for_that_brand_only() {
        let id = BrandId::new();
        let patch = BrandPatch::builder()
            .parent_brand_id(id)
            .master_claim_brand_id(BrandId::new())
            .master_claim_brand_id(id)
            .build()
            .unwrap();
        let err = patch.check_for(id).unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["parent_brand_id", "master_claim_brand_ids[1]"]);
        assert!(patch.check_for(BrandId::new()).is_ok());
    }

    #[test]
    fn deserialising_a_brand_then_building_equals_the_setters() {
        let parent = BrandId::new();
        let json = serde_json::json!({
            "name": "Acme", "country": "gb", "language": "en", "currency": "eur",
            "guardrails": ["Be kind"], "brand_personality": ["warm"],
            "logo": {"url": "https://x.com/l.png", "altText": "Logo", "type": "dark"},
            "colors": {"primary": "#ABC", "accent": "#fff"},
            "identity": {"mission": "M"}, "settings": {"contentTypes": ["article"]},
            "parent_brand_id": parent,
        });
        let from_json: NewBrandBuilder = serde_json::from_value(json).unwrap();
        let by_setters = NewBrand::builder()
            .name("Acme")
            .country("gb")
            .language("en")
            .currency("eur")
            .guardrail("Be kind")
            .personality_trait("warm")
            .logo(LogoInput::new("https://x.com/l.png", "Logo", "dark"))
            .colors(ColorsInput::new("#ABC").accent("#fff"))
            .identity(BrandIdentity {
                mission: Some("M".into()),
                ..Default::default()
            })
            .settings(BrandSettings {
                content_types: vec!["article".into()],
                ..Default::default()
            })
            .parent_brand_id(parent);
        assert_eq!(from_json, by_setters);
        // Each build chooses a new id; the values are what must agree.
        assert_eq!(
            from_json.build().unwrap().values,
            by_setters.build().unwrap().values
        );

        let patch: BrandPatchBuilder = serde_json::from_str(
            r#"{"description": null, "colors": null, "parent_brand_id": null, "name": "B"}"#,
        )
        .unwrap();
        assert_eq!(
            patch.build().unwrap(),
            BrandPatch::builder()
                .clear_description()
                .clear_colors()
                .clear_parent_brand_id()
                .name("B")
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<BrandPatchBuilder>(r#"{"nmae": "typo"}"#).is_err());
        assert!(serde_json::from_str::<BrandPatchBuilder>(r#"{"name": null}"#).is_err());
        let filter: BrandFilter =
            serde_json::from_str(r#"{"country": "fr", "deleted": "only"}"#).unwrap();
        assert_eq!(filter.country.unwrap().as_str(), "FR");
        assert_eq!(filter.deleted, Deleted::Only);
    }

    #[test]
    fn membership_inputs_require_a_role_drop_repeats_and_round_trip_through_json() {
        let err = NewMembership::builder().build().unwrap_err();
        assert_eq!(err.errors()[0].field, "role");
        let err = NewMembership::builder()
            .role(BrandRole::Viewer)
            .permission(" ")
            .restriction("x".repeat(101))
            .build()
            .unwrap_err();
        let fields: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["permissions[0]", "restrictions[0]"]);

        let at: DateTime<Utc> = "2030-01-02T03:04:05Z".parse().unwrap();
        let from_json: NewMembershipBuilder = serde_json::from_value(serde_json::json!({
            "role": "editor", "expires_at": "2030-01-02T03:04:05Z",
            "permissions": ["publish", "publish", "export"],
        }))
        .unwrap();
        let by_setters = NewMembership::builder()
            .role(BrandRole::Editor)
            .expires_at(at)
            .permissions(["publish", "publish", "export"]);
        assert_eq!(from_json, by_setters);
        let built = from_json.build().unwrap();
        assert_eq!(built, by_setters.build().unwrap());
        assert_eq!(
            built.values.permissions.as_deref().unwrap(),
            ["publish", "export"]
        );
        assert_eq!(built.values.restrictions.as_deref(), Some(&[][..]));

        let patch: MembershipPatchBuilder =
            serde_json::from_str(r#"{"expires_at": null}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            MembershipPatch::builder()
                .clear_expires_at()
                .build()
                .unwrap()
        );
        assert!(MembershipPatch::builder().build().unwrap().is_empty());
        assert!(serde_json::from_str::<MembershipPatchBuilder>(r#"{"role": "owner"}"#).is_err());
        let filter: MemberFilter =
            serde_json::from_str(r#"{"role": "admin", "include_expired": true}"#).unwrap();
        assert_eq!(
            filter,
            MemberFilter {
                role: Some(BrandRole::Admin),
                include_expired: true,
                include_deleted_users: false
            }
        );
        assert_eq!(
            serde_json::to_value(&built.values).unwrap(),
            serde_json::json!({
                "role": "editor", "expires_at": "2030-01-02T03:04:05Z",
                "permissions": ["publish", "export"], "restrictions": [],
            })
        );
    }

    #[test]
    fn vetting_agency_inputs_default_and_round_trip_through_json() {
        let err = NewVettingAgency::builder()
            .agency_name(" ")
            .build()
            .unwrap_err();
        assert_eq!(err.errors()[0].field, "agency_name");
        assert!(
            VettingAgencyPatch::builder()
                .agency_name("")
                .build()
                .is_err()
        );
        let new = NewVettingAgency::builder()
            .agency_name("Lab")
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&new.values).unwrap(),
            serde_json::json!({"agency_name": "Lab", "priority": 0, "is_active": true})
        );
        let from_json: NewVettingAgencyBuilder =
            serde_json::from_str(r#"{"agency_name": "Lab", "priority": 3}"#).unwrap();
        assert_eq!(
            from_json.build().unwrap(),
            NewVettingAgency::builder()
                .agency_name("Lab")
                .priority(3)
                .build()
                .unwrap()
        );
        let patch: VettingAgencyPatchBuilder =
            serde_json::from_str(r#"{"is_active": false}"#).unwrap();
        let patch = patch.build().unwrap();
        assert_eq!(
            patch,
            VettingAgencyPatch::builder()
                .is_active(false)
                .build()
                .unwrap()
        );
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({"is_active": false})
        );
        assert!(VettingAgencyPatch::builder().build().unwrap().is_empty());
        let filter: VettingAgencyFilter = serde_json::from_str(r#"{"is_active": true}"#).unwrap();
        assert_eq!(filter.is_active, Some(true));
    }

    proptest! {
        #[test]
        fn any_brand_patch_input_builds_or_reports_errors_without_panicking(
            name in proptest::option::of(".{0,20}"), slug in proptest::option::of(".{0,12}"),
            tone in proptest::option::of(proptest::option::of(".{0,12}")),
            items in proptest::collection::vec(".{0,8}", 0..4),
            country in proptest::option::of(".{0,3}"), colour in proptest::option::of(".{0,8}"),
            kind in ".{0,6}", url in ".{0,24}",
        ) {
            let mut b = BrandPatch::builder().maybe_name(name).maybe_slug(slug)
                .key_messages(items.clone()).maybe_country(country)
                .logo(LogoInput::new(url, "alt", kind));
            b = match tone {
                Some(Some(t)) => b.tone_of_voice(t),
                Some(None) => b.clear_tone_of_voice(),
                None => b,
            };
            if let Some(c) = colour {
                b = b.colors(ColorsInput::new(c.clone()).secondary(c));
            }
            match b.build() {
                Ok(patch) => {
                    prop_assert_eq!(patch.values.key_messages, Some(items));
                    prop_assert!(patch.values.logo.is_some());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }

        #[test]
        fn any_membership_or_agency_input_builds_or_reports_errors_without_panicking(
            names in proptest::collection::vec(".{0,120}", 0..4), agency in ".{0,260}",
            priority: i32,
        ) {
            match NewMembership::builder().role(BrandRole::Editor).permissions(names.clone())
                .restrictions(names).build()
            {
                Ok(m) => {
                    let permissions = m.values.permissions.unwrap();
                    let unique: HashSet<&String> = permissions.iter().collect();
                    prop_assert!(permissions.iter().all(|p| !p.trim().is_empty()));
                    prop_assert_eq!(permissions.len(), unique.len());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            match NewVettingAgency::builder().agency_name(agency).priority(priority).build() {
                Ok(a) => prop_assert_eq!(a.values.priority, Some(priority)),
                Err(e) => prop_assert_eq!(e.errors()[0].field.as_str(), "agency_name"),
            }
        }
    }
}
