//! What a caller hands in: the raw input, the create and patch builders over it, the one parse, the
//! check of a patch against the claim it changes, and the list filter.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{
    Claim, ClaimLevel, ClaimReplacement, ClaimStatus, ClaimText, ClaimType, parse_text,
};
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::page::Deleted;
use crate::types::{CountryCode, InvalidValue, http_url, no_nul, non_blank};

/// A validated new claim; build one with [`NewClaim::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewClaim {
    pub(crate) values: ClaimValues,
}

impl NewClaim {
    /// Starts a builder; [`NewClaimBuilder::build`] reports every problem at once.
    pub fn builder() -> NewClaimBuilder {
        NewClaimBuilder::default()
    }
}

/// A validated change to a claim: only what was set is written, and a patch that sets nothing writes
/// nothing. Each field set replaces the claim's value whole (a list replaces the list; the text
/// replaces the original and every translation). Build one with [`ClaimPatch::builder`]; apply it with
/// [`ClaimRepo::update`](super::ClaimRepo::update), which also checks the rules between fields against
/// the claim as it will be (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimPatch {
    pub(crate) values: ClaimValues,
}

impl ClaimPatch {
    /// Starts a builder; [`ClaimPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> ClaimPatchBuilder {
        ClaimPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether the patch sets a field a rule relates to another (the effective range, countries and
    /// replacements): then the rule is checked against the claim as it will be.
    pub(super) fn needs_whole_check(&self) -> bool {
        let v = &self.values;
        v.effective_from.is_some()
            || v.effective_to.is_some()
            || v.countries.is_some()
            || v.replacements.is_some()
    }

    /// Checks the rules between fields on the claim as this patch would leave it. Every problem is
    /// reported together.
    pub(super) fn check_whole(&self, current: &Claim) -> Result<(), ValidationErrors> {
        let v = &self.values;
        let mut errors = ValidationErrors::new();
        check_rules(
            &mut errors,
            Some(v.effective_from.unwrap_or(current.effective_from)),
            v.effective_to.unwrap_or(current.effective_to),
            Some(v.countries.as_deref().unwrap_or(&current.countries)),
            Some(v.replacements.as_deref().unwrap_or(&current.replacements)),
        );
        errors.into_result()
    }
}

/// Raw input for a [`NewClaim`]. Type, level, status and the original text are required; the
/// effective start defaults to the moment `build` runs. Nothing is checked until
/// [`build`](Self::build). Deserialises from the JSON of a [`ClaimInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewClaimBuilder(ClaimInput);

/// Raw input for a [`ClaimPatch`]: every setter replaces that part of the claim; unset parts stay.
/// Deserialises from the JSON of a [`ClaimInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClaimPatchBuilder(ClaimInput);

/// The raw wording of a claim: the original and translations keyed by language code, exactly as
/// stored (`{"original": "...", "fr": "..."}`). `"Rich in fibre".into()` is an original without
/// translations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimTextInput {
    /// The wording as written (required, not blank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// Translations by ISO 639-1 code (any case), each not blank.
    #[serde(flatten)]
    pub translations: BTreeMap<String, String>,
}

impl From<&str> for ClaimTextInput {
    fn from(original: &str) -> Self {
        original.to_owned().into()
    }
}

impl From<String> for ClaimTextInput {
    fn from(original: String) -> Self {
        Self {
            original: Some(original),
            translations: BTreeMap::new(),
        }
    }
}

impl From<&ClaimText> for ClaimTextInput {
    fn from(text: &ClaimText) -> Self {
        Self {
            original: Some(text.original().to_owned()),
            translations: text
                .translations()
                .map(|(l, t)| (l.as_str().to_owned(), t.to_owned()))
                .collect(),
        }
    }
}

/// The raw form of a [`ClaimReplacement`]: a country code (any case) and two texts, unchecked.
/// `("FR", "Source de fibres", "Threshold differs").into()` makes one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimReplacementInput {
    /// Where the replacement applies (ISO 3166-1 alpha-2).
    pub country: String,
    /// The wording to use there (not blank).
    pub replacement: String,
    /// Why, e.g. the regulation that requires it (not blank).
    pub reason: String,
}

impl<C: Into<String>, R: Into<String>, W: Into<String>> From<(C, R, W)> for ClaimReplacementInput {
    fn from((country, replacement, reason): (C, R, W)) -> Self {
        Self {
            country: country.into(),
            replacement: replacement.into(),
            reason: reason.into(),
        }
    }
}

