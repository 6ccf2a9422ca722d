//! The content repository: every statement that reads or writes `mixerai.content`.

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::input::{ContentFilter, ContentPatch, Fields, NewContent, content_input_columns};
use super::model::{Content, SearchHit, content_columns};
use crate::page::{MAX_PAGE_LIMIT, Page, PageRequest};
use crate::repo::{BY_CREATION, Ctx, Needs, page, why_unchanged};
use crate::templates::TemplateRepo;
use crate::types::{ContentId, TemplateId, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The longest search query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// What [`why_unchanged`] reads to tell a stale write from a missing row.
const PROBE: &str = "SELECT version, deleted_at IS NOT NULL FROM mixerai.content WHERE id = $1";

/// One row of an insert: the parsed values and the template that validated them.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    values: &'a super::input::ContentValues,
    template_id: Option<TemplateId>,
}

impl<'a> From<&'a NewContent> for Row<'a> {
    fn from(new: &'a NewContent) -> Self {
        Row {
            values: &new.values,
            template_id: new.template_id,
        }
    }
}

/// Content repository over one tenant scope: every row it touches is the scope's brand's.
///
/// Writes need an editor or admin role in the brand (row-level security refuses others with
/// [`Error::Forbidden`]); reads need any live role. Another brand's items are invisible: reading one
/// is [`Error::NotFound`], and so is changing one.
#[derive(Debug)]
pub struct ContentRepo<'s> {
    pub(super) ctx: &'s mut Ctx,
}

