//! The scope guard: context set in one round trip, transaction-local, rolled back on drop.

use crate::support::{fresh_db, insert_brand, insert_user, pool};
use mixerai_data::types::{BrandId, UserId};

#[tokio::test]
async fn scope_runs_as_the_application_role_with_its_context() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "ctx@example.com").await;
    let brand = insert_brand(pool(&db), "ctx", user).await;
    let mut scope = db
        .database()
        .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
        .await
        .unwrap();
    let (role, u, b, superuser): (String, Option<uuid::Uuid>, Option<uuid::Uuid>, bool) =
        sqlx::query_as(
            "SELECT current_user::text, mixerai.app_current_user_id(), mixerai.app_current_brand_id(),
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        )
        .fetch_one(scope.connection())
        .await
        .unwrap();
    assert_eq!(
        (role.as_str(), u, b, superuser),
        ("mixerai_app", Some(user), Some(brand), false)
    );
    scope.rollback().await.unwrap();
}

#[tokio::test]
async fn connection_returned_after_a_scope_carries_no_tenant_setting() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "leak@example.com").await;
    let brand = insert_brand(pool(&db), "leak", user).await;
    let scope = db
        .database()
        .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
        .await
        .unwrap();
    scope.commit().await.unwrap();
    // Only connection of a one-connection pool: the one the scope used.
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.connect_options().clone())
        .await
        .unwrap();
    let db1 = mixerai_data::Database::from_pool(single.clone());
    for _ in 0..2 {
        let s = db1
            .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
            .await
            .unwrap();
        drop(s); // uncommitted: rolled back
    }
    let (role, u, b): (String, Option<uuid::Uuid>, Option<uuid::Uuid>) = sqlx::query_as(
        "SELECT current_user::text, mixerai.app_current_user_id(), mixerai.app_current_brand_id()",
    )
    .fetch_one(&single)
    .await
    .unwrap();
    // Back to the login (the owner), no tenant left behind.
    let login = db.connect_options().get_username();
    assert_eq!((role.as_str(), u, b), (login, None, None));
}

#[tokio::test]
async fn dropping_an_uncommitted_scope_rolls_back() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "drop@example.com").await;
    let brand = insert_brand(pool(&db), "drop", user).await;
    sqlx::query(
        "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($1, $2, 'editor')",
    )
    .bind(user)
    .bind(brand)
    .execute(pool(&db))
    .await
    .unwrap();
    {
        let mut scope = db
            .database()
            .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
             VALUES ($1, 'article', 'Gone', 'gone', $2, $2)",
        )
        .bind(brand)
        .bind(user)
        .execute(scope.connection())
        .await
        .unwrap();
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content")
        .fetch_one(pool(&db))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_read_only_scope_reads_refuses_writes_and_hands_its_connection_back_clean() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "reader@example.com").await;
    let brand = insert_brand(pool(&db), "reader", user).await;
    crate::support::insert_role(pool(&db), user, brand, "editor").await;
    crate::support::insert_content(pool(&db), brand, "readable", user).await;
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.connect_options().clone())
        .await
        .unwrap();
    let db1 = mixerai_data::Database::from_pool(single.clone());
    let (u, b) = (UserId::from_uuid(user), BrandId::from_uuid(brand));

    let mut scope = db1.read_scope(u, b).await.unwrap();
    assert!(scope.is_read_only());
    let page = scope
        .content()
        .list(&Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // Even an editor writes nothing here, and cannot switch the transaction to read-write.
    let err = scope
        .content()
        .create(
            &mixerai_data::content::NewContent::builder()
                .content_type("article")
                .title("Not here")
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, mixerai_data::Error::Forbidden { .. }),
        "{err:?}"
    );
    scope.commit().await.unwrap();
    let mut scope = db1.read_scope(u, b).await.unwrap();
    let err = sqlx::raw_sql("SET TRANSACTION READ WRITE")
        .execute(scope.connection())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-write"), "{err}");
    drop(scope);

    // Ended by commit and by drop, with no round trip: the one connection comes back out of any
    // transaction, as the login, with no tenant left behind.
    // Still inside the read-only transaction, transaction_read_only would say "on".
    let (role, u_left, b_left, read_only): (
        String,
        Option<uuid::Uuid>,
        Option<uuid::Uuid>,
        String,
    ) = sqlx::query_as(
        "SELECT current_user::text, mixerai.app_current_user_id(), mixerai.app_current_brand_id(),
                    current_setting('transaction_read_only')",
    )
    .fetch_one(&single)
    .await
    .unwrap();
    let login = db.connect_options().get_username();
    assert_eq!(
        (role.as_str(), u_left, b_left, read_only.as_str()),
        (login, None, None, "off")
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content")
        .fetch_one(pool(&db))
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_scope_whose_idle_connection_the_server_closed_begins_on_a_fresh_one() {
    let db = fresh_db().await;
    let user = insert_user(pool(&db), "revived@example.com").await;
    let brand = insert_brand(pool(&db), "revived", user).await;
    let single = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.connect_options().clone())
        .await
        .unwrap();
    let db1 = mixerai_data::Database::from_pool(single.clone());
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&single)
        .await
        .unwrap();
    // Scopes skip the pool's acquire-time ping; the server ends the idle connection under them.
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(backend)
        .fetch_one(pool(&db))
        .await
        .unwrap();
    assert!(ended);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for read_only in [false, true] {
        let (u, b) = (UserId::from_uuid(user), BrandId::from_uuid(brand));
        let mut scope = if read_only {
            db1.read_scope(u, b).await.unwrap()
        } else {
            db1.scope(u, b).await.unwrap()
        };
        let now: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(scope.connection())
            .await
            .unwrap();
        assert_ne!(now, backend);
        scope.commit().await.unwrap();
    }
}
