//! Claims: what a brand may, may not and must say, by market and date (spec 2.5 / 3.5). Model,
//! builder, patch, repository.
//!
//! A claim is a rule content is checked against, so only a brand's admins write claims (migration
//! 0013); its viewers and editors read them. Every change is a save with an optimistic-concurrency
//! check: [`ClaimRepo::update`], [`ClaimRepo::delete`] and [`ClaimRepo::restore`] take the `version`
//! the caller last read, refuse with [`Error::Conflict`] on [`STALE_VERSION`] when the claim changed
//! since, and otherwise bump `version` and record the scope's user as `updated_by`.
//!
//! # Where a claim applies
//! - **Countries**: an empty list means every country (spec: "empty = all"). So a
//!   [`ClaimFilter::country`] filter for `FR` returns the claims listing `FR` *and* the claims
//!   listing no country: both apply in France.
//! - **Dates**: a claim is in effect at `t` when `effective_from <= t` and (`effective_to` is open or
//!   `t < effective_to`): the range is half-open, so a claim replaced by another at the same instant
//!   is never in effect together with it.
//!
//! # Decisions where the spec is silent
//! - Lists (`products`, `ingredients`, `regulatory_references`, `documentation_urls`,
//!   `replacements`) are never NULL in the model: empty means none. The crate writes empty lists, and
//!   reads a NULL written by others as empty.
//! - Countries, products, ingredients and translation languages may not repeat; a replacement names
//!   a country the claim applies in (any country when the claim lists none), at most once per country.
//! - Effective dates are kept to the microsecond (PostgreSQL's precision), between the years 1 and
//!   9999, so what is built is exactly what is stored.
//! - Soft delete keeps the row: [`ClaimRepo::get`] still returns it (with `deleted_at` set), lists
//!   leave it out, and [`ClaimRepo::restore`] brings it back.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::text_enum::text_enum;
use crate::types::{
    BrandId, ClaimId, CountryCode, InvalidValue, LanguageCode, UserId, http_url, no_nul, non_blank,
};
use crate::{Error, Result, ValidationErrors};

/// The constraint name [`Error::Conflict`] carries when a claim changed since the caller read it
/// (its `version` is no longer the one given). Nothing was written.
pub const STALE_VERSION: &str = "claims_stale_version";

/// What a claim is about (`claims.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimType {
    /// A master claim of the brand, the source others derive from.
    Master,
    /// A claim about a product.
    Product,
    /// A claim about an ingredient.
    Ingredient,
}

text_enum!(ClaimType {
    Master => "master",
    Product => "product",
    Ingredient => "ingredient",
});

/// At which level a claim is made (`claims.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimLevel {
    /// For the whole brand.
    Brand,
    /// For specific products.
    Product,
    /// For specific ingredients.
    Ingredient,
}

text_enum!(ClaimLevel {
    Brand => "brand",
    Product => "product",
    Ingredient => "ingredient",
});

/// Whether content may, may not or must make the claim (`claims.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    /// Content may say it.
    Allowed,
    /// Content must not say it.
    Disallowed,
    /// Content must say it.
    Mandatory,
}

text_enum!(ClaimStatus {
    Allowed => "allowed",
    Disallowed => "disallowed",
    Mandatory => "mandatory",
});

/// A claim's wording: the original and its translations by language (`claims.text`).
///
/// Stored as one JSON object, `{"original": "...", "fr": "...", ...}` (spec 2.5). Reading a stored
/// object validates it as the builders do: a key that is neither `original` nor an ISO 639-1 code,
/// or a blank text, fails to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimText {
    original: String,
    translations: BTreeMap<LanguageCode, String>,
}

impl ClaimText {
    /// The wording as written.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The translation into `language`, if there is one.
    pub fn translation(&self, language: LanguageCode) -> Option<&str> {
        self.translations.get(&language).map(String::as_str)
    }

    /// The translation into `language`, or the original when there is none.
    pub fn in_language(&self, language: LanguageCode) -> &str {
        self.translation(language).unwrap_or(&self.original)
    }

    /// Every translation, ordered by language code.
    pub fn translations(&self) -> impl Iterator<Item = (LanguageCode, &str)> {
        self.translations.iter().map(|(l, t)| (*l, t.as_str()))
    }
}