impl<'s> ContentRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    pub(super) fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates an item in the scope's brand, authored by the scope's user. Editors and admins may;
    /// a slug already live in the brand is [`Error::Conflict`] on `content_brand_slug_key`.
    #[tracing::instrument(name = "mixerai.content.create", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn create(&mut self, new: &NewContent) -> Result<Content> {
        let (user, brand) = self.ctx.tenant()?;
        Ok(sqlx::query_as::<_, Content>(concat!(
            "INSERT INTO mixerai.content (brand_id, created_by, updated_by, template_id, ",
            content_input_columns!(),
            ") SELECT $1, $2, $2, template_id, ",
            content_input_columns!(),
            " FROM jsonb_populate_record(NULL::mixerai.content, $3) RETURNING ",
            content_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(Json(Row::from(new)))
        .fetch_one(self.conn())
        .await?)
    }

    /// Creates an item from a template visible in the scope's brand: the template's defaults fill the
    /// fields left out, then [`Template::validate`](crate::templates::Template::validate) checks them.
    /// Every problem is reported together in [`Error::Invalid`]: an inactive template (`template_id`),
    /// a content type the template is not for (`type`), and each field violation (`fields.<name>`);
    /// nothing is written. A template the scope cannot see is [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.content.create_from_template", parent = self.ctx.span(), skip_all, fields(template = %template), err(level = "debug"))]
    pub async fn create_from_template(
        &mut self,
        template: TemplateId,
        new: &NewContent,
    ) -> Result<Content> {
        let template = TemplateRepo::new(&mut *self.ctx).get(template).await?;
        let mut errors = ValidationErrors::new();
        if !template.is_active {
            errors.push("template_id", "the template is not active");
        }
        if !template.fits(new.content_type()) {
            errors.push("type", "not a content type this template is for");
        }
        let mut fields = new.values.fields.clone().unwrap_or_default();
        template.apply_defaults(&mut fields);
        if let Err(field_errors) = template.validate(&fields) {
            for e in field_errors.errors() {
                errors.push(e.field.clone(), e.reason.clone());
            }
        }
        errors.into_result()?;
        let mut new = new.clone();
        new.values.fields = Some(fields);
        new.template_id = Some(template.id);
        self.create(&new).await
    }

    /// Creates many items in one statement (one round trip), all or nothing: a slug that is taken, or
    /// repeated within `items`, is [`Error::Conflict`] on `content_brand_slug_key` and nothing is
    /// inserted. Returns the items in the order given. Every item was validated by its builder.
    #[tracing::instrument(name = "mixerai.content.create_many", parent = self.ctx.span(), skip_all, fields(items = items.len()), err(level = "debug"))]
    pub async fn create_many(&mut self, items: &[NewContent]) -> Result<Vec<Content>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (user, brand) = self.ctx.tenant()?;
        let rows: Vec<Row<'_>> = items.iter().map(Row::from).collect();
        let mut created = sqlx::query_as::<_, Content>(concat!(
            "INSERT INTO mixerai.content (brand_id, created_by, updated_by, template_id, ",
            content_input_columns!(),
            ") SELECT $1, $2, $2, template_id, ",
            content_input_columns!(),
            " FROM jsonb_populate_recordset(NULL::mixerai.content, $3) RETURNING ",
            content_columns!()
        ))
        .bind(brand)
        .bind(user)
        .bind(Json(rows))
        .fetch_all(self.conn())
        .await?;
        // RETURNING promises no order; slugs are unique within a successful batch.
        let position: std::collections::HashMap<&str, usize> = items
            .iter()
            .enumerate()
            .map(|(i, n)| (n.slug().as_str(), i))
            .collect();
        created.sort_by_key(|c| position.get(c.slug.as_str()).copied());
        Ok(created)
    }

    /// The live item with this id in the scope's brand. [`Error::NotFound`] when absent, soft-deleted
    /// or not visible.
    #[tracing::instrument(name = "mixerai.content.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: ContentId) -> Result<Content> {
        sqlx::query_as::<_, Content>(concat!(
            "SELECT ",
            content_columns!(),
            " FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "content" })
    }

    /// The item with this id in the scope's brand, soft-deleted or not (its `deleted_at` says which):
    /// for finding what to restore. [`Error::NotFound`] when absent or not visible.
    #[tracing::instrument(name = "mixerai.content.get_including_deleted", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get_including_deleted(&mut self, id: ContentId) -> Result<Content> {
        sqlx::query_as::<_, Content>(concat!(
            "SELECT ",
            content_columns!(),
            " FROM mixerai.content WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "content" })
    }

    /// The live item with this slug in the scope's brand. [`Error::NotFound`] when there is none.
    #[tracing::instrument(name = "mixerai.content.get_by_slug", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn get_by_slug(&mut self, slug: &crate::types::Slug) -> Result<Content> {
        let brand = self.ctx.tenant_brand();
        sqlx::query_as::<_, Content>(concat!(
            "SELECT ",
            content_columns!(),
            " FROM mixerai.content WHERE brand_id = $1 AND slug = $2 AND deleted_at IS NULL"
        ))
        .bind(brand)
        .bind(slug)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "content" })
    }

    /// Saves `patch` to a live item if it is still at `expected_version` (the `version` the caller
    /// read); the database adds one to the version. A patch that changes the content (title, body,
    /// excerpt, fields, metadata, tags, categories) is a save: a new version in the history, with the
    /// patch's note, and the lifecycle moves as a save moves it (a published item gets a draft while its
    /// live version keeps serving; an approved one goes back to review, its approval void; see the
    /// [module docs](super#lifecycle)). If the item was written since, nothing is written and the error
    /// is [`Error::Stale`] with the version it is at; a new slug that is taken is [`Error::Conflict`] on
    /// `content_brand_slug_key`; an absent, deleted or invisible item is [`Error::NotFound`]; a user who
    /// may read but not write is [`Error::Forbidden`]. New `fields` of an item made from a template are
    /// checked against it as at creation ([`Error::Invalid`], every problem). An empty patch (or one
    /// with only a note) writes nothing (no new version, no audit event) and returns the item.
    #[tracing::instrument(name = "mixerai.content.update", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn update(
        &mut self,
        id: ContentId,
        expected_version: i32,
        patch: &ContentPatch,
    ) -> Result<Content> {
        let only_note = super::input::ContentValues {
            note: None,
            ..patch.values.clone()
        }
        .is_empty();
        if only_note {
            let current = self.get(id).await?;
            return if current.version == expected_version {
                Ok(current)
            } else {
                Err(Error::Stale {
                    entity: "content",
                    expected: expected_version,
                    actual: current.version,
                })
            };
        }
        if let Some(fields) = &patch.values.fields {
            self.check_template_fields(id, fields).await?;
        }
        let user = self.ctx.tenant_user();
        // Every input column is assigned: from the patch where it is set, else from the row itself
        // (jsonb_populate_record over `t`), so one static statement serves every patch.
        let updated = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content AS t SET (",
            content_input_columns!(),
            ") = (SELECT ",
            content_input_columns!(),
            " FROM jsonb_populate_record(t, $3)),
                updated_by = $4
             WHERE t.id = $1 AND t.version = $2 AND t.deleted_at IS NULL
             RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(Json(&patch.values))
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match updated {
            Some(content) => Ok(content),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// New fields of an item made from a template are checked against that template, as at creation.
    /// An item without a template (or not visible: `update` reports that) needs no check.
    async fn check_template_fields(&mut self, id: ContentId, fields: &Fields) -> Result<()> {
        let template: Option<Option<TemplateId>> = sqlx::query_scalar(
            "SELECT template_id FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        let Some(Some(template)) = template else {
            return Ok(());
        };
        match TemplateRepo::new(&mut *self.ctx).get(template).await {
            Ok(template) => Ok(template.validate(fields)?),
            // The template was unassigned from the brand since: its rules can no longer be read, so
            // new fields cannot be checked and are refused rather than stored unchecked.
            Err(Error::NotFound { .. }) => Err(ValidationErrors::single(
                "template_id",
                "the item's template is no longer assigned to this brand",
            )
            .into()),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn refused(
        &mut self,
        id: ContentId,
        expected: i32,
        needs: Needs,
    ) -> Result<Error> {
        why_unchanged(self.conn(), PROBE, "content", id.as_uuid(), expected, needs).await
    }

    /// Soft-deletes a live item at `expected_version`: it leaves lists, slugs and search, and its slug
    /// is free again; returns it as it is now. [`Error::Stale`] when it changed since,
    /// [`Error::NotFound`] when there is no such live item, [`Error::Forbidden`] for a reader who may
    /// not write.
    #[tracing::instrument(name = "mixerai.content.soft_delete", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn soft_delete(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let deleted = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET deleted_at = now(), updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match deleted {
            Some(content) => Ok(content),
            None => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }

    /// Brings a soft-deleted item at `expected_version` back. [`Error::Conflict`] on
    /// `content_brand_slug_key` when a live item has taken its slug meanwhile; [`Error::Stale`] when
    /// it changed since; [`Error::NotFound`] when there is no such deleted item;
    /// [`Error::Forbidden`] for a reader who may not write.
    #[tracing::instrument(name = "mixerai.content.restore", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn restore(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let restored = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET deleted_at = NULL, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NOT NULL RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match restored {
            Some(content) => Ok(content),
            None => Err(self.refused(id, expected_version, Needs::Deleted).await?),
        }
    }

    /// One page of the brand's items matching `filter`, newest first (`created_at DESC, id DESC`,
    /// served by `idx_content_brand_created` for live items).
    #[tracing::instrument(name = "mixerai.content.list", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list(
        &mut self,
        filter: &ContentFilter,
        request: &PageRequest,
    ) -> Result<Page<Content>> {
        let brand = self.ctx.tenant_brand();
        let mut q = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            content_columns!(),
            " FROM mixerai.content WHERE brand_id = "
        ));
        q.push_bind(brand).push(filter.deleted.condition());
        // Only the conditions that are set reach the statement, so each shape gets a plan of its own.
        if let Some(t) = &filter.content_type {
            q.push(" AND type = ").push_bind(t.clone());
        }
        if let Some(s) = filter.status {
            q.push(" AND status = ").push_bind(s);
        }
        if let Some(tag) = &filter.tag {
            q.push(" AND tags @> ARRAY[")
                .push_bind(tag.trim().to_lowercase())
                .push("]::text[]");
        }
        if let Some(t) = filter.template_id {
            q.push(" AND template_id = ").push_bind(t);
        }
        if let Some(t) = filter.created_from {
            q.push(" AND created_at >= ").push_bind(t);
        }
        if let Some(t) = filter.created_to {
            q.push(" AND created_at < ").push_bind(t);
        }
        if let Some(t) = filter.published_from {
            q.push(" AND published_at >= ").push_bind(t);
        }
        if let Some(t) = filter.published_to {
            q.push(" AND published_at < ").push_bind(t);
        }
        page(self.conn(), q, request, BY_CREATION, |c: &Content| {
            (c.created_at, c.id.as_uuid())
        })
        .await
    }

    /// The brand's live items that best match `query` (web-search syntax: `"a phrase"`, `or`,
    /// `-word`), best first, at most `limit` (clamped to `1..=`[`MAX_PAGE_LIMIT`]). A query of only
    /// stop words matches nothing. A blank or over-long query is [`Error::Invalid`] (field `query`).
    #[tracing::instrument(name = "mixerai.content.search", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn search(&mut self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        non_blank(query, MAX_QUERY_CHARS)
            .map_err(|e| ValidationErrors::single("query", e.reason))?;
        let limit = i32::try_from(limit.clamp(1, MAX_PAGE_LIMIT)).expect("at most 100");
        // content_search_ids() finds and ranks the matches through the GIN index, inside the scope's
        // brand and only for a reader of it; the rows themselves are read here under every policy.
        Ok(sqlx::query_as::<_, SearchHit>(concat!(
            "SELECT ",
            content_columns!(),
            ", s.rank
             FROM mixerai.content_search_ids(websearch_to_tsquery('english', $1), $2) s
             JOIN mixerai.content c USING (id)
             ORDER BY s.rank DESC, s.id DESC"
        ))
        .bind(query)
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }
}
