//! Review workflows that run (issue 13), as the application role through scopes, each test in a
//! database of its own: sequential, parallel, N-of-M and conditional runs, rejection, requests for
//! changes, skips, who may decide and how often, re-approval after an edit, the last approval under
//! concurrency, deadlines, escalation from concurrent workers, notifications and the reads.

use std::sync::Arc;

use chrono::{Duration, Utc};
use mixerai_data::content::{Content, ContentPatch, ContentStatus, NewContent};
use mixerai_data::page::PageRequest;
use mixerai_data::reviews::{
    NewDecision, PendingDecision, ReviewRun, RunStatus, StepStatus, TimelineKind, Verdict,
    escalate_due,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, ContentId, ReviewStepId, UserId, WorkflowId};
use mixerai_data::workflows::{
    AssignmentType, EscalationAction, EscalationRule, NewWorkflow, StepAction, StepType,
    WorkflowStep, WorkflowTransition, WorkflowType,
};
use mixerai_data::{Error, Scope};
use serde_json::json;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

/// Brand A with an admin (who writes workflows), an editor (who writes and submits content) and
/// three reviewers who are only viewers: the run, not their role, lets them decide.
struct World {
    db: Arc<TestDatabase>,
    a: BrandId,
    admin: UserId,
    editor: UserId,
    r: [UserId; 3],
}

async fn world() -> World {
    let db = fresh_db().await;
    let p = pool(&db);
    let admin = insert_user(p, "admin@example.com").await;
    let editor = insert_user(p, "editor@example.com").await;
    let a = insert_brand(p, "brand-a", admin).await;
    insert_role(p, admin, a, "admin").await;
    insert_role(p, editor, a, "editor").await;
    let mut r = Vec::new();
    for i in 0..3 {
        let u = insert_user(p, &format!("reviewer{i}@example.com")).await;
        insert_role(p, u, a, "viewer").await;
        r.push(UserId::from_uuid(u));
    }
    World {
        db: Arc::new(db),
        a: BrandId::from_uuid(a),
        admin: UserId::from_uuid(admin),
        editor: UserId::from_uuid(editor),
        r: [r[0], r[1], r[2]],
    }
}

/// An approval step assigned to `users` by id.
fn approval(name: &str, order: i32, users: &[UserId]) -> WorkflowStep {
    WorkflowStep {
        assignment_type: AssignmentType::User,
        assignees: users.iter().map(|u| u.to_string()).collect(),
        ..WorkflowStep::new(name, StepType::Approval, order)
    }
}

impl World {
    async fn scope(&self, user: UserId) -> Scope {
        self.db.database().scope(user, self.a).await.unwrap()
    }

    /// A workflow of the brand, written by the admin.
    async fn workflow(
        &self,
        kind: WorkflowType,
        steps: Vec<WorkflowStep>,
        transitions: Vec<WorkflowTransition>,
        rules: Vec<EscalationRule>,
    ) -> WorkflowId {
        self.workflow_timed(kind, steps, transitions, rules, None)
            .await
    }

    /// [`workflow`](Self::workflow) with a timeout for whole runs.
    async fn workflow_timed(
        &self,
        kind: WorkflowType,
        steps: Vec<WorkflowStep>,
        transitions: Vec<WorkflowTransition>,
        rules: Vec<EscalationRule>,
        timeout_hours: Option<i32>,
    ) -> WorkflowId {
        let mut b = NewWorkflow::builder()
            .name("Review")
            .workflow_type(kind)
            .steps(steps)
            .transitions(transitions)
            .maybe_timeout_hours(timeout_hours)
            .content_type("article");
        if !rules.is_empty() {
            b = b.escalation_rules(rules);
        }
        let mut s = self.scope(self.admin).await;
        let w = s.workflows().create(&b.build().unwrap()).await.unwrap();
        s.commit().await.unwrap();
        w.id
    }

    /// A draft by the editor (a slug of its own each time).
    async fn item(&self, fields: serde_json::Value) -> Content {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let mut b = NewContent::builder()
            .content_type("article")
            .title(format!("Launch {tag}"))
            .slug(format!("launch-{tag}"));
        for (k, v) in fields.as_object().unwrap() {
            b = b.field(k.clone(), v.clone());
        }
        let mut s = self.scope(self.editor).await;
        let c = s.content().create(&b.build().unwrap()).await.unwrap();
        s.commit().await.unwrap();
        c
    }

