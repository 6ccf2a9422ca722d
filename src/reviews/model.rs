//! What a review run is: the run, its steps, who they are assigned to, the decisions taken, the
//! timeline, and the rows the reads and the jobs return.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;
use crate::types::{
    AssignmentId, BrandId, ContentId, NotificationId, ReviewDecisionId, ReviewStepId, UserId,
    WorkflowId, WorkflowInstanceId,
};
use crate::workflows::{EscalationAction, StepId, StepType};

/// Where a run is (`workflow_instances.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Steps are open for decisions.
    Active,
    /// A reviewer asked for changes: the next edit of the item starts the run over.
    ChangesRequested,
    /// Every step passed: the item is approved at the run's content version.
    Approved,
    /// A reviewer rejected it: the item is back to draft.
    Rejected,
    /// Ended without a verdict: the item left review another way (its draft under review was
    /// discarded, it was soft-deleted, or an admin moved it by hand); the timeline's
    /// [`TimelineKind::Cancelled`] says which.
    Cancelled,
}

text_enum!(RunStatus {
    Active => "active",
    ChangesRequested => "changes_requested",
    Approved => "approved",
    Rejected => "rejected",
    Cancelled => "cancelled",
});

impl RunStatus {
    /// Whether the run is still going (active, or waiting for changes).
    pub fn is_open(self) -> bool {
        matches!(self, RunStatus::Active | RunStatus::ChangesRequested)
    }
}

/// Where a step of a run is (`workflow_instance_steps.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Not entered (yet, or again since an edit).
    Waiting,
    /// Entered: its assignees decide.
    Active,
    /// Enough assignees approved.
    Approved,
    /// An assignee rejected.
    Rejected,
    /// An assignee asked for changes.
    ChangesRequested,
    /// An assignee skipped it (where the step allows it).
    Skipped,
    /// A notification or automated step, done when entered.
    Done,
    /// The run ended before reaching it (or without deciding it).
    NotReached,
}

text_enum!(StepStatus {
    Waiting => "waiting",
    Active => "active",
    Approved => "approved",
    Rejected => "rejected",
    ChangesRequested => "changes_requested",
    Skipped => "skipped",
    Done => "done",
    NotReached => "not_reached",
});

/// What a reviewer decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Approve: counts towards the step's approvals.
    Approve,
    /// Reject: the run ends and the item returns to draft (a comment is required).
    Reject,
    /// Ask for changes: the run waits for an edit (a comment is required).
    RequestChanges,
    /// Leave the step out (only where the step allows it).
    Skip,
}

text_enum!(Verdict {
    Approve => "approve",
    Reject => "reject",
    RequestChanges => "request_changes",
    Skip => "skip",
});

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimelineKind {
    /// The run started.
    Started,
    /// A review or approval step was entered; `detail.assignees`, `detail.required_approvals`.
    StepStarted,
    /// Someone decided; `detail.decision`, `detail.comment`.
    Decided,
    /// A step completed; `detail.outcome`.
    StepCompleted,
    /// A notification step wrote its outbox rows; `detail.recipients`.
    Notified,
    /// An automated step was passed.
    StepDone,
    /// The run waits for changes.
    ChangesRequested,
    /// The item was edited: standing decisions voided, the run started over;
    /// `detail.voided_decisions`, `detail.content_version`.
    Edited,
    /// An escalation rule fired; `rule_index`, `detail.action`, `detail.to`.
    Escalated,
    /// The run approved the item.
    Approved,
    /// The run rejected the item.
    Rejected,
    /// The run was cancelled: its item left review another way; `detail.reason` (`discarded`: the
    /// draft under review was discarded; `deleted`: the item was soft-deleted; `moved`: an admin took
    /// the lifecycle step by hand), `detail.status`.
    Cancelled,
    /// The run moved the item to `in_review`.
    ContentStartReview,
    /// The run approved the item's version.
    ContentApprove,
    /// The run rejected the item.
    ContentReject,
    /// The run returned the item to draft.
    ContentRevise,
}

