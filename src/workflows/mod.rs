//! Workflow definitions: review and approval steps and the transitions between them (spec 2.4).
//!
//! Laid out as every domain module is: the model (what a workflow is: [`Workflow`], its
//! [`WorkflowStep`]s, [`WorkflowTransition`]s and [`EscalationRule`]s), input (what a caller hands in:
//! [`WorkflowInput`], [`NewWorkflow`] and [`WorkflowPatch`] with their builders, [`WorkflowFilter`]),
//! and the repository ([`WorkflowRepo`]).
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
//!   assignees, or approve or reject automatically. An empty list is stored as none (`NULL`).
//! - **One default per brand and content type** among active workflows, enforced by a trigger under
//!   row locks on the brands' rows (migration 0007; arrays defeat unique indexes, and an advisory key
//!   could be held by anyone), so also between two concurrent creators: a clash is [`Error::Conflict`](crate::Error::Conflict) on
//!   `workflows_one_default_per_brand_type`. A default names at least one content type. A workflow is
//!   created as a default ([`NewWorkflowBuilder::is_default`]) or made one with the named action
//!   [`WorkflowRepo::set_default`], which ends the brand's previous default in the same transaction; a
//!   patch cannot set `is_default`.
//! - **Brands**: created for the scope's brand (brand admins), or shared with more brands (platform
//!   admins, [`NewWorkflowBuilder::share_with`]). Sharing is fixed at creation.
//! - **Optimistic concurrency.** [`WorkflowRepo::update`] and [`WorkflowRepo::set_default`] take the
//!   `version` the caller read; a workflow saved since is [`Error::Stale`](crate::Error::Stale) with the
//!   version it is at, and nothing is written. The database adds one to `version` on every write,
//!   whoever makes it (ending a default moves that workflow's version too).
//! - **No soft delete**: the table has no `deleted_at`, and content and workflow runs keep pointing at
//!   their workflow, so a workflow is never deleted. It is deactivated instead, by a patch of
//!   `is_active` ([`WorkflowPatchBuilder::is_active`]): it is then no longer offered for new runs and
//!   stops being a default; running instances keep it.
//! - **A patch is checked twice.** Its builder checks what it sets, alone (and the parts it sets that
//!   must agree, together), before any round trip. But transitions and escalations must name steps of
//!   the workflow, its type decides whether transitions may have conditions, and a default must name
//!   its content types: a patch that replaces one of these parts cannot know the others.
//!   [`WorkflowRepo::update`] reads the stored workflow and checks it as the patch would leave it,
//!   reporting every problem at once, before it writes; the version guard of the write makes that
//!   check and the write one step.
//! - **Error paths** name columns as the table does (`steps[1].order`, `transitions[0].to`) and keys
//!   inside the JSON documents as they are stored (`steps[0].timeoutHours`); the brands a workflow is
//!   shared with are `shared_with[i]`, as the input names them.

mod input;
mod model;
mod repo;

pub use input::{
    MAX_HOURS, MAX_STEPS, NewWorkflow, NewWorkflowBuilder, WorkflowFilter, WorkflowInput,
    WorkflowPatch, WorkflowPatchBuilder,
};
pub use model::{
    AssignmentType, EscalationAction, EscalationRule, StepAction, StepId, StepType, Workflow,
    WorkflowStep, WorkflowTransition, WorkflowType,
};
pub use repo::WorkflowRepo;
