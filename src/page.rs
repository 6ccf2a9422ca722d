//! Keyset pagination: every list in the crate returns a [`Page`] and continues from a [`Cursor`].
//!
//! Lists are ordered newest first by `(created_at, id)`, a key that is unique and never changes, so a
//! page boundary is a position in that order, not a row count. The next page is found by an index
//! seek (`WHERE (created_at, id) < ($cursor)`), whatever the depth; there is no `OFFSET`, which would
//! read and throw away every earlier row, and rows inserted while a caller pages are neither skipped
//! nor repeated.
//!
//! A page holds at most [`MAX_PAGE_LIMIT`] rows; a larger limit is clamped to it, so no caller can
//! ask one statement to return a whole table.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::types::InvalidValue;

/// The most rows one page returns.
pub const MAX_PAGE_LIMIT: u32 = 100;

/// The page size when a caller does not choose one.
pub const DEFAULT_PAGE_LIMIT: u32 = 25;

/// Where a page continues: the `(created_at, id)` of the last row of the page before.
///
/// Opaque to callers: it travels as a short URL-safe string (`Display` / `FromStr` / serde), so it
/// can be handed to a browser and back. A string that was not made by this crate is refused with
/// [`InvalidValue`] (field `cursor`), never misread as a position.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    /// The cursor just after the row with this key. The time is kept to the microsecond, as
    /// PostgreSQL keeps it, so a cursor equals its own text form read back.
    pub fn new(created_at: DateTime<Utc>, id: impl Into<Uuid>) -> Self {
        let micros = created_at.timestamp_micros();
        Self {
            created_at: DateTime::from_timestamp_micros(micros).unwrap_or(created_at),
            id: id.into(),
        }
    }

    /// The creation time of the last row seen.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The id of the last row seen.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Parses the text form made by `Display`.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue::new("cursor", "not a cursor made by this crate");
        let bytes = URL_SAFE_NO_PAD.decode(input).map_err(|_| invalid())?;
        let bytes: [u8; 24] = bytes.try_into().map_err(|_| invalid())?;
        let micros = i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let created_at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?;
        let id = Uuid::from_bytes(bytes[8..].try_into().expect("16 bytes"));
        Ok(Self { created_at, id })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PostgreSQL keeps microseconds; so does the cursor, so a round trip is exact.
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({}, {})", self.created_at.to_rfc3339(), self.id)
    }
}

impl FromStr for Cursor {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which page to read: a size and, after the first page, the cursor to continue from.
///
/// Deserialises from a request's query or body as `{"limit": 25, "after": "<cursor>"}`, both
/// optional; the limit is clamped as [`PageRequest::first`] clamps it, and a cursor the crate did not
/// make is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawPageRequest")]
pub struct PageRequest {
    limit: u32,
    after: Option<Cursor>,
}

#[derive(Deserialize)]
struct RawPageRequest {
    #[serde(default = "default_limit")]
    limit: u32,
    #[serde(default)]
    after: Option<Cursor>,
}

fn default_limit() -> u32 {
    DEFAULT_PAGE_LIMIT
}

impl From<RawPageRequest> for PageRequest {
    fn from(raw: RawPageRequest) -> Self {
        Self {
            limit: raw.limit.clamp(1, MAX_PAGE_LIMIT),
            after: raw.after,
        }
    }
}

/// Which rows a list returns with respect to soft deletion. Every list filter has one; lists leave
/// soft-deleted rows out unless asked.
///
/// Only [`Deleted::Exclude`] is served by the lists' partial indexes (`WHERE deleted_at IS NULL`);
/// the other two are for the rarer work of finding something to restore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    /// Live rows only (the default).
    #[default]
    Exclude,
    /// Live and soft-deleted rows.
    Include,
    /// Soft-deleted rows only.
    Only,
}

impl Deleted {
    /// The condition to append to a list's `WHERE` clause, for a table whose soft-delete column is
    /// `deleted_at`.
    pub(crate) fn condition(self) -> &'static str {
        match self {
            Deleted::Exclude => " AND deleted_at IS NULL",
            Deleted::Include => "",
            Deleted::Only => " AND deleted_at IS NOT NULL",
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(DEFAULT_PAGE_LIMIT)
    }
}