impl Serialize for ClaimText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1 + self.translations.len()))?;
        map.serialize_entry("original", &self.original)?;
        for (language, text) in &self.translations {
            map.serialize_entry(language.as_str(), text)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ClaimText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(deserializer)?;
        let mut errors = ValidationErrors::new();
        let original = raw.get("original").cloned();
        let translations: Vec<(String, String)> = raw
            .iter()
            .filter(|(key, _)| *key != "original")
            .map(|(language, text)| (language.clone(), text.clone()))
            .collect();
        parse_text(&mut errors, original.as_deref(), &translations)
            .filter(|_| errors.is_empty())
            .ok_or_else(|| serde::de::Error::custom(format_args!("invalid claim text: {errors}")))
    }
}

/// A country-specific wording to use instead of the claim (`claims.replacements[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimReplacement {
    /// Where the replacement applies.
    pub country: CountryCode,
    /// The wording to use there.
    pub replacement: String,
    /// Why, e.g. the regulation that requires it.
    pub reason: String,
}

/// A claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Claim {
    /// Primary key.
    pub id: ClaimId,
    /// The brand that owns it.
    pub brand_id: BrandId,
    /// What it is about.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// At which level it is made.
    pub level: ClaimLevel,
    /// Its wording and translations.
    #[sqlx(json)]
    pub text: ClaimText,
    /// Allowed, disallowed or mandatory.
    pub status: ClaimStatus,
    /// Where it applies; empty means every country.
    pub countries: Vec<CountryCode>,
    /// The products it is limited to; empty means not limited.
    pub products: Vec<Uuid>,
    /// The ingredients it is limited to; empty means not limited.
    pub ingredients: Vec<String>,
    /// When it takes effect.
    pub effective_from: DateTime<Utc>,
    /// When it stops (exclusive); `None` while open-ended.
    pub effective_to: Option<DateTime<Utc>>,
    /// Regulations it rests on.
    pub regulatory_references: Vec<String>,
    /// Supporting documents (http(s) URLs).
    pub documentation_urls: Vec<String>,
    /// Free text.
    pub notes: Option<String>,
    /// Country-specific wordings.
    #[sqlx(json)]
    pub replacements: Vec<ClaimReplacement>,
    /// Saves so far; the optimistic-concurrency token.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who changed it last.
    pub updated_by: UserId,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Claim {
    /// Whether the claim applies in `country`: it lists it, or lists no country at all.
    pub fn applies_in(&self, country: CountryCode) -> bool {
        self.countries.is_empty() || self.countries.contains(&country)
    }

    /// Whether the claim is in effect at `at` (`effective_from <= at < effective_to`).
    pub fn is_effective_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_from <= at && self.effective_to.is_none_or(|to| at < to)
    }
}

// NULL lists written by others read as empty (see the module docs).
const CLAIM_COLUMNS: &str = "id, brand_id, type, level, text, status, countries, \
    coalesce(products, '{}') AS products, coalesce(ingredients, '{}') AS ingredients, \
    effective_from, effective_to, \
    coalesce(regulatory_references, '{}') AS regulatory_references, \
    coalesce(documentation_urls, '{}') AS documentation_urls, notes, \
    coalesce(replacements, '[]') AS replacements, \
    version, created_by, created_at, updated_by, updated_at, deleted_at";

/// Every writable column of a claim, validated.
#[derive(Debug, Clone, PartialEq)]
struct ClaimValues {
    claim_type: ClaimType,
    level: ClaimLevel,
    text: ClaimText,
    status: ClaimStatus,
    countries: Vec<CountryCode>,
    products: Vec<Uuid>,
    ingredients: Vec<String>,
    effective_from: DateTime<Utc>,
    effective_to: Option<DateTime<Utc>>,
    regulatory_references: Vec<String>,
    documentation_urls: Vec<String>,
    notes: Option<String>,
    replacements: Vec<ClaimReplacement>,
}

impl ClaimValues {
    fn of(claim: &Claim) -> Self {
        Self {
            claim_type: claim.claim_type,
            level: claim.level,
            text: claim.text.clone(),
            status: claim.status,
            countries: claim.countries.clone(),
            products: claim.products.clone(),
            ingredients: claim.ingredients.clone(),
            effective_from: claim.effective_from,
            effective_to: claim.effective_to,
            regulatory_references: claim.regulatory_references.clone(),
            documentation_urls: claim.documentation_urls.clone(),
            notes: claim.notes.clone(),
            replacements: claim.replacements.clone(),
        }
    }

    /// The rules between fields: the effective range, and replacements only where the claim applies.
    fn check_consistency(&self, errors: &mut ValidationErrors) {
        check_rules(
            errors,
            Some(self.effective_from),
            self.effective_to,
            Some(&self.countries),
            Some(&self.replacements),
        );
    }
}