    /// Submits the item with the workflow, as the editor.
    async fn submit(&self, item: &Content, workflow: WorkflowId) -> ReviewRun {
        let mut s = self.scope(self.editor).await;
        let run = s
            .reviews()
            .submit_with(item.id, item.version, workflow)
            .await
            .unwrap();
        s.commit().await.unwrap();
        run
    }

    /// What `user` has to decide.
    async fn pending(&self, user: UserId) -> Vec<PendingDecision> {
        let mut s = self.scope(user).await;
        s.reviews()
            .my_pending(&PageRequest::first(50))
            .await
            .unwrap()
            .items
    }

    /// `user` decides `step` (at the version under review), committing when it succeeds.
    async fn decide(
        &self,
        user: UserId,
        step: ReviewStepId,
        version: i32,
        d: NewDecision,
    ) -> Result<ReviewRun, Error> {
        let mut s = self.scope(user).await;
        let run = s.reviews().decide(step, version, &d).await?;
        s.commit().await.unwrap();
        Ok(run)
    }

    /// `user` approves the one step they have pending.
    async fn approve(&self, user: UserId) -> ReviewRun {
        let p = self.pending(user).await;
        assert_eq!(p.len(), 1, "{user:?} has {p:?}");
        self.decide(
            user,
            p[0].step_id,
            p[0].content_version,
            NewDecision::approve(),
        )
        .await
        .unwrap()
    }

    async fn content(&self, id: ContentId) -> Content {
        let mut s = self.scope(self.editor).await;
        s.content().get(id).await.unwrap()
    }
}

#[tokio::test]
async fn a_sequential_two_step_approval_approves_the_item_at_the_version_it_reviewed() {
    let w = world().await;
    let (r0, r1) = (w.r[0], w.r[1]);
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[r0]), approval("Brand", 2, &[r1])],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    let run = w.submit(&item, wf).await;
    assert_eq!(run.status, RunStatus::Active);
    assert_eq!(run.content_version, item.latest_version);
    assert_eq!(w.content(item.id).await.status, ContentStatus::InReview);
    // Step 2 is not open yet: only r0 has something to decide.
    assert!(w.pending(r1).await.is_empty());
    let run = w.approve(r0).await;
    assert_eq!(run.status, RunStatus::Active);
    let run = w.approve(r1).await;
    assert_eq!(run.status, RunStatus::Approved);
    assert_eq!(run.completed_by, Some(r1));
    let c = w.content(item.id).await;
    assert_eq!(c.status, ContentStatus::Approved);
    assert_eq!(c.approved_version, Some(run.content_version));

    let mut s = w.scope(w.editor).await;
    let d = s.reviews().detail(run.id).await.unwrap();
    assert!(d.steps.iter().all(|s| s.status == StepStatus::Approved));
    assert_eq!(d.decisions.len(), 2);
    assert!(d.decisions.iter().all(|x| x.content_version == 1));
    let kinds: Vec<TimelineKind> = d.timeline.iter().map(|t| t.kind).collect();
    use TimelineKind::*;
    assert_eq!(
        kinds,
        [
            Started,
            ContentStartReview,
            StepStarted,
            Decided,
            StepCompleted,
            StepStarted,
            Decided,
            StepCompleted,
            ContentApprove,
            Approved
        ]
    );
    // Every change is in the audit trail, in the same transactions.
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.events WHERE aggregate_type = 'workflow_decisions'",
    )
    .fetch_one(pool(&w.db))
    .await
    .unwrap();
    assert_eq!(audited, 2);
    drop(s);
}

