//! What the content repository costs: each call inside a tenant scope (BEGIN + context, the statement
//! under row-level security, decoding into `Content`, COMMIT) beside the same database work written by
//! hand with plain sqlx on the owner's pool (`BYPASSRLS`, so no RLS and no scope), at 100k content rows
//! over 100 brands (tests/fixtures/content_100k.sql).
//!
//! `cargo bench --bench content -- --warm-up-time 1 --measurement-time 3`
//!
//! Groups (the inserting group runs last: it grows brand-001, which the reading groups measure):
//! - `list_page`: `crate_list` / `baseline_list`, the second page of 25 live articles, newest first,
//!   continued from the first page's cursor (one keyset seek, no OFFSET).
//! - `search`: `crate_search` / `baseline_search`, the 20 best matches for `item`, a word in the title
//!   of every fixture row (so all 950 live rows of the brand match and are ranked: the heavy case).
//!   The crate goes through `content_search_ids()` and the side table's GIN index (migration 0008); the
//!   baseline is the obvious query on `content` itself.
//! - `search_rare`: the same two lines for `4200`, a word in one row of the brand (what the index is for).
//! - `bulk_insert_1000`: `crate_create_many` / `baseline_unnest`, 1000 new items (built before the
//!   timed part, unique slugs per iteration) in one statement and a commit; `naive_single_inserts`,
//!   1000 one-row INSERTs in one transaction, shows what the one statement saves.

use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::content::{ContentFilter, NewContent};
use mixerai_data::page::{Cursor, PageRequest};
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, UserId};
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

mod common;
use common::{CONTENT_COLUMNS as COLUMNS, content_row};

const SEED_100K: &str = include_str!("../tests/fixtures/content_100k.sql");
const BATCH: usize = 1000;
const SEARCH_WORD: &str = "item";
/// In the title of one live row of brand-001 (`Item 4200`).
const RARE_WORD: &str = "4200";

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    user_uuid: Uuid,
    brand_uuid: Uuid,
    /// Where the second page of the brand's articles starts.
    page_two: Cursor,
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
    let (user_uuid, brand_uuid): (Uuid, Uuid) = (row.get(0), row.get(1));
    let (user, brand) = (UserId::from_uuid(user_uuid), BrandId::from_uuid(brand_uuid));
    let mut scope = db.database().scope(user, brand).await.unwrap();
    let first = scope
        .content()
        .list(&articles(), &PageRequest::first(25))
        .await
        .unwrap();
    scope.commit().await.unwrap();
    assert_eq!(first.items.len(), 25);
    Fixture {
        database: db.database().clone(),
        _db: db,
        user,
        brand,
        user_uuid,
        brand_uuid,
        page_two: first.next.expect("a second page"),
    }
}

fn articles() -> ContentFilter {
    ContentFilter {
        content_type: Some("article".to_owned()),
        ..ContentFilter::default()
    }
}

/// One row of a hand-written batch: what the baseline has in hand instead of a `NewContent`.
struct Plain {
    title: String,
    slug: String,
    body: String,
}

/// The `i`-th item of batch `n`, as plain strings; slugs never repeat across batches.
fn plain(n: usize, i: usize) -> Plain {
    Plain {
        title: format!("Bulk item {n} {i}"),
        slug: format!("bulk-{n}-{i}"),
        body: format!("<p>Body of bulk item {i} in batch {n}.</p>"),
    }
}

fn plain_batch(counter: &AtomicUsize) -> Vec<Plain> {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    (0..BATCH).map(|i| plain(n, i)).collect()
}

fn new_content_batch(counter: &AtomicUsize) -> Vec<NewContent> {
    plain_batch(counter)
        .into_iter()
        .map(|p| {
            NewContent::builder()
                .content_type("article")
                .title(p.title)
                .slug(p.slug)
                .body(p.body)
                .build()
                .unwrap()
        })
        .collect()
}

