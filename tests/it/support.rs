//! Shared fixtures. Rows are written with plain SQL as the migrating role (the owner, which bypasses
//! row-level security) where a test needs data that is not what it is testing.

use mixerai_data::test_support::{TestDatabase, TestServer};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A fresh, migrated database of this test's own.
pub async fn fresh_db() -> TestDatabase {
    TestServer::global()
        .await
        .expect("test server")
        .database()
        .await
        .expect("test database")
}

/// The owner's pool: the role that migrated the database, as production connects.
pub fn pool(db: &TestDatabase) -> &PgPool {
    db.database().pool()
}

/// A pool on the test database as the server's superuser, for what the owner may not do (e.g. load a
/// fixture with triggers off). Not for the code under test.
pub fn admin_pool(db: &TestDatabase) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(db.admin_connect_options().clone())
}

pub async fn insert_user(pool: &PgPool, email: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO mixerai.users (email, first_name, last_name) VALUES ($1, 'Test', 'User') RETURNING id",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("insert user")
}

pub async fn insert_brand(pool: &PgPool, slug: &str, created_by: Uuid) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ($1, $1, 'GB', 'en', $2) RETURNING id",
    )
    .bind(slug)
    .bind(created_by)
    .fetch_one(pool)
    .await
    .expect("insert brand")
}

pub async fn insert_content(pool: &PgPool, brand: Uuid, slug: &str, user: Uuid) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
         VALUES ($1, 'article', 'A title', $2, $3, $3) RETURNING id",
    )
    .bind(brand)
    .bind(slug)
    .bind(user)
    .fetch_one(pool)
    .await
    .expect("insert content")
}

pub async fn insert_role(pool: &PgPool, user: Uuid, brand: Uuid, role: &str) {
    sqlx::query(
        "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($1, $2, $3)",
    )
    .bind(user)
    .bind(brand)
    .bind(role)
    .execute(pool)
    .await
    .expect("insert role");
}

/// Every node of an `EXPLAIN (FORMAT JSON)` plan, depth first.
pub fn plan_nodes(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        out.extend(plan_nodes(child));
    }
    out
}

/// State a hostile scope leaves on its connection: a temporary table named like the crate's, a
/// session-level tenant setting, a changed search_path, a held advisory lock, a LISTEN.
pub const LEFTOVERS: &str =
    "CREATE TEMP TABLE content (id uuid, brand_id uuid, title text, slug text);
    SELECT set_config('app.current_user_id', '00000000-0000-0000-0000-000000000001', false);
    SELECT set_config('app.current_brand_id', '00000000-0000-0000-0000-000000000002', false);
    SELECT set_config('search_path', 'pg_temp, mixerai, public', false);
    SELECT set_config('statement_timeout', '1h', false);
    SELECT pg_advisory_lock(4242);
    LISTEN mixerai_leak";

/// What the next scope on the same connection must see: none of [`LEFTOVERS`].
pub async fn assert_no_leftovers(conn: &mut PgConnection, expected_user: Option<Uuid>) {
    let (temp, user, path, timeout, locks, channels): (
        Option<String>,
        Option<Uuid>,
        String,
        String,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT to_regclass('pg_temp.content')::text, mixerai.app_current_user_id(),
                current_setting('search_path'), current_setting('statement_timeout'),
                (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
                (SELECT count(*) FROM pg_listening_channels())",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(temp, None, "a temporary table survived");
    assert_eq!(user, expected_user, "a session-level app setting survived");
    assert_eq!(path, "\"$user\", public", "a session search_path survived");
    assert_eq!(timeout, "0", "a session statement_timeout survived");
    assert_eq!(
        (locks, channels),
        (0, 0),
        "an advisory lock or a LISTEN survived"
    );
}