#[tokio::test]
async fn the_lifecycle_steps_a_run_takes_are_not_anyone_elses_to_take_by_hand() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    // Under review already: a second submission is refused.
    let c = w.content(item.id).await;
    let mut s = w.scope(w.editor).await;
    let err = s
        .reviews()
        .submit_with(c.id, c.version, wf)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IllegalTransition { .. }), "{err:?}");
    drop(s);
    // The reviewer (a viewer) may not approve the item by hand, even naming the item in the setting
    // the run uses: only a step the run recorded in this transaction counts.
    for user in [w.r[0], w.editor] {
        let mut s = w.scope(user).await;
        sqlx::query("SELECT set_config('mixerai.review_moves', $1, true)")
            .bind(item.id.to_string())
            .execute(s.connection())
            .await
            .unwrap();
        let err = s.content().approve(c.id, c.version).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{user:?}: {err:?}");
    }
    // Nor write the run's tables.
    let mut s = w.scope(w.editor).await;
    let err = sqlx::query("UPDATE mixerai.workflow_instance_steps SET status = 'approved'")
        .execute(s.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(s);
    assert_eq!(w.approve(w.r[0]).await.status, RunStatus::Approved);
}

#[tokio::test]
async fn a_parallel_workflow_waits_for_every_step() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Parallel,
            vec![
                approval("Legal", 1, &[w.r[0]]),
                approval("Brand", 2, &[w.r[1]]),
            ],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    // Both steps are open at once.
    assert_eq!(w.pending(w.r[0]).await.len(), 1);
    assert_eq!(w.pending(w.r[1]).await.len(), 1);
    assert_eq!(w.approve(w.r[1]).await.status, RunStatus::Active);
    assert_eq!(w.approve(w.r[0]).await.status, RunStatus::Approved);
    assert_eq!(w.content(item.id).await.status, ContentStatus::Approved);
}

#[tokio::test]
async fn a_two_of_three_step_needs_two_approvals() {
    let w = world().await;
    let step = WorkflowStep {
        min_approvals: Some(2),
        ..approval("Panel", 1, &w.r)
    };
    let wf = w
        .workflow(WorkflowType::Sequential, vec![step], vec![], vec![])
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    let mut s = w.scope(w.editor).await;
    let run = s.reviews().open_for(item.id).await.unwrap().unwrap();
    let d = s.reviews().detail(run.id).await.unwrap();
    drop(s);
    assert_eq!(d.steps[0].required_approvals, Some(2));
    assert_eq!(d.assignments.len(), 3);
    assert_eq!(w.approve(w.r[0]).await.status, RunStatus::Active);
    assert_eq!(w.approve(w.r[2]).await.status, RunStatus::Approved);
    // The third is no longer asked.
    assert!(w.pending(w.r[1]).await.is_empty());
}

#[tokio::test]
async fn a_conditional_workflow_takes_the_branch_whose_condition_holds() {
    let w = world().await;
    let triage = approval("Triage", 1, &[w.r[0]]);
    let legal = approval("Legal", 2, &[w.r[1]]);
    let brand = approval("Brand", 3, &[w.r[2]]);
    let cond = |value: &str| {
        serde_json::from_value(json!({"field": "market", "operator": "equals", "value": value}))
            .unwrap()
    };
    let wf = w
        .workflow(
            WorkflowType::Conditional,
            vec![triage.clone(), legal.clone(), brand.clone()],
            vec![
                WorkflowTransition {
                    from: triage.id,
                    to: legal.id,
                    on: None,
                    condition: Some(cond("US")),
                },
                WorkflowTransition {
                    from: triage.id,
                    to: brand.id,
                    on: None,
                    condition: Some(cond("GB")),
                },
            ],
            vec![],
        )
        .await;
    let item = w.item(json!({"market": "GB"})).await;
    let run = w.submit(&item, wf).await;
    w.approve(w.r[0]).await;
    // The GB branch: brand review, not legal.
    assert!(w.pending(w.r[1]).await.is_empty());
    assert_eq!(w.approve(w.r[2]).await.status, RunStatus::Approved);
    let mut s = w.scope(w.editor).await;
    let d = s.reviews().detail(run.id).await.unwrap();
    assert_eq!(
        d.step(legal.id).unwrap().status,
        StepStatus::NotReached,
        "{d:#?}"
    );
    assert_eq!(d.step(brand.id).unwrap().status, StepStatus::Approved);
}

