//! [`Database`]: the pool, the embedded migrations, and the doors into scopes.

use std::sync::LazyLock;
use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use tracing::Instrument;

use crate::scope::{APP_ROLE, Isolation, Scope, ScopeKey, ScopeSettings, SystemScope};
use crate::types::{BrandId, UserId};
use crate::{Error, Result};

/// The schema every object of the crate lives in. Nothing is created in `public`.
pub const SCHEMA: &str = "mixerai";

/// The crate's own migration history table, inside [`SCHEMA`]: apart from sqlx's default
/// `_sqlx_migrations`, so a host's own sqlx migrations and the crate's never read each other's history.
pub const HISTORY_TABLE: &str = "mixerai._migrations";

/// The schema, embedded at compile time from `migrations/` (plain SQL, applied in file-name order),
/// recording what it applied in [`HISTORY_TABLE`].
///
/// Exposed so operators can list or inspect the migrations (`MIGRATOR.iter()`: version, description,
/// checksum, SQL); [`Database::migrate`] applies them. Run it through `migrate()`, not
/// `MIGRATOR.run(..)`: `migrate()` also checks the connecting role and never leaves the migration lock
/// behind on a pooled connection.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!();
    // Not "dangerous" here: the crate never recorded its history anywhere else.
    migrator.dangerous_set_table_name(HISTORY_TABLE);
    migrator.create_schema(SCHEMA);
    migrator
});

/// A handle on one PostgreSQL database holding the MixerAI schema. Cheap to clone (it wraps a pool).
///
/// # The role it connects as
/// One role owns the schema: it runs [`Database::migrate`], and its pool opens every scope. It needs
/// `BYPASSRLS` and should not be a superuser. Set it up once, as a superuser (`mixerai_app` is
/// cluster-wide: create it once per cluster, grant it to each database's owner):
///
/// ```sql
/// CREATE ROLE mixerai_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
/// CREATE ROLE mixerai_owner LOGIN PASSWORD '…' NOSUPERUSER BYPASSRLS;
/// GRANT mixerai_app TO mixerai_owner WITH ADMIN OPTION;
/// CREATE DATABASE mixerai OWNER mixerai_owner;
/// ```
///
/// Why `BYPASSRLS`: the migrations make the owner a member of `mixerai_app`, and a member inherits
/// its privileges, so every policy written `TO mixerai_app` (the RESTRICTIVE brand scopes included)
/// holds the owner too, on tables that are `FORCE ROW LEVEL SECURITY`. Without `BYPASSRLS` a
/// [`SystemScope`] could create neither a user nor a brand, and the audit trigger and the other
/// `SECURITY DEFINER` helpers, which run as the owner, would be refused by the brand scopes
/// (`new row violates row-level security policy "events_scope"`). PostgreSQL checks `BYPASSRLS` on the
/// *current* role, and a tenant [`Scope`] switches to `mixerai_app` (no `BYPASSRLS`), so tenant work
/// stays fully enforced.
///
/// `WITH ADMIN OPTION` is what lets the migrations' `GRANT mixerai_app TO CURRENT_USER` succeed (a
/// plain membership is refused); it is needed until the tenancy migration has been applied. Instead,
/// `CREATEROLE` on the owner also works on PostgreSQL 15 and older (and on 16 and newer when the
/// migrations create `mixerai_app` themselves), but is not recommended: before 16 it lets the role
/// grant itself membership in nearly any role.
///
/// Not supported, and refused by [`Database::migrate`] before it applies anything:
/// - **A role without `BYPASSRLS`.** It would need, on every table and every future one, a policy
///   admitting it to everything (the same power as `BYPASSRLS`, spelled table by table, and one
///   forgotten table breaks system scopes), and it would have to be `NOINHERIT` so the tenant policies
///   stop applying to it, an attribute the migrations cannot set or rely on.
/// - **Connecting as `mixerai_app`** or any role that does not bypass: system scopes cannot work.
///
/// A superuser works but is not recommended: it can do anything else as well.
///
/// # An optional tenant login
/// By default tenant scopes run on the owner's pool and switch to `mixerai_app` for the transaction.
/// If tenant code may run arbitrary SQL inside a scope, a `RESET ROLE` there would return to the
/// owner, which bypasses row-level security. [`Database::with_tenant_login`] closes that: tenant scopes
/// then run on a pool of their own, logged in as a role that cannot bypass anything, so a `RESET ROLE`
/// gains nothing. Set it up once, as a superuser:
///
/// ```sql
/// CREATE ROLE mixerai_tenant LOGIN PASSWORD '…' NOSUPERUSER NOBYPASSRLS NOINHERIT;
/// GRANT mixerai_app TO mixerai_tenant;
/// ```
///
/// `NOINHERIT`: outside the scope's `SET ROLE mixerai_app` the login holds no privilege of its own, not
/// even on the crate's schema.
#[derive(Debug, Clone)]
pub struct Database {
    pool: PgPool,
    tenant_pool: Option<PgPool>,
    settings: ScopeSettings,
    retry: RetryPolicy,
    /// Read on the first scope (the schema may not exist before [`Database::migrate`]), shared by
    /// the clones.
    scope_key: std::sync::Arc<tokio::sync::OnceCell<ScopeKey>>,
}

