//! Resolution at 100k claims (tests/fixtures/claims_100k.sql): one statement that reads the claims of
//! one market of three brands through the market index, and nothing else of the table, proved with
//! EXPLAIN on the query written by hand (tests/fixtures/claims_resolve_by_hand.sql) and with the scan
//! counters of the transaction for `mixerai.claims_resolve()` itself, whose results must be the same.

use chrono::{TimeZone, Utc};
use mixerai_data::claims::{ResolutionRequest, ResolvedClaim};
use mixerai_data::types::{BrandId, CountryCode, LanguageCode, UserId};
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::support::{admin_pool, fresh_db, plan_nodes, pool};

/// 100,000 claims over 91 brands; `claims-own` takes claims from `claims-parent` and
/// `claims-register`.
pub const SEED_CLAIMS_100K: &str = include_str!("../fixtures/claims_100k.sql");
/// What `mixerai.claims_resolve()` computes, as one hand-written statement.
pub const RESOLVE_BY_HAND: &str = include_str!("../fixtures/claims_resolve_by_hand.sql");
/// The product a tenth of the own brand's claims are for.
const PRODUCT: Uuid = Uuid::from_u128(0xf00d);

fn field<'a>(node: &'a Value, name: &str) -> &'a str {
    node.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Scans of a relation in this transaction so far (index scans for an index, sequential scans for a
/// table), counted per backend, so the definer function's count too.
async fn scans(conn: &mut sqlx::PgConnection, relation: &str) -> i64 {
    sqlx::query_scalar("SELECT pg_stat_get_xact_numscans(to_regclass('mixerai.' || $1))")
        .bind(relation)
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn resolution_at_100k_claims_reads_one_markets_claims_through_the_market_index_in_one_statement()
 {
    let db = fresh_db().await;
    // As the superuser: the fixture switches triggers off, which the owner may not.
    let admin = admin_pool(&db);
    sqlx::raw_sql(SEED_CLAIMS_100K)
        .execute(&admin)
        .await
        .expect("seed 100k claims");
    admin.close().await;
    let p = pool(&db);
    let row = sqlx::query(
        "SELECT (SELECT id FROM mixerai.users WHERE email = 'seed-claims@example.com'),
                (SELECT id FROM mixerai.brands WHERE slug = 'claims-own'),
                (SELECT count(*) FROM mixerai.claims)",
    )
    .fetch_one(p)
    .await
    .unwrap();
    let (user, own, total): (Uuid, Uuid, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(total, 100_000);
    let at = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let ingredients = vec!["oats".to_owned()];

    // The claims the statement may read at all: the live claims of the three brands for GB or for
    // every market, counted on their own.
    let market_claims: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.claims c JOIN mixerai.brands b ON b.id = c.brand_id
         WHERE b.slug IN ('claims-own', 'claims-parent', 'claims-register') AND c.deleted_at IS NULL
           AND (c.countries = '{}' OR 'GB' = ANY (c.countries))",
    )
    .fetch_one(p)
    .await
    .unwrap();

    // The plan, as the owner runs it (the definer function runs as the owner, past row-level
    // security): custom, then generic (what a cached statement settles on).
    let mut conn = p.acquire().await.unwrap();
    let args = format!(
        "'{own}', 'GB', 'fr', '{PRODUCT}', '{{oats}}', '{}'",
        at.to_rfc3339()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PREPARE resolve_probe(uuid, text, text, uuid, text[], timestamptz) AS {RESOLVE_BY_HAND}"
    )))
    .execute(&mut *conn)
    .await
    .unwrap();
    for (what, setting) in [
        ("custom plan", "auto"),
        ("generic plan", "force_generic_plan"),
    ] {
        let explain: Value = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET plan_cache_mode = {setting};
             EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE resolve_probe({args})"
        )))
        .fetch_one(&mut *conn)
        .await
        .map(|r| r.get(0))
        .unwrap();
        let nodes = plan_nodes(&explain[0]["Plan"]);
        // Init plans and CTEs are children too: plan_nodes walks them all.
        let on_claims: Vec<&Value> = nodes
            .iter()
            .copied()
            .filter(|n| {
                field(n, "Relation Name") == "claims"
                    || field(n, "Index Name").starts_with("idx_claims")
            })
            .collect();
        assert!(
            !nodes
                .iter()
                .any(|n| field(n, "Node Type") == "Seq Scan"
                    && field(n, "Relation Name") == "claims"),
            "{what}: a sequential scan of claims\n{explain:#}"
        );
        let market_scan = nodes
            .iter()
            .find(|n| field(n, "Index Name") == "idx_claims_market")
            .unwrap_or_else(|| panic!("{what}: idx_claims_market unused\n{explain:#}"));
        assert_eq!(
            field(market_scan, "Node Type"),
            "Bitmap Index Scan",
            "{what}"
        );
        // One scan of the market index, reading exactly the market's claims of the three brands.
        assert_eq!(market_scan["Actual Loops"], 1, "{what}");
        assert_eq!(
            market_scan["Actual Rows"].as_i64().unwrap(),
            market_claims,
            "{what}: rows read from the market index"
        );
        // No other index of claims is scanned for candidates; the winners are read by primary key.
        for n in on_claims {
            let index = field(n, "Index Name");
            assert!(
                index.is_empty() || index == "idx_claims_market" || index == "claims_pkey",
                "{what}: {index} scanned\n{explain:#}"
            );
        }
    }
    sqlx::raw_sql("DEALLOCATE resolve_probe; RESET plan_cache_mode")
        .execute(&mut *conn)
        .await
        .unwrap();
    let by_hand: Vec<ResolvedClaim> = sqlx::query_as(sqlx::AssertSqlSafe(RESOLVE_BY_HAND))
        .bind(own)
        .bind("GB")
        .bind("fr")
        .bind(PRODUCT)
        .bind(&ingredients)
        .bind(at)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    drop(conn);

    // The function, in a scope: the same answer, through the market index, no sequential scan.
    let mut scope = db
        .database()
        .scope(UserId::from_uuid(user), BrandId::from_uuid(own))
        .await
        .unwrap();
    let (index_before, seq_before) = (
        scans(scope.connection(), "idx_claims_market").await,
        scans(scope.connection(), "claims").await,
    );
    let request = ResolutionRequest::new(CountryCode::parse("GB").unwrap(), at)
        .language(LanguageCode::parse("fr").unwrap())
        .product(PRODUCT)
        .ingredient("oats");
    let resolved = scope.claims().resolve(&request).await.unwrap();
    let (index_after, seq_after) = (
        scans(scope.connection(), "idx_claims_market").await,
        scans(scope.connection(), "claims").await,
    );
    assert_eq!(
        index_after - index_before,
        1,
        "one scan of the market index"
    );
    assert_eq!(seq_after, seq_before, "a sequential scan of claims");
    assert!(resolved.len() > 500, "{} resolved", resolved.len());
    assert_eq!(resolved, by_hand);
    // Several brands, several rules and statements decided between claims.
    assert!(resolved.iter().any(|r| !r.overridden.is_empty()));
    let sources: std::collections::HashSet<_> = resolved.iter().map(|r| r.source).collect();
    assert_eq!(sources.len(), 3);
}
