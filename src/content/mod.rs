//! Content: the items brands create, review and publish (spec 2.3). Model, builder, patch, repository.
//!
//! A content row is the item's head: its current state, with `version` counting saves. It is shaped for
//! the version log that comes next (see the crate docs): "latest" will be a pointer, never `max(version)`.
//!
//! # Decisions
//! - **Optimistic concurrency.** [`ContentRepo::update`] takes the `version` the caller read. If the row
//!   was saved since, nothing is written and the error is [`Error::Conflict`] with constraint
//!   [`STALE_VERSION`] (`content_stale_version`); every successful update adds one to `version`.
//! - **Soft delete.** [`ContentRepo::delete`] sets `deleted_at`; the slug is then free for a new item
//!   (erratum W8). [`ContentRepo::restore`] brings an item back, unless its slug was taken meanwhile
//!   ([`Error::Conflict`] on `content_brand_slug_key`). [`ContentRepo::get`] still finds a deleted item
//!   (its `deleted_at` says so); slugs, lists and search see live items only.
//! - **Tags and categories** are trimmed, non-blank, at most [`MAX_LABEL_CHARS`] characters each and
//!   [`MAX_LABELS`] per item, duplicates dropped (first spelling kept). Tags are also lowercased, so
//!   `Recipes` and `recipes` are one tag and a tag filter matches either spelling; categories keep their
//!   case, since they are shown as names.
//! - **SEO metadata** ([`SeoMetadata`], stored in `content.metadata` with the spec's camelCase keys): the
//!   spec gives no lengths, so the limits are what search engines display: a meta title of at most
//!   [`SeoMetadata::MAX_TITLE_CHARS`] (60) characters, a description of at most
//!   [`SeoMetadata::MAX_DESCRIPTION_CHARS`] (160), at most 20 keywords of 100 characters; `og_image` and
//!   `canonical_url` are absolute http(s) URLs.
//! - **Search** ([`ContentRepo::search`]) reads `websearch_to_tsquery('english', …)` (quotes for phrases,
//!   `or`, `-word`) and returns the best [`MAX_PAGE_LIMIT`] matches at most,
//!   ranked by `ts_rank` then id: a capped top list, not a paginated one (a ranking shifts as items are
//!   edited, so a cursor into it would not be stable). It keeps the GIN index under row-level security
//!   through `content_search_ids()` (migration 0016 says how), and reads the rows from `content` under
//!   every policy.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::Scope;
use crate::page::{MAX_PAGE_LIMIT, Page, PageRequest};
use crate::templates::TemplateRepo;
use crate::text_enum::text_enum;
use crate::types::{BrandId, ContentId, Slug, TemplateId, UserId, http_url, no_nul, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The constraint named by [`Error::Conflict`] when an update was based on a stale `version`.
pub const STALE_VERSION: &str = "content_stale_version";

/// The most tags, and the most categories, one item may carry.
pub const MAX_LABELS: usize = 50;

/// The longest tag or category, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// The longest search query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;

/// Where an item is in its life (`content.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentStatus {
    /// Being written.
    Draft,
    /// Submitted, waiting for a reviewer.
    PendingReview,
    /// A reviewer has it.
    InReview,
    /// Approved, not yet out.
    Approved,
    /// Will publish at `scheduled_for`.
    Scheduled,
    /// Live.
    Published,
    /// Taken down, kept.
    Archived,
    /// Sent back.
    Rejected,
}

text_enum!(ContentStatus {
    Draft => "draft",
    PendingReview => "pending_review",
    InReview => "in_review",
    Approved => "approved",
    Scheduled => "scheduled",
    Published => "published",
    Archived => "archived",
    Rejected => "rejected",
});

/// SEO metadata of an item (spec 2.3 `metadata`), stored in `content.metadata` with camelCase keys.
///
/// Build one with a struct literal (or `Default`) and let the content builder or patch check it;
/// [`SeoMetadata::validate`] reports every problem, under `metadata.…` paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeoMetadata {
    /// `<title>` for search results; at most 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_title: Option<String>,
    /// Snippet for search results; at most 160 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_description: Option<String>,
    /// Keywords; at most 20, each non-blank and at most 100 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Open Graph image: an absolute http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub og_image: Option<String>,
    /// The canonical address of the item: an absolute http(s) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_url: Option<String>,
}

