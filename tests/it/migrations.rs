//! The embedded migrations: idempotent, safe to run concurrently, and identical to applying the SQL
//! files with psql in file-name order.

use std::process::Command;

use mixerai_data::Database;
use mixerai_data::db::MIGRATOR;
use mixerai_data::test_support::{TestServer, find_bindir};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

async fn applied_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mixerai._migrations WHERE success")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn second_migrate_is_a_no_op() {
    let server = TestServer::global().await.unwrap();
    let test_db = server.empty_database().await.unwrap();
    let db = test_db.database();
    db.migrate().await.unwrap();
    let first: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT version, installed_on FROM mixerai._migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(first.len(), MIGRATOR.iter().count());
    db.migrate().await.unwrap();
    let second: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT version, installed_on FROM mixerai._migrations ORDER BY version")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        first, second,
        "a second migrate() must not re-apply anything"
    );
}

#[tokio::test]
async fn concurrent_migrations_from_two_pools_both_succeed_once() {
    let server = TestServer::global().await.unwrap();
    let test_db = server.empty_database().await.unwrap();
    // Two independent pools stand for two processes starting at once.
    let a = own_database(&test_db).await;
    let b = own_database(&test_db).await;
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    assert_eq!(
        applied_count(a.pool()).await,
        MIGRATOR.iter().count() as i64
    );
}

/// A `Database` with a pool of its own on `test_db`, logging in as the test database's owner
/// (password included).
async fn own_database(test_db: &mixerai_data::test_support::TestDatabase) -> Database {
    Database::from_pool(
        PgPoolOptions::new()
            .max_connections(10)
            .connect_with(test_db.connect_options().clone())
            .await
            .unwrap(),
    )
}