#[tokio::test]
async fn a_rejection_needs_a_comment_ends_the_run_and_returns_the_item_to_draft() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![
                approval("Legal", 1, &[w.r[0]]),
                approval("Brand", 2, &[w.r[1]]),
            ],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    assert!(NewDecision::reject(" ").is_err());
    let p = w.pending(w.r[0]).await;
    let run = w
        .decide(
            w.r[0],
            p[0].step_id,
            p[0].content_version,
            NewDecision::reject("The claim on page 2 is not approved").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Rejected);
    assert!(run.completed_at.is_some());
    let c = w.content(item.id).await;
    assert_eq!(c.status, ContentStatus::Draft);
    assert!(w.pending(w.r[1]).await.is_empty());
    // A new submission starts a new run.
    let again = w.submit(&c, wf).await;
    assert_ne!(again.id, run.id);
    assert_eq!(again.round, 1);
}

#[tokio::test]
async fn a_request_for_changes_holds_the_run_until_an_edit_and_a_step_that_allows_it_is_skipped() {
    let w = world().await;
    let optional = WorkflowStep {
        required: false,
        allow_skip: true,
        ..approval("Optional", 1, &[w.r[0]])
    };
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![optional, approval("Brand", 2, &[w.r[1]])],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    let p = w.pending(w.r[0]).await;
    w.decide(
        w.r[0],
        p[0].step_id,
        p[0].content_version,
        NewDecision::skip(),
    )
    .await
    .unwrap();
    let p = w.pending(w.r[1]).await;
    // Skipping a step that does not allow it is refused.
    let err = w
        .decide(
            w.r[1],
            p[0].step_id,
            p[0].content_version,
            NewDecision::skip(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(e) if e.get("decision").is_some()),
        "{err:?}"
    );
    let run = w
        .decide(
            w.r[1],
            p[0].step_id,
            p[0].content_version,
            NewDecision::request_changes("Shorter title").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::ChangesRequested);
    assert!(run.completed_at.is_none());
    assert_eq!(w.content(item.id).await.status, ContentStatus::InReview);
    assert!(w.pending(w.r[1]).await.is_empty());
    // The edit starts the run over at the new version.
    let mut s = w.scope(w.editor).await;
    let c = s.content().get(item.id).await.unwrap();
    let c = s
        .content()
        .update(
            c.id,
            c.version,
            &ContentPatch::builder().title("Launch!").build().unwrap(),
        )
        .await
        .unwrap();
    let run = s.reviews().open_for(item.id).await.unwrap().unwrap();
    s.commit().await.unwrap();
    assert_eq!(run.status, RunStatus::Active);
    assert_eq!(run.round, 2);
    assert_eq!(run.content_version, c.latest_version);
    let p = w.pending(w.r[0]).await;
    assert_eq!(p[0].content_version, c.latest_version);
}

#[tokio::test]
async fn a_non_assignee_is_refused_and_a_user_deciding_twice_is_refused() {
    let w = world().await;
    let step = WorkflowStep {
        require_all_approvals: true,
        actions: vec![StepAction::Approve, StepAction::Reject],
        ..approval("Both", 1, &[w.r[0], w.r[1]])
    };
    let wf = w
        .workflow(WorkflowType::Sequential, vec![step], vec![], vec![])
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    let p = w.pending(w.r[0]).await;
    let (step, version) = (p[0].step_id, p[0].content_version);
    for outsider in [w.r[2], w.admin, w.editor] {
        let err = w
            .decide(outsider, step, version, NewDecision::approve())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }
    w.decide(w.r[0], step, version, NewDecision::approve())
        .await
        .unwrap();
    let err = w
        .decide(w.r[0], step, version, NewDecision::approve())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "workflow_decisions_once_per_user"),
        "{err:?}"
    );
    // The step does not offer a request for changes.
    let err = w
        .decide(
            w.r[1],
            step,
            version,
            NewDecision::request_changes("More").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(e) if e.get("decision").is_some()),
        "{err:?}"
    );
    // A version the run does not review is stale; the step is still open for r1.
    let err = w
        .decide(w.r[1], step, version + 5, NewDecision::approve())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Stale { .. }), "{err:?}");
    assert_eq!(w.approve(w.r[1]).await.status, RunStatus::Approved);
}

