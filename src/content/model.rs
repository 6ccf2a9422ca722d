//! What a content item is: its status, its SEO metadata, the row as read, and a search hit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::ValidationErrors;
use crate::text_enum::text_enum;
use crate::types::{BrandId, ContentId, Slug, TemplateId, UserId, http_url, non_blank};

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

    pub(crate) fn check_into(&self, errors: &mut ValidationErrors) {
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
    pub fields: Json<serde_json::Map<String, serde_json::Value>>,
    /// HTML body.
    pub body: Option<String>,
    /// Plain-text summary.
    pub excerpt: Option<String>,
    /// SEO metadata.
    pub metadata: Json<SeoMetadata>,
    /// Where the head (the working copy) is in its life; see the [transition table](super#lifecycle).
    pub status: ContentStatus,
    /// When it first went live (set by publishing only, kept across republishes).
    pub published_at: Option<DateTime<Utc>>,
    /// Who first published it (set by publishing only).
    pub published_by: Option<UserId>,
    /// Tags, trimmed and lowercased.
    pub tags: Vec<String>,
    /// Categories, trimmed.
    pub categories: Vec<String>,
    /// The optimistic-concurrency token every write names: one more on every write (saves, transitions,
    /// publications), whoever makes it.
    pub version: i32,
    /// The version whose content this head holds: the latest draft (a row of the history).
    pub latest_version: i32,
    /// The version readers of the published item get ([`ContentRepo::get_live`](super::ContentRepo::get_live));
    /// `None` when nothing is live.
    pub live_version: Option<i32>,
    /// The version the standing approval approved; `None` when none stands.
    pub approved_version: Option<i32>,
    /// The version a pending schedule publishes at [`scheduled_for`](Self::scheduled_for).
    pub scheduled_version: Option<i32>,
    /// When the pending schedule publishes [`scheduled_version`](Self::scheduled_version).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When the live version is taken down by the publishing job.
    pub expires_at: Option<DateTime<Utc>>,
    /// The note of the latest save, if it had one.
    pub version_note: Option<String>,
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

/// The columns of [`Content`], for every statement that returns items (`concat!` keeps each one a
/// `&'static str`).
macro_rules! content_columns {
    () => {
        "id, brand_id, template_id, type, title, slug, fields, body, excerpt, metadata, status, \
         published_at, published_by, tags, categories, version, latest_version, live_version, \
         approved_version, scheduled_version, scheduled_for, expires_at, version_note, created_by, \
         created_at, updated_by, updated_at, deleted_at"
    };
}
pub(crate) use content_columns;

/// One search result: the item and how well it matched (`ts_rank`; higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SearchHit {
    /// The matching item.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub content: Content,
    /// Relevance: title matches weigh most, then the body, then template fields.
    pub rank: f32,
}