text_enum!(TimelineKind {
    Started => "started",
    StepStarted => "step_started",
    Decided => "decided",
    StepCompleted => "step_completed",
    Notified => "notified",
    StepDone => "step_done",
    ChangesRequested => "changes_requested",
    Edited => "edited",
    Escalated => "escalated",
    Approved => "approved",
    Rejected => "rejected",
    Cancelled => "cancelled",
    ContentStartReview => "content_start_review",
    ContentApprove => "content_approve",
    ContentReject => "content_reject",
    ContentRevise => "content_revise",
});

/// A review run: one workflow running over one content item (`workflow_instances`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ReviewRun {
    /// Primary key.
    pub id: WorkflowInstanceId,
    /// The workflow it runs.
    pub workflow_id: WorkflowId,
    /// The workflow's version when the run started; the run follows that definition.
    pub workflow_version: i32,
    /// The item.
    pub content_id: ContentId,
    /// Its brand.
    pub brand_id: BrandId,
    /// The content version (`ContentVersion::version`) under review; an edit moves it on.
    pub content_version: i32,
    /// How many times the run started, counting the first (one more after each edit).
    pub round: i32,
    /// Where it is.
    pub status: RunStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub completed_at: Option<DateTime<Utc>>,
    /// When the whole run is due (the workflow's `timeout_hours`).
    pub deadline_at: Option<DateTime<Utc>>,
    /// Who submitted the item.
    pub started_by: UserId,
    /// Who took the decision that ended it (none when the escalation job did).
    pub completed_by: Option<UserId>,
}

macro_rules! run_columns {
    () => {
        "i.id, i.workflow_id, i.workflow_version, i.content_id, i.brand_id, i.content_version, i.round, \
         i.status, i.started_at, i.completed_at, i.deadline_at, i.started_by, i.completed_by"
    };
}
pub(crate) use run_columns;

/// One step of a run (`workflow_instance_steps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ReviewStep {
    /// Primary key: what a decision names.
    pub id: ReviewStepId,
    /// The run.
    pub instance_id: WorkflowInstanceId,
    /// The step of the workflow's definition.
    pub step_id: StepId,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub step_type: StepType,
    /// Its `order` in the definition.
    pub position: i64,
    /// Where it is.
    pub status: StepStatus,
    /// Approvals it needs in its current pass (review and approval steps, once entered).
    pub required_approvals: Option<i64>,
    /// How many times it was entered (decisions count for the current pass only).
    pub activation: i64,
    /// When it was last entered.
    pub started_at: Option<DateTime<Utc>>,
    /// When it is due (the step's `timeout_hours`).
    pub deadline_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
}

macro_rules! step_columns {
    () => {
        "s.id, s.instance_id, s.step_id, s.name, s.step_type, s.position, s.status, s.required_approvals, \
         s.activation, s.started_at, s.deadline_at, s.completed_at"
    };
}
pub(crate) use step_columns;

/// A user assigned to a step (`workflow_step_assignees`), resolved when the step was entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Assignment {
    /// Primary key.
    pub id: AssignmentId,
    /// The step.
    pub instance_step_id: ReviewStepId,
    /// The user.
    pub user_id: UserId,
    /// How they came to it: the step's assignment type (`user`, `role`, `dynamic`) or `escalation`.
    pub source: String,
    /// Whether their decision is awaited.
    pub pending: bool,
    /// When they were (last) assigned.
    pub assigned_at: DateTime<Utc>,
    /// When the assignment ended without their decision (the step closed, a reassignment, an edit).
    pub ended_at: Option<DateTime<Utc>>,
}

/// A decision (`workflow_decisions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Decision {
    /// Primary key.
    pub id: ReviewDecisionId,
    /// The step.
    pub instance_step_id: ReviewStepId,
    /// The content version it was taken on.
    pub content_version: i64,
    /// The pass of the step.
    pub activation: i64,
    /// Who decided; `None` for the escalation job.
    pub decided_by: Option<UserId>,
    /// What.
    pub decision: Verdict,
    /// Why.
    pub comment: Option<String>,
    /// When.
    pub decided_at: DateTime<Utc>,
    /// When an edit voided it; `None` while it stands.
    pub voided_at: Option<DateTime<Utc>>,
    /// The content version whose save voided it.
    pub voided_at_version: Option<i64>,
}

