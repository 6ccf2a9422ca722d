//! Compliance checks: a content item's text against the claims in effect for one market and the brand's
//! guardrails, the findings with their positions, recorded with the content version they checked; and
//! the listing of checks a rule change made stale. The part of [`ClaimRepo`] that reads and writes
//! `mixerai.compliance_checks` (migration 0018); the matching itself ([`ClaimChecker`]) does no I/O.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::matching::{Index, Occurrence, Words, line_and_column, phrase, quoted_phrases};
use super::model::ClaimStatus;
use super::repo::ClaimRepo;
use super::resolve::{ClaimSource, ResolutionRequest, ResolutionRule, ResolvedClaim};
use crate::content::{Content, SeoMetadata};
use crate::page::{Page, PageRequest};
use crate::repo::{Keyset, page};
use crate::text_enum::text_enum;
use crate::types::{
    BrandId, ClaimId, ComplianceCheckId, ContentId, CountryCode, LanguageCode, UserId,
};
use crate::{Error, Result};

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// The text makes a claim that is disallowed in the market.
    DisallowedClaim,
    /// A claim that is mandatory in the market is not in the text.
    MissingMandatoryClaim,
    /// The text uses a claim's wording where the market has a replacement for it.
    ReplacementRequired,
    /// The text contains a phrase one of the brand's guardrails forbids.
    GuardrailViolated,
}

text_enum!(FindingKind {
    DisallowedClaim => "disallowed_claim",
    MissingMandatoryClaim => "missing_mandatory_claim",
    ReplacementRequired => "replacement_required",
    GuardrailViolated => "guardrail_violated",
});

// Lists of kinds are stored as text[] (compliance_settings.blocking_kinds).
impl sqlx::postgres::PgHasArrayType for FindingKind {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
    }

    fn array_compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::postgres::PgHasArrayType>::array_compatible(ty)
    }
}

/// The kinds of finding that block when a brand has no settings of its own: those about claims, the
/// regulator's and legal team's rules. Guardrail findings advise.
pub const DEFAULT_BLOCKING_KINDS: [FindingKind; 3] = [
    FindingKind::DisallowedClaim,
    FindingKind::MissingMandatoryClaim,
    FindingKind::ReplacementRequired,
];

/// Where in the checked text a finding is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextLocation {
    /// The field: `title`, `excerpt`, `body`, `metadata.meta_title`, `metadata.meta_description`, or a
    /// template field's path (`fields.ingredients`, `fields.bullets[2]`).
    pub field: String,
    /// The byte range of the field's original text (HTML included, for the body) that matched:
    /// `text[start..end]`.
    pub start: usize,
    /// See `start`.
    pub end: usize,
    /// The line of `start` in the field, from 1.
    pub line: usize,
    /// The column of `start` in its line, from 1, in characters.
    pub column: usize,
    /// The matched text as it is in the field (line breaks and markup included).
    pub text: String,
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What it is about.
    pub kind: FindingKind,
    /// Whether it blocks under the brand's settings when the check ran (the gate applies the settings
    /// as they are when it is asked).
    pub blocking: bool,
    /// The claim it is about (not for guardrails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<ClaimId>,
    /// That claim's version when checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_version: Option<i32>,
    /// Whose claim it is: the brand's own, its parent's, or a master claim brand's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_source: Option<ClaimSource>,
    /// The claim's status in the market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClaimStatus>,
    /// The rule that decided that status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ResolutionRule>,
    /// The claim's wording for the market (what a missing mandatory claim must say), or the phrase a
    /// guardrail forbids.
    pub wording: String,
    /// The guardrail, for a guardrail finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// The wording to use instead: the market's replacement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Why the replacement is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where it is in the text; `None` for a missing mandatory claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<TextLocation>,
}

/// The texts of a content item a check reads, each under the field path its findings name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedText {
    parts: Vec<(String, String)>,
}

impl CheckedText {
    /// No text yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text under `field`.
    pub fn field(mut self, field: impl Into<String>, text: impl Into<String>) -> Self {
        self.parts.push((field.into(), text.into()));
        self
    }