/// The rules between fields, checked between those given (a field with a problem of its own is
/// reported once, not again through the fields it relates to).
fn check_rules(
    errors: &mut ValidationErrors,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    countries: Option<&[CountryCode]>,
    replacements: Option<&[ClaimReplacement]>,
) {
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        errors.push("effective_to", "must be after effective_from");
    }
    if let (Some(countries), Some(replacements)) = (countries, replacements)
        && !countries.is_empty()
    {
        for (i, r) in replacements.iter().enumerate() {
            if !countries.contains(&r.country) {
                errors.push(
                    format!("replacements[{i}].country"),
                    "is not among the claim's countries",
                );
            }
        }
    }
}

/// A validated new claim; build one with [`NewClaim::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewClaim(ClaimValues);

impl NewClaim {
    /// Starts a builder; [`NewClaimBuilder::build`] reports every problem at once.
    pub fn builder() -> NewClaimBuilder {
        NewClaimBuilder::default()
    }
}

/// Raw input shared by [`NewClaimBuilder`] and [`ClaimPatchBuilder`]: `None` is "not given".
#[derive(Debug, Clone, Default)]
struct RawClaim {
    claim_type: Option<ClaimType>,
    level: Option<ClaimLevel>,
    status: Option<ClaimStatus>,
    original: Option<String>,
    translations: Vec<(String, String)>,
    countries: Option<Vec<String>>,
    products: Option<Vec<Uuid>>,
    ingredients: Option<Vec<String>>,
    effective_from: Option<DateTime<Utc>>,
    effective_to: Option<Option<DateTime<Utc>>>,
    regulatory_references: Option<Vec<String>>,
    documentation_urls: Option<Vec<String>>,
    notes: Option<Option<String>>,
    replacements: Option<Vec<(String, String, String)>>,
}

/// The given fields of a [`RawClaim`], each parsed; a field with a problem is `None` and its
/// problems are in the report.
#[derive(Debug, Clone, Default)]
struct ParsedClaim {
    text: Option<ClaimText>,
    countries: Option<Vec<CountryCode>>,
    products: Option<Vec<Uuid>>,
    ingredients: Option<Vec<String>>,
    effective_from: Option<DateTime<Utc>>,
    effective_to: Option<Option<DateTime<Utc>>>,
    regulatory_references: Option<Vec<String>>,
    documentation_urls: Option<Vec<String>>,
    notes: Option<Option<String>>,
    replacements: Option<Vec<ClaimReplacement>>,
}

impl RawClaim {
    fn parse(&self, errors: &mut ValidationErrors) -> ParsedClaim {
        let mut parsed = ParsedClaim::default();
        if self.original.is_some() || !self.translations.is_empty() {
            parsed.text = parse_text(errors, self.original.as_deref(), &self.translations);
        }
        parsed.countries = self
            .countries
            .as_ref()
            .and_then(|cs| parse_list(errors, "countries", cs, CountryCode::parse));
        parsed.products = self.products.as_ref().and_then(|ps| {
            let mut seen = HashSet::new();
            let start = errors.errors().len();
            for (i, p) in ps.iter().enumerate() {
                if !seen.insert(p) {
                    errors.push(format!("products[{i}]"), "is listed twice");
                }
            }
            (errors.errors().len() == start).then(|| ps.clone())
        });
        parsed.ingredients = self.ingredients.as_ref().and_then(|is| {
            parse_list(errors, "ingredients", is, |i| {
                non_blank(i, usize::MAX).map(str::to_owned)
            })
        });
        parsed.effective_from = self
            .effective_from
            .and_then(|t| errors.check("effective_from", timestamp(t)));
        parsed.effective_to = self.effective_to.and_then(|t| match t {
            Some(t) => errors.check("effective_to", timestamp(t)).map(Some),
            None => Some(None),
        });
        parsed.regulatory_references = self.regulatory_references.as_ref().and_then(|rs| {
            parse_list(errors, "regulatory_references", rs, |r| {
                non_blank(r, usize::MAX).map(str::to_owned)
            })
        });
        parsed.documentation_urls = self.documentation_urls.as_ref().and_then(|us| {
            parse_list(errors, "documentation_urls", us, |u| {
                http_url(u).map(str::to_owned)
            })
        });
        parsed.notes = self.notes.as_ref().and_then(|n| match n {
            Some(n) => errors.check("notes", no_nul(n)).map(|n| Some(n.to_owned())),
            None => Some(None),
        });
        parsed.replacements = self.replacements.as_ref().and_then(|rs| {
            let start = errors.errors().len();
            let mut seen = HashSet::new();
            let mut out = Vec::with_capacity(rs.len());
            for (i, (country, replacement, reason)) in rs.iter().enumerate() {
                let country = errors.check(
                    &format!("replacements[{i}].country"),
                    CountryCode::parse(country),
                );
                if let Some(c) = country
                    && !seen.insert(c)
                {
                    errors.push(
                        format!("replacements[{i}].country"),
                        "has a replacement already",
                    );
                }
                let replacement = errors.check(
                    &format!("replacements[{i}].replacement"),
                    non_blank(replacement, usize::MAX),
                );
                let reason = errors.check(
                    &format!("replacements[{i}].reason"),
                    non_blank(reason, usize::MAX),
                );
                if let (Some(country), Some(replacement), Some(reason)) =
                    (country, replacement, reason)
                {
                    out.push(ClaimReplacement {
                        country,
                        replacement: replacement.to_owned(),
                        reason: reason.to_owned(),
                    });
                }
            }
            (errors.errors().len() == start).then_some(out)
        });
        parsed
    }
}

