//! What a caller hands in: the raw input, the create and patch builders over it, the one parse, the
//! check of a workflow as a whole (its parts must agree), and the list filter.

use std::convert::Infallible;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{
    AssignmentType, EscalationAction, EscalationRule, StepAction, StepId, StepType, Workflow,
    WorkflowStep, WorkflowTransition, WorkflowType,
};
use crate::ValidationErrors;
use crate::brands::BrandRole;
use crate::input::{Mode, Parser, input};
use crate::templates::{check_fields, check_list};
use crate::types::{BrandId, no_nul, non_blank};

/// The most steps one workflow may have.
pub const MAX_STEPS: usize = 100;

/// The longest timeout, of a run, a step or an escalation: a year, in hours.
pub const MAX_HOURS: i32 = 8760;

/// A validated new workflow; build one with [`NewWorkflow::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkflow {
    pub(crate) values: WorkflowValues,
}

impl NewWorkflow {
    /// Starts a builder; [`NewWorkflowBuilder::build`] reports every problem at once.
    pub fn builder() -> NewWorkflowBuilder {
        NewWorkflowBuilder::default()
    }

    /// The steps, as they will be stored.
    pub fn steps(&self) -> &[WorkflowStep] {
        self.values.steps.as_deref().unwrap_or_default()
    }

    /// The transitions, as they will be stored.
    pub fn transitions(&self) -> &[WorkflowTransition] {
        self.values.transitions.as_deref().unwrap_or_default()
    }
}

/// A validated change to a workflow: only what was set is written, and a patch that sets nothing
/// writes nothing. Build one with [`WorkflowPatch::builder`]; apply it with
/// [`WorkflowRepo::update`](super::WorkflowRepo::update), which also checks the workflow as the patch
/// would leave it (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowPatch {
    pub(crate) values: WorkflowValues,
}

