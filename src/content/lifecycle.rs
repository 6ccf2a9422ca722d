//! The publishing lifecycle: the transition table, approvals, and the named steps of the repository.
//!
//! The database enforces the machine (migration 0014, `mixerai.content_transitions` and the trigger
//! `content_lifecycle`), whoever writes; each method here is one statement the trigger checks and
//! completes. [`TRANSITIONS`] is the same table, for documentation and callers (a test keeps the two
//! equal).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Content, ContentStatus, content_columns};
use super::repo::ContentRepo;
use super::versions::ContentHash;
use crate::brands::BrandRole;
use crate::types::{BrandId, ContentId, UserId};
use crate::{Error, Result};

/// One step of the lifecycle: from a status, by an action, to a status, and who may take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The status it leaves.
    pub from: ContentStatus,
    /// Its name: the repository method that takes it, `edit` for where a save moves an item, `discard`
    /// for [`ContentRepo::discard_draft`].
    pub action: &'static str,
    /// The status it reaches.
    pub to: ContentStatus,
    /// The least role that may take it: [`BrandRole::Editor`] (editors and admins) or
    /// [`BrandRole::Admin`].
    pub least_role: BrandRole,
    /// Whether the publishing job ([`super::publish_due`]) takes it too.
    pub by_job: bool,
}

const fn step(
    from: ContentStatus,
    action: &'static str,
    to: ContentStatus,
    least_role: BrandRole,
    by_job: bool,
) -> Transition {
    Transition {
        from,
        action,
        to,
        least_role,
        by_job,
    }
}

use BrandRole::{Admin, Editor};
use ContentStatus::{
    Approved, Archived, Draft, InReview, PendingReview, Published, Rejected, Scheduled,
};

/// Every step of the lifecycle, as `mixerai.content_transitions` holds it (see the
/// [module docs](super#lifecycle)). Any other change of status is [`Error::IllegalTransition`].
pub const TRANSITIONS: &[Transition] = &[
    step(Draft, "submit", PendingReview, Editor, false),
    step(PendingReview, "withdraw", Draft, Editor, false),
    step(PendingReview, "start_review", InReview, Admin, false),
    step(InReview, "approve", Approved, Admin, false),
    step(InReview, "reject", Rejected, Admin, false),
    step(Rejected, "revise", Draft, Editor, false),
    step(Approved, "revoke", PendingReview, Admin, false),
    step(Approved, "schedule", Scheduled, Editor, false),
    step(Approved, "publish", Published, Editor, false),
    step(Scheduled, "unschedule", Approved, Editor, false),
    step(Scheduled, "publish", Published, Editor, true),
    step(Published, "archive", Archived, Admin, true),
    step(Archived, "reopen", Draft, Editor, false),
    step(Published, "edit", Draft, Editor, false),
    step(Archived, "edit", Draft, Editor, false),
    step(Rejected, "edit", Draft, Editor, false),
    step(Approved, "edit", PendingReview, Editor, false),
    step(Scheduled, "edit", PendingReview, Editor, false),
    step(Draft, "discard", Published, Editor, false),
    step(PendingReview, "discard", Published, Editor, false),
    step(InReview, "discard", Published, Editor, false),
    step(Rejected, "discard", Published, Editor, false),
    step(Approved, "discard", Published, Editor, false),
    step(Scheduled, "discard", Published, Editor, false),
];

/// An approval of one version of an item: what was approved (the version and its content's hash), by
/// whom, and whether it still stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Approval {
    /// Primary key.
    pub id: Uuid,
    /// The item.
    pub content_id: ContentId,
    /// Its brand.
    pub brand_id: BrandId,
    /// The version approved.
    pub version: i32,
    /// The hash of that version's content: exactly what was approved.
    pub content_hash: ContentHash,
    /// Who approved it.
    pub approved_by: Option<UserId>,
    /// When.
    pub approved_at: DateTime<Utc>,
    /// When it was voided (an edit after approval, a revoked approval, a discarded or superseded
    /// schedule); `None` while it stands or after it went live.
    pub voided_at: Option<DateTime<Utc>>,
    /// Who voided it.
    pub voided_by: Option<UserId>,
    /// The item's `version` when it was voided.
    pub voided_at_version: Option<i32>,
}

macro_rules! approval_columns {
    () => {
        "a.id, a.content_id, a.brand_id, a.version::integer AS version, a.content_hash, a.approved_by, \
         a.approved_at, a.voided_at, a.voided_by, a.voided_at_version::integer AS voided_at_version"
    };
}

/// What a step's refusal is read from: the row as the scope sees it, and whether the user may write.
const STEP_PROBE: &str = "SELECT version, deleted_at IS NOT NULL, status, mixerai.app_can_write()
                          FROM mixerai.content WHERE id = $1";