/// Parses a claim's text: a non-blank original and non-blank translations keyed by distinct ISO
/// 639-1 codes. Problems go to `text.original` and `text.<key>`.
fn parse_text(
    errors: &mut ValidationErrors,
    original: Option<&str>,
    translations: &[(String, String)],
) -> Option<ClaimText> {
    let start = errors.errors().len();
    let original = match original {
        Some(o) => errors.check("text.original", non_blank(o, usize::MAX)),
        None => {
            errors.push("text.original", "is required");
            None
        }
    };
    let mut map = BTreeMap::new();
    for (key, text) in translations {
        let field = format!("text.{key}");
        let language = errors.check(&field, LanguageCode::parse(key));
        let text = errors.check(&field, non_blank(text, usize::MAX));
        if let (Some(language), Some(text)) = (language, text)
            && map.insert(language, text.to_owned()).is_some()
        {
            errors.push(field, "a translation into this language is given already");
        }
    }
    (errors.errors().len() == start).then(|| ClaimText {
        original: original.expect("checked").to_owned(),
        translations: map,
    })
}

/// Parses every item of a list (problems at `field[i]`), refusing repeats.
fn parse_list<T: Eq + std::hash::Hash + Clone, E: std::fmt::Display>(
    errors: &mut ValidationErrors,
    field: &str,
    items: &[String],
    parse: impl Fn(&str) -> std::result::Result<T, E>,
) -> Option<Vec<T>> {
    let start = errors.errors().len();
    let mut seen = HashSet::with_capacity(items.len());
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(value) = errors.check(&format!("{field}[{i}]"), parse(item)) {
            if seen.insert(value.clone()) {
                out.push(value);
            } else {
                errors.push(format!("{field}[{i}]"), "is listed twice");
            }
        }
    }
    (errors.errors().len() == start).then_some(out)
}

