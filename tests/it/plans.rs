//! Query plans under row-level security at 100k rows: the tenant policies must not push the hot
//! queries off their indexes. EXPLAIN runs inside a scope, as `mixerai_app`, so the policies (and their
//! InitPlans) are part of the plan.

use mixerai_data::Scope;
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, ContentId, UserId};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::support::{admin_pool, fresh_db, plan_nodes, pool};

/// 100 brands x 1,000 content rows; the seed editor edits brand-001.
pub const SEED_100K: &str = include_str!("../fixtures/content_100k.sql");

const LIST: &str = "SELECT id, title FROM mixerai.content WHERE brand_id = $1 AND status = 'draft' \
                    AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 50";
const GET: &str = "SELECT id, title FROM mixerai.content WHERE id = $1";
const GET_ID: &str = "SELECT id FROM mixerai.content WHERE id = $1";

struct Seeded {
    db: TestDatabase,
    user: Uuid,
    /// brand-001, where the user is an editor.
    own: Uuid,
    /// brand-002.
    other: Uuid,
}

async fn seed_100k() -> Seeded {
    let db = fresh_db().await;
    // As the superuser: the fixture switches triggers off (session_replication_role), which the owner
    // may not.
    let admin = admin_pool(&db);
    sqlx::raw_sql(SEED_100K)
        .execute(&admin)
        .await
        .expect("seed 100k rows");
    admin.close().await;
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-editor@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'brand-001'),
                (SELECT id FROM mixerai.brands WHERE slug = 'brand-002')",
    )
    .fetch_one(pool(&db))
    .await
    .unwrap();
    Seeded {
        user: row.get(0),
        own: row.get(1),
        other: row.get(2),
        db,
    }
}

impl Seeded {
    async fn scope(&self) -> Scope {
        self.db
            .database()
            .scope(UserId::from_uuid(self.user), BrandId::from_uuid(self.own))
            .await
            .unwrap()
    }
}

fn field<'a>(node: &'a Value, name: &str) -> &'a str {
    node.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Asserts the plan reads `content` through an index whose name satisfies `index_ok`, and never
/// sequentially.
fn assert_index_scan_on_content(explain: &Value, index_ok: impl Fn(&str) -> bool, what: &str) {
    let root = &explain[0]["Plan"];
    let nodes = plan_nodes(root);
    let seq: Vec<_> = nodes
        .iter()
        .filter(|n| field(n, "Node Type") == "Seq Scan" && field(n, "Relation Name") == "content")
        .collect();
    assert!(
        seq.is_empty(),
        "{what}: Seq Scan on content in\n{explain:#}"
    );
    let index_scan = nodes.iter().any(|n| {
        matches!(
            field(n, "Node Type"),
            "Index Scan" | "Index Only Scan" | "Bitmap Index Scan"
        ) && index_ok(field(n, "Index Name"))
    });
    assert!(index_scan, "{what}: no matching index scan in\n{explain:#}");
}

/// EXPLAIN of `sql` with one uuid parameter inside the scope: the custom plan (parameter known to the
/// planner, as for a statement's first executions) and the generic plan (what a cached prepared
/// statement settles on after five).
async fn explain_both(scope: &mut Scope, sql: &str, param: Uuid) -> [(String, Value); 2] {
    let custom: Value =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {sql}")))
            .bind(param)
            .fetch_one(scope.connection())
            .await
            .unwrap();
    // The simple protocol (no binds): the uuid is formatted in, which is safe for a Uuid's text.
    let prepared = format!("PREPARE plan_probe(uuid) AS {sql}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{prepared}; SET LOCAL plan_cache_mode = force_generic_plan"
    )))
    .execute(scope.connection())
    .await
    .unwrap();
    let generic: Value = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) EXECUTE plan_probe('{param}')"
    )))
    .fetch_one(scope.connection())
    .await
    .map(|row| row.get(0))
    .unwrap();
    sqlx::raw_sql("DEALLOCATE plan_probe; RESET plan_cache_mode")
        .execute(scope.connection())
        .await
        .unwrap();
    [
        ("custom plan".into(), custom),
        ("generic plan".into(), generic),
    ]
}