fn content(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(fixture());
    let pool = fixture.database.pool().clone();
    // References, so that the `async move` routines of the batched benches copy them.
    let (f, pool) = (&fixture, &pool);

    let mut group = c.benchmark_group("list_page");
    group.bench_function("crate_list", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let page = scope
                .content()
                .list(&articles(), &PageRequest::first(25).after(f.page_two))
                .await
                .unwrap();
            scope.commit().await.unwrap();
            assert_eq!(page.items.len(), 25);
            page
        })
    });
    let list_sql = format!(
        "SELECT {COLUMNS} FROM mixerai.content
         WHERE deleted_at IS NULL AND brand_id = $1 AND type = $2 AND (created_at, id) < ($3, $4)
         ORDER BY created_at DESC, id DESC LIMIT $5"
    );
    group.bench_function("baseline_list", |b| {
        b.to_async(&rt).iter(|| async {
            // 26 rows: the extra one says whether a next page exists, as the crate's does.
            let rows = sqlx::query(sqlx::AssertSqlSafe(list_sql.as_str()))
                .bind(f.brand_uuid)
                .bind("article")
                .bind(f.page_two.created_at())
                .bind(f.page_two.id())
                .bind(26_i64)
                .fetch_all(pool)
                .await
                .unwrap();
            assert_eq!(rows.len(), 26);
            rows.iter().take(25).map(content_row).collect::<Vec<_>>()
        })
    });
    group.finish();

    let search_sql = format!(
        "SELECT {COLUMNS}, ts_rank(search_vector, q) AS rank
         FROM mixerai.content, websearch_to_tsquery('english', $2) q
         WHERE brand_id = $1 AND deleted_at IS NULL AND search_vector @@ q
         ORDER BY rank DESC, id DESC LIMIT 20"
    );
    // A word in every row of the brand (the GIN route's worst case: a long posting list to intersect
    // with the brand's) and a word in one row (what an index is for).
    for (name, word, expected) in [("search", SEARCH_WORD, 20), ("search_rare", RARE_WORD, 1)] {
        let mut group = c.benchmark_group(name);
        group.bench_function("crate_search", |b| {
            b.to_async(&rt).iter(|| async {
                let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
                let hits = scope.content().search(word, 20).await.unwrap();
                scope.commit().await.unwrap();
                assert_eq!(hits.len(), expected);
                hits
            })
        });
        group.bench_function("baseline_search", |b| {
            b.to_async(&rt).iter(|| async {
                let rows = sqlx::query(sqlx::AssertSqlSafe(search_sql.as_str()))
                    .bind(f.brand_uuid)
                    .bind(word)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), expected);
                rows.iter()
                    .map(|r| (content_row(r), r.get::<f32, _>(28)))
                    .collect::<Vec<_>>()
            })
        });
        group.finish();
    }

    // One counter for every line, so no batch reuses another's slugs.
    let batches = AtomicUsize::new(0);
    let mut group = c.benchmark_group("bulk_insert_1000");
    // Tens of milliseconds per iteration: flat sampling keeps the run within the measurement time.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("crate_create_many", |b| {
        b.to_async(&rt).iter_batched(
            || new_content_batch(&batches),
            |items| async move {
                let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
                let created = scope.content().create_many(&items).await.unwrap();
                scope.commit().await.unwrap();
                assert_eq!(created.len(), BATCH);
                created
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline_unnest", |b| {
        b.to_async(&rt).iter_batched(
            || plain_batch(&batches),
            |items| async move {
                let titles: Vec<&str> = items.iter().map(|p| p.title.as_str()).collect();
                let slugs: Vec<&str> = items.iter().map(|p| p.slug.as_str()).collect();
                let bodies: Vec<&str> = items.iter().map(|p| p.body.as_str()).collect();
                let mut tx = pool.begin().await.unwrap();
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "INSERT INTO mixerai.content (brand_id, type, title, slug, body, created_by, updated_by)
                     SELECT $1, 'article', r.title, r.slug, r.body, $2, $2
                     FROM UNNEST($3::text[], $4::text[], $5::text[]) AS r(title, slug, body)
                     RETURNING id",
                )
                .bind(f.brand_uuid)
                .bind(f.user_uuid)
                .bind(titles)
                .bind(slugs)
                .bind(bodies)
                .fetch_all(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                assert_eq!(ids.len(), BATCH);
                ids
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("naive_single_inserts", |b| {
        b.to_async(&rt).iter_batched(
            || plain_batch(&batches),
            |items| async move {
                let mut tx = pool.begin().await.unwrap();
                let mut ids = Vec::with_capacity(items.len());
                for p in &items {
                    let id: Uuid = sqlx::query_scalar(
                        "INSERT INTO mixerai.content (brand_id, type, title, slug, body, created_by, updated_by)
                         VALUES ($1, 'article', $2, $3, $4, $5, $5) RETURNING id",
                    )
                    .bind(f.brand_uuid)
                    .bind(&p.title)
                    .bind(&p.slug)
                    .bind(&p.body)
                    .bind(f.user_uuid)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                    ids.push(id);
                }
                tx.commit().await.unwrap();
                ids
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    rt.block_on(pool.close());
    drop(fixture);
}

criterion_group!(benches, content);
criterion_main!(benches);