impl SeoMetadata {
    /// The longest meta title: what search engines show before cutting it.
    pub const MAX_TITLE_CHARS: usize = 60;
    /// The longest meta description: what search engines show before cutting it.
    pub const MAX_DESCRIPTION_CHARS: usize = 160;
    /// The most keywords.
    pub const MAX_KEYWORDS: usize = 20;

    /// Every problem with this metadata, each under `metadata.<field>`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.check_into(&mut errors);
        errors.into_result()
    }

    fn check_into(&self, errors: &mut ValidationErrors) {
        if let Some(t) = &self.meta_title {
            errors.check("metadata.meta_title", non_blank(t, Self::MAX_TITLE_CHARS));
        }
        if let Some(d) = &self.meta_description {
            errors.check(
                "metadata.meta_description",
                non_blank(d, Self::MAX_DESCRIPTION_CHARS),
            );
        }
        if self.keywords.len() > Self::MAX_KEYWORDS {
            errors.push("metadata.keywords", "at most 20 keywords");
        }
        for (i, k) in self.keywords.iter().enumerate() {
            errors.check(&format!("metadata.keywords[{i}]"), non_blank(k, 100));
        }
        if let Some(u) = &self.og_image {
            errors.check("metadata.og_image", http_url(u));
        }
        if let Some(u) = &self.canonical_url {
            errors.check("metadata.canonical_url", http_url(u));
        }
    }
}

/// A content item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Content {
    /// Primary key.
    pub id: ContentId,
    /// The brand that owns it.
    pub brand_id: BrandId,
    /// The template its fields follow.
    pub template_id: Option<TemplateId>,
    /// Content type, e.g. `article`.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub content_type: String,
    /// Title.
    pub title: String,
    /// URL name, unique among the brand's live items.
    pub slug: Slug,
    /// Template fields.
    pub fields: Json<serde_json::Value>,
    /// HTML body.
    pub body: Option<String>,
    /// Plain-text summary.
    pub excerpt: Option<String>,
    /// SEO metadata.
    pub metadata: Json<SeoMetadata>,
    /// Status.
    pub status: ContentStatus,
    /// When it was (first) published.
    pub published_at: Option<DateTime<Utc>>,
    /// Saves so far; the optimistic-concurrency token.
    pub version: i32,
    /// Tags, trimmed and lowercased.
    pub tags: Vec<String>,
    /// Categories, trimmed.
    pub categories: Vec<String>,
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

const CONTENT_COLUMNS: &str = "id, brand_id, template_id, type, title, slug, fields, body, excerpt, metadata, \
    status, published_at, version, tags, categories, created_by, created_at, updated_by, updated_at, deleted_at";

/// [`CONTENT_COLUMNS`] qualified by the alias `c`, for joins.
const CONTENT_COLUMNS_C: &str = "c.id, c.brand_id, c.template_id, c.type, c.title, c.slug, c.fields, c.body, \
    c.excerpt, c.metadata, c.status, c.published_at, c.version, c.tags, c.categories, c.created_by, \
    c.created_at, c.updated_by, c.updated_at, c.deleted_at";

