//! The change feed for realtime: one listener per process, woken by LISTEN/NOTIFY, and subscriptions
//! that always read the table by cursor.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

use super::input::FeedFilter;
use super::model::{Event, FeedBatch, FeedCursor};
use super::repo::MAX_READ;
use crate::types::{BrandId, UserId};
use crate::{Database, Error, Result};

/// The channel every event-writing transaction notifies (once per transaction; an empty payload).
pub const CHANNEL: &str = "mixerai_events";

/// While events are held back behind a transaction still in progress, a subscription reads again
/// after this pause, doubling it up to [`HELD_BACK_MAX_PAUSE`] (or the poll interval, if shorter):
/// that transaction may end without a notification (it wrote no event, or rolled back).
const HELD_BACK_FIRST_PAUSE: Duration = Duration::from_millis(2);

/// The longest pause between reads while events are held back: the bound on their delivery after
/// the transaction holding them back ends.
const HELD_BACK_MAX_PAUSE: Duration = Duration::from_secs(1);

/// How a [`ChangeFeed`] listens and how its subscriptions read, wait and retry.
#[derive(Clone)]
pub struct FeedOptions {
    batch_size: u32,
    poll_interval: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    listen_options: Option<PgConnectOptions>,
}

// By hand: the listener's connect options hold a password, which sqlx's derived Debug prints.
impl std::fmt::Debug for FeedOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedOptions")
            .field("batch_size", &self.batch_size)
            .field("poll_interval", &self.poll_interval)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("listens_with_own_options", &self.listen_options.is_some())
            .finish()
    }
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_secs(5),
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            listen_options: None,
        }
    }
}

impl FeedOptions {
    /// The defaults: batches of 100, a poll every 5 s, back-off from 50 ms to 5 s, and the listener
    /// connecting as the database's own pool does.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most events one read of a subscription fetches (clamped to `1..=`[`MAX_READ`]).
    pub fn batch_size(mut self, events: u32) -> Self {
        self.batch_size = events.clamp(1, MAX_READ);
        self
    }

    /// How long an idle subscription waits for a wake-up before it reads anyway: the bound on
    /// delivery when notifications are off (`mixerai.feed_notify = 'off'`) or the listener is
    /// reconnecting. Default 5 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The pause after the first failed attempt to connect or read, doubled after each further
    /// failure up to `max`. Defaults 50 ms and 5 s.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min.max(Duration::from_millis(1));
        self.max_backoff = max.max(self.min_backoff);
        self
    }

    /// The connection the listener opens, when it cannot be the database pool's own: behind
    /// PgBouncer in transaction mode, LISTEN needs a direct connection to PostgreSQL.
    pub fn listen_with(mut self, options: PgConnectOptions) -> Self {
        self.listen_options = Some(options);
        self
    }

    fn backoff_after(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// The change feed of one [`Database`]: one connection that LISTENs on [`CHANNEL`], shared by every
/// [`Subscription`] made from it. Cheap to clone.
///
/// A notification is only a wake-up: it carries nothing, and every subscription that it wakes reads
/// the table after its own cursor, in its own scope. So a notification lost while the listener was
/// away (killed, restarting, the network) loses nothing: the listener reconnects by itself, with
/// back-off, and wakes every subscription when it is back, and subscriptions also read every
/// [`FeedOptions::poll_interval`]. Many notifications that arrive while a subscription is reading
/// wake it once. Anyone may NOTIFY the channel (PostgreSQL has no privilege for it); a spurious
/// wake-up costs each subscription one indexed read.
///
/// The listener runs on the tokio runtime that [`ChangeFeed::start`] is called on, until the feed and
/// every subscription made from it are dropped.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    db: Database,
    options: Arc<FeedOptions>,
    wake: watch::Receiver<u64>,
    connects: Arc<AtomicU64>,
}

