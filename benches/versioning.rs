//! What versioning costs (issue 12), at 100k items with 10 versions each (1M version rows): the
//! fixture of tests/fixtures/content_100k.sql, then nine more versions of every item.
//!
//! `cargo bench --bench versioning -- --warm-up-time 1 --measurement-time 3`
//!
//! Every line runs inside a tenant scope (BEGIN with the context, the statement under row-level
//! security, COMMIT), the crate's call beside the same work written by hand with sqlx on the scope's
//! connection against what a table without versions would hold, so the ratio is what versions add:
//! - `read_live_version`: `crate_get_live` (the head's `live_version` pointer joined to its version
//!   row) / `baseline_unversioned_get` (the row itself, as an unversioned table serves it).
//! - `list_latest_published_50`: `crate_list_live` (a brand's 50 latest published items, each its live
//!   version) / `baseline_unversioned_list` (the same 51 head rows from the same index, no join).
//! - `save`: `crate_update` (a save: the version row, the lifecycle and audit triggers, the search
//!   side table) / `baseline_plain_update` (a plain UPDATE of the same row, with its version token, in
//!   a copy of the table without the version log, the lifecycle or the search side table, keeping the
//!   version stamp and the audit trigger).
//!
//! Then, outside criterion, the WAL one save writes (`pg_current_wal_lsn()` before the scope and after
//! its commit, averaged over items) at version 10 and at version 1,000 of an item: printed as
//! `wal_bytes_per_save/version_10` and `/version_1000`. The throwaway server runs with
//! `full_page_writes=off`, so the figures hold no page images (with them on, the first change of a page
//! after a checkpoint adds one, whatever the item's version).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::content::ContentPatch;
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, ContentId, UserId};
use sqlx::{ConnectOptions, Connection, Row};
use uuid::Uuid;

mod common;
use common::{CONTENT_COLUMNS as COLUMNS, content_row};

const SEED_100K: &str = include_str!("../tests/fixtures/content_100k.sql");

/// Nine more versions of every item (the fixture wrote the first): versions 2..=10 in the log, the
/// head at version 10 with its pointers moved along, as the triggers would have left them.
const TEN_VERSIONS: &str = "
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO mixerai.content_versions (content_id, brand_id, version, title, body, excerpt, fields, metadata,
                                      tags, categories, template_id, content_hash, created_by, created_at)
SELECT c.id, c.brand_id, g, c.title, b.body, c.excerpt, c.fields, c.metadata, c.tags, c.categories,
       c.template_id,
       mixerai.content_hash(c.title, b.body, c.excerpt, c.fields, c.metadata, c.tags, c.categories, c.template_id),
       c.created_by, c.created_at + g * interval '1 second'
FROM mixerai.content c
CROSS JOIN generate_series(2, 10) g
CROSS JOIN LATERAL (SELECT '<p>' || c.title || ', revision ' || g || '.</p>' AS body) b;
UPDATE mixerai.content SET version = 10, latest_version = 10, body = '<p>' || title || ', revision 10.</p>',
    live_version = CASE WHEN live_version IS NOT NULL THEN 10 END,
    approved_version = CASE WHEN approved_version IS NOT NULL THEN 10 END,
    scheduled_version = CASE WHEN scheduled_version IS NOT NULL THEN 10 END;
COMMIT;
ANALYZE mixerai.content;
ANALYZE mixerai.content_versions;
";

/// The copy the plain UPDATE writes: content's columns, defaults and indexes, the version stamp and
/// the audit trigger, no version log, lifecycle or search side table.
const PLAIN_TABLE: &str = "
CREATE TABLE mixerai.bench_plain_content (LIKE mixerai.content INCLUDING DEFAULTS INCLUDING GENERATED
    INCLUDING CONSTRAINTS INCLUDING INDEXES);
DO $do$ DECLARE cols text; BEGIN
    -- Every column but the generated ones, which the copy computes itself.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = 'mixerai.content'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('INSERT INTO mixerai.bench_plain_content (%s) SELECT %s FROM mixerai.content WHERE brand_id = %L',
                   cols, cols, $1);
END $do$;
CREATE TRIGGER bench_plain_stamp_update BEFORE UPDATE ON mixerai.bench_plain_content
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_update();
CREATE TRIGGER bench_plain_stamp_actor BEFORE INSERT OR UPDATE ON mixerai.bench_plain_content
    FOR EACH ROW EXECUTE FUNCTION mixerai.stamp_actor('created_by=insert', 'updated_by=insert', 'updated_by=update');
CREATE TRIGGER bench_plain_audit AFTER INSERT OR UPDATE OR DELETE ON mixerai.bench_plain_content
    FOR EACH ROW EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit', 'search_vector');
GRANT SELECT, UPDATE ON mixerai.bench_plain_content TO mixerai_app;
ALTER TABLE mixerai.bench_plain_content ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY bench_plain_scope ON mixerai.bench_plain_content AS RESTRICTIVE FOR ALL TO mixerai_app
    USING (brand_id = (SELECT mixerai.app_current_brand_id())) WITH CHECK (brand_id = (SELECT mixerai.app_current_brand_id()));
