//! What a claim is: its type, level and status, its wording and translations, the country-specific
//! replacements, and the row as read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ValidationErrors;
use crate::text_enum::text_enum;
use crate::types::{BrandId, ClaimId, CountryCode, LanguageCode, UserId, non_blank};

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
        let translations = raw
            .iter()
            .filter(|(key, _)| *key != "original")
            .map(|(language, text)| (language.as_str(), text.as_str()));
        parse_text(
            &mut errors,
            raw.get("original").map(String::as_str),
            translations,
        )
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
    /// Saves so far, counting the first: the optimistic-concurrency token every write names.
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

/// The columns of [`Claim`], for every statement that returns claims (`concat!` keeps each one a
/// `&'static str`). Lists written as NULL by others read as empty.
macro_rules! claim_columns {
    () => {
        "id, brand_id, type, level, text, status, countries, \
         coalesce(products, '{}') AS products, coalesce(ingredients, '{}') AS ingredients, \
         effective_from, effective_to, \
         coalesce(regulatory_references, '{}') AS regulatory_references, \
         coalesce(documentation_urls, '{}') AS documentation_urls, notes, \
         coalesce(replacements, '[]') AS replacements, \
         version, created_by, created_at, updated_by, updated_at, deleted_at"
    };
}
pub(crate) use claim_columns;

/// Parses a claim's text: a non-blank original and non-blank translations keyed by distinct ISO
/// 639-1 codes. Problems go to `text.original` and `text.<key>`.
pub(super) fn parse_text<'a>(
    errors: &mut ValidationErrors,
    original: Option<&str>,
    translations: impl IntoIterator<Item = (&'a str, &'a str)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_text_serialises_flat_and_refuses_bad_stored_objects() {
        let json = serde_json::json!({"original": "Rich in fibre", "fr": "Riche"});
        let text: ClaimText = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(text.original(), "Rich in fibre");
        assert_eq!(
            text.translation(LanguageCode::parse("fr").unwrap()),
            Some("Riche")
        );
        assert_eq!(serde_json::to_value(&text).unwrap(), json);
        for bad in [
            serde_json::json!({"fr": "Riche"}),
            serde_json::json!({"original": "x", "french": "y"}),
            serde_json::json!({"original": " "}),
            serde_json::json!({"original": "x", "fr": 1}),
        ] {
            assert!(
                serde_json::from_value::<ClaimText>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn enums_use_the_check_constraints_codes() {
        assert_eq!(ClaimType::ALL.len(), 3);
        assert_eq!(ClaimStatus::Disallowed.as_str(), "disallowed");
        assert_eq!(
            "ingredient".parse::<ClaimLevel>().unwrap(),
            ClaimLevel::Ingredient
        );
        assert!("global".parse::<ClaimLevel>().is_err());
    }
}
