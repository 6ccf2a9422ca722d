//! The version log of an item: its versions, the live item readers get, history pages, restoring an
//! old version, and diffs between any two.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::diff::{ContentDiff, diff};
use super::input::Fields;
use super::model::{Content, ContentStatus, SeoMetadata, content_columns};
use super::repo::ContentRepo;
use crate::page::{Page, PageRequest};
use crate::repo::Needs;
use crate::types::{BrandId, ContentId, Slug, TemplateId, UserId};
use crate::{Error, Result};

/// The SHA-256 of a version's content (title, body, excerpt, fields, metadata, tags, categories,
/// template), computed by the database from the content's canonical JSON: equal content, equal hash.
/// An approval records it, and publishing checks it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(into = "String", try_from = "String")]
pub struct ContentHash(Vec<u8>);

impl ContentHash {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl From<ContentHash> for String {
    fn from(h: ContentHash) -> Self {
        h.to_string()
    }
}

impl TryFrom<String> for ContentHash {
    type Error = crate::InvalidValue;

    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        let invalid = || crate::InvalidValue::new("content_hash", "64 hexadecimal digits");
        if s.len() != 64 || !s.is_ascii() {
            return Err(invalid());
        }
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| invalid()))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map(ContentHash)
    }
}

/// One version of an item: its content right after one save, immutable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ContentVersion {
    /// The item.
    pub content_id: ContentId,
    /// Its brand.
    pub brand_id: BrandId,
    /// The item's `version` right after the save (transitions move it too, so numbers have gaps).
    pub version: i32,
    /// Title.
    pub title: String,
    /// HTML body.
    pub body: Option<String>,
    /// Plain-text summary.
    pub excerpt: Option<String>,
    /// Template fields.
    pub fields: Json<Fields>,
    /// SEO metadata.
    pub metadata: Json<SeoMetadata>,
    /// Tags.
    pub tags: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// The template the item followed.
    pub template_id: Option<TemplateId>,
    /// That template's `version` at the save: the rules the fields were checked against.
    pub template_version: Option<i32>,
    /// The save's note.
    pub note: Option<String>,
    /// The content's hash.
    pub content_hash: ContentHash,
    /// Who saved it (the acting user; `None` for a system scope's save).
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The columns of [`ContentVersion`], from `mixerai.content_versions AS v`.
macro_rules! version_columns {
    () => {
        "v.content_id, v.brand_id, v.version::integer AS version, v.title, v.body, v.excerpt, \
         v.fields, v.metadata, v.tags, v.categories, v.template_id, \
         v.template_version::integer AS template_version, v.note, v.content_hash, v.created_by, \
         v.created_at"
    };
}

/// What readers of a published item get: its live version, with the item's address and dates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct LiveContent {
    /// The item's address (the head's: a slug is not versioned).
    pub slug: Slug,
    /// Content type.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub content_type: String,
    /// The head's status: `published` when no draft is ahead of the live version.
    pub status: ContentStatus,
    /// When the item first went live.
    pub published_at: DateTime<Utc>,
    /// When the live version will be taken down.
    pub expires_at: Option<DateTime<Utc>>,
    /// The live version.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub version: ContentVersion,
}

/// `content AS c` joined to its live version `v`, for every live read.
macro_rules! live_select {
    () => {
        concat!(
            "SELECT c.slug, c.type, c.status, c.published_at, c.expires_at, ",
            version_columns!(),
            " FROM mixerai.content c
              JOIN mixerai.content_versions v ON v.content_id = c.id AND v.version = c.live_version
              WHERE c.deleted_at IS NULL AND "
        )
    };
}

/// [`ContentRepo::list_live`]'s statement up to the keyset condition: the brand's live heads (`$1`),
/// at most `$2`; [`live_page_end`] closes it.
macro_rules! live_page {
    () => {
        concat!(
            "SELECT c.slug, c.type, c.status, c.published_at, c.expires_at, ",
            version_columns!(),
            " FROM (SELECT id, slug, type, status, published_at, expires_at, live_version
                    FROM mixerai.content
                    WHERE deleted_at IS NULL AND live_version IS NOT NULL AND brand_id = $1"
        )
    };
}