impl ContentRepo<'_> {
    /// Changes the status of a live item at `expected_version` to `to` (with `scheduled_for` for a
    /// schedule); the trigger checks the step and does the rest.
    async fn set_status(
        &mut self,
        id: ContentId,
        expected_version: i32,
        to: ContentStatus,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let moved = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET status = $3, scheduled_for = coalesce($4, scheduled_for),
                 updated_by = $5
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL AND status <> $3 RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(to)
        .bind(scheduled_for)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match moved {
            Some(content) => Ok(content),
            None => Err(self.refused_step(id, expected_version, to).await?),
        }
    }

    /// Why a step touched no row: not visible, stale, deleted, not the user's to write, or not a step
    /// from where the item is.
    async fn refused_step(
        &mut self,
        id: ContentId,
        expected: i32,
        to: ContentStatus,
    ) -> Result<Error> {
        let row: Option<(i32, bool, ContentStatus, bool)> = sqlx::query_as(STEP_PROBE)
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        Ok(match row {
            None => Error::NotFound { entity: "content" },
            Some((actual, ..)) if actual != expected => Error::Stale {
                entity: "content",
                expected,
                actual,
            },
            Some((_, true, ..)) => Error::NotFound { entity: "content" },
            Some((_, _, _, false)) => {
                Error::forbidden("the acting user's role does not allow changing this content")
            }
            Some((_, _, from, _)) => Error::IllegalTransition { from, to },
        })
    }

    /// `draft -> pending_review`: submits a draft for review. Editors and admins.
    ///
    /// Like every step: `expected_version` is the `version` the caller read ([`Error::Stale`] when it
    /// moved on); a step the [transition table](super#lifecycle) has no row for, from the item's
    /// status, is [`Error::IllegalTransition`]; a role that may not take it is [`Error::Forbidden`];
    /// an absent, soft-deleted or invisible item is [`Error::NotFound`]; approving, scheduling and
    /// publishing a version the brand's compliance gate blocks is [`Error::ComplianceBlocked`] (see
    /// [the gate](crate::claims#the-gate)). Returns the item as it is now.
    #[tracing::instrument(name = "mixerai.content.submit", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn submit(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, PendingReview, None)
            .await
    }

    /// `pending_review -> draft`: takes a submission back. Editors and admins.
    #[tracing::instrument(name = "mixerai.content.withdraw", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn withdraw(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Draft, None).await
    }

    /// `pending_review -> in_review`: a reviewer takes it up. Admins.
    #[tracing::instrument(name = "mixerai.content.start_review", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn start_review(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, InReview, None).await
    }

    /// `in_review -> approved`: approves exactly the head's latest version, as the caller read it at
    /// `expected_version` (an edit since is [`Error::Stale`]): an [`Approval`] pinned to that version
    /// and its content hash ([`approval`](Self::approval) reads it). Admins. A brand that gates
    /// approval refuses it, [`Error::ComplianceBlocked`], unless that version's checks clear it in
    /// every target market as of now.
    #[tracing::instrument(name = "mixerai.content.approve", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn approve(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Approved, None).await
    }

    /// `in_review -> rejected`: sends it back. Admins.
    #[tracing::instrument(name = "mixerai.content.reject", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn reject(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Rejected, None).await
    }

    /// `rejected -> draft`: back to writing (a save of a rejected item does the same). Editors and
    /// admins.
    #[tracing::instrument(name = "mixerai.content.revise", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn revise(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Draft, None).await
    }

    /// `approved -> pending_review`: takes the standing approval back (it is voided). Admins.
    #[tracing::instrument(name = "mixerai.content.revoke_approval", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn revoke_approval(
        &mut self,
        id: ContentId,
        expected_version: i32,
    ) -> Result<Content> {
        self.set_status(id, expected_version, PendingReview, None)
            .await
    }

    /// `approved -> scheduled`: pins the approved version to go live at `at` (the publishing job
    /// publishes exactly it, whatever is saved after). A time in the past is due at the job's next
    /// run. Editors and admins. A brand that gates publishing refuses it,
    /// [`Error::ComplianceBlocked`], unless the version's checks clear it in every target market as of
    /// `at`.
    #[tracing::instrument(name = "mixerai.content.schedule", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn schedule(
        &mut self,
        id: ContentId,
        expected_version: i32,
        at: DateTime<Utc>,
    ) -> Result<Content> {
        self.set_status(id, expected_version, Scheduled, Some(at))
            .await
    }

    /// `scheduled -> approved`: cancels the schedule; the approval stands. Editors and admins. (A
    /// pending schedule of an item edited since is cancelled with [`reschedule`](Self::reschedule)`(…, None)`.)
    #[tracing::instrument(name = "mixerai.content.unschedule", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn unschedule(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Approved, None).await
    }

    /// Moves a pending schedule to `at`, or cancels it (`None`): also one kept after the item was
    /// edited. [`Error::Invalid`] (`scheduled_for`) when nothing is scheduled. Editors and admins. A
    /// new time is asked of the compliance gate like a schedule ([`Error::ComplianceBlocked`]); a
    /// cancellation is not.
    #[tracing::instrument(name = "mixerai.content.reschedule", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn reschedule(
        &mut self,
        id: ContentId,
        expected_version: i32,
        at: Option<DateTime<Utc>>,
    ) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let moved = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET scheduled_for = $3, updated_by = $4
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL
               AND scheduled_for IS DISTINCT FROM $3 RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(at)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match moved {
            Some(content) => Ok(content),
            None => {
                let current = self.get(id).await?;
                if current.version == expected_version {
                    Ok(current)
                } else {
                    Err(Error::Stale {
                        entity: "content",
                        expected: expected_version,
                        actual: current.version,
                    })
                }
            }
        }
    }

    /// `approved -> published` (or `scheduled -> published`, now rather than at the scheduled time):
    /// the approved version goes live, switching the live pointer in one statement; the database
    /// checks that its content hashes to what the approval recorded. A pending schedule is superseded.
    /// Stamps `published_at` / `published_by` on the first publication. Editors and admins. A brand
    /// that gates publishing refuses it, [`Error::ComplianceBlocked`], unless the version's checks clear
    /// it in every target market as of now.
    #[tracing::instrument(name = "mixerai.content.publish", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn publish(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Published, None).await
    }

    /// `archived -> draft`: writing again on an item taken down. Editors and admins.
    #[tracing::instrument(name = "mixerai.content.reopen", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn reopen(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        self.set_status(id, expected_version, Draft, None).await
    }

    /// Takes the live version down: nothing of the item is live any more. A published item becomes
    /// `archived` (`published -> archived`); a draft ahead of the live version stays the draft it is.
    /// [`Error::IllegalTransition`] (to `archived`) when nothing is live. Admins.
    #[tracing::instrument(name = "mixerai.content.unpublish", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn unpublish(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let moved = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET live_version = NULL, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL AND live_version IS NOT NULL
             RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match moved {
            Some(content) => Ok(content),
            None => Err(self.refused_step(id, expected_version, Archived).await?),
        }
    }

    /// Discards the draft of a live item: the head holds the live version's content again and is
    /// `published`; the live version is untouched, the discarded versions stay in the history, a
    /// standing approval or schedule of the draft is voided. [`Error::IllegalTransition`] (to
    /// `published`) when nothing is live or no draft is ahead of it. Editors and admins.
    #[tracing::instrument(name = "mixerai.content.discard_draft", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn discard_draft(&mut self, id: ContentId, expected_version: i32) -> Result<Content> {
        let user = self.ctx.tenant_user();
        let moved = sqlx::query_as::<_, Content>(concat!(
            "UPDATE mixerai.content SET latest_version = live_version, updated_by = $3
             WHERE id = $1 AND version = $2 AND deleted_at IS NULL AND live_version IS NOT NULL
               AND latest_version <> live_version
             RETURNING ",
            content_columns!()
        ))
        .bind(id)
        .bind(expected_version)
        .bind(user)
        .fetch_optional(self.conn())
        .await?;
        match moved {
            Some(content) => Ok(content),
            None => Err(self.refused_step(id, expected_version, Published).await?),
        }
    }

    /// The approval standing for the item's head (status `approved` or `scheduled`), if any.
    #[tracing::instrument(name = "mixerai.content.approval", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn approval(&mut self, id: ContentId) -> Result<Option<Approval>> {
        Ok(sqlx::query_as::<_, Approval>(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM mixerai.content c
              JOIN mixerai.content_approvals a ON a.content_id = c.id AND a.version = c.approved_version
              WHERE c.id = $1 AND a.voided_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.conn())
        .await?)
    }

    /// Every approval of an item, standing or voided, newest first.
    #[tracing::instrument(name = "mixerai.content.approvals", parent = self.ctx.span(), skip_all, fields(id = %id), err(level = "debug"))]
    pub async fn approvals(&mut self, id: ContentId) -> Result<Vec<Approval>> {
        Ok(sqlx::query_as::<_, Approval>(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM mixerai.content_approvals a WHERE a.content_id = $1
              ORDER BY a.approved_at DESC, a.id DESC"
        ))
        .bind(id)
        .fetch_all(self.conn())
        .await?)
    }
}
