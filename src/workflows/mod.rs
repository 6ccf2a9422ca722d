//! Workflow definitions: review and approval steps and the transitions between them (spec 2.4).
//! Model, builder, patch, repository.
//!
//! # Decisions the spec leaves open
//! - **Steps** have unique ids (UUIDs, referenced by `content.current_step_id`) and unique `order`s; a
//!   workflow has 1 to 100 steps. Review and approval steps need assignees; by `assignmentType`:
//!   `user` = user UUIDs, `role` = brand roles (`admin`, `editor`, `viewer`), `group` / `dynamic` =
//!   names (at most 100 characters). Notification and automated steps need none.
//! - **Transitions** go from one existing step to another (never to itself: "try again" is a
//!   transition back to an earlier step), at most once per `(from, to, on)`. Only `conditional`
//!   workflows may put conditions on transitions, and they must have at least one.
//! - **Timeouts** (workflow, step, escalation) are whole hours from 1 to 8760 (a year).
//! - **Escalation rules** fire `afterHours` into a step (or any step), and notify or reassign to
//!   assignees, or approve or reject automatically.
//! - **One default per brand and content type** among active workflows, enforced by a trigger under an
//!   advisory lock (migration 0015, arrays defeat unique indexes): a clash is [`Error::Conflict`] on
//!   `workflows_one_default_per_brand_type`. A default names at least one content type.
//! - **Brands**: created for the scope's brand (brand admins, or platform admins who may share it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::brands::BrandRole;
use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::templates::{Condition, TemplateField, check_fields, check_list};
use crate::text_enum::text_enum;
use crate::types::{BrandId, UserId, WorkflowId, no_nul, non_blank};
use crate::{Error, Result, ValidationErrors};

/// The id of a step inside a workflow's `steps` (what `content.current_step_id` holds). Not a row id:
/// steps live in the workflow's JSON, so no foreign key checks it; the builder checks every reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
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
    /// Saves so far; the optimistic-concurrency token.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const WORKFLOW_COLUMNS: &str = "id, name, description, steps, transitions, type, timeout_hours, \
    escalation_rules, brand_ids, content_types, is_default, is_active, version, created_by, created_at, \
    updated_at";

const MAX_STEPS: usize = 100;
const MAX_HOURS: i32 = 8760;

/// Everything a workflow defines, checked as one: the builder and patches share it.
#[derive(Debug, Clone, PartialEq)]
struct Definition {
    name: String,
    description: Option<String>,
    steps: Vec<WorkflowStep>,
    transitions: Vec<WorkflowTransition>,
    workflow_type: WorkflowType,
    timeout_hours: Option<i32>,
    escalation_rules: Option<Vec<EscalationRule>>,
    content_types: Vec<String>,
}

fn check_hours(errors: &mut ValidationErrors, path: &str, hours: Option<i32>) {
    if hours.is_some_and(|h| !(1..=MAX_HOURS).contains(&h)) {
        errors.push(path, format!("must be between 1 and {MAX_HOURS} hours"));
    }
}

fn check_assignees(
    errors: &mut ValidationErrors,
    path: &str,
    kind: AssignmentType,
    names: &[String],
) {
    for (i, a) in names.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let ok = match kind {
            AssignmentType::User => {
                let ok = a.parse::<Uuid>().is_ok();
                if !ok {
                    errors.push(at.clone(), "must be a user id (UUID)");
                }
                ok
            }
            AssignmentType::Role => {
                let ok = a.parse::<BrandRole>().is_ok();
                if !ok {
                    errors.push(at.clone(), "must be a brand role: admin, editor or viewer");
                }
                ok
            }
            AssignmentType::Group | AssignmentType::Dynamic => {
                errors.check(&at, non_blank(a, 100)).is_some()
            }
        };
        if ok && names[..i].contains(a) {
            errors.push(at, "is listed twice");
        }
    }
}