#[tokio::test]
async fn an_edit_during_review_voids_the_decisions_and_needs_them_again() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![
                approval("Legal", 1, &[w.r[0]]),
                WorkflowStep {
                    require_all_approvals: true,
                    ..approval("Brand", 2, &[w.r[1], w.r[2]])
                },
            ],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    let run = w.submit(&item, wf).await;
    w.approve(w.r[0]).await;
    w.approve(w.r[1]).await;
    // An edit by raw SQL counts like any other: the trigger is on the version log.
    let mut s = w.scope(w.editor).await;
    sqlx::query("UPDATE mixerai.content SET body = 'changed' WHERE id = $1")
        .bind(item.id)
        .execute(s.connection())
        .await
        .unwrap();
    s.commit().await.unwrap();
    let edited_version = w.content(item.id).await.latest_version;
    assert!(edited_version > run.content_version);
    let mut s = w.scope(w.editor).await;
    let d = s.reviews().detail(run.id).await.unwrap();
    drop(s);
    assert_eq!(d.decisions.len(), 2);
    assert!(
        d.decisions.iter().all(
            |x| x.voided_at.is_some() && x.voided_at_version == Some(i64::from(edited_version))
        )
    );
    assert_eq!(d.run.content_version, edited_version);
    let edited = d
        .timeline
        .iter()
        .find(|t| t.kind == TimelineKind::Edited)
        .unwrap();
    assert_eq!(edited.detail["voided_decisions"], 2);
    assert_eq!(d.steps[0].status, StepStatus::Active);
    assert_eq!(d.steps[1].status, StepStatus::Waiting);
    assert!(w.pending(w.r[2]).await.is_empty());
    // Everyone approves again, at the new version.
    w.approve(w.r[0]).await;
    w.approve(w.r[1]).await;
    let run = w.approve(w.r[2]).await;
    assert_eq!(run.status, RunStatus::Approved);
    assert_eq!(
        w.content(item.id).await.approved_version,
        Some(edited_version)
    );
}

#[tokio::test]
async fn two_reviewers_deciding_the_last_approval_concurrently_approve_the_item_once() {
    let w = Arc::new(world().await);
    let step = WorkflowStep {
        min_approvals: Some(2),
        ..approval("Panel", 1, &w.r)
    };
    let wf = w
        .workflow(WorkflowType::Sequential, vec![step], vec![], vec![])
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    w.approve(w.r[0]).await;
    let p = w.pending(w.r[1]).await;
    let (step, version) = (p[0].step_id, p[0].content_version);
    let tasks: Vec<_> = [w.r[1], w.r[2]]
        .into_iter()
        .map(|user| {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                w.decide(user, step, version, NewDecision::approve())
                    .await
                    .map(|run| run.status)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let approved = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RunStatus::Approved)))
        .count();
    assert_eq!(approved, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(Error::Forbidden { .. }))),
        "{outcomes:?}"
    );
    let approvals: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.content_approvals WHERE content_id = $1")
            .bind(item.id)
            .fetch_one(pool(&w.db))
            .await
            .unwrap();
    assert_eq!(approvals, 1);
    assert_eq!(w.content(item.id).await.status, ContentStatus::Approved);
}