CREATE POLICY bench_plain_read ON mixerai.bench_plain_content FOR SELECT TO mixerai_app USING ((SELECT mixerai.app_can_read()));
CREATE POLICY bench_plain_update ON mixerai.bench_plain_content FOR UPDATE TO mixerai_app
    USING ((SELECT mixerai.app_can_write())) WITH CHECK ((SELECT mixerai.app_can_write()));
ANALYZE mixerai.bench_plain_content;
";

/// Run as the superuser once the fixture is in: vacuumed, and autovacuum off for the tables the
/// measurements write, so no background vacuum runs during them (nor writes WAL into the figures).
const SETTLE: &[&str] = &[
    "VACUUM (ANALYZE) mixerai.content, mixerai.content_versions, mixerai.content_search, mixerai.events,
         mixerai.event_streams, mixerai.content_approvals, mixerai.bench_plain_content",
    "ALTER TABLE mixerai.content SET (autovacuum_enabled = off)",
    "ALTER TABLE mixerai.content_versions SET (autovacuum_enabled = off)",
    "ALTER TABLE mixerai.content_search SET (autovacuum_enabled = off)",
    "ALTER TABLE mixerai.events SET (autovacuum_enabled = off)",
    "ALTER TABLE mixerai.event_streams SET (autovacuum_enabled = off)",
    "ALTER TABLE mixerai.bench_plain_content SET (autovacuum_enabled = off)",
];

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    brand_uuid: Uuid,
    /// A published item of the brand.
    live: ContentId,
    /// A draft of the brand, saved over and over.
    draft: ContentId,
    /// The superuser's connection options (for VACUUM).
    admin: sqlx::postgres::PgConnectOptions,
}

async fn fixture() -> Fixture {
    let server = TestServer::global().await.expect("test server");
    let db = server.database().await.expect("test database");
    let pool = db.database().pool();
    let mut admin = db
        .admin_connect_options()
        .connect()
        .await
        .expect("admin connection");
    sqlx::raw_sql(SEED_100K)
        .execute(&mut admin)
        .await
        .expect("seed 100k rows");
    sqlx::raw_sql(TEN_VERSIONS)
        .execute(&mut admin)
        .await
        .expect("ten versions each");
    admin.close().await.expect("close");
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-editor@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'brand-001')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let (user_uuid, brand_uuid): (Uuid, Uuid) = (row.get(0), row.get(1));
    let versions: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content_versions")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(versions, 1_000_000);
    sqlx::raw_sql(sqlx::AssertSqlSafe(
        PLAIN_TABLE.replace("$1", &format!("'{brand_uuid}'")),
    ))
    .execute(pool)
    .await
    .expect("the plain table");
    let mut admin = db
        .admin_connect_options()
        .connect()
        .await
        .expect("admin connection");
    for sql in SETTLE {
        sqlx::raw_sql(*sql)
            .execute(&mut admin)
            .await
            .expect("settle");
    }
    admin.close().await.expect("close");
    let pick = |status: &'static str| {
        sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM mixerai.content WHERE brand_id = $1 AND status = $2 AND deleted_at IS NULL
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(brand_uuid)
        .bind(status)
    };
    let live = pick("published").fetch_one(pool).await.unwrap();
    let draft = pick("draft").fetch_one(pool).await.unwrap();
    Fixture {
        admin: db.admin_connect_options().clone(),
        database: db.database().clone(),
        _db: db,
        user: UserId::from_uuid(user_uuid),
        brand: BrandId::from_uuid(brand_uuid),
        brand_uuid,
        live: ContentId::from_uuid(live),
        draft: ContentId::from_uuid(draft),
    }
}

/// One save of `id` at `version` with a title no earlier save used; returns the new version.
async fn save(f: &Fixture, id: ContentId, version: i32, n: usize) -> i32 {
    let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
    let patch = ContentPatch::builder()
        .title(format!("Saved {n}"))
        .build()
        .unwrap();
    let saved = scope.content().update(id, version, &patch).await.unwrap();
    scope.commit().await.unwrap();
    saved.version
}

async fn wal_lsn(f: &Fixture) -> i64 {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        .fetch_one(f.database.pool())
        .await
        .unwrap()
}

/// Saves measured per item for the WAL figures.
const WAL_SAVES: i32 = 100;

/// The WAL of one save of `id` (at `version`), averaged over [`WAL_SAVES`] consecutive saves.
async fn wal_per_save(f: &Fixture, id: ContentId, mut version: i32, counter: &AtomicUsize) -> i64 {
    let before = wal_lsn(f).await;
    for _ in 0..WAL_SAVES {
        version = save(f, id, version, counter.fetch_add(1, Ordering::Relaxed)).await;
    }
    (wal_lsn(f).await - before) / i64::from(WAL_SAVES)
}

