//! Scopes: the transactions every read and write of MixerAI data runs in.

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Transaction};
use tracing::Instrument;

use crate::ai::AiGenerationRepo;
use crate::brands::{BrandRepo, BrandRole};
use crate::claims::ClaimRepo;
use crate::content::{ContentRepo, PublishingJob};
use crate::events::EventRepo;
use crate::repo::Ctx;
use crate::reviews::{ReviewJobs, ReviewRepo};
use crate::templates::TemplateRepo;
use crate::types::{BrandId, UserId};
use crate::users::UserRepo;
use crate::workflows::WorkflowRepo;
use crate::{Result, ValidationErrors};

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
///   directly; the audit trigger and `mixerai.append_events` set version, position, transaction, time,
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
/// - The context cannot be forged from inside a scope. It is opened by `mixerai.app_enter(user,
///   brand, proof)`, where the proof is a SHA-256 over the database's scope key (`mixerai.scope_keys`,
///   made by the migrations, readable by the owner only), the user and the brand; `app_enter` sets the
///   context with a seal bound to the key, the backend and the transaction, and every read of the
///   context checks the seal. A `set_config('app.current_user_id', …)` inside a scope (to act as
///   another user, in another brand) makes every later statement of the scope fail with
///   [`Error::Forbidden`](crate::Error::Forbidden); an `app_enter` without the key is refused
///   (`tests/it/hardening.rs`).
///
/// **The crate guarantees** (this type):
/// - The context is set only transaction-locally (`set_config(.., true)` inside `app_enter`), in the
///   same round trip as `BEGIN` on the owner's pool, so it never leaks to the next borrower of a
///   pooled connection, also behind PgBouncer in transaction mode. On a tenant login the proof
///   travels in a round trip of its own, as a bind parameter of an unnamed statement: sessions of one
///   login role can read each other's statement text in `pg_stat_activity`, and a proof is good for
///   its user and brand until the key changes. Nor can the login's own session defaults (`ALTER ROLE
///   … SET`, which a login may do for itself and `RESET ALL` restores) make the server print or log
///   the proof: `debug_print_plan` and `log_parameter_max_length_on_error` are off for the
///   transaction before `app_enter` is planned. The key is read once per
///   [`Database`](crate::Database) over the owner's pool and kept in a `secrecy` box.
/// - On a tenant login, a scope starts by deallocating every SQL-level prepared statement of the
///   session (`app_enter`'s sweep, before any named statement runs), and clears the driver's
///   statement cache when there were any: a `DEALLOCATE sqlx_s_3; PREPARE sqlx_s_3 AS …` left by the
///   previous borrower would otherwise run in place of the next scope's statement, under its context.
///   The host's own code therefore cannot keep SQL-level prepared statements across tenant-login
///   scopes (the driver's protocol-level statements are untouched). Behind PgBouncer the sweep
///   cleans the server connection too; a driver statement the intruder deallocated is then an error
///   for whichever client PgBouncer maps it to next, never someone else's SQL. On the owner's pool
///   there is no sweep: SQL in a scope there can `RESET ROLE` anyway (below).
/// - A scope starts from a clean session, whatever the previous borrower of the connection left: in
///   that same round trip, before `BEGIN`, `RESET ALL` (session settings, a changed `search_path`, a
///   session-level `app.*` value, `SET ROLE`), `DISCARD TEMP` (temporary tables that could shadow a
///   host's unqualified names) and `UNLISTEN *`, committed on their own so that a scope that rolls
///   back (every read-only scope does) does not bring the old state back; and, with the context,
///   `pg_advisory_unlock_all()` (session advisory locks are not transactional). A [`SystemScope`]
///   clears the tenant context too, so nothing a tenant set is attributed to maintenance work. No
///   extra round trip (see "What a scope costs" below).
/// - A read-only scope ([`Database::read_scope`](crate::Database::read_scope)) is a `READ ONLY`
///   transaction, which cannot be made read-write once its first statement ran. It ends with a
///   `ROLLBACK` that sqlx sends with the ping of the pool's return task, before the connection can be
///   borrowed again (a connection that fails it is closed); behind PgBouncer the server connection
///   is released when that `ROLLBACK` completes, as after any transaction. So its context ends with
///   it, as a committed scope's does.
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
///   returns to a role that gains nothing. Such a login can still give itself session defaults
///   (`ALTER ROLE CURRENT_USER SET …`), which every later session of the login starts from: the
///   crate turns off the two that could expose a proof (above), and the driver's own startup
///   settings (`TimeZone`, `DateStyle`, `client_encoding`) take precedence over them, but a
///   `statement_timeout`, a `default_transaction_read_only` or planner settings can slow or fail
///   other tenants' scopes on that login, as any load its SQL puts on a shared server can, and the
///   sessions of one login may cancel or terminate each other's queries (`pg_cancel_backend`). It
///   may also change its own password (`ALTER ROLE CURRENT_USER PASSWORD`), which would lock the
///   pool's new connections out: authenticate the tenant login by certificate or peer in
///   `pg_hba.conf`, which it cannot change. Watch `pg_db_role_setting` for the tenant login, or give
///   untrusted tenants logins of their own.
///
/// Commit with [`Scope::commit`]. Dropping a scope without committing rolls it back.
///
/// # What a scope costs
/// Issue 16, measured in `benches/tenancy.rs` (one run, 100k content rows over 100 brands, each
/// scoped operation beside the same statement on the owner's pool) and counted on the wire by a proxy
/// (`tests/it/round_trips.rs` pins the counts). The figures below are medians of 1,000 runs with the
/// two lines of a pair alternated, on a shared two-core machine under load (load average 5 to 8):
/// criterion's lines, measured one after another, moved by up to 2x from run to run there, while
/// alternated pairs see the same load.
///
/// | operation | round trips the caller waits for | in all |
/// |---|---|---|
/// | the bare statement on the pool: sqlx's acquire-time ping, the statement | 2 | 3 |
/// | a read in a read-only scope: `BEGIN` with the context, the statement | 2 | 3 |
/// | a write scope: `BEGIN` with the context, the statement, `COMMIT` | 3 | 4 |
///
/// "In all" adds the ping sqlx sends when its pool takes a connection back, in a task of its own; a
/// read-only scope's `ROLLBACK` travels with it. What a scope adds to the server's work per scope is
/// the reset and the context (`RESET ALL`, `DISCARD TEMP`, `UNLISTEN *`, the `set_config`s: ~15 us
/// of server time on a quiet machine), and per statement the policies' InitPlans: one lookup of the
/// acting user's role, which also checks the context's seal (a read of the one-row key table and a
/// SHA-256: ~4 to ~7 us more per statement in a server-side loop under load; the restrictive brand
/// policies read the brand unchecked, see migration 0001, so the check runs once per statement). A scope on a tenant login waits for one round trip
/// more than the table says (the proof as a bind parameter, above), and its sweep reads the session's
/// prepared statements (~4 us with none besides the driver's few, ~35 us with 100 of them, sqlx's
/// default cache size, measured in a server-side loop under load).
///
/// Adopted, each for a measured reason:
/// - **No acquire-time ping.** A scope takes an idle connection as [`PgPool::try_acquire`] does: its
///   `BEGIN` round trip tests the connection as well as the ping would, and a connection found dead
///   is replaced by an ordinary acquire. That round trip is what makes a scoped read cost the bare
///   statement's two (`alternatives/get_by_id/with_acquire_ping`, the scope begun after the ping:
///   three round trips, 432 us against 300 us).
/// - **Read-only scopes end off the caller's path** (above). A read ended by an awaited `COMMIT`
///   (`alternatives/get_by_id/write_scope`) is one round trip more: 385 us against 301 us.
/// - **One cheap role lookup per statement.** The policies call the helpers as `(SELECT ...)`, so each
///   is an InitPlan evaluated once per statement; the context helpers and `app_can_*` are now inlined
///   (migration 0001), leaving one call of the `SECURITY DEFINER` role lookup. Measured in a
///   server-side loop at 100k rows, the policies' cost on a cached get-by-id fell from ~43 us to
///   ~13 us per statement.
/// - **The list keeps its index.** `content`'s read policy is a brand equality (migration 0008): as a
///   boolean filter the planner guessed it kept half the rows, so the newest-first page through
///   `idx_content_brand_created` looked twice as dear and lost to `(brand_id, status)` and a sort.
///   `tests/it/plans.rs` asserts every list shape reads that index without a sort.
///
/// Why a scoped read waits for two round trips, not one: sqlx 0.9 writes a statement only once every
/// earlier answer has arrived (`wait_until_ready`), so `BEGIN` and the context cannot travel ahead of
/// the first statement, and a [`Transaction`] can only be begun by a round trip of its own (sqlx has
/// no pipelining, its issue 408). One round trip would take a driver that pipelines: the whole scope
/// (reset, `BEGIN`, context, the prepared statement, `ROLLBACK`) pipelined on tokio-postgres is one
/// round trip (`alternatives/get_by_id/pipelined_tokio_postgres`, criterion: 293 us, against 348 us
/// for the bare statement on sqlx's pool and 81 us for the prepared statement alone on
/// tokio-postgres). The rest of the gap to the bare statement is server work a round trip does not
/// hide. Where it goes, per statement kind (server-side durations from `log_min_duration_statement`,
/// pgbench with prepared statements, medians of 2,000 scopes at 100k rows on a quiet machine): the
/// session reset ~13 us, `BEGIN` ~5 us, the context statement ~47 to ~54 us (`app_enter`: reading the
/// key, two SHA-256s, the settings; ~80 us in the simple protocol a scope must send it in, which
/// parses and plans it each time), the get-by-id under the policies ~59 to ~65 us, `ROLLBACK` ~10 us.
/// The same get without the policies' definer call is ~20 us: of the ~40 to ~45 us that call costs,
/// the role lookup is ~35 us (the lookup alone, with the seal check skipped) and the seal check ~8 to
/// ~15 us (reading the key ~9 us and one SHA-256, OpenSSL's, ~7 us when each was measured alone).
/// A scoped get-by-id thus costs the server ~150 us more than the bare one, which
/// on this machine is about one and a half round trips as sqlx sees them (a trivial statement ~100
/// us end to end): to reach 1.3x the scope would have to add no more than ~65 us.
///
/// Measured, same-run ratios against the aims: scoped get-by-id 1.5x to 2.8x the bare
/// statement over several runs (aim 1.3x), the list 1.2x to 2.2x (aim 1.15x), the update 1.4x to
/// 2.4x (aim 1.6x); the repository's get 1.00x to 1.02x and its list 1.02x to 1.09x hand-written
/// sqlx reading the same 28 columns, in three interleaved runs (aim 1.05x; the baseline read 20 of
/// them until it was fixed, which made the list look 1.12x to 1.25x). The ratios move with the
/// machine's load more than with any change measured here: a quieter machine makes round trips
/// cheaper, and the server work a scope adds then weighs more. Meeting the first three takes a
/// driver that pipelines and a cheaper context (below: the role kept per scope did not make it
/// cheaper). The context seal adds ~5 us to a get.
///
/// A scoped single-row update pays more per statement than a read (counted with `track_functions`):
/// four InitPlans of the role lookup, since an `UPDATE` is held to `content`'s read policy both as a
/// filter and as a check on the new row, and to its update policy's `USING` and `WITH CHECK`; and
/// four checked reads of the acting user in its triggers (the actor stamp, the lifecycle, the
/// version record, the audit event), each with the seal check, since SQL in the statement (a
/// function in a `SET` expression) could change the settings between the policies and the
/// triggers. With the actor stamp itself (~30 to ~40 us) and the `COMMIT` round trip, that is why the
/// update's ratio stays above 1.6x. Not adopted for the triggers: the key folded into their plans
/// as a constant (an `IMMUTABLE` read) would save its ~9 us read per check, but any session may set
/// `debug_print_plan` and `client_min_messages = log` and would be sent the plan, key and all.
///
/// Measured and not adopted:
/// - **The first statement in the `BEGIN` message** (typed values formatted in, the whole read as one
///   simple query ending in `COMMIT`: `alternatives/get_by_id/one_message`, one round trip, 456 us
///   against the adopted read's 234 us). The simple protocol plans the statement on every call, and
///   planning under the policies costs ~80 to ~110 us of server time (server-side loop: 132 us
///   planned against 18 us cached for a scoped get), more than a loopback round trip (~20 us on a
///   quiet machine); it could win only where a round trip costs more than that planning (a network
///   between host and database), and would pay for it in server CPU, the resource every tenant
///   shares. It is also not a scope: one statement, rows in text format, parameters limited to types
///   whose text is provably inert (uuids, numbers, timestamps), so repositories could not use it.
///   (Executing a server-side prepared statement by name in that message would keep the plan, but
///   names in the session are state a tenant can `DEALLOCATE` and re-`PREPARE`, and PgBouncer does
///   not carry SQL-level prepared statements.)
/// - **The role once per scope**, built and measured: `app_enter` looked the role up and sealed it
///   with the context, statement triggers on `user_brand_roles`, `users` and `brands` looked it up
///   again after the scope's own changes, and the policies' definer call only checked the seal. In
///   the server-side measurement above the context statement rose to ~77 to ~87 us and a get-by-id
///   fell to ~41 to ~47 us: a one-statement scope cost ~132 us of server time against ~122 us, and a
///   single-row update (~1.5 ms of server time, most of it its triggers) was no different. It would
///   pay from a scope's third statement on, and it makes a role revoked by another transaction
///   count only from the next scope. The check it leaves is the dearer half of the call (above). A
///   role kept in a setting without a seal could be raised by the client (`set_config`); a
///   temporary table would have to be made again after every scope's `DISCARD TEMP` (a catalog
///   write per scope); a database role per brand role would let a tenant login `SET ROLE` itself up,
///   since it must be a member of all of them. The lookup stays per statement.
/// - **No seal check on the owner's pool.** A session whose login role can read the scope key (the
///   owner's) could make any seal itself after a `RESET ROLE`, so there the check could be skipped
///   (`has_table_privilege(session_user, 'mixerai.scope_keys', 'SELECT')`) and the context set with
///   plain `set_config`s. Measured as above: the context statement fell from ~47 to ~54 us to ~8 to
///   ~9 us, a statement's policy call by ~8 us. Not adopted: a `set_config` inside an owner's-pool
///   scope would then act as another user without first leaving the application role, a step the
///   seal makes SQL take (and that a tenant login refuses), and ~50 us would not meet the aims.
/// - **The role lookup and the seal check as an owner-owned `security_barrier` view** read by the
///   policies' InitPlans, with no PL/pgSQL call: tried on content's read policy, a get-by-id took ~54
///   to ~56 us of server time against ~59 to ~65 us. Every policy would have to become a subquery
///   over the view (a SQL function with a `FROM` is not inlined), for ~5 to ~10 us. The lookup
///   written as nested scalar subqueries, or with the seal check in the same statement, came within
///   the noise (±5 us) of the adopted form.
/// - **The session reset at the end of a scope instead of the start**: it would not cover a
///   connection used by anything else since (the host's own queries, another PgBouncer client), so
///   the guarantee above would not hold; at the start it costs no round trip.
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
    read_only: bool,
}

