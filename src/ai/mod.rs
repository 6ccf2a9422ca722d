//! AI generations: one AI request and its outcome, and usage totals (spec 2.6; the table is
//! migration 0011's, since the spec names the entity without one).
//!
//! A generation is recorded `pending` when the request is sent ([`AiGenerationRepo::record`]) and
//! then settled exactly once, as `completed` with its output, tokens, latency and [`Cost`]
//! ([`AiGenerationRepo::complete`]) or as `failed` with the error ([`AiGenerationRepo::fail`]).
//! Settling a generation that is not pending is [`Error::Conflict`] on [`NOT_PENDING`]: of two
//! workers finishing the same request, exactly one wins. Any editor of the brand may settle a
//! generation (a worker may finish what a user asked for); viewers read; editors record (migration
//! 0013).
//!
//! Money is a [`Cost`]: exact US dollars to 1/10 000, a checked `rust_decimal::Decimal` bound as
//! `NUMERIC` by sqlx.

mod cost;

pub use cost::Cost;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::text_enum::text_enum;
use crate::types::{AiGenerationId, BrandId, ContentId, TemplateId, UserId, no_nul, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The constraint name [`Error::Conflict`] carries when completing or failing a generation that is
/// no longer pending (it was settled already). Nothing was written.
pub const NOT_PENDING: &str = "ai_generations_not_pending";

/// The most months [`AiGenerationRepo::monthly_usage`] reports in one call (100 years).
pub const MAX_USAGE_MONTHS: u32 = 1200;

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
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it completed or failed.
    pub completed_at: Option<DateTime<Utc>>,
}

const GENERATION_COLUMNS: &str = "id, brand_id, user_id, type, model, prompt, parameters, output, \
    tokens_used, latency_ms, cost, status, error, content_id, template_id, metadata, created_at, \
    completed_at";

/// A validated new generation request; build one with [`NewAiGeneration::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewAiGeneration {
    generation_type: AiGenerationType,
    model: String,
    prompt: String,
    parameters: Map<String, Value>,
    content_id: Option<ContentId>,
    template_id: Option<TemplateId>,
    metadata: Map<String, Value>,
}

impl NewAiGeneration {
    /// Starts a builder; [`NewAiGenerationBuilder::build`] reports every problem at once.
    pub fn builder() -> NewAiGenerationBuilder {
        NewAiGenerationBuilder::default()
    }
}

/// Raw input for a [`NewAiGeneration`]. Type, model and prompt are required.
#[derive(Debug, Clone, Default)]
pub struct NewAiGenerationBuilder {
    generation_type: Option<AiGenerationType>,
    model: String,
    prompt: String,
    parameters: Map<String, Value>,
    content_id: Option<ContentId>,
    template_id: Option<TemplateId>,
    metadata: Map<String, Value>,
}

impl NewAiGenerationBuilder {
    /// What the request is for (required).
    pub fn generation_type(mut self, v: AiGenerationType) -> Self {
        self.generation_type = Some(v);
        self
    }
    /// The model asked (required, at most 100 characters).
    pub fn model(mut self, v: impl Into<String>) -> Self {
        self.model = v.into();
        self
    }
    /// The prompt sent (required, not blank).
    pub fn prompt(mut self, v: impl Into<String>) -> Self {
        self.prompt = v.into();
        self
    }
    /// Sets one request parameter.
    pub fn parameter(mut self, name: impl Into<String>, value: Value) -> Self {
        self.parameters.insert(name.into(), value);
        self
    }
    /// The content item the request is for; must be of the scope's brand.
    pub fn content(mut self, v: ContentId) -> Self {
        self.content_id = Some(v);
        self
    }
    /// The template the request follows; must be visible in the scope's brand.
    pub fn template(mut self, v: TemplateId) -> Self {
        self.template_id = Some(v);
        self
    }
    /// Sets one metadata entry.
    pub fn metadata(mut self, name: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(name.into(), value);
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewAiGeneration, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.generation_type.is_none() {
            errors.push("type", "is required");
        }
        errors.check("model", non_blank(&self.model, 100));
        errors.check("prompt", non_blank(&self.prompt, usize::MAX));
        check_json(&mut errors, "parameters", &self.parameters);
        check_json(&mut errors, "metadata", &self.metadata);
        errors.into_result()?;
        Ok(NewAiGeneration {
            generation_type: self.generation_type.expect("checked"),
            model: self.model,
            prompt: self.prompt,
            parameters: self.parameters,
            content_id: self.content_id,
            template_id: self.template_id,
            metadata: self.metadata,
        })
    }
}

