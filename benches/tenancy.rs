//! What tenancy costs: the hot queries inside a scope (BEGIN + context, the query under row-level
//! security, end of the scope) beside the same queries on the owner's pool (`BYPASSRLS`, so no RLS),
//! at 100k content rows over 100 brands (tests/fixtures/content_100k.sql).
//!
//! `cargo bench --bench tenancy -- --warm-up-time 1 --measurement-time 5`
//!
//! Groups:
//! - `list`: `scoped_list` / `baseline_list`, the brand's 50 newest drafts.
//! - `get_by_id`: `scoped_get_by_id` / `baseline_get_by_id`, one row by primary key.
//! - `scope_overhead`: where the scoped time goes: an empty scope ended by commit or by drop, the bare
//!   round trip (`SELECT 1`) for scale, and the list and get-by-id ended by drop instead of commit.

use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, UserId};
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

const SEED_100K: &str = include_str!("../tests/fixtures/content_100k.sql");
const LIST: &str = "SELECT id, title FROM mixerai.content WHERE brand_id = $1 AND status = 'draft' \
                    AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 50";
const GET: &str = "SELECT id, title FROM mixerai.content WHERE id = $1";

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    brand_uuid: Uuid,
    /// Ids of the brand's rows, cycled through by the get-by-id benches.
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
    Fixture {
        database: db.database().clone(),
        _db: db,
        user: UserId::from_uuid(user),
        brand: BrandId::from_uuid(brand),
        brand_uuid: brand,
        ids,
    }
}

impl Fixture {
    fn next_id(&self, counter: &AtomicUsize) -> Uuid {
        self.ids[counter.fetch_add(1, Ordering::Relaxed) % self.ids.len()]
    }

    async fn scoped_list(&self, commit: bool) -> usize {
        let mut scope = self.database.scope(self.user, self.brand).await.unwrap();
        let rows = sqlx::query(LIST)
            .bind(self.brand_uuid)
            .fetch_all(scope.connection())
            .await
            .unwrap();
        assert_eq!(rows.len(), 50);
        if commit {
            scope.commit().await.unwrap();
        }
        rows.len()
    }

    async fn scoped_get(&self, id: Uuid, commit: bool) -> Uuid {
        let mut scope = self.database.scope(self.user, self.brand).await.unwrap();
        let row = sqlx::query(GET)
            .bind(id)
            .fetch_one(scope.connection())
            .await
            .unwrap();
        if commit {
            scope.commit().await.unwrap();
        }
        row.get(0)
    }
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

    let mut group = c.benchmark_group("list");
    group.bench_function("scoped_list", |b| {
        b.to_async(&rt).iter(|| f.scoped_list(true))
    });
    group.bench_function("baseline_list", |b| {
        b.to_async(&rt).iter(|| async {
            let rows = sqlx::query(LIST)
                .bind(f.brand_uuid)
                .fetch_all(&pool)
                .await
                .unwrap();
            assert_eq!(rows.len(), 50);
            rows.len()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("get_by_id");
    group.bench_function("scoped_get_by_id", |b| {
        b.to_async(&rt)
            .iter(|| f.scoped_get(f.next_id(&counter), true))
    });
    group.bench_function("baseline_get_by_id", |b| {
        b.to_async(&rt).iter(|| async {
            let row = sqlx::query(GET)
                .bind(f.next_id(&counter))
                .fetch_one(&pool)
                .await
                .unwrap();
            row.get::<Uuid, _>(0)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("scope_overhead");
    group.bench_function("round_trip_select_1", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&pool)
                .await
                .unwrap()
        })
    });
    group.bench_function("empty_scope_commit", |b| {
        b.to_async(&rt).iter(|| async {
            let scope = f.database.scope(f.user, f.brand).await.unwrap();
            scope.commit().await.unwrap();
        })
    });
    group.bench_function("empty_scope_drop", |b| {
        b.to_async(&rt).iter(|| async {
            drop(f.database.scope(f.user, f.brand).await.unwrap());
        })
    });
    group.bench_function("scoped_list_drop", |b| {
        b.to_async(&rt).iter(|| f.scoped_list(false))
    });
    group.bench_function("scoped_get_by_id_drop", |b| {
        b.to_async(&rt)
            .iter(|| f.scoped_get(f.next_id(&counter), false))
    });
    group.finish();

    rt.block_on(pool.close());
}

criterion_group!(benches, tenancy);
criterion_main!(benches);
