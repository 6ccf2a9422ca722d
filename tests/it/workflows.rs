//! Integration tests of the `workflows` module's repository, run as `mixerai_app` through scopes.

use std::sync::Arc;

use mixerai_data::templates::{Condition, ConditionOperator};
use mixerai_data::types::WorkflowId;
use mixerai_data::workflows::{
    AssignmentType, EscalationAction, EscalationRule, NewWorkflow, StepAction, StepType,
    WorkflowFilter, WorkflowPatch, WorkflowStep, WorkflowTransition, WorkflowType,
};
use mixerai_data::{Error, PageRequest};
use serde_json::json;
use tokio::sync::Barrier;

use crate::support::pool;
use crate::templates::Tenants;

fn steps() -> (WorkflowStep, WorkflowStep) {
    let review = WorkflowStep {
        assignees: vec!["editor".into()],
        actions: vec![StepAction::Approve, StepAction::RequestChanges],
        timeout_hours: Some(24),
        instructions: Some("Check the claims".into()),
        ..WorkflowStep::new("Review", StepType::Review, 1)
    };
    let approve = WorkflowStep {
        assignees: vec!["admin".into()],
        actions: vec![StepAction::Approve, StepAction::Reject],
        require_all_approvals: true,
        ..WorkflowStep::new("Approve", StepType::Approval, 2)
    };
    (review, approve)
}

fn workflow(name: &str, content_type: &str, default: bool) -> NewWorkflow {
    let (review, approve) = steps();
    NewWorkflow::builder()
        .name(name)
        .description("Two eyes, then a decision")
        .transition(WorkflowTransition {
            from: review.id,
            to: approve.id,
            on: Some(StepAction::Approve),
            condition: None,
        })
        .transition(WorkflowTransition {
            from: approve.id,
            to: review.id,
            on: Some(StepAction::Reject),
            condition: None,
        })
        .step(review)
        .step(approve.clone())
        .timeout_hours(72)
        .escalation_rules([EscalationRule {
            step_id: Some(approve.id),
            after_hours: 48,
            action: EscalationAction::Reassign,
            to: vec!["admin".into()],
            assignment_type: Some(AssignmentType::Role),
        }])
        .content_type(content_type)
        .is_default(default)
        .build()
        .unwrap()
}

fn is_conflict(err: &Error, name: &str) -> bool {
    matches!(err, Error::Conflict { constraint, .. } if constraint == name)
}

const ONE_DEFAULT: &str = "workflows_one_default_per_brand_type";

fn rename(name: &str) -> WorkflowPatch {
    WorkflowPatch::builder().name(name).build().unwrap()
}

