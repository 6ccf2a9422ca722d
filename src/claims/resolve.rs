//! Resolution: which claims apply to a brand's content in one market, for an optional product and
//! ingredients, at one point in time, and which one decides where several make the same statement.
//! The part of [`ClaimRepo`] that asks `mixerai.claims_resolve()` (migration 0020); the rules are in
//! the [module docs](super#resolution).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{ClaimLevel, ClaimReplacement, ClaimStatus, ClaimText, ClaimType};
use super::repo::ClaimRepo;
use crate::Result;
use crate::text_enum::text_enum;
use crate::types::{BrandId, ClaimId, CountryCode, LanguageCode};

/// What to resolve claims for: a market, a point in time, and optionally the language of the content,
/// a product and its ingredients. Deserialises from a request's query or body.
///
/// `at` is the time the content will be seen (its publication or scheduled time), not the time of
/// the call: a claim that takes effect next month applies to a page scheduled for next month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionRequest {
    /// The market (ISO 3166-1 alpha-2).
    pub country: CountryCode,
    /// The language the wording is wanted in; `None`: the brand's language.
    #[serde(default)]
    pub language: Option<LanguageCode>,
    /// The product the content is about, if any: product-level claims need one.
    #[serde(default)]
    pub product: Option<Uuid>,
    /// The product's ingredients (compared trimmed and case-insensitively): ingredient-level claims
    /// need one of theirs.
    #[serde(default)]
    pub ingredients: Vec<String>,
    /// The point in time the claims must be in effect at.
    pub at: DateTime<Utc>,
}

impl ResolutionRequest {
    /// Claims for `country` in effect at `at`, in the brand's language, for no product.
    pub fn new(country: CountryCode, at: DateTime<Utc>) -> Self {
        Self {
            country,
            language: None,
            product: None,
            ingredients: Vec::new(),
            at,
        }
    }

    /// The language wordings are wanted in (the first step of the fallback chain).
    pub fn language(mut self, language: LanguageCode) -> Self {
        self.language = Some(language);
        self
    }

    /// The product the content is about.
    pub fn product(mut self, product: Uuid) -> Self {
        self.product = Some(product);
        self
    }

    /// Adds one of the product's ingredients.
    pub fn ingredient(mut self, ingredient: impl Into<String>) -> Self {
        self.ingredients.push(ingredient.into());
        self
    }
}

/// Where a resolved claim comes from, relative to the scope's brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimSource {
    /// The brand's own claim.
    Own,
    /// A claim of the brand's parent brand.
    Parent,
    /// A claim of one of the brand's master claim brands (regulator level).
    Master,
}

text_enum!(ClaimSource {
    Own => "own",
    Parent => "parent",
    Master => "master",
});

/// Which precedence rule decided a statement's status (see the [module docs](super#resolution)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolutionRule {
    /// A regulator-level claim (of a master claim brand, or of type master) disallows it: that beats
    /// every allow, at any scope.
    MasterDisallow,
    /// Claims at a broader scope said otherwise; the most specific scope (ingredient, then product, then
    /// brand) decided.
    MoreSpecificScope,
    /// At the same scope a claim allowed it (or made it mandatory) and another disallowed it: disallowed
    /// wins.
    DisallowedOverAllowed,
    /// At the same scope one claim allowed it and another made it mandatory: mandatory wins (it is
    /// allowed, and must be said).
    MandatoryOverAllowed,
    /// Nothing to decide: the only claim of its statement, or all agree on the status.
    Uncontested,
}

text_enum!(ResolutionRule {
    MasterDisallow => "master_disallow",
    MoreSpecificScope => "more_specific_scope",
    DisallowedOverAllowed => "disallowed_over_allowed",
    MandatoryOverAllowed => "mandatory_over_allowed",
    Uncontested => "uncontested",
});

/// Where a resolved claim's [`wording`](ResolvedClaim::wording) comes from: the first of the fallback
/// chain that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WordingSource {
    /// The claim's replacement for the market.
    Replacement,
    /// Its translation into the language asked for.
    RequestedLanguage,
    /// Its translation into the brand's language.
    BrandLanguage,
    /// Its original wording.
    Original,
}

text_enum!(WordingSource {
    Replacement => "replacement",
    RequestedLanguage => "requested_language",
    BrandLanguage => "brand_language",
    Original => "original",
});