impl PageRequest {
    /// The first page of at most `limit` rows (clamped to `1..=`[`MAX_PAGE_LIMIT`]).
    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, MAX_PAGE_LIMIT),
            after: None,
        }
    }

    /// The page after `cursor`, typically [`Page::next`] of the page before.
    pub fn after(self, cursor: Cursor) -> Self {
        Self {
            after: Some(cursor),
            ..self
        }
    }

    /// Rows per page, already clamped.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Where this page starts, if not at the beginning.
    pub fn cursor(&self) -> Option<Cursor> {
        self.after
    }

    /// How many rows a query should fetch: one more than the page, to learn whether a next page
    /// exists without a second query.
    pub(crate) fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The cursor's key as two binds, `NULL` for the first page. Queries use
    /// `($n::timestamptz IS NULL OR (created_at, id) < ($n, $m))`, a row comparison that the
    /// `(…, created_at DESC, id DESC)` indexes serve as one seek.
    pub(crate) fn after_key(&self) -> (Option<DateTime<Utc>>, Option<Uuid>) {
        match self.after {
            Some(c) => (Some(c.created_at), Some(c.id)),
            None => (None, None),
        }
    }
}

/// One page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// At most the requested number of rows.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Cuts a page out of rows fetched with [`PageRequest::fetch_limit`]: the extra row, if any,
    /// only proves that a next page exists.
    pub(crate) fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Self {
        let limit = request.limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| {
                let (created_at, id) = key(last);
                Cursor::new(created_at, id)
            })
        } else {
            None
        };
        Self { items: rows, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limits_are_clamped_to_the_cap_and_to_one() {
        assert_eq!(PageRequest::first(10_000).limit(), MAX_PAGE_LIMIT);
        assert_eq!(PageRequest::first(0).limit(), 1);
        assert_eq!(PageRequest::default().limit(), DEFAULT_PAGE_LIMIT);
    }

    #[test]
    fn a_page_with_an_extra_row_has_a_cursor_at_its_last_row() {
        let t = Utc::now();
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let rows: Vec<(DateTime<Utc>, Uuid)> = ids.iter().map(|id| (t, *id)).collect();
        let page = Page::from_rows(rows.clone(), &PageRequest::first(3), |r| *r);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.next, Some(Cursor::new(t, ids[2])));
        let last = Page::from_rows(rows[..3].to_vec(), &PageRequest::first(3), |r| *r);
        assert_eq!(last.next, None);
    }

    #[test]
    fn page_requests_deserialise_with_defaults_and_clamping() {
        let r: PageRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, PageRequest::default());
        let r: PageRequest = serde_json::from_str(r#"{"limit": 5000}"#).unwrap();
        assert_eq!(r.limit(), MAX_PAGE_LIMIT);
        let c = Cursor::new(Utc::now(), Uuid::new_v4());
        let r: PageRequest =
            serde_json::from_value(serde_json::json!({"limit": 10, "after": c.to_string()}))
                .unwrap();
        assert_eq!(r, PageRequest::first(10).after(c));
        assert!(serde_json::from_str::<PageRequest>(r#"{"after": "nope"}"#).is_err());
    }

    #[test]
    fn foreign_strings_are_not_cursors() {
        for bad in ["", "abc", "not a cursor!", &"A".repeat(33)] {
            assert_eq!(Cursor::parse(bad).unwrap_err().kind, "cursor", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip_through_text(micros in -62_000_000_000_000_000i64..250_000_000_000_000_000, id: u128) {
            let created_at = DateTime::<Utc>::from_timestamp_micros(micros).unwrap();
            let cursor = Cursor::new(created_at, Uuid::from_u128(id));
            prop_assert_eq!(Cursor::parse(&cursor.to_string()).unwrap(), cursor);
            let json = serde_json::to_string(&cursor).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
        }

        #[test]
        fn any_string_parses_or_is_refused_without_panicking(s in ".*") {
            let _ = Cursor::parse(&s);
        }
    }
}