/// One entry of a run's timeline (`workflow_timeline`), in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TimelineEntry {
    /// Position in the run's history (ascending).
    pub seq: i64,
    /// What happened.
    pub kind: TimelineKind,
    /// The step it concerns, if any.
    pub instance_step_id: Option<ReviewStepId>,
    /// Who did it; `None` for a job.
    pub actor: Option<UserId>,
    /// For escalations: the rule's position (from 1) in the definition's `escalationRules`.
    pub rule_index: Option<i64>,
    /// Details, by kind (see [`TimelineKind`]).
    pub detail: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

/// A run with everything a reviewer reads: its steps (in order), assignments, decisions (standing
/// and voided) and timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    /// The run.
    pub run: ReviewRun,
    /// Its steps by `position`.
    pub steps: Vec<ReviewStep>,
    /// Who each step is or was assigned to.
    pub assignments: Vec<Assignment>,
    /// Every decision, oldest first.
    pub decisions: Vec<Decision>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
}

impl RunDetail {
    /// The step of the definition's step `id`.
    pub fn step(&self, id: StepId) -> Option<&ReviewStep> {
        self.steps.iter().find(|s| s.step_id == id)
    }

    /// The decisions that stand (not voided by an edit).
    pub fn standing_decisions(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.voided_at.is_none())
    }
}

/// A decision awaited from the acting user ("my pending decisions").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct PendingDecision {
    /// The assignment (the keyset's id).
    pub assignment_id: AssignmentId,
    /// When the user was assigned (the keyset's time: newest first).
    pub assigned_at: DateTime<Utc>,
    /// The step to decide.
    pub step_id: ReviewStepId,
    /// Its name.
    pub step_name: String,
    /// What it is for.
    pub step_type: StepType,
    /// When it is due.
    pub deadline_at: Option<DateTime<Utc>>,
    /// The run.
    pub instance_id: WorkflowInstanceId,
    /// The item.
    pub content_id: ContentId,
    /// Its title now.
    pub title: String,
    /// The content version under review: what a decision names.
    pub content_version: i32,
}

/// What is late at a point in time: runs past the workflow's timeout, steps past their own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overdue {
    /// Open runs whose `deadline_at` has passed, earliest first.
    pub runs: Vec<ReviewRun>,
    /// Open steps whose `deadline_at` has passed, earliest first.
    pub steps: Vec<ReviewStep>,
}

/// One escalation the job applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The step.
    pub step_id: ReviewStepId,
    /// Its run.
    pub instance_id: WorkflowInstanceId,
    /// The run's brand.
    pub brand_id: BrandId,
    /// The rule's position (from 1) in the definition's `escalationRules`.
    pub rule_index: i64,
    /// What it did.
    pub action: EscalationAction,
}

/// A notification for the host to deliver (`workflow_outbox`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Notification {
    /// Primary key.
    pub id: NotificationId,
    /// The brand.
    pub brand_id: BrandId,
    /// The run.
    pub instance_id: WorkflowInstanceId,
    /// The step that caused it.
    pub instance_step_id: ReviewStepId,
    /// The item.
    pub content_id: ContentId,
    /// Who to tell.
    pub recipient: UserId,
    /// `notification_step` or `escalation`.
    pub reason: String,
    /// What to say (the step's name and instructions, or the escalation rule).
    pub payload: serde_json::Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When the host delivered it.
    pub delivered_at: Option<DateTime<Utc>>,
}

macro_rules! notification_columns {
    () => {
        "o.id, o.brand_id, o.instance_id, o.instance_step_id, o.content_id, o.recipient, o.reason, o.payload, \
         o.created_at, o.delivered_at"
    };
}
pub(crate) use notification_columns;
