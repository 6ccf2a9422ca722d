//! Many tenants sharing a small pool: no scope ever sees another tenant's rows, and no connection handed
//! back after a scope carries a tenant setting, whatever way the scope ended (commit, rollback, drop,
//! drop after an error). The same scenario runs through PgBouncer in `tests/tools/pgbouncer.rs`.

use mixerai_data::Database;
use sqlx::postgres::PgPoolOptions;

use crate::scenario::{run_pooling_scenario, seed_tenants};
use crate::support::{fresh_db, pool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_sharing_a_two_connection_pool_never_see_each_others_rows_or_settings() {
    let test_db = fresh_db().await;
    let tenants = seed_tenants(pool(&test_db)).await;
    let shared = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(test_db.connect_options().clone())
        .await
        .unwrap();
    let db = Database::from_pool(shared);
    let login = test_db.connect_options().get_username().to_owned();
    let report = run_pooling_scenario(&db, &tenants, pool(&test_db), &login).await;
    // All 16 tasks really shared the two connections.
    assert!(report.backends.len() <= 2, "{report:?}");
}