#[tokio::test]
async fn overdue_steps_are_listed_and_two_concurrent_workers_apply_each_escalation_once() {
    let w = world().await;
    let legal = WorkflowStep {
        timeout_hours: Some(24),
        ..approval("Legal", 1, &[w.r[0]])
    };
    let rules = vec![
        EscalationRule {
            step_id: Some(legal.id),
            after_hours: 24,
            action: EscalationAction::Notify,
            to: vec![w.admin.to_string()],
            assignment_type: Some(AssignmentType::User),
        },
        EscalationRule {
            step_id: None,
            after_hours: 48,
            action: EscalationAction::Reassign,
            to: vec![w.r[1].to_string()],
            assignment_type: Some(AssignmentType::User),
        },
    ];
    let wf = w
        .workflow_timed(
            WorkflowType::Sequential,
            vec![legal],
            vec![],
            rules,
            Some(72),
        )
        .await;
    let mut items = Vec::new();
    for i in 0..6 {
        let mut s = w.scope(w.editor).await;
        let c = s
            .content()
            .create(
                &NewContent::builder()
                    .content_type("article")
                    .title(format!("Item {i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        s.commit().await.unwrap();
        w.submit(&c, wf).await;
        items.push(c.id);
    }
    let later = Utc::now() + Duration::hours(49);
    let mut s = w.scope(w.editor).await;
    let overdue = s.reviews().overdue(later).await.unwrap();
    assert_eq!(overdue.steps.len(), 6);
    assert!(overdue.runs.is_empty(), "runs are due after 72 hours");
    let overdue = s
        .reviews()
        .overdue(Utc::now() + Duration::hours(73))
        .await
        .unwrap();
    assert_eq!((overdue.runs.len(), overdue.steps.len()), (6, 6));
    assert!(
        s.reviews()
            .overdue(Utc::now())
            .await
            .unwrap()
            .steps
            .is_empty()
    );
    drop(s);

    let db = Arc::new(w.db.database().clone());
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let db = Arc::clone(&db);
            tokio::spawn(async move { escalate_due(&db, later, 2).await.unwrap() })
        })
        .collect();
    let mut applied = Vec::new();
    for t in workers {
        applied.extend(t.await.unwrap());
    }
    // Two rules on each of six steps, each applied once between the two workers.
    assert_eq!(applied.len(), 12, "{applied:?}");
    let mut keys: Vec<_> = applied.iter().map(|e| (e.step_id, e.rule_index)).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 12);
    // A later run finds nothing left to do.
    assert!(escalate_due(&db, later, 10).await.unwrap().is_empty());

    // The notifications are in the outbox, and the steps now belong to r1.
    let mut s = w.scope(w.admin).await;
    let notes = s.reviews().notifications(items[0]).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].recipient, w.admin);
    drop(s);
    assert!(w.pending(w.r[0]).await.is_empty());
    assert_eq!(w.pending(w.r[1]).await.len(), 6);
    let mut jobs = w.db.database().system_scope().await.unwrap();
    let undelivered = jobs.review_jobs().undelivered(100).await.unwrap();
    assert_eq!(undelivered.len(), 6);
    let ids: Vec<_> = undelivered.iter().map(|n| n.id).collect();
    assert_eq!(jobs.review_jobs().mark_delivered(&ids).await.unwrap(), 6);
    jobs.commit().await.unwrap();
    // r1 decides the reassigned step.
    let p = w.pending(w.r[1]).await;
    let run = w
        .decide(
            w.r[1],
            p[0].step_id,
            p[0].content_version,
            NewDecision::approve(),
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Approved);
}

#[tokio::test]
async fn notification_steps_write_the_outbox_and_my_pending_decisions_page_newest_first() {
    let w = world().await;
    let notify = WorkflowStep {
        assignment_type: AssignmentType::User,
        assignees: vec![w.admin.to_string()],
        ..WorkflowStep::new("Tell the admin", StepType::Notification, 1)
    };
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![notify, approval("Legal", 2, &[w.r[0]])],
            vec![],
            vec![],
        )
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let item = w.item(json!({})).await;
        w.submit(&item, wf).await;
        ids.push(item.id);
    }
    let mut s = w.scope(w.r[0]).await;
    let first = s
        .reviews()
        .my_pending(&PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let next = s
        .reviews()
        .my_pending(&PageRequest::first(2).after(first.next.unwrap()))
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
    assert!(next.next.is_none());
    let order: Vec<ContentId> = first
        .items
        .iter()
        .chain(&next.items)
        .map(|p| p.content_id)
        .collect();
    assert_eq!(order, [ids[2], ids[1], ids[0]]);
    let notes = s.reviews().notifications(ids[0]).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].reason, "notification_step");
    assert_eq!(notes[0].payload["step"], "Tell the admin");
}

