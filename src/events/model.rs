//! What an event is: the row as read, its retention class, the feed cursor, what an append returns and
//! one batch of the feed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json;
use uuid::Uuid;

use crate::text_enum::text_enum;
use crate::types::{BrandId, EventId, InvalidValue, UserId};

/// The retention class of an event (`events.category`, spec 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventCategory {
    /// Accounts and access (users, roles): kept 7 years, readable by a brand's admins only, written by
    /// the audit trail alone (never appended).
    Security,
    /// What happened to the brand's data: kept 7 years. The default.
    Audit,
    /// Usage signals: kept 2 years.
    Analytics,
    /// Diagnostics: kept 30 days.
    Debug,
}

text_enum!(EventCategory {
    Security => "security",
    Audit => "audit",
    Analytics => "analytics",
    Debug => "debug",
});

/// Where a reader of the feed is: just after the event with this `(feed_xid, position)`.
///
/// The feed is ordered by this pair (see the [module docs](super#the-global-order)), and a reader that
/// continues after the cursor of the last event it handled never skips an event and never sees one
/// twice. Hosts persist it to resume after a restart, as text (`Display` / `FromStr` / serde, the form
/// `"<feed_xid>-<position>"`) or as its two numbers ([`FeedCursor::new`]). Ordered as the feed is.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedCursor {
    feed_xid: i64,
    position: i64,
}

impl FeedCursor {
    /// Before every event: a reader starting here reads the whole trail.
    pub const START: FeedCursor = FeedCursor {
        feed_xid: 0,
        position: 0,
    };

    /// The cursor with these two numbers, as [`FeedCursor::feed_xid`] and [`FeedCursor::position`]
    /// gave them (e.g. read back from a host's own table).
    pub const fn new(feed_xid: i64, position: i64) -> Self {
        Self { feed_xid, position }
    }

    /// The feed transaction of the last event seen (`events.feed_xid`).
    pub const fn feed_xid(&self) -> i64 {
        self.feed_xid
    }

    /// The global position of the last event seen (`events.position`), or `i64::MAX` when the cursor
    /// stands after everything below a feed transaction (a reader that found nothing more).
    pub const fn position(&self) -> i64 {
        self.position
    }

    /// Parses the text form made by `Display`.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let invalid = || InvalidValue::new("cursor", "not a feed cursor made by this crate");
        let (xid, position) = input.split_once('-').ok_or_else(invalid)?;
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse::<i64>().map_err(|_| invalid())
        };
        Ok(Self::new(number(xid)?, number(position)?))
    }

    /// The cursor after every event of a transaction below `horizon` (the oldest still in progress).
    pub(crate) fn below(horizon: i64) -> Self {
        Self::new(horizon.saturating_sub(1), i64::MAX)
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.feed_xid, self.position)
    }
}

impl fmt::Debug for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FeedCursor({self})")
    }
}

impl FromStr for FeedCursor {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for FeedCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FeedCursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An event of the trail: a row the audit trigger wrote, or one appended explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Event {
    /// Primary key; for an explicit append, the id its [`NewEvent`](super::NewEvent) carried.
    pub id: EventId,
    /// The global position: taken when the event was written, unique, rising within a transaction.
    pub position: i64,
    /// The feed transaction: with `position`, the event's place in the feed ([`Event::cursor`]).
    pub feed_xid: i64,
    /// The id of the transaction that wrote it (`pg_current_xact_id()`); events of one transaction
    /// share it.
    pub transaction_id: i64,
    /// The aggregate whose stream it belongs to (for an audit event, the row's id).
    pub aggregate_id: Uuid,
    /// The aggregate's type (for an audit event, the table's name).
    pub aggregate_type: String,
    /// What happened (for an audit event `INSERT`, `UPDATE` or `DELETE`).
    pub event_type: String,
    /// Its place in the stream: 1 for the first event, then 2, 3, ... without a gap.
    pub stream_version: i32,
    /// The version of the event type's payload shape, as the appender declared it (audit events: 1).
    pub schema_version: i32,
    /// Retention class.
    pub category: EventCategory,
    /// What the event says (an audit event: `old`, `new`, `changed_fields`, `omitted`).
    pub payload: Value,
    /// Anything else the appender recorded.
    pub metadata: Json<Map<String, Value>>,
    /// The acting user, when there was one.
    pub user_id: Option<UserId>,
    /// The brand it belongs to (`None` for rows of no brand, such as users).
    pub brand_id: Option<BrandId>,
    /// The request or process the event is part of.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused it.
    pub causation_id: Option<Uuid>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl Event {
    /// Where a reader continues after this event.
    pub fn cursor(&self) -> FeedCursor {
        FeedCursor::new(self.feed_xid, self.position)
    }
}

/// The columns of [`Event`], for every statement that returns events (`concat!` keeps each one a
/// `&'static str`). sqlx has no `xid8` codec; the number fits a BIGINT.
macro_rules! event_columns {
    () => {
        "id, position, feed_xid, transaction_id::text::bigint AS transaction_id, aggregate_id, \
         aggregate_type, event_type, stream_version, schema_version, category, payload, metadata, \
         user_id, brand_id, correlation_id, causation_id, created_at"
    };
}
pub(crate) use event_columns;

/// One appended event, as [`EventRepo::append`](super::EventRepo::append) returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// The event's id.
    pub id: EventId,
    /// Its global position.
    pub position: i64,
    /// Its version in the stream.
    pub stream_version: i32,
    /// Where a reader continues after it.
    pub cursor: FeedCursor,
    /// `true` when the append was a retry of one that had committed: nothing was written, and these
    /// are the original event's position and versions.
    pub replayed: bool,
}

/// One read of the feed ([`EventRepo::read_feed`](super::EventRepo::read_feed)).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedBatch {
    /// The events after the cursor, in feed order, of transactions that have ended.
    pub events: Vec<Event>,
    /// Where the next read continues: after the last event when the batch is full, else after
    /// everything below the horizon (the oldest transaction still in progress), so a filtered reader
    /// does not look at the events it skipped again.
    pub next: FeedCursor,
    /// Whether the batch is full: more events are ready, read again at once.
    pub has_more: bool,
    /// Whether events after the cursor have committed but wait behind a transaction still in progress
    /// (their place in the feed is not settled until it ends): read again soon, since a transaction
    /// that wrote no event sends no wake-up when it ends.
    pub held_back: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursors_order_by_feed_transaction_then_position() {
        let a = FeedCursor::new(10, 99);
        let b = FeedCursor::new(11, 1);
        assert!(FeedCursor::START < a && a < b);
        assert!(FeedCursor::below(11) > a && FeedCursor::below(11) < b);
        assert_eq!(FeedCursor::default(), FeedCursor::START);
    }

    #[test]
    fn foreign_strings_are_not_cursors() {
        for bad in [
            "",
            "1",
            "-1",
            "1-",
            "a-b",
            "1-2-3",
            "+1-2",
            " 1-2",
            "99999999999999999999-1",
        ] {
            assert_eq!(FeedCursor::parse(bad).unwrap_err().kind, "cursor", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip_through_text_and_json(xid in 0..i64::MAX, position in 0..i64::MAX) {
            let cursor = FeedCursor::new(xid, position);
            prop_assert_eq!(cursor.to_string().parse::<FeedCursor>().unwrap(), cursor);
            let json = serde_json::to_string(&cursor).unwrap();
            prop_assert_eq!(serde_json::from_str::<FeedCursor>(&json).unwrap(), cursor);
        }

        #[test]
        fn any_string_parses_or_is_refused_without_panicking(s in ".*") {
            let _ = FeedCursor::parse(&s);
        }
    }
}
