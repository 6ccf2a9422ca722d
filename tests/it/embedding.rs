//! The crate as a guest in a host's database: its own schema and migration history beside the host's,
//! robust migrations, no dependence on the session's search_path, and a host's own tenant tables under
//! the same isolation.

use std::time::Duration;

use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::content::{ContentFilter, ContentPatch, NewContent};
use mixerai_data::db::MIGRATOR;
use mixerai_data::test_support::{SERVER_URL_VAR, TestServer};
use mixerai_data::users::NewUser;
use mixerai_data::{Database, Error, PageRequest};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use crate::support::{admin_pool, fresh_db};

/// A host application's own migrations: numbered from 1 like the crate's, its own `users`, `events`
/// and `content` in `public`, recorded in sqlx's default `_sqlx_migrations`.
static HOST: Migrator = sqlx::migrate!("tests/it/host_migrations");

/// The example host tenant table (`examples/host_migrations`): notes on content items.
static HOST_NOTES: Migrator = sqlx::migrate!("examples/host_migrations");

async fn versions(pool: &PgPool, table: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {table} WHERE success ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn host_and_crate_migrations_coexist_in_either_order_and_across_restarts() {
    let server = TestServer::global().await.unwrap();
    let crate_versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    for host_first in [true, false] {
        let test_db = server.empty_database().await.unwrap();
        let db = test_db.database();
        // Twice each, as two restarts of a host that migrates both at start-up.
        for _restart in 0..2 {
            if host_first {
                HOST.run(db.pool()).await.unwrap();
                db.migrate().await.unwrap();
            } else {
                db.migrate().await.unwrap();
                HOST.run(db.pool()).await.unwrap();
            }
        }
        assert_eq!(versions(db.pool(), "_sqlx_migrations").await, [1, 2]);
        assert_eq!(
            versions(db.pool(), "mixerai._migrations").await,
            crate_versions
        );
        // The host's tables and the crate's share names and nothing else.
        let host_users: i64 =
            sqlx::query_scalar("INSERT INTO public.users (login) VALUES ('ada') RETURNING id")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert!(host_users > 0);
        let mut system = db.system_scope().await.unwrap();
        let ada = system
            .users()
            .create(
                &NewUser::builder()
                    .email("ada@example.com")
                    .first_name("Ada")
                    .last_name("Lovelace")
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        system.commit().await.unwrap();
        assert_eq!(ada.email.as_str(), "ada@example.com");
    }
}

#[tokio::test]
async fn a_migrated_database_holds_nothing_of_the_crate_in_public() {
    let test_db = fresh_db().await;
    let public: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s %s', c.relkind, c.relname) FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace
         UNION ALL
         SELECT format('function %s', p.proname) FROM pg_proc p
         WHERE p.pronamespace = 'public'::regnamespace
         UNION ALL
         SELECT format('type %s', t.typname) FROM pg_type t
         WHERE t.typnamespace = 'public'::regnamespace",
    )
    .fetch_all(test_db.database().pool())
    .await
    .unwrap();
    assert_eq!(public, Vec::<String>::new());
    let crate_objects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'mixerai'::regnamespace",
    )
    .fetch_one(test_db.database().pool())
    .await
    .unwrap();
    assert!(crate_objects > 50, "{crate_objects}");
}

#[tokio::test]
async fn a_failed_migration_is_named_leaves_no_lock_and_the_next_migrate_goes_on_at_once() {
    let server = TestServer::global().await.unwrap();
    let test_db = server.empty_database().await.unwrap();
    let db = test_db.database();
    // A table squatting the name migration 10 creates makes that migration fail half-way through
    // the history.
    sqlx::raw_sql("CREATE SCHEMA mixerai; CREATE TABLE mixerai.claims (id int)")
        .execute(db.pool())
        .await
        .unwrap();
    let err = db.migrate().await.unwrap_err();
    match &err {
        Error::Migration {
            version,
            description,
            ..
        } => assert_eq!((*version, description.as_str()), (10, "claims")),
        other => panic!("expected Error::Migration, got {other:?}"),
    }
    assert!(
        std::error::Error::source(&err).is_some_and(|s| s.to_string().contains("already exists")),
        "{err:?}"
    );
    // Nothing of migration 10 is applied, and no session holds the migration lock.
    assert_eq!(
        versions(db.pool(), "mixerai._migrations").await,
        (1..=9).collect::<Vec<_>>()
    );
    let locks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND d.datname = current_database()",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(locks, 0);

    sqlx::query("DROP TABLE mixerai.claims")
        .execute(db.pool())
        .await
        .unwrap();
    // Every connection of the pool is busy but one, so a lock left on a pooled connection would make
    // this wait for ever; it must finish at once.
    let held: Vec<_> = futures_hold(db.pool(), 4).await;
    tokio::time::timeout(Duration::from_secs(20), db.migrate())
        .await
        .expect("migrate() after a failure must not wait on a lock left behind")
        .unwrap();
    drop(held);
    assert_eq!(
        versions(db.pool(), "mixerai._migrations").await,
        MIGRATOR.iter().map(|m| m.version).collect::<Vec<_>>()
    );
}

