//! What tenancy costs (issue 16), at 100k content rows over 100 brands
//! (tests/fixtures/content_100k.sql): each scoped operation beside the same statement on the owner's
//! pool (`BYPASSRLS`, no scope, no policies), in one run, then the round trips of each operation
//! counted on the wire by a proxy, then the ratios against the aims.
//!
//! `cargo bench --bench tenancy -- --warm-up-time 1 --measurement-time 3`
//!
//! Groups (criterion ids as the issue names them):
//! - `tenancy/get_by_id`: `scoped` (a read-only scope, one row by primary key, its end) / `bare` (the
//!   same statement on the pool) / `tokio_postgres` (the same statement prepared once on
//!   tokio-postgres, one connection, no pool: the driver floor).
//! - `tenancy/list`: `scoped` / `bare`, the brand's 50 newest drafts.
//! - `tenancy/update`: `scoped` (a scope, one audited single-row UPDATE, COMMIT) / `bare` (the same
//!   UPDATE on the pool, autocommit; the audit trigger runs too).
//! - `repo/get_by_id` and `repo/list`: `crate` (`ContentRepo::get` / `ContentRepo::list` in a read-only
//!   scope) / `sqlx` (the same statement written by hand with sqlx, decoded by hand, in the same kind
//!   of scope): what the repository layer itself costs.
//! - `alternatives/get_by_id`: what the `Scope` docs compare against: the read in a read-write scope
//!   ended by COMMIT (`write_scope`), a read-only scope begun after the pool's acquire-time ping
//!   (`with_acquire_ping`), the whole scope as one simple-protocol message with the id formatted in
//!   (`one_message`), and the whole scope pipelined on tokio-postgres (`pipelined_tokio_postgres`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use mixerai_data::Database;
use mixerai_data::content::{Content, ContentFilter};
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, ContentId, UserId};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool, Row};
use uuid::Uuid;

mod common;
use common::{CONTENT_COLUMNS as COLUMNS, ContentRow, content_row};

#[allow(dead_code)]
#[path = "../tests/it/proxy.rs"]
mod proxy;

const SEED_100K: &str = include_str!("../tests/fixtures/content_100k.sql");
const GET: &str = "SELECT id, title FROM mixerai.content WHERE id = $1";
const LIST: &str = "SELECT id, title FROM mixerai.content WHERE brand_id = $1 AND status = 'draft' \
                    AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50";
const UPDATE: &str = "UPDATE mixerai.content SET excerpt = $2 WHERE id = $1";
/// A scope's begin as `src/scope.rs` writes it (read-only), for the alternatives that bypass the crate.
/// The proof is computed by the server here, as the owner before the role switch, where the crate
/// computes it from the key it read once (one SHA-256 more of server time here, ~2 us).
fn begin_sql(user: Uuid, brand: Uuid) -> String {
    format!(
        "BEGIN; RESET ALL; DISCARD TEMP; UNLISTEN *; COMMIT; BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY; \
         SELECT pg_advisory_unlock_all(), \
         mixerai.app_enter('{user}', '{brand}', sha256((SELECT key FROM mixerai.scope_keys) || '\\x70726f6f66'::bytea \
             || uuid_send('{user}') || uuid_send('{brand}')), false), \
         set_config('role', 'mixerai_app', true), set_config('lock_timeout', '5000ms', true)"
    )
}

struct Fixture {
    db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    user_uuid: Uuid,
    brand_uuid: Uuid,
    /// Ids of the brand's live rows, cycled through by the get and update benches.
    ids: Vec<Uuid>,
}