#[tokio::test]
async fn role_assignees_resolve_to_the_brands_members_when_the_step_starts_but_never_the_submitter()
{
    let w = world().await;
    let by_role = |name: &str, order: i32, role: &str| WorkflowStep {
        assignment_type: AssignmentType::Role,
        assignees: vec![role.into()],
        ..WorkflowStep::new(name, StepType::Approval, order)
    };
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![
                by_role("Viewers", 1, "viewer"),
                by_role("Admins", 2, "admin"),
            ],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    let run = w.submit(&item, wf).await;
    let mut s = w.scope(w.editor).await;
    let d = s.reviews().detail(run.id).await.unwrap();
    drop(s);
    let mut assigned: Vec<UserId> = d.assignments.iter().map(|a| a.user_id).collect();
    assigned.sort();
    let mut viewers = w.r.to_vec();
    viewers.sort();
    assert_eq!(assigned, viewers);
    assert!(
        d.assignments
            .iter()
            .all(|a| a.source == "role" && a.pending)
    );
    assert_eq!(d.steps[0].required_approvals, Some(1));
    // A viewer joining now is not on the open step: assignees are resolved when a step starts.
    let late = UserId::from_uuid(insert_user(pool(&w.db), "late@example.com").await);
    insert_role(pool(&w.db), late.as_uuid(), w.a.as_uuid(), "viewer").await;
    assert!(w.pending(late).await.is_empty());
    w.approve(w.r[1]).await;
    // The admin step resolves now, to the admin.
    assert_eq!(w.approve(w.admin).await.status, RunStatus::Approved);

    // A step by the submitter's own role resolves to nobody but the submitter: refused at submission.
    let editors = w
        .workflow(
            WorkflowType::Sequential,
            vec![by_role("Editors", 1, "editor")],
            vec![],
            vec![],
        )
        .await;
    let other = w.item(json!({})).await;
    let mut s = w.scope(w.editor).await;
    let err = s
        .reviews()
        .submit_with(other.id, other.version, editors)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(e) if e.get("steps").is_some()),
        "{err:?}"
    );
}

#[tokio::test]
async fn another_brands_members_see_no_run_and_decide_nothing() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    let run = w.submit(&item, wf).await;
    let p = w.pending(w.r[0]).await;
    // r0 is also an admin of brand B; in a scope of B, A's run does not exist.
    let b = insert_brand(pool(&w.db), "brand-b", w.admin.as_uuid()).await;
    insert_role(pool(&w.db), w.r[0].as_uuid(), b, "admin").await;
    let mut s =
        w.db.database()
            .scope(w.r[0], BrandId::from_uuid(b))
            .await
            .unwrap();
    assert!(matches!(
        s.reviews().get(run.id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(
        s.reviews()
            .my_pending(&PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    for table in [
        "workflow_instances",
        "workflow_instance_steps",
        "workflow_step_assignees",
        "workflow_decisions",
        "workflow_timeline",
        "workflow_outbox",
    ] {
        // The table names of the list above.
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM mixerai.{table}"
        )))
        .fetch_one(s.connection())
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} leaks across brands");
    }
    let err = s
        .reviews()
        .decide(p[0].step_id, p[0].content_version, &NewDecision::approve())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn escalation_decides_on_the_assignees_behalf_with_a_decision_row_of_no_user() {
    let w = world().await;
    let rule = |action| EscalationRule {
        step_id: None,
        after_hours: 24,
        action,
        to: vec![],
        assignment_type: None,
    };
    let approving = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![rule(EscalationAction::AutoApprove)],
        )
        .await;
    let rejecting = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![rule(EscalationAction::AutoReject)],
        )
        .await;
    let (a, b) = (w.item(json!({})).await, w.item(json!({})).await);
    let run_a = w.submit(&a, approving).await;
    let run_b = w.submit(&b, rejecting).await;
    let applied = escalate_due(w.db.database(), Utc::now() + Duration::hours(25), 10)
        .await
        .unwrap();
    assert_eq!(applied.len(), 2, "{applied:?}");
    assert_eq!(w.content(a.id).await.status, ContentStatus::Approved);
    assert_eq!(w.content(b.id).await.status, ContentStatus::Draft);
    let mut s = w.scope(w.editor).await;
    for (run, verdict, status) in [
        (run_a.id, Verdict::Approve, RunStatus::Approved),
        (run_b.id, Verdict::Reject, RunStatus::Rejected),
    ] {
        let d = s.reviews().detail(run).await.unwrap();
        assert_eq!(d.run.status, status);
        assert_eq!(d.run.completed_by, None);
        assert_eq!(d.decisions.len(), 1);
        assert_eq!(d.decisions[0].decision, verdict);
        assert_eq!(d.decisions[0].decided_by, None);
        assert!(d.timeline.iter().any(|t| t.kind == TimelineKind::Escalated));
    }
}