/// How [`Database::run_in_scope`] retries: up to `max_attempts` runs in all, waiting before each
/// retry a random time up to `base_delay` doubled per attempt and capped at `max_delay` ("full
/// jitter", so retrying clients spread out instead of colliding again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Runs in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The cap of the first wait.
    pub base_delay: Duration,
    /// The cap of any wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five runs, waits capped at 10 ms, 20 ms, 40 ms, 80 ms.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        }
    }
}

/// The future of one run of [`Database::run_in_scope`]'s work: boxed, `Send`, borrowing the scope.
pub type ScopeFuture<'s, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 's>>;

impl RetryPolicy {
    /// Whether to run again after run `attempt` ended with `outcome`, and after what pause.
    fn pause<T>(&self, attempt: u32, outcome: &Result<T>) -> Option<Duration> {
        match outcome {
            Err(err) if err.is_retryable() && attempt < self.max_attempts.max(1) => {
                tracing::debug!(attempt, error = %err, "retrying");
                Some(self.delay(attempt))
            }
            _ => None,
        }
    }

    /// The wait before run `attempt + 1`, after `attempt` failed.
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // A fresh RandomState is randomly seeded (std draws the seed from the OS once per thread and
        // moves it on per instance): enough randomness for jitter, with no dependency.
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        cap.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// How long a statement in a scope waits for a lock before giving up, unless
/// [`Database::with_lock_timeout`] says otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

impl Database {
    /// Connects a pool with sqlx's default settings (at most 10 connections) to `url`
    /// (`postgres://user@host:port/dbname`). For other pool settings use [`Database::connect_with`].
    /// The user should be the schema's owning role: `BYPASSRLS`, a member of `mixerai_app`, not a
    /// superuser (see [`Database`]).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url.parse()?, PgPoolOptions::new()).await
    }

    /// Connects a pool built from the host's own settings: `options` says where and as whom (see
    /// [`Database`] for the role), `pool` how many connections, timeouts and hooks.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mixerai_data::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    ///
    /// # async fn run() -> mixerai_data::Result<()> {
    /// let options: PgConnectOptions = "postgres://mixerai_owner@db.internal/app".parse()?;
    /// let db = mixerai_data::Database::connect_with(
    ///     options.application_name("content-api"),
    ///     PgPoolOptions::new().max_connections(32).acquire_timeout(Duration::from_secs(3)),
    /// )
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(options: PgConnectOptions, pool: PgPoolOptions) -> Result<Self> {
        Ok(Self::from_pool(pool.connect_with(options).await?))
    }

