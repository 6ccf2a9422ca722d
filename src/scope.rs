//! Scopes: the transactions every read and write of MixerAI data runs in.

use sqlx::{AssertSqlSafe, PgConnection, PgPool};
use tracing::Instrument;

use crate::Result;
use crate::ai::AiGenerationRepo;
use crate::brands::{BrandRepo, BrandRole};
use crate::claims::ClaimRepo;
use crate::content::ContentRepo;
use crate::repo::Ctx;
use crate::templates::TemplateRepo;
use crate::types::{BrandId, UserId};
use crate::users::UserRepo;
use crate::workflows::WorkflowRepo;

/// A tenant scope: one transaction acting as one user inside one brand.
///
/// # Threat model
/// - **PostgreSQL enforces** which rows are visible and writable: the scope runs as the role
///   `mixerai_app` (no superuser, no `BYPASSRLS`, owns nothing) under `FORCE ROW LEVEL SECURITY`, with
///   policies that admit only rows of the scope's brand, and only what the user's live role allows.
/// - **The crate enforces** that the context is set correctly and only transaction-locally
///   (`set_config(.., true)`), in the same round trip as `BEGIN`, so it can never leak to the next
///   borrower of a pooled connection, even behind PgBouncer in transaction mode.
/// - **The host must never** do tenant work over a superuser or `BYPASSRLS` connection outside a
///   scope, nor call `set_config('app.…')` or `SET ROLE` itself.
///
/// Commit with [`Scope::commit`]. Dropping a scope without committing rolls it back.
///
/// # Tracing
/// A scope is a `tracing` span, `mixerai.scope`, with the acting `user` and `brand` as fields, open
/// from `BEGIN` until the scope is committed, rolled back or dropped; every repository call inside it
/// is a child span named after the call (`mixerai.content.create`, …). No span carries a secret or a
/// row's content.
#[derive(Debug)]
pub struct Scope {
    ctx: Ctx,
    user: UserId,
    brand: BrandId,
}

/// The application role tenant scopes switch to. Created by the migrations.
pub const APP_ROLE: &str = "mixerai_app";

impl Scope {
    pub(crate) async fn begin(pool: &PgPool, user: UserId, brand: BrandId) -> Result<Self> {
        // One simple-protocol round trip: BEGIN plus the whole context. The ids are typed UUIDs whose
        // text form is hex and dashes only, so formatting them into the statement cannot inject SQL;
        // the extended protocol (binds) would cost a second round trip.
        let begin = format!(
            "BEGIN; SELECT set_config('role', '{APP_ROLE}', true), \
             set_config('app.current_user_id', '{user}', true), \
             set_config('app.current_brand_id', '{brand}', true)"
        );
        let span = tracing::debug_span!("mixerai.scope", user = %user, brand = %brand);
        let tx = pool.begin_with(AssertSqlSafe(begin)).await?;
        Ok(Self {
            ctx: Ctx::new(tx, Some(user), Some(brand), span),
            user,
            brand,
        })
    }

    /// The user this scope acts as.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The brand this scope works inside.
    pub fn brand(&self) -> BrandId {
        self.brand
    }

    /// The acting user's live role in the scope's brand, as the policies see it: `None` when they have
    /// none (no role, an expired one, or a deleted user or brand). A platform admin is
    /// [`BrandRole::Admin`] everywhere.
    pub async fn role(&mut self) -> Result<Option<BrandRole>> {
        Ok(sqlx::query_scalar("SELECT mixerai.app_current_role()")
            .fetch_one(self.ctx.conn())
            .await?)
    }

    /// Makes every change of this scope durable and visible to others.
    pub async fn commit(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx.into_tx().commit().instrument(span).await?;
        Ok(())
    }

    /// Discards every change of this scope. Dropping the scope does the same.
    pub async fn rollback(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx.into_tx().rollback().instrument(span).await?;
        Ok(())
    }

    /// Users visible in this scope: the acting user and the brand's members.
    pub fn users(&mut self) -> UserRepo<'_> {
        UserRepo::new(&mut self.ctx)
    }

    /// The scope's brand and its memberships.
    pub fn brands(&mut self) -> BrandRepo<'_> {
        BrandRepo::new(&mut self.ctx)
    }

    /// The scope's brand's content.
    pub fn content(&mut self) -> ContentRepo<'_> {
        ContentRepo::new(&mut self.ctx)
    }

    /// The content templates assigned to the scope's brand.
    pub fn templates(&mut self) -> TemplateRepo<'_> {
        TemplateRepo::new(&mut self.ctx)
    }

    /// The workflow definitions assigned to the scope's brand.
    pub fn workflows(&mut self) -> WorkflowRepo<'_> {
        WorkflowRepo::new(&mut self.ctx)
    }

    /// The scope's brand's claims.
    pub fn claims(&mut self) -> ClaimRepo<'_> {
        ClaimRepo::new(&mut self.ctx)
    }

    /// The scope's brand's AI generations and usage.
    pub fn ai(&mut self) -> AiGenerationRepo<'_> {
        AiGenerationRepo::new(&mut self.ctx)
    }

    /// The scope's connection, for the host's own queries inside the scope (they run as
    /// `mixerai_app`, under the same policies). Never use it to `SET ROLE` or `set_config('app.…')`.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }
}

/// A system scope: one transaction with the pool's own role and no tenant context.
///
/// For maintenance jobs and set-up work that belongs to no single brand: creating users and brands,
/// granting a brand's first admin. It runs as the pool's own role, which must be the schema's owning
/// role with `BYPASSRLS` (see [`Database`](crate::Database)): row-level security does not apply here,
/// so every row of every brand is visible and writable. That role is a member of `mixerai_app`, so
/// without `BYPASSRLS` the policies written for tenants would hold it too and a system scope could
/// create neither a user nor a brand; [`Database::migrate`](crate::Database::migrate) refuses such a
/// role. Tenant work belongs in a [`Scope`], which never bypasses. Dropping it without committing rolls
/// it back.
///
/// Traced as the span `mixerai.system_scope`, the parent of its repository calls' spans.
#[derive(Debug)]
pub struct SystemScope {
    ctx: Ctx,
}

impl SystemScope {
    pub(crate) async fn begin(pool: &PgPool) -> Result<Self> {
        let span = tracing::debug_span!("mixerai.system_scope");
        Ok(Self {
            ctx: Ctx::new(pool.begin().await?, None, None, span),
        })
    }

    /// Makes every change of this scope durable and visible to others.
    pub async fn commit(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx.into_tx().commit().instrument(span).await?;
        Ok(())
    }

    /// Discards every change of this scope. Dropping the scope does the same.
    pub async fn rollback(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx.into_tx().rollback().instrument(span).await?;
        Ok(())
    }

    /// All users: create them, look them up, set the platform-admin flag.
    pub fn users(&mut self) -> UserRepo<'_> {
        UserRepo::new(&mut self.ctx)
    }

    /// All brands and memberships: create brands, grant their first roles.
    pub fn brands(&mut self) -> BrandRepo<'_> {
        BrandRepo::new(&mut self.ctx)
    }

    /// The scope's connection, for maintenance queries of the host's own.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }
}
