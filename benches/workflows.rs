//! "My pending decisions" (issue 13) at 10,000 open review runs in a brand (and 10,000 more in a
//! second brand): the fixture of tests/fixtures/reviews_10k.sql, one reviewer with about 1,000
//! pending decisions in each brand, a first page of 50.
//!
//! `cargo bench --bench workflows -- --warm-up-time 1 --measurement-time 3`
//!
//! Every line runs inside a tenant scope (BEGIN with the context, the statement under row-level
//! security, COMMIT):
//! - `crate_my_pending`: `ReviewRepo::my_pending(first 50)`;
//! - `baseline_flat_join`: the query as written by hand with sqlx: the four tables joined, filtered,
//!   `ORDER BY assigned_at DESC, id DESC LIMIT 51`;
//! - `baseline_page_first`: the same written by hand in the crate's shape (the page cut from the
//!   assignments first, then joined), so the difference to the crate is the crate's own overhead.
//!
//! Then, outside criterion, the three alternated for 300 rounds each and the ratios printed
//! (`ratio crate / baseline_...`).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, UserId};
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

const SEED: &str = include_str!("../tests/fixtures/reviews_10k.sql");

const FLAT_JOIN: &str =
    "SELECT a.id AS assignment_id, a.assigned_at, s.id AS step_id, s.name AS step_name,
        s.step_type, s.deadline_at, s.instance_id, a.content_id, c.title, i.content_version
 FROM mixerai.workflow_step_assignees a
 JOIN mixerai.workflow_instance_steps s ON s.id = a.instance_step_id
 JOIN mixerai.workflow_instances i ON i.id = s.instance_id
 JOIN mixerai.content c ON c.id = a.content_id
 WHERE a.pending AND a.user_id = $1 AND a.brand_id = $2
 ORDER BY a.assigned_at DESC, a.id DESC LIMIT 51";

const PAGE_FIRST: &str =
    "SELECT a.id AS assignment_id, a.assigned_at, s.id AS step_id, s.name AS step_name,
        s.step_type, s.deadline_at, s.instance_id, a.content_id, c.title, i.content_version
 FROM (SELECT a.id, a.assigned_at, a.instance_step_id, a.content_id
       FROM mixerai.workflow_step_assignees a
       WHERE a.pending AND a.user_id = $1 AND a.brand_id = $2
       ORDER BY a.assigned_at DESC, a.id DESC LIMIT 51) a
 JOIN mixerai.workflow_instance_steps s ON s.id = a.instance_step_id
 JOIN mixerai.workflow_instances i ON i.id = s.instance_id
 JOIN mixerai.content c ON c.id = a.content_id
 ORDER BY a.assigned_at DESC, a.id DESC";

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
}

async fn fixture() -> Fixture {
    let server = TestServer::global().await.expect("test server");
    let db = server.database().await.expect("test database");
    let mut admin = db
        .admin_connect_options()
        .connect()
        .await
        .expect("admin connection");
    sqlx::raw_sql(SEED)
        .execute(&mut admin)
        .await
        .expect("seed 10k runs per brand");
    sqlx::raw_sql("VACUUM (ANALYZE) mixerai.workflow_step_assignees, mixerai.workflow_instance_steps, mixerai.workflow_instances, mixerai.content")
        .execute(&mut admin)
        .await
        .expect("vacuum");
    admin.close().await.expect("close");
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-reviewer-1@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'review-brand-1'),
                (SELECT count(*) FROM mixerai.workflow_instances i JOIN mixerai.brands b ON b.id = i.brand_id
                 WHERE b.slug = 'review-brand-1' AND i.completed_at IS NULL)",
    )
    .fetch_one(db.database().pool())
    .await
    .unwrap();
    let (user, brand, open): (Uuid, Uuid, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(open, 10_000);
    Fixture {
        database: db.database().clone(),
        _db: db,
        user: UserId::from_uuid(user),
        brand: BrandId::from_uuid(brand),
    }
}

async fn crate_page(f: &Fixture) -> usize {
    let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
    let page = scope
        .reviews()
        .my_pending(&PageRequest::first(50))
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(page.items.len(), 50);
    page.items.len()
}

async fn by_hand(f: &Fixture, sql: &'static str) -> usize {
    let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
    let rows = sqlx::query(sql)
        .bind(f.user)
        .bind(f.brand)
        .fetch_all(scope.connection())
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(rows.len(), 51);
    rows.len()
}

/// The three alternated for `rounds` rounds; mean time of each.
async fn alternated(f: &Fixture, rounds: u32) -> [Duration; 3] {
    let mut total = [Duration::ZERO; 3];
    for _ in 0..rounds {
        let t = Instant::now();
        crate_page(f).await;
        total[0] += t.elapsed();
        let t = Instant::now();
        by_hand(f, FLAT_JOIN).await;
        total[1] += t.elapsed();
        let t = Instant::now();
        by_hand(f, PAGE_FIRST).await;
        total[2] += t.elapsed();
    }
    total.map(|d| d / rounds)
}

fn workflows(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(fixture());
    let f = &fixture;

    let mut group = c.benchmark_group("my_pending_decisions_10k_open_runs");
    group.bench_function("crate_my_pending", |b| {
        b.to_async(&rt).iter(|| crate_page(f))
    });
    group.bench_function("baseline_flat_join", |b| {
        b.to_async(&rt).iter(|| by_hand(f, FLAT_JOIN))
    });
    group.bench_function("baseline_page_first", |b| {
        b.to_async(&rt).iter(|| by_hand(f, PAGE_FIRST))
    });
    group.finish();

    let [krate, flat, first] = rt.block_on(alternated(f, 300));
    println!(
        "my_pending_decisions alternated x300: crate {krate:?}, baseline_flat_join {flat:?}, baseline_page_first {first:?}"
    );
    println!(
        "ratio crate / baseline_flat_join: {:.2}",
        krate.as_secs_f64() / flat.as_secs_f64()
    );
    println!(
        "ratio crate / baseline_page_first: {:.2}",
        krate.as_secs_f64() / first.as_secs_f64()
    );
}

criterion_group!(benches, workflows);
criterion_main!(benches);
