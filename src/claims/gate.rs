//! The gate: whether a content version may be approved or published in its target markets, by its
//! recorded compliance checks and the brand's compliance settings. The part of [`ClaimRepo`] that reads
//! and writes `mixerai.compliance_settings` (migration 0019) and asks `mixerai.compliance_gate()`
//! (migration 0020), laid out as a domain module is: the settings and the decision (model), their
//! input, then the repository's methods.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::check::{DEFAULT_BLOCKING_KINDS, FindingKind};
use super::input::list;
use super::repo::ClaimRepo;
use crate::input::{Mode, Parser, input};
use crate::repo::{Needs, why_unchanged};
use crate::text_enum::text_enum;
use crate::types::{BrandId, ComplianceCheckId, ContentId, CountryCode, UserId};
use crate::{Error, Result, ValidationErrors};

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// A brand's compliance settings (`compliance_settings`): which stages the gate guards, and which
/// findings block. A brand without settings is not gated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ComplianceSettings {
    /// The brand (one row per brand).
    pub brand_id: BrandId,
    /// Whether approval is gated.
    pub gate_approval: bool,
    /// Whether publishing is gated.
    pub gate_publishing: bool,
    /// The kinds of finding that block.
    pub blocking_kinds: Vec<FindingKind>,
    /// The markets a version must pass the gate in, by code; empty means the brand's own country
    /// (see [`target_markets`](Self::target_markets)). The lifecycle asks the gate for these.
    pub markets: Vec<CountryCode>,
    /// Saves so far, counting the first: the optimistic-concurrency token every write names.
    pub version: i32,
    /// Who created them.
    pub created_by: UserId,
    /// When they were created.
    pub created_at: DateTime<Utc>,
    /// Who changed them last.
    pub updated_by: UserId,
    /// When they last changed.
    pub updated_at: DateTime<Utc>,
}

impl ComplianceSettings {
    /// Whether `stage` is gated.
    pub fn gates(&self, stage: GateStage) -> bool {
        match stage {
            GateStage::Approval => self.gate_approval,
            GateStage::Publishing => self.gate_publishing,
        }
    }

    /// The markets the lifecycle asks the gate about for a brand whose own country is
    /// `brand_country`: [`markets`](Self::markets), or that country when none are listed.
    pub fn target_markets(&self, brand_country: CountryCode) -> Vec<CountryCode> {
        if self.markets.is_empty() {
            vec![brand_country]
        } else {
            self.markets.clone()
        }
    }
}

/// The columns of [`ComplianceSettings`] (the version is stored as BIGINT, see migration 0019).
macro_rules! settings_columns {
    () => {
        "brand_id, gate_approval, gate_publishing, blocking_kinds, markets, \
         version::integer AS version, created_by, created_at, updated_by, updated_at"
    };
}

/// The step of the lifecycle the gate is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateStage {
    /// Approving a version.
    Approval,
    /// Publishing (or scheduling) a version.
    Publishing,
}

text_enum!(GateStage {
    Approval => "approval",
    Publishing => "publishing",
});

/// What the gate found for one market, about the last check of the version there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GateVerdict {
    /// Checked, current, nothing blocking.
    Clear,
    /// The version was never checked for the market.
    NotChecked,
    /// A claim or brand rule the check was made under changed since: re-check.
    RulesEdited,
    /// A claim takes effect or lapses between the time the check was made for and the time asked
    /// about: re-check for that time.
    RulesChangedOverTime,
    /// The check has findings of a kind the brand's settings block.
    BlockingFindings,
}

text_enum!(GateVerdict {
    Clear => "clear",
    NotChecked => "not_checked",
    RulesEdited => "rules_edited",
    RulesChangedOverTime => "rules_changed_over_time",
    BlockingFindings => "blocking_findings",
});

/// The gate's answer for one market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct MarketGate {
    /// The market.
    pub country: CountryCode,
    /// What was found.
    pub verdict: GateVerdict,
    /// The check it is about (none when not checked).
    pub check_id: Option<ComplianceCheckId>,
    /// How many of the check's findings block under the settings now.
    pub blocking_findings: i32,
    /// Whether this market blocks the stage: it is gated and the verdict is not clear.
    pub blocks: bool,
}