impl Definition {
    fn check(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        errors.check("name", non_blank(&self.name, 255));
        if let Some(d) = &self.description {
            errors.check("description", no_nul(d));
        }
        check_hours(&mut errors, "timeout_hours", self.timeout_hours);
        check_list(&mut errors, "content_types", &self.content_types, 50);

        if self.steps.is_empty() {
            errors.push("steps", "a workflow needs at least one step");
        }
        if self.steps.len() > MAX_STEPS {
            errors.push("steps", format!("has more than {MAX_STEPS} steps"));
        }
        for (i, s) in self.steps.iter().enumerate() {
            let at = |what: &str| format!("steps[{i}].{what}");
            if self.steps[..i].iter().any(|o| o.id == s.id) {
                errors.push(at("id"), "is used by another step");
            }
            if s.id.as_uuid().is_nil() {
                errors.push(at("id"), "must not be the nil UUID");
            }
            errors.check(&at("name"), non_blank(&s.name, 255));
            if self.steps[..i].iter().any(|o| o.order == s.order) {
                errors.push(at("order"), "is used by another step");
            }
            let needs_assignees = matches!(s.step_type, StepType::Review | StepType::Approval);
            if needs_assignees && s.assignees.is_empty() {
                errors.push(at("assignees"), "a review or approval step needs assignees");
            }
            check_assignees(
                &mut errors,
                &at("assignees"),
                s.assignment_type,
                &s.assignees,
            );
            if s.require_all_approvals && !needs_assignees {
                errors.push(
                    at("requireAllApprovals"),
                    "applies only to review and approval steps",
                );
            }
            if s.required && s.allow_skip {
                errors.push(at("allowSkip"), "a required step cannot be skipped");
            }
            check_hours(&mut errors, &at("timeoutHours"), s.timeout_hours);
            for (j, a) in s.actions.iter().enumerate() {
                if s.actions[..j].contains(a) {
                    errors.push(format!("{}[{j}]", at("actions")), "is listed twice");
                }
            }
            if s.step_type == StepType::Approval
                && !s.actions.is_empty()
                && !s.actions.contains(&StepAction::Approve)
            {
                errors.push(at("actions"), "an approval step must offer approve");
            }
            check_fields(&mut errors, &at("formFields"), &s.form_fields);
            if let Some(text) = &s.instructions {
                errors.check(&at("instructions"), no_nul(text));
            }
        }

        let step_exists = |id: &StepId| self.steps.iter().any(|s| &s.id == id);
        for (i, t) in self.transitions.iter().enumerate() {
            let at = |what: &str| format!("transitions[{i}].{what}");
            if !step_exists(&t.from) {
                errors.push(at("from"), "names no step of this workflow");
            }
            if !step_exists(&t.to) {
                errors.push(at("to"), "names no step of this workflow");
            }
            if t.from == t.to {
                errors.push(at("to"), "a step cannot transition to itself");
            }
            if self.transitions[..i]
                .iter()
                .any(|o| o.from == t.from && o.to == t.to && o.on == t.on)
            {
                errors.push(at("to"), "repeats another transition");
            }
            if let Some(c) = &t.condition {
                if self.workflow_type != WorkflowType::Conditional {
                    errors.push(
                        at("condition"),
                        "only conditional workflows have conditions",
                    );
                }
                c.check_shape(&mut errors, &at("condition"));
                errors.check(&at("condition.field"), non_blank(&c.field, 100));
            }
        }
        if self.workflow_type == WorkflowType::Conditional
            && !self.transitions.iter().any(|t| t.condition.is_some())
        {
            errors.push(
                "transitions",
                "a conditional workflow needs at least one transition with a condition",
            );
        }

        for (i, r) in self.escalation_rules.iter().flatten().enumerate() {
            let at = |what: &str| format!("escalation_rules[{i}].{what}");
            if r.step_id.is_some_and(|id| !step_exists(&id)) {
                errors.push(at("stepId"), "names no step of this workflow");
            }
            if !(1..=MAX_HOURS).contains(&r.after_hours) {
                errors.push(
                    at("afterHours"),
                    format!("must be between 1 and {MAX_HOURS} hours"),
                );
            }
            let needs_to = matches!(
                r.action,
                EscalationAction::Notify | EscalationAction::Reassign
            );
            match (&r.assignment_type, r.to.is_empty()) {
                (_, true) if needs_to => {
                    errors.push(at("to"), "notify and reassign need someone to escalate to")
                }
                (None, false) => errors.push(at("assignmentType"), "is required with to"),
                (Some(kind), false) => check_assignees(&mut errors, &at("to"), *kind, &r.to),
                _ => {}
            }
            if !needs_to && !r.to.is_empty() {
                errors.push(at("to"), "applies only to notify and reassign");
            }
        }
        errors
    }
}