/// A timestamp as PostgreSQL stores it: whole microseconds, within years 1 to 9999.
fn timestamp(t: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, InvalidValue> {
    if !(1..=9999).contains(&t.year()) {
        return Err(InvalidValue::new(
            "timestamp",
            "must be between the years 1 and 9999",
        ));
    }
    // Truncating (not rounding) as sqlx does when it encodes, so a value compares equal after a
    // round trip and the range check is made on what will be stored.
    Ok(DateTime::from_timestamp_micros(t.timestamp_micros()).expect("within years 1..=9999"))
}

/// Raw input for a [`NewClaim`]. Type, level, status and the original text are required; the
/// effective start defaults to the moment `build` runs.
#[derive(Debug, Clone, Default)]
pub struct NewClaimBuilder(RawClaim);

impl NewClaimBuilder {
    /// What the claim is about (required).
    pub fn claim_type(mut self, v: ClaimType) -> Self {
        self.0.claim_type = Some(v);
        self
    }
    /// At which level it is made (required).
    pub fn level(mut self, v: ClaimLevel) -> Self {
        self.0.level = Some(v);
        self
    }
    /// Allowed, disallowed or mandatory (required).
    pub fn status(mut self, v: ClaimStatus) -> Self {
        self.0.status = Some(v);
        self
    }
    /// The wording as written (required, not blank).
    pub fn text(mut self, original: impl Into<String>) -> Self {
        self.0.original = Some(original.into());
        self
    }
    /// Adds a translation into `language` (an ISO 639-1 code, any case).
    pub fn translation(mut self, language: impl Into<String>, text: impl Into<String>) -> Self {
        self.0.translations.push((language.into(), text.into()));
        self
    }
    /// Adds a country (ISO 3166-1 alpha-2, any case) the claim applies in. None: every country.
    pub fn country(mut self, v: impl Into<String>) -> Self {
        self.0.countries.get_or_insert_default().push(v.into());
        self
    }
    /// Limits the claim to a product.
    pub fn product(mut self, v: Uuid) -> Self {
        self.0.products.get_or_insert_default().push(v);
        self
    }
    /// Limits the claim to an ingredient (not blank).
    pub fn ingredient(mut self, v: impl Into<String>) -> Self {
        self.0.ingredients.get_or_insert_default().push(v.into());
        self
    }
    /// When the claim takes effect (default: when built).
    pub fn effective_from(mut self, v: DateTime<Utc>) -> Self {
        self.0.effective_from = Some(v);
        self
    }
    /// When it stops being in effect (exclusive; after `effective_from`).
    pub fn effective_to(mut self, v: DateTime<Utc>) -> Self {
        self.0.effective_to = Some(Some(v));
        self
    }
    /// Adds a regulation the claim rests on (not blank).
    pub fn regulatory_reference(mut self, v: impl Into<String>) -> Self {
        self.0
            .regulatory_references
            .get_or_insert_default()
            .push(v.into());
        self
    }
    /// Adds a supporting document (an absolute http(s) URL).
    pub fn documentation_url(mut self, v: impl Into<String>) -> Self {
        self.0
            .documentation_urls
            .get_or_insert_default()
            .push(v.into());
        self
    }
    /// Free text.
    pub fn notes(mut self, v: impl Into<String>) -> Self {
        self.0.notes = Some(Some(v.into()));
        self
    }
    /// Adds a wording to use instead in `country`, and why (both not blank).
    pub fn replacement(
        mut self,
        country: impl Into<String>,
        replacement: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        self.0.replacements.get_or_insert_default().push((
            country.into(),
            replacement.into(),
            reason.into(),
        ));
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewClaim, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let raw = self.0;
        let claim_type = required(&mut errors, "type", raw.claim_type);
        let level = required(&mut errors, "level", raw.level);
        let status = required(&mut errors, "status", raw.status);
        let mut parsed = raw.parse(&mut errors);
        if raw.original.is_none() && raw.translations.is_empty() {
            errors.push("text.original", "is required");
        }
        let effective_from = match raw.effective_from {
            Some(_) => parsed.effective_from,
            None => Some(timestamp(Utc::now()).expect("now is within years 1..=9999")),
        };
        // No countries given means every country, where any replacement is fine: skipping the rule
        // for a missing list is exact, not lenient.
        check_rules(
            &mut errors,
            effective_from,
            parsed.effective_to.flatten(),
            parsed.countries.as_deref(),
            parsed.replacements.as_deref(),
        );
        errors.into_result()?;
        let values = ClaimValues {
            claim_type: claim_type.expect("checked"),
            level: level.expect("checked"),
            text: parsed.text.take().expect("checked"),
            status: status.expect("checked"),
            countries: parsed.countries.take().unwrap_or_default(),
            products: parsed.products.take().unwrap_or_default(),
            ingredients: parsed.ingredients.take().unwrap_or_default(),
            effective_from: effective_from.expect("checked"),
            effective_to: parsed.effective_to.flatten(),
            regulatory_references: parsed.regulatory_references.take().unwrap_or_default(),
            documentation_urls: parsed.documentation_urls.take().unwrap_or_default(),
            notes: parsed.notes.take().flatten(),
            replacements: parsed.replacements.take().unwrap_or_default(),
        };
        Ok(NewClaim(values))
    }
}

fn required<T>(errors: &mut ValidationErrors, field: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        errors.push(field, "is required");
    }
    value
}

/// A validated change to a claim; build one with [`ClaimPatch::builder`] and apply it with
/// [`ClaimRepo::update`].
///
/// Each field given replaces the claim's value whole (a list replaces the list; the text replaces
/// the original and every translation). The rules between fields (the effective range, replacement
/// countries) are checked by `update` against the claim as it will be.
#[derive(Debug, Clone, Default)]
pub struct ClaimPatch {
    claim_type: Option<ClaimType>,
    level: Option<ClaimLevel>,
    status: Option<ClaimStatus>,
    parsed: ParsedClaim,
}