/// Checks a list of tags or categories under `field[i]`, trims them, lowercases them when asked, and
/// drops repeats.
fn labels(
    errors: &mut ValidationErrors,
    field: &str,
    input: &[String],
    lowercase: bool,
) -> Vec<String> {
    if input.len() > MAX_LABELS {
        errors.push(field, "at most 50 entries");
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (i, raw) in input.iter().enumerate() {
        let Some(v) = errors.check(&format!("{field}[{i}]"), non_blank(raw, MAX_LABEL_CHARS))
        else {
            continue;
        };
        let v = v.trim();
        let v = if lowercase {
            v.to_lowercase()
        } else {
            v.to_owned()
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Refuses template fields that PostgreSQL cannot store (a NUL character anywhere in them).
fn check_fields(
    errors: &mut ValidationErrors,
    fields: &serde_json::Map<String, serde_json::Value>,
) {
    if serde_json::to_string(fields).is_ok_and(|s| s.contains("\\u0000")) {
        errors.push("fields", "contains a NUL character");
    }
}

fn optional_text(errors: &mut ValidationErrors, field: &str, v: &Option<String>) -> Option<String> {
    v.as_ref()
        .and_then(|t| errors.check(field, no_nul(t)).map(str::to_owned))
}

/// A validated new content item; build one with [`NewContent::builder`].
#[derive(Debug, Clone)]
pub struct NewContent {
    content_type: String,
    title: String,
    slug: Slug,
    fields: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    excerpt: Option<String>,
    metadata: SeoMetadata,
    tags: Vec<String>,
    categories: Vec<String>,
    /// Set by create-from-template once a template has validated the fields.
    pub(crate) template_id: Option<TemplateId>,
}

impl NewContent {
    /// Starts a builder; [`NewContentBuilder::build`] reports every problem at once.
    pub fn builder() -> NewContentBuilder {
        NewContentBuilder::default()
    }
}

/// Raw input for a [`NewContent`].
#[derive(Debug, Clone, Default)]
pub struct NewContentBuilder {
    content_type: String,
    title: String,
    slug: Option<String>,
    fields: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    excerpt: Option<String>,
    metadata: SeoMetadata,
    tags: Vec<String>,
    categories: Vec<String>,
}

impl NewContentBuilder {
    /// Content type, e.g. `article` (required, at most 50 characters).
    pub fn content_type(mut self, v: impl Into<String>) -> Self {
        self.content_type = v.into();
        self
    }
    /// Title (required, at most 500 characters).
    pub fn title(mut self, v: impl Into<String>) -> Self {
        self.title = v.into();
        self
    }
    /// URL name (default: derived from the title).
    pub fn slug(mut self, v: impl Into<String>) -> Self {
        self.slug = Some(v.into());
        self
    }
    /// Sets one template field.
    pub fn field(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.fields.insert(name.into(), value);
        self
    }
    /// HTML body.
    pub fn body(mut self, v: impl Into<String>) -> Self {
        self.body = Some(v.into());
        self
    }
    /// Plain-text summary.
    pub fn excerpt(mut self, v: impl Into<String>) -> Self {
        self.excerpt = Some(v.into());
        self
    }
    /// SEO metadata (checked by [`build`](Self::build)).
    pub fn seo(mut self, v: SeoMetadata) -> Self {
        self.metadata = v;
        self
    }
    /// Adds a tag (trimmed and lowercased; repeats dropped).
    pub fn tag(mut self, v: impl Into<String>) -> Self {
        self.tags.push(v.into());
        self
    }
    /// Adds a category (trimmed; repeats dropped).
    pub fn category(mut self, v: impl Into<String>) -> Self {
        self.categories.push(v.into());
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewContent, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let content_type = errors
            .check("type", non_blank(&self.content_type, 50))
            .map(str::to_owned);
        let title = errors
            .check("title", non_blank(&self.title, 500))
            .map(str::to_owned);
        let slug = match &self.slug {
            Some(s) => errors.check("slug", Slug::parse(s)),
            None => Slug::from_title(&self.title).or_else(|| {
                if title.is_some() {
                    errors.push("slug", "cannot be derived from the title; give one");
                }
                None
            }),
        };
        let body = optional_text(&mut errors, "body", &self.body);
        let excerpt = optional_text(&mut errors, "excerpt", &self.excerpt);
        let tags = labels(&mut errors, "tags", &self.tags, true);
        let categories = labels(&mut errors, "categories", &self.categories, false);
        self.metadata.check_into(&mut errors);
        check_fields(&mut errors, &self.fields);
        errors.into_result()?;
        Ok(NewContent {
            content_type: content_type.expect("checked"),
            title: title.expect("checked"),
            slug: slug.expect("checked"),
            fields: self.fields,
            body,
            excerpt,
            metadata: self.metadata,
            tags,
            categories,
            template_id: None,
        })
    }
}

/// A validated change to an item: only what was set is written. Build one with
/// [`ContentPatch::builder`] and apply it with [`ContentRepo::update`].
#[derive(Debug, Clone, Default)]
pub struct ContentPatch {
    title: Option<String>,
    slug: Option<Slug>,
    body: Option<Option<String>>,
    excerpt: Option<Option<String>>,
    fields: Option<serde_json::Map<String, serde_json::Value>>,
    tags: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    metadata: Option<SeoMetadata>,
    status: Option<ContentStatus>,
}

impl ContentPatch {
    /// Starts a patch builder; [`ContentPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> ContentPatchBuilder {
        ContentPatchBuilder::default()
    }
}

/// Raw input for a [`ContentPatch`]. Every setter replaces that part of the item; unset parts stay.
#[derive(Debug, Clone, Default)]
pub struct ContentPatchBuilder {
    title: Option<String>,
    slug: Option<String>,
    body: Option<Option<String>>,
    excerpt: Option<Option<String>>,
    fields: Option<serde_json::Map<String, serde_json::Value>>,
    tags: Option<Vec<String>>,
    categories: Option<Vec<String>>,
    metadata: Option<SeoMetadata>,
    status: Option<ContentStatus>,
}

impl ContentPatchBuilder {
    /// New title (non-blank, at most 500 characters).
    pub fn title(mut self, v: impl Into<String>) -> Self {
        self.title = Some(v.into());
        self
    }
    /// New slug (unique among the brand's live items).
    pub fn slug(mut self, v: impl Into<String>) -> Self {
        self.slug = Some(v.into());
        self
    }
    /// New body; `None` clears it.
    pub fn body(mut self, v: Option<String>) -> Self {
        self.body = Some(v);
        self
    }
    /// New summary; `None` clears it.
    pub fn excerpt(mut self, v: Option<String>) -> Self {
        self.excerpt = Some(v);
        self
    }
    /// Replaces all template fields.
    pub fn fields(mut self, v: serde_json::Map<String, serde_json::Value>) -> Self {
        self.fields = Some(v);
        self
    }
    /// Replaces the tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.tags = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// Replaces the categories.
    pub fn categories<I: IntoIterator<Item = S>, S: Into<String>>(mut self, v: I) -> Self {
        self.categories = Some(v.into_iter().map(Into::into).collect());
        self
    }
    /// Replaces the SEO metadata.
    pub fn seo(mut self, v: SeoMetadata) -> Self {
        self.metadata = Some(v);
        self
    }
    /// New status. `published` stamps `published_at` (once: a republish keeps the first date).
    /// `scheduled` needs a publication time, which a patch cannot set, so it is refused.
    pub fn status(mut self, v: ContentStatus) -> Self {
        self.status = Some(v);
        self
    }

    /// Validates every part that was set, returning all problems together.
    pub fn build(self) -> Result<ContentPatch, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let title = self
            .title
            .as_ref()
            .and_then(|t| errors.check("title", non_blank(t, 500)).map(str::to_owned));
        let slug = self
            .slug
            .as_ref()
            .and_then(|s| errors.check("slug", Slug::parse(s)));
        let body = self
            .body
            .as_ref()
            .map(|b| optional_text(&mut errors, "body", b));
        let excerpt = self
            .excerpt
            .as_ref()
            .map(|e| optional_text(&mut errors, "excerpt", e));
        if let Some(f) = &self.fields {
            check_fields(&mut errors, f);
        }
        let tags = self
            .tags
            .as_ref()
            .map(|t| labels(&mut errors, "tags", t, true));
        let categories = self
            .categories
            .as_ref()
            .map(|c| labels(&mut errors, "categories", c, false));
        if let Some(m) = &self.metadata {
            m.check_into(&mut errors);
        }
        if self.status == Some(ContentStatus::Scheduled) {
            errors.push(
                "status",
                "scheduling needs a publication time; not set by a patch",
            );
        }
        errors.into_result()?;
        Ok(ContentPatch {
            title,
            slug,
            body,
            excerpt,
            fields: self.fields,
            tags,
            categories,
            metadata: self.metadata,
            status: self.status,
        })
    }
}

/// Which items [`ContentRepo::list`] returns: every set condition must hold. Ranges are half-open,
/// `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentFilter {
    /// Only this content type.
    pub content_type: Option<String>,
    /// Only this status.
    pub status: Option<ContentStatus>,
    /// Only items carrying this tag (compared as tags are stored: trimmed and lowercased).
    pub tag: Option<String>,
    /// Only items following this template.
    pub template_id: Option<TemplateId>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Published at or after.
    pub published_from: Option<DateTime<Utc>>,
    /// Published before.
    pub published_to: Option<DateTime<Utc>>,
}

/// One search result: the item and how well it matched (`ts_rank`; higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SearchHit {
    /// The matching item.
    #[sqlx(flatten)]
    pub content: Content,
    /// Relevance: title matches weigh most, then the body, then template fields.
    pub rank: f32,
}