/// How long idempotency keys are meant to be kept: longer than any retry of the operation they guard.
pub const IDEMPOTENCY_KEY_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The isolation level scopes run at.
///
/// What each produces under contention (measured in `tests/it/retry.rs`, eight tasks updating one
/// row from the same read): at [`Isolation::ReadCommitted`] (the default) the losers' writes are
/// [`Error::Stale`](crate::Error::Stale) (the version check refuses them; re-read, then decide);
/// at [`Isolation::Serializable`] a transaction that read what another changed is
/// [`Error::Retryable`](crate::Error::Retryable) (`40001`), sometimes only at `COMMIT`, and running
/// the whole scope again succeeds. [`Database::run_in_scope`](crate::Database::run_in_scope) does that
/// retrying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// PostgreSQL's default: each statement sees what was committed before it began.
    #[default]
    ReadCommitted,
    /// One snapshot for the whole scope.
    RepeatableRead,
    /// As if scopes ran one after another; a scope that could break that is rolled back.
    Serializable,
}

impl Isolation {
    fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// What every scope of a [`Database`](crate::Database) begins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScopeSettings {
    pub(crate) lock_timeout: Duration,
    pub(crate) isolation: Isolation,
}

/// The application role tenant scopes switch to. Created by the migrations.
pub const APP_ROLE: &str = "mixerai_app";