impl ClaimPatch {
    /// Starts a builder; [`ClaimPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> ClaimPatchBuilder {
        ClaimPatchBuilder::default()
    }

    /// The claim's values with this patch applied.
    fn apply(&self, current: &Claim) -> ClaimValues {
        let mut v = ClaimValues::of(current);
        let p = &self.parsed;
        v.claim_type = self.claim_type.unwrap_or(v.claim_type);
        v.level = self.level.unwrap_or(v.level);
        v.status = self.status.unwrap_or(v.status);
        if let Some(x) = &p.text {
            v.text = x.clone();
        }
        if let Some(x) = &p.countries {
            v.countries = x.clone();
        }
        if let Some(x) = &p.products {
            v.products = x.clone();
        }
        if let Some(x) = &p.ingredients {
            v.ingredients = x.clone();
        }
        if let Some(x) = p.effective_from {
            v.effective_from = x;
        }
        if let Some(x) = p.effective_to {
            v.effective_to = x;
        }
        if let Some(x) = &p.regulatory_references {
            v.regulatory_references = x.clone();
        }
        if let Some(x) = &p.documentation_urls {
            v.documentation_urls = x.clone();
        }
        if let Some(x) = &p.notes {
            v.notes = x.clone();
        }
        if let Some(x) = &p.replacements {
            v.replacements = x.clone();
        }
        v
    }
}

/// Raw input for a [`ClaimPatch`]: only the fields set are changed.
#[derive(Debug, Clone, Default)]
pub struct ClaimPatchBuilder(RawClaim);