    /// The texts of an item: its title, excerpt and body, the string values of its template fields
    /// (`fields.<name>`, `fields.<name>[i]`, `fields.<name>.<key>`), and its SEO title and
    /// description, which search engines show.
    pub fn of_item(
        title: &str,
        excerpt: Option<&str>,
        body: Option<&str>,
        fields: &serde_json::Map<String, serde_json::Value>,
        metadata: &SeoMetadata,
    ) -> Self {
        let mut text = Self::new().field("title", title);
        if let Some(e) = excerpt {
            text = text.field("excerpt", e);
        }
        if let Some(b) = body {
            text = text.field("body", b);
        }
        for (name, value) in fields {
            text.strings(format!("fields.{name}"), value);
        }
        if let Some(t) = &metadata.meta_title {
            text = text.field("metadata.meta_title", t.as_str());
        }
        if let Some(d) = &metadata.meta_description {
            text = text.field("metadata.meta_description", d.as_str());
        }
        text
    }

    fn strings(&mut self, path: String, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.parts.push((path, s.clone())),
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.strings(format!("{path}[{i}]"), v);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    self.strings(format!("{path}.{k}"), v);
                }
            }
            _ => {}
        }
    }

    /// The texts, with their field paths, in order.
    pub fn parts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.parts.iter().map(|(f, t)| (f.as_str(), t.as_str()))
    }
}

impl From<&Content> for CheckedText {
    fn from(item: &Content) -> Self {
        Self::of_item(
            &item.title,
            item.excerpt.as_deref(),
            item.body.as_deref(),
            &item.fields,
            &item.metadata,
        )
    }
}

/// What a wording of the checker's phrase list is looked for as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A wording that is wrong where it stands: a disallowed claim, or one with a replacement here.
    Problem { claim: usize, kind: FindingKind },
    /// A wording that may stand (an allowed or mandatory claim, a replacement): a problem inside a
    /// longer one of these is part of it, not a problem.
    Fine,
    /// The wording a mandatory claim must have in the market.
    Required { claim: usize },
    /// A phrase a guardrail forbids (an index into the checker's guardrail phrases).
    Guardrail { phrase: usize },
}

/// Checks texts against the claims in effect in one market and the brand's guardrails. Built once per
/// set of rules; [`check`](Self::check) does no I/O and may be called for many texts.
///
/// - A **disallowed** claim is found in any of its statement's wordings (original and every
///   translation, of the deciding claim and those it overrode), unless the occurrence lies inside a
///   longer wording that may stand (`no added sugar` contains `added sugar`).
/// - A **mandatory** claim must appear in its wording for the market
///   ([`ResolvedClaim::wording`]: the replacement, else the translation chain).
/// - Where the market has a **replacement** for an allowed or mandatory claim, any other wording of the
///   claim in the text is a finding, with the replacement as the suggestion.
/// - A **guardrail** forbids the phrases it quotes: between double quotes (`"…"`, `“…”`, `„…“`,
///   `«…»`) or single quotes that stand apart from words (`'…'`, `‘…’`; an apostrophe inside a word
///   is not a quote). `Never call a product "a cure"` forbids `a cure`; a guardrail that quotes
///   nothing is a rule for people, not checked here.
#[derive(Debug)]
pub struct ClaimChecker<'c> {
    claims: &'c [ResolvedClaim],
    country: CountryCode,
    /// Each quoted phrase of a guardrail, with its guardrail.
    guardrail_phrases: Vec<(String, String)>,
    blocking: Vec<FindingKind>,
    /// Each distinct phrase (normalised words, joined by spaces) and what it is looked for as.
    phrases: Vec<(String, Vec<Use>)>,
    by_words: HashMap<String, usize>,
    mandatory: Vec<usize>,
}

impl<'c> ClaimChecker<'c> {
    /// A checker for `claims` (as [`ClaimRepo::resolve`] returns them) in `country`, with no
    /// guardrails, blocking the [`DEFAULT_BLOCKING_KINDS`].
    pub fn new(claims: &'c [ResolvedClaim], country: CountryCode) -> Self {
        let mut checker = ClaimChecker {
            claims,
            country,
            guardrail_phrases: Vec::new(),
            blocking: DEFAULT_BLOCKING_KINDS.to_vec(),
            phrases: Vec::new(),
            by_words: HashMap::new(),
            mandatory: Vec::new(),
        };
        for (i, claim) in claims.iter().enumerate() {
            checker.add_claim(i, claim);
        }
        checker
    }