impl From<&ClaimReplacement> for ClaimReplacementInput {
    fn from(r: &ClaimReplacement) -> Self {
        Self {
            country: r.country.as_str().to_owned(),
            replacement: r.replacement.clone(),
            reason: r.reason.clone(),
        }
    }
}

input! {
    /// The raw input of a claim, shared by [`NewClaimBuilder`] and [`ClaimPatchBuilder`]: every field
    /// optional, as a request carries it.
    pub struct ClaimInput;
    builders NewClaimBuilder, ClaimPatchBuilder;
    values ClaimValues, columns claim_input_columns;
    fields {
        /// What the claim is about (required on create).
        claim_type "type" json "type": value ClaimType => ClaimType, claim_type maybe_claim_type;
        /// At which level it is made (required on create).
        level "level": value ClaimLevel => ClaimLevel, level maybe_level;
        /// Allowed, disallowed or mandatory (required on create).
        status "status": value ClaimStatus => ClaimStatus, status maybe_status;
        /// The wording and its translations (the original is required, not blank), replaced whole.
        text "text": value ClaimTextInput => ClaimText, text maybe_text;
        /// The countries it applies in, ISO 3166-1 alpha-2 in any case, no repeats (default: none,
        /// which is every country).
        countries "countries": list String => Vec<CountryCode>, countries maybe_countries country;
        /// The products it is limited to, no repeats (default: none, not limited).
        products "products": list Uuid => Vec<Uuid>, products maybe_products product;
        /// The ingredients it is limited to, not blank, no repeats (default: none, not limited).
        ingredients "ingredients": list String => Vec<String>, ingredients maybe_ingredients ingredient;
        /// When it takes effect (default: when built), kept to the microsecond, years 1 to 9999.
        effective_from "effective_from": value DateTime<Utc> => DateTime<Utc>, effective_from maybe_effective_from;
        /// When it stops being in effect (exclusive; after `effective_from`); cleared, it is open-ended.
        effective_to "effective_to": nullable DateTime<Utc> => DateTime<Utc>, effective_to maybe_effective_to clear_effective_to;
        /// Regulations it rests on, not blank, no repeats.
        regulatory_references "regulatory_references": list String => Vec<String>, regulatory_references maybe_regulatory_references regulatory_reference;
        /// Supporting documents: absolute http(s) URLs, no repeats.
        documentation_urls "documentation_urls": list String => Vec<String>, documentation_urls maybe_documentation_urls documentation_url;
        /// Free text.
        notes "notes": nullable String => String, notes maybe_notes clear_notes;
        /// Wordings to use instead in some countries: at most one per country, each a country the
        /// claim applies in (any country when it lists none).
        replacements "replacements": list ClaimReplacementInput => Vec<ClaimReplacement>, replacements maybe_replacements replacement;
    }
}

macro_rules! translation_setter {
    ($Builder:ident) => {
        impl $Builder {
            /// Sets the translation into `language` (an ISO 639-1 code, any case), keeping the others
            /// set so far; the same spelling set again replaces it. A patch's text replaces the
            /// claim's whole wording, so it needs the original too.
            pub fn translation(
                mut self,
                language: impl Into<String>,
                text: impl Into<String>,
            ) -> Self {
                self.0
                    .text
                    .get_or_insert_with(ClaimTextInput::default)
                    .translations
                    .insert(language.into(), text.into());
                self
            }
        }
    };
}
translation_setter!(NewClaimBuilder);
translation_setter!(ClaimPatchBuilder);