/// The database's scope key (`mixerai.scope_keys`, made by migration 0001, readable by the owner
/// only), read once per [`Database`](crate::Database) over the owner's pool. A scope opens its context
/// with `mixerai.app_enter(user, brand, proof)`, where the proof is a SHA-256 over this key, the user and
/// the brand: SQL inside a scope, which does not know the key, cannot open a context for anybody else,
/// and a context changed with `set_config` inside the scope is refused (see [`Scope`]'s threat model).
pub(crate) struct ScopeKey(SecretBox<[u8; 32]>);

impl fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopeKey([REDACTED])")
    }
}

impl ScopeKey {
    /// Reads the key over `pool`, the owner's.
    pub(crate) async fn load(pool: &PgPool) -> Result<Self> {
        // Unnamed: run once, so nothing to gain from a prepared statement, and a named one would stay
        // on whichever server connection a PgBouncer without prepared-statement support gave it.
        let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM mixerai.scope_keys")
            .persistent(false)
            .fetch_one(pool)
            .await?;
        let key: [u8; 32] = key.try_into().map_err(|_| crate::Error::Misconfigured {
            reason: "mixerai.scope_keys holds a key that is not 32 bytes".into(),
        })?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// The proof `mixerai.app_enter` checks, as the bytes of a hex `bytea` literal.
    fn proof(&self, user: UserId, brand: BrandId) -> String {
        let digest = Sha256::new()
            .chain_update(self.0.expose_secret())
            .chain_update(b"proof")
            .chain_update(user.as_uuid().as_bytes())
            .chain_update(brand.as_uuid().as_bytes())
            .finalize();
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// What every scope runs before its `BEGIN`, in the same round trip: the session back to the settings
/// its connection was opened with, no temporary objects, no notification channels, whatever the
/// connection's previous borrower did (see [`Scope`]'s threat model). Session-level advisory locks are
/// released by the context statement that follows `BEGIN` (`pg_advisory_unlock_all()` is not
/// transactional, so inside the scope it releases the same locks, one statement fewer).
///
/// A transaction of its own, committed before the scope's `BEGIN`: statements before a `BEGIN` in one
/// simple query would otherwise join its transaction, and a scope that rolls back (every read-only
/// scope does) would undo the reset (an explicit `COMMIT` of that implicit block works too, but warns
/// on every scope).
const SESSION_RESET: &str = "BEGIN; RESET ALL; DISCARD TEMP; UNLISTEN *; COMMIT;";

/// Sends `begin` (the session reset, `BEGIN` and the context, one simple query) on a connection of
/// `pool` and returns the open transaction: one round trip.
///
/// An idle connection is taken as [`PgPool::try_acquire`] takes it, without the pool's acquire-time
/// test (`test_before_acquire`'s ping, one round trip of its own): `begin` tests the connection just as
/// well. A connection that turns out to be dead (what the ping would have found) is dropped and the
/// scope begins on one acquired the ordinary way; nothing of `begin` outlives a broken connection, so
/// sending it again is safe. With no idle connection, the ordinary acquire.
async fn open(pool: &PgPool, begin: String) -> Result<Transaction<'static, Postgres>> {
    match pool.try_begin_with(AssertSqlSafe(begin.clone())).await {
        Ok(Some(tx)) => return Ok(tx),
        Ok(None) => {}
        Err(err) if crate::error::connection_failed(&err) => {
            tracing::debug!(error = %err, "idle connection failed; acquiring another");
        }
        Err(err) => return Err(err.into()),
    }
    Ok(pool.begin_with(AssertSqlSafe(begin)).await?)
}

impl Scope {
    /// Begins a scope on `pool`. `tenant_login`: the pool logs in as a tenant login (see
    /// [`Database::with_tenant_login`](crate::Database::with_tenant_login)), where SQL in a scope may be
    /// hostile: the proof then travels as a bind parameter, and the session is swept of SQL-level
    /// prepared statements first.
    pub(crate) async fn begin(
        pool: &PgPool,
        key: &ScopeKey,
        user: UserId,
        brand: BrandId,
        settings: &ScopeSettings,
        read_only: bool,
        tenant_login: bool,
    ) -> Result<Self> {
        let prelude = format!(
            "{SESSION_RESET} BEGIN ISOLATION LEVEL {}{}; SELECT pg_advisory_unlock_all(), \
             set_config('role', '{APP_ROLE}', true), \
             set_config('lock_timeout', '{}ms', true)",
            settings.isolation.sql(),
            if read_only { " READ ONLY" } else { "" },
            settings.lock_timeout.as_millis()
        );
        let span = tracing::debug_span!("mixerai.scope", user = %user, brand = %brand, read_only);
        let tx = if tenant_login {
            // Two round trips: on a tenant login other sessions of the same role can read each
            // other's statement text in pg_stat_activity, so the proof must not be in it.
            async {
                // A tenant login may set its own session defaults (ALTER ROLE ... SET), which RESET
                // ALL restores: with debug_print_plan the custom plan of app_enter, the proof folded
                // in as a constant, would be written to the server log (and sent to the client), and
                // log_parameter_max_length_on_error would log the proof with any error of app_enter.
                // Both are off for the transaction before app_enter is planned.
                let prelude = format!(
                    "{prelude}, set_config('debug_print_plan', 'off', true), \
                     set_config('log_parameter_max_length_on_error', '0', true)"
                );
                let mut tx = open(pool, prelude).await?;
                // Unnamed (not persistent): a named statement of the session could have been
                // replaced by the previous borrower (DEALLOCATE sqlx_s_1; PREPARE sqlx_s_1 AS ...),
                // and nothing named runs before app_enter has swept those away.
                let swept: bool =
                    sqlx::query_scalar("SELECT mixerai.app_enter($1, $2, decode($3, 'hex'), true)")
                        .bind(user.as_uuid())
                        .bind(brand.as_uuid())
                        .bind(key.proof(user, brand))
                        .persistent(false)
                        .fetch_one(&mut *tx)
                        .await?;
                if swept {
                    // A statement the driver cached may be one the intruder deallocated: prepare
                    // everything afresh (closing a statement that is gone is no error).
                    tracing::warn!("a SQL-level prepared statement was left in the session; swept");
                    tx.clear_cached_statements().await?;
                }
                Ok::<_, crate::Error>(tx)
            }
            .instrument(span.clone())
            .await?
        } else {
            // One simple-protocol round trip: the session reset, BEGIN and the whole context. The ids
            // are typed UUIDs whose text form is hex and dashes only, the proof hex, and the timeout
            // a number, so formatting them into the statement cannot inject SQL; the extended
            // protocol (binds) would cost a second round trip. Only the owner's sessions can read
            // this text in pg_stat_activity (mixerai_app has not the privileges of the owner).
            let begin = format!(
                "{prelude}, mixerai.app_enter('{user}', '{brand}', '\\x{}', false)",
                key.proof(user, brand)
            );
            open(pool, begin).instrument(span.clone()).await?
        };
        Ok(Self {
            ctx: Ctx::new(tx, Some(user), Some(brand), span),
            user,
            brand,
            read_only,
        })
    }

    /// Whether this scope was opened read-only ([`Database::read_scope`](crate::Database::read_scope)).
    pub fn is_read_only(&self) -> bool {
        self.read_only
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
    #[tracing::instrument(name = "mixerai.scope.role", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn role(&mut self) -> Result<Option<BrandRole>> {
        Ok(sqlx::query_scalar("SELECT mixerai.app_current_role()")
            .fetch_one(self.ctx.conn())
            .await?)
    }

    /// Makes this scope's writes happen at most once, whatever retries follow: records `key` (1 to 200
    /// characters, the host's own idempotency key for the logical operation, e.g. a request id) as
    /// used in the scope's brand, in this transaction. `Ok(true)`: first use, go on with the writes;
    /// they commit together with the key. `Ok(false)`: a scope that committed earlier already used it,
    /// so its writes were applied: skip them (and, typically, read back what they made).
    ///
    /// The answer to [`Error::CommitUnknown`](crate::Error::CommitUnknown): retry the whole scope with
    /// the same key. Two scopes claiming one key at once are serialised by the key's row: the second
    /// waits for the first, then gets `false` if it committed and `true` if it rolled back. Needs an
    /// editor or admin role; keys are kept for [`IDEMPOTENCY_KEY_RETENTION`] (a host purges older ones
    /// with [`SystemScope::purge_idempotency_keys`]).
    #[tracing::instrument(name = "mixerai.scope.claim_once", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn claim_once(&mut self, key: &str) -> Result<bool> {
        if key.is_empty() || key.chars().count() > 200 || key.contains('\0') {
            return Err(
                ValidationErrors::single("idempotency_key", "1 to 200 characters, no NUL").into(),
            );
        }
        let claimed: Option<i32> = sqlx::query_scalar(
            "INSERT INTO mixerai.idempotency_keys (brand_id, key) VALUES ($1, $2)
             ON CONFLICT (brand_id, key) DO NOTHING RETURNING 1",
        )
        .bind(self.brand)
        .bind(key)
        .fetch_optional(self.ctx.conn())
        .await?;
        Ok(claimed.is_some())
    }

    /// Makes every change of this scope durable and visible to others.
    ///
    /// A failure here is the server's answer (the scope was rolled back: e.g. [`Error::Retryable`]
    /// for a serialization failure found at commit), except when the connection breaks while
    /// `COMMIT` is in flight: then the outcome is unknown, [`Error::CommitUnknown`].
    ///
    /// [`Error::Retryable`]: crate::Error::Retryable
    /// [`Error::CommitUnknown`]: crate::Error::CommitUnknown
    ///
    /// A read-only scope has nothing to make durable: it ends at once, with no round trip (its
    /// `ROLLBACK` goes out with the connection's return to the pool, see [`Scope`]).
    pub async fn commit(self) -> Result<()> {
        if self.read_only {
            self.end_read_only();
            return Ok(());
        }
        let span = self.ctx.span().clone();
        self.ctx
            .into_tx()
            .commit()
            .instrument(span)
            .await
            .map_err(crate::Error::at_commit)
    }

    /// Discards every change of this scope. Dropping the scope does the same. A read-only scope ends
    /// at once, as with [`Scope::commit`].
    pub async fn rollback(self) -> Result<()> {
        if self.read_only {
            self.end_read_only();
            return Ok(());
        }
        let span = self.ctx.span().clone();
        self.ctx.into_tx().rollback().instrument(span).await?;
        Ok(())
    }

    /// Ends a read-only scope off the caller's path: dropping sqlx's transaction queues its
    /// `ROLLBACK` on the connection, and the pool's return of the connection (a task of its own, which
    /// pings the connection before it is handed out again) sends it and waits for the answer. No
    /// borrower gets the connection before that answer; a connection that cannot give it is closed.
    fn end_read_only(self) {
        drop(self.ctx.into_tx());
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

    /// The review runs of the scope's brand: submitting for review, deciding, and what reviewers read.
    pub fn reviews(&mut self) -> ReviewRepo<'_> {
        ReviewRepo::new(&mut self.ctx)
    }

    /// The scope's brand's claims, their resolution for a market, compliance checks of its content,
    /// and the approval and publishing gate.
    pub fn claims(&mut self) -> ClaimRepo<'_> {
        ClaimRepo::new(&mut self.ctx)
    }

