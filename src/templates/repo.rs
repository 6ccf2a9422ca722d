//! The template repository: every statement that reads or writes `mixerai.content_templates`.

use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{NewTemplate, TemplateFilter, TemplatePatch, template_input_columns};
use super::model::{Template, template_columns};
use crate::page::{Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::types::TemplateId;
use crate::{Error, Result};

/// What [`why_unchanged`] reads to tell a stale write from a missing row. Templates are never
/// soft-deleted, so every visible row is live.
const PROBE: &str = "SELECT version, false FROM mixerai.content_templates WHERE id = $1";

/// Template repository over one tenant scope: the templates assigned to the scope's brand.
///
/// Reading needs any live role in the brand; writing needs editor or admin, and a template shared
/// with other brands is written only by platform admins (row-level security, migration 0006): others get
/// [`Error::Forbidden`]. A template not assigned to the brand is invisible: reading or changing one is
/// [`Error::NotFound`].
#[derive(Debug)]
pub struct TemplateRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> TemplateRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a template assigned to the scope's brand (and to any brands it is shared with), created
    /// by the scope's user. A viewer, or anyone but a platform admin sharing it, gets
    /// [`Error::Forbidden`].
    #[tracing::instrument(name = "mixerai.templates.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewTemplate) -> Result<Template> {
        let (user, brand) = self.ctx.tenant()?;
        let mut values = new.values.clone();
        // The scope's brand comes first; the column holds every brand the template is assigned to.
        let mut brands = vec![brand];
        brands.extend(values.shared_with.iter().flatten().filter(|b| **b != brand));
        values.shared_with = Some(brands);
        Ok(sqlx::query_as::<_, Template>(concat!(
            "INSERT INTO mixerai.content_templates (created_by, ",
            template_input_columns!(),
            ") SELECT $1, ",
            template_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.content_templates, $2) RETURNING ",
            template_columns!()
        ))
        .bind(user)
        .bind(Json(&values))
        .fetch_one(self.conn())
        .await?)
    }

    /// The template with this id, if assigned to the scope's brand; else [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.templates.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: TemplateId) -> Result<Template> {
        sqlx::query_as::<_, Template>(concat!(
            "SELECT ",
            template_columns!(),
            " FROM mixerai.content_templates WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "template" })
    }

    /// One page of the scope's brand's templates matching `filter`, newest first (`created_at DESC,
    /// id DESC`, walked in `idx_content_templates_created` order).
    #[tracing::instrument(name = "mixerai.templates.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &TemplateFilter,
        request: &PageRequest,
    ) -> Result<Page<Template>> {
        let brand = self.ctx.tenant_brand();
        // The brand condition repeats the RESTRICTIVE policy, so the planner may use the GIN index.
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            template_columns!(),
            " FROM mixerai.content_templates WHERE brand_ids @> ARRAY["
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
        page(self.conn(), q, request, BY_CREATION, |t: &Template| {
            (t.created_at, t.id.as_uuid())
        })
        .await
    }

    /// Applies `patch` to the template if it is still at `expected_version` (the `version` the caller
    /// read), and returns it as it is now; the database adds one to the version. Deactivating is a
    /// patch of `is_active`.
    ///
    /// A patch that replaces the fields or the rules (not both) is first checked against the stored
    /// template, so that the rules still name its fields: every problem is reported together in
    /// [`Error::Invalid`] and nothing is written. A template saved since is [`Error::Stale`] with the
    /// version it is at; an invisible one is [`Error::NotFound`]; a user who may read but not write it
    /// is [`Error::Forbidden`]. An empty patch writes nothing (no new version, no audit event) and
    /// returns the template.
    #[tracing::instrument(name = "mixerai.templates.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: TemplateId,
        expected_version: i32,
        patch: &TemplatePatch,
    ) -> Result<Template> {
        if patch.is_empty() || patch.needs_whole_check() {
            let current = self.current(id, expected_version).await?;
            if patch.is_empty() {
                return Ok(current);
            }
            patch.check_whole(&current)?;
        }
        // Every input column is assigned: from the patch where it is set, else from the row itself
        // (jsonb_populate_record over `t`), so one static statement serves every patch. The version
        // guard makes a check against the row read above and this write one step: a save in between
        // leaves the statement nothing to update.
        let updated = sqlx::query_as::<_, Template>(concat!(
            "UPDATE mixerai.content_templates AS t SET (",
            template_input_columns!(),
            ") = (SELECT ",
            template_input_columns!(),
            " FROM jsonb_populate_record(t, $3))
             WHERE t.id = $1 AND t.version = $2
             RETURNING ",
            template_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(template) => Ok(template),
            None => Err(self.refused(id, expected_version).await?),
        }
    }

    /// The template as stored, if it is still at `expected_version`; else [`Error::Stale`].
    async fn current(&mut self, id: TemplateId, expected_version: i32) -> Result<Template> {
        let current = self.get(id).await?;
        if current.version == expected_version {
            Ok(current)
        } else {
            Err(Error::Stale {
                entity: "template",
                expected: expected_version,
                actual: current.version,
            })
        }
    }

    async fn refused(&mut self, id: TemplateId, expected: i32) -> Result<Error> {
        why_unchanged(
            self.conn(),
            PROBE,
            "template",
            id.as_uuid(),
            expected,
            Needs::Live,
        )
        .await
    }
}