/// A validated new workflow; build one with [`NewWorkflow::builder`].
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    def: Definition,
    shared_with: Vec<BrandId>,
    is_default: bool,
    is_active: bool,
}

impl NewWorkflow {
    /// Starts a builder; [`NewWorkflowBuilder::build`] reports every problem at once.
    pub fn builder() -> NewWorkflowBuilder {
        NewWorkflowBuilder {
            workflow_type: Some(WorkflowType::Sequential),
            is_active: true,
            ..NewWorkflowBuilder::default()
        }
    }

    /// The steps, as they will be stored.
    pub fn steps(&self) -> &[WorkflowStep] {
        &self.def.steps
    }

    /// The transitions, as they will be stored.
    pub fn transitions(&self) -> &[WorkflowTransition] {
        &self.def.transitions
    }
}

/// Raw input for a [`NewWorkflow`].
#[derive(Debug, Clone, Default)]
pub struct NewWorkflowBuilder {
    name: String,
    description: Option<String>,
    steps: Vec<WorkflowStep>,
    transitions: Vec<WorkflowTransition>,
    workflow_type: Option<WorkflowType>,
    timeout_hours: Option<i32>,
    escalation_rules: Option<Vec<EscalationRule>>,
    content_types: Vec<String>,
    shared_with: Vec<BrandId>,
    is_default: bool,
    is_active: bool,
}

impl NewWorkflowBuilder {
    /// Display name (required, at most 255 characters).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = v.into();
        self
    }
    /// Free text.
    pub fn description(mut self, v: impl Into<String>) -> Self {
        self.description = Some(v.into());
        self
    }
    /// Adds a step.
    pub fn step(mut self, s: WorkflowStep) -> Self {
        self.steps.push(s);
        self
    }
    /// Adds a transition.
    pub fn transition(mut self, t: WorkflowTransition) -> Self {
        self.transitions.push(t);
        self
    }
    /// How it moves (default: sequential).
    pub fn workflow_type(mut self, t: WorkflowType) -> Self {
        self.workflow_type = Some(t);
        self
    }
    /// Hours before a whole run times out (1 to 8760).
    pub fn timeout_hours(mut self, h: i32) -> Self {
        self.timeout_hours = Some(h);
        self
    }
    /// Adds an escalation rule.
    pub fn escalation(mut self, r: EscalationRule) -> Self {
        self.escalation_rules.get_or_insert_with(Vec::new).push(r);
        self
    }
    /// Adds a content type it applies to (at most 50 characters); none = every type.
    pub fn content_type(mut self, v: impl Into<String>) -> Self {
        self.content_types.push(v.into());
        self
    }
    /// Also assigns it to `brand` (besides the scope's). Only platform admins may write shared workflows.
    pub fn share_with(mut self, brand: BrandId) -> Self {
        self.shared_with.push(brand);
        self
    }
    /// Makes it the default of its brands for its content types (which must be named).
    pub fn default_for_types(mut self, v: bool) -> Self {
        self.is_default = v;
        self
    }
    /// Whether it is offered for new runs (default: yes).
    pub fn active(mut self, v: bool) -> Self {
        self.is_active = v;
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewWorkflow, ValidationErrors> {
        let def = Definition {
            name: self.name,
            description: self.description,
            steps: self.steps,
            transitions: self.transitions,
            workflow_type: self.workflow_type.unwrap_or(WorkflowType::Sequential),
            timeout_hours: self.timeout_hours,
            escalation_rules: self.escalation_rules,
            content_types: self.content_types,
        };
        let mut errors = def.check();
        if self.is_default && def.content_types.is_empty() {
            errors.push(
                "content_types",
                "a default workflow must name its content types",
            );
        }
        for (i, b) in self.shared_with.iter().enumerate() {
            if self.shared_with[..i].contains(b) {
                errors.push(format!("brand_ids[{i}]"), "is listed twice");
            }
        }
        errors.into_result()?;
        Ok(NewWorkflow {
            def,
            shared_with: self.shared_with,
            is_default: self.is_default,
            is_active: self.is_active,
        })
    }
}