impl ChangeFeed {
    /// Starts the listener of `db`'s feed (it connects in the background; subscriptions read
    /// meanwhile, by polling). Must be called inside a tokio runtime.
    pub fn start(db: &Database, options: FeedOptions) -> ChangeFeed {
        let (tx, wake) = watch::channel(0u64);
        let connects = Arc::new(AtomicU64::new(0));
        let listen = options
            .listen_options
            .clone()
            .unwrap_or_else(|| db.connect_options());
        let options = Arc::new(options);
        tokio::spawn(listen_loop(
            tx,
            listen,
            Arc::clone(&options),
            Arc::clone(&connects),
        ));
        ChangeFeed {
            db: db.clone(),
            options,
            wake,
            connects,
        }
    }

    /// A subscription to the feed as `user` acting in `brand`: only the brand's events, security
    /// events only while the user is an admin, every read in a tenant scope under row-level security.
    /// Starts after `after` ([`FeedCursor::START`] for the whole trail, a persisted cursor to resume,
    /// [`EventRepo::cursor_now`](super::EventRepo::cursor_now) for what comes next). A user who loses
    /// their role in the brand ends it with [`Error::Forbidden`].
    pub fn subscribe(
        &self,
        user: UserId,
        brand: BrandId,
        after: FeedCursor,
        filter: FeedFilter,
    ) -> Subscription {
        self.subscription(Access::Tenant(user, brand), after, filter)
    }

    /// A subscription to every brand's events (narrowed by [`FeedFilter::brand_id`]), each read in
    /// a system scope: for the host's own jobs and projections, never for a tenant's client.
    pub fn subscribe_all(&self, after: FeedCursor, filter: FeedFilter) -> Subscription {
        self.subscription(Access::System, after, filter)
    }

    /// How many times the listener has connected so far (1 once it is up; one more after each
    /// reconnection).
    pub fn listener_connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// The database the feed reads.
    pub(super) fn database(&self) -> &Database {
        &self.db
    }

    /// The pause before retry number `failures` (see [`FeedOptions::backoff`]).
    pub(super) fn backoff_after(&self, failures: u32) -> Duration {
        self.options.backoff_after(failures)
    }

    fn subscription(&self, access: Access, after: FeedCursor, filter: FeedFilter) -> Subscription {
        Subscription {
            buffer: VecDeque::new(),
            reader: Some(Reader {
                db: self.db.clone(),
                options: Arc::clone(&self.options),
                access,
                filter,
                cursor: after,
                wake: self.wake.clone(),
                next: Next::Now,
            }),
            fetching: None,
            position: after,
            ended: false,
        }
    }
}

/// Keeps one LISTEN connection open until every receiver of `tx` is gone, bumping `tx` on every
/// notification and on every (re)connection, since notifications sent while it was away are lost.
async fn listen_loop(
    tx: watch::Sender<u64>,
    connect: PgConnectOptions,
    options: Arc<FeedOptions>,
    connects: Arc<AtomicU64>,
) {
    let wake = |tx: &watch::Sender<u64>| tx.send_modify(|n| *n = n.wrapping_add(1));
    let mut failures = 0u32;
    loop {
        let attempt = async {
            // A pool of one of its own, so the listener never holds (or leaves LISTENing) a
            // connection of the database's pool.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect.clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.eager_reconnect(false);
            listener.ignore_pool_close_event(true);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>((pool, listener))
        };
        let connected = tokio::select! {
            _ = tx.closed() => return,
            connected = attempt => connected,
        };
        match connected {
            Ok((pool, mut listener)) => {
                failures = 0;
                connects.fetch_add(1, Ordering::Relaxed);
                wake(&tx);
                let lost = loop {
                    let received = tokio::select! {
                        _ = tx.closed() => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(_)) => wake(&tx),
                        Ok(None) => break None,
                        Err(e) => break Some(e),
                    }
                };
                tracing::debug!(error = ?lost, "mixerai.feed: listener connection lost; reconnecting");
                drop(listener);
                pool.close().await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "mixerai.feed: listener cannot connect; retrying");
            }
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(options.backoff_after(failures)) => {}
        }
    }
}