fn forbidden() -> Error {
    Error::Forbidden {
        reason: "writing content needs an editor or admin role in the brand".to_owned(),
    }
}

/// Content repository over one tenant scope: every row it touches is the scope's brand's.
///
/// Writes need an editor or admin role in the brand (row-level security refuses others with
/// [`Error::Forbidden`]); reads need any live role. Another brand's items are invisible: reading one is
/// [`Error::NotFound`], and so is changing one.
#[derive(Debug)]
pub struct ContentRepo<'s> {
    scope: &'s mut Scope,
}

impl<'s> ContentRepo<'s> {
    pub(crate) fn new(scope: &'s mut Scope) -> Self {
        Self { scope }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.scope.connection()
    }

    /// Creates an item in the scope's brand, authored by the scope's user. Editors and admins may;
    /// a slug already live in the brand is [`Error::Conflict`] on `content_brand_slug_key`.
    pub async fn create(&mut self, new: &NewContent) -> Result<Content> {
        let (brand, user) = (self.scope.brand(), self.scope.user());
        let sql = format!(
            "INSERT INTO mixerai.content (brand_id, template_id, type, title, slug, fields, body, excerpt, metadata,
                                  tags, categories, created_by, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING {CONTENT_COLUMNS}"
        );
        let content = sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(new.template_id)
            .bind(&new.content_type)
            .bind(&new.title)
            .bind(&new.slug)
            .bind(Json(&new.fields))
            .bind(&new.body)
            .bind(&new.excerpt)
            .bind(Json(&new.metadata))
            .bind(&new.tags)
            .bind(&new.categories)
            .bind(user)
            .fetch_one(self.conn())
            .await?;
        Ok(content)
    }