    /// Runs every tenant scope on a pool of its own, logged in with `options` as a tenant login (see
    /// [`Database`]): a role that is a member of `mixerai_app`, neither a superuser nor `BYPASSRLS`, and
    /// a member of no role that is. Refused with [`Error::Misconfigured`] otherwise, before any scope
    /// runs on it. System scopes and migrations keep the owner's pool.
    ///
    /// SQL on that login can still do what any login may do to itself: change its own password and
    /// session defaults, and cancel its other sessions' queries. Authenticate it by certificate or
    /// peer rather than a password, and see [`Scope`]'s threat model for the rest.
    pub async fn with_tenant_login(
        mut self,
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> Result<Self> {
        let tenant = pool.connect_with(options).await?;
        let (role, member, escapes): (String, bool, bool) = sqlx::query_as(
            "SELECT current_user::text, pg_has_role(current_user, $1, 'MEMBER'),
                    EXISTS (SELECT 1 FROM pg_roles r
                            WHERE (r.rolsuper OR r.rolbypassrls)
                              AND pg_has_role(current_user, r.oid, 'MEMBER'))",
        )
        .bind(APP_ROLE)
        .fetch_one(&tenant)
        .await?;
        if !member || escapes {
            tenant.close().await;
            return Err(Error::Misconfigured {
                reason: format!(
                    "role \"{role}\" cannot be the tenant login: it must be a member of {APP_ROLE} \
                     and neither be, nor be a member of, a role that is a superuser or BYPASSRLS \
                     (as a superuser: CREATE ROLE … LOGIN NOINHERIT NOBYPASSRLS; GRANT {APP_ROLE} TO …)"
                ),
            });
        }
        self.tenant_pool = Some(tenant);
        Ok(self)
    }

    /// Bounds every lock wait of a scope's statements (`lock_timeout`, transaction-local). A wait that
    /// runs out fails the statement with [`Error::Retryable`] (`55P03`). Default
    /// [`DEFAULT_LOCK_TIMEOUT`].
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.settings.lock_timeout = timeout;
        self
    }

