//! What an AI generation is: its type and status, the row as read, and a month of usage.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cost::Cost;
use crate::text_enum::text_enum;
use crate::types::{AiGenerationId, BrandId, ContentId, TemplateId, UserId};

/// What a generation was for (`ai_generations.type`, spec 2.6 `AIGenerationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AiGenerationType {
    /// Writing content.
    ContentGeneration,
    /// Analysing a brand.
    BrandAnalysis,
    /// Writing metadata (SEO title, description).
    MetadataGeneration,
    /// Describing an image.
    AltText,
    /// Adapting content to another market and language.
    Transcreation,
    /// Checking content against claims.
    ClaimReview,
    /// Suggesting titles.
    TitleSuggestion,
}

text_enum!(AiGenerationType {
    ContentGeneration => "content_generation",
    BrandAnalysis => "brand_analysis",
    MetadataGeneration => "metadata_generation",
    AltText => "alt_text",
    Transcreation => "transcreation",
    ClaimReview => "claim_review",
    TitleSuggestion => "title_suggestion",
});

/// Where a generation is (`ai_generations.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AiGenerationStatus {
    /// Requested, no outcome yet.
    Pending,
    /// Finished with an output.
    Completed,
    /// Finished with an error.
    Failed,
}

text_enum!(AiGenerationStatus {
    Pending => "pending",
    Completed => "completed",
    Failed => "failed",
});

/// One AI request and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AiGeneration {
    /// Primary key.
    pub id: AiGenerationId,
    /// The brand it was made for.
    pub brand_id: BrandId,
    /// Who asked for it.
    pub user_id: UserId,
    /// What it was for.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub generation_type: AiGenerationType,
    /// The model asked, e.g. `gpt-4o`.
    pub model: String,
    /// The prompt sent.
    pub prompt: String,
    /// Request parameters (temperature, ...).
    #[sqlx(json)]
    pub parameters: Map<String, Value>,
    /// The output, once completed.
    pub output: Option<String>,
    /// Tokens used (0 until completed).
    pub tokens_used: i32,
    /// How long the request took, in milliseconds (0 until completed).
    pub latency_ms: i32,
    /// What it cost, when known.
    pub cost: Option<Cost>,
    /// Pending, completed or failed.
    pub status: AiGenerationStatus,
    /// The error, once failed.
    pub error: Option<String>,
    /// The content item it was for, of the same brand.
    pub content_id: Option<ContentId>,
    /// The template it followed.
    pub template_id: Option<TemplateId>,
    /// Anything else the host records.
    #[sqlx(json)]
    pub metadata: Map<String, Value>,
    /// The optimistic-concurrency token settling names: 1 while pending, 2 once settled.
    pub version: i32,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// The columns of [`AiGeneration`], for every statement that returns generations (`concat!` keeps
/// each one a `&'static str`).
macro_rules! ai_generation_columns {
    () => {
        "id, brand_id, user_id, type, model, prompt, parameters, output, tokens_used, latency_ms, \
         cost, status, error, content_id, template_id, metadata, version, created_at, completed_at"
    };
}
pub(crate) use ai_generation_columns;

/// A brand's AI usage in one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct MonthlyUsage {
    /// The first day of the month.
    pub month: NaiveDate,
    /// Generations requested in the month, whatever their status.
    pub generations: i64,
    /// Of those, completed.
    pub completed: i64,
    /// Of those, failed.
    pub failed: i64,
    /// Tokens used.
    pub tokens_used: i64,
    /// Total cost of those with a cost.
    pub cost: Cost,
}

impl MonthlyUsage {
    /// Generations of the month still pending.
    pub fn pending(&self) -> i64 {
        self.generations - self.completed - self.failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_check_constraints_codes() {
        assert_eq!(AiGenerationType::ALL.len(), 7);
        assert_eq!(
            AiGenerationType::TitleSuggestion.as_str(),
            "title_suggestion"
        );
        assert_eq!(
            "failed".parse::<AiGenerationStatus>().unwrap(),
            AiGenerationStatus::Failed
        );
        assert!("done".parse::<AiGenerationStatus>().is_err());
    }

    #[test]
    fn monthly_usage_counts_pending_as_the_rest() {
        let u = MonthlyUsage {
            month: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
            generations: 5,
            completed: 2,
            failed: 1,
            tokens_used: 0,
            cost: Cost::ZERO,
        };
        assert_eq!(u.pending(), 2);
    }
}
