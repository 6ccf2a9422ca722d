//! Review runs: workflows that run (spec 2.4, 3.4, 4.2; issue 13). Submitting an item starts a run of
//! a workflow over it; its steps are entered as the definition says, assigned to users resolved when
//! the step starts, decided by them as rows, timed, escalated, and the item moves with the run.
//!
//! Laid out as every domain module is: the model (what a run is: [`ReviewRun`], [`ReviewStep`],
//! [`Assignment`], [`Decision`], [`TimelineEntry`], [`RunDetail`], [`PendingDecision`],
//! [`Overdue`], [`Escalation`], [`Notification`] and the statuses), input (what a reviewer hands in:
//! [`NewDecision`]), and the repository ([`ReviewRepo`], from [`Scope::reviews`](crate::Scope::reviews),
//! and [`ReviewJobs`], from [`SystemScope::review_jobs`](crate::SystemScope::review_jobs), with
//! [`escalate_due`]).
//!
//! # How a run goes
//! 1. [`ReviewRepo::submit`] (the brand's default workflow for the item's type) or
//!    [`ReviewRepo::submit_with`] (a given active workflow of the brand) takes a `draft` (or
//!    `pending_review`) item to `in_review` and starts a run against its latest version, recording the
//!    workflow's version and definition: the run follows the definition it started with, whatever is
//!    saved to the workflow later. One open run per item (`workflow_instances_one_active`).
//! 2. Steps are entered as the workflow's type says: `sequential` by `order`, `parallel` all at once,
//!    `conditional` from the first step by `order`, then along the first transition (in definition
//!    order) from the completed step whose `on` is absent or `approve` and whose condition holds on the
//!    item's `fields` (evaluated in the database as [`Condition::holds`](crate::templates::Condition::holds)
//!    does). A step with no transition taken ends the run. Entering a review or approval step resolves
//!    its assignees and records them ([`Assignment`]); a notification step writes one outbox row per
//!    recipient and is done; an automated step is done (the crate runs nothing).
//! 3. Assignees decide ([`ReviewRepo::decide`]): approve, reject, request changes, skip. A step needs
//!    one approval (any), every assignee's (`requireAllApprovals`), or N
//!    ([`WorkflowStep::min_approvals`](crate::workflows::WorkflowStep::min_approvals)).
//! 4. When no step is open and none is left to enter, the item is approved at the run's content
//!    version (the content lifecycle's own `approve`, so the [`Approval`](crate::content::Approval) is
//!    pinned to that version and its hash), exactly once.
//!
//! Every change is made by a SECURITY DEFINER function of migration 0021, in the scope's transaction,
//! and recorded: decisions as rows, every event of the run in its timeline, every row change in the
//! audit trail (an audit trigger on each table). The application role reads the tables and writes none
//! of them.
//!
//! # Decisions the spec leaves open
//! - **Who decides** is the run's assignees, whatever their brand role: the content lifecycle lets the
//!   run take `start_review`, `approve`, `reject` and `revise` for its item (migration 0021 replaces
//!   `content_check_actor` to accept a step the run recorded in its timeline in the same transaction),
//!   so a reviewer assigned by name need not be a brand admin. Only editors and admins submit.
//! - **Assignees** resolve to live members of the brand: `user` names user ids (non-members are left
//!   out), `role` brand roles (exactly that role; the submitter is left out, so nobody reviews their
//!   own submission by role), `dynamic` `content.created_by` / `content.updated_by`. `group` has no
//!   membership in the schema and resolves to nobody. A submission is refused
//!   ([`Error::Invalid`](crate::Error::Invalid) on `steps`) when a review or approval step resolves
//!   to nobody, or the workflow has none. The number of approvals a step needs is fixed when it is
//!   entered: all = the assignees resolved, N of M = N (at most M), any = 1.
//! - **Decisions.** Only a current assignee of an open step of an active run decides
//!   ([`Error::Forbidden`](crate::Error::Forbidden) otherwise, also for the loser of a race to the last
//!   approval); once per pass of a step ([`Error::Conflict`](crate::Error::Conflict) on
//!   `workflow_decisions_once_per_user`). Every decision names the content version the reviewer read
//!   ([`Error::Stale`](crate::Error::Stale), entity `review`, when the item was edited since). A
//!   rejection and a request for changes need a comment. A step that lists its `actions` takes only
//!   those ([`Error::Invalid`](crate::Error::Invalid) on `decision` otherwise); one listing none takes
//!   approve, reject and request changes. One rejection rejects the run, whatever the
//!   step's rule: the item goes `in_review -> rejected -> draft`. A request for changes holds the run
//!   (`changes_requested`; nobody decides) until the next edit. A skip completes a step that allows
//!   skipping (`allowSkip`); one skip is enough. In a conditional workflow a skipped step takes the
//!   transitions an approval would; transitions `on` reject or request changes are not taken (those
//!   decisions end or hold the run).
//! - **Re-approval after an edit.** A save of the item while its run is open (a new row of the version
//!   log, whatever path wrote it: a trigger on `content_versions`) voids every standing decision of the
//!   run (`voided_at`, `voided_at_version`), closes the open assignments, and starts the run over at the
//!   new version from its first steps (`round` + 1, timeline `edited` with the number voided). All
//!   decisions, not only those of open steps: each approved a version that is no longer the item.
//! - **Concurrency.** A decision locks the item, then the run, as an edit does, so decisions and edits
//!   of one item take turns and the last approval is applied once. The escalation job takes the item's
//!   lock with `SKIP LOCKED` (concurrent workers take different items, nobody waits for a reviewer)
//!   and claims each escalation with a unique timeline row (one per rule and pass of a step), so each
//!   is applied once whatever the number of workers.
//! - **Deadlines.** A run is due `timeout_hours` of the workflow after it started, a step
//!   `timeoutHours` after it was entered; [`ReviewRepo::overdue`] lists both. Passing a deadline does
//!   nothing by itself; escalation rules act (`afterHours` after the step was entered): `notify`
//!   writes outbox rows (to `to`, else to the step's pending assignees), `reassign` gives the step to
//!   `to` (pending assignees not among them are relieved; the approvals needed shrink to what the new
//!   assignees can still give), `auto_approve` / `auto_reject` decide on the assignees' behalf (a
//!   decision row with no user).
//! - **Notifications** are rows of `mixerai.workflow_outbox` for the host to deliver
//!   ([`ReviewJobs::undelivered`], [`ReviewJobs::mark_delivered`]); no mail leaves the crate.
//! - **Cancellation.** A run ends as [`RunStatus::Cancelled`] when its item leaves review by another
//!   path than the run's own moves: the draft under review of a live item is discarded
//!   ([`ContentRepo::discard_draft`](crate::content::ContentRepo::discard_draft)), the item is
//!   soft-deleted, or an admin takes its lifecycle step by hand (approve or reject), by any path (a
//!   trigger on content, migration 0021). Its open steps end as not reached, its pending assignments
//!   close (nobody keeps a decision that could no longer be applied), and the timeline records why
//!   ([`TimelineKind::Cancelled`]). Restoring a soft-deleted item does not bring its run back: it is
//!   `in_review` without a run, for an admin to approve or reject by hand.
//! - **Not maintained**: `content.workflow_id` and `content.current_step_id` (0008) stay as they are;
//!   the run is the record. Writing them would bump the item's concurrency token on every step, so an
//!   editor's save would be [`Error::Stale`](crate::Error::Stale) after each decision.
//! - **Spans.** The repositories hold the scope's context, as every other repository does, so their
//!   spans (`mixerai.reviews.*`) are children of the scope's span.

mod input;
mod model;
mod repo;

pub use input::{MAX_COMMENT_CHARS, NewDecision};
pub use model::{
    Assignment, Decision, Escalation, Notification, Overdue, PendingDecision, ReviewRun,
    ReviewStep, RunDetail, RunStatus, StepStatus, TimelineEntry, TimelineKind, Verdict,
};
pub use repo::{ReviewJobs, ReviewRepo, escalate_due};