fn deactivate() -> WorkflowPatch {
    WorkflowPatch::builder().is_active(false).build().unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_workflow_that_reads_back_unchanged() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let created = scope
        .workflows()
        .create(&workflow("Legal", "article", true))
        .await
        .unwrap();
    assert_eq!(created.brand_ids, vec![t.a]);
    assert_eq!(created.created_by, t.admin);
    assert_eq!(created.workflow_type, WorkflowType::Sequential);
    assert_eq!(
        (created.version, created.is_default, created.is_active),
        (1, true, true)
    );
    assert_eq!(created.steps.len(), 2);
    assert_eq!(created.transitions.len(), 2);
    assert_eq!(created.escalation_rules.as_ref().map(Vec::len), Some(1));
    assert_eq!(scope.workflows().get(created.id).await.unwrap(), created);
    assert_eq!(
        scope.workflows().default_for("article").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(scope.workflows().default_for("video").await.unwrap(), None);
}

#[tokio::test]
async fn only_admins_write_workflows() {
    let t = Tenants::new().await;
    for user in [t.editor, t.viewer] {
        let mut scope = t.database().scope(user, t.a).await.unwrap();
        let err = scope
            .workflows()
            .create(&workflow("W", "article", false))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let created = scope
        .workflows()
        .create(&workflow("W", "article", false))
        .await
        .unwrap();
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    assert_eq!(
        scope.workflows().get(created.id).await.unwrap().id,
        created.id
    );
    let err = scope
        .workflows()
        .update(created.id, 1, &rename("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    for call in 0..2 {
        let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
        let err = if call == 0 {
            scope
                .workflows()
                .set_default(created.id, 1)
                .await
                .unwrap_err()
        } else {
            scope
                .workflows()
                .update(created.id, 1, &deactivate())
                .await
                .unwrap_err()
        };
        assert!(matches!(err, Error::Forbidden { .. }), "{call}: {err:?}");
    }
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    assert_eq!(scope.workflows().get(created.id).await.unwrap(), created);
}

#[tokio::test]
async fn a_second_default_for_a_brand_and_type_is_a_conflict() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    scope
        .workflows()
        .create(&workflow("First", "article", true))
        .await
        .unwrap();
    // Another type, or a non-default, is fine.
    scope
        .workflows()
        .create(&workflow("Video", "video", true))
        .await
        .unwrap();
    scope
        .workflows()
        .create(&workflow("Spare", "article", false))
        .await
        .unwrap();
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let err = scope
        .workflows()
        .create(&workflow("Second", "article", true))
        .await
        .unwrap_err();
    assert!(is_conflict(&err, ONE_DEFAULT), "{err:?}");
    assert!(
        matches!(&err, Error::Conflict { field: Some(f), .. } if f == "is_default"),
        "{err:?}"
    );
    drop(scope);

    // Another brand has its own default.
    let mut scope = t.database().scope(t.editor_b, t.b).await.unwrap();
    scope
        .workflows()
        .create(&workflow("B's", "article", true))
        .await
        .unwrap();
    scope.commit().await.unwrap();
}

#[tokio::test]
async fn of_two_concurrent_defaults_for_one_brand_and_type_exactly_one_is_created() {
    let t = Arc::new(Tenants::new().await);
    let barrier = Arc::new(Barrier::new(2));
    let mut tasks = Vec::new();
    for name in ["Left", "Right"] {
        let (t, barrier) = (t.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
            barrier.wait().await;
            let created = scope
                .workflows()
                .create(&workflow(name, "article", true))
                .await;
            // Hold the transaction open so the other insert overlaps it.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            match created {
                Ok(w) => scope.commit().await.map(|()| w),
                Err(e) => Err(e),
            }
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let err = results.into_iter().find_map(Result::err).unwrap();
    assert!(is_conflict(&err, ONE_DEFAULT), "{err:?}");
    let defaults: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.workflows WHERE is_default AND is_active")
            .fetch_one(pool(&t.db))
            .await
            .unwrap();
    assert_eq!(defaults, 1);
}

#[tokio::test]
async fn set_default_replaces_the_brands_previous_default_for_the_type() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let old = scope
        .workflows()
        .create(&workflow("Old", "article", true))
        .await
        .unwrap();
    let new = scope
        .workflows()
        .create(&workflow("New", "article", false))
        .await
        .unwrap();
    let made = scope.workflows().set_default(new.id, 1).await.unwrap();
    assert!(made.is_default);
    assert_eq!(made.version, 2);
    let old_now = scope.workflows().get(old.id).await.unwrap();
    assert!(!old_now.is_default);
    assert_eq!(
        old_now.version, 2,
        "a change of default is a change: the token moves"
    );
    assert_eq!(
        scope
            .workflows()
            .default_for("article")
            .await
            .unwrap()
            .map(|w| w.id),
        Some(new.id)
    );
    // Already the default: nothing changes.
    assert_eq!(
        scope
            .workflows()
            .set_default(new.id, 2)
            .await
            .unwrap()
            .version,
        2
    );
    // A stale version is refused and changes nothing.
    let err = scope.workflows().set_default(old.id, 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "workflow",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        scope
            .workflows()
            .default_for("article")
            .await
            .unwrap()
            .map(|w| w.id),
        Some(new.id)
    );

    // Inactive, or naming no type, cannot be a default.
    let off = scope
        .workflows()
        .update(old.id, 2, &deactivate())
        .await
        .unwrap();
    let err = scope
        .workflows()
        .set_default(off.id, off.version)
        .await
        .unwrap_err();
    assert!(
        err.validation().and_then(|v| v.get("is_active")).is_some(),
        "{err:?}"
    );
    let (only, _) = steps();
    let any_type = NewWorkflow::builder()
        .name("Any")
        .step(only)
        .build()
        .unwrap();
    let any_type = scope.workflows().create(&any_type).await.unwrap();
    let err = scope
        .workflows()
        .set_default(any_type.id, 1)
        .await
        .unwrap_err();
    assert!(
        err.validation()
            .and_then(|v| v.get("content_types"))
            .is_some(),
        "{err:?}"
    );
    assert!(matches!(
        scope.workflows().set_default(WorkflowId::new(), 1).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_shared_default_a_brand_admin_cannot_change_blocks_their_own_default() {
    let t = Tenants::new().await;
    let (only, _) = steps();
    let shared = NewWorkflow::builder()
        .name("Group policy")
        .step(only)
        .content_type("article")
        .share_with(t.b)
        .is_default(true)
        .build()
        .unwrap();
    let mut scope = t.database().scope(t.platform, t.a).await.unwrap();
    let shared = scope.workflows().create(&shared).await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(shared.brand_ids, vec![t.a, t.b]);

    let mut scope = t.database().scope(t.editor_b, t.b).await.unwrap();
    let err = scope
        .workflows()
        .create(&workflow("Mine", "article", true))
        .await
        .unwrap_err();
    assert!(is_conflict(&err, ONE_DEFAULT), "{err:?}");
    drop(scope);
    let mut scope = t.database().scope(t.editor_b, t.b).await.unwrap();
    let mine = scope
        .workflows()
        .create(&workflow("Mine", "article", false))
        .await
        .unwrap();
    let err = scope.workflows().set_default(mine.id, 1).await.unwrap_err();
    assert!(is_conflict(&err, ONE_DEFAULT), "{err:?}");
    drop(scope);
    // The shared default was not touched.
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    assert_eq!(scope.workflows().get(shared.id).await.unwrap(), shared);
}

#[tokio::test]
async fn deactivating_ends_a_default_and_frees_the_slot() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let first = scope
        .workflows()
        .create(&workflow("First", "article", true))
        .await
        .unwrap();
    let off = scope
        .workflows()
        .update(first.id, 1, &deactivate())
        .await
        .unwrap();
    assert!(!off.is_active && !off.is_default);
    assert_eq!(off.version, 2);
    // A retry of the same deactivation names the version it read: stale, and nothing is written.
    let err = scope
        .workflows()
        .update(first.id, 1, &deactivate())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let empty = WorkflowPatch::builder().build().unwrap();
    assert_eq!(
        scope
            .workflows()
            .update(first.id, 2, &empty)
            .await
            .unwrap()
            .version,
        2
    );
    scope
        .workflows()
        .create(&workflow("Second", "article", true))
        .await
        .unwrap();
    // Reactivating the first is fine: it is no longer a default.
    let back = scope
        .workflows()
        .update(
            first.id,
            2,
            &WorkflowPatch::builder().is_active(true).build().unwrap(),
        )
        .await
        .unwrap();
    assert!(back.is_active && !back.is_default);
    assert_eq!(back.version, 3);
    assert!(matches!(
        scope
            .workflows()
            .update(WorkflowId::new(), 1, &deactivate())
            .await,
        Err(Error::NotFound { .. })
    ));
    scope.commit().await.unwrap();
    assert_eq!(
        t.events(first.id).await,
        3,
        "created, deactivated, reactivated"
    );
}

#[tokio::test]
async fn an_empty_patch_writes_no_row_and_no_audit_event() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let created = scope
        .workflows()
        .create(&workflow("W", "article", true))
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let events = t.events(created.id).await;
    assert_eq!(events, 1);
    let empty = WorkflowPatch::builder().build().unwrap();
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    assert_eq!(
        scope
            .workflows()
            .update(created.id, 1, &empty)
            .await
            .unwrap(),
        created
    );
    let err = scope
        .workflows()
        .update(created.id, 7, &empty)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 7,
                actual: 1,
                ..
            }
        ),
        "{err:?}"
    );
    scope.commit().await.unwrap();
    assert_eq!(t.events(created.id).await, events);
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    assert_eq!(scope.workflows().get(created.id).await.unwrap(), created);
}