/// A claim in effect for the market: the claim that decided its statement, with its status, the rule
/// that decided it, and its wording for the market.
///
/// Claims only: who wrote a claim and when are left out, since a master or parent brand's claim
/// belongs to another tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ResolvedClaim {
    /// The deciding claim.
    pub id: ClaimId,
    /// The brand it belongs to: the scope's, its parent or a master claim brand.
    pub brand_id: BrandId,
    /// Which of those.
    pub source: ClaimSource,
    /// What it is about.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub claim_type: ClaimType,
    /// At which level (scope) it is made.
    pub level: ClaimLevel,
    /// The statement's status: allowed, disallowed, or mandatory (allowed, and must be said).
    pub status: ClaimStatus,
    /// Its wording and translations.
    #[sqlx(json)]
    pub text: ClaimText,
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
    /// Supporting documents.
    pub documentation_urls: Vec<String>,
    /// Free text.
    pub notes: Option<String>,
    /// Country-specific wordings.
    #[sqlx(json)]
    pub replacements: Vec<ClaimReplacement>,
    /// The claim's version when resolved.
    pub version: i32,
    /// The rule that decided the status.
    pub rule: ResolutionRule,
    /// The claims of the same statement it overrode, best first.
    pub overridden: Vec<ClaimId>,
    /// Their wordings (a check looks for a statement in every wording any of its claims gives).
    #[sqlx(json)]
    pub overridden_texts: Vec<ClaimText>,
    /// The wording for the market: its replacement there, else the translation into the language
    /// asked for, else into the brand's language, else the original.
    pub wording: String,
    /// Which of those [`wording`](Self::wording) is.
    pub wording_source: WordingSource,
    /// The language of [`wording`](Self::wording) when it is a translation.
    pub wording_language: Option<LanguageCode>,
}

impl ResolvedClaim {
    /// The claim's replacement for `country`, if it has one.
    pub fn replacement_in(&self, country: CountryCode) -> Option<&ClaimReplacement> {
        self.replacements.iter().find(|r| r.country == country)
    }

    /// Every wording of the statement: the deciding claim's original and translations, then those of
    /// the claims it overrode (replacements not included).
    pub fn wordings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.text)
            .chain(&self.overridden_texts)
            .flat_map(|t| std::iter::once(t.original()).chain(t.translations().map(|(_, w)| w)))
    }
}

/// The columns `mixerai.claims_resolve()` returns, as [`ResolvedClaim`] reads them.
macro_rules! resolved_columns {
    () => {
        "id, brand_id, source, type, level, status, text, countries, products, ingredients, \
         effective_from, effective_to, regulatory_references, documentation_urls, notes, \
         replacements, version, rule, overridden, overridden_texts, wording, wording_source, \
         wording_language"
    };
}

impl ClaimRepo<'_> {
    /// The claims in effect for content of the scope's brand in `request.country` at `request.at`:
    /// the brand's own, its parent brand's and its master claim brands', one per statement, each with
    /// the rule that decided it (see the [module docs](super#resolution)), strongest status first
    /// (disallowed, mandatory, allowed). One statement, one round trip, through
    /// `mixerai.claims_resolve()`, which reads the other brands' claims (and nothing else of theirs)
    /// for a reader of the scope's brand. Any member may resolve; a user without a live role gets an
    /// empty list.
    #[tracing::instrument(name = "mixerai.claims.resolve", parent = self.ctx.span(), skip_all, fields(country = %request.country), err(level = "debug"))]
    pub async fn resolve(&mut self, request: &ResolutionRequest) -> Result<Vec<ResolvedClaim>> {
        self.resolve_in(request, request.language).await
    }

    /// [`resolve`](Self::resolve) with the language of the wording given (the check passes the
    /// language it checks in).
    pub(super) async fn resolve_in(
        &mut self,
        request: &ResolutionRequest,
        language: Option<LanguageCode>,
    ) -> Result<Vec<ResolvedClaim>> {
        Ok(sqlx::query_as::<_, ResolvedClaim>(concat!(
            "SELECT ",
            resolved_columns!(),
            " FROM mixerai.claims_resolve($1, $2, $3, $4, $5)"
        ))
        .bind(request.country)
        .bind(language)
        .bind(request.product)
        .bind(&request.ingredients)
        .bind(request.at)
        .fetch_all(self.conn())
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_what_the_sql_returns() {
        for (rule, code) in [
            (ResolutionRule::MasterDisallow, "master_disallow"),
            (ResolutionRule::MoreSpecificScope, "more_specific_scope"),
            (
                ResolutionRule::DisallowedOverAllowed,
                "disallowed_over_allowed",
            ),
            (
                ResolutionRule::MandatoryOverAllowed,
                "mandatory_over_allowed",
            ),
            (ResolutionRule::Uncontested, "uncontested"),
        ] {
            assert_eq!(rule.as_str(), code);
        }
        assert_eq!(
            "parent".parse::<ClaimSource>().unwrap(),
            ClaimSource::Parent
        );
        assert_eq!(WordingSource::ALL.len(), 4);
    }

    #[test]
    fn a_request_deserialises_with_defaults() {
        let r: ResolutionRequest =
            serde_json::from_str(r#"{"country": "fr", "at": "2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(r.country.as_str(), "FR");
        assert_eq!((r.language, r.product), (None, None));
        assert!(serde_json::from_str::<ResolutionRequest>(r#"{"country": "FR"}"#).is_err());
    }
}
