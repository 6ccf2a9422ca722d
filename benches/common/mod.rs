//! What the benches share: the columns the crate reads a `Content` with and a decoder of them by
//! hand, so every hand-written baseline moves and decodes the same bytes as the repository call beside
//! it.

use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

/// The columns of a `Content`, in the order `content_columns!` (src/content/model.rs) gives them.
pub const CONTENT_COLUMNS: &str = "id, brand_id, template_id, type, title, slug, fields, body, excerpt, \
    metadata, status, published_at, published_by, tags, categories, version, latest_version, \
    live_version, approved_version, scheduled_version, scheduled_for, expires_at, version_note, \
    created_by, created_at, updated_by, updated_at, deleted_at";

/// One content row decoded by hand, by position: what a hand-written baseline does where the crate
/// decodes a `Content`, so both sides pay for decoding.
#[allow(dead_code)]
pub struct ContentRow {
    pub id: Uuid,
    pub brand_id: Uuid,
    pub template_id: Option<Uuid>,
    pub content_type: String,
    pub title: String,
    pub slug: String,
    pub fields: serde_json::Value,
    pub body: Option<String>,
    pub excerpt: Option<String>,
    pub metadata: serde_json::Value,
    pub status: String,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub published_by: Option<Uuid>,
    pub tags: Vec<String>,
    pub categories: Vec<String>,
    pub version: i32,
    pub latest_version: i32,
    pub live_version: Option<i32>,
    pub approved_version: Option<i32>,
    pub scheduled_version: Option<i32>,
    pub scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub version_note: Option<String>,
    pub created_by: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: Uuid,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Decodes a row read with [`CONTENT_COLUMNS`] (and anything after them).
pub fn content_row(row: &PgRow) -> ContentRow {
    ContentRow {
        id: row.get(0),
        brand_id: row.get(1),
        template_id: row.get(2),
        content_type: row.get(3),
        title: row.get(4),
        slug: row.get(5),
        fields: row.get(6),
        body: row.get(7),
        excerpt: row.get(8),
        metadata: row.get(9),
        status: row.get(10),
        published_at: row.get(11),
        published_by: row.get(12),
        tags: row.get(13),
        categories: row.get(14),
        version: row.get(15),
        latest_version: row.get(16),
        live_version: row.get(17),
        approved_version: row.get(18),
        scheduled_version: row.get(19),
        scheduled_for: row.get(20),
        expires_at: row.get(21),
        version_note: row.get(22),
        created_by: row.get(23),
        created_at: row.get(24),
        updated_by: row.get(25),
        updated_at: row.get(26),
        deleted_at: row.get(27),
    }
}