    /// Also checks the brand's guardrails (their quoted phrases).
    pub fn guardrails<S: AsRef<str>>(mut self, guardrails: impl IntoIterator<Item = S>) -> Self {
        for g in guardrails {
            for quoted in quoted_phrases(g.as_ref()) {
                let index = self.guardrail_phrases.len();
                if self
                    .add(&quoted, Use::Guardrail { phrase: index })
                    .is_some()
                {
                    self.guardrail_phrases.push((g.as_ref().to_owned(), quoted));
                }
            }
        }
        self
    }

    /// Which kinds of finding block (marks [`Finding::blocking`]).
    pub fn blocking(mut self, kinds: &[FindingKind]) -> Self {
        self.blocking = kinds.to_vec();
        self
    }

    /// The index of `wording`'s phrase in the list, added if new; `None` for a wording without words.
    fn intern(&mut self, wording: &str) -> Option<usize> {
        let words = phrase(wording)?;
        Some(match self.by_words.get(&words) {
            Some(&at) => at,
            None => {
                let at = self.phrases.len();
                self.by_words.insert(words.clone(), at);
                self.phrases.push((words, Vec::new()));
                at
            }
        })
    }

    fn mark(&mut self, at: usize, usage: Use) {
        let uses = &mut self.phrases[at].1;
        if !uses.contains(&usage) {
            uses.push(usage);
        }
    }

    fn add(&mut self, wording: &str, usage: Use) -> Option<usize> {
        let at = self.intern(wording)?;
        self.mark(at, usage);
        Some(at)
    }

    fn add_claim(&mut self, i: usize, claim: &ResolvedClaim) {
        let replacement = claim
            .replacement_in(self.country)
            .and_then(|r| self.add(&r.replacement, Use::Fine));
        let problem = |kind| Use::Problem { claim: i, kind };
        for w in claim.wordings() {
            let Some(at) = self.intern(w) else { continue };
            let usage = match (claim.status, replacement) {
                (ClaimStatus::Disallowed, _) => problem(FindingKind::DisallowedClaim),
                // Worded otherwise than the market's replacement.
                (_, Some(r)) if r != at => problem(FindingKind::ReplacementRequired),
                _ => Use::Fine,
            };
            self.mark(at, usage);
        }
        if claim.status == ClaimStatus::Mandatory {
            self.mandatory.push(i);
            self.add(&claim.wording, Use::Required { claim: i });
        }
    }

    /// Every finding in `text`: problems in the order they stand in the text (field by field), then
    /// the mandatory claims it lacks.
    pub fn check(&self, text: &CheckedText) -> Vec<Finding> {
        let cuts: Vec<Words> = text.parts.iter().map(|(_, t)| Words::of(t)).collect();
        let index = Index::new(&cuts);
        let mut fine: Vec<Occurrence> = Vec::new();
        let mut problems: Vec<(Use, Occurrence)> = Vec::new();
        let mut present: HashSet<usize> = HashSet::new();
        for (words, uses) in &self.phrases {
            let found = index.find(words);
            if found.is_empty() {
                continue;
            }
            for usage in uses {
                match *usage {
                    Use::Fine => fine.extend(found.iter().cloned()),
                    Use::Required { claim } => {
                        present.insert(claim);
                        fine.extend(found.iter().cloned());
                    }
                    Use::Problem { .. } | Use::Guardrail { .. } => {
                        problems.extend(found.iter().map(|o| (*usage, o.clone())));
                    }
                }
            }
        }
        let inside_fine = |o: &Occurrence| {
            fine.iter().any(|f| {
                f.text == o.text
                    && f.words.start <= o.words.start
                    && o.words.end <= f.words.end
                    && f.words.len() > o.words.len()
            })
        };
        let mut seen = HashSet::new();
        let mut located: Vec<(usize, usize, Finding)> = Vec::new();
        for (usage, o) in problems {
            if matches!(usage, Use::Problem { .. }) && inside_fine(&o) {
                continue;
            }
            if !seen.insert((usage_key(usage), o.text, o.words.start)) {
                continue;
            }
            let (field, original) = &text.parts[o.text];
            let location = locate(field, original, &cuts[o.text], o.words.clone());
            let finding = match usage {
                Use::Problem { claim, kind } => self.claim_finding(claim, kind, Some(location)),
                Use::Guardrail { phrase } => {
                    let (guardrail, quoted) = &self.guardrail_phrases[phrase];
                    Finding {
                        kind: FindingKind::GuardrailViolated,
                        blocking: self.blocks(FindingKind::GuardrailViolated),
                        claim_id: None,
                        claim_version: None,
                        claim_source: None,
                        status: None,
                        rule: None,
                        wording: quoted.clone(),
                        guardrail: Some(guardrail.clone()),
                        suggestion: None,
                        reason: None,
                        location: Some(location),
                    }
                }
                Use::Fine | Use::Required { .. } => unreachable!("only problems are collected"),
            };
            let start = finding.location.as_ref().map_or(0, |l| l.start);
            located.push((o.text, start, finding));
        }
        located.sort_by_key(|(t, start, _)| (*t, *start));
        let mut findings: Vec<Finding> = located.into_iter().map(|(_, _, f)| f).collect();
        for &claim in &self.mandatory {
            if !present.contains(&claim) {
                findings.push(self.claim_finding(claim, FindingKind::MissingMandatoryClaim, None));
            }
        }
        findings
    }