/// The gate's answer: whether the stage is blocked, and, market by market, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    /// Whether the stage is blocked: some market blocks it.
    pub blocks: bool,
    /// Each target market, by code.
    pub markets: Vec<MarketGate>,
}

impl GateDecision {
    /// The markets that block, with their reasons.
    pub fn blocking(&self) -> impl Iterator<Item = &MarketGate> {
        self.markets.iter().filter(|m| m.blocks)
    }
}

/// What to ask the gate: a version of an item, the stage, its target markets, and the time it would be
/// seen (the publication or scheduled time; approval: when it would go out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRequest {
    /// The item.
    pub content_id: ContentId,
    /// The content version being approved or published: a
    /// [`ComplianceCheck::version`](super::ComplianceCheck::version) (the item's `latest_version`
    /// when checked; `approved_version`, `scheduled_version` and `live_version` name the same numbers),
    /// not the row's concurrency token.
    pub version: i32,
    /// The stage.
    pub stage: GateStage,
    /// The markets it targets (at least one).
    pub markets: Vec<CountryCode>,
    /// The time it would be seen.
    pub at: DateTime<Utc>,
}

impl GateRequest {
    /// The gate for `version` of `content` at `stage`, as of `at`, with no market yet.
    pub fn new(content_id: ContentId, version: i32, stage: GateStage, at: DateTime<Utc>) -> Self {
        Self {
            content_id,
            version,
            stage,
            markets: Vec::new(),
            at,
        }
    }

    /// Adds a target market.
    pub fn market(mut self, country: CountryCode) -> Self {
        self.markets.push(country);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// Validated new compliance settings; build them with [`NewComplianceSettings::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewComplianceSettings {
    pub(crate) values: ComplianceSettingsValues,
}

impl NewComplianceSettings {
    /// Starts a builder; [`NewComplianceSettingsBuilder::build`] reports every problem at once.
    pub fn builder() -> NewComplianceSettingsBuilder {
        NewComplianceSettingsBuilder::default()
    }
}

/// A validated change to compliance settings: only what was set is written; a patch that sets nothing
/// writes nothing. Build one with [`ComplianceSettingsPatch::builder`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComplianceSettingsPatch {
    pub(crate) values: ComplianceSettingsValues,
}

