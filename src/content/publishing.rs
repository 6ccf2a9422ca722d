//! The publishing job: due schedules go live (their pinned version), expired live versions come down.
//!
//! Safe from several workers at once: each batch locks what it takes with `FOR UPDATE SKIP LOCKED`,
//! so workers split the due items between them and never wait on each other, and a publication clears
//! the schedule in the same transaction, so a later batch (of any worker) no longer finds the item due:
//! each item is published exactly once. Missed runs are caught up (everything due at `now` is due,
//! however late). A step the database refuses (an approval that no longer matches its version, a
//! publication the brand's compliance gate blocks as of the run: migration 0020) is rolled back to its
//! own savepoint and recorded in `mixerai.content_publish_failures`; the other items of the batch go
//! on. An item the gate refused stays scheduled: once its version is re-checked clear, a later run
//! publishes it (within [`MAX_PUBLISH_ATTEMPTS`]; a new time starts afresh).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::Database;
use crate::Result;
use crate::repo::Ctx;
use crate::types::{BrandId, ContentId};

/// How often one due step is attempted (each run of the job one attempt) before the job leaves it
/// alone; a new due time (rescheduling, a new expiry) starts afresh.
pub const MAX_PUBLISH_ATTEMPTS: i64 = 5;

/// What the job did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    /// The item.
    pub content_id: ContentId,
    /// Its brand.
    pub brand_id: BrandId,
    /// The version published, or the live version taken down.
    pub version: i32,
}

/// Which step of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    /// A due schedule's version going live.
    Publish,
    /// An expired live version coming down.
    Expire,
}

impl JobAction {
    fn as_str(self) -> &'static str {
        match self {
            JobAction::Publish => "publish",
            JobAction::Expire => "expire",
        }
    }
}

/// A step the database refused, recorded in `mixerai.content_publish_failures`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// The item.
    pub content_id: ContentId,
    /// Its brand.
    pub brand_id: BrandId,
    /// The step.
    pub action: JobAction,
    /// The database's refusal.
    pub error: String,
}

/// What one run (or one batch) of the job did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReport {
    /// Published: the item's scheduled version is live.
    pub published: Vec<JobItem>,
    /// Taken down: the item's live version expired.
    pub archived: Vec<JobItem>,
    /// Refused, recorded, left for a later run.
    pub failed: Vec<JobFailure>,
}

impl PublishReport {
    /// How many items the report names.
    pub fn len(&self) -> usize {
        self.published.len() + self.archived.len() + self.failed.len()
    }

    /// Whether it did nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend(&mut self, other: PublishReport) {
        self.published.extend(other.published);
        self.archived.extend(other.archived);
        self.failed.extend(other.failed);
    }
}

/// The publishing job inside one system scope: [`SystemScope::content_publishing`](crate::SystemScope::content_publishing).
#[derive(Debug)]
pub struct PublishingJob<'s> {
    ctx: &'s mut Ctx,
}

/// Due items of one step, locked for this transaction: (id, brand, version, due time).
type Due = (ContentId, BrandId, i32, DateTime<Utc>);

const DUE_SCHEDULES: &str = "SELECT d.id, d.brand_id, d.scheduled_version, d.scheduled_for
     FROM mixerai.content d
     WHERE d.scheduled_version IS NOT NULL AND d.scheduled_for <= $1 AND d.deleted_at IS NULL
       AND d.id <> ALL($3)
       AND NOT EXISTS (SELECT 1 FROM mixerai.content_publish_failures f
                       WHERE f.content_id = d.id AND f.action = 'publish' AND f.due_at = d.scheduled_for
                         AND f.attempts >= $4)
     ORDER BY d.scheduled_for LIMIT $2
     FOR UPDATE SKIP LOCKED";

const EXPIRED: &str = "SELECT d.id, d.brand_id, d.live_version, d.expires_at
     FROM mixerai.content d
     WHERE d.live_version IS NOT NULL AND d.expires_at <= $1 AND d.deleted_at IS NULL
       AND d.id <> ALL($3)
       AND NOT EXISTS (SELECT 1 FROM mixerai.content_publish_failures f
                       WHERE f.content_id = d.id AND f.action = 'expire' AND f.due_at = d.expires_at
                         AND f.attempts >= $4)
     ORDER BY d.expires_at LIMIT $2
     FOR UPDATE SKIP LOCKED";

/// The step, for the items locked: the schedule fires (its pinned version goes live), or the live
/// version comes down. The content trigger (migration 0014) checks and completes each.
const FIRE: &str = "UPDATE mixerai.content SET live_version = scheduled_version
     WHERE id = ANY($1) AND scheduled_version IS NOT NULL RETURNING id";
const TAKE_DOWN: &str = "UPDATE mixerai.content SET live_version = NULL
     WHERE id = ANY($1) AND live_version IS NOT NULL RETURNING id";

const RECORD_FAILURE: &str = "INSERT INTO mixerai.content_publish_failures AS f
         (content_id, brand_id, action, due_at, version, last_error)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (content_id, action, due_at) DO UPDATE
     SET attempts = f.attempts + 1, last_error = EXCLUDED.last_error, version = EXCLUDED.version,
         last_failed_at = now()";