/// Who a subscription reads as.
#[derive(Debug, Clone, Copy)]
enum Access {
    Tenant(UserId, BrandId),
    System,
}

/// When a subscription reads next.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// At once: the first read, a full batch, or a read that failed.
    Now,
    /// After a wake-up, or after this long: events wait behind a transaction still in progress,
    /// which may end without a notification.
    Soon(Duration),
    /// After a wake-up, or the poll interval.
    Idle,
}

/// Everything a subscription's reads need, owned, so a read can run as a `'static` future.
struct Reader {
    db: Database,
    options: Arc<FeedOptions>,
    access: Access,
    filter: FeedFilter,
    cursor: FeedCursor,
    wake: watch::Receiver<u64>,
    next: Next,
}

/// What one fetch returns: the reader back, and the events (or the error that ends the stream).
type Fetched = (Reader, Result<Vec<Event>>);

impl Reader {
    /// Reads until there is at least one event, waiting between reads as [`Next`] says, and retrying
    /// with back-off every failure that is worth retrying (the connection or the database gone, a
    /// lost race). Any other failure is returned: it ends the subscription.
    async fn fetch(mut self) -> Fetched {
        let mut failures = 0u32;
        loop {
            match self.next {
                Next::Now => {}
                Next::Soon(pause) => self.wait(pause).await,
                Next::Idle => self.wait(self.options.poll_interval).await,
            }
            // Seen before reading: a wake-up that arrives during the read makes the next wait end at
            // once, so none is lost.
            self.wake.mark_unchanged();
            match self.read().await {
                Ok(batch) => {
                    failures = 0;
                    self.cursor = batch.next;
                    self.next = if batch.has_more {
                        Next::Now
                    } else if batch.held_back {
                        Next::Soon(match self.next {
                            Next::Soon(pause) => (pause * 2)
                                .min(HELD_BACK_MAX_PAUSE)
                                .min(self.options.poll_interval),
                            _ => HELD_BACK_FIRST_PAUSE,
                        })
                    } else {
                        Next::Idle
                    };
                    if !batch.events.is_empty() {
                        return (self, Ok(batch.events));
                    }
                }
                Err(e) if e.is_retryable() || matches!(e, Error::CommitUnknown { .. }) => {
                    failures = failures.saturating_add(1);
                    tracing::debug!(error = %e, failures, "mixerai.feed: read failed; retrying");
                    tokio::time::sleep(self.options.backoff_after(failures)).await;
                    self.next = Next::Now;
                }
                Err(e) => return (self, Err(e)),
            }
        }
    }

    /// Until a wake-up or `pause`, whichever comes first.
    async fn wait(&mut self, pause: Duration) {
        tokio::select! {
            changed = self.wake.changed() => {
                // The listener is gone (it never is while a receiver lives, but should it panic):
                // polling remains.
                if changed.is_err() {
                    tokio::time::sleep(pause).await;
                }
            }
            _ = tokio::time::sleep(pause) => {}
        }
    }

    /// One read of the feed after the cursor, in a scope of its own.
    async fn read(&self) -> Result<FeedBatch> {
        let limit = self.options.batch_size;
        match self.access {
            Access::Tenant(user, brand) => {
                let mut scope = self.db.scope(user, brand).await?;
                let batch = scope
                    .events()
                    .read_feed(&self.filter, self.cursor, limit)
                    .await?;
                scope.commit().await?;
                Ok(batch)
            }
            Access::System => {
                let mut scope = self.db.system_scope().await?;
                let batch = scope
                    .events()
                    .read_feed(&self.filter, self.cursor, limit)
                    .await?;
                scope.commit().await?;
                Ok(batch)
            }
        }
    }
}