/// Changes to a workflow; unset parts stay as they are. The result is validated as a whole. Defaults
/// change through [`WorkflowRepo::set_default`], not patches.
#[derive(Debug, Clone, Default)]
pub struct WorkflowPatch {
    name: Option<String>,
    description: Option<Option<String>>,
    steps: Option<Vec<WorkflowStep>>,
    transitions: Option<Vec<WorkflowTransition>>,
    workflow_type: Option<WorkflowType>,
    timeout_hours: Option<Option<i32>>,
    escalation_rules: Option<Option<Vec<EscalationRule>>>,
    content_types: Option<Vec<String>>,
    is_active: Option<bool>,
}

impl WorkflowPatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }
    /// New name.
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = Some(v.into());
        self
    }
    /// New description; `None` clears it.
    pub fn description(mut self, v: Option<String>) -> Self {
        self.description = Some(v);
        self
    }
    /// Replaces the steps.
    pub fn steps(mut self, v: Vec<WorkflowStep>) -> Self {
        self.steps = Some(v);
        self
    }
    /// Replaces the transitions.
    pub fn transitions(mut self, v: Vec<WorkflowTransition>) -> Self {
        self.transitions = Some(v);
        self
    }
    /// New type.
    pub fn workflow_type(mut self, v: WorkflowType) -> Self {
        self.workflow_type = Some(v);
        self
    }
    /// New timeout; `None` clears it.
    pub fn timeout_hours(mut self, v: Option<i32>) -> Self {
        self.timeout_hours = Some(v);
        self
    }
    /// Replaces the escalation rules; `None` clears them.
    pub fn escalation_rules(mut self, v: Option<Vec<EscalationRule>>) -> Self {
        self.escalation_rules = Some(v);
        self
    }
    /// Replaces the content types (a default keeps at least one).
    pub fn content_types(mut self, v: Vec<String>) -> Self {
        self.content_types = Some(v);
        self
    }
    /// Activates or deactivates it.
    pub fn active(mut self, v: bool) -> Self {
        self.is_active = Some(v);
        self
    }

    fn apply(self, w: &Workflow) -> (Definition, bool) {
        let def = Definition {
            name: self.name.unwrap_or_else(|| w.name.clone()),
            description: self.description.unwrap_or_else(|| w.description.clone()),
            steps: self.steps.unwrap_or_else(|| w.steps.clone()),
            transitions: self.transitions.unwrap_or_else(|| w.transitions.clone()),
            workflow_type: self.workflow_type.unwrap_or(w.workflow_type),
            timeout_hours: self.timeout_hours.unwrap_or(w.timeout_hours),
            escalation_rules: self
                .escalation_rules
                .unwrap_or_else(|| w.escalation_rules.clone()),
            content_types: self
                .content_types
                .unwrap_or_else(|| w.content_types.clone()),
        };
        (def, self.is_active.unwrap_or(w.is_active))
    }
}

/// Which workflows a list returns.
#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    /// Only workflows that apply to this content type (listing it, or listing none).
    pub content_type: Option<String>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) workflows.
    pub active: Option<bool>,
}