    fn blocks(&self, kind: FindingKind) -> bool {
        self.blocking.contains(&kind)
    }

    fn claim_finding(
        &self,
        claim: usize,
        kind: FindingKind,
        location: Option<TextLocation>,
    ) -> Finding {
        let c = &self.claims[claim];
        let replacement = c.replacement_in(self.country);
        Finding {
            kind,
            blocking: self.blocks(kind),
            claim_id: Some(c.id),
            claim_version: Some(c.version),
            claim_source: Some(c.source),
            status: Some(c.status),
            rule: Some(c.rule),
            wording: c.wording.clone(),
            guardrail: None,
            suggestion: match kind {
                FindingKind::MissingMandatoryClaim => None,
                _ => replacement.map(|r| r.replacement.clone()),
            },
            reason: match kind {
                FindingKind::MissingMandatoryClaim => None,
                _ => replacement.map(|r| r.reason.clone()),
            },
            location,
        }
    }
}

/// What makes two problems the same finding when they stand at the same place.
fn usage_key(usage: Use) -> (u8, usize) {
    match usage {
        Use::Problem { claim, kind } => (kind as u8, claim),
        Use::Guardrail { phrase } => (FindingKind::GuardrailViolated as u8, phrase),
        Use::Fine | Use::Required { .. } => (u8::MAX, 0),
    }
}

fn locate(field: &str, original: &str, words: &Words, range: Range<usize>) -> TextLocation {
    let start = words.span(range.start).start;
    let end = words.span(range.end - 1).end;
    let (line, column) = line_and_column(original, start);
    TextLocation {
        field: field.to_owned(),
        start,
        end,
        line,
        column,
        text: original[start..end].to_owned(),
    }
}

/// A recorded check of one content version in one market.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ComplianceCheck {
    /// Primary key.
    pub id: ComplianceCheckId,
    /// The brand of the item.
    pub brand_id: BrandId,
    /// The item checked.
    pub content_id: ContentId,
    /// The content version checked: the item's `latest_version` when it was checked (the key of its
    /// [`ContentVersion`](crate::content::ContentVersion) and of `approved_version`, `scheduled_version`
    /// and `live_version`), not the row's concurrency token `version`, which a status change moves
    /// too. A check stands through submitting, approving or scheduling the version; a save makes a new
    /// version, which needs its own check.
    pub version: i32,
    /// The market.
    pub country: CountryCode,
    /// The language the claims' wordings were taken in.
    pub language: LanguageCode,
    /// The product the claims were resolved for.
    pub product_id: Option<Uuid>,
    /// The ingredients the claims were resolved for.
    pub ingredients: Vec<String>,
    /// The point in time the claims were resolved for (publication or scheduled time).
    pub checked_for: DateTime<Utc>,
    /// What was found.
    #[sqlx(json)]
    pub findings: Vec<Finding>,
    /// Who ran the check.
    pub checked_by: UserId,
    /// When it ran.
    pub checked_at: DateTime<Utc>,
}

impl ComplianceCheck {
    /// The findings that blocked when the check ran.
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.blocking)
    }

    /// Whether nothing blocked when the check ran.
    pub fn is_clear(&self) -> bool {
        self.blocking().next().is_none()
    }
}

/// The columns of [`ComplianceCheck`] (the version is stored as BIGINT, see migration 0018).
macro_rules! check_columns {
    () => {
        "id, brand_id, content_id, version::integer AS version, country, language, product_id, \
         ingredients, checked_for, findings, checked_by, checked_at"
    };
}