/// WAL per save from version 10 of one item, and from version 1,000 of another, after the same
/// warm-up save on each (so both rows and their pages are in the same state when measured).
async fn wal_figures(f: &Fixture, counter: &AtomicUsize) -> (i64, i64) {
    let pool = f.database.pool();
    let drafts: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM mixerai.content WHERE brand_id = $1 AND status = 'draft'
           AND deleted_at IS NULL AND id <> $2 AND version = 10 ORDER BY created_at LIMIT 2",
    )
    .bind(f.brand_uuid)
    .bind(f.draft)
    .fetch_all(pool)
    .await
    .unwrap();
    let (ten, thousand) = (
        ContentId::from_uuid(drafts[0]),
        ContentId::from_uuid(drafts[1]),
    );
    // The second item saved on to version 998, each save through every trigger (raw SQL on the
    // owner's connection: the same path as any save). A uuid's text is hex and dashes: safe to format.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN FOR i IN 11..998 LOOP
             UPDATE mixerai.content SET title = 'Revision ' || i WHERE id = '{thousand}';
         END LOOP; END $$"
    )))
    .execute(pool)
    .await
    .unwrap();
    let mut admin = f.admin.connect().await.expect("admin connection");
    sqlx::raw_sql(SETTLE[0])
        .execute(&mut admin)
        .await
        .expect("vacuum");
    admin.close().await.expect("close");
    // One warm-up save each (9 -> 10 is the fixture's; 10 -> 11 and 998 -> 999 are not measured).
    let at_ten = save(f, ten, 10, counter.fetch_add(1, Ordering::Relaxed)).await;
    let at_thousand = save(f, thousand, 998, counter.fetch_add(1, Ordering::Relaxed)).await;
    assert_eq!((at_ten, at_thousand), (11, 999));
    (
        wal_per_save(f, ten, at_ten, counter).await,
        wal_per_save(f, thousand, at_thousand, counter).await,
    )
}

fn versioning(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(fixture());
    let f = &fixture;
    let counter = AtomicUsize::new(0);

    let (wal_ten, wal_thousand) = rt.block_on(wal_figures(f, &counter));
    println!("wal_bytes_per_save/version_10: {wal_ten} bytes (saves 11..=110 of one item)");
    println!(
        "wal_bytes_per_save/version_1000: {wal_thousand} bytes (saves 1000..=1099 of another)"
    );

    let mut group = c.benchmark_group("read_live_version");
    group.bench_function("crate_get_live", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let live = scope.content().get_live(f.live).await.unwrap();
            scope.commit().await.unwrap();
            live
        })
    });
    let get_sql =
        format!("SELECT {COLUMNS} FROM mixerai.content WHERE id = $1 AND deleted_at IS NULL");
    group.bench_function("baseline_unversioned_get", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let row = sqlx::query(sqlx::AssertSqlSafe(get_sql.as_str()))
                .bind(f.live)
                .fetch_one(scope.connection())
                .await
                .unwrap();
            scope.commit().await.unwrap();
            content_row(&row)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("list_latest_published_50");
    group.bench_function("crate_list_live", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let page = scope
                .content()
                .list_live(&PageRequest::first(50))
                .await
                .unwrap();
            scope.commit().await.unwrap();
            assert_eq!(page.items.len(), 50);
            page
        })
    });
    let list_sql = format!(
        "SELECT {COLUMNS} FROM mixerai.content
         WHERE deleted_at IS NULL AND live_version IS NOT NULL AND brand_id = $1
         ORDER BY published_at DESC, id DESC LIMIT 51"
    );
    group.bench_function("baseline_unversioned_list", |b| {
        b.to_async(&rt).iter(|| async {
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(list_sql.as_str()))
                .bind(f.brand_uuid)
                .fetch_all(scope.connection())
                .await
                .unwrap();
            scope.commit().await.unwrap();
            assert_eq!(rows.len(), 51);
            rows.iter().take(50).map(content_row).collect::<Vec<_>>()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("save");
    let version = AtomicI32::new(10);
    group.bench_function("crate_update", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let v = save(f, f.draft, version.load(Ordering::Relaxed), n).await;
            version.store(v, Ordering::Relaxed);
            v
        })
    });
    let plain_version = AtomicI32::new(10);
    group.bench_function("baseline_plain_update", |b| {
        b.to_async(&rt).iter(|| async {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
            let v: i32 = sqlx::query_scalar(
                "UPDATE mixerai.bench_plain_content SET title = $3, updated_by = $4
                 WHERE id = $1 AND version = $2 RETURNING version",
            )
            .bind(f.draft)
            .bind(plain_version.load(Ordering::Relaxed))
            .bind(format!("Saved {n}"))
            .bind(f.user)
            .fetch_one(scope.connection())
            .await
            .unwrap();
            scope.commit().await.unwrap();
            plain_version.store(v, Ordering::Relaxed);
            v
        })
    });
    group.finish();

    rt.block_on(f.database.pool().close());
    drop(fixture);
}

criterion_group!(benches, versioning);
criterion_main!(benches);