#[tokio::test]
async fn scoped_list_and_get_by_id_use_content_indexes_never_a_seq_scan_at_100k_rows() {
    // One seeding (~2 s) for both queries.
    let seeded = seed_100k().await;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "(SELECT id FROM mixerai.content WHERE brand_id = $1 LIMIT 1)
         UNION ALL (SELECT id FROM mixerai.content WHERE brand_id = $2 LIMIT 1)",
    )
    .bind(seeded.own)
    .bind(seeded.other)
    .fetch_all(pool(&seeded.db))
    .await
    .unwrap();
    let (own_id, other_id) = (ids[0], ids[1]);
    let mut scope = seeded.scope().await;

    // The brand's drafts, newest first: one of the brand's content indexes.
    for (what, plan) in explain_both(&mut scope, LIST, seeded.own).await {
        assert_index_scan_on_content(
            &plan,
            |i| i.starts_with("idx_content_"),
            &format!("list, {what}"),
        );
    }
    // Get by id: both unique indexes on id find the one row: content_pkey (id), or
    // content_id_brand_key (id, brand_id), which the planner prefers when the policy's
    // brand_id = (InitPlan) can serve as a second index condition.
    for (what, plan) in explain_both(&mut scope, GET, own_id).await {
        assert_index_scan_on_content(
            &plan,
            |i| matches!(i, "content_pkey" | "content_id_brand_key"),
            &format!("get by id, {what}"),
        );
    }

    // The queries themselves: 50 of the brand's own drafts (brand-001 holds the items numbered in
    // hundreds), none of another brand's even when asked for by brand or by id.
    let own = sqlx::query(LIST)
        .bind(seeded.own)
        .fetch_all(scope.connection())
        .await
        .unwrap();
    assert_eq!(own.len(), 50);
    for row in &own {
        let title: String = row.get(1);
        let n: u32 = title.trim_start_matches("Item ").parse().unwrap();
        assert_eq!(n % 100, 0, "{title} is not brand-001's");
    }
    let other = sqlx::query(LIST)
        .bind(seeded.other)
        .fetch_all(scope.connection())
        .await
        .unwrap();
    assert!(
        other.is_empty(),
        "a scope of brand-001 listed brand-002's drafts"
    );
    let found: Option<Uuid> = sqlx::query_scalar(GET_ID)
        .bind(own_id)
        .fetch_optional(scope.connection())
        .await
        .unwrap();
    assert_eq!(found, Some(own_id));
    let leaked: Option<Uuid> = sqlx::query_scalar(GET_ID)
        .bind(other_id)
        .fetch_optional(scope.connection())
        .await
        .unwrap();
    assert_eq!(
        leaked, None,
        "a scope of brand-001 read a row of brand-002 by id"
    );
    scope.rollback().await.unwrap();
}

/// Scans of a relation in this transaction so far: index scans for an index, sequential scans for a
/// table. Counted per backend, so the calls made inside `content_search_ids()` count too.
async fn scans(scope: &mut Scope, relation: &str) -> i64 {
    sqlx::query_scalar("SELECT pg_stat_get_xact_numscans(to_regclass('mixerai.' || $1))")
        .bind(relation)
        .fetch_one(scope.connection())
        .await
        .unwrap()
}