impl ComplianceSettingsPatch {
    /// Starts a builder; [`ComplianceSettingsPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> ComplianceSettingsPatchBuilder {
        ComplianceSettingsPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Raw input for [`NewComplianceSettings`]; nothing is required (the defaults: not gated, the
/// [`DEFAULT_BLOCKING_KINDS`], no markets listed: the brand's own country). Deserialises from the JSON of a [`ComplianceSettingsInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewComplianceSettingsBuilder(ComplianceSettingsInput);

/// Raw input for a [`ComplianceSettingsPatch`]: every setter replaces that setting; unset ones stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComplianceSettingsPatchBuilder(ComplianceSettingsInput);

input! {
    /// The raw input of compliance settings, shared by [`NewComplianceSettingsBuilder`] and
    /// [`ComplianceSettingsPatchBuilder`].
    pub struct ComplianceSettingsInput;
    builders NewComplianceSettingsBuilder, ComplianceSettingsPatchBuilder;
    values ComplianceSettingsValues, columns settings_input_columns;
    fields {
        /// Whether approval is gated (default: no).
        gate_approval "gate_approval": value bool => bool, gate_approval maybe_gate_approval;
        /// Whether publishing is gated (default: no).
        gate_publishing "gate_publishing": value bool => bool, gate_publishing maybe_gate_publishing;
        /// The kinds of finding that block, no repeats (default: [`DEFAULT_BLOCKING_KINDS`]).
        blocking_kinds "blocking_kinds": list FindingKind => Vec<FindingKind>, blocking_kinds maybe_blocking_kinds blocking_kind;
        /// The target markets the lifecycle gates a version in: ISO 3166-1 alpha-2 codes in any case,
        /// no repeats (default: none, meaning the brand's own country).
        markets "markets": list String => Vec<CountryCode>, markets maybe_markets market;
    }
}

impl NewComplianceSettingsBuilder {
    /// Validates every setting, returning all problems together.
    pub fn build(self) -> Result<NewComplianceSettings, ValidationErrors> {
        Ok(NewComplianceSettings {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl ComplianceSettingsPatchBuilder {
    /// Validates every setting that was set, returning all problems together.
    pub fn build(self) -> Result<ComplianceSettingsPatch, ValidationErrors> {
        Ok(ComplianceSettingsPatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of compliance settings, for a create (defaults) or a patch.
fn parse(
    input: &ComplianceSettingsInput,
    mode: Mode,
) -> Result<ComplianceSettingsValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let gate_approval = p.defaulted(
        "gate_approval",
        &input.gate_approval,
        || false,
        |b| Ok::<_, &str>(*b),
    );
    let gate_publishing = p.defaulted(
        "gate_publishing",
        &input.gate_publishing,
        || false,
        |b| Ok::<_, &str>(*b),
    );
    let blocking_kinds = match &input.blocking_kinds {
        Some(kinds) => {
            let mut out: Vec<FindingKind> = Vec::with_capacity(kinds.len());
            for (i, k) in kinds.iter().enumerate() {
                if out.contains(k) {
                    p.push(format!("blocking_kinds[{i}]"), "is listed twice");
                } else {
                    out.push(*k);
                }
            }
            Some(out)
        }
        None => (mode == Mode::Create).then(|| DEFAULT_BLOCKING_KINDS.to_vec()),
    };
    let markets = list(&mut p, "markets", &input.markets, |c| CountryCode::parse(c));
    p.finish(ComplianceSettingsValues {
        gate_approval,
        gate_publishing,
        blocking_kinds,
        markets,
    })
}

// ---------------------------------------------------------------------------------------------
// Repository
// ---------------------------------------------------------------------------------------------

/// What [`why_unchanged`] reads to tell stale settings from missing ones (they are never deleted).
const PROBE: &str =
    "SELECT version::integer, false FROM mixerai.compliance_settings WHERE brand_id = $1";

impl ClaimRepo<'_> {
    /// The scope's brand's compliance settings. [`Error::NotFound`] when it has none: then it is not
    /// gated, and checks block the [`DEFAULT_BLOCKING_KINDS`]. Any member may read them.
    #[tracing::instrument(name = "mixerai.claims.compliance_settings", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn compliance_settings(&mut self) -> Result<ComplianceSettings> {
        let brand = self.ctx.tenant_brand();
        sqlx::query_as::<_, ComplianceSettings>(concat!(
            "SELECT ",
            settings_columns!(),
            " FROM mixerai.compliance_settings WHERE brand_id = $1"
        ))
        .bind(brand)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound {
            entity: "compliance settings",
        })
    }

    /// Creates the scope's brand's compliance settings, at version 1. Brand admins may
    /// ([`Error::Forbidden`] otherwise); a brand that has them already is [`Error::Conflict`] on
    /// `compliance_settings_brand_id_key` (field `brand_id`): change them with
    /// [`update_compliance_settings`](Self::update_compliance_settings).
    #[tracing::instrument(name = "mixerai.claims.create_compliance_settings", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create_compliance_settings(
        &mut self,
        new: &NewComplianceSettings,
    ) -> Result<ComplianceSettings> {
        let (user, brand) = self.ctx.tenant()?;
        Ok(sqlx::query_as::<_, ComplianceSettings>(concat!(
            "INSERT INTO mixerai.compliance_settings (brand_id, created_by, updated_by, ",
            settings_input_columns!(),
            ") SELECT $1, $2, $2, ",
            settings_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.compliance_settings, $3) RETURNING ",
            settings_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(Json(&new.values))
        .fetch_one(self.conn())
        .await?)
    }

    /// Applies `patch` to the brand's settings if they are still at `expected_version`; the database
    /// adds one to the version. [`Error::Stale`] when they changed since, [`Error::NotFound`] when the
    /// brand has none, [`Error::Forbidden`] for anyone but an admin. An empty patch writes nothing and
    /// returns the settings.
    #[tracing::instrument(name = "mixerai.claims.update_compliance_settings", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn update_compliance_settings(
        &mut self,
        expected_version: i32,
        patch: &ComplianceSettingsPatch,
    ) -> Result<ComplianceSettings> {
        if patch.is_empty() {
            let current = self.compliance_settings().await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "compliance settings",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        let (user, brand) = self.ctx.tenant()?;
        let updated = sqlx::query_as::<_, ComplianceSettings>(concat!(
            "UPDATE mixerai.compliance_settings AS t SET (",
            settings_input_columns!(),
            ") = (SELECT ",
            settings_input_columns!(),
            " FROM jsonb_populate_record(t, $3)), updated_by = $4
             WHERE t.brand_id = $1 AND t.version = $2 RETURNING ",
            settings_columns!()
        ))
        .bind(brand)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(settings) => Ok(settings),
            None => Err(why_unchanged(
                self.conn(),
                PROBE,
                "compliance settings",
                brand.as_uuid(),
                expected_version,
                Needs::Live,
            )
            .await?),
        }
    }

    /// Whether `request.version` of `request.content_id` may pass `request.stage` in its target
    /// markets as of `request.at`, and, market by market, why (see [`GateVerdict`]): one statement,
    /// `mixerai.compliance_gate()`, which the lifecycle's own SQL may call too. The stage is blocked
    /// when the brand gates it and some market's verdict is not [`GateVerdict::Clear`]; with the
    /// stage not gated, the verdicts are still reported and nothing blocks. Any member may ask.
    ///
    /// # Errors
    /// [`Error::Invalid`] (field `markets`) without a market; [`Error::NotFound`] when the item is
    /// absent or not visible.
    #[tracing::instrument(name = "mixerai.claims.gate", parent = self.ctx.span(), skip_all, fields(content = %request.content_id, stage = %request.stage), err(level = "debug"))]
    pub async fn gate(&mut self, request: &GateRequest) -> Result<GateDecision> {
        if request.markets.is_empty() {
            return Err(ValidationErrors::single("markets", "at least one market").into());
        }
        let markets = sqlx::query_as::<_, MarketGate>(
            "SELECT country, verdict, check_id, blocking_findings, blocks
             FROM mixerai.compliance_gate($1, $2, $3, $4, $5)",
        )
        .bind(request.content_id)
        .bind(request.version)
        .bind(&request.markets)
        .bind(request.stage)
        .bind(request.at)
        .fetch_all(self.conn())
        .await?;
        if markets.is_empty() {
            return Err(Error::NotFound { entity: "content" });
        }
        Ok(GateDecision {
            blocks: markets.iter().any(|m| m.blocks),
            markets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_settings_default_to_no_gate_and_the_claim_findings_blocking() {
        let new = NewComplianceSettings::builder().build().unwrap();
        assert_eq!(
            serde_json::to_value(&new.values).unwrap(),
            serde_json::json!({
                "gate_approval": false,
                "gate_publishing": false,
                "blocking_kinds": ["disallowed_claim", "missing_mandatory_claim", "replacement_required"],
                "markets": [],
            })
        );
        let mut columns: Vec<&str> = settings_input_columns!().split(", ").collect();
        columns.sort_unstable();
        assert_eq!(
            columns,
            [
                "blocking_kinds",
                "gate_approval",
                "gate_publishing",
                "markets"
            ]
        );
    }

    #[test]
    fn a_patch_sets_only_what_it_names_and_refuses_repeated_kinds() {
        let patch = ComplianceSettingsPatch::builder()
            .gate_publishing(true)
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({"gate_publishing": true})
        );
        assert!(
            ComplianceSettingsPatch::builder()
                .build()
                .unwrap()
                .is_empty()
        );
        let err = ComplianceSettingsPatch::builder()
            .blocking_kind(FindingKind::GuardrailViolated)
            .blocking_kind(FindingKind::GuardrailViolated)
            .build()
            .unwrap_err();
        assert_eq!(
            err.get("blocking_kinds[1]").unwrap().reason,
            "is listed twice"
        );
        let from_json: ComplianceSettingsPatchBuilder =
            serde_json::from_str(r#"{"blocking_kinds": ["guardrail_violated"]}"#).unwrap();
        assert_eq!(
            from_json.build().unwrap(),
            ComplianceSettingsPatch::builder()
                .blocking_kinds([FindingKind::GuardrailViolated])
                .build()
                .unwrap()
        );
        assert!(
            serde_json::from_str::<ComplianceSettingsPatchBuilder>(r#"{"gate": true}"#).is_err()
        );
    }
}
