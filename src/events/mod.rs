//! Events: the audit trail and event store (spec 3.6, 8.3), and the realtime change feed over it
//! (spec 1.1, "DB changes -> client subscriptions").
//!
//! Laid out as every domain module is: model ([`Event`], [`EventCategory`], [`FeedCursor`],
//! [`Appended`], [`FeedBatch`]), input ([`EventInput`], [`NewEvent`] and its builder,
//! [`ExpectedVersion`], [`FeedFilter`]) and the repository ([`EventRepo`], on
//! [`Scope::events`](crate::Scope::events) and [`SystemScope::events`](crate::SystemScope::events)),
//! with two parts of its own: the change feed ([`ChangeFeed`], [`Subscription`]) and projections
//! ([`Projection`]).
//!
//! One table, `mixerai.events`, holds both what the audit trigger records of every audited row
//! (`INSERT`, `UPDATE`, `DELETE` events in the row's stream) and what a host appends explicitly
//! (`ContentApproved` in an item's stream, `OrderPlaced` in a stream of its own). Every aggregate
//! has one stream, numbered 1, 2, 3, ... without a gap, and every event has one place in the global
//! order that the feed follows.
//!
//! # From the spec's columns
//! `event_version` is `stream_version` (the event's place in its aggregate's stream), and
//! `schema_version` is new: the version of the event type's payload shape, which the appender sets
//! ([`NewEventBuilder::schema_version`], default 1) so that readers can upcast old payloads; the two
//! are independent. `position`, `feed_xid` (the global order, below), `transaction_id` (the writing
//! transaction) and `category` (the retention class of spec 5.2) are new.
//!
//! # Appends
//! [`EventRepo::append`] writes one or many events to one stream, all or nothing, in a tenant scope,
//! into the scope's brand only, through the definer function `mixerai.append_events` (the application
//! role cannot write the table itself), which sets everything that makes an event trustworthy: the
//! versions, the position, the transaction, the time, the user and the brand.
//! - **Expected versions** ([`ExpectedVersion`], EventStoreDB's four): `Any`, `NoStream`,
//!   `StreamExists`, `Exact(n)`. A stale one is [`Error::Stale`](crate::Error::Stale) with the
//!   expected and the actual version; a stream that does not exist for `StreamExists` is
//!   [`Error::NotFound`](crate::Error::NotFound).
//! - **One versioning mechanism.** The audit trigger and explicit appends take versions from the same
//!   stream head (`mixerai.event_streams`, function `mixerai.advance_stream`), which an append
//!   row-locks until commit: concurrent writers of one stream queue and get consecutive versions,
//!   never `max(version) + 1`, and writers of different streams never wait on each other. A row
//!   audited as `INSERT` (version 1) and then given an explicit `Reviewed` event gets version 2.
//! - **Idempotent by event id.** A [`NewEvent`] gets its id when it is built; appending the same
//!   events again (a retry after [`Error::CommitUnknown`](crate::Error::CommitUnknown), a duplicate
//!   request) writes nothing and returns the originals ([`Appended::replayed`]), also when the retry
//!   races the original. A taken id under anything else (another payload, another stream) is
//!   [`Error::Conflict`](crate::Error::Conflict) on `events_pkey`.
//! - Security events come from the audit trail only; the other categories may be appended.
//!
//! # The global order
//! The feed is ordered by `(feed_xid, position)`, and a reader reads only events of transactions
//! that have ended: below the *horizon*, the oldest transaction still in progress,
//! `pg_snapshot_xmin(pg_current_snapshot())`, taken in the same statement (so from the same snapshot)
//! as the rows. `position` alone cannot be followed: it is taken at insert, transactions commit in
//! another order, and a reader past position 11 would never see a 10 that commits later (the gap
//! problem). `feed_xid` is the writing transaction's id or, when larger, the previous event of the same
//! stream's (a transaction can hold an older id than one that appended to the stream and committed
//! before it).
//!
//! What this guarantees, and why (migration 0002 says it in full):
//! - **Nothing is skipped, nothing repeats.** Every transaction below the horizon has ended, so all
//!   its events are visible now; any event that becomes visible later belongs to a transaction at or
//!   above the horizon, so its `feed_xid`, never below its own transaction's id, sorts after every
//!   event read. A reader that continues after its last cursor therefore misses nothing and sees
//!   nothing twice.
//! - **Every stream is in version order**, and all events of a transaction that began after another
//!   committed come after that one's. Transactions that overlapped in time may appear in an order
//!   other than their commits': the feed is a total order consistent with causality through streams
//!   and through time, not the commit log.
//!
//! Its limits and its cost:
//! - **Latency.** An event is delivered once every transaction with an id older than its
//!   `feed_xid` has ended, so a transaction that stays open (with an id: it has written something)
//!   delays every event after it, until it ends.
//!   Ids are per cluster, so a long transaction in *another database* of the same server delays it
//!   too, as do prepared (two-phase) transactions until they are resolved. Short transactions cost
//!   a few milliseconds (measured in `benches/events.rs`: p50 and p99 of commit-to-delivery at 1,000
//!   appends per second); hosts bound the worst case with `idle_in_transaction_session_timeout` and
//!   `statement_timeout`. Nothing is ever lost: a delayed event is delivered, in its place.
//! - **Order is not commit order** for concurrent transactions (above).
//! - Only transactions with an id count: a read-only transaction never holds the feed back.
//!
//! # The change feed
//! [`ChangeFeed`] keeps one connection per process that LISTENs on [`CHANNEL`]; every transaction that
//! writes events notifies it once (an empty payload, which PostgreSQL folds into one notification per
//! transaction however many events it writes). The notification only wakes subscriptions: each
//! [`Subscription`] (a [`Stream`](futures_core::Stream)) always reads the table after its own cursor,
//! in a scope of its own, so a notification lost while the listener was away loses nothing. The
//! listener reconnects with back-off and wakes everyone when it is back; subscriptions also read
//! every [`FeedOptions::poll_interval`], and soon again while events are held back behind an open
//! transaction (which may end without notifying). A tenant subscription ([`ChangeFeed::subscribe`])
//! reads in a tenant scope: only its brand's events, security events only for admins, ending with
//! [`Error::Forbidden`](crate::Error::Forbidden) if the user loses their role.
//!
//! NOTIFY has a cost at commit: PostgreSQL serialises the commits of notifying transactions on one
//! lock (so that notifications queue in commit order), held until the commit is durable. With
//! `synchronous_commit` on, that caps the rate of event-writing commits near one per WAL flush. A host
//! for which that matters turns notifications off (`ALTER DATABASE … SET mixerai.feed_notify =
//! 'off'`) and lets subscriptions poll ([`FeedOptions::poll_interval`] is then the delivery bound).
//!
//! Delivery to a host is at least once across restarts (persist [`Event::cursor`] after handling; an
//! event handled but not yet recorded comes again): handlers must be idempotent ([`Subscription`]
//! says how). [`Projection`] makes database effects exactly once by storing its checkpoint in the
//! same transaction as the handler's writes.

mod feed;
mod input;
mod model;
mod projection;
mod repo;

pub use feed::{CHANNEL, ChangeFeed, FeedOptions, Subscription};
pub use input::{
    EventInput, ExpectedVersion, FeedFilter, MAX_TYPE_CHARS, NewEvent, NewEventBuilder,
};
pub use model::{Appended, Event, EventCategory, FeedBatch, FeedCursor};
pub use projection::Projection;
pub use repo::{EventRepo, MAX_APPEND, MAX_READ};