/// Refuses NUL characters anywhere in a JSON object (keys and strings): PostgreSQL's `jsonb` cannot
/// hold them. Each problem is reported at its path, e.g. `parameters.stop[1]`.
fn check_json(errors: &mut ValidationErrors, path: &str, object: &Map<String, Value>) {
    fn walk(errors: &mut ValidationErrors, path: &str, value: &Value) {
        match value {
            Value::String(s) if s.contains('\0') => {
                errors.push(path, "must not contain NUL characters")
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(errors, &format!("{path}[{i}]"), item);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let child = format!("{path}.{}", key.replace('\0', "\\0"));
                    if key.contains('\0') {
                        errors.push(child.clone(), "key must not contain NUL characters");
                    }
                    walk(errors, &child, item);
                }
            }
            _ => {}
        }
    }
    for (key, item) in object {
        let child = format!("{path}.{}", key.replace('\0', "\\0"));
        if key.contains('\0') {
            errors.push(child.clone(), "key must not contain NUL characters");
        }
        walk(errors, &child, item);
    }
}

/// The outcome of a successful generation; build one with [`Completion::builder`] and record it
/// with [`AiGenerationRepo::complete`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    output: String,
    tokens_used: i32,
    latency_ms: i32,
    cost: Option<Cost>,
}

impl Completion {
    /// Starts a builder; [`CompletionBuilder::build`] reports every problem at once.
    pub fn builder() -> CompletionBuilder {
        CompletionBuilder::default()
    }
}

/// Raw input for a [`Completion`]. The output is required (it may be empty).
#[derive(Debug, Clone, Default)]
pub struct CompletionBuilder {
    output: Option<String>,
    tokens_used: u32,
    latency: Duration,
    cost: Option<Cost>,
}

impl CompletionBuilder {
    /// What the model returned (required; may be empty).
    pub fn output(mut self, v: impl Into<String>) -> Self {
        self.output = Some(v.into());
        self
    }
    /// Tokens used (default 0; at most 2 147 483 647, the column's range).
    pub fn tokens_used(mut self, v: u32) -> Self {
        self.tokens_used = v;
        self
    }
    /// How long the request took (default 0; kept in whole milliseconds, at most ~24.8 days).
    pub fn latency(mut self, v: Duration) -> Self {
        self.latency = v;
        self
    }
    /// What it cost.
    pub fn cost(mut self, v: Cost) -> Self {
        self.cost = Some(v);
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<Completion, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        match &self.output {
            Some(o) => {
                errors.check("output", no_nul(o));
            }
            None => errors.push("output", "is required"),
        }
        let tokens_used = i32::try_from(self.tokens_used).ok();
        if tokens_used.is_none() {
            errors.push("tokens_used", "is too large (at most 2147483647)");
        }
        let latency_ms = i32::try_from(self.latency.as_millis()).ok();
        if latency_ms.is_none() {
            errors.push("latency", "is too long (at most 2147483647 ms)");
        }
        errors.into_result()?;
        Ok(Completion {
            output: self.output.expect("checked"),
            tokens_used: tokens_used.expect("checked"),
            latency_ms: latency_ms.expect("checked"),
            cost: self.cost,
        })
    }
}

/// Which of the brand's generations to list; every filter set must hold. Start from
/// `AiGenerationFilter::default()` (all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AiGenerationFilter {
    user: Option<UserId>,
    generation_type: Option<AiGenerationType>,
    status: Option<AiGenerationStatus>,
}

impl AiGenerationFilter {
    /// Only those requested by `user` (in the scope's brand).
    pub fn user(mut self, v: UserId) -> Self {
        self.user = Some(v);
        self
    }
    /// Only those of this type.
    pub fn generation_type(mut self, v: AiGenerationType) -> Self {
        self.generation_type = Some(v);
        self
    }
    /// Only those with this status.
    pub fn status(mut self, v: AiGenerationStatus) -> Self {
        self.status = Some(v);
        self
    }
}

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

