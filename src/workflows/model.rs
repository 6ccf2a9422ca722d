//! What a workflow is: its steps, the transitions between them, its escalation rules, and the row as
//! read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::templates::{Condition, TemplateField};
use crate::text_enum::text_enum;
use crate::types::{BrandId, UserId, WorkflowId};

/// The id of a step inside a workflow's `steps` (what `content.current_step_id` holds). Not a row id:
/// steps live in the workflow's JSON, so no foreign key checks it; the builders and
/// [`WorkflowRepo::update`](super::WorkflowRepo::update) check every reference.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct StepId(Uuid);

impl StepId {
    /// A new random (v4) id.
    #[allow(clippy::new_without_default)] // like the row ids: no accidental default id
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps a UUID known to identify a step.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How a workflow moves through its steps (`workflows.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowType {
    /// One step after another, by `order`.
    Sequential,
    /// All steps at once.
    Parallel,
    /// Transitions chosen by conditions on the content.
    Conditional,
}

text_enum!(WorkflowType { Sequential => "sequential", Parallel => "parallel", Conditional => "conditional" });

/// What a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepType {
    /// Someone reads and comments.
    Review,
    /// Someone approves or rejects.
    Approval,
    /// People are told; nobody acts.
    Notification,
    /// The system acts.
    Automated,
}

text_enum!(StepType { Review => "review", Approval => "approval", Notification => "notification", Automated => "automated" });

/// What `assignees` of a step name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentType {
    /// User ids.
    User,
    /// Brand roles.
    Role,
    /// Group names.
    Group,
    /// Names resolved at run time (e.g. `content.created_by`).
    Dynamic,
}

text_enum!(AssignmentType { User => "user", Role => "role", Group => "group", Dynamic => "dynamic" });

/// What an assignee may do at a step (spec `WorkflowAction`), and what a transition fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepAction {
    /// Approve and move on.
    Approve,
    /// Reject.
    Reject,
    /// Send back for changes.
    RequestChanges,
    /// Comment without deciding.
    Comment,
    /// Publish the content.
    Publish,
    /// Notify people.
    Notify,
}

text_enum!(StepAction {
    Approve => "approve",
    Reject => "reject",
    RequestChanges => "request_changes",
    Comment => "comment",
    Publish => "publish",
    Notify => "notify",
});

/// One step of a workflow (spec `WorkflowStep`; `workflowId` is the row it lives in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStep {
    /// Unique in the workflow; content points at it with `current_step_id`.
    pub id: StepId,
    /// Display name (at most 255 characters).
    pub name: String,
    /// What the step is for.
    #[serde(rename = "type")]
    pub step_type: StepType,
    /// What `assignees` name.
    pub assignment_type: AssignmentType,
    /// Who acts.
    #[serde(default)]
    pub assignees: Vec<String>,
    /// The step cannot be left out.
    #[serde(default)]
    pub required: bool,
    /// An assignee may skip it.
    #[serde(default)]
    pub allow_skip: bool,
    /// Every assignee must approve, not just one.
    #[serde(default)]
    pub require_all_approvals: bool,
    /// N of M: how many of the assignees must approve (review and approval steps; not with
    /// `require_all_approvals`). One when absent. A run needs at most as many as the step resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_approvals: Option<i32>,
    /// Hours before the step times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_hours: Option<i32>,
    /// What assignees may do.
    #[serde(default)]
    pub actions: Vec<StepAction>,
    /// Position, ascending; unique in the workflow.
    #[serde(default)]
    pub order: i32,
    /// What a reviewer fills in, defined like template fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form_fields: Vec<TemplateField>,
    /// Guidance for assignees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

impl WorkflowStep {
    /// A required step with a new id, no assignees, actions, timeout or form. Set the rest with
    /// struct update syntax.
    pub fn new(name: impl Into<String>, step_type: StepType, order: i32) -> Self {
        Self {
            id: StepId::new(),
            name: name.into(),
            step_type,
            assignment_type: AssignmentType::Role,
            assignees: Vec::new(),
            required: true,
            allow_skip: false,
            require_all_approvals: false,
            min_approvals: None,
            timeout_hours: None,
            actions: Vec::new(),
            order,
            form_fields: Vec::new(),
            instructions: None,
        }
    }
}

/// A move from one step to another (spec `WorkflowTransition`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTransition {
    /// The step left.
    pub from: StepId,
    /// The step entered.
    pub to: StepId,
    /// The action that takes it; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<StepAction>,
    /// Taken only when this holds on the content's fields (conditional workflows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

/// What an escalation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscalationAction {
    /// Tell `to`.
    Notify,
    /// Give the step to `to`.
    Reassign,
    /// Approve on the assignees' behalf.
    AutoApprove,
    /// Reject on the assignees' behalf.
    AutoReject,
}

text_enum!(EscalationAction {
    Notify => "notify",
    Reassign => "reassign",
    AutoApprove => "auto_approve",
    AutoReject => "auto_reject",
});

/// What happens when a step waits too long (spec `EscalationRule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationRule {
    /// The step it watches; every step when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<StepId>,
    /// Hours in the step before it fires.
    pub after_hours: i32,
    /// What it does.
    pub action: EscalationAction,
    /// Who is notified or gets the step, as `assignmentType` says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// What `to` names (needed with `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_type: Option<AssignmentType>,
}

/// A workflow definition (`workflows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Workflow {
    /// Primary key.
    pub id: WorkflowId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The steps.
    #[sqlx(json)]
    pub steps: Vec<WorkflowStep>,
    /// The moves between steps.
    #[sqlx(json)]
    pub transitions: Vec<WorkflowTransition>,
    /// How it moves.
    #[sqlx(rename = "type")]
    #[serde(rename = "type")]
    pub workflow_type: WorkflowType,
    /// Hours before a whole run times out.
    pub timeout_hours: Option<i32>,
    /// What happens when steps wait too long.
    #[sqlx(json(nullable))]
    pub escalation_rules: Option<Vec<EscalationRule>>,
    /// The brands it is assigned to.
    pub brand_ids: Vec<BrandId>,
    /// The content types it applies to; empty = every type.
    pub content_types: Vec<String>,
    /// The default for its brands and content types.
    pub is_default: bool,
    /// Offered for new runs.
    pub is_active: bool,
    /// Saves so far, counting the first: the optimistic-concurrency token every write names.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`Workflow`], for every statement that returns workflows (`concat!` keeps each one
/// a `&'static str`).
macro_rules! workflow_columns {
    () => {
        "id, name, description, steps, transitions, type, timeout_hours, escalation_rules, brand_ids, \
         content_types, is_default, is_active, version, created_by, created_at, updated_at"
    };
}
pub(crate) use workflow_columns;
