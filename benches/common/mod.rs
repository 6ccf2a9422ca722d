//! What the benches share: the columns the crate reads a `Content` with, so every hand-written
//! baseline moves the same bytes as the repository call beside it.

/// The columns of a `Content`, in the order `content_columns!` (src/content/model.rs) gives them.
pub const CONTENT_COLUMNS: &str = "id, brand_id, template_id, type, title, slug, fields, body, excerpt, \
    metadata, status, published_at, published_by, tags, categories, version, latest_version, \
    live_version, approved_version, scheduled_version, scheduled_for, expires_at, version_note, \
    created_by, created_at, updated_by, updated_at, deleted_at";