    /// Creates an item from a template visible in the scope's brand: the template's defaults fill the
    /// fields left out, then [`Template::validate`](crate::templates::Template::validate) checks them.
    /// Every problem is reported together in [`Error::Invalid`]: an inactive template (`template_id`),
    /// a content type the template is not for (`type`), and each field violation (`fields.<name>`);
    /// nothing is written. A template the scope cannot see is [`Error::NotFound`].
    pub async fn create_from_template(
        &mut self,
        template: TemplateId,
        new: &NewContent,
    ) -> Result<Content> {
        let template = TemplateRepo::new(&mut *self.scope).get(template).await?;
        let mut errors = ValidationErrors::new();
        if !template.is_active {
            errors.push("template_id", "the template is not active");
        }
        if !template.fits(&new.content_type) {
            errors.push("type", "not a content type this template is for");
        }
        let mut fields = new.fields.clone();
        template.apply_defaults(&mut fields);
        if let Err(field_errors) = template.validate(&fields) {
            for e in field_errors.errors() {
                errors.push(e.field.clone(), e.reason.clone());
            }
        }
        errors.into_result()?;
        let new = NewContent {
            fields,
            template_id: Some(template.id),
            ..new.clone()
        };
        self.create(&new).await
    }

    /// Creates many items in one statement (one round trip), all or nothing: a slug that is taken, or
    /// repeated within `items`, is [`Error::Conflict`] on `content_brand_slug_key` and nothing is
    /// inserted. Returns the items in the order given. Every item was validated by its builder.
    pub async fn create_many(&mut self, items: &[NewContent]) -> Result<Vec<Content>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (brand, user) = (self.scope.brand(), self.scope.user());
        // Arrays of arrays cannot be unnested row by row (PostgreSQL arrays are rectangular and
        // unnest flattens them), so tags and categories travel as one JSON array per row.
        let mut template_ids = Vec::with_capacity(items.len());
        let (mut types, mut titles, mut slugs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut fields, mut bodies, mut excerpts) = (Vec::new(), Vec::new(), Vec::new());
        let (mut metadata, mut tags, mut categories) = (Vec::new(), Vec::new(), Vec::new());
        for n in items {
            template_ids.push(n.template_id.map(|t| t.as_uuid()));
            types.push(n.content_type.as_str());
            titles.push(n.title.as_str());
            slugs.push(n.slug.as_str());
            fields.push(Json(&n.fields));
            bodies.push(n.body.as_deref());
            excerpts.push(n.excerpt.as_deref());
            metadata.push(Json(&n.metadata));
            tags.push(Json(&n.tags));
            categories.push(Json(&n.categories));
        }
        let sql = format!(
            "INSERT INTO mixerai.content (brand_id, template_id, type, title, slug, fields, body, excerpt, metadata,
                                  tags, categories, created_by, updated_by)
             SELECT $1, r.template_id, r.type, r.title, r.slug, r.fields, r.body, r.excerpt, r.metadata,
                    ARRAY(SELECT jsonb_array_elements_text(r.tags)),
                    ARRAY(SELECT jsonb_array_elements_text(r.categories)), $2, $2
             FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[],
                         $10::jsonb[], $11::jsonb[], $12::jsonb[])
                  AS r(template_id, type, title, slug, fields, body, excerpt, metadata, tags, categories)
             RETURNING {CONTENT_COLUMNS}"
        );
        let mut created = sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(user)
            .bind(template_ids)
            .bind(types)
            .bind(titles)
            .bind(slugs)
            .bind(fields)
            .bind(bodies)
            .bind(excerpts)
            .bind(metadata)
            .bind(tags)
            .bind(categories)
            .fetch_all(self.conn())
            .await?;
        // RETURNING promises no order; slugs are unique within a successful batch.
        let position: std::collections::HashMap<&str, usize> = items
            .iter()
            .enumerate()
            .map(|(i, n)| (n.slug.as_str(), i))
            .collect();
        created.sort_by_key(|c| position.get(c.slug.as_str()).copied());
        Ok(created)
    }

    /// The item with this id in the scope's brand, soft-deleted or not. [`Error::NotFound`] when absent
    /// or not visible.
    pub async fn get(&mut self, id: ContentId) -> Result<Content> {
        let sql = format!("SELECT {CONTENT_COLUMNS} FROM mixerai.content WHERE id = $1");
        sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "content" })
    }

    /// The live item with this slug in the scope's brand. [`Error::NotFound`] when there is none.
    pub async fn get_by_slug(&mut self, slug: &Slug) -> Result<Content> {
        let brand = self.scope.brand();
        let sql = format!(
            "SELECT {CONTENT_COLUMNS} FROM mixerai.content WHERE brand_id = $1 AND slug = $2 AND deleted_at IS NULL"
        );
        sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(slug)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "content" })
    }

    /// Applies `patch` to a live item if it is still at `expected_version` (the `version` the caller
    /// read), adding one to its version. If it was saved since, nothing is written and the error is
    /// [`Error::Conflict`] on [`STALE_VERSION`]; a new slug that is taken is [`Error::Conflict`] on
    /// `content_brand_slug_key`; an absent, deleted or invisible item is [`Error::NotFound`]; a user who
    /// may read but not write is [`Error::Forbidden`]. New `fields` of an item made from a template are
    /// checked against it as at creation ([`Error::Invalid`], every problem).
    pub async fn update(
        &mut self,
        id: ContentId,
        expected_version: i32,
        patch: &ContentPatch,
    ) -> Result<Content> {
        if let Some(fields) = &patch.fields {
            self.check_template_fields(id, fields).await?;
        }
        let user = self.scope.user();
        // Nullable columns take a "set" flag beside the value, so `None` can mean "clear".
        let sql = format!(
            "UPDATE mixerai.content SET
                title = coalesce($3, title),
                slug = coalesce($4, slug),
                body = CASE WHEN $5 THEN $6 ELSE body END,
                excerpt = CASE WHEN $7 THEN $8 ELSE excerpt END,
                fields = coalesce($9, fields),
                tags = coalesce($10, tags),
                categories = coalesce($11, categories),
                metadata = coalesce($12, metadata),
                status = coalesce($13, status),
                published_at = CASE WHEN $13 = 'published' THEN coalesce(published_at, now()) ELSE published_at END,
                published_by = CASE WHEN $13 = 'published' AND published_at IS NULL THEN $14 ELSE published_by END,
                version = version + 1,
                updated_by = $14
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL
             RETURNING {CONTENT_COLUMNS}"
        );
        let updated = sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected_version)
            .bind(&patch.title)
            .bind(&patch.slug)
            .bind(patch.body.is_some())
            .bind(patch.body.clone().flatten())
            .bind(patch.excerpt.is_some())
            .bind(patch.excerpt.clone().flatten())
            .bind(patch.fields.as_ref().map(Json))
            .bind(&patch.tags)
            .bind(&patch.categories)
            .bind(patch.metadata.as_ref().map(Json))
            .bind(patch.status)
            .bind(user)
            .fetch_optional(self.conn())
            .await?;
        match updated {
            Some(content) => Ok(content),
            None => Err(self.why_not_updated(id, expected_version).await?),
        }
    }

    /// New fields of an item made from a template are checked against that template, as at creation.
    /// An item without a template (or not visible: `update` reports that) needs no check.
    async fn check_template_fields(
        &mut self,
        id: ContentId,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let template: Option<Option<TemplateId>> = sqlx::query_scalar(
            "SELECT template_id FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        let Some(Some(template)) = template else {
            return Ok(());
        };
        match TemplateRepo::new(&mut *self.scope).get(template).await {
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

    /// Why an update by id and version changed no row. The scope reads the live item at another
    /// version: it was saved since (stale). At the same version: row-level security refused the write
    /// (a reader who may not write). Not at all: absent, deleted or another brand's.
    async fn why_not_updated(&mut self, id: ContentId, expected_version: i32) -> Result<Error> {
        let live: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.conn())
        .await?;
        Ok(match live {
            Some(v) if v == expected_version => forbidden(),
            Some(_) => Error::Conflict {
                constraint: STALE_VERSION.to_owned(),
            },
            None => Error::NotFound { entity: "content" },
        })
    }

    /// Why a delete or restore changed no row: the scope can read the item in the state the command
    /// needs (so it may read but not write), or it cannot.
    async fn why_not_changed(&mut self, id: ContentId, deleted: bool) -> Result<Error> {
        let visible: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM mixerai.content WHERE id = $1 AND (deleted_at IS NOT NULL) = $2)",
        )
        .bind(id)
        .bind(deleted)
        .fetch_one(self.conn())
        .await?;
        Ok(if visible {
            forbidden()
        } else {
            Error::NotFound { entity: "content" }
        })
    }

    /// Soft-deletes a live item: it leaves lists, slugs and search, and its slug is free again.
    /// [`Error::NotFound`] when there is no such live item; [`Error::Forbidden`] for a reader who may not
    /// write.
    pub async fn delete(&mut self, id: ContentId) -> Result<Content> {
        let user = self.scope.user();
        let sql = format!(
            "UPDATE mixerai.content SET deleted_at = now(), updated_by = $2
             WHERE id = $1 AND deleted_at IS NULL RETURNING {CONTENT_COLUMNS}"
        );
        match sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(user)
            .fetch_optional(self.conn())
            .await?
        {
            Some(content) => Ok(content),
            None => Err(self.why_not_changed(id, false).await?),
        }
    }

    /// Brings a soft-deleted item back. [`Error::Conflict`] on `content_brand_slug_key` when a live
    /// item has taken its slug meanwhile; [`Error::NotFound`] when there is no such deleted item;
    /// [`Error::Forbidden`] for a reader who may not write.
    pub async fn restore(&mut self, id: ContentId) -> Result<Content> {
        let user = self.scope.user();
        let sql = format!(
            "UPDATE mixerai.content SET deleted_at = NULL, updated_by = $2
             WHERE id = $1 AND deleted_at IS NOT NULL RETURNING {CONTENT_COLUMNS}"
        );
        match sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(user)
            .fetch_optional(self.conn())
            .await?
        {
            Some(content) => Ok(content),
            None => Err(self.why_not_changed(id, true).await?),
        }
    }

    /// One page of the brand's live items matching `filter`, newest first (`created_at DESC, id DESC`,
    /// served by `idx_content_brand_created`).
    pub async fn list(
        &mut self,
        filter: &ContentFilter,
        page: &PageRequest,
    ) -> Result<Page<Content>> {
        let brand = self.scope.brand();
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CONTENT_COLUMNS} FROM mixerai.content WHERE deleted_at IS NULL AND brand_id = "
        ));
        q.push_bind(brand);
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
        if let (Some(at), Some(id)) = page.after_key() {
            q.push(" AND (created_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let rows = q.build_query_as::<Content>().fetch_all(self.conn()).await?;
        Ok(Page::from_rows(rows, page, |c| {
            (c.created_at, c.id.as_uuid())
        }))
    }

    /// The brand's live items that best match `query` (web-search syntax: `"a phrase"`, `or`,
    /// `-word`), best first, at most `limit` (clamped to `1..=`[`MAX_PAGE_LIMIT`]). A query of only
    /// stop words matches nothing. A blank or over-long query is [`Error::Invalid`] (field `query`).
    pub async fn search(&mut self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        non_blank(query, MAX_QUERY_CHARS)
            .map_err(|e| ValidationErrors::single("query", e.reason))?;
        let limit = i32::try_from(limit.clamp(1, MAX_PAGE_LIMIT)).expect("at most 100");
        // content_search_ids() finds and ranks the matches through the GIN index, inside the scope's
        // brand and only for a reader of it; the rows themselves are read here under every policy.
        let sql = format!(
            "SELECT {CONTENT_COLUMNS_C}, s.rank
             FROM mixerai.content_search_ids(websearch_to_tsquery('english', $1), $2) s
             JOIN mixerai.content c ON c.id = s.id
             ORDER BY s.rank DESC, s.id DESC"
        );
        Ok(sqlx::query_as::<_, SearchHit>(sqlx::AssertSqlSafe(sql))
            .bind(query)
            .bind(limit)
            .fetch_all(self.conn())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_trimmed_lowercased_and_deduplicated_categories_keep_case() {
        let new = NewContent::builder()
            .content_type("article")
            .title("T")
            .tag(" Food ")
            .tag("food")
            .tag("FOOD")
            .tag("Drink")
            .category("Recipes")
            .category("recipes")
            .category(" Recipes")
            .build()
            .unwrap();
        assert_eq!(new.tags, ["food", "drink"]);
        assert_eq!(new.categories, ["Recipes", "recipes"]);
    }

    #[test]
    fn too_many_labels_and_keywords_are_refused() {
        let mut b = NewContent::builder().content_type("article").title("T");
        for i in 0..=MAX_LABELS {
            b = b.tag(format!("t{i}"));
        }
        let seo = SeoMetadata {
            keywords: (0..21).map(|i| format!("k{i}")).collect(),
            ..Default::default()
        };
        let err = b.seo(seo.clone()).build().unwrap_err();
        assert_eq!(err.get("tags").unwrap().reason, "at most 50 entries");
        assert_eq!(
            err.get("metadata.keywords").unwrap().reason,
            "at most 20 keywords"
        );
        assert!(seo.validate().is_err());
        assert!(SeoMetadata::default().validate().is_ok());
    }

    #[test]
    fn seo_limits_are_sixty_and_one_hundred_sixty_characters() {
        let ok = SeoMetadata {
            meta_title: Some("é".repeat(60)),
            meta_description: Some("d".repeat(160)),
            og_image: Some("https://cdn.example.com/a.png".into()),
            canonical_url: Some("http://example.com/a?b=c".into()),
            keywords: vec!["k".into()],
        };
        assert!(ok.validate().is_ok());
        let long = SeoMetadata {
            meta_title: Some("t".repeat(61)),
            meta_description: Some("d".repeat(161)),
            ..ok
        };
        let err = long.validate().unwrap_err();
        assert_eq!(err.errors().len(), 2, "{err}");
    }

    #[test]
    fn seo_metadata_uses_the_specs_camel_case_keys() {
        let json = serde_json::to_value(SeoMetadata {
            meta_title: Some("A".into()),
            og_image: Some("https://x.com/i.png".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"metaTitle": "A", "ogImage": "https://x.com/i.png"})
        );
        let back: SeoMetadata = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(back, SeoMetadata::default());
    }

    #[test]
    fn an_empty_patch_builds_and_sets_nothing() {
        let patch = ContentPatch::builder().build().unwrap();
        assert!(patch.title.is_none() && patch.status.is_none() && patch.body.is_none());
    }

    proptest! {
        #[test]
        fn any_builder_input_builds_or_reports_errors_without_panicking(
            ty in ".{0,60}", title in ".{0,20}", slug in proptest::option::of(".{0,12}"),
            body in proptest::option::of(".{0,12}"), tags in proptest::collection::vec(".{0,8}", 0..4),
            url in proptest::option::of(".{0,24}"), meta in proptest::option::of(".{0,70}"),
        ) {
            let mut b = NewContent::builder().content_type(ty).title(title).seo(SeoMetadata {
                meta_title: meta.clone(), og_image: url.clone(), canonical_url: url, ..Default::default()
            });
            if let Some(s) = slug { b = b.slug(s); }
            if let Some(x) = body.clone() { b = b.body(x); }
            for t in &tags { b = b.tag(t.clone()).category(t.clone()); }
            match b.build() {
                Ok(new) => {
                    prop_assert!(new.tags.iter().all(|t| !t.is_empty() && *t == t.trim().to_lowercase()));
                    prop_assert!(new.metadata.validate().is_ok());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            let mut p = ContentPatch::builder().tags(tags).seo(SeoMetadata { meta_title: meta, ..Default::default() });
            if let Some(x) = body { p = p.title(x.clone()).slug(x.clone()).excerpt(Some(x)); }
            match p.build() {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