/// A subscription to the feed: a [`Stream`](futures_core::Stream) of events in feed order that
/// catches up from its cursor, then follows new events as they commit. Made by
/// [`ChangeFeed::subscribe`] (a tenant) or [`ChangeFeed::subscribe_all`] (the host).
///
/// Nothing is read until it is polled, and it reads one batch at a time, so a slow consumer holds
/// nothing up but itself. It never ends by itself: failures of the connection or the database are
/// retried with back-off and the reads resume from the cursor, so each event is yielded once, in
/// order, whatever broke in between. An item is `Err` only for a failure that cannot pass (the user's
/// role revoked: [`Error::Forbidden`]), and then the stream ends.
///
/// # Delivery after a restart: at least once
/// A host that must resume after a restart persists [`Event::cursor`] of the last event it has
/// *handled* (or [`Subscription::position`]), and subscribes again after it. An event handled but not
/// yet recorded when the process stopped is delivered again, so handlers must be idempotent:
/// record the cursor in the same transaction as the handler's own writes (what
/// [`Projection`](super::Projection) does), or remember per aggregate the last `stream_version`
/// applied and skip events at or below it, or key the effect by [`Event::id`].
pub struct Subscription {
    buffer: VecDeque<Event>,
    reader: Option<Reader>,
    fetching: Option<Pin<Box<dyn Future<Output = Fetched> + Send>>>,
    position: FeedCursor,
    ended: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("position", &self.position)
            .field("buffered", &self.buffer.len())
            .field("ended", &self.ended)
            .finish()
    }
}

impl Subscription {
    /// The next event, waiting for one; `None` once the stream has ended (after an `Err`).
    pub async fn next(&mut self) -> Option<Result<Event>> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// The next events: every event already fetched, or else the next batch, waiting for one. For a
    /// handler that applies events a transaction at a time ([`Projection::apply`](super::Projection::apply)).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>>> {
        match self.next().await? {
            Ok(first) => {
                let mut events = Vec::with_capacity(1 + self.buffer.len());
                events.push(first);
                events.extend(self.buffer.drain(..));
                if let Some(last) = events.last() {
                    self.position = last.cursor();
                }
                Some(Ok(events))
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Where a new subscription would resume to deliver exactly what this one has not yielded yet:
    /// the cursor of the last event yielded, or the starting cursor.
    pub fn position(&self) -> FeedCursor {
        self.position
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.position = event.cursor();
                return Poll::Ready(Some(Ok(event)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            let fetching = match &mut self.fetching {
                Some(fetching) => fetching,
                None => {
                    let reader = self.reader.take().expect("a reader between fetches");
                    self.fetching.insert(Box::pin(reader.fetch()))
                }
            };
            let (reader, fetched) = match fetching.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(done) => done,
            };
            self.fetching = None;
            self.reader = Some(reader);
            match fetched {
                Ok(events) => self.buffer.extend(events),
                Err(e) => {
                    self.ended = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }
}

impl futures_core::Stream for Subscription {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.buffer.len(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_never_print_the_listeners_password() {
        let options = FeedOptions::new().listen_with(
            PgConnectOptions::new()
                .host("db.internal")
                .password("hunter2-secret"),
        );
        let printed = format!("{options:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            printed.contains("listens_with_own_options: true"),
            "{printed}"
        );
    }

    #[test]
    fn backoff_doubles_from_the_minimum_up_to_the_maximum() {
        let options =
            FeedOptions::new().backoff(Duration::from_millis(10), Duration::from_millis(70));
        let pauses: Vec<u128> = (1..=6)
            .map(|n| options.backoff_after(n).as_millis())
            .collect();
        assert_eq!(pauses, [10, 20, 40, 70, 70, 70]);
        assert_eq!(options.backoff_after(u32::MAX), Duration::from_millis(70));
        assert_eq!(FeedOptions::new().batch_size(0).batch_size, 1);
        assert_eq!(FeedOptions::new().batch_size(5000).batch_size, MAX_READ);
    }
}