/// AI generation repository over one tenant scope: the scope's brand's requests.
///
/// Viewers read; editors and admins record and settle. A write the acting user may not make is
/// [`Error::Forbidden`]; a generation of another brand is [`Error::NotFound`].
#[derive(Debug)]
pub struct AiGenerationRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> AiGenerationRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Records a pending request in the scope's brand, made by the scope's user.
    ///
    /// Errors: [`Error::Forbidden`] for a viewer; [`Error::InvalidReference`] on
    /// `ai_generations_content_fkey` when the content is not the brand's, and on
    /// `ai_generations_template_id_fkey` when the template is not visible in the brand (the foreign
    /// key alone would accept another brand's template).
    pub async fn record(&mut self, new: &NewAiGeneration) -> Result<AiGeneration> {
        let (brand, user) = (self.ctx.tenant_brand(), self.ctx.tenant_user());
        let sql = format!(
            "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, parameters, content_id,
                template_id, metadata)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
             WHERE $8::uuid IS NULL OR EXISTS (SELECT 1 FROM mixerai.content_templates WHERE id = $8)
             RETURNING {GENERATION_COLUMNS}"
        );
        sqlx::query_as::<_, AiGeneration>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(user)
            .bind(new.generation_type)
            .bind(&new.model)
            .bind(&new.prompt)
            .bind(sqlx::types::Json(&new.parameters))
            .bind(new.content_id)
            .bind(new.template_id)
            .bind(sqlx::types::Json(&new.metadata))
            .fetch_optional(self.conn())
            .await?
            .ok_or_else(|| Error::InvalidReference {
                constraint: "ai_generations_template_id_fkey".to_owned(),
                field: None,
                source: None,
            })
    }

    /// The generation with this id in the scope's brand. [`Error::NotFound`] when absent or not
    /// visible.
    pub async fn get(&mut self, id: AiGenerationId) -> Result<AiGeneration> {
        let sql = format!("SELECT {GENERATION_COLUMNS} FROM mixerai.ai_generations WHERE id = $1");
        sqlx::query_as::<_, AiGeneration>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound {
                entity: "AI generation",
            })
    }

    /// Settles the pending generation `id` as completed, at the database's clock.
    ///
    /// Errors: [`Error::Conflict`] on [`NOT_PENDING`] when it was settled already (also when a
    /// concurrent call settled it first); [`Error::NotFound`]; [`Error::Forbidden`] for a viewer.
    pub async fn complete(
        &mut self,
        id: AiGenerationId,
        done: &Completion,
    ) -> Result<AiGeneration> {
        // clock_timestamp(), not now(): now() is the start of this transaction, which may be the one
        // that recorded the request.
        let sql = format!(
            "UPDATE mixerai.ai_generations
             SET status = 'completed', output = $2, tokens_used = $3, latency_ms = $4, cost = $5,
                 completed_at = clock_timestamp()
             WHERE id = $1 AND status = 'pending'
             RETURNING {GENERATION_COLUMNS}"
        );
        let settled = sqlx::query_as::<_, AiGeneration>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(&done.output)
            .bind(done.tokens_used)
            .bind(done.latency_ms)
            .bind(done.cost)
            .fetch_optional(self.conn())
            .await?;
        self.settled(id, settled).await
    }

    /// Settles the pending generation `id` as failed with `error` (not blank).
    ///
    /// Errors as for [`complete`](Self::complete), and [`Error::Invalid`] for a blank error.
    pub async fn fail(&mut self, id: AiGenerationId, error: &str) -> Result<AiGeneration> {
        non_blank(error, usize::MAX).map_err(|e| ValidationErrors::single("error", e.reason))?;
        let sql = format!(
            "UPDATE mixerai.ai_generations
             SET status = 'failed', error = $2, completed_at = clock_timestamp()
             WHERE id = $1 AND status = 'pending'
             RETURNING {GENERATION_COLUMNS}"
        );
        let settled = sqlx::query_as::<_, AiGeneration>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(error)
            .fetch_optional(self.conn())
            .await?;
        self.settled(id, settled).await
    }

    /// Why settling changed no row. Row-level security hides a row the user may read but not write
    /// from UPDATE without an error, so the row is read back to tell the cases apart. Under READ
    /// COMMITTED a concurrent settle makes this statement wait, re-check `status = 'pending'` on the
    /// winner's row and skip it, so the loser lands here and sees the row settled.
    async fn settled(
        &mut self,
        id: AiGenerationId,
        settled: Option<AiGeneration>,
    ) -> Result<AiGeneration> {
        if let Some(generation) = settled {
            return Ok(generation);
        }
        let current = self.get(id).await?;
        if current.status != AiGenerationStatus::Pending {
            return Err(Error::Conflict {
                constraint: NOT_PENDING.to_owned(),
                field: None,
                source: None,
            });
        }
        Err(Error::forbidden(
            "only the brand's editors and admins may settle AI generations",
        ))
    }

    /// The brand's generations matching `filter`, newest first, one page at a time.
    ///
    /// Served by an index per filter (migrations 0011 and 0017): `(brand_id, created_at DESC, id
    /// DESC)`, and the same with `user_id` or `type` after `brand_id`, so a page is one index seek
    /// at any depth.
    pub async fn list(
        &mut self,
        filter: &AiGenerationFilter,
        page: &PageRequest,
    ) -> Result<Page<AiGeneration>> {
        let brand = self.ctx.tenant_brand();
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {GENERATION_COLUMNS} FROM mixerai.ai_generations WHERE brand_id = "
        ));
        q.push_bind(brand);
        if let Some(user) = filter.user {
            q.push(" AND user_id = ").push_bind(user);
        }
        if let Some(generation_type) = filter.generation_type {
            q.push(" AND type = ").push_bind(generation_type);
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status);
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
        let rows = q
            .build_query_as::<AiGeneration>()
            .fetch_all(self.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |g| {
            (g.created_at, g.id.as_uuid())
        }))
    }

    /// The brand's usage per calendar month (UTC), from the month of `from` to the month of `to`,
    /// both included, oldest first: one row per month, zeros where nothing was requested. A
    /// generation counts in the month it was requested (`created_at`), whatever its status.
    ///
    /// One grouped query over `idx_ai_generations_brand_created`. [`Error::Invalid`] when `to` is
    /// before `from` or the range spans more than [`MAX_USAGE_MONTHS`].
    pub async fn monthly_usage(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<MonthlyUsage>> {
        let first = |d: NaiveDate| d.with_day(1).expect("every month has a day 1");
        let (from, to) = (first(from), first(to));
        let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32 + 1;
        if months < 1 {
            return Err(ValidationErrors::single("to", "must not be before from").into());
        }
        if months > MAX_USAGE_MONTHS as i32 {
            return Err(ValidationErrors::single("to", "spans more than 1200 months").into());
        }
        let brand = self.ctx.tenant_brand();
        let usage = sqlx::query_as::<_, MonthlyUsage>(
            "WITH usage AS (
                 SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
                        count(*) AS generations,
                        count(*) FILTER (WHERE status = 'completed') AS completed,
                        count(*) FILTER (WHERE status = 'failed') AS failed,
                        sum(tokens_used) AS tokens_used,
                        sum(cost) AS cost
                 FROM mixerai.ai_generations
                 WHERE brand_id = $1
                   AND created_at >= $2::date::timestamp AT TIME ZONE 'UTC'
                   AND created_at < ($3::date + interval '1 month') AT TIME ZONE 'UTC'
                 GROUP BY 1)
             SELECT m.month::date AS month,
                    coalesce(u.generations, 0) AS generations,
                    coalesce(u.completed, 0) AS completed,
                    coalesce(u.failed, 0) AS failed,
                    coalesce(u.tokens_used, 0)::bigint AS tokens_used,
                    coalesce(u.cost, 0) AS cost
             FROM generate_series($2::date::timestamp, $3::date::timestamp, interval '1 month') AS m (month)
             LEFT JOIN usage u ON u.month = m.month::date
             ORDER BY m.month",
        )
        .bind(brand)
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?;
        Ok(usage)
    }
}

#[cfg(test)]
mod tests;