async fn fixture() -> Fixture {
    let server = TestServer::global().await.expect("test server");
    let db = server.database().await.expect("test database");
    let pool = db.database().pool();
    // As the superuser: the fixture switches triggers off (session_replication_role), which the
    // owner may not.
    let mut admin = db
        .admin_connect_options()
        .connect()
        .await
        .expect("admin connection");
    sqlx::raw_sql(SEED_100K)
        .execute(&mut admin)
        .await
        .expect("seed 100k rows");
    admin.close().await.expect("close");
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-editor@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'brand-001')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (user, brand): (Uuid, Uuid) = (row.get(0), row.get(1));
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL",
    )
    .bind(brand)
    .fetch_all(pool)
    .await
    .unwrap();
    // Every row the update benches touch updated once and the table vacuumed, so neither update
    // line is the first to find the fixture's full pages (an update that finds no room on its page
    // cannot be HOT and writes every index): both then update rows in the same state.
    sqlx::query(
        "UPDATE mixerai.content SET excerpt = 'warm' WHERE brand_id = $1 AND deleted_at IS NULL",
    )
    .bind(brand)
    .execute(pool)
    .await
    .unwrap();
    sqlx::raw_sql("VACUUM (ANALYZE) mixerai.content")
        .execute(pool)
        .await
        .unwrap();
    Fixture {
        database: db.database().clone(),
        db,
        user: UserId::from_uuid(user),
        brand: BrandId::from_uuid(brand),
        user_uuid: user,
        brand_uuid: brand,
        ids,
    }
}

/// The operations measured, each run exactly as its criterion line runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    GetScoped,
    GetBare,
    ListScoped,
    ListBare,
    UpdateScoped,
    UpdateBare,
    RepoGet,
    SqlxGet,
    RepoList,
    SqlxList,
    GetWriteScope,
    GetWithPing,
    GetOneMessage,
}

const OPS: [(Op, &str); 13] = [
    (Op::GetScoped, "tenancy/get_by_id/scoped"),
    (Op::GetBare, "tenancy/get_by_id/bare"),
    (Op::ListScoped, "tenancy/list/scoped"),
    (Op::ListBare, "tenancy/list/bare"),
    (Op::UpdateScoped, "tenancy/update/scoped"),
    (Op::UpdateBare, "tenancy/update/bare"),
    (Op::RepoGet, "repo/get_by_id/crate"),
    (Op::SqlxGet, "repo/get_by_id/sqlx"),
    (Op::RepoList, "repo/list/crate"),
    (Op::SqlxList, "repo/list/sqlx"),
    (Op::GetWriteScope, "alternatives/get_by_id/write_scope"),
    (Op::GetWithPing, "alternatives/get_by_id/with_acquire_ping"),
    (Op::GetOneMessage, "alternatives/get_by_id/one_message"),
];

fn drafts() -> ContentFilter {
    ContentFilter {
        status: Some(mixerai_data::content::ContentStatus::Draft),
        ..ContentFilter::default()
    }
}

impl Fixture {
    fn next_id(&self, counter: &AtomicUsize) -> Uuid {
        self.ids[counter.fetch_add(1, Ordering::Relaxed) % self.ids.len()]
    }

