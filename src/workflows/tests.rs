use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::templates::{ConditionOperator, FieldType};

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

#[test]
fn a_two_step_sequential_workflow_builds() {
    let (a, b) = (review(1), review(2));
    let w = NewWorkflow::builder()
        .name("Legal review")
        .step(a.clone())
        .step(b.clone())
        .transition(go(&a, &b))
        .timeout_hours(48)
        .escalation(EscalationRule {
            step_id: Some(b.id),
            after_hours: 24,
            action: EscalationAction::Notify,
            to: vec!["admin".into()],
            assignment_type: Some(AssignmentType::Role),
        })
        .content_type("article")
        .default_for_types(true)
        .build()
        .unwrap();
    assert_eq!(w.def.workflow_type, WorkflowType::Sequential);
    assert!(w.is_default && w.is_active);
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
        .escalation(EscalationRule {
            step_id: Some(ghost),
            after_hours: 0,
            action: EscalationAction::Reassign,
            to: vec![],
            assignment_type: None,
        })
        .default_for_types(true)
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
    fn the_builder_builds_or_reports_without_panicking(
        steps in prop::collection::vec(any_step(), 0..4),
        links in prop::collection::vec((0usize..5, 0usize..5), 0..4),
        ty in prop::sample::select(WorkflowType::ALL.to_vec()),
        default: bool,
    ) {
        let id = |i: usize| steps.get(i).map(|s| s.id).unwrap_or_else(StepId::new);
        let mut b = NewWorkflow::builder().name("W").workflow_type(ty).default_for_types(default);
        for (from, to) in &links {
            b = b.transition(WorkflowTransition { from: id(*from), to: id(*to), on: None, condition: None });
        }
        for s in &steps {
            b = b.step(s.clone());
        }
        match b.build() {
            Ok(w) => {
                prop_assert!(!w.def.steps.is_empty());
                prop_assert!(w.def.transitions.iter().all(|t| t.from != t.to));
                prop_assert!(ty != WorkflowType::Conditional);
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