#[tokio::test]
async fn scoped_search_uses_the_gin_index_and_filtered_lists_the_brand_index_at_100k_rows() {
    // One seeding for both.
    let seeded = seed_100k().await;
    let mut scope = seeded.scope().await;

    // Under RLS a plain `search_vector @@ query` on content could not use a GIN index (the operator is
    // not leakproof); content_search_ids() reaches idx_content_fts on the side table instead.
    let (gin_before, seq_before) = (
        scans(&mut scope, "idx_content_fts").await,
        scans(&mut scope, "content_search").await,
    );
    let hits = scope.content().search("4200", 10).await.unwrap();
    let (gin_after, seq_after) = (
        scans(&mut scope, "idx_content_fts").await,
        scans(&mut scope, "content_search").await,
    );
    assert!(
        gin_after > gin_before,
        "search did not scan idx_content_fts"
    );
    assert_eq!(
        seq_after, seq_before,
        "search scanned content_search sequentially"
    );
    let titles: Vec<&str> = hits.iter().map(|h| h.content.title.as_str()).collect();
    assert_eq!(titles, ["Item 4200"]);

    // The outer read of the rows joins content by primary key, never sequentially.
    let explain: Value = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT c.id FROM mixerai.content_search_ids(websearch_to_tsquery('english', $1), 10) s
         JOIN mixerai.content c ON c.id = s.id",
    )
    .bind("4200")
    .fetch_one(scope.connection())
    .await
    .unwrap();
    assert_index_scan_on_content(
        &explain,
        |i| matches!(i, "content_pkey" | "content_id_brand_key"),
        "search rows",
    );

    // A word of another brand's item finds nothing; a word in every item finds only the brand's.
    assert!(scope.content().search("4201", 10).await.unwrap().is_empty());
    let common = scope.content().search("item", 100).await.unwrap();
    assert_eq!(common.len(), 100);
    assert!(
        common
            .iter()
            .all(|h| h.content.brand_id.as_uuid() == seeded.own)
    );

    // The statement ContentRepo::list sends for a type filter and a cursor.
    const FILTERED: &str = "SELECT id FROM mixerai.content WHERE deleted_at IS NULL AND brand_id = $1 \
        AND type = 'article' AND (created_at, id) < (timestamptz '2025-03-01', \
        'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) ORDER BY created_at DESC, id DESC LIMIT 26";
    for (what, plan) in explain_both(&mut scope, FILTERED, seeded.own).await {
        assert_index_scan_on_content(
            &plan,
            |i| i.starts_with("idx_content_brand_"),
            &format!("filtered list, {what}"),
        );
    }
    let page = scope
        .content()
        .list(
            &mixerai_data::content::ContentFilter {
                content_type: Some("article".into()),
                ..Default::default()
            },
            &mixerai_data::page::PageRequest::first(25),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 25);
    assert!(page.next.is_some());
    assert!(
        page.items
            .iter()
            .all(|c| c.content_type == "article" && c.brand_id.as_uuid() == seeded.own)
    );
    assert!(
        page.items
            .windows(2)
            .all(|p| (p[0].created_at, p[0].id.as_uuid()) > (p[1].created_at, p[1].id.as_uuid()))
    );
    scope.rollback().await.unwrap();

    // A user without a role in brand-002 searching there finds nothing, even for its own words.
    let mut outsider = seeded
        .db
        .database()
        .scope(
            UserId::from_uuid(seeded.user),
            BrandId::from_uuid(seeded.other),
        )
        .await
        .unwrap();
    assert!(
        outsider
            .content()
            .search("4201", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        outsider
            .content()
            .search("item", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Asserts no node of the plan reads `relation` sequentially and some node scans `index`.
fn assert_index_scan(explain: &Value, relation: &str, index: &str, what: &str) {
    let nodes = plan_nodes(&explain[0]["Plan"]);
    assert!(
        !nodes
            .iter()
            .any(|n| field(n, "Node Type") == "Seq Scan" && field(n, "Relation Name") == relation),
        "{what}: Seq Scan on {relation} in\n{explain:#}"
    );
    assert!(
        nodes.iter().any(|n| field(n, "Index Name") == index),
        "{what}: no scan of {index} in\n{explain:#}"
    );
}

/// The live read (ContentRepo::get_live): the head by id, then its live version by primary key.
const LIVE_GET: &str = "SELECT v.title FROM mixerai.content c
    JOIN mixerai.content_versions v ON v.content_id = c.id AND v.version = c.live_version
    WHERE c.deleted_at IS NULL AND c.id = $1";
/// A brand's latest published items (ContentRepo::list_live): the page of heads, then their versions.
const LIVE_LIST: &str =
    "SELECT v.title FROM (SELECT id, published_at, live_version FROM mixerai.content
        WHERE deleted_at IS NULL AND live_version IS NOT NULL AND brand_id = $1
        ORDER BY published_at DESC, id DESC LIMIT 51) c
    JOIN mixerai.content_versions v ON v.content_id = c.id AND v.version = c.live_version
    ORDER BY c.published_at DESC, c.id DESC";
/// A page of an item's history (ContentRepo::history).
const HISTORY: &str = "SELECT v.version FROM mixerai.content_versions v
    WHERE v.content_id = $1 AND v.version < 9223372036854775807 ORDER BY v.version DESC LIMIT 26";

#[tokio::test]
async fn live_reads_history_and_due_schedules_are_index_look_ups_at_100k_items() {
    let seeded = seed_100k().await;
    let live: Uuid = sqlx::query_scalar(
        "SELECT id FROM mixerai.content WHERE brand_id = $1 AND live_version IS NOT NULL LIMIT 1",
    )
    .bind(seeded.own)
    .fetch_one(pool(&seeded.db))
    .await
    .unwrap();
    let mut scope = seeded.scope().await;
    for (what, plan) in explain_both(&mut scope, LIVE_GET, live).await {
        assert_index_scan_on_content(
            &plan,
            |i| matches!(i, "content_pkey" | "content_id_brand_key"),
            &format!("live read, {what}"),
        );
        assert_index_scan(
            &plan,
            "content_versions",
            "content_versions_pkey",
            &format!("live read, {what}"),
        );
    }
    for (what, plan) in explain_both(&mut scope, LIVE_LIST, seeded.own).await {
        assert_index_scan(
            &plan,
            "content",
            "idx_content_brand_live",
            &format!("live list, {what}"),
        );
        assert_index_scan(
            &plan,
            "content_versions",
            "content_versions_pkey",
            &format!("live list, {what}"),
        );
    }
    for (what, plan) in explain_both(&mut scope, HISTORY, live).await {
        assert_index_scan(
            &plan,
            "content_versions",
            "content_versions_pkey",
            &format!("history, {what}"),
        );
    }
    // The crate's own calls answer from those indexes.
    assert_eq!(
        scope
            .content()
            .get_live(ContentId::from_uuid(live))
            .await
            .unwrap()
            .version
            .version,
        1
    );
    assert!(
        !scope
            .content()
            .list_live(&PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    scope.rollback().await.unwrap();

    // The publishing job's due items, across brands (a system scope).
    let mut system = seeded.db.database().system_scope().await.unwrap();
    let plan: Value = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT d.id FROM mixerai.content d
         WHERE d.scheduled_version IS NOT NULL AND d.scheduled_for <= now() AND d.deleted_at IS NULL
         ORDER BY d.scheduled_for LIMIT 50 FOR UPDATE SKIP LOCKED",
    )
    .fetch_one(system.connection())
    .await
    .unwrap();
    assert_index_scan(&plan, "content", "idx_content_scheduled", "due schedules");
}

/// Asserts the plan reads `content` by `idx_content_brand_created` (an index scan, not a bitmap, so
/// rows come out in the index's order) and sorts nothing.
fn assert_created_at_index_without_sort(explain: &Value, what: &str) {
    let nodes = plan_nodes(&explain[0]["Plan"]);
    let sorts: Vec<_> = nodes
        .iter()
        .filter(|n| field(n, "Node Type").contains("Sort"))
        .collect();
    assert!(sorts.is_empty(), "{what}: a sort in\n{explain:#}");
    assert!(
        nodes.iter().any(
            |n| matches!(field(n, "Node Type"), "Index Scan" | "Index Only Scan")
                && field(n, "Relation Name") == "content"
                && field(n, "Index Name") == "idx_content_brand_created"
        ),
        "{what}: content not read by idx_content_brand_created in\n{explain:#}"
    );
}

#[tokio::test]
async fn scoped_content_lists_walk_the_created_at_index_newest_first_without_a_sort_at_100k_rows() {
    let seeded = seed_100k().await;
    let mut scope = seeded
        .db
        .database()
        .read_scope(
            UserId::from_uuid(seeded.user),
            BrandId::from_uuid(seeded.own),
        )
        .await
        .unwrap();
    // The statements ContentRepo::list sends (live items, newest first, one row more than the page),
    // with no filter, a status filter, a type filter after a cursor; and the tenancy bench's list.
    const LISTS: [(&str, &str); 4] = [
        (
            "every live item",
            "SELECT id FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 26",
        ),
        (
            "drafts",
            "SELECT id FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL \
             AND status = 'draft' ORDER BY created_at DESC, id DESC LIMIT 51",
        ),
        (
            "articles after a cursor",
            "SELECT id FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL \
             AND type = 'article' AND (created_at, id) < (timestamptz '2025-03-01', \
             'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) ORDER BY created_at DESC, id DESC LIMIT 26",
        ),
        (
            "the bench's 50 newest drafts",
            "SELECT id, title FROM mixerai.content WHERE brand_id = $1 AND status = 'draft' \
             AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 50",
        ),
    ];
    for (list, sql) in LISTS {
        for (what, plan) in explain_both(&mut scope, sql, seeded.own).await {
            assert_created_at_index_without_sort(&plan, &format!("{list}, {what}"));
        }
    }

    // The repository's page of drafts is the owner's, row for row: the policies change the plan's
    // cost estimate, not what it returns.
    let page = scope
        .content()
        .list(
            &mixerai_data::content::ContentFilter {
                status: Some(mixerai_data::content::ContentStatus::Draft),
                ..Default::default()
            },
            &mixerai_data::page::PageRequest::first(50),
        )
        .await
        .unwrap();
    scope.commit().await.unwrap();
    let owners: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM mixerai.content WHERE brand_id = $1 AND deleted_at IS NULL AND status = 'draft'
         ORDER BY created_at DESC, id DESC LIMIT 50",
    )
    .bind(seeded.own)
    .fetch_all(pool(&seeded.db))
    .await
    .unwrap();
    let ids: Vec<Uuid> = page.items.iter().map(|c| c.id.as_uuid()).collect();
    assert_eq!(ids, owners);
    assert!(page.next.is_some());
}
