//! What a scope costs in round trips, counted on the wire by a proxy (`proxy.rs`): a change that adds
//! one to a scoped read or write fails here. "On the path" is what the caller waits for; "in all" adds
//! what the pool's return of the connection sends afterwards, in a task of its own (sqlx pings every
//! connection it takes back; a read-only scope's `ROLLBACK` rides along with that ping).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mixerai_data::Database;
use mixerai_data::content::ContentPatch;
use mixerai_data::types::{BrandId, ContentId, UserId};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::proxy::CountingProxy;
use crate::support::{fresh_db, insert_brand, insert_content, insert_role, insert_user, pool};

/// Waits until every connection of `pool` is back among its idle ones.
async fn settle(pool: &PgPool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.num_idle() < pool.size() as usize {
        assert!(Instant::now() < deadline, "the connection never came back");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Round trips of one run of `op` (after two warm-up runs, so its statements are prepared): on the
/// caller's path, and in all once the connection is back in the pool.
async fn count<F, Fut>(proxy: &CountingProxy, pool: &PgPool, mut op: F) -> (u64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..2 {
        op().await;
        settle(pool).await;
    }
    let before = proxy.round_trips();
    op().await;
    // Nothing else ran since `op` returned (a current-thread runtime, no await in between), so the
    // pool's return task has not sent anything yet.
    let on_path = proxy.round_trips() - before;
    settle(pool).await;
    (on_path, proxy.round_trips() - before)
}

// A current-thread runtime (the default): the pool's return task runs only when the test awaits.
#[tokio::test]
async fn a_scoped_read_costs_two_round_trips_and_a_scoped_write_three_as_the_bare_pool_costs_two() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "wire@example.com").await;
    let brand = insert_brand(p, "wire", user).await;
    insert_role(p, user, brand, "editor").await;
    let item = insert_content(p, brand, "wire-item", user).await;

    let options = db.connect_options();
    let upstream: SocketAddr = format!("{}:{}", options.get_host(), options.get_port())
        .parse()
        .expect("the test server listens on a loopback address");
    let proxy = CountingProxy::start(upstream).await;
    // One connection: every run uses the same one, and its return is what `settle` waits for.
    let counted = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone().host("127.0.0.1").port(proxy.addr().port()))
        .await
        .unwrap();
    let counted_db = Database::from_pool(counted.clone());
    let (user, brand, item) = (
        UserId::from_uuid(user),
        BrandId::from_uuid(brand),
        ContentId::from_uuid(item),
    );

    // The bare statement on the pool: sqlx's acquire-time ping, then the statement.
    let bare = count(&proxy, &counted, || async {
        let _: (uuid::Uuid,) = sqlx::query_as("SELECT id FROM mixerai.content WHERE id = $1")
            .bind(item)
            .fetch_one(&counted)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(bare, (2, 3), "bare statement (on the path, in all)");

    // A scoped read: BEGIN with the whole context, then the statement; its end waits for nothing.
    let read = count(&proxy, &counted, || async {
        let mut scope = counted_db.read_scope(user, brand).await.unwrap();
        let got = scope.content().get(item).await.unwrap();
        assert_eq!(got.id, item);
        scope.commit().await.unwrap();
    })
    .await;
    assert_eq!(read, (2, 3), "scoped read (on the path, in all)");

    // Dropping a read-only scope ends it the same way.
    let dropped = count(&proxy, &counted, || async {
        let mut scope = counted_db.read_scope(user, brand).await.unwrap();
        scope.content().get(item).await.unwrap();
    })
    .await;
    assert_eq!(dropped, (2, 3), "dropped scoped read (on the path, in all)");

    let mut version = {
        let mut scope = counted_db.read_scope(user, brand).await.unwrap();
        scope.content().get(item).await.unwrap().version
    };
    let patch = ContentPatch::builder().excerpt("counted").build().unwrap();
    // A scoped write: BEGIN with the context, the audited UPDATE, COMMIT.
    let update = count(&proxy, &counted, || {
        let (db, patch, v) = (&counted_db, &patch, version);
        version += 1;
        async move {
            let mut scope = db.scope(user, brand).await.unwrap();
            let updated = scope.content().update(item, v, patch).await.unwrap();
            assert_eq!(updated.version, v + 1);
            scope.commit().await.unwrap();
        }
    })
    .await;
    assert_eq!(update, (3, 4), "scoped update (on the path, in all)");
    counted.close().await;
}