/// A cancelled run as its submitter sees it: its status, its steps' and the reason its timeline ends with.
async fn cancelled_reason(w: &World, run: &ReviewRun) -> (RunStatus, Vec<StepStatus>, String) {
    let mut s = w.scope(w.editor).await;
    let d = s.reviews().detail(run.id).await.unwrap();
    let last = d.timeline.last().expect("a timeline");
    assert_eq!(last.kind, TimelineKind::Cancelled, "{:?}", d.timeline);
    (
        d.run.status,
        d.steps.iter().map(|s| s.status).collect(),
        last.detail["reason"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_run_is_cancelled_when_its_item_is_soft_deleted_or_an_admin_decides_it_by_hand() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![],
        )
        .await;
    // Soft-deleted while under review: the reviewer's queue empties and the step can't be decided.
    let deleted = w.item(json!({})).await;
    let run = w.submit(&deleted, wf).await;
    let pending = w.pending(w.r[0]).await;
    assert_eq!(pending.len(), 1);
    let c = w.content(deleted.id).await;
    let mut s = w.scope(w.editor).await;
    s.content().soft_delete(c.id, c.version).await.unwrap();
    s.commit().await.unwrap();
    assert!(w.pending(w.r[0]).await.is_empty());
    assert_eq!(
        cancelled_reason(&w, &run).await,
        (
            RunStatus::Cancelled,
            vec![StepStatus::NotReached],
            "deleted".into()
        )
    );
    let err = w
        .decide(
            w.r[0],
            pending[0].step_id,
            pending[0].content_version,
            NewDecision::approve(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    // An admin approving by hand takes the item out of the run's hands: the run ends, the item
    // stays approved.
    let by_hand = w.item(json!({})).await;
    let run = w.submit(&by_hand, wf).await;
    let c = w.content(by_hand.id).await;
    let mut s = w.scope(w.admin).await;
    s.content().approve(c.id, c.version).await.unwrap();
    s.commit().await.unwrap();
    assert!(w.pending(w.r[0]).await.is_empty());
    assert_eq!(
        cancelled_reason(&w, &run).await,
        (
            RunStatus::Cancelled,
            vec![StepStatus::NotReached],
            "moved".into()
        )
    );
    assert_eq!(w.content(by_hand.id).await.status, ContentStatus::Approved);
}

#[tokio::test]
async fn discarding_the_draft_under_review_of_a_live_item_cancels_its_run() {
    let w = world().await;
    let wf = w
        .workflow(
            WorkflowType::Sequential,
            vec![approval("Legal", 1, &[w.r[0]])],
            vec![],
            vec![],
        )
        .await;
    let item = w.item(json!({})).await;
    w.submit(&item, wf).await;
    w.approve(w.r[0]).await;
    let c = w.content(item.id).await;
    let mut s = w.scope(w.editor).await;
    let live = s.content().publish(c.id, c.version).await.unwrap();
    // A new draft of the live item, under review again.
    let draft = s
        .content()
        .update(
            live.id,
            live.version,
            &ContentPatch::builder().title("Launch!").build().unwrap(),
        )
        .await
        .unwrap();
    s.commit().await.unwrap();
    assert_eq!(draft.status, ContentStatus::Draft);
    let run = w.submit(&draft, wf).await;
    assert_eq!(w.pending(w.r[0]).await.len(), 1);
    let c = w.content(item.id).await;
    let mut s = w.scope(w.editor).await;
    let back = s.content().discard_draft(c.id, c.version).await.unwrap();
    s.commit().await.unwrap();
    assert_eq!(back.status, ContentStatus::Published);
    assert!(w.pending(w.r[0]).await.is_empty());
    assert_eq!(
        cancelled_reason(&w, &run).await,
        (
            RunStatus::Cancelled,
            vec![StepStatus::NotReached],
            "discarded".into()
        )
    );
    // The item can go to review again, with a run of its own.
    let c = w.content(item.id).await;
    let mut s = w.scope(w.editor).await;
    let again = s
        .content()
        .update(
            c.id,
            c.version,
            &ContentPatch::builder()
                .title("Launch again")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    s.commit().await.unwrap();
    let next = w.submit(&again, wf).await;
    assert_ne!(next.id, run.id);
    assert_eq!(next.status, RunStatus::Active);
}