/// The end of [`live_page`]: the page's order and limit, then its live versions.
macro_rules! live_page_end {
    () => {
        " ORDER BY published_at DESC, id DESC LIMIT $2) c
          JOIN mixerai.content_versions v ON v.content_id = c.id AND v.version = c.live_version
          ORDER BY c.published_at DESC, c.id DESC"
    };
}

impl ContentRepo<'_> {
    /// The live version of a live (not soft-deleted) item, as readers of the published item get it,
    /// whatever draft is ahead of it. [`Error::NotFound`] when nothing of it is live, or it is absent
    /// or invisible. One look-up by the head's `live_version` pointer.
    #[tracing::instrument(name = "mixerai.content.get_live", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get_live(&mut self, id: ContentId) -> Result<LiveContent> {
        sqlx::query_as::<_, LiveContent>(concat!(live_select!(), "c.id = $1"))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "content" })
    }

    /// The live version of the brand's item at `slug`. [`Error::NotFound`] when there is none.
    #[tracing::instrument(name = "mixerai.content.get_live_by_slug", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn get_live_by_slug(&mut self, slug: &Slug) -> Result<LiveContent> {
        let brand = self.ctx.tenant_brand();
        sqlx::query_as::<_, LiveContent>(concat!(live_select!(), "c.brand_id = $1 AND c.slug = $2"))
            .bind(brand)
            .bind(slug)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "content" })
    }

    /// One page of the brand's live items, as readers get them, latest first publication first
    /// (`published_at DESC, id DESC`, served by `idx_content_brand_live`).
    #[tracing::instrument(name = "mixerai.content.list_live", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn list_live(&mut self, request: &PageRequest) -> Result<Page<LiveContent>> {
        let brand = self.ctx.tenant_brand();
        // The page of heads first (an ordered scan of idx_content_brand_live that stops at the
        // limit), then its live versions by primary key. Joined before the limit, the planner
        // misjudges the join under both tables' policies and reads, joins and sorts every live item
        // of the brand (measured at 100k items: all 125 of brand-001's for a page of 50).
        let rows = match request.after_key() {
            (Some(at), Some(id)) => {
                sqlx::query_as::<_, LiveContent>(concat!(
                    live_page!(),
                    " AND (published_at, id) < ($3, $4)",
                    live_page_end!()
                ))
                .bind(brand)
                .bind(request.fetch_limit())
                .bind(at)
                .bind(id)
                .fetch_all(self.conn())
                .await?
            }
            _ => {
                sqlx::query_as::<_, LiveContent>(concat!(live_page!(), live_page_end!()))
                    .bind(brand)
                    .bind(request.fetch_limit())
                    .fetch_all(self.conn())
                    .await?
            }
        };
        Ok(Page::from_rows(rows, request, |l: &LiveContent| {
            (l.published_at, l.version.content_id.as_uuid())
        }))
    }

    /// Version `version` of an item of the brand (soft-deleted items keep their history).
    /// [`Error::NotFound`] (`content version`) when the item has no such version or is invisible.
    #[tracing::instrument(name = "mixerai.content.get_version", parent = self.ctx.span(), skip_all, fields(id = %id, version), err(level = "debug"))]
    pub async fn get_version(&mut self, id: ContentId, version: i32) -> Result<ContentVersion> {
        sqlx::query_as::<_, ContentVersion>(concat!(
            "SELECT ",
            version_columns!(),
            " FROM mixerai.content_versions v WHERE v.content_id = $1 AND v.version = $2"
        ))
        .bind(id)
        .bind(i64::from(version))
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound {
            entity: "content version",
        })
    }

    /// One page of an item's history, newest version first, each page one seek on the primary key
    /// `(content_id, version)`. The cursor of a history page continues that history only (it carries a
    /// version number). An absent or invisible item has an empty history.
    #[tracing::instrument(name = "mixerai.content.history", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn history(
        &mut self,
        id: ContentId,
        request: &PageRequest,
    ) -> Result<Page<ContentVersion>> {
        // Keyset on the version number, not repo::page's (at, id): two saves in one transaction share
        // their time. The cursor's id carries the number; its time is the version's, for show.
        let before = request
            .after_key()
            .1
            .map_or(i64::MAX, |u| i64::try_from(u.as_u128()).unwrap_or(0));
        let rows = sqlx::query_as::<_, ContentVersion>(concat!(
            "SELECT ",
            version_columns!(),
            " FROM mixerai.content_versions v WHERE v.content_id = $1 AND v.version < $2
              ORDER BY v.version DESC LIMIT $3"
        ))
        .bind(id)
        .bind(before)
        .bind(request.fetch_limit())
        .fetch_all(self.conn())
        .await?;
        Ok(Page::from_rows(rows, request, |v: &ContentVersion| {
            (
                v.created_at,
                uuid::Uuid::from_u128(u128::try_from(v.version).unwrap_or(0)),
            )
        }))
    }

    /// The structural diff from version `from` to version `to` of an item (either order): fields added,
    /// removed and changed with old and new values, texts line by line, lists element by element. It
    /// reads no template, so it works across a template change. [`Error::NotFound`] (`content version`)
    /// when either version does not exist.
    #[tracing::instrument(name = "mixerai.content.diff", parent = self.ctx.span(), skip_all, fields(id = %id, from, to), err(level = "debug"))]
    pub async fn diff(&mut self, id: ContentId, from: i32, to: i32) -> Result<ContentDiff> {
        let old = self.get_version(id, from).await?;
        let new = self.get_version(id, to).await?;
        Ok(diff(&old, &new))
    }

    /// Restores version `version` of a live item at `expected_version`: a save whose content is that
    /// version's (title, body, excerpt, fields, metadata, tags, categories, template), so a new version
    /// at the head of the history (which is never rewritten), with `note` as its note; the lifecycle
    /// moves as for any save. Restoring the content the head already holds writes nothing and returns
    /// the item. [`Error::NotFound`] (`content version`) when there is no such version;
    /// [`Error::Stale`], [`Error::NotFound`] and [`Error::Forbidden`] as for
    /// [`update`](Self::update).
    #[tracing::instrument(name = "mixerai.content.restore_version", parent = self.ctx.span(), skip_all, fields(id = %id, version), err(level = "debug"))]
    pub async fn restore_version(
        &mut self,
        id: ContentId,
        expected_version: i32,
        version: i32,
        note: Option<&str>,
    ) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let restored = sqlx::query_as::<_, Content>(concat!(
            "WITH v AS (SELECT * FROM mixerai.content_versions WHERE content_id = $1 AND version = $3)
             UPDATE mixerai.content AS t
             SET (title, body, excerpt, fields, metadata, tags, categories, template_id) =
                 (SELECT v.title, v.body, v.excerpt, v.fields, v.metadata, v.tags, v.categories, v.template_id FROM v),
                 version_note = $4, updated_by = $5
             WHERE t.id = $1 AND t.version = $2 AND t.deleted_at IS NULL AND EXISTS (SELECT 1 FROM v)
               AND NOT EXISTS (SELECT 1 FROM v WHERE (v.title, v.body, v.excerpt, v.fields, v.metadata, v.tags,
                                                       v.categories, v.template_id)
                                                IS NOT DISTINCT FROM (t.title::text, t.body, t.excerpt, t.fields,
                                                       t.metadata, t.tags, t.categories, t.template_id))
             RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(i64::from(version))
        .bind(note)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        if let Some(content) = restored {
            return Ok(content);
        }
        let target = self.get_version(id, version).await?;
        match self.get(id).await {
            Ok(current)
                if current.version == expected_version
                    && self
                        .get_version(id, current.latest_version)
                        .await?
                        .content_hash
                        == target.content_hash =>
            {
                Ok(current)
            }
            _ => Err(self.refused(id, expected_version, Needs::Live).await?),
        }
    }
}