/// A catalog fingerprint: tables, columns, constraints, indexes, triggers, functions, policies, views.
async fn schema_fingerprint(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        r#"
        SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default)
          FROM information_schema.columns WHERE table_schema = 'mixerai' AND table_name <> '_migrations'
        UNION ALL
        SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
          FROM pg_constraint WHERE connamespace = 'mixerai'::regnamespace
                               AND conrelid::regclass::text <> 'mixerai._migrations'
        UNION ALL
        SELECT format('index %s', indexdef) FROM pg_indexes
          WHERE schemaname = 'mixerai' AND tablename <> '_migrations'
        UNION ALL
        SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT format('function %s %s %s %s %s', p.oid::regprocedure, md5(prosrc), prosecdef, proconfig, proacl)
          FROM pg_proc p WHERE pronamespace = 'mixerai'::regnamespace
        UNION ALL
        SELECT format('policy %s %s %s %s %s %s %s', tablename, policyname, permissive, roles, cmd, qual, with_check)
          FROM pg_policies WHERE schemaname = 'mixerai'
        UNION ALL
        SELECT format('relation %s %s rls=%s force=%s acl=%s', relname, relkind, relrowsecurity,
                      relforcerowsecurity, relacl)
          FROM pg_class WHERE relnamespace = 'mixerai'::regnamespace AND relname NOT LIKE '\_migrations%'
        UNION ALL
        SELECT format('schema %s acl=%s', nspname, nspacl) FROM pg_namespace WHERE nspname = 'mixerai'
        UNION ALL
        -- Nothing of the crate's outside its schema.
        SELECT format('public %s %s', relkind, relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace
        UNION ALL
        SELECT format('public function %s', proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        ORDER BY 1
        "#,
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn psql_in_file_name_order_builds_the_same_schema_as_migrate() {
    let server = TestServer::global().await.unwrap();
    let by_migrate = server.database().await.unwrap();
    let by_psql = server.empty_database().await.unwrap();

    let psql = find_bindir()
        .map(|d| d.join("psql"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "psql".into());
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), MIGRATOR.iter().count());
    let o = by_psql.connect_options();
    for file in &files {
        // Each file in one transaction, as sqlx applies it, unless it says it must run outside one.
        let no_tx = std::fs::read_to_string(file)
            .unwrap()
            .starts_with("-- no-transaction");
        let out = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args((!no_tx).then_some("--single-transaction"))
            .args([
                "-h",
                o.get_host(),
                "-p",
                &o.get_port().to_string(),
                "-U",
                o.get_username(),
            ])
            .args(["-d", o.get_database().unwrap(), "-f"])
            .arg(file)
            .env("PGPASSWORD", by_psql.password().unwrap_or_default())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql -f {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let a = schema_fingerprint(by_migrate.database().pool()).await;
    let b = schema_fingerprint(by_psql.database().pool()).await;
    assert!(
        a.len() > 100,
        "fingerprint too small to mean anything: {}",
        a.len()
    );
    assert_eq!(a, b);
}

#[tokio::test]
async fn two_databases_of_one_cluster_migrate_at_once() {
    // mixerai_app is cluster-wide: both migrations find it, or race to create it, and both succeed.
    let server = TestServer::global().await.unwrap();
    let (a, b) = (
        server.empty_database().await.unwrap(),
        server.empty_database().await.unwrap(),
    );
    let (ra, rb) = tokio::join!(a.database().migrate(), b.database().migrate());
    ra.unwrap();
    rb.unwrap();
    for db in [&a, &b] {
        let member: bool =
            sqlx::query_scalar("SELECT pg_has_role(current_user, 'mixerai_app', 'MEMBER')")
                .fetch_one(db.database().pool())
                .await
                .unwrap();
        assert!(member);
    }
    let (login, superuser, bypass): (bool, bool, bool) = sqlx::query_as(
        "SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'mixerai_app'",
    )
    .fetch_one(a.database().pool())
    .await
    .unwrap();
    assert_eq!((login, superuser, bypass), (false, false, false));
}

/// Migration 0022: on a server built with lz4, the audit payload and the bodies of content and its
/// version log are stored lz4-compressed (pglz cost ~4x the time per ~20 kB payload); on one without
/// it, the migration leaves pglz and nothing fails.
#[tokio::test]
async fn large_values_of_the_write_path_are_stored_lz4_compressed_where_the_server_has_lz4() {
    let db = crate::support::fresh_db().await;
    let p = crate::support::pool(&db);
    // Whether this server has lz4: setting it as the default compression fails where it has not.
    let mut tx = p.begin().await.unwrap();
    let has_lz4 = sqlx::query("SET LOCAL default_toast_compression = lz4")
        .execute(&mut *tx)
        .await
        .is_ok();
    tx.rollback().await.unwrap();
    let user = crate::support::insert_user(p, "lz4@example.com").await;
    let brand = crate::support::insert_brand(p, "lz4", user).await;
    let item = crate::support::insert_content(p, brand, "lz4", user).await;
    // ~9 kB of repetitive text: over TOAST's ~2 kB threshold, so it is compressed when stored.
    let body: String = (0..400)
        .map(|i| format!("word{} lorem ipsum ", i % 97))
        .collect();
    sqlx::query("UPDATE mixerai.content SET body = $2 WHERE id = $1")
        .bind(item)
        .bind(&body)
        .execute(p)
        .await
        .unwrap();
    let methods: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT pg_column_compression(body) FROM mixerai.content WHERE id = $1),
                (SELECT pg_column_compression(body) FROM mixerai.content_versions
                 WHERE content_id = $1 AND body IS NOT NULL ORDER BY version DESC LIMIT 1),
                (SELECT pg_column_compression(payload) FROM mixerai.events
                 WHERE aggregate_id = $1 ORDER BY position DESC LIMIT 1)",
    )
    .bind(item)
    .fetch_one(p)
    .await
    .unwrap();
    let expected = Some(if has_lz4 { "lz4" } else { "pglz" }.to_owned());
    assert_eq!(
        methods,
        (expected.clone(), expected.clone(), expected),
        "lz4 available: {has_lz4}"
    );
}