#[tokio::test]
async fn an_update_applies_the_patch_and_a_stale_or_invalid_one_changes_nothing() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let created = scope
        .workflows()
        .create(&workflow("Legal", "article", true))
        .await
        .unwrap();
    let (review, approve) = (created.steps[0].clone(), created.steps[1].clone());
    let branch = WorkflowTransition {
        from: review.id,
        to: approve.id,
        on: None,
        condition: Some(Condition {
            field: "risk".into(),
            operator: ConditionOperator::Equals,
            value: json!("high"),
        }),
    };
    let patch = WorkflowPatch::builder()
        .name("Legal (branching)")
        .workflow_type(WorkflowType::Conditional)
        .transitions([branch])
        .clear_timeout_hours()
        .clear_escalation_rules()
        .build()
        .unwrap();
    let updated = scope
        .workflows()
        .update(created.id, 1, &patch)
        .await
        .unwrap();
    assert_eq!(updated.workflow_type, WorkflowType::Conditional);
    assert_eq!(
        (updated.timeout_hours, updated.escalation_rules.as_ref()),
        (None, None)
    );
    assert_eq!(updated.version, 2);
    assert!(updated.is_default);

    assert_eq!(updated.steps, created.steps, "unset stays");

    let err = scope
        .workflows()
        .update(created.id, 1, &rename("Stale"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "workflow",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );

    // What the patch sets is checked alone before any round trip.
    let err = WorkflowPatch::builder().name("").build().unwrap_err();
    assert!(err.get("name").is_some(), "{err}");
    // Removing the step the transition names, and dropping the default's only content type: only the
    // stored workflow can tell, and both are reported together.
    let patch = WorkflowPatch::builder()
        .steps([review])
        .content_types(Vec::<String>::new())
        .build()
        .unwrap();
    let err = scope
        .workflows()
        .update(created.id, 2, &patch)
        .await
        .unwrap_err();
    let report = err.validation().expect("invalid");
    let mut paths: Vec<_> = report.errors().iter().map(|e| e.field.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["content_types", "transitions[0].to"], "{report}");
    assert_eq!(scope.workflows().get(created.id).await.unwrap(), updated);
    let empty = WorkflowPatch::builder().build().unwrap();
    assert!(matches!(
        scope.workflows().update(WorkflowId::new(), 1, &empty).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn of_two_concurrent_updates_from_one_version_exactly_one_wins() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let created = scope
        .workflows()
        .create(&workflow("W", "article", false))
        .await
        .unwrap();
    scope.commit().await.unwrap();

    let mut first = t.database().scope(t.admin, t.a).await.unwrap();
    first
        .workflows()
        .update(created.id, 1, &rename("First"))
        .await
        .unwrap();
    let db = t.database().clone();
    let (admin, a, id) = (t.admin, t.a, created.id);
    let second = tokio::spawn(async move {
        let mut scope = db.scope(admin, a).await.unwrap();
        scope.workflows().update(id, 1, &rename("Second")).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first.commit().await.unwrap();
    let err = second.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "workflow",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let now = scope.workflows().get(created.id).await.unwrap();
    assert_eq!((now.name.as_str(), now.version), ("First", 2));
}

#[tokio::test]
async fn another_brands_workflows_are_not_found_not_listed_and_not_writable() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor_b, t.b).await.unwrap();
    let theirs = scope
        .workflows()
        .create(&workflow("Theirs", "article", true))
        .await
        .unwrap();
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let mut repo = scope.workflows();
    assert!(matches!(
        repo.get(theirs.id).await,
        Err(Error::NotFound { entity: "workflow" })
    ));
    assert!(
        repo.list(&WorkflowFilter::default(), &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(repo.default_for("article").await.unwrap(), None);
    assert!(matches!(
        repo.update(theirs.id, 1, &rename("x")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        repo.set_default(theirs.id, 1).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        repo.update(theirs.id, 1, &deactivate()).await,
        Err(Error::NotFound { .. })
    ));
    drop(scope);
    // A's own default for the same type does not clash with B's.
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    scope
        .workflows()
        .create(&workflow("Ours", "article", true))
        .await
        .unwrap();
}

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_content_type_and_activity() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let mut made = Vec::new();
    for (i, ty) in ["article", "video", "article", "video", "article"]
        .iter()
        .enumerate()
    {
        let w = scope
            .workflows()
            .create(&workflow(&format!("W{i}"), ty, false))
            .await
            .unwrap();
        made.push(if i == 4 {
            scope
                .workflows()
                .update(w.id, w.version, &deactivate())
                .await
                .unwrap()
        } else {
            w
        });
    }
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let mut repo = scope.workflows();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(2);
    loop {
        let page = repo.list(&WorkflowFilter::default(), &req).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|w| w.id));
        match page.next {
            Some(c) => req = req.after(c),
            None => break,
        }
    }
    let mut expected = made.clone();
    expected.sort_by_key(|w| std::cmp::Reverse((w.created_at, w.id.as_uuid())));
    assert_eq!(seen, expected.iter().map(|w| w.id).collect::<Vec<_>>());

    let names = |items: Vec<mixerai_data::workflows::Workflow>| {
        let mut n: Vec<String> = items.into_iter().map(|w| w.name).collect();
        n.sort();
        n
    };
    let filter = |ty: Option<&str>, is_active| WorkflowFilter {
        content_type: ty.map(str::to_owned),
        is_active,
    };
    let all = PageRequest::first(100);
    assert_eq!(
        names(
            repo.list(&filter(Some("article"), None), &all)
                .await
                .unwrap()
                .items
        ),
        ["W0", "W2", "W4"]
    );
    assert_eq!(
        names(
            repo.list(&filter(Some("article"), Some(true)), &all)
                .await
                .unwrap()
                .items
        ),
        ["W0", "W2"]
    );
    assert_eq!(
        names(
            repo.list(&filter(None, Some(false)), &all)
                .await
                .unwrap()
                .items
        ),
        ["W4"]
    );
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Valid by construction: a chain of steps with distinct orders, each moving to the next.
    fn new_workflow() -> impl Strategy<Value = NewWorkflow> {
        (
            prop::collection::vec(
                (
                    prop::sample::select(StepType::ALL.to_vec()),
                    "\\PC{1,10}",
                    prop::option::of(1i32..=8760),
                    any::<bool>(),
                ),
                1..5,
            ),
            prop::sample::select(WorkflowType::ALL.to_vec()),
            prop::option::of(1i32..=8760),
        )
            .prop_filter("names are not blank", |(steps, ..)| {
                steps.iter().all(|(_, n, ..)| !n.trim().is_empty())
            })
            .prop_map(|(specs, ty, timeout)| {
                let steps: Vec<WorkflowStep> = specs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (st, name, hours, skip))| WorkflowStep {
                        assignees: vec!["admin".into(), "editor".into()],
                        timeout_hours: hours,
                        required: !skip,
                        allow_skip: skip,
                        actions: vec![StepAction::Approve, StepAction::Comment],
                        ..WorkflowStep::new(name, st, i as i32 * 10)
                    })
                    .collect();
                let mut b = NewWorkflow::builder()
                    .name("Round trip \u{e9}")
                    .workflow_type(ty);
                if let Some(h) = timeout {
                    b = b.timeout_hours(h);
                }
                // Conditional workflows branch on a field; the others move on approval.
                let condition = (ty == WorkflowType::Conditional).then(|| Condition {
                    field: "risk".into(),
                    operator: ConditionOperator::In,
                    value: json!(["high", 3]),
                });
                for pair in steps.windows(2) {
                    b = b.transition(WorkflowTransition {
                        from: pair[0].id,
                        to: pair[1].id,
                        on: Some(StepAction::Approve),
                        condition: condition.clone(),
                    });
                }
                for s in steps.iter().cloned() {
                    b = b.step(s);
                }
                b
            })
            .prop_filter_map("a one-step conditional workflow has no transition", |b| {
                b.build().ok()
            })
    }

    #[test]
    fn any_built_workflow_round_trips_through_the_database_unchanged() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let t = rt.block_on(Tenants::new());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&new_workflow(), |new| {
                rt.block_on(async {
                    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
                    let created = scope.workflows().create(&new).await.unwrap();
                    let got = scope.workflows().get(created.id).await.unwrap();
                    scope.commit().await.unwrap();
                    prop_assert_eq!(&got, &created);
                    prop_assert_eq!(&got.steps[..], new.steps());
                    prop_assert_eq!(&got.transitions[..], new.transitions());
                    Ok(())
                })
            })
            .unwrap();
    }
}