    /// The scope's brand's AI generations and usage.
    pub fn ai(&mut self) -> AiGenerationRepo<'_> {
        AiGenerationRepo::new(&mut self.ctx)
    }

    /// The scope's brand's events: appends into its streams, stream and feed reads (security events
    /// for admins only).
    pub fn events(&mut self) -> EventRepo<'_> {
        EventRepo::new(&mut self.ctx)
    }

    /// The scope's connection, for the host's own queries inside the scope (they run as
    /// `mixerai_app`, under the same policies). Never use it to `SET ROLE` or `set_config('app.…')`
    /// (a changed context makes the scope's every later statement fail), nor for SQL-level `PREPARE`
    /// on a tenant login (swept at the next scope's start).
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
    pub(crate) async fn begin(pool: &PgPool, settings: &ScopeSettings) -> Result<Self> {
        // As a tenant scope's begin (see there), with the tenant context cleared: a session-level
        // `app.*` value left behind would otherwise be read by the audit trigger as the actor.
        let begin = format!(
            "{SESSION_RESET} BEGIN ISOLATION LEVEL {}; SELECT pg_advisory_unlock_all(), \
             set_config('app.current_user_id', '', true), \
             set_config('app.current_brand_id', '', true), \
             set_config('app.context_seal', '', true), \
             set_config('lock_timeout', '{}ms', true)",
            settings.isolation.sql(),
            settings.lock_timeout.as_millis()
        );
        let span = tracing::debug_span!("mixerai.system_scope");
        let tx = open(pool, begin).instrument(span.clone()).await?;
        Ok(Self {
            ctx: Ctx::new(tx, None, None, span),
        })
    }

    /// Makes every change of this scope durable and visible to others.
    ///
    /// A failure here is the server's answer (the scope was rolled back: e.g. [`Error::Retryable`]
    /// for a serialization failure found at commit), except when the connection breaks while
    /// `COMMIT` is in flight: then the outcome is unknown, [`Error::CommitUnknown`].
    ///
    /// [`Error::Retryable`]: crate::Error::Retryable
    /// [`Error::CommitUnknown`]: crate::Error::CommitUnknown
    pub async fn commit(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx
            .into_tx()
            .commit()
            .instrument(span)
            .await
            .map_err(crate::Error::at_commit)
    }

    /// Discards every change of this scope. Dropping the scope does the same.
    pub async fn rollback(self) -> Result<()> {
        let span = self.ctx.span().clone();
        self.ctx.into_tx().rollback().instrument(span).await?;
        Ok(())
    }

    /// Deletes the idempotency keys ([`Scope::claim_once`]) older than `older_than`; returns how many.
    #[tracing::instrument(name = "mixerai.system.purge_idempotency_keys", parent = self.ctx.span(), skip_all, err(level = "debug"))]
    pub async fn purge_idempotency_keys(&mut self, older_than: Duration) -> Result<u64> {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
        Ok(
            sqlx::query("DELETE FROM mixerai.idempotency_keys WHERE created_at < $1")
                .bind(cutoff)
                .execute(self.ctx.conn())
                .await?
                .rows_affected(),
        )
    }

    /// All users: create them, look them up, set the platform-admin flag.
    pub fn users(&mut self) -> UserRepo<'_> {
        UserRepo::new(&mut self.ctx)
    }

    /// All brands and memberships: create brands, grant their first roles.
    pub fn brands(&mut self) -> BrandRepo<'_> {
        BrandRepo::new(&mut self.ctx)
    }

    /// Every brand's events, for the host's feed readers and projections (appends need a tenant
    /// scope).
    pub fn events(&mut self) -> EventRepo<'_> {
        EventRepo::new(&mut self.ctx)
    }

    /// The content publishing job over every brand: due schedules go live, expired items come down
    /// (see [`content::publish_due`](crate::content::publish_due) for the whole run).
    pub fn content_publishing(&mut self) -> PublishingJob<'_> {
        PublishingJob::new(&mut self.ctx)
    }

    /// The review jobs: escalation and the notification outbox, across brands.
    pub fn review_jobs(&mut self) -> ReviewJobs<'_> {
        ReviewJobs::new(&mut self.ctx)
    }

    /// The scope's connection, for maintenance queries of the host's own.
    pub fn connection(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }
}