/// An item's last check in a market, no longer describing the item or the rules, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StaleCheck {
    /// The check.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub check: ComplianceCheck,
    /// The item's content version now (`latest_version`).
    pub current_version: i32,
    /// The item was saved since (its content version moved on; a status change is no save).
    pub content_edited: bool,
    /// A claim or brand rule the check was made under was created, edited, deleted or restored since.
    pub rules_edited: bool,
    /// A claim took effect or lapsed between the time the check was made for and now.
    pub rules_changed_over_time: bool,
}

/// The checks of an item's stale-check listing are paged newest check first.
const BY_CHECK: Keyset = Keyset {
    at: "checked_at",
    id: "id",
};

/// What `check` reads in its first statement: the item and what it is checked under.
#[derive(sqlx::FromRow)]
struct Subject {
    /// The content version (`latest_version`).
    version: i32,
    title: String,
    excerpt: Option<String>,
    body: Option<String>,
    fields: Json<serde_json::Map<String, serde_json::Value>>,
    metadata: Json<SeoMetadata>,
    language: LanguageCode,
    guardrails: Vec<String>,
    blocking_kinds: Vec<FindingKind>,
    fingerprint: Option<Json<serde_json::Value>>,
}

/// One check as inserted (through `jsonb_populate_record`).
#[derive(Serialize)]
struct CheckRow<'a> {
    brand_id: BrandId,
    content_id: ContentId,
    version: i32,
    country: CountryCode,
    language: LanguageCode,
    product_id: Option<Uuid>,
    ingredients: &'a [String],
    checked_for: DateTime<Utc>,
    rules_fingerprint: &'a serde_json::Value,
    findings: &'a [Finding],
}