impl<'s> PublishingJob<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    /// One batch: publishes up to `limit` schedules due at `now` (their pinned versions) and takes
    /// down up to `limit` live versions expired at `now`, skipping what another worker holds. Commit
    /// the scope to make it count; [`publish_due`] runs batches until nothing is due.
    #[tracing::instrument(name = "mixerai.content.publish_due", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn publish_due(&mut self, now: DateTime<Utc>, limit: u32) -> Result<PublishReport> {
        self.batch(now, limit, &[]).await
    }

    async fn batch(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
        skip: &[ContentId],
    ) -> Result<PublishReport> {
        let mut report = PublishReport::default();
        let conn = self.ctx.conn();
        let (published, failed) = step(conn, now, limit, skip, JobAction::Publish).await?;
        report.published = published;
        report.failed = failed;
        let (archived, failed) = step(conn, now, limit, skip, JobAction::Expire).await?;
        report.archived = archived;
        report.failed.extend(failed);
        Ok(report)
    }
}

/// One step over the due items: all in one statement, or, when the database refuses that, item by
/// item, each in a savepoint, recording the refusals.
async fn step(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: u32,
    skip: &[ContentId],
    action: JobAction,
) -> Result<(Vec<JobItem>, Vec<JobFailure>)> {
    let (find, apply) = match action {
        JobAction::Publish => (DUE_SCHEDULES, FIRE),
        JobAction::Expire => (EXPIRED, TAKE_DOWN),
    };
    let due: Vec<Due> = sqlx::query_as(find)
        .bind(now)
        .bind(i64::from(limit))
        .bind(skip)
        .bind(MAX_PUBLISH_ATTEMPTS)
        .fetch_all(&mut *conn)
        .await?;
    if due.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let item = |d: &Due| JobItem {
        content_id: d.0,
        brand_id: d.1,
        version: d.2,
    };
    let ids: Vec<ContentId> = due.iter().map(|d| d.0).collect();
    sqlx::query("SAVEPOINT mixerai_publish_batch")
        .execute(&mut *conn)
        .await?;
    match sqlx::query_scalar::<_, ContentId>(apply)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
    {
        Ok(done) => {
            sqlx::query("RELEASE SAVEPOINT mixerai_publish_batch")
                .execute(&mut *conn)
                .await?;
            Ok((
                due.iter()
                    .filter(|d| done.contains(&d.0))
                    .map(item)
                    .collect(),
                Vec::new(),
            ))
        }
        Err(e) if !matches!(e, sqlx::Error::Database(_)) => Err(e.into()),
        Err(_) => {
            sqlx::query("ROLLBACK TO SAVEPOINT mixerai_publish_batch")
                .execute(&mut *conn)
                .await?;
            let (mut done, mut failed) = (Vec::new(), Vec::new());
            for d in &due {
                sqlx::query("SAVEPOINT mixerai_publish_item")
                    .execute(&mut *conn)
                    .await?;
                match sqlx::query_scalar::<_, ContentId>(apply)
                    .bind([d.0])
                    .fetch_all(&mut *conn)
                    .await
                {
                    Ok(rows) => {
                        sqlx::query("RELEASE SAVEPOINT mixerai_publish_item")
                            .execute(&mut *conn)
                            .await?;
                        if !rows.is_empty() {
                            done.push(item(d));
                        }
                    }
                    Err(e) => {
                        let sqlx::Error::Database(db) = &e else {
                            return Err(e.into());
                        };
                        let error = db.message().to_owned();
                        sqlx::query("ROLLBACK TO SAVEPOINT mixerai_publish_item")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query(RECORD_FAILURE)
                            .bind(d.0)
                            .bind(d.1)
                            .bind(action.as_str())
                            .bind(d.3)
                            .bind(i64::from(d.2))
                            .bind(&error)
                            .execute(&mut *conn)
                            .await?;
                        tracing::warn!(content = %d.0, action = action.as_str(), %error, "publish_due step refused");
                        failed.push(JobFailure {
                            content_id: d.0,
                            brand_id: d.1,
                            action,
                            error,
                        });
                    }
                }
            }
            Ok((done, failed))
        }
    }
}

/// Runs the publishing job to the end at `now`: batches of at most `batch` items per step, each in a
/// system scope of its own that commits before the next begins, until nothing is due; `progress` is
/// called with the running total after every batch (and each batch is logged at `info`), so a large
/// run reports as it goes. Several workers may run it at once: they split the due items between them
/// and each item is published exactly once. An item refused in this run is not tried again in it.
/// Returns everything this worker did.
pub async fn publish_due(
    db: &Database,
    now: DateTime<Utc>,
    batch: u32,
    mut progress: impl FnMut(&PublishReport),
) -> Result<PublishReport> {
    let batch = batch.max(1);
    let mut total = PublishReport::default();
    loop {
        let skip: Vec<ContentId> = total.failed.iter().map(|f| f.content_id).collect();
        let mut scope = db.system_scope().await?;
        let report = scope.content_publishing().batch(now, batch, &skip).await?;
        scope.commit().await?;
        if report.is_empty() {
            return Ok(total);
        }
        tracing::info!(
            published = report.published.len(),
            archived = report.archived.len(),
            failed = report.failed.len(),
            "publish_due batch"
        );
        total.extend(report);
        progress(&total);
    }
}