    /// Runs `op` once on `db` (whose pool is `pool`), with `id` where it needs a row.
    async fn run(&self, op: Op, db: &Database, pool: &PgPool, id: Uuid) {
        let (user, brand) = (self.user, self.brand);
        match op {
            Op::GetScoped => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                let row = sqlx::query(GET)
                    .bind(id)
                    .fetch_one(scope.connection())
                    .await
                    .unwrap();
                assert_eq!(row.get::<Uuid, _>(0), id);
                scope.commit().await.unwrap();
            }
            Op::GetBare => {
                let row = sqlx::query(GET).bind(id).fetch_one(pool).await.unwrap();
                assert_eq!(row.get::<Uuid, _>(0), id);
            }
            Op::ListScoped => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                let rows = sqlx::query(LIST)
                    .bind(self.brand_uuid)
                    .fetch_all(scope.connection())
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 50);
                scope.commit().await.unwrap();
            }
            Op::ListBare => {
                let rows = sqlx::query(LIST)
                    .bind(self.brand_uuid)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 50);
            }
            Op::UpdateScoped => {
                let mut scope = db.scope(user, brand).await.unwrap();
                let done = sqlx::query(UPDATE)
                    .bind(id)
                    .bind("scoped")
                    .execute(scope.connection())
                    .await
                    .unwrap();
                assert_eq!(done.rows_affected(), 1);
                scope.commit().await.unwrap();
            }
            Op::UpdateBare => {
                let done = sqlx::query(UPDATE)
                    .bind(id)
                    .bind("bare")
                    .execute(pool)
                    .await
                    .unwrap();
                assert_eq!(done.rows_affected(), 1);
            }
            Op::RepoGet => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                let item: Content = scope.content().get(ContentId::from_uuid(id)).await.unwrap();
                assert_eq!(item.id.as_uuid(), id);
                scope.commit().await.unwrap();
            }
            Op::SqlxGet => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                let row = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL"
                )))
                .bind(id)
                .fetch_optional(scope.connection())
                .await
                .unwrap()
                .expect("the row");
                assert_eq!(content_row(&row).id, id);
                scope.commit().await.unwrap();
            }
            Op::RepoList => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                let page = scope
                    .content()
                    .list(&drafts(), &PageRequest::first(50))
                    .await
                    .unwrap();
                assert_eq!(page.items.len(), 50);
                scope.commit().await.unwrap();
            }
            Op::SqlxList => {
                let mut scope = db.read_scope(user, brand).await.unwrap();
                // The statement ContentRepo::list sends for a status filter, one row more than the
                // page to learn whether a next one exists.
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL \
                     AND status = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
                )))
                .bind(self.brand_uuid)
                .bind("draft")
                .bind(51_i64)
                .fetch_all(scope.connection())
                .await
                .unwrap();
                let items: Vec<ContentRow> = rows.iter().take(50).map(content_row).collect();
                assert_eq!(items.len(), 50);
                scope.commit().await.unwrap();
            }
            Op::GetWriteScope => {
                let mut scope = db.scope(user, brand).await.unwrap();
                let row = sqlx::query(GET)
                    .bind(id)
                    .fetch_one(scope.connection())
                    .await
                    .unwrap();
                assert_eq!(row.get::<Uuid, _>(0), id);
                scope.commit().await.unwrap();
            }
            Op::GetWithPing => {
                let mut tx = pool
                    .begin_with(AssertSqlSafe(begin_sql(self.user_uuid, self.brand_uuid)))
                    .await
                    .unwrap();
                let row = sqlx::query(GET).bind(id).fetch_one(&mut *tx).await.unwrap();
                assert_eq!(row.get::<Uuid, _>(0), id);
                drop(tx);
            }
            Op::GetOneMessage => {
                // The id is a Uuid (hex and dashes), so formatting it in is safe; the simple protocol
                // returns text and plans the statement every time.
                let sql = format!(
                    "{}; SELECT id, title FROM mixerai.content WHERE id = '{id}'::uuid; COMMIT",
                    begin_sql(self.user_uuid, self.brand_uuid)
                );
                let mut conn = match pool.try_acquire() {
                    Some(conn) => conn,
                    None => pool.acquire().await.unwrap(),
                };
                let rows = sqlx::raw_sql(AssertSqlSafe(sql))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(rows.last().unwrap().get::<Uuid, _>(0), id);
            }
        }
    }
}

