//! Projections: a handler run over the feed with its checkpoint in the same transaction as its writes.

use super::feed::ChangeFeed;
use super::input::FeedFilter;
use super::model::{Event, FeedCursor};
use crate::db::ScopeFuture;
use crate::types::no_nul;
use crate::{Database, Error, Result, SystemScope, ValidationErrors};

/// A projection of the feed into tables of the host's own (a read model, a search index, counters):
/// a name, and the checkpoint stored under it in `mixerai.projection_checkpoints`.
///
/// [`Projection::apply`] runs the handler for each event after the checkpoint and moves the
/// checkpoint past them in the same system scope, so the handler's writes and the checkpoint commit
/// together or not at all: each event's effects happen exactly once, whatever fails, restarts or
/// runs twice (two runners of one projection queue on its checkpoint row; the second skips what
/// the first applied). Effects outside the database (an e-mail, a call to another service) are not
/// covered: for those the handler needs an idempotency key of its own, such as [`Event::id`].
///
/// ```no_run
/// # async fn run(db: mixerai_data::Database) -> mixerai_data::Result<()> {
/// use mixerai_data::events::{ChangeFeed, FeedFilter, FeedOptions, Projection};
///
/// let feed = ChangeFeed::start(&db, FeedOptions::new());
/// let counts = Projection::new("event-counts")?;
/// counts
///     .run(&feed, FeedFilter::default(), |scope, event| {
///         let brand = event.brand_id;
///         Box::pin(async move {
///             mixerai_data::sqlx::query(
///                 "INSERT INTO event_counts (brand_id, n) VALUES ($1, 1)
///                  ON CONFLICT (brand_id) DO UPDATE SET n = event_counts.n + 1",
///             )
///             .bind(brand)
///             .execute(scope.connection())
///             .await?;
///             Ok(())
///         })
///     })
///     .await
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    name: String,
}

impl Projection {
    /// The projection named `name` (1 to 200 characters, no NUL): the key of its checkpoint, so two
    /// processes running the same name share one.
    pub fn new(name: impl Into<String>) -> Result<Self, ValidationErrors> {
        let name = name.into();
        if name.is_empty() || name.chars().count() > 200 || no_nul(&name).is_err() {
            return Err(ValidationErrors::single(
                "name",
                "1 to 200 characters, no NUL",
            ));
        }
        Ok(Self { name })
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cursor of the last event applied ([`FeedCursor::START`] before the first).
    #[tracing::instrument(name = "mixerai.events.projection.checkpoint", skip_all, fields(projection = %self.name), err(level = "debug"))]
    pub async fn checkpoint(&self, db: &Database) -> Result<FeedCursor> {
        let mut scope = db.system_scope().await?;
        let saved: Option<(i64, i64)> = sqlx::query_as(
            "SELECT feed_xid, position FROM mixerai.projection_checkpoints WHERE name = $1",
        )
        .bind(&self.name)
        .fetch_optional(scope.connection())
        .await?;
        scope.commit().await?;
        Ok(saved.map_or(FeedCursor::START, |(xid, position)| {
            FeedCursor::new(xid, position)
        }))
    }

    /// Applies `events` (in feed order, as a [`Subscription`](super::Subscription) yields them) in
    /// one system scope: takes the checkpoint's row lock, runs `handler` for each event after the
    /// checkpoint, skipping the ones already applied, moves the checkpoint to the last one and
    /// commits. Returns how many events were applied. All or nothing: an error of the handler or of
    /// the database rolls everything back, checkpoint included, so applying the same events again is
    /// always right (also after [`Error::CommitUnknown`]).
    #[tracing::instrument(name = "mixerai.events.projection.apply", skip_all, fields(projection = %self.name, events = events.len()), err(level = "debug"))]
    pub async fn apply<F>(&self, db: &Database, events: &[Event], mut handler: F) -> Result<usize>
    where
        F: for<'s> FnMut(&'s mut SystemScope, &'s Event) -> ScopeFuture<'s, ()> + Send,
    {
        let mut scope = db.system_scope().await?;
        sqlx::query(
            "INSERT INTO mixerai.projection_checkpoints (name) VALUES ($1)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&self.name)
        .execute(scope.connection())
        .await?;
        // The lock serialises runners of this projection until this scope ends.
        let (xid, position): (i64, i64) = sqlx::query_as(
            "SELECT feed_xid, position FROM mixerai.projection_checkpoints WHERE name = $1
             FOR UPDATE",
        )
        .bind(&self.name)
        .fetch_one(scope.connection())
        .await?;
        let mut last = FeedCursor::new(xid, position);
        let mut applied = 0;
        for event in events {
            if event.cursor() <= last {
                continue;
            }
            handler(&mut scope, event).await?;
            last = event.cursor();
            applied += 1;
        }
        if applied > 0 {
            sqlx::query(
                "UPDATE mixerai.projection_checkpoints
                 SET feed_xid = $2, position = $3, updated_at = now() WHERE name = $1",
            )
            .bind(&self.name)
            .bind(last.feed_xid())
            .bind(last.position())
            .execute(scope.connection())
            .await?;
        }
        scope.commit().await?;
        Ok(applied)
    }

    /// Runs the projection for as long as it is polled: subscribes to `feed` (every brand's events
    /// matching `filter`) after the checkpoint and [applies](Projection::apply) each batch as it
    /// comes, retrying a batch with back-off when the database fails in a way worth retrying (the
    /// connection gone, a lost race, an unknown commit). Returns only the error that stops it: one
    /// of the handler's own, or one that cannot pass. Spawn it, and abort the task to stop it.
    #[tracing::instrument(name = "mixerai.events.projection.run", skip_all, fields(projection = %self.name), err(level = "debug"))]
    pub async fn run<F>(&self, feed: &ChangeFeed, filter: FeedFilter, mut handler: F) -> Result<()>
    where
        F: for<'s> FnMut(&'s mut SystemScope, &'s Event) -> ScopeFuture<'s, ()> + Send,
    {
        let db = feed.database().clone();
        let mut failures = 0u32;
        let from = loop {
            match self.checkpoint(&db).await {
                Ok(from) => break from,
                Err(e) if worth_retrying(&e) => {
                    failures += 1;
                    tokio::time::sleep(feed.backoff_after(failures)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let mut subscription = feed.subscribe_all(from, filter);
        while let Some(batch) = subscription.next_batch().await {
            let batch = batch?;
            let mut failures = 0u32;
            loop {
                match self.apply(&db, &batch, &mut handler).await {
                    Ok(_) => break,
                    Err(e) if worth_retrying(&e) => {
                        failures += 1;
                        tracing::debug!(error = %e, failures, "mixerai.events.projection: batch failed; retrying");
                        tokio::time::sleep(feed.backoff_after(failures)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// Whether applying again may succeed and cannot apply anything twice (the checkpoint sees to that).
fn worth_retrying(e: &Error) -> bool {
    e.is_retryable() || matches!(e, Error::CommitUnknown { .. })
}