impl ClaimRepo<'_> {
    /// Checks the live item `content` as it is now against the claims in effect for `request` (market,
    /// language, product, ingredients, point in time) and the brand's guardrails, and records the
    /// result with the item's content version (`latest_version`, see [`ComplianceCheck::version`]).
    /// Editors and admins may ([`Error::Forbidden`] otherwise).
    ///
    /// Three statements: the item with the brand's language, guardrails and blocking kinds and the rule
    /// counters the check is made under (read before the rules, so a rule change in between makes the
    /// check stale rather than a stale check fresh); the resolution ([`resolve`](Self::resolve)); the
    /// insert, which happens only if the item is still at the content version read: if it was saved
    /// meanwhile, nothing is recorded and the error is [`Error::Stale`] (entity `content`, `expected`
    /// and `actual` being content versions); a status change meanwhile saves no content and does not
    /// matter. An absent, deleted or invisible item is [`Error::NotFound`]. Without a language, the
    /// brand's is used.
    #[tracing::instrument(name = "mixerai.claims.check", parent = self.ctx.span(), skip_all, fields(content = %content, country = %request.country), err(level = "debug"))]
    pub async fn check(
        &mut self,
        content: ContentId,
        request: &ResolutionRequest,
    ) -> Result<ComplianceCheck> {
        let (user, brand) = self.ctx.tenant()?;
        let subject = sqlx::query_as::<_, Subject>(
            "SELECT c.latest_version AS version, c.title, c.excerpt, c.body, c.fields, c.metadata, b.language, b.guardrails,
                    coalesce(s.blocking_kinds, $3) AS blocking_kinds,
                    mixerai.claim_rules_fingerprint($2) AS fingerprint
             FROM mixerai.content c
             JOIN mixerai.brands b ON b.id = c.brand_id
             LEFT JOIN mixerai.compliance_settings s ON s.brand_id = c.brand_id
             WHERE c.id = $1 AND c.deleted_at IS NULL",
        )
        .bind(content)
        .bind(request.country)
        .bind(DEFAULT_BLOCKING_KINDS.as_slice())
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "content" })?;
        let Some(Json(fingerprint)) = subject.fingerprint else {
            return Err(Error::NotFound { entity: "content" });
        };
        let language = request.language.unwrap_or(subject.language);
        let mut request = request.clone();
        request.ingredients = clean_ingredients(&request.ingredients);
        // The time as PostgreSQL keeps it (whole microseconds, truncated as sqlx encodes it), so the
        // claims resolved and the time recorded are for the same instant.
        request.at =
            DateTime::from_timestamp_micros(request.at.timestamp_micros()).unwrap_or(request.at);
        let claims = self.resolve_in(&request, Some(language)).await?;
        let text = CheckedText::of_item(
            &subject.title,
            subject.excerpt.as_deref(),
            subject.body.as_deref(),
            &subject.fields,
            &subject.metadata,
        );
        let findings = ClaimChecker::new(&claims, request.country)
            .guardrails(&subject.guardrails)
            .blocking(&subject.blocking_kinds)
            .check(&text);
        let row = CheckRow {
            brand_id: brand,
            content_id: content,
            version: subject.version,
            country: request.country,
            language,
            product_id: request.product,
            ingredients: &request.ingredients,
            checked_for: request.at,
            rules_fingerprint: &fingerprint,
            findings: &findings,
        };
        let recorded = sqlx::query_as::<_, ComplianceCheck>(concat!(
            "INSERT INTO mixerai.compliance_checks (brand_id, content_id, version, country, language,
                 product_id, ingredients, checked_for, rules_fingerprint, findings, checked_by)
             SELECT r.brand_id, r.content_id, r.version, r.country, r.language, r.product_id,
                    r.ingredients, r.checked_for, r.rules_fingerprint, r.findings, $2
             FROM jsonb_populate_record(NULL::mixerai.compliance_checks, $1) r
             WHERE EXISTS (SELECT 1 FROM mixerai.content c
                           WHERE c.id = r.content_id AND c.latest_version = r.version
                             AND c.deleted_at IS NULL)
             RETURNING ",
            check_columns!()
        ))
        .bind(Json(&row))
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match recorded {
            Some(check) => Ok(check),
            None => {
                let now: Option<i32> = sqlx::query_scalar(
                    "SELECT latest_version FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(content)
                .fetch_optional(self.conn())
                .await?;
                Err(match now {
                    Some(actual) => Error::Stale {
                        entity: "content",
                        expected: subject.version,
                        actual,
                    },
                    None => Error::NotFound { entity: "content" },
                })
            }
        }
    }

    /// The recorded check with this id. [`Error::NotFound`] when absent or not visible.
    #[tracing::instrument(name = "mixerai.claims.compliance_check", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn compliance_check(&mut self, id: ComplianceCheckId) -> Result<ComplianceCheck> {
        sqlx::query_as::<_, ComplianceCheck>(concat!(
            "SELECT ",
            check_columns!(),
            " FROM mixerai.compliance_checks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound {
            entity: "compliance check",
        })
    }

    /// The last check of `content` in each market it was checked for (of whichever version), by
    /// market code. Served by `idx_compliance_checks_content`.
    #[tracing::instrument(name = "mixerai.claims.last_checks", parent = self.ctx.span(), skip_all, fields(content = %content), err(level = "debug"))]
    pub async fn last_checks(&mut self, content: ContentId) -> Result<Vec<ComplianceCheck>> {
        Ok(sqlx::query_as::<_, ComplianceCheck>(concat!(
            "SELECT DISTINCT ON (country) ",
            check_columns!(),
            " FROM mixerai.compliance_checks WHERE content_id = $1
              ORDER BY country, checked_at DESC, id DESC"
        ))
        .bind(content)
        .fetch_all(self.conn())
        .await?)
    }

    /// One page of the live items' last checks (per item and market) that are stale: the item was
    /// saved since (its content version moved on; a status change leaves a check standing), a rule they were made under changed (a claim of the brand, its parent or a master
    /// claim brand created, edited, deleted or restored in that market, or the brand's guardrails,
    /// language or claim sources), or a claim took effect or lapsed since the time they were made for.
    /// Newest check first; what to re-check with [`check`](Self::check).
    #[tracing::instrument(name = "mixerai.claims.stale_checks", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn stale_checks(&mut self, request: &PageRequest) -> Result<Page<StaleCheck>> {
        let brand = self.ctx.tenant_brand();
        // The last check per item and market; then, per market once, the counters now and the
        // instants claims took effect or lapsed since the oldest of those checks was made for.
        let mut q = QueryBuilder::<Postgres>::new(
            "WITH last AS (
                 SELECT DISTINCT ON (k.content_id, k.country) k.*
                 FROM mixerai.compliance_checks k
                 WHERE k.brand_id = ",
        );
        q.push_bind(brand).push(concat!(
            "
                 ORDER BY k.content_id, k.country, k.checked_at DESC, k.id DESC
             ), markets AS (
                 SELECT m.country, mixerai.claim_rules_fingerprint(m.country) AS fingerprint,
                        mixerai.claim_rules_boundaries(m.country, m.since, now()) AS boundaries
                 FROM (SELECT l.country, min(l.checked_for) AS since FROM last l GROUP BY l.country) m
             )
             SELECT ",
            check_columns!(),
            ", current_version, content_edited, rules_edited, rules_changed_over_time FROM (
                 SELECT l.*, c.latest_version AS current_version,
                        c.latest_version <> l.version AS content_edited,
                        l.rules_fingerprint IS DISTINCT FROM m.fingerprint AS rules_edited,
                        EXISTS (SELECT 1 FROM unnest(m.boundaries) AS b (at) WHERE b.at > l.checked_for)
                            AS rules_changed_over_time
                 FROM last l
                 JOIN mixerai.content c ON c.id = l.content_id AND c.deleted_at IS NULL
                 JOIN markets m ON m.country = l.country
             ) s WHERE (content_edited OR rules_edited OR rules_changed_over_time)"
        ));
        page(self.conn(), q, request, BY_CHECK, |s: &StaleCheck| {
            (s.check.checked_at, s.check.id.as_uuid())
        })
        .await
    }
}

