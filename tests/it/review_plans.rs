//! "My pending decisions" at 10,000 open runs per brand (tests/fixtures/reviews_10k.sql): the plan
//! reads the pending-assignment index, under row-level security, custom and generic; the crate's own
//! call scans that index once per page.

use mixerai_data::page::PageRequest;
use mixerai_data::types::{BrandId, UserId};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::support::{admin_pool, fresh_db, plan_nodes, pool};

/// The seeded runs: two brands of 10,000 items under review.
pub const SEED_REVIEWS_10K: &str = include_str!("../fixtures/reviews_10k.sql");

/// The statement `ReviewRepo::my_pending` runs for a first page of 50 (the crate's text, with its
/// parameters numbered as the query builder numbers them).
const MY_PENDING: &str = "SELECT a.id AS assignment_id, a.assigned_at, s.id AS step_id, s.name AS step_name,
        s.step_type, s.deadline_at, s.instance_id, a.content_id, c.title, i.content_version
 FROM (SELECT a.id, a.assigned_at, a.instance_step_id, a.content_id
       FROM mixerai.workflow_step_assignees a
       WHERE a.pending AND a.user_id = $1 AND a.brand_id = $2 ORDER BY a.assigned_at DESC, a.id DESC LIMIT $3) a
 JOIN mixerai.workflow_instance_steps s ON s.id = a.instance_step_id
 JOIN mixerai.workflow_instances i ON i.id = s.instance_id
 JOIN mixerai.content c ON c.id = a.content_id
 ORDER BY a.assigned_at DESC, a.id DESC";

const INDEX: &str = "idx_workflow_step_assignees_pending";

fn field<'a>(node: &'a Value, name: &str) -> &'a str {
    node.get(name).and_then(Value::as_str).unwrap_or("")
}

#[tokio::test]
async fn my_pending_decisions_at_10k_open_runs_read_the_pending_index_custom_and_generic() {
    let db = fresh_db().await;
    let admin = admin_pool(&db);
    sqlx::raw_sql(SEED_REVIEWS_10K)
        .execute(&admin)
        .await
        .expect("seed 10k runs per brand");
    admin.close().await;
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-reviewer-1@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'review-brand-1'),
                (SELECT count(*) FROM mixerai.workflow_instances WHERE completed_at IS NULL)",
    )
    .fetch_one(pool(&db))
    .await
    .unwrap();
    let (user, brand, open): (Uuid, Uuid, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(open, 20_000);
    let mut scope = db
        .database()
        .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
        .await
        .unwrap();

    let custom: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) {MY_PENDING}"
    )))
    .bind(user)
    .bind(brand)
    .bind(51_i64)
    .fetch_one(scope.connection())
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PREPARE pending_probe(uuid, uuid, bigint) AS {MY_PENDING}; SET LOCAL plan_cache_mode = force_generic_plan"
    )))
    .execute(scope.connection())
    .await
    .unwrap();
    let generic: Value = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) EXECUTE pending_probe('{user}', '{brand}', 51)"
    )))
    .fetch_one(scope.connection())
    .await
    .map(|r| r.get(0))
    .unwrap();
    sqlx::raw_sql("DEALLOCATE pending_probe; RESET plan_cache_mode")
        .execute(scope.connection())
        .await
        .unwrap();
    for (what, plan) in [("custom plan", custom), ("generic plan", generic)] {
        let nodes = plan_nodes(&plan[0]["Plan"]);
        assert!(
            nodes.iter().any(
                |n| matches!(field(n, "Node Type"), "Index Scan" | "Index Only Scan")
                    && field(n, "Index Name") == INDEX
            ),
            "{what}: no scan of {INDEX} in\n{plan:#}"
        );
        assert!(
            !nodes
                .iter()
                .any(|n| field(n, "Node Type") == "Seq Scan" || field(n, "Node Type") == "Sort"),
            "{what}: a sequential scan or a sort in\n{plan:#}"
        );
    }

    // The crate's call: one scan of the index for the page, 50 of the user's own in this brand.
    let before = scans(scope.connection()).await;
    let page = scope
        .reviews()
        .my_pending(&PageRequest::first(50))
        .await
        .unwrap();
    let after = scans(scope.connection()).await;
    assert_eq!(page.items.len(), 50);
    assert!(page.next.is_some());
    assert_eq!(after - before, 1, "the crate's page is one scan of {INDEX}");
}

/// Index scans of the pending index in this transaction so far.
async fn scans(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT pg_stat_get_xact_numscans(to_regclass('mixerai.idx_workflow_step_assignees_pending'))",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}
