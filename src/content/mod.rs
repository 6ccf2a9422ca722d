//! Content: the items brands create, review and publish (spec 2.3).
//!
//! Laid out as every domain module is: [`model`](self#model) (what an item is: [`Content`],
//! [`ContentStatus`], [`SeoMetadata`], [`SearchHit`]), input (what a caller hands in: [`ContentInput`],
//! [`NewContent`] and [`ContentPatch`] with their builders, [`ContentFilter`]), and the repository
//! ([`ContentRepo`]).
//!
//! A content row is the item's head: its current state, with `version` counting saves. It is shaped for
//! the version log that comes next (see the crate docs): "latest" will be a pointer, never `max(version)`.
//!
//! # Decisions
//! - **Optimistic concurrency.** Every write ([`ContentRepo::update`], [`ContentRepo::soft_delete`],
//!   [`ContentRepo::restore`]) takes the `version` the caller read. If the row was saved since,
//!   nothing is written and the error is [`Error::Stale`](crate::Error::Stale) with the version it is
//!   at; the database adds one to `version` on every write, whoever makes it.
//! - **Soft delete.** [`ContentRepo::soft_delete`] sets `deleted_at`; the slug is then free for a new
//!   item (erratum W8). [`ContentRepo::restore`] brings an item back, unless its slug was taken
//!   meanwhile ([`Error::Conflict`](crate::Error::Conflict) on `content_brand_slug_key`).
//!   [`ContentRepo::get`], slugs, lists and search see live items only;
//!   [`ContentRepo::get_including_deleted`] and [`ContentFilter::deleted`] find deleted ones.
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
//!   `or`, `-word`) and returns the best [`MAX_PAGE_LIMIT`](crate::page::MAX_PAGE_LIMIT) matches at
//!   most, ranked by `ts_rank` then id: a capped top list, not a paginated one (a ranking shifts as
//!   items are edited, so a cursor into it would not be stable). It keeps the GIN index under
//!   row-level security through `mixerai.content_search_ids()` (migration 0008 says how), and reads
//!   the rows from `content` under every policy.

mod input;
mod model;
mod repo;

pub use input::{
    ContentFilter, ContentInput, ContentPatch, ContentPatchBuilder, Fields, MAX_LABEL_CHARS,
    MAX_LABELS, NewContent, NewContentBuilder,
};
pub use model::{Content, ContentStatus, SearchHit, SeoMetadata};
pub use repo::{ContentRepo, MAX_QUERY_CHARS};
