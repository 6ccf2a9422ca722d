//! Scopes: the transactions every read and write of MixerAI data runs in.

use std::time::Duration;

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
/// What holds even against a hostile tenant: one who runs arbitrary SQL inside their own scope
/// (through [`Scope::connection`], or an injection in host code), and outsiders with no role at all.
///
/// **PostgreSQL guarantees** (migrations, tested as `mixerai_app` in `tests/it/tenancy.rs` and
/// `tests/it/hardening.rs`):
/// - A scope sees and changes only its brand's rows, and only what the user's live role allows: the
///   scope runs as `mixerai_app` (no superuser, no `BYPASSRLS`, owns nothing) under `FORCE ROW LEVEL
///   SECURITY`, a RESTRICTIVE brand policy on every table, PERMISSIVE per-command role policies; no
///   context is no rows. Members see each other's public profile (`mixerai.user_profiles`) and nothing
///   more.
/// - The audit trail cannot be forged, rewritten or poisoned: the application role writes no event
///   directly; the audit trigger and `mixerai.append_event` set version, position, transaction, time,
///   user and brand themselves, and an explicit append goes only into the scope's brand's streams.
/// - Actor columns (`created_by`, `updated_by`, …) are the acting user, set by the database; a
///   reference to another row names a row of the same brand (composite keys, or a check for shared
///   templates and workflows); a brand hangs only under, and names as master claim brands only,
///   brands its admin administers.
/// - No function runs for just anyone: `EXECUTE` is revoked from `PUBLIC` on every function of the
///   schema and granted to `mixerai_app` for exactly the helpers its policies and statements call;
///   trigger functions refuse any table but their own; every function pins `search_path = ''` and
///   names everything by schema, so no object a tenant creates (in `public`, in `pg_temp`) is ever
///   picked up, and the schema itself is writable by its owner only.
/// - No lock a tenant or outsider can take blocks another brand: rules spanning rows lock brand rows
///   or rows of `mixerai.locks`, which untrusted roles cannot touch, never advisory keys.
///
/// **The crate guarantees** (this type):
/// - The context is set only transaction-locally (`set_config(.., true)`), in the same round trip as
///   `BEGIN`, so it never leaks to the next borrower of a pooled connection, also behind PgBouncer in
///   transaction mode.
/// - A scope starts from a clean session, whatever the previous borrower of the connection left: in
///   that same round trip, before `BEGIN`, `RESET ALL` (session settings, a changed `search_path`, a
///   session-level `app.*` value, `SET ROLE`), `DISCARD TEMP` (temporary tables that could shadow a
///   host's unqualified names), `UNLISTEN *` and `pg_advisory_unlock_all()`, committed on their own
///   so that a scope that rolls back does not bring the old state back. A [`SystemScope`] clears
///   the tenant context too, so nothing a tenant set is attributed to maintenance work. Measured cost:
///   see `benches/tenancy.rs` (the empty scope); no extra round trip.
/// - Every wait on a lock in a scope is bounded: `lock_timeout` is set for the transaction
///   ([`Database::with_lock_timeout`](crate::Database::with_lock_timeout), 5 s by default), and a wait
///   that runs out is [`Error::Retryable`](crate::Error::Retryable) (`55P03`).
/// - Every statement the crate runs names its objects by schema, so it does not depend on the session's
///   `search_path`.
///
/// **The host must**:
/// - never do tenant work over the owner's pool outside a scope, nor call `set_config('app.…')` or
///   `SET ROLE` itself;
/// - keep its own session settings in the connect options, not in `SET` statements on pooled
///   connections (a scope's `RESET ALL` returns each connection to the settings it was opened with);
/// - if tenant code may run arbitrary SQL inside scopes: open tenant scopes on a **tenant login**
///   ([`Database::with_tenant_login`](crate::Database::with_tenant_login)). On the owner's pool a
///   `RESET ROLE` inside a scope returns to the owner, which bypasses row-level security; on a tenant
///   login (a role without `BYPASSRLS`, a member of `mixerai_app` and of nothing that bypasses) it
///   returns to a role that gains nothing.
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

/// What every scope runs before its `BEGIN`, in the same round trip: the session back to the settings
/// its connection was opened with, no temporary objects, no notification channels, no session-level
/// advisory locks, whatever the connection's previous borrower did (see [`Scope`]'s threat model).
///
/// A transaction of its own, committed before the scope's `BEGIN`: statements before a `BEGIN` in one
/// simple query would otherwise join its transaction, and a scope that rolls back would undo the
/// reset (an explicit `COMMIT` of that implicit block works too, but warns on every scope).
const SESSION_RESET: &str =
    "BEGIN; RESET ALL; DISCARD TEMP; UNLISTEN *; SELECT pg_advisory_unlock_all(); COMMIT;";

impl Scope {
    pub(crate) async fn begin(
        pool: &PgPool,
        user: UserId,
        brand: BrandId,
        lock_timeout: Duration,
    ) -> Result<Self> {
        // One simple-protocol round trip: the session reset, BEGIN and the whole context. The ids are
        // typed UUIDs whose text form is hex and dashes only, and the timeout a number, so formatting
        // them into the statement cannot inject SQL; the extended protocol (binds) would cost a second
        // round trip.
        let begin = format!(
            "{SESSION_RESET} BEGIN; SELECT set_config('role', '{APP_ROLE}', true), \
             set_config('app.current_user_id', '{user}', true), \
             set_config('app.current_brand_id', '{brand}', true), \
             set_config('lock_timeout', '{}ms', true)",
            lock_timeout.as_millis()
        );
        let span = tracing::debug_span!("mixerai.scope", user = %user, brand = %brand);
        let tx = pool
            .begin_with(AssertSqlSafe(begin))
            .instrument(span.clone())
            .await?;
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
    pub(crate) async fn begin(pool: &PgPool, lock_timeout: Duration) -> Result<Self> {
        // As a tenant scope's begin (see there), with the tenant context cleared: a session-level
        // `app.*` value left behind would otherwise be read by the audit trigger as the actor.
        let begin = format!(
            "{SESSION_RESET} BEGIN; SELECT set_config('app.current_user_id', '', true), \
             set_config('app.current_brand_id', '', true), \
             set_config('lock_timeout', '{}ms', true)",
            lock_timeout.as_millis()
        );
        let span = tracing::debug_span!("mixerai.system_scope");
        let tx = pool
            .begin_with(AssertSqlSafe(begin))
            .instrument(span.clone())
            .await?;
        Ok(Self {
            ctx: Ctx::new(tx, None, None, span),
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