/// Holds `n` connections of `pool` until dropped.
async fn futures_hold(pool: &PgPool, n: usize) -> Vec<sqlx::pool::PoolConnection<sqlx::Postgres>> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(pool.acquire().await.unwrap());
    }
    held
}

#[tokio::test]
async fn a_second_process_waiting_on_the_migration_lock_goes_on_when_the_first_fails() {
    let server = TestServer::global().await.unwrap();
    let test_db = server.empty_database().await.unwrap();
    let db = test_db.database();
    sqlx::raw_sql("CREATE SCHEMA mixerai; CREATE TABLE mixerai.claims (id int)")
        .execute(db.pool())
        .await
        .unwrap();
    // Two processes start at once; whichever gets the lock first fails on migration 10, and the
    // other, waiting on the lock, then fails on it too instead of hanging.
    let other = Database::from_pool(
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(test_db.connect_options().clone())
            .await
            .unwrap(),
    );
    let (a, b) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(db.migrate(), other.migrate())
    })
    .await
    .expect("neither migrate() may hang");
    for result in [a, b] {
        assert!(
            matches!(result, Err(Error::Migration { version: 10, .. })),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn scopes_work_with_the_sessions_search_path_set_to_pg_catalog_only() {
    let test_db = fresh_db().await;
    let options = test_db
        .connect_options()
        .clone()
        .options([("search_path", "pg_catalog")]);
    let db = Database::from_pool(
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .unwrap(),
    );
    let path: String = sqlx::query_scalar("SHOW search_path")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(path, "pg_catalog");

    let mut system = db.system_scope().await.unwrap();
    let ada = system
        .users()
        .create(
            &NewUser::builder()
                .email("ada@example.com")
                .first_name("Ada")
                .last_name("Lovelace")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name("Engines")
                .country("GB")
                .language("en")
                .build()
                .unwrap(),
            ada.id,
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            brand.id,
            ada.id,
            &NewMembership::builder()
                .role(BrandRole::Editor)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();

    let mut scope = db.scope(ada.id, brand.id).await.unwrap();
    let item = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("article")
                .title("Notes on the Engine")
                .body("The engine weaves algebraic patterns")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let patched = scope
        .content()
        .update(
            item.id,
            item.version,
            &ContentPatch::builder()
                .title("Notes, revised")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(patched.title, "Notes, revised");
    let page = scope
        .content()
        .list(&ContentFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let hits = scope.content().search("algebraic", 10).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(scope.brands().get(brand.id).await.unwrap().id, brand.id);
    scope.commit().await.unwrap();
}

#[tokio::test]
async fn test_support_refuses_a_non_superuser_naming_its_variable_and_the_privilege() {
    let test_db = fresh_db().await;
    let o = test_db.connect_options();
    // The owner login of a test database: a real role, but not a superuser.
    let url = format!(
        "postgres://{}:{}@{}:{}/{}",
        o.get_username(),
        test_db.password().unwrap_or_default(),
        o.get_host(),
        o.get_port(),
        test_db.name()
    );
    let err = TestServer::at(&url).await.unwrap_err().to_string();
    assert!(err.contains(SERVER_URL_VAR), "{err}");
    assert!(err.contains("not a superuser"), "{err}");
    assert!(err.contains("BYPASSRLS"), "{err}");
}

#[tokio::test]
async fn a_host_tenant_table_is_held_to_the_scopes_brand_and_refuses_another_brands_content() {
    let server = TestServer::global().await.unwrap();
    let test_db = server.database_with(&HOST_NOTES).await.unwrap();
    let db = test_db.database();
    // The template carried the host's migration: no test database runs it again.
    assert_eq!(
        versions(db.pool(), "_sqlx_migrations").await,
        [20260101000000]
    );

    let mut system = db.system_scope().await.unwrap();
    let user = |n: &'static str| {
        NewUser::builder()
            .email(format!("{n}@example.com"))
            .first_name(n)
            .last_name("Tester")
            .build()
            .unwrap()
    };
    let (editor, viewer, outsider) = (user("editor"), user("viewer"), user("outsider"));
    let editor = system.users().create(&editor).await.unwrap();
    let viewer = system.users().create(&viewer).await.unwrap();
    let outsider = system.users().create(&outsider).await.unwrap();
    let brand = |name: &str| {
        NewBrand::builder()
            .name(name)
            .country("GB")
            .language("en")
            .build()
            .unwrap()
    };
    let a = system
        .brands()
        .create(&brand("Alpha"), editor.id)
        .await
        .unwrap();
    let b = system
        .brands()
        .create(&brand("Beta"), outsider.id)
        .await
        .unwrap();
    system
        .brands()
        .grant(
            a.id,
            editor.id,
            &NewMembership::builder()
                .role(BrandRole::Editor)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            a.id,
            viewer.id,
            &NewMembership::builder()
                .role(BrandRole::Viewer)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            b.id,
            outsider.id,
            &NewMembership::builder()
                .role(BrandRole::Editor)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system.commit().await.unwrap();

    let item = |title: &str| {
        NewContent::builder()
            .content_type("article")
            .title(title)
            .build()
            .unwrap()
    };
    let mut scope = db.scope(outsider.id, b.id).await.unwrap();
    let theirs = scope.content().create(&item("Beta's item")).await.unwrap();
    scope.commit().await.unwrap();

    let mut scope = db.scope(editor.id, a.id).await.unwrap();
    let ours = scope.content().create(&item("Alpha's item")).await.unwrap();
    scope.commit().await.unwrap();

    let mut scope = db.scope(editor.id, a.id).await.unwrap();
    let note =
        "INSERT INTO public.content_notes (content_id, body) VALUES ($1, $2) RETURNING brand_id";
    let noted: uuid::Uuid = sqlx::query_scalar(note)
        .bind(ours.id)
        .bind("Check the claim in paragraph two")
        .fetch_one(scope.connection())
        .await
        .unwrap();
    assert_eq!(
        noted,
        a.id.as_uuid(),
        "brand_id defaults to the scope's brand"
    );
    // Another brand's item, whose id this editor has learned: the composite key refuses it, although
    // a foreign-key check does not look at row-level security.
    let err = sqlx::query(note)
        .bind(theirs.id)
        .bind("A note on somebody else's item")
        .execute(scope.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { constraint, .. } if constraint == "content_notes_content_fkey"),
        "{err:?}"
    );
    scope.rollback().await.unwrap();

    // Claiming the other brand outright is refused by the restrictive policy.
    let mut scope = db.scope(editor.id, a.id).await.unwrap();
    let err = sqlx::query(
        "INSERT INTO public.content_notes (brand_id, content_id, body) VALUES ($1, $2, 'x')",
    )
    .bind(b.id)
    .bind(theirs.id)
    .execute(scope.connection())
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    scope.rollback().await.unwrap();

    let mut scope = db.scope(editor.id, a.id).await.unwrap();
    sqlx::query(note)
        .bind(ours.id)
        .bind("Check the claim in paragraph two")
        .execute(scope.connection())
        .await
        .unwrap();
    scope.commit().await.unwrap();

    // The viewer reads the brand's notes and may add one, but not delete the editor's.
    let mut scope = db.scope(viewer.id, a.id).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM public.content_notes")
        .fetch_one(scope.connection())
        .await
        .unwrap();
    assert_eq!(seen, 1);
    let deleted = sqlx::query("DELETE FROM public.content_notes")
        .execute(scope.connection())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    sqlx::query(note)
        .bind(ours.id)
        .bind("Looks fine to me")
        .execute(scope.connection())
        .await
        .unwrap();
    scope.commit().await.unwrap();

    // The other brand sees none of them, and neither does a session without a scope.
    let mut scope = db.scope(outsider.id, b.id).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM public.content_notes")
        .fetch_one(scope.connection())
        .await
        .unwrap();
    assert_eq!(seen, 0);
    scope.rollback().await.unwrap();
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM public.content_notes")
        .fetch_one(&admin_pool(&test_db))
        .await
        .unwrap();
    assert_eq!(total, 2);
}