    /// The isolation level every scope begins at (default [`Isolation::ReadCommitted`]); see
    /// [`Isolation`] for what each produces under contention.
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.settings.isolation = isolation;
        self
    }

    /// How [`Database::run_in_scope`] retries (default [`RetryPolicy::default`]).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Wraps an existing pool. The pool's role must be the role that migrated the schema, or one like it:
    /// `BYPASSRLS`, a member of `mixerai_app` (the migrations grant this to the role that runs them),
    /// and not a superuser (see [`Database`] and [`Scope`]).
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            tenant_pool: None,
            settings: ScopeSettings {
                lock_timeout: DEFAULT_LOCK_TIMEOUT,
                isolation: Isolation::ReadCommitted,
            },
            retry: RetryPolicy::default(),
            scope_key: Default::default(),
        }
    }

    /// The underlying pool, for the host's own queries outside the MixerAI schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies every migration not yet applied, in order; a no-op when the schema is current.
    ///
    /// The history is kept in [`HISTORY_TABLE`], so the host's own sqlx migrations (in sqlx's default
    /// `_sqlx_migrations`, or wherever it keeps them) and the crate's run side by side, in either order
    /// and on every restart. A host migration that uses the crate's schema (a foreign key to
    /// `mixerai.content`, a policy calling `mixerai.app_current_brand_id()`) must run after this call:
    /// call `migrate()` first, then the host's migrator.
    ///
    /// Safe to run from several processes at once: sqlx holds a PostgreSQL advisory lock while it
    /// migrates, so one process applies and the others find nothing left to do. The lock is a session
    /// lock, so `migrate()` runs on a connection of its own that it closes afterwards, whether it
    /// succeeded or not: a failed migration never leaves the lock held on a pooled connection, and a
    /// process waiting on the lock goes on as soon as the first one finishes or fails.
    ///
    /// A migration that fails is [`crate::Error::Migration`], naming it (version and description),
    /// with PostgreSQL's error as the source; its transaction is rolled back, so nothing of it is
    /// applied. A database that holds a migration this build does not know, or one whose checksum
    /// changed, is [`crate::Error::Migrate`].
    ///
    /// Before applying anything it checks the connecting role (see [`Database`]) and fails with
    /// [`crate::Error::Forbidden`], its reason naming what is missing, when the role
    /// - can neither bypass row-level security nor is a superuser: it needs `BYPASSRLS`; or
    /// - still has to make itself a member of `mixerai_app` (the tenancy migration is not applied yet)
    ///   and cannot: it needs `mixerai_app` granted `WITH ADMIN OPTION`.
    ///
    /// Either way nothing is applied, instead of failing later with row-level security errors.
    #[tracing::instrument(name = "mixerai.migrate", skip_all, err)]
    pub async fn migrate(&self) -> Result<()> {
        // Taken from the pool (so its settings and credentials apply) and detached from it: the
        // connection is closed when this returns and never goes back to the pool with sqlx's advisory
        // lock still held.
        let mut conn = self.pool.acquire().await?.detach();
        let outcome = migrate_on(&mut conn).await;
        // Closing ends the session, which releases the lock whatever state the migration left it in.
        let _ = conn.close().await;
        outcome
    }

    /// The connection options of this database's pool, e.g. to open a connection of one's own.
    pub fn connect_options(&self) -> PgConnectOptions {
        (*self.pool.connect_options()).clone()
    }

    /// Opens a tenant scope: a transaction acting as `user` inside `brand`, with row-level security
    /// enforced by PostgreSQL. See [`Scope`].
    pub async fn scope(&self, user: UserId, brand: BrandId) -> Result<Scope> {
        self.begin_scope(user, brand, false).await
    }

    /// Opens a read-only tenant scope: as [`Database::scope`], in a `READ ONLY` transaction, which
    /// ends without a round trip ([`Scope::commit`] and dropping it are the same). For reads, which
    /// then cost what the same statements cost on the pool outside any scope, plus the policies (see
    /// [`Scope`]). A write in it is [`Error::Forbidden`].
    pub async fn read_scope(&self, user: UserId, brand: BrandId) -> Result<Scope> {
        self.begin_scope(user, brand, true).await
    }

    /// The tenant scope of `user` in `brand`, on the tenant login's pool if there is one.
    async fn begin_scope(&self, user: UserId, brand: BrandId, read_only: bool) -> Result<Scope> {
        let key = self
            .scope_key
            .get_or_try_init(|| ScopeKey::load(&self.pool))
            .await?;
        let (pool, tenant_login) = match &self.tenant_pool {
            Some(tenant) => (tenant, true),
            None => (&self.pool, false),
        };
        Scope::begin(
            pool,
            key,
            user,
            brand,
            &self.settings,
            read_only,
            tenant_login,
        )
        .await
    }

    /// Opens a system scope: a transaction with the pool's own role and no tenant context, for
    /// maintenance jobs and set-up (creating users and brands, granting the first roles). See
    /// [`SystemScope`].
    pub async fn system_scope(&self) -> Result<SystemScope> {
        SystemScope::begin(&self.pool, &self.settings).await
    }

    /// Runs `work` in a tenant scope and commits it, running it again in a new scope, after a pause,
    /// when a run fails in a way that is safe to retry ([`Error::is_retryable`]: a lost race, or a
    /// connection that failed before anything was committed), at most as often as the
    /// [`RetryPolicy`] allows. Never after [`Error::CommitUnknown`]: that is returned, since running
    /// the work again might apply it twice (guard such writes with [`Scope::claim_once`]). Any other
    /// error is returned as it is, the scope rolled back.
    ///
    /// `work` may run more than once, so it must not have effects outside the scope that a retry
    /// would repeat. It returns its future boxed, as sqlx's own `Connection::transaction` does, so the
    /// whole call is `Send` (an axum handler can await it); that future may borrow the scope and
    /// nothing else, so a run takes its own copy of what it needs. The call is the span
    /// `mixerai.run_in_scope`, whose field `attempts` says how many runs it took.
    ///
    /// ```no_run
    /// # async fn run(db: mixerai_data::Database, user: mixerai_data::UserId, brand: mixerai_data::BrandId)
    /// # -> mixerai_data::Result<()> {
    /// use mixerai_data::content::NewContent;
    ///
    /// let new = NewContent::builder().content_type("article").title("Retried safely").build()?;
    /// let item = db
    ///     .run_in_scope(user, brand, move |scope| {
    ///         let new = new.clone();
    ///         Box::pin(async move { scope.content().create(&new).await })
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_in_scope<T, F>(&self, user: UserId, brand: BrandId, mut work: F) -> Result<T>
    where
        F: for<'s> FnMut(&'s mut Scope) -> ScopeFuture<'s, T> + Send,
        T: Send,
    {
        let span = tracing::debug_span!(
            "mixerai.run_in_scope",
            user = %user,
            brand = %brand,
            attempts = tracing::field::Empty
        );
        async move {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let outcome = match self.scope(user, brand).await {
                    Ok(mut scope) => match work(&mut scope).await {
                        Ok(value) => scope.commit().await.map(|()| value),
                        Err(err) => Err(err),
                    },
                    Err(err) => Err(err),
                };
                match self.retry.pause(attempt, &outcome) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => {
                        tracing::Span::current().record("attempts", attempt);
                        return outcome;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// [`Database::run_in_scope`] for a system scope.
    pub async fn run_in_system_scope<T, F>(&self, mut work: F) -> Result<T>
    where
        F: for<'s> FnMut(&'s mut SystemScope) -> ScopeFuture<'s, T> + Send,
        T: Send,
    {
        let span = tracing::debug_span!(
            "mixerai.run_in_system_scope",
            attempts = tracing::field::Empty
        );
        async move {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let outcome = match self.system_scope().await {
                    Ok(mut scope) => match work(&mut scope).await {
                        Ok(value) => scope.commit().await.map(|()| value),
                        Err(err) => Err(err),
                    },
                    Err(err) => Err(err),
                };
                match self.retry.pause(attempt, &outcome) {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => {
                        tracing::Span::current().record("attempts", attempt);
                        return outcome;
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// The whole of [`Database::migrate`] on one connection: the role check, then sqlx's migrator, with a
/// failed migration named.
async fn migrate_on(conn: &mut sqlx::PgConnection) -> Result<()> {
    check_owner_role(conn).await?;
    MIGRATOR.run(&mut *conn).await.map_err(|err| match err {
        MigrateError::ExecuteMigration(source, version) => Error::Migration {
            version,
            description: MIGRATOR
                .iter()
                .find(|m| m.version == version)
                .map(|m| m.description.to_string())
                .unwrap_or_default(),
            source,
        },
        other => Error::Migrate(other),
    })
}

/// Refuses a connecting role that cannot own the schema (see [`Database::migrate`]).
async fn check_owner_role(conn: &mut sqlx::PgConnection) -> Result<()> {
    // pg_roles and pg_auth_members are readable by every role. Only a direct grant with the admin
    // option counts, as that is what 0001's `GRANT mixerai_app TO CURRENT_USER` needs (seen on 15: a
    // plain member is refused with "must have admin option"). CREATEROLE suffices when the role is
    // created by the migration itself, and on PostgreSQL 15 and older for an existing one too (16
    // lets CREATEROLE grant only roles it administers).
    let (role, superuser, bypassrls, can_grant_app): (String, bool, bool, bool) = sqlx::query_as(
        "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
                    r.rolsuper
                    OR EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.roleid
                               WHERE a.rolname = $1 AND m.member = r.oid AND m.admin_option)
                    OR (r.rolcreaterole
                        AND (NOT EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = $1)
                             OR current_setting('server_version_num')::int < 160000))
             FROM pg_roles r WHERE r.rolname = current_user",
    )
    .bind(APP_ROLE)
    .fetch_one(&mut *conn)
    .await?;
    if !(superuser || bypassrls) {
        return Err(Error::Misconfigured {
            reason: format!(
                "role \"{role}\" may not migrate: it can neither bypass row-level security nor is \
                 it a superuser. The role that owns the schema and opens system scopes needs \
                 BYPASSRLS (as a superuser: ALTER ROLE \"{role}\" BYPASSRLS); nothing was applied"
            ),
        });
    }
    if !can_grant_app && !role_grant_applied(conn).await? {
        return Err(Error::Misconfigured {
            reason: format!(
                "role \"{role}\" may not migrate: it cannot grant itself {APP_ROLE}. As a \
                 superuser, create {APP_ROLE} if missing and run GRANT {APP_ROLE} TO \"{role}\" \
                 WITH ADMIN OPTION; nothing was applied"
            ),
        });
    }
    Ok(())
}

/// Whether the migration that creates `mixerai_app` and grants it to the migrating role (0001) is
/// applied already. The history table does not exist before the first migration.
async fn role_grant_applied(conn: &mut sqlx::PgConnection) -> Result<bool> {
    let has_table: bool =
        sqlx::query_scalar("SELECT to_regclass('mixerai._migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !has_table {
        return Ok(false);
    }
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mixerai._migrations WHERE version = 1 AND success)",
    )
    .fetch_one(&mut *conn)
    .await?)
}
