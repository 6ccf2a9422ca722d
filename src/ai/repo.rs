//! The AI generation repository: every statement that reads or writes `mixerai.ai_generations`.

use chrono::{Datelike, NaiveDate};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{AiGenerationFilter, Completion, NewAiGeneration, ai_generation_input_columns};
use super::model::{AiGeneration, MonthlyUsage, ai_generation_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::{AiGenerationId, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The most months [`AiGenerationRepo::monthly_usage`] reports in one call (100 years).
pub const MAX_USAGE_MONTHS: u32 = 1200;

/// What [`why_unchanged`] reads to tell a stale settle from a missing row. Generations are never
/// soft-deleted; the second column says instead whether the generation is settled, the state in
/// which settling it finds no row to write.
const PROBE: &str = "SELECT version, status <> 'pending' FROM mixerai.ai_generations WHERE id = $1";

/// The entity name errors carry.
const ENTITY: &str = "AI generation";

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

    /// Records a pending request (at version 1) in the scope's brand, made by the scope's user.
    ///
    /// Errors: [`Error::Forbidden`] for a viewer; [`Error::InvalidReference`] on
    /// `ai_generations_content_fkey` (field `content_id`) when the content is not the brand's, and on
    /// `ai_generations_template_id_fkey` (field `template_id`) when the template is not visible in
    /// the brand (the foreign key alone would accept another brand's template).
    #[tracing::instrument(name = "mixerai.ai.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewAiGeneration) -> Result<AiGeneration> {
        let (user, brand) = self.ctx.tenant()?;
        // content_templates' policies show only the templates assigned to the scope's brand.
        sqlx::query_as::<_, AiGeneration>(concat!(
            "INSERT INTO mixerai.ai_generations (brand_id, user_id, ",
            ai_generation_input_columns!(),
            ") SELECT $1, $2, ",
            ai_generation_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.ai_generations, $3) AS r
             WHERE r.template_id IS NULL
                OR EXISTS (SELECT 1 FROM mixerai.content_templates ct WHERE ct.id = r.template_id)
             RETURNING ",
            ai_generation_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(Json(&new.values))
        .fetch_optional(self.conn())
        .await?
        .ok_or_else(|| Error::InvalidReference {
            constraint: "ai_generations_template_id_fkey".to_owned(),
            field: Some("template_id".to_owned()),
            source: None,
        })
    }

    /// The generation with this id in the scope's brand. [`Error::NotFound`] when absent or not
    /// visible.
    #[tracing::instrument(name = "mixerai.ai.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: AiGenerationId) -> Result<AiGeneration> {
        sqlx::query_as::<_, AiGeneration>(concat!(
            "SELECT ",
            ai_generation_columns!(),
            " FROM mixerai.ai_generations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: ENTITY })
    }

    /// Settles the pending generation `id`, read at `expected_version`, as completed with `done`, at
    /// the database's clock; returns it (at version 2).
    ///
    /// Errors: [`Error::Stale`] when it was settled since it was read, also by a concurrent call
    /// that got there first (of two workers finishing the same request, exactly one wins);
    /// [`Error::NotFound`] when there is no pending generation with this id in the brand (one read
    /// already settled, at its current version, has nothing left to settle); [`Error::Forbidden`]
    /// for a viewer.
    #[tracing::instrument(name = "mixerai.ai.complete", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn complete(
        &mut self,
        id: AiGenerationId,
        expected_version: i32,
        done: &Completion,
    ) -> Result<AiGeneration> {
        // The completion is the generation's patch: its outcome columns are set, the request's are
        // read from the row itself. clock_timestamp(), not now(): now() is the start of this
        // transaction, which may be the one that recorded the request.
        let settled = sqlx::query_as::<_, AiGeneration>(concat!(
            "UPDATE mixerai.ai_generations AS t SET (",
            ai_generation_input_columns!(),
            ") = (SELECT ",
            ai_generation_input_columns!(),
            " FROM jsonb_populate_record(t, $3)),
                status = 'completed', completed_at = clock_timestamp()
             WHERE t.id = $1 AND t.version = $2 AND t.status = 'pending'
             RETURNING ",
            ai_generation_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&done.values))
        .fetch_optional(self.conn())
        .await?;
        match settled {
            Some(generation) => Ok(generation),
            None => Err(self.refused(id, expected_version).await?),
        }
    }

    /// Settles the pending generation `id`, read at `expected_version`, as failed with `error` (not
    /// blank); returns it (at version 2).
    ///
    /// Errors as for [`complete`](Self::complete), and [`Error::Invalid`] (field `error`) for a blank
    /// error.
    #[tracing::instrument(name = "mixerai.ai.fail", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn fail(
        &mut self,
        id: AiGenerationId,
        expected_version: i32,
        error: &str,
    ) -> Result<AiGeneration> {
        non_blank(error, usize::MAX).map_err(|e| ValidationErrors::single("error", e.reason))?;
        let settled = sqlx::query_as::<_, AiGeneration>(concat!(
            "UPDATE mixerai.ai_generations
             SET status = 'failed', error = $3, completed_at = clock_timestamp()
             WHERE id = $1 AND version = $2 AND status = 'pending'
             RETURNING ",
            ai_generation_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(error)
        .fetch_optional(self.conn())
        .await?;
        match settled {
            Some(generation) => Ok(generation),
            None => Err(self.refused(id, expected_version).await?),
        }
    }

    /// Why settling changed no row. Under READ COMMITTED a concurrent settle makes the UPDATE wait,
    /// re-check `version` on the winner's row and skip it, so the loser lands here, reads the row at
    /// version 2 and is told [`Error::Stale`].
    async fn refused(&mut self, id: AiGenerationId, expected: i32) -> Result<Error> {
        why_unchanged(
            self.conn(),
            PROBE,
            ENTITY,
            id.as_uuid(),
            expected,
            Needs::Live,
        )
        .await
    }

    /// One page of the brand's generations matching `filter`, newest first (`created_at DESC, id
    /// DESC`).
    ///
    /// Served by an index per filter (migration 0011): `(brand_id, created_at DESC, id DESC)`, and
    /// the same with `user_id` or `type` after `brand_id`, so a page is one index seek at any depth.
    #[tracing::instrument(name = "mixerai.ai.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &AiGenerationFilter,
        request: &PageRequest,
    ) -> Result<Page<AiGeneration>> {
        let brand = self.ctx.tenant_brand();
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            ai_generation_columns!(),
            " FROM mixerai.ai_generations WHERE brand_id = "
        ));
        q.push_bind(brand);
        // Only the conditions that are set reach the statement, so each shape gets a plan of its own.
        if let Some(user) = filter.user_id {
            q.push(" AND user_id = ").push_bind(user);
        }
        if let Some(generation_type) = filter.generation_type {
            q.push(" AND type = ").push_bind(generation_type);
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status);
        }
        page(self.conn(), q, request, BY_CREATION, |g: &AiGeneration| {
            (g.created_at, g.id.as_uuid())
        })
        .await
    }

    /// The brand's usage per calendar month (UTC), from the month of `from` to the month of `to`,
    /// both included, oldest first: one row per month, zeros where nothing was requested. A
    /// generation counts in the month it was requested (`created_at`), whatever its status.
    ///
    /// One grouped query over `idx_ai_generations_brand_created`. [`Error::Invalid`] when `to` is
    /// before `from` or the range spans more than [`MAX_USAGE_MONTHS`].
    #[tracing::instrument(name = "mixerai.ai.monthly_usage", parent = self.ctx.span(), skip_all, err(level = "debug"))]
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
        Ok(sqlx::query_as::<_, MonthlyUsage>(
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
        .await?)
    }
}
