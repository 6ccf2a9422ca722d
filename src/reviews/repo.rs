//! The review repository (tenant scopes) and the review jobs (system scopes): every statement that
//! reads the runs, and the calls of the database functions that change them (migration 0021).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::input::NewDecision;
use super::model::{
    Assignment, Decision, Escalation, Notification, Overdue, PendingDecision, ReviewRun,
    ReviewStep, RunDetail, TimelineEntry, notification_columns, run_columns, step_columns,
};
use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::types::{
    BrandId, ContentId, NotificationId, ReviewStepId, WorkflowId, WorkflowInstanceId,
};
use crate::workflows::EscalationAction;
use crate::{Database, Error, Result};

/// Review runs over one tenant scope: the runs of the scope's brand.
///
/// Editors and admins submit items; a step is decided by its current assignees only, whatever their
/// brand role (a viewer assigned by name decides too); every member reads. Every change is made by a
/// database function that checks who may make it and records it (decision rows, timeline, audit
/// events) in the scope's transaction.
#[derive(Debug)]
pub struct ReviewRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> ReviewRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Submits the item (a `draft`, or an item already `pending_review`) at `expected_version` for
    /// review with the brand's active default workflow for its content type, and returns the run.
    /// The item goes to `in_review`; the run records the workflow's version and definition and the
    /// item's latest version, lays out the steps and enters the first (every step of a parallel
    /// workflow), resolving and recording its assignees.
    ///
    /// [`Error::Stale`] when the item moved on; [`Error::NotFound`] when it is not visible;
    /// [`Error::Forbidden`] for a viewer; [`Error::IllegalTransition`] from another status (an item
    /// under review already is `in_review`; the unique index `workflow_instances_one_active` backs
    /// "one open run per item" up as [`Error::Conflict`]);
    /// [`Error::Invalid`] on `workflow_id` when the brand has no default for the type, on `steps` when
    /// the workflow has no review or approval step or a step resolves to nobody.
    #[tracing::instrument(name = "mixerai.reviews.submit", parent = self.ctx.span(), skip_all, fields(content = %content), err(level = "debug"))]
    pub async fn submit(&mut self, content: ContentId, expected_version: i32) -> Result<ReviewRun> {
        self.start(content, expected_version, None).await
    }

    /// [`submit`](Self::submit) with `workflow`, an active workflow assigned to the brand (else
    /// [`Error::InvalidReference`] on `workflow_id`), rather than the default.
    #[tracing::instrument(name = "mixerai.reviews.submit_with", parent = self.ctx.span(), skip_all, fields(content = %content, workflow = %workflow), err(level = "debug"))]
    pub async fn submit_with(
        &mut self,
        content: ContentId,
        expected_version: i32,
        workflow: WorkflowId,
    ) -> Result<ReviewRun> {
        self.start(content, expected_version, Some(workflow)).await
    }

    async fn start(
        &mut self,
        content: ContentId,
        expected_version: i32,
        workflow: Option<WorkflowId>,
    ) -> Result<ReviewRun> {
        let run: Option<Uuid> = sqlx::query_scalar("SELECT mixerai.workflow_start($1, $2, $3)")
            .bind(content)
            .bind(expected_version)
            .bind(workflow)
            .fetch_one(self.conn())
            .await?;
        match run {
            Some(id) => self.get(WorkflowInstanceId::from_uuid(id)).await,
            None => {
                let actual: Option<i32> = sqlx::query_scalar(
                    "SELECT version FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(content)
                .fetch_optional(self.conn())
                .await?;
                Err(match actual {
                    Some(actual) if actual != expected_version => Error::Stale {
                        entity: "content",
                        expected: expected_version,
                        actual,
                    },
                    _ => Error::NotFound { entity: "content" },
                })
            }
        }
    }

    /// Decides `step` of a run reviewing `seen_version` of its item (the `content_version` the
    /// reviewer read, e.g. from [`PendingDecision`]) and returns the run as it is now. An approval
    /// counts towards the step's approvals (all, any, or N of M); the one that completes the last step
    /// approves the item at that version, exactly once however many decide at the same moment. A
    /// rejection ends the run and returns the item to draft; a request for changes holds the run
    /// until the next edit; a skip completes a step that allows it.
    ///
    /// [`Error::Forbidden`] unless the acting user is a current assignee of the open step (also when
    /// the step has just been completed by someone else, or the run waits for changes);
    /// [`Error::Conflict`] on `workflow_decisions_once_per_user` for a second decision of the same
    /// pass; [`Error::Invalid`] on `decision` for a skip the step does not allow; [`Error::Stale`]
    /// (entity `review`) when the item was edited since `seen_version`; [`Error::NotFound`] for a
    /// step not visible in the scope.
    #[tracing::instrument(name = "mixerai.reviews.decide", parent = self.ctx.span(), skip_all, fields(step = %step, verdict = %decision.verdict()), err(level = "debug"))]
    pub async fn decide(
        &mut self,
        step: ReviewStepId,
        seen_version: i32,
        decision: &NewDecision,
    ) -> Result<ReviewRun> {
        decision.check()?;
        let run: Option<Uuid> =
            sqlx::query_scalar("SELECT mixerai.workflow_decide($1, $2, $3, $4)")
                .bind(step)
                .bind(seen_version)
                .bind(decision.verdict())
                .bind(decision.comment())
                .fetch_one(self.conn())
                .await
                .map_err(|e| match Error::from(e) {
                    Error::Forbidden { source, .. } => Error::Forbidden {
                        reason: Cow::Borrowed(
                            "only a current assignee of an open step may decide it",
                        ),
                        source,
                    },
                    other => other,
                })?;
        match run {
            Some(id) => self.get(WorkflowInstanceId::from_uuid(id)).await,
            None => {
                let actual: Option<i32> = sqlx::query_scalar(
                    "SELECT i.content_version FROM mixerai.workflow_instance_steps s
                     JOIN mixerai.workflow_instances i ON i.id = s.instance_id WHERE s.id = $1",
                )
                .bind(step)
                .fetch_optional(self.conn())
                .await?;
                Err(match actual {
                    Some(actual) if actual != seen_version => Error::Stale {
                        entity: "review",
                        expected: seen_version,
                        actual,
                    },
                    _ => Error::NotFound {
                        entity: "review step",
                    },
                })
            }
        }
    }

    /// [`decide`](Self::decide) with an approval without comment.
    #[tracing::instrument(name = "mixerai.reviews.approve", parent = self.ctx.span(), skip_all, fields(step = %step), err(level = "debug"))]
    pub async fn approve(&mut self, step: ReviewStepId, seen_version: i32) -> Result<ReviewRun> {
        self.decide(step, seen_version, &NewDecision::approve())
            .await
    }

    /// The run with this id, if it is the brand's; else [`Error::NotFound`].
    #[tracing::instrument(name = "mixerai.reviews.get", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn get(&mut self, id: WorkflowInstanceId) -> Result<ReviewRun> {
        sqlx::query_as::<_, ReviewRun>(concat!(
            "SELECT ",
            run_columns!(),
            " FROM mixerai.workflow_instances i WHERE i.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?
        .ok_or(Error::NotFound { entity: "review" })
    }

    /// The open run (active or waiting for changes) of an item, if any.
    #[tracing::instrument(name = "mixerai.reviews.open_for", parent = self.ctx.span(), skip_all, fields(content = %content), err(level = "debug"))]
    pub async fn open_for(&mut self, content: ContentId) -> Result<Option<ReviewRun>> {
        Ok(sqlx::query_as::<_, ReviewRun>(concat!(
            "SELECT ",
            run_columns!(),
            " FROM mixerai.workflow_instances i WHERE i.content_id = $1 AND i.completed_at IS NULL"
        ))
        .bind(content)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Every run of an item, newest first.
    #[tracing::instrument(name = "mixerai.reviews.runs_of", parent = self.ctx.span(), skip_all, fields(content = %content), err(level = "debug"))]
    pub async fn runs_of(&mut self, content: ContentId) -> Result<Vec<ReviewRun>> {
        Ok(sqlx::query_as::<_, ReviewRun>(concat!(
            "SELECT ",
            run_columns!(),
            " FROM mixerai.workflow_instances i WHERE i.content_id = $1
              ORDER BY i.started_at DESC, i.id DESC"
        ))
        .bind(content)
        .fetch_all(self.conn())
        .await?)
    }

    /// A run with its steps, assignments, decisions and timeline (five reads of one snapshot's
    /// worth: the scope's transaction).
    #[tracing::instrument(name = "mixerai.reviews.detail", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn detail(&mut self, id: WorkflowInstanceId) -> Result<RunDetail> {
        let run = self.get(id).await?;
        let steps = sqlx::query_as::<_, ReviewStep>(concat!(
            "SELECT ",
            step_columns!(),
            " FROM mixerai.workflow_instance_steps s WHERE s.instance_id = $1
              ORDER BY s.position, s.id"
        ))
        .bind(id)
        .fetch_all(self.conn())
        .await?;
        let assignments = sqlx::query_as::<_, Assignment>(
            "SELECT a.id, a.instance_step_id, a.user_id, a.source, a.pending, a.assigned_at, a.ended_at
             FROM mixerai.workflow_step_assignees a WHERE a.instance_id = $1
             ORDER BY a.assigned_at, a.id",
        )
        .bind(id)
        .fetch_all(self.conn())
        .await?;
        let decisions = sqlx::query_as::<_, Decision>(
            "SELECT d.id, d.instance_step_id, d.content_version, d.activation, d.decided_by, d.decision,
                    d.comment, d.decided_at, d.voided_at, d.voided_at_version
             FROM mixerai.workflow_decisions d WHERE d.instance_id = $1
             ORDER BY d.decided_at, d.id",
        )
        .bind(id)
        .fetch_all(self.conn())
        .await?;
        let timeline = sqlx::query_as::<_, TimelineEntry>(
            "SELECT t.seq, t.kind, t.instance_step_id, t.actor, t.rule_index, t.detail, t.at
             FROM mixerai.workflow_timeline t WHERE t.instance_id = $1 ORDER BY t.seq",
        )
        .bind(id)
        .fetch_all(self.conn())
        .await?;
        Ok(RunDetail {
            run,
            steps,
            assignments,
            decisions,
            timeline,
        })
    }

    /// The decisions awaited from the acting user across the brand, newest assignment first, one
    /// keyset page: the page is cut from `idx_workflow_step_assignees_pending` first (one seek, no
    /// sort), then its rows are joined by primary key to the step, the run and the item, so the
    /// policies' filters on those tables cannot talk the planner out of the index.
    #[tracing::instrument(name = "mixerai.reviews.my_pending", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn my_pending(&mut self, request: &PageRequest) -> Result<Page<PendingDecision>> {
        let mut q = QueryBuilder::<Postgres>::new(MY_PENDING_HEAD);
        q.push_bind(self.ctx.tenant_user())
            .push(" AND a.brand_id = ")
            .push_bind(self.ctx.tenant_brand());
        if let (Some(at), Some(id)) = request.after_key() {
            q.push(" AND (a.assigned_at, a.id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY a.assigned_at DESC, a.id DESC LIMIT ")
            .push_bind(request.fetch_limit())
            .push(MY_PENDING_TAIL);
        let rows = q
            .build_query_as::<PendingDecision>()
            .fetch_all(self.conn())
            .await?;
        Ok(Page::from_rows(rows, request, |p: &PendingDecision| {
            (p.assigned_at, p.assignment_id.as_uuid())
        }))
    }

    /// What is late at `now` in the brand: open runs past the workflow's timeout and open steps past
    /// their own, earliest deadline first.
    #[tracing::instrument(name = "mixerai.reviews.overdue", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn overdue(&mut self, now: DateTime<Utc>) -> Result<Overdue> {
        let runs = sqlx::query_as::<_, ReviewRun>(concat!(
            "SELECT ",
            run_columns!(),
            " FROM mixerai.workflow_instances i
              WHERE i.brand_id = $1 AND i.completed_at IS NULL AND i.deadline_at <= $2
              ORDER BY i.deadline_at, i.id"
        ))
        .bind(self.ctx.tenant_brand())
        .bind(now)
        .fetch_all(self.conn())
        .await?;
        let steps = sqlx::query_as::<_, ReviewStep>(concat!(
            "SELECT ",
            step_columns!(),
            " FROM mixerai.workflow_instance_steps s
              WHERE s.brand_id = $1 AND s.status = 'active' AND s.deadline_at <= $2
              ORDER BY s.deadline_at, s.id"
        ))
        .bind(self.ctx.tenant_brand())
        .bind(now)
        .fetch_all(self.conn())
        .await?;
        Ok(Overdue { runs, steps })
    }

    /// The notifications written for the brand's runs of an item (delivered or not), oldest first.
    #[tracing::instrument(name = "mixerai.reviews.notifications", parent = self.ctx.span(), skip_all, fields(content = %content), err(level = "debug"))]
    pub async fn notifications(&mut self, content: ContentId) -> Result<Vec<Notification>> {
        Ok(sqlx::query_as::<_, Notification>(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM mixerai.workflow_outbox o WHERE o.content_id = $1 ORDER BY o.created_at, o.id"
        ))
        .bind(content)
        .fetch_all(self.conn())
        .await?)
    }
}