/// Ingredients as resolution compares them: trimmed, blanks and repeats dropped.
fn clean_ingredients(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for i in raw {
        let i = i.trim();
        if !i.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(i)) {
            out.push(i.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gb() -> CountryCode {
        CountryCode::parse("GB").unwrap()
    }

    /// A resolved claim as the resolution returns it, with `extra` overriding the defaults.
    fn resolved(
        n: u128,
        status: &str,
        text: serde_json::Value,
        extra: serde_json::Value,
    ) -> ResolvedClaim {
        let original = text["original"].as_str().unwrap().to_owned();
        let mut claim = json!({
            "id": Uuid::from_u128(n), "brand_id": Uuid::from_u128(99), "source": "own",
            "type": "product", "level": "brand", "status": status, "text": text,
            "countries": [], "products": [], "ingredients": [],
            "effective_from": "2025-01-01T00:00:00Z", "effective_to": null,
            "regulatory_references": [], "documentation_urls": [], "notes": null,
            "replacements": [], "version": 1, "rule": "uncontested", "overridden": [],
            "overridden_texts": [], "wording": original, "wording_source": "original",
            "wording_language": null,
        });
        for (k, v) in extra.as_object().unwrap() {
            claim[k] = v.clone();
        }
        serde_json::from_value(claim).unwrap()
    }

    fn kinds(findings: &[Finding]) -> Vec<(FindingKind, Option<u128>, Option<&str>)> {
        findings
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.claim_id.map(|c| c.as_uuid().as_u128()),
                    f.location.as_ref().map(|l| l.text.as_str()),
                )
            })
            .collect()
    }

    #[test]
    fn a_disallowed_wording_inside_a_longer_allowed_one_is_part_of_it() {
        let claims = [
            resolved(
                1,
                "disallowed",
                json!({"original": "added sugar"}),
                json!({}),
            ),
            resolved(
                2,
                "allowed",
                json!({"original": "No added sugar"}),
                json!({}),
            ),
        ];
        let text = CheckedText::new()
            .field("title", "No added sugar!")
            .field("body", "<p>Some rivals sell added sugar.</p>");
        assert_eq!(
            kinds(&ClaimChecker::new(&claims, gb()).check(&text)),
            [(FindingKind::DisallowedClaim, Some(1), Some("added sugar"))]
        );
    }

    #[test]
    fn every_wording_of_a_statement_is_looked_for_and_each_place_reported_once() {
        // The deciding claim is English only; the French wording comes from the claim it overrode.
        let claims = [resolved(
            1,
            "disallowed",
            json!({"original": "Cures colds", "de": "Heilt Erkältungen"}),
            json!({"overridden": [Uuid::from_u128(2)], "overridden_texts": [
                {"original": "cures colds", "fr": "Guérit le rhume"}]}),
        )];
        let text = CheckedText::new().field(
            "body",
            "It CURES colds. Il guérit le\nrhume. Es heilt Erkältungen. Cures colds.",
        );
        assert_eq!(
            kinds(&ClaimChecker::new(&claims, gb()).check(&text)),
            [
                (FindingKind::DisallowedClaim, Some(1), Some("CURES colds")),
                (
                    FindingKind::DisallowedClaim,
                    Some(1),
                    Some("guérit le\nrhume")
                ),
                (
                    FindingKind::DisallowedClaim,
                    Some(1),
                    Some("heilt Erkältungen")
                ),
                (FindingKind::DisallowedClaim, Some(1), Some("Cures colds")),
            ]
        );
    }

    #[test]
    fn a_markets_replacement_is_required_and_suggested_and_may_stand() {
        let claims = [resolved(
            1,
            "mandatory",
            json!({"original": "High in fibre", "fr": "Riche en fibres"}),
            json!({"replacements": [{"country": "GB", "replacement": "High in fibre (6 g per 100 g)",
                                      "reason": "Say the amount"}],
                   "wording": "High in fibre (6 g per 100 g)", "wording_source": "replacement"}),
        )];
        // The replacement itself contains the original: that is no finding, and it satisfies the
        // mandatory claim.
        let fine = CheckedText::new().field("body", "High in fibre (6 g per 100 g).");
        assert!(ClaimChecker::new(&claims, gb()).check(&fine).is_empty());
        let wrong = CheckedText::new().field("body", "Riche en fibres, high in fibre.");
        let findings = ClaimChecker::new(&claims, gb()).check(&wrong);
        assert_eq!(
            kinds(&findings),
            [
                (
                    FindingKind::ReplacementRequired,
                    Some(1),
                    Some("Riche en fibres")
                ),
                (
                    FindingKind::ReplacementRequired,
                    Some(1),
                    Some("high in fibre")
                ),
                (FindingKind::MissingMandatoryClaim, Some(1), None),
            ]
        );
        assert_eq!(
            findings[0].suggestion.as_deref(),
            Some("High in fibre (6 g per 100 g)")
        );
        assert_eq!(findings[0].reason.as_deref(), Some("Say the amount"));
        assert!(findings.iter().all(|f| f.blocking));
    }

    #[test]
    fn a_mandatory_claim_must_be_in_its_market_wording_and_guardrails_advise_unless_told() {
        let claims = [resolved(
            1,
            "mandatory",
            json!({"original": "Eat a varied diet", "fr": "Mangez varié"}),
            json!({"wording": "Mangez varié", "wording_source": "requested_language",
                   "wording_language": "fr"}),
        )];
        let english = CheckedText::new().field("body", "Eat a varied diet. A miracle!");
        let checker = ClaimChecker::new(&claims, gb()).guardrails(["No \"miracle\" claims"]);
        let findings = checker.check(&english);
        assert_eq!(
            findings
                .iter()
                .map(|f| (f.kind, f.blocking))
                .collect::<Vec<_>>(),
            [
                (FindingKind::GuardrailViolated, false),
                (FindingKind::MissingMandatoryClaim, true),
            ]
        );
        let strict = ClaimChecker::new(&claims, gb())
            .guardrails(["No \"miracle\" claims"])
            .blocking(&[FindingKind::GuardrailViolated]);
        let french = CheckedText::new().field("body", "MANGEZ VARIE ; un miracle.");
        let findings = strict.check(&french);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].kind, findings[0].blocking),
            (FindingKind::GuardrailViolated, true)
        );
        assert_eq!(findings[0].wording, "miracle");
        assert_eq!(
            findings[0].guardrail.as_deref(),
            Some("No \"miracle\" claims")
        );
    }

    #[test]
    fn an_item_is_read_field_by_field_with_template_strings_and_seo_text() {
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
            "tagline": "Crunchy", "bullets": ["One", {"note": "Two"}], "servings": 4,
        }))
        .unwrap();
        let metadata = SeoMetadata {
            meta_description: Some("Described".into()),
            ..Default::default()
        };
        let text = CheckedText::of_item(
            "Title",
            Some("Excerpt"),
            Some("<p>Body</p>"),
            &fields,
            &metadata,
        );
        let parts: Vec<(&str, &str)> = text.parts().collect();
        assert_eq!(
            parts,
            [
                ("title", "Title"),
                ("excerpt", "Excerpt"),
                ("body", "<p>Body</p>"),
                ("fields.bullets[0]", "One"),
                ("fields.bullets[1].note", "Two"),
                ("fields.tagline", "Crunchy"),
                ("metadata.meta_description", "Described"),
            ]
        );
        assert_eq!(
            clean_ingredients(&[" Oats ".into(), "oats".into(), " ".into()]),
            ["Oats"]
        );
    }
}