/// Workflow repository over one tenant scope: the workflows assigned to the scope's brand.
///
/// Members read; brand admins write workflows of their brand alone, platform admins also shared ones
/// (row-level security, 0013). A stale update is [`Error::Conflict`] on `workflows_stale_version`; a
/// second default is [`Error::Conflict`] on `workflows_one_default_per_brand_type`.
#[derive(Debug)]
pub struct WorkflowRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> WorkflowRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a workflow assigned to the scope's brand (and any brands it is shared with), created by
    /// the scope's user. Non-admins get [`Error::Forbidden`]; a default where one exists for a brand and
    /// type gets [`Error::Conflict`].
    pub async fn create(&mut self, new: &NewWorkflow) -> Result<Workflow> {
        let mut brands = vec![self.ctx.tenant_brand()];
        brands.extend(
            new.shared_with
                .iter()
                .filter(|b| **b != self.ctx.tenant_brand()),
        );
        let user = self.ctx.tenant_user();
        let d = &new.def;
        let sql = format!(
            "INSERT INTO mixerai.workflows (name, description, steps, transitions, type, timeout_hours,
                 escalation_rules, brand_ids, content_types, is_default, is_active, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING {WORKFLOW_COLUMNS}"
        );
        Ok(sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(&d.name)
            .bind(&d.description)
            .bind(Json(&d.steps))
            .bind(Json(&d.transitions))
            .bind(d.workflow_type)
            .bind(d.timeout_hours)
            .bind(d.escalation_rules.as_ref().map(Json))
            .bind(&brands)
            .bind(&d.content_types)
            .bind(new.is_default)
            .bind(new.is_active)
            .bind(user)
            .fetch_one(self.conn())
            .await?)
    }

    /// The workflow with this id, if assigned to the scope's brand; else [`Error::NotFound`].
    pub async fn get(&mut self, id: WorkflowId) -> Result<Workflow> {
        let sql = format!("SELECT {WORKFLOW_COLUMNS} FROM mixerai.workflows WHERE id = $1");
        sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "workflow" })
    }

    /// The scope's brand's workflows, newest first, one page at a time.
    pub async fn list(
        &mut self,
        filter: &WorkflowFilter,
        page: &PageRequest,
    ) -> Result<Page<Workflow>> {
        let (after_at, after_id) = page.after_key();
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM mixerai.workflows
             WHERE brand_ids @> ARRAY[$1::uuid]
               AND ($2::text IS NULL OR content_types = '{{}}' OR content_types @> ARRAY[$2::text])
               AND ($3::boolean IS NULL OR is_active = $3)
               AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
             ORDER BY created_at DESC, id DESC
             LIMIT $6"
        );
        let rows = sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(self.ctx.tenant_brand())
            .bind(&filter.content_type)
            .bind(filter.active)
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |w| {
            (w.created_at, w.id.as_uuid())
        }))
    }

    /// The active default workflow of the scope's brand for `content_type`, if there is one.
    pub async fn default_for(&mut self, content_type: &str) -> Result<Option<Workflow>> {
        let sql = format!(
            "SELECT {WORKFLOW_COLUMNS} FROM mixerai.workflows
             WHERE brand_ids @> ARRAY[$1::uuid] AND content_types @> ARRAY[$2::text] AND is_default AND is_active"
        );
        Ok(sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(self.ctx.tenant_brand())
            .bind(content_type)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Applies `patch` if the workflow is still at `expected_version`; returns it at its new version.
    /// Invalid results are [`Error::Invalid`]; a workflow changed since is [`Error::Conflict`] on
    /// `workflows_stale_version`, and nothing is written.
    pub async fn update(
        &mut self,
        id: WorkflowId,
        expected_version: i32,
        patch: WorkflowPatch,
    ) -> Result<Workflow> {
        let current = self.get(id).await?;
        if current.version != expected_version {
            return Err(stale());
        }
        let (d, is_active) = patch.apply(&current);
        let mut errors = d.check();
        if current.is_default && d.content_types.is_empty() {
            errors.push(
                "content_types",
                "a default workflow must name its content types",
            );
        }
        errors.into_result()?;
        let sql = format!(
            "UPDATE mixerai.workflows
             SET name = $3, description = $4, steps = $5, transitions = $6, type = $7, timeout_hours = $8,
                 escalation_rules = $9, content_types = $10, is_active = $11, version = version + 1
             WHERE id = $1 AND version = $2
             RETURNING {WORKFLOW_COLUMNS}"
        );
        let row = sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected_version)
            .bind(&d.name)
            .bind(&d.description)
            .bind(Json(&d.steps))
            .bind(Json(&d.transitions))
            .bind(d.workflow_type)
            .bind(d.timeout_hours)
            .bind(d.escalation_rules.as_ref().map(Json))
            .bind(&d.content_types)
            .bind(is_active)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(w) => Ok(w),
            None => Err(self.refused(id, Some(expected_version)).await),
        }
    }

    /// Makes this (active) workflow the scope's brand's default for its content types. The brand's
    /// previous default for any of those types, if this scope may write it, stops being default in the
    /// same transaction; a default it may not write (one shared with other brands) is
    /// [`Error::Conflict`] on `workflows_one_default_per_brand_type`.
    pub async fn set_default(&mut self, id: WorkflowId) -> Result<Workflow> {
        let current = self.get(id).await?;
        if current.content_types.is_empty() {
            return Err(ValidationErrors::single(
                "content_types",
                "a default workflow must name its content types",
            )
            .into());
        }
        if !current.is_active {
            return Err(ValidationErrors::single(
                "is_active",
                "an inactive workflow cannot be the default",
            )
            .into());
        }
        if current.is_default {
            return Ok(current);
        }
        // Rows the scope cannot write are skipped by row-level security; the trigger then reports the
        // clash with them.
        sqlx::query(
            "UPDATE mixerai.workflows SET is_default = false, version = version + 1
             WHERE id <> $1 AND is_default AND brand_ids @> ARRAY[$2::uuid] AND content_types && $3",
        )
        .bind(id)
        .bind(self.ctx.tenant_brand())
        .bind(&current.content_types)
        .execute(self.conn())
        .await?;
        let sql = format!(
            "UPDATE mixerai.workflows SET is_default = true, version = version + 1 WHERE id = $1 RETURNING {WORKFLOW_COLUMNS}"
        );
        let row = sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(w) => Ok(w),
            None => Err(self.refused(id, None).await),
        }
    }

    /// Stops offering the workflow for new runs (it stops being a default too); running instances
    /// keep it. Idempotent. Not visible is [`Error::NotFound`]; not writable is [`Error::Forbidden`].
    pub async fn deactivate(&mut self, id: WorkflowId) -> Result<Workflow> {
        let sql = format!(
            "UPDATE mixerai.workflows
             SET is_active = false, is_default = false, version = version + CASE WHEN is_active OR is_default THEN 1 ELSE 0 END
             WHERE id = $1 RETURNING {WORKFLOW_COLUMNS}"
        );
        let row = sqlx::query_as::<_, Workflow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(w) => Ok(w),
            None => Err(self.refused(id, None).await),
        }
    }

    /// Why an UPDATE of a visible row touched nothing: changed in between (stale), gone, or readable but
    /// not writable in this scope.
    async fn refused(&mut self, id: WorkflowId, expected_version: Option<i32>) -> Error {
        match self.get(id).await {
            Err(e) => e,
            Ok(w) if expected_version.is_some_and(|v| v != w.version) => stale(),
            Ok(_) => Error::forbidden("this workflow cannot be changed in this scope"),
        }
    }
}

fn stale() -> Error {
    Error::Conflict {
        constraint: "workflows_stale_version".to_owned(),
        field: None,
        source: None,
    }
}

#[cfg(test)]
mod tests;