impl ClaimPatchBuilder {
    /// New type.
    pub fn claim_type(mut self, v: ClaimType) -> Self {
        self.0.claim_type = Some(v);
        self
    }
    /// New level.
    pub fn level(mut self, v: ClaimLevel) -> Self {
        self.0.level = Some(v);
        self
    }
    /// New status.
    pub fn status(mut self, v: ClaimStatus) -> Self {
        self.0.status = Some(v);
        self
    }
    /// New wording; replaces the original and every translation (add them with
    /// [`translation`](Self::translation)).
    pub fn text(mut self, original: impl Into<String>) -> Self {
        self.0.original = Some(original.into());
        self
    }
    /// A translation of the new wording given with [`text`](Self::text).
    pub fn translation(mut self, language: impl Into<String>, text: impl Into<String>) -> Self {
        self.0.translations.push((language.into(), text.into()));
        self
    }
    /// New countries; empty means every country.
    pub fn countries<S: Into<String>>(mut self, v: impl IntoIterator<Item = S>) -> Self {
        self.0.countries = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// New products; empty means not limited.
    pub fn products(mut self, v: impl IntoIterator<Item = Uuid>) -> Self {
        self.0.products = Some(v.into_iter().collect());
        self
    }
    /// New ingredients; empty means not limited.
    pub fn ingredients<S: Into<String>>(mut self, v: impl IntoIterator<Item = S>) -> Self {
        self.0.ingredients = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// New start of the effective range.
    pub fn effective_from(mut self, v: DateTime<Utc>) -> Self {
        self.0.effective_from = Some(v);
        self
    }
    /// New end of the effective range; `None` makes it open-ended.
    pub fn effective_to(mut self, v: Option<DateTime<Utc>>) -> Self {
        self.0.effective_to = Some(v);
        self
    }
    /// New regulatory references.
    pub fn regulatory_references<S: Into<String>>(
        mut self,
        v: impl IntoIterator<Item = S>,
    ) -> Self {
        self.0.regulatory_references = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// New documentation URLs.
    pub fn documentation_urls<S: Into<String>>(mut self, v: impl IntoIterator<Item = S>) -> Self {
        self.0.documentation_urls = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// New notes; `None` clears them.
    pub fn notes(mut self, v: Option<String>) -> Self {
        self.0.notes = Some(v);
        self
    }
    /// New replacements, as `(country, replacement, reason)`.
    pub fn replacements<S: Into<String>>(mut self, v: impl IntoIterator<Item = (S, S, S)>) -> Self {
        self.0.replacements = Some(
            v.into_iter()
                .map(|(c, r, w)| (c.into(), r.into(), w.into()))
                .collect(),
        );
        self
    }

    /// Validates every field given, returning all problems together.
    pub fn build(self) -> Result<ClaimPatch, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let raw = self.0;
        let parsed = raw.parse(&mut errors);
        check_rules(
            &mut errors,
            parsed.effective_from,
            parsed.effective_to.flatten(),
            parsed.countries.as_deref(),
            parsed.replacements.as_deref(),
        );
        errors.into_result()?;
        Ok(ClaimPatch {
            claim_type: raw.claim_type,
            level: raw.level,
            status: raw.status,
            parsed,
        })
    }
}

/// Which of the brand's live claims to list; every filter set must hold. Build with the methods,
/// starting from `ClaimFilter::default()` (every live claim).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimFilter {
    status: Option<ClaimStatus>,
    claim_type: Option<ClaimType>,
    level: Option<ClaimLevel>,
    country: Option<CountryCode>,
    effective_at: Option<DateTime<Utc>>,
}

impl ClaimFilter {
    /// Only claims with this status.
    pub fn status(mut self, v: ClaimStatus) -> Self {
        self.status = Some(v);
        self
    }
    /// Only claims of this type.
    pub fn claim_type(mut self, v: ClaimType) -> Self {
        self.claim_type = Some(v);
        self
    }
    /// Only claims at this level.
    pub fn level(mut self, v: ClaimLevel) -> Self {
        self.level = Some(v);
        self
    }
    /// Only claims that apply in `country`: those listing it and those listing no country (which
    /// apply everywhere).
    pub fn country(mut self, v: CountryCode) -> Self {
        self.country = Some(v);
        self
    }
    /// Only claims in effect at `at` (`effective_from <= at < effective_to`, open end included).
    pub fn effective_at(mut self, at: DateTime<Utc>) -> Self {
        self.effective_at = Some(at);
        self
    }
}

/// Claim repository over one tenant scope: the scope's brand's claims.
///
/// Reads need a live role in the brand (viewer and up); writes need admin. A write the acting user
/// may not make is [`Error::Forbidden`]; a claim of another brand is [`Error::NotFound`].
#[derive(Debug)]
pub struct ClaimRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> ClaimRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a claim in the scope's brand, created and last updated by the scope's user, at
    /// version 1. Brand admins may; anyone else gets [`Error::Forbidden`].
    pub async fn create(&mut self, new: &NewClaim) -> Result<Claim> {
        let (brand, user) = (self.ctx.tenant_brand(), self.ctx.tenant_user());
        let v = &new.0;
        let sql = format!(
            "INSERT INTO mixerai.claims (brand_id, type, level, text, status, countries, products, ingredients,
                effective_from, effective_to, regulatory_references, documentation_urls, notes,
                replacements, created_by, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
             RETURNING {CLAIM_COLUMNS}"
        );
        let claim = sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(v.claim_type)
            .bind(v.level)
            .bind(sqlx::types::Json(&v.text))
            .bind(v.status)
            .bind(&v.countries)
            .bind(&v.products)
            .bind(&v.ingredients)
            .bind(v.effective_from)
            .bind(v.effective_to)
            .bind(&v.regulatory_references)
            .bind(&v.documentation_urls)
            .bind(&v.notes)
            .bind(sqlx::types::Json(&v.replacements))
            .bind(user)
            .fetch_one(self.conn())
            .await?;
        Ok(claim)
    }

    /// The claim with this id in the scope's brand, soft-deleted or not (see `deleted_at`).
    /// [`Error::NotFound`] when absent or not visible.
    pub async fn get(&mut self, id: ClaimId) -> Result<Claim> {
        let sql = format!("SELECT {CLAIM_COLUMNS} FROM mixerai.claims WHERE id = $1");
        sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "claim" })
    }

    /// Applies `patch` to the live claim `id`, provided it is still at `expected_version`.
    ///
    /// Errors: [`Error::NotFound`] when the claim is absent, not visible or soft-deleted;
    /// [`Error::Conflict`] on [`STALE_VERSION`] when it changed since `expected_version` (nothing is
    /// written); [`Error::Invalid`] when the claim as patched breaks a rule between fields (e.g.
    /// `effective_to` not after `effective_from`); [`Error::Forbidden`] unless the user is an admin.
    pub async fn update(
        &mut self,
        id: ClaimId,
        expected_version: i32,
        patch: &ClaimPatch,
    ) -> Result<Claim> {
        let current = self.get(id).await?;
        if current.version != expected_version {
            return Err(stale());
        }
        if current.deleted_at.is_some() {
            return Err(Error::NotFound { entity: "claim" });
        }
        let v = patch.apply(&current);
        let mut errors = ValidationErrors::new();
        v.check_consistency(&mut errors);
        errors.into_result()?;
        // The version guard in the WHERE makes the read above and this write one atomic step: a
        // concurrent save in between leaves this statement nothing to update.
        let sql = format!(
            "UPDATE mixerai.claims SET type = $3, level = $4, text = $5, status = $6, countries = $7,
                products = $8, ingredients = $9, effective_from = $10, effective_to = $11,
                regulatory_references = $12, documentation_urls = $13, notes = $14,
                replacements = $15, version = version + 1, updated_by = $16
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL
             RETURNING {CLAIM_COLUMNS}"
        );
        let user = self.ctx.tenant_user();
        let updated = sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected_version)
            .bind(v.claim_type)
            .bind(v.level)
            .bind(sqlx::types::Json(&v.text))
            .bind(v.status)
            .bind(&v.countries)
            .bind(&v.products)
            .bind(&v.ingredients)
            .bind(v.effective_from)
            .bind(v.effective_to)
            .bind(&v.regulatory_references)
            .bind(&v.documentation_urls)
            .bind(&v.notes)
            .bind(sqlx::types::Json(&v.replacements))
            .bind(user)
            .fetch_optional(self.conn())
            .await?;
        match updated {
            Some(claim) => Ok(claim),
            None => Err(self.refused(id, expected_version, false).await),
        }
    }

    /// Soft-deletes the live claim `id` at `expected_version`: it leaves every list, stays readable
    /// with [`get`](Self::get), and can be [restored](Self::restore). Bumps `version`.
    ///
    /// Errors as for [`update`](Self::update); an already deleted claim is [`Error::NotFound`].
    pub async fn delete(&mut self, id: ClaimId, expected_version: i32) -> Result<Claim> {
        let sql = format!(
            "UPDATE mixerai.claims SET deleted_at = now(), version = version + 1, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL
             RETURNING {CLAIM_COLUMNS}"
        );
        self.set_deleted(sql, id, expected_version, false).await
    }

    /// Brings back the soft-deleted claim `id` at `expected_version`. Bumps `version`.
    ///
    /// Errors as for [`update`](Self::update); a claim that is not deleted is [`Error::NotFound`]
    /// (entity `deleted claim`).
    pub async fn restore(&mut self, id: ClaimId, expected_version: i32) -> Result<Claim> {
        let sql = format!(
            "UPDATE mixerai.claims SET deleted_at = NULL, version = version + 1, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NOT NULL
             RETURNING {CLAIM_COLUMNS}"
        );
        self.set_deleted(sql, id, expected_version, true).await
    }

    async fn set_deleted(
        &mut self,
        sql: String,
        id: ClaimId,
        expected_version: i32,
        deleted: bool,
    ) -> Result<Claim> {
        let user = self.ctx.tenant_user();
        let claim = sqlx::query_as::<_, Claim>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected_version)
            .bind(user)
            .fetch_optional(self.conn())
            .await?;
        match claim {
            Some(claim) => Ok(claim),
            None => Err(self.refused(id, expected_version, deleted).await),
        }
    }

    /// Why a guarded write changed no row. Row-level security hides a row the user may read but not
    /// write from UPDATE without an error, so the row is read back to tell the cases apart.
    async fn refused(&mut self, id: ClaimId, expected_version: i32, want_deleted: bool) -> Error {
        match self.get(id).await {
            Err(e) => e,
            Ok(c) if c.version != expected_version => stale(),
            Ok(c) if c.deleted_at.is_some() != want_deleted => Error::NotFound {
                entity: if want_deleted {
                    "deleted claim"
                } else {
                    "claim"
                },
            },
            Ok(_) => Error::forbidden("only the brand's admins may change its claims"),
        }
    }

    /// The brand's live claims matching `filter`, newest first, one page at a time.
    ///
    /// Served by `idx_claims_brand_created` (brand, `created_at DESC`, `id DESC`, live rows only,
    /// migration 0017): the page is read in index order and the filters are applied on the way, so
    /// no sort and no OFFSET, at any depth.
    pub async fn list(&mut self, filter: &ClaimFilter, page: &PageRequest) -> Result<Page<Claim>> {
        let brand = self.ctx.tenant_brand();
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CLAIM_COLUMNS} FROM mixerai.claims WHERE deleted_at IS NULL AND brand_id = "
        ));
        q.push_bind(brand);
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
        if let (Some(created_at), Some(id)) = page.after_key() {
            q.push(" AND (created_at, id) < (")
                .push_bind(created_at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = q.build_query_as::<Claim>().fetch_all(self.conn()).await?;
        Ok(Page::from_rows(rows, page, |c| {
            (c.created_at, c.id.as_uuid())
        }))
    }
}

fn stale() -> Error {
    Error::Conflict {
        constraint: STALE_VERSION.to_owned(),
        field: None,
        source: None,
    }
}

#[cfg(test)]
mod tests;