async fn tokio_postgres_client(db: &TestDatabase) -> tokio_postgres::Client {
    let o = db.connect_options();
    let mut config = tokio_postgres::Config::new();
    config
        .host(o.get_host())
        .port(o.get_port())
        .user(o.get_username())
        .dbname(o.get_database().unwrap_or("postgres"));
    if let Some(password) = db.password() {
        config.password(password);
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn tenancy(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture());
    let pool = f.database.pool().clone();
    let counter = AtomicUsize::new(0);
    let floor = rt.block_on(tokio_postgres_client(&f.db));
    let floor_get = rt.block_on(floor.prepare(GET)).unwrap();
    // A connection of its own for the pipelined scope, so the floor's statement keeps one plan (a
    // plan made under row-level security is the application role's).
    let piped = rt.block_on(tokio_postgres_client(&f.db));
    let piped_get = rt.block_on(piped.prepare(GET)).unwrap();
    let piped_begin = begin_sql(f.user_uuid, f.brand_uuid);

    for (group, members) in [
        ("tenancy/get_by_id", &[Op::GetScoped, Op::GetBare][..]),
        ("tenancy/list", &[Op::ListScoped, Op::ListBare][..]),
        ("tenancy/update", &[Op::UpdateScoped, Op::UpdateBare][..]),
        ("repo/get_by_id", &[Op::RepoGet, Op::SqlxGet][..]),
        ("repo/list", &[Op::RepoList, Op::SqlxList][..]),
        (
            "alternatives/get_by_id",
            &[Op::GetWriteScope, Op::GetWithPing, Op::GetOneMessage][..],
        ),
    ] {
        let mut g = c.benchmark_group(group);
        for &op in members {
            let name = OPS.iter().find(|(o, _)| *o == op).expect("named").1;
            let short = name.rsplit('/').next().unwrap();
            g.bench_function(short, |b| {
                b.to_async(&rt)
                    .iter(|| f.run(op, &f.database, &pool, f.next_id(&counter)))
            });
        }
        if group == "tenancy/get_by_id" {
            g.bench_function("tokio_postgres", |b| {
                b.to_async(&rt).iter(|| async {
                    let id = f.next_id(&counter);
                    let row = floor.query_one(&floor_get, &[&id]).await.unwrap();
                    assert_eq!(row.get::<_, Uuid>(0), id);
                })
            });
        }
        if group == "alternatives/get_by_id" {
            g.bench_function("pipelined_tokio_postgres", |b| {
                b.to_async(&rt).iter(|| async {
                    let id = f.next_id(&counter);
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
                    let (begun, row, ended) = tokio::join!(
                        piped.batch_execute(&piped_begin),
                        piped.query_one(&piped_get, &params),
                        piped.batch_execute("ROLLBACK")
                    );
                    begun.unwrap();
                    ended.unwrap();
                    assert_eq!(row.unwrap().get::<_, Uuid>(0), id);
                })
            });
        }
        g.finish();
    }

    // On a current-thread runtime, as tests/it/round_trips.rs counts: the pool's return task then runs
    // only when the report awaits, so "on the caller's path" never includes it.
    let counting = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    counting.block_on(report_round_trips(&f, &counter, &piped_begin));
    rt.block_on(report_interleaved(&f, &counter));
    rt.block_on(pool.close());
}

/// The same-run ratios again, each pair interleaved (A, B, A, B, ...) so both lines see the same load
/// on a shared machine, each on a pool of its own (a statement planned under row-level security is
/// replanned when the owner runs it on the same connection, and back): medians of 1,000 runs each,
/// after 100 warm-up runs.
async fn report_interleaved(f: &Fixture, counter: &AtomicUsize) {
    let pool_for = || async {
        PgPoolOptions::new()
            .max_connections(10)
            .connect_with(f.db.connect_options().clone())
            .await
            .unwrap()
    };
    println!("\ninterleaved same-run ratios (median of each line; aim):");
    for (a, b, aim) in [
        (Op::GetScoped, Op::GetBare, "<= 1.3x"),
        (Op::ListScoped, Op::ListBare, "<= 1.15x"),
        (Op::UpdateScoped, Op::UpdateBare, "<= 1.6x"),
        (Op::RepoGet, Op::SqlxGet, "<= 1.05x"),
        (Op::RepoList, Op::SqlxList, "<= 1.05x"),
        (Op::GetScoped, Op::GetWithPing, "none"),
        (Op::GetScoped, Op::GetWriteScope, "none"),
        (Op::GetScoped, Op::GetOneMessage, "none"),
    ] {
        let (pa, pb) = (pool_for().await, pool_for().await);
        let (da, db) = (
            Database::from_pool(pa.clone()),
            Database::from_pool(pb.clone()),
        );
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for round in 0..1100 {
            for (op, d, p, times) in [(a, &da, &pa, &mut ta), (b, &db, &pb, &mut tb)] {
                let id = f.next_id(counter);
                let start = Instant::now();
                f.run(op, d, p, id).await;
                if round >= 100 {
                    times.push(start.elapsed());
                }
            }
        }
        let median = |t: &mut Vec<Duration>| {
            t.sort();
            t[t.len() / 2].as_secs_f64() * 1e6
        };
        let (ma, mb) = (median(&mut ta), median(&mut tb));
        let name = |op: Op| OPS.iter().find(|(o, _)| *o == op).expect("named").1;
        println!(
            "  {} / {}: {ma:.1} / {mb:.1} us = {:.2}x (aim {aim})",
            name(a),
            name(b),
            ma / mb
        );
        pa.close().await;
        pb.close().await;
    }
}

/// Runs each operation through a counting proxy on a one-connection pool and prints its round trips:
/// on the caller's path, and in all once the pool has taken the connection back (sqlx pings each
/// connection it takes back; a read-only scope's ROLLBACK rides along with that ping).
async fn report_round_trips(f: &Fixture, counter: &AtomicUsize, begin: &str) {
    let options = f.db.connect_options();
    let upstream: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .expect("a loopback test server");
    let proxy = proxy::CountingProxy::start(upstream).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.addr().port()))
        .await
        .unwrap();
    let db = Database::from_pool(pool.clone());
    let settle = || async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.num_idle() < pool.size() as usize && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    println!("\nround trips per operation (on the caller's path / in all):");
    for (op, name) in OPS {
        // Warm-up runs prepare the statements (a first Parse/Describe is a round trip of its own).
        for _ in 0..2 {
            f.run(op, &db, &pool, f.next_id(counter)).await;
            settle().await;
        }
        let before = proxy.round_trips();
        f.run(op, &db, &pool, f.next_id(counter)).await;
        let on_path = proxy.round_trips() - before;
        settle().await;
        println!("  {name:45} {on_path} / {}", proxy.round_trips() - before);
    }
    // tokio-postgres through the proxy: the floor and the pipelined scope.
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.addr().port())
        .user(options.get_username())
        .dbname(options.get_database().unwrap_or("postgres"));
    if let Some(password) = f.db.password() {
        config.password(password);
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let get = client.prepare(GET).await.unwrap();
    let id = f.next_id(counter);
    let before = proxy.round_trips();
    client.query_one(&get, &[&id]).await.unwrap();
    println!(
        "  {:45} {} / {}",
        "tenancy/get_by_id/tokio_postgres",
        proxy.round_trips() - before,
        proxy.round_trips() - before
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
    let before = proxy.round_trips();
    let (a, r, e) = tokio::join!(
        client.batch_execute(begin),
        client.query_one(&get, &params),
        client.batch_execute("ROLLBACK")
    );
    a.unwrap();
    r.unwrap();
    e.unwrap();
    println!(
        "  {:45} {} / {}",
        "alternatives/get_by_id/pipelined_tokio_postgres",
        proxy.round_trips() - before,
        proxy.round_trips() - before
    );
    pool.close().await;
}

/// The aims against this run's figures, read back from criterion's output directory: the
/// headline estimate criterion prints (the slope, or the mean where it fitted none) and the median
/// (what a loaded machine's outliers move least).
fn report_ratios() {
    let dir = std::env::var_os("CRITERION_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion")
        });
    let estimates = |group: &str, name: &str| -> Option<(f64, f64)> {
        let path = dir
            .join(group.replace('/', "_"))
            .join(name)
            .join("new/estimates.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        let point = |which: &str| json[which]["point_estimate"].as_f64();
        Some((point("slope").or(point("mean"))?, point("median")?))
    };
    println!("\nratios against the aims of issue 16 (headline estimate; median):");
    for (group, a, b, aim) in [
        ("tenancy/get_by_id", "scoped", "bare", "<= 1.3x"),
        ("tenancy/list", "scoped", "bare", "<= 1.15x"),
        ("tenancy/update", "scoped", "bare", "<= 1.6x"),
        ("repo/get_by_id", "crate", "sqlx", "<= 1.05x"),
        ("repo/list", "crate", "sqlx", "<= 1.05x"),
        ("tenancy/get_by_id", "scoped", "tokio_postgres", "none"),
    ] {
        match (estimates(group, a), estimates(group, b)) {
            (Some((ha, ma)), Some((hb, mb))) => println!(
                "  {group}/{a} / {b}: {:.1} / {:.1} us = {:.2}x; median {:.1} / {:.1} us = {:.2}x (aim {aim})",
                ha / 1e3,
                hb / 1e3,
                ha / hb,
                ma / 1e3,
                mb / 1e3,
                ma / mb
            ),
            _ => println!("  {group}/{a} / {b}: not measured in this run"),
        }
    }
}

criterion_group!(benches, tenancy);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_ratios();
}
