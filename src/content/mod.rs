//! Content: the items brands create, review and publish (spec 2.3). Model, builder, repository.
//!
//! A content row is the item's head: its current state, with `version` counting saves. It is shaped for
//! the version log that comes next (see the crate docs): "latest" will be a pointer, never `max(version)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::Scope;
use crate::text_enum::text_enum;
use crate::types::{BrandId, ContentId, Slug, TemplateId, UserId, no_nul, non_blank};
use crate::{Error, Result, ValidationErrors};

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
    /// Status.
    pub status: ContentStatus,
    /// Saves so far; the optimistic-concurrency token.
    pub version: i32,
    /// Tags.
    pub tags: Vec<String>,
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

const CONTENT_COLUMNS: &str = "id, brand_id, template_id, type, title, slug, fields, body, excerpt, status, \
    version, tags, created_by, created_at, updated_by, updated_at, deleted_at";

/// A validated new content item; build one with [`NewContent::builder`].
#[derive(Debug, Clone)]
pub struct NewContent {
    content_type: String,
    title: String,
    slug: Slug,
    fields: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    excerpt: Option<String>,
    tags: Vec<String>,
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
    tags: Vec<String>,
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
    /// Adds a tag.
    pub fn tag(mut self, v: impl Into<String>) -> Self {
        self.tags.push(v.into());
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
        let mut optional = |field: &str, v: &Option<String>| match v {
            Some(t) => errors.check(field, no_nul(t)).map(|t| Some(t.to_owned())),
            None => Some(None),
        };
        let body = optional("body", &self.body);
        let excerpt = optional("excerpt", &self.excerpt);
        for (i, tag) in self.tags.iter().enumerate() {
            errors.check(&format!("tags[{i}]"), non_blank(tag, 100));
        }
        if serde_json::to_string(&self.fields).is_ok_and(|s| s.contains("\\u0000")) {
            errors.push("fields", "contains a NUL character");
        }
        errors.into_result()?;
        Ok(NewContent {
            content_type: content_type.expect("checked"),
            title: title.expect("checked"),
            slug: slug.expect("checked"),
            fields: self.fields,
            body: body.expect("checked"),
            excerpt: excerpt.expect("checked"),
            tags: self.tags,
        })
    }
}

/// Content repository over one tenant scope: every row it touches is the scope's brand's.
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
            "INSERT INTO content (brand_id, type, title, slug, fields, body, excerpt, tags, created_by, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {CONTENT_COLUMNS}"
        );
        let content = sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(brand)
            .bind(&new.content_type)
            .bind(&new.title)
            .bind(&new.slug)
            .bind(Json(&new.fields))
            .bind(&new.body)
            .bind(&new.excerpt)
            .bind(&new.tags)
            .bind(user)
            .fetch_one(self.conn())
            .await?;
        Ok(content)
    }

    /// The item with this id in the scope's brand. [`Error::NotFound`] when absent or not visible.
    pub async fn get(&mut self, id: ContentId) -> Result<Content> {
        let sql = format!("SELECT {CONTENT_COLUMNS} FROM content WHERE id = $1");
        sqlx::query_as::<_, Content>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "content" })
    }
}
