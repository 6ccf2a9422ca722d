//! The event repository: every statement that appends to or reads `mixerai.events`.

use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::input::{ExpectedVersion, FeedFilter, MAX_TYPE_CHARS, NewEvent};
use super::model::{Appended, Event, FeedBatch, FeedCursor, event_columns};
use crate::repo::Ctx;
use crate::types::{EventId, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The most events one append takes.
pub const MAX_APPEND: usize = 1000;

/// The most events one read returns; a larger limit is clamped to it.
pub const MAX_READ: u32 = 1000;

/// The horizon: the oldest transaction still in progress, as a number, from the statement's own
/// snapshot (which also decides what the statement sees; see the module docs).
macro_rules! horizon {
    () => {
        "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint"
    };
}

/// Event repository over one scope.
///
/// In a tenant [`Scope`](crate::Scope): appends go into the scope's brand only and need an editor or
/// admin role ([`Error::Forbidden`] otherwise); reads see the brand's events, security events only
/// for its admins. In a [`SystemScope`](crate::SystemScope): reads see every brand's events (narrowed
/// by [`FeedFilter::brand_id`]); appends are refused, since an event belongs to a brand and is made
/// by a user acting in it.
#[derive(Debug)]
pub struct EventRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> EventRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Appends `events`, in order, to the stream of the aggregate `aggregate_id` of type
    /// `aggregate_type` in the scope's brand, if the stream is as `expected`; returns each event's
    /// position, stream version and feed cursor, in the order given. All or nothing.
    ///
    /// - The versions are the stream's next ones, shared with the audit trail's events of the same
    ///   aggregate: concurrent appends to one stream queue on its head and never leave a gap.
    /// - A retry of an append that committed (the same [`NewEvent`]s, so the same ids) is a no-op: the
    ///   originals come back, [`Appended::replayed`] set, whatever `expected` says now. An id used for
    ///   anything else is [`Error::Conflict`] on `events_pkey` (field `id`).
    /// - A stream not as expected is [`Error::Stale`] (expected and actual versions; entity `"event
    ///   stream"`) or, for [`ExpectedVersion::StreamExists`], [`Error::NotFound`].
    /// - Another brand's stream, or the stream of a row of no brand, is
    ///   [`Error::InvalidReference`] on `events_aggregate_id_fkey`; a stream made with another
    ///   aggregate type is [`Error::Invalid`] (field `aggregate_type`).
    /// - More than [`MAX_APPEND`] events, none, or a blank or over-long aggregate type is
    ///   [`Error::Invalid`] before any round trip.
    #[tracing::instrument(name = "mixerai.events.append", parent = self.ctx.span(), skip_all, fields(aggregate = %aggregate_id, events = events.len()), err(level = "debug"))]
    pub async fn append(
        &mut self,
        aggregate_type: &str,
        aggregate_id: Uuid,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Vec<Appended>> {
        let mut errors = ValidationErrors::new();
        errors.check("aggregate_type", non_blank(aggregate_type, MAX_TYPE_CHARS));
        if events.is_empty() || events.len() > MAX_APPEND {
            errors.push("events", "1 to 1000 events");
        }
        let expected_sql = match expected.sql() {
            Ok(v) => v,
            Err(e) => {
                for f in e.errors() {
                    errors.push(f.field.clone(), f.reason.clone());
                }
                None
            }
        };
        errors.into_result()?;
        self.ctx.tenant()?;
        let values: Vec<_> = events.iter().map(|e| &e.values).collect();
        let rows = sqlx::query(
            "SELECT event_id, event_position, event_stream_version, event_feed_xid, replayed
             FROM mixerai.append_events($1, $2, $3, $4)",
        )
        .bind(aggregate_id)
        .bind(aggregate_type)
        .bind(expected_sql)
        .bind(Json(values))
        .fetch_all(self.conn())
        .await
        .map_err(|e| append_error(e, expected_sql.unwrap_or(0)))?;
        let mut appended = rows
            .iter()
            .map(|row| {
                Ok(Appended {
                    id: row.try_get("event_id")?,
                    position: row.try_get("event_position")?,
                    stream_version: row.try_get("event_stream_version")?,
                    cursor: FeedCursor::new(
                        row.try_get("event_feed_xid")?,
                        row.try_get("event_position")?,
                    ),
                    replayed: row.try_get("replayed")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        // The function returns the batch's order already; the versions say it for certain.
        appended.sort_by_key(|a| a.stream_version);
        Ok(appended)
    }

    /// [`EventRepo::append`] of one event.
    #[tracing::instrument(name = "mixerai.events.append_one", parent = self.ctx.span(), skip_all, fields(aggregate = %aggregate_id), err(level = "debug"))]
    pub async fn append_one(
        &mut self,
        aggregate_type: &str,
        aggregate_id: Uuid,
        expected: ExpectedVersion,
        event: &NewEvent,
    ) -> Result<Appended> {
        let mut appended = self
            .append(
                aggregate_type,
                aggregate_id,
                expected,
                std::slice::from_ref(event),
            )
            .await?;
        Ok(appended.pop().expect("one event appended"))
    }

    /// The event with this id. [`Error::NotFound`] when absent or not visible (another brand's, or a
    /// security event for a reader below admin).
    #[tracing::instrument(name = "mixerai.events.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: EventId) -> Result<Event> {
        sqlx::query_as::<_, Event>(concat!(
            "SELECT ",
            event_columns!(),
            " FROM mixerai.events WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "event" })
    }

    /// The events of one stream from version `from_version` on, in version order, at most `limit`
    /// (clamped to `1..=`[`MAX_READ`]); continue from the last one's `stream_version + 1`. The
    /// events the scope may not see (another brand's; security events for a reader below admin) are
    /// left out, so versions may skip where they were.
    #[tracing::instrument(name = "mixerai.events.read_stream", parent = self.ctx.span(), skip_all, fields(aggregate = %aggregate_id), err(level = "debug"))]
    pub async fn read_stream(
        &mut self,
        aggregate_id: Uuid,
        from_version: i32,
        limit: u32,
    ) -> Result<Vec<Event>> {
        Ok(sqlx::query_as::<_, Event>(concat!(
            "SELECT ",
            event_columns!(),
            " FROM mixerai.events WHERE aggregate_id = $1 AND stream_version >= $2
              ORDER BY stream_version LIMIT $3"
        ))
        .bind(aggregate_id)
        .bind(from_version)
        .bind(i64::from(limit.clamp(1, MAX_READ)))
        .fetch_all(self.conn())
        .await?)
    }

    /// The next events of the feed after `after` that match `filter`, at most `limit` (clamped to
    /// `1..=`[`MAX_READ`]), in feed order, of transactions that have ended: a reader that continues
    /// from [`FeedBatch::next`] never skips an event and never reads one twice (see the module
    /// docs). Start from [`FeedCursor::START`] for the whole trail, or [`EventRepo::cursor_now`] for
    /// what comes next.
    ///
    /// In a tenant scope only the brand's events come, security events only for its admins; a user
    /// with no live role in the brand is [`Error::Forbidden`] (rather than an empty feed forever).
    #[tracing::instrument(name = "mixerai.events.read_feed", parent = self.ctx.span(), skip_all, fields(after = %after), err(level = "debug"))]
    pub async fn read_feed(
        &mut self,
        filter: &FeedFilter,
        after: FeedCursor,
        limit: u32,
    ) -> Result<FeedBatch> {
        let limit = limit.clamp(1, MAX_READ);
        let tenant = self.ctx.brand().is_some();
        // One statement, so that the horizon comes from the very snapshot that decides which events
        // are visible; the LEFT JOIN returns the horizon even when no event is ready.
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT h.horizon, h.held_back, h.allowed, e.* FROM (SELECT x.horizon, EXISTS (
                 SELECT 1 FROM mixerai.events p WHERE p.feed_xid >= x.horizon
                 AND (p.feed_xid, p.position) > (",
        );
        q.push_bind(after.feed_xid())
            .push(", ")
            .push_bind(after.position())
            .push(")");
        if let Some(brand) = filter.brand_id {
            q.push(" AND p.brand_id = ").push_bind(brand);
        }
        q.push(") AS held_back, ")
            // A tenant reader without a live role would see nothing, ever: say so instead.
            .push(if tenant {
                "(SELECT mixerai.app_can_read())"
            } else {
                "true"
            })
            .push(concat!(
                " AS allowed FROM (SELECT ",
                horizon!(),
                " AS horizon) x) h LEFT JOIN LATERAL (SELECT ",
                event_columns!(),
                " FROM mixerai.events WHERE feed_xid < h.horizon AND (feed_xid, position) > ("
            ))
            .push_bind(after.feed_xid())
            .push(", ")
            .push_bind(after.position())
            .push(")");
        // Only the conditions that are set reach the statement, so each shape gets a plan of its own.
        if let Some(brand) = filter.brand_id {
            q.push(" AND brand_id = ").push_bind(brand);
        }
        if !filter.aggregate_types.is_empty() {
            q.push(" AND aggregate_type = ANY(")
                .push_bind(filter.aggregate_types.clone())
                .push(")");
        }
        if !filter.event_types.is_empty() {
            q.push(" AND event_type = ANY(")
                .push_bind(filter.event_types.clone())
                .push(")");
        }
        q.push(" ORDER BY feed_xid, position LIMIT ")
            .push_bind(i64::from(limit))
            .push(") e ON true ORDER BY e.feed_xid, e.position");
        let rows = q.build().fetch_all(self.conn()).await?;
        let first = rows.first().expect("the horizon row");
        if !first.try_get::<bool, _>("allowed")? {
            return Err(Error::forbidden(
                "the acting user has no live role in this brand to read its events",
            ));
        }
        let horizon: i64 = first.try_get("horizon")?;
        let held_back: bool = first.try_get("held_back")?;
        let events = rows
            .iter()
            .filter(|row| matches!(row.try_get::<Option<EventId>, _>("id"), Ok(Some(_))))
            .map(Event::from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(batch(events, after, limit, horizon, held_back))
    }

    /// The cursor of a reader that wants only what comes from now on: after every event of the
    /// transactions that have ended. Events committed but still held back (see
    /// [`FeedBatch::held_back`]) come after it, so nothing written from now on is missed.
    #[tracing::instrument(name = "mixerai.events.cursor_now", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn cursor_now(&mut self) -> Result<FeedCursor> {
        let horizon: i64 = sqlx::query_scalar(concat!("SELECT ", horizon!()))
            .fetch_one(self.conn())
            .await?;
        Ok(FeedCursor::below(horizon))
    }
}

/// A batch of the feed out of the rows read after `after`: when it is not full, every event below
/// the horizon that matches was read, so the next read may start after all of them.
fn batch(
    events: Vec<Event>,
    after: FeedCursor,
    limit: u32,
    horizon: i64,
    held_back: bool,
) -> FeedBatch {
    let has_more = events.len() >= limit as usize;
    let next = match events.last() {
        Some(last) if has_more => last.cursor(),
        // A horizon never goes back, but a cursor handed in by a caller may be ahead of it.
        _ => after.max(FeedCursor::below(horizon)),
    };
    FeedBatch {
        events,
        next,
        has_more,
        held_back,
    }
}

/// The error of a refused append: the stream's own refusals in the crate's words, else the usual
/// mapping.
fn append_error(err: sqlx::Error, expected: i32) -> Error {
    if let sqlx::Error::Database(db) = &err {
        match db.constraint() {
            Some("events_stale_stream") => {
                let actual = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|e| e.detail())
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(-1);
                return Error::Stale {
                    entity: "event stream",
                    expected,
                    actual,
                };
            }
            Some("events_stream_exists") => {
                return Error::NotFound {
                    entity: "event stream",
                };
            }
            _ => {}
        }
    }
    Error::from(err)
}