/// "My pending decisions": the page of the user's pending assignments in the brand (the brand
/// repeats the RESTRICTIVE policy, so the index serves both), then what a reviewer reads of each.
/// [`ReviewRepo::my_pending`] binds the user, the brand, the cursor and the limit between the two.
pub(crate) const MY_PENDING_HEAD: &str =
    "SELECT a.id AS assignment_id, a.assigned_at, s.id AS step_id, s.name AS step_name,
        s.step_type, s.deadline_at, s.instance_id, a.content_id, c.title, i.content_version
 FROM (SELECT a.id, a.assigned_at, a.instance_step_id, a.content_id
       FROM mixerai.workflow_step_assignees a
       WHERE a.pending AND a.user_id = ";

/// See [`MY_PENDING_HEAD`].
pub(crate) const MY_PENDING_TAIL: &str = ") a
 JOIN mixerai.workflow_instance_steps s ON s.id = a.instance_step_id
 JOIN mixerai.workflow_instances i ON i.id = s.instance_id
 JOIN mixerai.content c ON c.id = a.content_id
 ORDER BY a.assigned_at DESC, a.id DESC";

/// The review jobs over one system scope (the owner, across brands): escalation and the outbox.
#[derive(Debug)]
pub struct ReviewJobs<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> ReviewJobs<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// One batch of escalation: up to `limit` escalation rules due at `now` on open steps, each
    /// applied once per pass of a step whichever worker gets there first; items another worker (or a
    /// reviewer) holds are skipped, not waited for. Commit the scope to make it count;
    /// [`escalate_due`] runs batches until nothing is due.
    #[tracing::instrument(name = "mixerai.reviews.escalate", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn escalate(&mut self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Escalation>> {
        let rows: Vec<(Uuid, Uuid, Uuid, i64, EscalationAction)> =
            sqlx::query_as("SELECT * FROM mixerai.workflow_escalate($1, $2)")
                .bind(now)
                .bind(i32::try_from(limit).unwrap_or(i32::MAX))
                .fetch_all(self.conn())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(step, run, brand, rule_index, action)| Escalation {
                step_id: ReviewStepId::from_uuid(step),
                instance_id: WorkflowInstanceId::from_uuid(run),
                brand_id: BrandId::from_uuid(brand),
                rule_index,
                action,
            })
            .collect())
    }

    /// Up to `limit` undelivered notifications, oldest first, locked for this scope (`FOR UPDATE SKIP
    /// LOCKED`: concurrent deliverers take different rows). Deliver them, then
    /// [`mark_delivered`](Self::mark_delivered) in the same scope.
    #[tracing::instrument(name = "mixerai.reviews.undelivered", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn undelivered(&mut self, limit: u32) -> Result<Vec<Notification>> {
        Ok(sqlx::query_as::<_, Notification>(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM mixerai.workflow_outbox o WHERE o.delivered_at IS NULL
              ORDER BY o.created_at, o.id LIMIT $1 FOR UPDATE SKIP LOCKED"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.conn())
        .await?)
    }

    /// Marks notifications delivered (those not delivered already); returns how many it marked.
    #[tracing::instrument(
        name = "mixerai.reviews.mark_delivered",
        skip_all,
        err(level = "debug")
    )]
    pub async fn mark_delivered(&mut self, ids: &[NotificationId]) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE mixerai.workflow_outbox SET delivered_at = now()
             WHERE id = ANY($1) AND delivered_at IS NULL",
        )
        .bind(ids)
        .execute(self.conn())
        .await?
        .rows_affected())
    }
}

/// Runs escalation until nothing is due at `now`: batches of `batch` rules, each in a system scope of
/// its own that commits before the next begins. Several workers may run it at once: they split the
/// due items between them and each escalation is applied exactly once. Returns what this worker
/// applied.
pub async fn escalate_due(
    db: &Database,
    now: DateTime<Utc>,
    batch: u32,
) -> Result<Vec<Escalation>> {
    let batch = batch.max(1);
    let mut total = Vec::new();
    loop {
        let mut scope = db.system_scope().await?;
        let applied = scope.review_jobs().escalate(now, batch).await?;
        scope.commit().await?;
        if applied.is_empty() {
            return Ok(total);
        }
        tracing::info!(escalations = applied.len(), "review escalation batch");
        total.extend(applied);
    }
}