impl WorkflowPatch {
    /// Starts a builder; [`WorkflowPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> WorkflowPatchBuilder {
        WorkflowPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether the patch replaces a part that must agree with the others (steps, transitions, type,
    /// escalation rules, content types), which only the stored workflow can complete.
    pub(super) fn needs_whole_check(&self) -> bool {
        let v = &self.values;
        v.steps.is_some()
            || v.transitions.is_some()
            || v.workflow_type.is_some()
            || v.escalation_rules.is_some()
            || v.content_types.is_some()
    }

    /// Checks the workflow as this patch would leave it: transitions and escalations name its steps,
    /// conditions sit only in a conditional workflow (which has one), a default names its types. Every
    /// problem is reported together.
    pub(super) fn check_whole(&self, current: &Workflow) -> Result<(), ValidationErrors> {
        let v = &self.values;
        let is_active = v.is_active.unwrap_or(current.is_active);
        let escalation_rules = match &v.escalation_rules {
            Some(rules) => rules.as_deref(),
            None => current.escalation_rules.as_deref(),
        };
        let mut errors = ValidationErrors::new();
        Whole {
            steps: Some(v.steps.as_deref().unwrap_or(&current.steps)),
            transitions: Some(v.transitions.as_deref().unwrap_or(&current.transitions)),
            workflow_type: Some(v.workflow_type.unwrap_or(current.workflow_type)),
            escalation_rules: Some(escalation_rules.unwrap_or_default()),
            // Deactivating ends a default (the repository writes that too).
            is_default: Some(current.is_default && is_active),
            content_types: Some(v.content_types.as_deref().unwrap_or(&current.content_types)),
        }
        .check(&mut errors);
        errors.into_result()
    }
}

/// Raw input for a [`NewWorkflow`]. Nothing is checked until [`build`](Self::build). Deserialises
/// from the JSON of a [`WorkflowInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewWorkflowBuilder(WorkflowInput);

/// Raw input for a [`WorkflowPatch`]: every setter replaces that part of the workflow; unset parts
/// stay. Deserialises from the JSON of a [`WorkflowInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkflowPatchBuilder(WorkflowInput);

input! {
    /// The raw input of a workflow, shared by [`NewWorkflowBuilder`] and [`WorkflowPatchBuilder`]:
    /// every field optional, as a request carries it.
    pub struct WorkflowInput;
    builders NewWorkflowBuilder, WorkflowPatchBuilder;
    values WorkflowValues, columns workflow_input_columns;
    fields {
        /// Display name (required on create, not blank, at most 255 characters).
        name "name": value String => String, name maybe_name;
        /// Free text.
        description "description": nullable String => String, description maybe_description clear_description;
        /// The steps, replaced whole (1 to 100; distinct ids and orders).
        steps "steps": list WorkflowStep => Vec<WorkflowStep>, steps maybe_steps step;
        /// The moves between steps, replaced whole (each between two steps of the workflow).
        transitions "transitions": list WorkflowTransition => Vec<WorkflowTransition>, transitions maybe_transitions transition;
        /// How it moves through its steps (default: sequential).
        workflow_type "type" json "type": value WorkflowType => WorkflowType, workflow_type maybe_workflow_type;
        /// Hours before a whole run times out (1 to 8760).
        timeout_hours "timeout_hours": nullable i32 => i32, timeout_hours maybe_timeout_hours clear_timeout_hours;
        /// What happens when steps wait too long, replaced whole; an empty list is stored as none.
        escalation_rules "escalation_rules": nullable Vec<EscalationRule> => Vec<EscalationRule>, escalation_rules maybe_escalation_rules clear_escalation_rules;
        /// The content types it applies to, each at most 50 characters (default: none, which is
        /// every type; a default workflow must name at least one).
        content_types "content_types": list String => Vec<String>, content_types maybe_content_types content_type;
        /// Whether it is the default of its brands for its content types (create only; default: no).
        /// An existing workflow becomes the default through
        /// [`WorkflowRepo::set_default`](super::WorkflowRepo::set_default).
        is_default "is_default": value bool => bool, is_default maybe_is_default;
        /// Whether it is offered for new runs (default: yes). Deactivating a workflow is a patch
        /// setting this to `false`; it also stops being a default, and running instances keep it.
        is_active "is_active": value bool => bool, is_active maybe_is_active;
        /// Brands it is also assigned to, besides the scope's (create only). Only platform admins may
        /// write a workflow shared with other brands.
        shared_with "brand_ids": list BrandId => Vec<BrandId>, shared_with maybe_shared_with share_with;
    }
}

impl NewWorkflowBuilder {
    /// Validates every field, and the parts against each other, returning all problems together.
    pub fn build(self) -> Result<NewWorkflow, ValidationErrors> {
        Ok(NewWorkflow {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl WorkflowPatchBuilder {
    /// Validates every field that was set, and those of them that must agree, returning all problems
    /// together. Parts that must agree with what the patch leaves as stored are checked by
    /// [`WorkflowRepo::update`](super::WorkflowRepo::update).
    pub fn build(self) -> Result<WorkflowPatch, ValidationErrors> {
        Ok(WorkflowPatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a workflow input, for a create (required fields, defaults) or a patch.
fn parse(input: &WorkflowInput, mode: Mode) -> Result<WorkflowValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let name = p.required("name", &input.name, |n| owned(non_blank(n, 255)));
    let description = p.nullable("description", &input.description, |d| owned(no_nul(d)));
    let steps = list(&mut p, &input.steps, check_steps);
    if mode == Mode::Create && input.steps.is_none() {
        p.push("steps", "a workflow needs at least one step");
    }
    let transitions = list(&mut p, &input.transitions, check_transitions);
    let workflow_type = p.defaulted(
        "type",
        &input.workflow_type,
        || WorkflowType::Sequential,
        |t| ok(*t),
    );
    let timeout_hours = p.nullable("timeout_hours", &input.timeout_hours, |h| hours(*h));
    let escalation_rules = match &input.escalation_rules {
        Some(Some(rules)) => {
            check_escalations(&mut p.errors, rules);
            Some((!rules.is_empty()).then(|| rules.clone()))
        }
        Some(None) => Some(None),
        None => (mode == Mode::Create).then_some(None),
    };
    let content_types = list(&mut p, &input.content_types, |errors, types| {
        check_list(errors, "content_types", types, 50)
    });
    let is_default = match mode {
        Mode::Create => p.defaulted("is_default", &input.is_default, || false, |d| ok(*d)),
        Mode::Patch => {
            if input.is_default.is_some() {
                p.push(
                    "is_default",
                    "changes through set_default, or ends by deactivating",
                );
            }
            None
        }
    };
    let is_active = p.defaulted("is_active", &input.is_active, || true, |a| ok(*a));
    let shared_with = match mode {
        Mode::Create => list(&mut p, &input.shared_with, |errors, brands| {
            for (i, b) in brands.iter().enumerate() {
                if brands[..i].contains(b) {
                    errors.push(format!("shared_with[{i}]"), "is listed twice");
                }
            }
        }),
        Mode::Patch => {
            if input.shared_with.is_some() {
                p.push("shared_with", "cannot be changed after creation");
            }
            None
        }
    };
    // The parts that must agree are checked together wherever they are all known here: always on
    // create, and for a patch that sets them all; the repository checks the rest against the stored
    // workflow.
    Whole {
        steps: steps.as_deref(),
        transitions: transitions.as_deref(),
        workflow_type,
        escalation_rules: escalation_rules
            .as_ref()
            .map(|r| r.as_deref().unwrap_or_default()),
        is_default,
        content_types: content_types.as_deref(),
    }
    .check(&mut p.errors);
    p.finish(WorkflowValues {
        name,
        description,
        steps,
        transitions,
        workflow_type,
        timeout_hours,
        escalation_rules,
        content_types,
        is_default,
        is_active,
        shared_with,
    })
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

fn ok<T>(v: T) -> Result<T, Infallible> {
    Ok(v)
}

/// A list field: checked with `check` when set; unset in a patch is `None`, unset on create is empty.
fn list<T: Clone>(
    p: &mut Parser,
    raw: &Option<Vec<T>>,
    check: impl FnOnce(&mut ValidationErrors, &[T]),
) -> Option<Vec<T>> {
    match raw {
        Some(items) => {
            check(&mut p.errors, items);
            Some(items.clone())
        }
        None => (p.mode == Mode::Create).then(Vec::new),
    }
}

fn hours(h: i32) -> Result<i32, String> {
    if (1..=MAX_HOURS).contains(&h) {
        Ok(h)
    } else {
        Err(format!("must be between 1 and {MAX_HOURS} hours"))
    }
}

fn check_hours(errors: &mut ValidationErrors, path: &str, h: Option<i32>) {
    if let Some(h) = h {
        errors.check(path, hours(h));
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

/// Each step on its own, and the steps among themselves: distinct ids and orders.
fn check_steps(errors: &mut ValidationErrors, steps: &[WorkflowStep]) {
    if steps.is_empty() {
        errors.push("steps", "a workflow needs at least one step");
    }
    if steps.len() > MAX_STEPS {
        errors.push("steps", format!("has more than {MAX_STEPS} steps"));
    }
    for (i, s) in steps.iter().enumerate() {
        let at = |what: &str| format!("steps[{i}].{what}");
        if steps[..i].iter().any(|o| o.id == s.id) {
            errors.push(at("id"), "is used by another step");
        }
        if s.id.as_uuid().is_nil() {
            errors.push(at("id"), "must not be the nil UUID");
        }
        errors.check(&at("name"), non_blank(&s.name, 255));
        if steps[..i].iter().any(|o| o.order == s.order) {
            errors.push(at("order"), "is used by another step");
        }
        let needs_assignees = matches!(s.step_type, StepType::Review | StepType::Approval);
        if needs_assignees && s.assignees.is_empty() {
            errors.push(at("assignees"), "a review or approval step needs assignees");
        }
        check_assignees(errors, &at("assignees"), s.assignment_type, &s.assignees);
        if s.require_all_approvals && !needs_assignees {
            errors.push(
                at("requireAllApprovals"),
                "applies only to review and approval steps",
            );
        }
        if let Some(n) = s.min_approvals {
            if !needs_assignees {
                errors.push(
                    at("minApprovals"),
                    "applies only to review and approval steps",
                );
            } else if s.require_all_approvals {
                errors.push(
                    at("minApprovals"),
                    "cannot be combined with requireAllApprovals",
                );
            } else if !(1..=MAX_STEPS as i32).contains(&n) {
                errors.push(at("minApprovals"), format!("must be 1 to {MAX_STEPS}"));
            } else if s.assignment_type == AssignmentType::User && n as usize > s.assignees.len() {
                errors.push(at("minApprovals"), "is more than the step's assignees");
            }
        }
        if s.required && s.allow_skip {
            errors.push(at("allowSkip"), "a required step cannot be skipped");
        }
        check_hours(errors, &at("timeoutHours"), s.timeout_hours);
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
        check_fields(errors, &at("formFields"), &s.form_fields);
        if let Some(text) = &s.instructions {
            errors.check(&at("instructions"), no_nul(text));
        }
    }
}

/// Each transition on its own, and the transitions among themselves: no repeats.
fn check_transitions(errors: &mut ValidationErrors, transitions: &[WorkflowTransition]) {
    for (i, t) in transitions.iter().enumerate() {
        let at = |what: &str| format!("transitions[{i}].{what}");
        if t.from == t.to {
            errors.push(at("to"), "a step cannot transition to itself");
        }
        if transitions[..i]
            .iter()
            .any(|o| o.from == t.from && o.to == t.to && o.on == t.on)
        {
            errors.push(at("to"), "repeats another transition");
        }
        if let Some(c) = &t.condition {
            c.check_shape(errors, &at("condition"));
            errors.check(&at("condition.field"), non_blank(&c.field, 100));
        }
    }
}

/// Each escalation rule on its own.
fn check_escalations(errors: &mut ValidationErrors, rules: &[EscalationRule]) {
    for (i, r) in rules.iter().enumerate() {
        let at = |what: &str| format!("escalation_rules[{i}].{what}");
        check_hours(errors, &at("afterHours"), Some(r.after_hours));
        let needs_to = matches!(
            r.action,
            EscalationAction::Notify | EscalationAction::Reassign
        );
        match (&r.assignment_type, r.to.is_empty()) {
            (_, true) if needs_to => {
                errors.push(at("to"), "notify and reassign need someone to escalate to")
            }
            (None, false) => errors.push(at("assignmentType"), "is required with to"),
            (Some(kind), false) => check_assignees(errors, &at("to"), *kind, &r.to),
            _ => {}
        }
        if !needs_to && !r.to.is_empty() {
            errors.push(at("to"), "applies only to notify and reassign");
        }
    }
}

/// The parts of a workflow that must agree with each other, as far as they are known: each rule is
/// checked when every part it relates is.
struct Whole<'a> {
    steps: Option<&'a [WorkflowStep]>,
    transitions: Option<&'a [WorkflowTransition]>,
    workflow_type: Option<WorkflowType>,
    escalation_rules: Option<&'a [EscalationRule]>,
    is_default: Option<bool>,
    content_types: Option<&'a [String]>,
}

impl Whole<'_> {
    fn check(&self, errors: &mut ValidationErrors) {
        let step_exists = |steps: &[WorkflowStep], id: &StepId| steps.iter().any(|s| &s.id == id);
        if let (Some(steps), Some(transitions)) = (self.steps, self.transitions) {
            for (i, t) in transitions.iter().enumerate() {
                if !step_exists(steps, &t.from) {
                    errors.push(
                        format!("transitions[{i}].from"),
                        "names no step of this workflow",
                    );
                }
                if !step_exists(steps, &t.to) {
                    errors.push(
                        format!("transitions[{i}].to"),
                        "names no step of this workflow",
                    );
                }
            }
        }
        if let (Some(ty), Some(transitions)) = (self.workflow_type, self.transitions) {
            for (i, t) in transitions.iter().enumerate() {
                if t.condition.is_some() && ty != WorkflowType::Conditional {
                    errors.push(
                        format!("transitions[{i}].condition"),
                        "only conditional workflows have conditions",
                    );
                }
            }
            if ty == WorkflowType::Conditional && !transitions.iter().any(|t| t.condition.is_some())
            {
                errors.push(
                    "transitions",
                    "a conditional workflow needs at least one transition with a condition",
                );
            }
        }
        if let (Some(steps), Some(rules)) = (self.steps, self.escalation_rules) {
            for (i, r) in rules.iter().enumerate() {
                if r.step_id.is_some_and(|id| !step_exists(steps, &id)) {
                    errors.push(
                        format!("escalation_rules[{i}].stepId"),
                        "names no step of this workflow",
                    );
                }
            }
        }
        if let (Some(true), Some(types)) = (self.is_default, self.content_types)
            && types.is_empty()
        {
            errors.push(
                "content_types",
                "a default workflow must name its content types",
            );
        }
    }
}

/// Which workflows [`WorkflowRepo::list`](super::WorkflowRepo::list) returns: every set condition must
/// hold. Deserialises from a request's query or body. Workflows are never soft-deleted, so there is no
/// `deleted`; an inactive workflow is found with `is_active: Some(false)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowFilter {
    /// Only workflows that apply to this content type (listing it, or listing none).
    pub content_type: Option<String>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) workflows.
    pub is_active: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::{Condition, ConditionOperator, FieldType, TemplateField};
    use chrono::Utc;
    use proptest::prelude::*;
    use serde_json::json;

    fn review(order: i32) -> WorkflowStep {
        WorkflowStep {
            assignees: vec!["editor".into()],
            actions: vec![StepAction::Approve, StepAction::RequestChanges],
            ..WorkflowStep::new(format!("Review {order}"), StepType::Review, order)
        }
    }

    fn go(from: &WorkflowStep, to: &WorkflowStep) -> WorkflowTransition {
        WorkflowTransition {
            from: from.id,
            to: to.id,
            on: Some(StepAction::Approve),
            condition: None,
        }
    }

    fn stored(steps: Vec<WorkflowStep>, transitions: Vec<WorkflowTransition>) -> Workflow {
        Workflow {
            id: crate::types::WorkflowId::new(),
            name: "W".into(),
            description: None,
            steps,
            transitions,
            workflow_type: WorkflowType::Sequential,
            timeout_hours: None,
            escalation_rules: None,
            brand_ids: vec![],
            content_types: vec!["article".into()],
            is_default: true,
            is_active: true,
            version: 1,
            created_by: crate::types::UserId::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_two_step_sequential_workflow_builds() {
        let (a, b) = (review(1), review(2));
        let w = NewWorkflow::builder()
            .name("Legal review")
            .step(a.clone())
            .step(b.clone())
            .transition(go(&a, &b))
            .timeout_hours(48)
            .escalation_rules([EscalationRule {
                step_id: Some(b.id),
                after_hours: 24,
                action: EscalationAction::Notify,
                to: vec!["admin".into()],
                assignment_type: Some(AssignmentType::Role),
            }])
            .content_type("article")
            .is_default(true)
            .build()
            .unwrap();
        assert_eq!(w.values.workflow_type, Some(WorkflowType::Sequential));
        assert_eq!(
            (w.values.is_default, w.values.is_active),
            (Some(true), Some(true))
        );
        assert_eq!(w.steps(), [a, b]);
    }

    #[test]
    fn the_builder_reports_every_problem_at_once() {
        let a = review(1);
        let dup = WorkflowStep {
            id: a.id,
            name: " ".into(),
            assignees: vec![],
            timeout_hours: Some(0),
            required: true,
            allow_skip: true,
            ..WorkflowStep::new("x", StepType::Approval, 1)
        };
        let users = WorkflowStep {
            assignment_type: AssignmentType::User,
            assignees: vec!["not-a-uuid".into()],
            actions: vec![StepAction::Reject, StepAction::Reject],
            require_all_approvals: true,
            ..WorkflowStep::new("Notify", StepType::Notification, 3)
        };
        let ghost = StepId::new();
        let brand = BrandId::new();
        let err = NewWorkflow::builder()
            .name("")
            .step(a.clone())
            .step(dup)
            .step(users.clone())
            .transition(WorkflowTransition {
                from: a.id,
                to: a.id,
                on: None,
                condition: None,
            })
            .transition(WorkflowTransition {
                from: ghost,
                to: users.id,
                on: None,
                condition: Some(Condition {
                    field: "kind".into(),
                    operator: ConditionOperator::Equals,
                    value: json!("video"),
                }),
            })
            .timeout_hours(-1)
            .escalation_rules([EscalationRule {
                step_id: Some(ghost),
                after_hours: 0,
                action: EscalationAction::Reassign,
                to: vec![],
                assignment_type: None,
            }])
            .is_default(true)
            .shared_with([brand, brand])
            .build()
            .unwrap_err();
        let mut got: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        got.sort();
        let mut expected = vec![
            "name",
            "timeout_hours",
            "steps[1].id",
            "steps[1].name",
            "steps[1].order",
            "steps[1].assignees",
            "steps[1].allowSkip",
            "steps[1].timeoutHours",
            "steps[2].assignees[0]",
            "steps[2].requireAllApprovals",
            "steps[2].actions[1]",
            "transitions[0].to",
            "transitions[1].from",
            "transitions[1].condition",
            "escalation_rules[0].stepId",
            "escalation_rules[0].afterHours",
            "escalation_rules[0].to",
            "content_types",
            "shared_with[1]",
        ];
        expected.sort();
        assert_eq!(got, expected, "{err}");
    }

    #[test]
    fn a_workflow_needs_steps() {
        let err = NewWorkflow::builder().name("Empty").build().unwrap_err();
        assert_eq!(
            err.get("steps").unwrap().reason,
            "a workflow needs at least one step"
        );
        let err = WorkflowPatch::builder()
            .steps(Vec::<WorkflowStep>::new())
            .build()
            .unwrap_err();
        assert!(err.get("steps").is_some(), "{err}");
    }

    #[test]
    fn a_conditional_workflow_needs_a_conditional_transition() {
        let (a, b) = (review(1), review(2));
        let err = NewWorkflow::builder()
            .name("Branching")
            .workflow_type(WorkflowType::Conditional)
            .step(a.clone())
            .step(b.clone())
            .transition(go(&a, &b))
            .build()
            .unwrap_err();
        assert!(err.get("transitions").is_some(), "{err}");
        let ok = NewWorkflow::builder()
            .name("Branching")
            .workflow_type(WorkflowType::Conditional)
            .step(a.clone())
            .step(b.clone())
            .transition(WorkflowTransition {
                condition: Some(Condition {
                    field: "kind".into(),
                    operator: ConditionOperator::In,
                    value: json!(["video"]),
                }),
                ..go(&a, &b)
            })
            .build();
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn assignees_are_checked_by_assignment_type() {
        let step = |kind, who: &str| WorkflowStep {
            assignment_type: kind,
            assignees: vec![who.into()],
            ..WorkflowStep::new("S", StepType::Approval, 1)
        };
        let build = |s| NewWorkflow::builder().name("W").step(s).build();
        assert!(build(step(AssignmentType::User, &Uuid::new_v4().to_string())).is_ok());
        assert!(build(step(AssignmentType::Role, "admin")).is_ok());
        assert!(build(step(AssignmentType::Role, "owner")).is_err());
        assert!(build(step(AssignmentType::Group, "legal")).is_ok());
        assert!(build(step(AssignmentType::Dynamic, " ")).is_err());
    }

    #[test]
    fn n_of_m_approvals_fit_the_step() {
        let users: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
        let step = |ty, n, all| WorkflowStep {
            assignment_type: AssignmentType::User,
            assignees: users.clone(),
            min_approvals: Some(n),
            require_all_approvals: all,
            ..WorkflowStep::new("S", ty, 1)
        };
        let refused = |s| {
            NewWorkflow::builder()
                .name("W")
                .step(s)
                .build()
                .unwrap_err()
                .get("steps[0].minApprovals")
                .is_some()
        };
        assert!(
            NewWorkflow::builder()
                .name("W")
                .step(step(StepType::Approval, 2, false))
                .build()
                .is_ok()
        );
        assert!(
            refused(step(StepType::Approval, 4, false)),
            "more than the assignees"
        );
        assert!(refused(step(StepType::Approval, 0, false)));
        assert!(
            refused(step(StepType::Approval, 2, true)),
            "with requireAllApprovals"
        );
        assert!(refused(step(StepType::Notification, 1, false)));
    }

    #[test]
    fn form_fields_are_checked_like_template_fields() {
        let s = WorkflowStep {
            form_fields: vec![TemplateField::new("Bad Name", "Label", FieldType::Text)],
            ..review(1)
        };
        let err = NewWorkflow::builder()
            .name("W")
            .step(s)
            .build()
            .unwrap_err();
        assert!(err.get("steps[0].formFields[0].name").is_some(), "{err}");
    }

    #[test]
    fn stored_json_uses_the_specs_camel_case_names() {
        let s = review(1);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["type"], "review");
        assert_eq!(v["assignmentType"], "role");
        assert_eq!(v["allowSkip"], false);
        assert_eq!(v["requireAllApprovals"], false);
        assert_eq!(v["actions"], json!(["approve", "request_changes"]));
    }

    #[test]
    fn an_empty_patch_builds_and_writes_nothing() {
        let patch = WorkflowPatch::builder().build().unwrap();
        assert!(patch.is_empty() && !patch.needs_whole_check());
        assert_eq!(serde_json::to_value(&patch.values).unwrap(), json!({}));
    }

    #[test]
    fn a_create_writes_every_input_column_and_a_patch_only_what_is_set() {
        let new = NewWorkflow::builder()
            .name("W")
            .step(review(1))
            .build()
            .unwrap();
        let record = serde_json::to_value(&new.values).unwrap();
        let mut keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut columns: Vec<&str> = workflow_input_columns!().split(", ").collect();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(record["escalation_rules"], serde_json::Value::Null);
        assert_eq!(record["type"], "sequential");

        let patch = WorkflowPatch::builder()
            .clear_timeout_hours()
            .escalation_rules(Vec::<EscalationRule>::new())
            .is_active(false)
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            json!({"timeout_hours": null, "escalation_rules": null, "is_active": false})
        );
    }

    #[test]
    fn a_patch_cannot_make_a_default_or_change_the_sharing() {
        let err = WorkflowPatch::builder()
            .is_default(true)
            .share_with(BrandId::new())
            .build()
            .unwrap_err();
        assert!(
            err.get("is_default").is_some() && err.get("shared_with").is_some(),
            "{err}"
        );
    }

    #[test]
    fn a_patch_checks_the_parts_it_sets_together_and_the_rest_against_the_stored_workflow() {
        let (a, b) = (review(1), review(2));
        // Steps and transitions set together are checked together, before any round trip.
        let err = WorkflowPatch::builder()
            .step(a.clone())
            .transition(go(&a, &b))
            .build()
            .unwrap_err();
        assert_eq!(
            err.get("transitions[0].to").unwrap().reason,
            "names no step of this workflow"
        );
        // Only the steps: the stored transitions and the default's types are checked against them.
        let current = stored(vec![a.clone(), b.clone()], vec![go(&a, &b)]);
        let patch = WorkflowPatch::builder()
            .steps([a.clone()])
            .content_types(Vec::<String>::new())
            .build()
            .unwrap();
        assert!(patch.needs_whole_check());
        let err = patch.check_whole(&current).unwrap_err();
        let mut got: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        got.sort();
        assert_eq!(got, ["content_types", "transitions[0].to"], "{err}");
        // Deactivating ends the default, so it may drop its types at the same time.
        let off = WorkflowPatch::builder()
            .content_types(Vec::<String>::new())
            .is_active(false)
            .build()
            .unwrap();
        assert_eq!(off.check_whole(&current), Ok(()));
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let step = review(1);
        let brand = BrandId::new();
        let json = json!({
            "name": "Legal",
            "steps": [step],
            "type": "parallel",
            "timeout_hours": 24,
            "content_types": ["article"],
            "is_default": true,
            "shared_with": [brand],
        });
        let from_json: NewWorkflowBuilder = serde_json::from_value(json).unwrap();
        let by_setters = NewWorkflow::builder()
            .name("Legal")
            .step(step)
            .workflow_type(WorkflowType::Parallel)
            .timeout_hours(24)
            .content_type("article")
            .is_default(true)
            .share_with(brand);
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let patch: WorkflowPatchBuilder =
            serde_json::from_str(r#"{"escalation_rules": null, "is_active": false}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            WorkflowPatch::builder()
                .clear_escalation_rules()
                .is_active(false)
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<WorkflowPatchBuilder>(r#"{"nmae": "typo"}"#).is_err());
        let filter: WorkflowFilter =
            serde_json::from_str(r#"{"content_type": "article", "is_active": false}"#).unwrap();
        assert_eq!(filter.is_active, Some(false));
    }

    prop_compose! {
        fn any_step()(
            name in ".{0,4}",
            ty in prop::sample::select(StepType::ALL.to_vec()),
            kind in prop::sample::select(AssignmentType::ALL.to_vec()),
            assignees in prop::collection::vec(prop_oneof![Just("admin".to_owned()), ".{0,3}"], 0..3),
            order in 0i32..4,
            timeout in prop::option::of(-2i32..10_000),
            skip: bool, required: bool, all: bool,
        ) -> WorkflowStep {
            WorkflowStep {
                assignment_type: kind,
                assignees,
                timeout_hours: timeout,
                allow_skip: skip,
                required,
                require_all_approvals: all,
                ..WorkflowStep::new(name, ty, order)
            }
        }
    }

    proptest! {
        #[test]
        fn the_builders_build_or_report_without_panicking(
            steps in prop::collection::vec(any_step(), 0..4),
            links in prop::collection::vec((0usize..5, 0usize..5), 0..4),
            ty in prop::sample::select(WorkflowType::ALL.to_vec()),
            default: bool,
        ) {
            let id = |i: usize| steps.get(i).map(|s| s.id).unwrap_or_else(StepId::new);
            let mut b = NewWorkflow::builder().name("W").workflow_type(ty).is_default(default);
            let mut p = WorkflowPatch::builder().workflow_type(ty);
            for (from, to) in &links {
                let t = WorkflowTransition { from: id(*from), to: id(*to), on: None, condition: None };
                b = b.transition(t.clone());
                p = p.transition(t);
            }
            for s in &steps {
                b = b.step(s.clone());
            }
            match b.build() {
                Ok(w) => {
                    prop_assert!(!w.steps().is_empty());
                    prop_assert!(w.transitions().iter().all(|t| t.from != t.to));
                    prop_assert!(w.transitions().iter().all(|t| w.steps().iter().any(|s| s.id == t.to)));
                    prop_assert!(ty != WorkflowType::Conditional);
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            match p.build() {
                Ok(p) => prop_assert!(p.needs_whole_check()),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