impl NewClaimBuilder {
    /// Validates every field, and the rules between them, returning all problems together.
    pub fn build(self) -> Result<NewClaim, ValidationErrors> {
        Ok(NewClaim {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl ClaimPatchBuilder {
    /// Validates every field set, and the rules between those set, returning all problems together.
    /// The rules between a field set and one the patch leaves as stored are checked by
    /// [`ClaimRepo::update`](super::ClaimRepo::update).
    pub fn build(self) -> Result<ClaimPatch, ValidationErrors> {
        Ok(ClaimPatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a claim input, for a create (required fields, defaults) or a patch.
fn parse(input: &ClaimInput, mode: Mode) -> Result<ClaimValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let claim_type = p.required("type", &input.claim_type, |t| ok(*t));
    let level = p.required("level", &input.level, |l| ok(*l));
    let status = p.required("status", &input.status, |s| ok(*s));
    let text = match &input.text {
        Some(t) => parse_text(
            &mut p.errors,
            t.original.as_deref(),
            t.translations.iter().map(|(l, t)| (l.as_str(), t.as_str())),
        ),
        None => {
            if mode == Mode::Create {
                p.push("text.original", "is required");
            }
            None
        }
    };
    let countries = list(&mut p, "countries", &input.countries, |c| {
        CountryCode::parse(c)
    });
    let products = list(&mut p, "products", &input.products, |p| ok(*p));
    let ingredients = list(&mut p, "ingredients", &input.ingredients, |i| {
        non_blank(i, usize::MAX).map(str::to_owned)
    });
    let effective_from = p.defaulted(
        "effective_from",
        &input.effective_from,
        || timestamp(Utc::now()).expect("now is within years 1..=9999"),
        |t| timestamp(*t),
    );
    let effective_to = p.nullable("effective_to", &input.effective_to, |t| timestamp(*t));
    let regulatory_references = list(
        &mut p,
        "regulatory_references",
        &input.regulatory_references,
        |r| non_blank(r, usize::MAX).map(str::to_owned),
    );
    let documentation_urls = list(
        &mut p,
        "documentation_urls",
        &input.documentation_urls,
        |u| http_url(u).map(str::to_owned),
    );
    let notes = p.nullable("notes", &input.notes, |n| no_nul(n).map(str::to_owned));
    let replacements = match &input.replacements {
        Some(rs) => parse_replacements(&mut p.errors, rs),
        None => (mode == Mode::Create).then(Vec::new),
    };
    // Between the fields known here: all on create (no countries is every country, where any
    // replacement is fine), those set in a patch; the repository checks a patch against the rest.
    check_rules(
        &mut p.errors,
        effective_from,
        effective_to.flatten(),
        countries.as_deref(),
        replacements.as_deref(),
    );
    p.finish(ClaimValues {
        claim_type,
        level,
        status,
        text,
        countries,
        products,
        ingredients,
        effective_from,
        effective_to,
        regulatory_references,
        documentation_urls,
        notes,
        replacements,
    })
}

fn ok<T>(v: T) -> Result<T, Infallible> {
    Ok(v)
}

/// Parses every item of a list field (problems at `field[i]`), refusing repeats. Unset in a patch is
/// `None`, unset on create is empty; a list with a problem is `None` too, so the rules between
/// fields are not checked on top of its own problem.
pub(super) fn list<R, T, E>(
    p: &mut Parser,
    field: &str,
    raw: &Option<Vec<R>>,
    parse: impl Fn(&R) -> Result<T, E>,
) -> Option<Vec<T>>
where
    T: Eq + std::hash::Hash + Clone,
    E: std::fmt::Display,
{
    let Some(items) = raw else {
        return (p.mode == Mode::Create).then(Vec::new);
    };
    let start = p.errors.errors().len();
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(value) = p.errors.check(&format!("{field}[{i}]"), parse(item)) {
            if seen.insert(value.clone()) {
                out.push(value);
            } else {
                p.errors.push(format!("{field}[{i}]"), "is listed twice");
            }
        }
    }
    (p.errors.errors().len() == start).then_some(out)
}

/// Parses replacements: a valid country, at most one replacement each, and two non-blank texts.
fn parse_replacements(
    errors: &mut ValidationErrors,
    raw: &[ClaimReplacementInput],
) -> Option<Vec<ClaimReplacement>> {
    let start = errors.errors().len();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let at = |what: &str| format!("replacements[{i}].{what}");
        let country = errors.check(&at("country"), CountryCode::parse(&r.country));
        if let Some(c) = country
            && !seen.insert(c)
        {
            errors.push(at("country"), "has a replacement already");
        }
        let replacement = errors.check(&at("replacement"), non_blank(&r.replacement, usize::MAX));
        let reason = errors.check(&at("reason"), non_blank(&r.reason, usize::MAX));
        if let (Some(country), Some(replacement), Some(reason)) = (country, replacement, reason) {
            out.push(ClaimReplacement {
                country,
                replacement: replacement.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }
    (errors.errors().len() == start).then_some(out)
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

/// A timestamp as PostgreSQL stores it: whole microseconds, within years 1 to 9999.
fn timestamp(t: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidValue> {
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

/// Which of the brand's claims [`ClaimRepo::list`](super::ClaimRepo::list) returns: every set condition
/// must hold. Deserialises from a request's query or body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimFilter {
    /// Only claims with this status.
    pub status: Option<ClaimStatus>,
    /// Only claims of this type.
    #[serde(rename = "type")]
    pub claim_type: Option<ClaimType>,
    /// Only claims at this level.
    pub level: Option<ClaimLevel>,
    /// Only claims that apply in this country: those listing it and those listing no country (which
    /// apply everywhere).
    pub country: Option<CountryCode>,
    /// Only claims in effect at this time (`effective_from <= t < effective_to`, open end included).
    pub effective_at: Option<DateTime<Utc>>,
    /// Soft-deleted claims too, or only them (default: live claims only).
    pub deleted: Deleted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LanguageCode;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn minimal() -> NewClaimBuilder {
        NewClaim::builder()
            .claim_type(ClaimType::Product)
            .level(ClaimLevel::Product)
            .status(ClaimStatus::Allowed)
            .text("Rich in fibre")
    }

    fn fields(err: &ValidationErrors) -> Vec<&str> {
        err.errors().iter().map(|e| e.field.as_str()).collect()
    }

    fn built(b: NewClaimBuilder) -> ClaimValues {
        b.build().unwrap().values
    }

    #[test]
    fn a_full_claim_builds_with_codes_normalised() {
        let product = Uuid::new_v4();
        let v = built(
            minimal()
                .translation("FR", "Riche en fibres")
                .translation("de", "Reich an Ballaststoffen")
                .country("gb")
                .country("FR")
                .product(product)
                .ingredient("oats")
                .effective_from(at(2025, 1, 1))
                .effective_to(at(2026, 1, 1))
                .regulatory_reference("EC 1924/2006")
                .documentation_url("https://example.com/fibre.pdf")
                .notes("Reviewed")
                .replacement(("fr", "Source de fibres", "Threshold differs")),
        );
        let text = v.text.unwrap();
        assert_eq!(text.original(), "Rich in fibre");
        let fr = LanguageCode::parse("fr").unwrap();
        assert_eq!(text.translation(fr), Some("Riche en fibres"));
        assert_eq!(
            text.in_language(LanguageCode::parse("es").unwrap()),
            "Rich in fibre"
        );
        assert_eq!(
            v.countries
                .unwrap()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            ["GB", "FR"]
        );
        assert_eq!(v.products.unwrap(), [product]);
        assert_eq!(v.replacements.unwrap()[0].country.as_str(), "FR");
        assert_eq!(v.effective_to, Some(Some(at(2026, 1, 1))));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = NewClaim::builder()
            .translation("xx", "Bad language")
            .translation("en", " ")
            .country("GB")
            .country("ZZ")
            .country("gb")
            .ingredient("")
            .effective_from(at(2026, 1, 1))
            .effective_to(at(2025, 1, 1))
            .regulatory_reference("\0")
            .documentation_url("javascript:alert(1)")
            .notes("a\0b")
            .replacement(("QQ", "", " "))
            .build()
            .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "type",
                "level",
                "status",
                "text.original",
                "text.en",
                "text.xx",
                "countries[1]",
                "countries[2]",
                "ingredients[0]",
                "regulatory_references[0]",
                "documentation_urls[0]",
                "notes",
                "replacements[0].country",
                "replacements[0].replacement",
                "replacements[0].reason",
                "effective_to",
            ],
            "{err}"
        );
        assert_eq!(err.get("countries[2]").unwrap().reason, "is listed twice");
        assert_eq!(
            err.get("effective_to").unwrap().reason,
            "must be after effective_from"
        );
    }

    #[test]
    fn rules_between_fields_are_checked_when_the_fields_are_valid() {
        let same = at(2025, 6, 1);
        let err = minimal()
            .effective_from(same)
            .effective_to(same)
            .country("GB")
            .replacement(("FR", "Autre", "Not sold there"))
            .replacement(("gb", "Other", "Why"))
            .build()
            .unwrap_err();
        assert_eq!(
            fields(&err),
            ["effective_to", "replacements[0].country"],
            "{err}"
        );
        // A repeated replacement country is the replacements' own problem; the country rule is not
        // checked on top of it.
        let err = minimal()
            .country("GB")
            .replacement(("FR", "Autre", "Why"))
            .replacement(("FR", "Again", "Why"))
            .build()
            .unwrap_err();
        assert_eq!(fields(&err), ["replacements[1].country"], "{err}");
    }

    #[test]
    fn an_unbounded_claim_may_replace_its_wording_in_any_country_and_starts_now() {
        let before = Utc::now();
        let v = built(minimal().replacement(("FR", "Autre", "Why")));
        assert!(v.countries.unwrap().is_empty());
        let from = v.effective_from.unwrap();
        assert!(from >= before - chrono::Duration::microseconds(1));
        assert_eq!(from.timestamp_subsec_nanos() % 1000, 0);
        assert_eq!(v.effective_to, Some(None));
    }

    #[test]
    fn times_are_truncated_to_microseconds_and_bounded_to_years_1_to_9999() {
        let t = at(2025, 1, 1) + chrono::Duration::nanoseconds(1_999);
        let v = built(minimal().effective_from(t));
        assert_eq!(
            v.effective_from,
            Some(at(2025, 1, 1) + chrono::Duration::microseconds(1))
        );
        // Both ends within one microsecond: equal once stored, so refused.
        let err = minimal()
            .effective_from(at(2025, 1, 1) + chrono::Duration::nanoseconds(100))
            .effective_to(at(2025, 1, 1) + chrono::Duration::nanoseconds(900))
            .build()
            .unwrap_err();
        assert_eq!(fields(&err), ["effective_to"]);
        let err = minimal()
            .effective_from(at(10_000, 1, 1))
            .build()
            .unwrap_err();
        assert_eq!(
            err.get("effective_from").unwrap().reason,
            "must be between the years 1 and 9999"
        );
    }

    #[test]
    fn translations_need_an_original_and_distinct_languages() {
        let err = NewClaim::builder()
            .claim_type(ClaimType::Master)
            .level(ClaimLevel::Brand)
            .status(ClaimStatus::Mandatory)
            .translation("fr", "Bon")
            .translation("FR", "Bien")
            .build()
            .unwrap_err();
        // Translations are read in key order: `FR` first, so `fr` is the repeat.
        assert_eq!(fields(&err), ["text.original", "text.fr"], "{err}");
        assert_eq!(
            err.get("text.fr").unwrap().reason,
            "a translation into this language is given already"
        );
        let err = minimal()
            .product(Uuid::nil())
            .product(Uuid::nil())
            .build()
            .unwrap_err();
        assert_eq!(fields(&err), ["products[1]"]);
    }

    #[test]
    fn a_patch_validates_what_it_sets_and_a_text_without_original_is_refused() {
        let err = ClaimPatch::builder()
            .translation("fr", "Bon")
            .countries(["GB", "nowhere"])
            .documentation_urls(["/relative"])
            .effective_from(at(2026, 1, 1))
            .effective_to(at(2025, 1, 1))
            .replacements([("FR", "", "x")])
            .build()
            .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "text.original",
                "countries[1]",
                "documentation_urls[0]",
                "replacements[0].replacement",
                "effective_to"
            ],
            "{err}"
        );
        assert!(ClaimPatch::builder().build().unwrap().is_empty());
        let cleared = ClaimPatch::builder()
            .countries(Vec::<String>::new())
            .clear_notes()
            .clear_effective_to()
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&cleared.values).unwrap(),
            json!({"countries": [], "notes": null, "effective_to": null})
        );
        assert!(cleared.needs_whole_check());
    }

    #[test]
    fn a_create_writes_every_input_column_and_a_patch_only_what_is_set() {
        let v = built(minimal().effective_from(at(2025, 1, 1)));
        let record = serde_json::to_value(&v).unwrap();
        let mut keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut columns: Vec<&str> = claim_input_columns!().split(", ").collect();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(record["text"], json!({"original": "Rich in fibre"}));
        assert_eq!(record["effective_from"], "2025-01-01T00:00:00Z");
        let patch = ClaimPatch::builder()
            .status(ClaimStatus::Disallowed)
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            json!({"status": "disallowed"})
        );
        assert!(!patch.needs_whole_check());
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let json = json!({
            "type": "product",
            "level": "product",
            "status": "allowed",
            "text": {"original": "Rich in fibre", "fr": "Riche en fibres"},
            "countries": ["gb", "FR"],
            "effective_from": "2025-01-01T00:00:00Z",
            "effective_to": null,
            "replacements": [{"country": "FR", "replacement": "Source de fibres", "reason": "Why"}],
        });
        let from_json: NewClaimBuilder = serde_json::from_value(json).unwrap();
        let by_setters = minimal()
            .translation("fr", "Riche en fibres")
            .countries(["gb", "FR"])
            .effective_from(at(2025, 1, 1))
            .clear_effective_to()
            .replacement(("FR", "Source de fibres", "Why"));
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let patch: ClaimPatchBuilder =
            serde_json::from_str(r#"{"notes": null, "status": "mandatory"}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            ClaimPatch::builder()
                .clear_notes()
                .status(ClaimStatus::Mandatory)
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<ClaimPatchBuilder>(r#"{"stauts": "x"}"#).is_err());
        let filter: ClaimFilter = serde_json::from_value(json!({
            "status": "disallowed", "type": "product", "country": "FR", "deleted": "only",
        }))
        .unwrap();
        assert_eq!(filter.deleted, Deleted::Only);
        assert_eq!(filter.claim_type, Some(ClaimType::Product));
    }

    #[test]
    fn a_patch_is_checked_against_the_claim_it_changes() {
        let mut current = Claim {
            id: crate::types::ClaimId::new(),
            brand_id: crate::types::BrandId::new(),
            claim_type: ClaimType::Product,
            level: ClaimLevel::Product,
            text: serde_json::from_value(json!({"original": "Vegan"})).unwrap(),
            status: ClaimStatus::Allowed,
            countries: vec![
                CountryCode::parse("GB").unwrap(),
                CountryCode::parse("FR").unwrap(),
            ],
            products: vec![],
            ingredients: vec![],
            effective_from: at(2025, 1, 1),
            effective_to: None,
            regulatory_references: vec![],
            documentation_urls: vec![],
            notes: None,
            replacements: vec![],
            version: 1,
            created_by: crate::types::UserId::new(),
            created_at: Utc::now(),
            updated_by: crate::types::UserId::new(),
            updated_at: Utc::now(),
            deleted_at: None,
        };
        current.replacements = built(minimal().replacement(("FR", "Végétalien", "Wording")))
            .replacements
            .unwrap();
        // Each field is fine alone; together with what the claim holds, two rules break.
        let patch = ClaimPatch::builder()
            .countries(["GB"])
            .effective_to(at(2024, 1, 1))
            .build()
            .unwrap();
        let err = patch.check_whole(&current).unwrap_err();
        assert_eq!(fields(&err), ["effective_to", "replacements[0].country"]);
        let fine = ClaimPatch::builder().countries(["fr"]).build().unwrap();
        assert_eq!(fine.check_whole(&current), Ok(()));
    }

    proptest! {
        #[test]
        fn any_input_builds_or_is_refused_without_panicking(
            original in proptest::option::of(".{0,20}"),
            translations in proptest::collection::vec(("[a-zA-Z]{0,3}", ".{0,8}"), 0..4),
            countries in proptest::collection::vec("[a-zA-Z]{0,3}", 0..4),
            ingredients in proptest::collection::vec(".{0,8}", 0..3),
            urls in proptest::collection::vec(prop_oneof!["https?://[a-z]{0,5}(/.{0,5})?", ".{0,10}"], 0..3),
            from in proptest::option::of(-70_000_000_000_000i64..300_000_000_000_000),
            to in proptest::option::of(-70_000_000_000_000i64..300_000_000_000_000),
            replacements in proptest::collection::vec(("[a-zA-Z]{0,3}", ".{0,5}", ".{0,5}"), 0..3),
        ) {
            let mut b = NewClaim::builder()
                .claim_type(ClaimType::Ingredient)
                .level(ClaimLevel::Ingredient)
                .status(ClaimStatus::Disallowed);
            let mut p = ClaimPatch::builder();
            if let Some(o) = original { b = b.text(o.clone()); p = p.text(o); }
            for (l, t) in translations { b = b.translation(l.clone(), t.clone()); p = p.translation(l, t); }
            for c in countries { b = b.country(c.clone()); p = p.country(c); }
            for i in ingredients { b = b.ingredient(i); }
            for u in urls { b = b.documentation_url(u); }
            let time = |t: i64| DateTime::from_timestamp_micros(t * 1000).unwrap();
            if let Some(f) = from { b = b.effective_from(time(f)); p = p.effective_from(time(f)); }
            if let Some(t) = to { b = b.effective_to(time(t)); p = p.effective_to(time(t)); }
            for r in replacements { b = b.replacement(r.clone()); p = p.replacement(r); }
            match b.build() {
                Ok(new) => {
                    let v = new.values;
                    let (from, to) = (v.effective_from.unwrap(), v.effective_to.unwrap());
                    prop_assert!(to.is_none_or(|to| to > from));
                    prop_assert!(!v.text.unwrap().original().trim().is_empty());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            match p.build() {
                Ok(p) => {
                    if let (Some(from), Some(Some(to))) = (p.values.effective_from, p.values.effective_to) {
                        prop_assert!(to > from);
                    }
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
