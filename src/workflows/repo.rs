//! The workflow repository: every statement that reads or writes `mixerai.workflows`.

use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{NewWorkflow, WorkflowFilter, WorkflowPatch, workflow_input_columns};
use super::model::{Workflow, workflow_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::WorkflowId;
use crate::{Error, Result, ValidationErrors};

/// What [`why_unchanged`] reads to tell a stale write from a missing row. Workflows are never
/// soft-deleted, so every visible row is live.
const PROBE: &str = "SELECT version, false FROM mixerai.workflows WHERE id = $1";

/// Workflow repository over one tenant scope: the workflows assigned to the scope's brand.
///
/// Members read; brand admins write the workflows of their brand alone, platform admins also shared
/// ones (row-level security, migration 0007): others get [`Error::Forbidden`]. A workflow not assigned to the
/// brand is invisible: reading or changing one is [`Error::NotFound`]. A second default for a brand
/// and content type is [`Error::Conflict`] on `workflows_one_default_per_brand_type` (field
/// `is_default`).
#[derive(Debug)]
pub struct WorkflowRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> WorkflowRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a workflow assigned to the scope's brand (and to any brands it is shared with), created
    /// by the scope's user. Non-admins, and brand admins sharing it, get [`Error::Forbidden`]; a default
    /// where an active one exists for one of its brands and types is [`Error::Conflict`], also when two
    /// are created at once.
    #[tracing::instrument(name = "mixerai.workflows.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewWorkflow) -> Result<Workflow> {
        let (user, brand) = self.ctx.tenant()?;
        let mut values = new.values.clone();
        // The scope's brand comes first; the column holds every brand the workflow is assigned to.
        let mut brands = vec![brand];
        brands.extend(values.shared_with.iter().flatten().filter(|b| **b != brand));
        values.shared_with = Some(brands);
        Ok(sqlx::query_as::<_, Workflow>(concat!(
            "INSERT INTO mixerai.workflows (created_by, ",
            workflow_input_columns!(),
            ") SELECT $1, ",
            workflow_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.workflows, $2) RETURNING ",
            workflow_columns!()
        ))
        .bind(user)
        .bind(Json(&values))
        .fetch_one(self.conn())
        .await?)
    }

    /// The workflow with this id, if assigned to the scope's brand; else [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.workflows.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: WorkflowId) -> Result<Workflow> {
        sqlx::query_as::<_, Workflow>(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM mixerai.workflows WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "workflow" })
    }

    /// One page of the scope's brand's workflows matching `filter`, newest first (`created_at DESC,
    /// id DESC`, walked in `idx_workflows_created` order).
    #[tracing::instrument(name = "mixerai.workflows.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &WorkflowFilter,
        request: &PageRequest,
    ) -> Result<Page<Workflow>> {
        let brand = self.ctx.tenant_brand();
        // The brand condition repeats the RESTRICTIVE policy, so the planner may use the GIN index.
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM mixerai.workflows WHERE brand_ids @> ARRAY["
        ));
        q.push_bind(brand).push("]::uuid[]");
        if let Some(t) = &filter.content_type {
            q.push(" AND (content_types = '{}' OR content_types @> ARRAY[")
                .push_bind(t.clone())
                .push("]::text[])");
        }
        if let Some(active) = filter.is_active {
            q.push(" AND is_active = ").push_bind(active);
        }
        page(self.conn(), q, request, BY_CREATION, |w: &Workflow| {
            (w.created_at, w.id.as_uuid())
        })
        .await
    }

    /// The active default workflow of the scope's brand for `content_type`, if there is one.
    #[tracing::instrument(name = "mixerai.workflows.default_for", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn default_for(&mut self, content_type: &str) -> Result<Option<Workflow>> {
        let brand = self.ctx.tenant_brand();
        Ok(sqlx::query_as::<_, Workflow>(concat!(
            "SELECT ",
            workflow_columns!(),
            " FROM mixerai.workflows
             WHERE brand_ids @> ARRAY[$1::uuid] AND content_types @> ARRAY[$2::text]
               AND is_default AND is_active"
        ))
        .bind(brand)
        .bind(content_type)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Applies `patch` to the workflow if it is still at `expected_version` (the `version` the caller
    /// read), and returns it as it is now; the database adds one to the version. Deactivating is a
    /// patch of `is_active`: a default then stops being one, which frees its brands and types for
    /// another default.
    ///
    /// A patch that replaces a part the others must agree with (steps, transitions, type, escalation
    /// rules, content types) is first checked against the stored workflow: every problem is reported
    /// together in [`Error::Invalid`] and nothing is written. A workflow saved since is
    /// [`Error::Stale`] with the version it is at; an invisible one is [`Error::NotFound`]; a user who
    /// may read but not write it is [`Error::Forbidden`]; content types that make a default overlap
    /// another are [`Error::Conflict`]. An empty patch writes nothing (no new version, no audit event)
    /// and returns the workflow.
    #[tracing::instrument(name = "mixerai.workflows.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: WorkflowId,
        expected_version: i32,
        patch: &WorkflowPatch,
    ) -> Result<Workflow> {
        if patch.is_empty() || patch.needs_whole_check() {
            let current = self.current(id, expected_version).await?;
            if patch.is_empty() {
                return Ok(current);
            }
            patch.check_whole(&current)?;
        }
        let mut values = patch.values.clone();
        if values.is_active == Some(false) {
            values.is_default = Some(false);
        }
        // Every input column is assigned: from the patch where it is set, else from the row itself
        // (jsonb_populate_record over `t`), so one static statement serves every patch. The version
        // guard makes a check against the row read above and this write one step: a save in between
        // leaves the statement nothing to update.
        let updated = sqlx::query_as::<_, Workflow>(concat!(
            "UPDATE mixerai.workflows AS t SET (",
            workflow_input_columns!(),
            ") = (SELECT ",
            workflow_input_columns!(),
            " FROM jsonb_populate_record(t, $3))
             WHERE t.id = $1 AND t.version = $2
             RETURNING ",
            workflow_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&values))
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(workflow) => Ok(workflow),
            None => Err(self.refused(id, expected_version).await?),
        }
    }

    /// Makes this active workflow, at `expected_version`, the scope's brand's default for its content
    /// types, and returns it as it is now. The brand's previous default for any of those types, if
    /// this scope may write it, stops being the default in the same transaction (its version moves
    /// too); a default it may not write (one shared with other brands) is [`Error::Conflict`] on
    /// `workflows_one_default_per_brand_type`. A workflow that is the default already is returned
    /// unchanged. An inactive workflow, or one naming no content type, is [`Error::Invalid`]; a stale
    /// version is [`Error::Stale`]; invisible is [`Error::NotFound`]; not writable is
    /// [`Error::Forbidden`].
    #[tracing::instrument(name = "mixerai.workflows.set_default", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn set_default(&mut self, id: WorkflowId, expected_version: i32) -> Result<Workflow> {
        let current = self.current(id, expected_version).await?;
        let mut errors = ValidationErrors::new();
        if current.content_types.is_empty() {
            errors.push(
                "content_types",
                "a default workflow must name its content types",
            );
        }
        if !current.is_active {
            errors.push("is_active", "an inactive workflow cannot be the default");
        }
        errors.into_result()?;
        if current.is_default {
            return Ok(current);
        }
        // Lock the row at the version read (row-level security lets only its writers lock it), so the
        // previous default is ended only when this one is sure to take its place.
        let locked: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM mixerai.workflows WHERE id = $1 AND version = $2 FOR NO KEY UPDATE",
        )
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        if locked.is_none() {
            return Err(self.refused(id, expected_version).await?);
        }
        // Rows the scope cannot write are skipped by row-level security; the one-default trigger then
        // reports the clash with them.
        sqlx::query(
            "UPDATE mixerai.workflows SET is_default = false
             WHERE id <> $1 AND is_default AND brand_ids @> ARRAY[$2::uuid] AND content_types && $3",
        )
        .bind(id)
        .bind(self.ctx.tenant_brand())
        .bind(&current.content_types)
        .execute(self.conn())
        .await?;
        let updated = sqlx::query_as::<_, Workflow>(concat!(
            "UPDATE mixerai.workflows SET is_default = true WHERE id = $1 AND version = $2 RETURNING ",
            workflow_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(workflow) => Ok(workflow),
            None => Err(self.refused(id, expected_version).await?),
        }
    }

    /// The workflow as stored, if it is still at `expected_version`; else [`Error::Stale`].
    async fn current(&mut self, id: WorkflowId, expected_version: i32) -> Result<Workflow> {
        let current = self.get(id).await?;
        if current.version == expected_version {
            Ok(current)
        } else {
            Err(Error::Stale {
                entity: "workflow",
                expected: expected_version,
                actual: current.version,
            })
        }
    }

    async fn refused(&mut self, id: WorkflowId, expected: i32) -> Result<Error> {
        why_unchanged(
            self.conn(),
            PROBE,
            "workflow",
            id.as_uuid(),
            expected,
            Needs::Live,
        )
        .await
    }
}
