//! Failures a host can act on: a connection lost before anything was committed is `Unavailable` and
//! retried; one lost while `COMMIT` was in flight is `CommitUnknown` and never retried blindly; lost
//! races under SERIALIZABLE are retried to success; an idempotency key makes a retried write after an
//! unknown outcome apply once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use mixerai_data::content::{ContentPatch, NewContent};
use mixerai_data::types::{BrandId, ContentId, UserId};
use mixerai_data::{Database, Error, Isolation, RetryPolicy};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::support::{
    admin_pool, fresh_db, insert_brand, insert_content, insert_role, insert_user, pool,
};

async fn editor_and_brand(owner: &PgPool) -> (UserId, BrandId) {
    let user = insert_user(owner, "retry@example.com").await;
    let brand = insert_brand(owner, "retry", user).await;
    insert_role(owner, user, brand, "editor").await;
    (UserId::from_uuid(user), BrandId::from_uuid(brand))
}

fn article(title: &str) -> NewContent {
    NewContent::builder()
        .content_type("article")
        .title(title)
        .build()
        .unwrap()
}

async fn terminate(admin: &PgPool, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(done);
}

#[tokio::test]
async fn a_backend_terminated_mid_scope_is_unavailable_and_run_in_scope_succeeds_on_the_next_run() {
    let test_db = fresh_db().await;
    let (user, brand) = editor_and_brand(pool(&test_db)).await;
    let admin = admin_pool(&test_db);
    let db = test_db.database();

    // Directly: the scope's next statement after its backend is killed.
    let mut scope = db.scope(user, brand).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(scope.connection())
        .await
        .unwrap();
    terminate(&admin, pid).await;
    let err = scope.content().create(&article("Lost")).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        !err.to_string().contains("line"),
        "no server source-line noise: {err}"
    );
    drop(scope);

    // Through the runner: the first run loses its connection, the second creates the item.
    let runs = Arc::new(AtomicU32::new(0));
    let created = db
        .run_in_scope(user, brand, |scope| {
            // What a run uses is its own: the future may borrow the scope only.
            let (runs, admin) = (runs.clone(), admin.clone());
            Box::pin(async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                        .fetch_one(scope.connection())
                        .await?;
                    terminate(&admin, pid).await;
                }
                scope
                    .content()
                    .create(&article("Made on the second run"))
                    .await
            })
        })
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE id = $1")
        .bind(created.id)
        .fetch_one(pool(&test_db))
        .await
        .unwrap();
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_commit_whose_connection_breaks_in_flight_is_commit_unknown_and_never_retried() {
    let test_db = fresh_db().await;
    let (user, brand) = editor_and_brand(pool(&test_db)).await;
    let admin = admin_pool(&test_db);
    // A deferred trigger makes COMMIT wait for a row another session holds, so the commit is in
    // flight for as long as the test wants.
    sqlx::raw_sql(
        "CREATE TABLE public.commit_gate (id int PRIMARY KEY);
         INSERT INTO public.commit_gate VALUES (1);
         CREATE FUNCTION public.wait_at_commit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
             SET search_path = '' AS $$
         BEGIN
             PERFORM 1 FROM public.commit_gate WHERE id = 1 FOR UPDATE;
             RETURN NULL;
         END $$;
         CREATE CONSTRAINT TRIGGER wait_at_commit AFTER INSERT ON mixerai.content
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.wait_at_commit();",
    )
    .execute(&admin)
    .await
    .unwrap();
    let mut gate = admin.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM public.commit_gate WHERE id = 1 FOR UPDATE")
        .execute(&mut *gate)
        .await
        .unwrap();

    let runs = Arc::new(AtomicU32::new(0));
    let db = test_db.database().clone();
    let runner = {
        let runs = runs.clone();
        tokio::spawn(async move {
            db.run_in_scope(user, brand, |scope| {
                let runs = runs.clone();
                Box::pin(async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    scope.content().create(&article("In flight")).await
                })
            })
            .await
        })
    };
    // Wait until the scope's backend is waiting in its COMMIT, then kill it.
    let pid: i32 = loop {
        let waiting: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE 'COMMIT%' AND datname = current_database()",
        )
        .fetch_optional(&admin)
        .await
        .unwrap();
        if let Some(pid) = waiting {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    terminate(&admin, pid).await;
    let err = runner.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::CommitUnknown { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "an unknown outcome is not retried"
    );
    gate.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_serializable_eight_racing_updates_are_retried_to_success_each_applied_once() {
    let test_db = fresh_db().await;
    let (user, brand) = editor_and_brand(pool(&test_db)).await;
    let item = insert_content(pool(&test_db), brand.as_uuid(), "contended", user.as_uuid()).await;
    let db = test_db
        .database()
        .clone()
        .with_isolation(Isolation::Serializable)
        .with_retry_policy(RetryPolicy {
            max_attempts: 50,
            ..RetryPolicy::default()
        });
    let retried = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (db, retried) = (db.clone(), retried.clone());
        tasks.push(tokio::spawn(async move {
            let mut runs = 0;
            let result = db
                .run_in_scope(user, brand, |scope| {
                    runs += 1;
                    Box::pin(async move {
                        let current = scope.content().get(ContentId::from_uuid(item)).await?;
                        let patch = ContentPatch::builder()
                            .title(format!("{} +{n}", current.title))
                            .build()?;
                        scope
                            .content()
                            .update(current.id, current.version, &patch)
                            .await
                    })
                })
                .await;
            retried.fetch_add(runs - 1, Ordering::SeqCst);
            result
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (version, title): (i32, String) =
        sqlx::query_as("SELECT version, title FROM mixerai.content WHERE id = $1")
            .bind(item)
            .fetch_one(pool(&test_db))
            .await
            .unwrap();
    // Every logical update applied exactly once: eight saves on top of the first version, each
    // task's mark in the title once.
    assert_eq!(version, 9);
    for n in 0..8 {
        assert_eq!(title.matches(&format!("+{n}")).count(), 1, "{title}");
    }
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1 AND event_type = 'UPDATE'",
    )
    .bind(item)
    .fetch_one(pool(&test_db))
    .await
    .unwrap();
    assert_eq!(events, 8);
    assert!(retried.load(Ordering::SeqCst) > 0, "the race was real");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_read_committed_the_same_race_is_stale_and_not_retried() {
    let test_db = fresh_db().await;
    let (user, brand) = editor_and_brand(pool(&test_db)).await;
    let item = insert_content(pool(&test_db), brand.as_uuid(), "contended", user.as_uuid()).await;
    // A connection per task: all eight hold a scope at the barrier at once.
    let db = Database::from_pool(
        PgPoolOptions::new()
            .max_connections(8)
            .connect_with(test_db.connect_options().clone())
            .await
            .unwrap(),
    );
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (db, barrier) = (db.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            db.run_in_scope(user, brand, |scope| {
                let barrier = barrier.clone();
                Box::pin(async move {
                    let current = scope.content().get(ContentId::from_uuid(item)).await?;
                    barrier.wait().await;
                    let patch = ContentPatch::builder().title(format!("by {n}")).build()?;
                    scope
                        .content()
                        .update(current.id, current.version, &patch)
                        .await
                })
            })
            .await
        }));
    }
    let (mut won, mut stale) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::Stale { .. }) => stale += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((won, stale), (1, 7));
}

/// A TCP proxy in front of PostgreSQL that, once armed, forwards a transaction's `COMMIT` to the
/// server and then cuts the connection before the server's answer reaches the client: the commit
/// happened, and the client cannot know it.
struct CommitCutter {
    port: u16,
    armed: Arc<AtomicBool>,
}

impl CommitCutter {
    async fn start(server: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let arm = armed.clone();
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let upstream = TcpStream::connect((server.0.as_str(), server.1))
                    .await
                    .unwrap();
                tokio::spawn(relay(client, upstream, arm.clone()));
            }
        });
        Self { port, armed }
    }

    fn options(&self, target: &PgConnectOptions) -> PgConnectOptions {
        // No TLS negotiation: the proxy reads the server's messages.
        target
            .clone()
            .host("127.0.0.1")
            .port(self.port)
            .ssl_mode(PgSslMode::Disable)
    }
}

async fn relay(client: TcpStream, upstream: TcpStream, armed: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let to_server = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
    });
    // Server to client, message by message (type byte, then a length that counts itself).
    loop {
        let mut header = [0u8; 5];
        if upstream_read.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes(header[1..].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len - 4];
        if upstream_read.read_exact(&mut body).await.is_err() {
            break;
        }
        if header[0] == b'C' && body == b"COMMIT\0" && armed.swap(false, Ordering::SeqCst) {
            break;
        }
        if client_write.write_all(&header).await.is_err()
            || client_write.write_all(&body).await.is_err()
        {
            break;
        }
    }
    to_server.abort();
}

#[tokio::test]
async fn an_idempotent_write_retried_after_an_unknown_commit_outcome_is_applied_once() {
    let test_db = fresh_db().await;
    let (user, brand) = editor_and_brand(pool(&test_db)).await;
    let target = test_db.connect_options();
    let cutter = CommitCutter::start((target.get_host().to_owned(), target.get_port())).await;
    let db = Database::from_pool(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(cutter.options(target))
            .await
            .unwrap(),
    );
    let key = format!("import-{}", Uuid::new_v4());
    // The host's operation: create the item once, guarded by its key.
    async fn operation(scope: &mut mixerai_data::Scope, key: &str) -> mixerai_data::Result<bool> {
        if scope.claim_once(key).await? {
            scope.content().create(&article("Imported once")).await?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    let mut scope = db.scope(user, brand).await.unwrap();
    assert!(operation(&mut scope, &key).await.unwrap());
    cutter.armed.store(true, Ordering::SeqCst);
    let err = scope.commit().await.unwrap_err();
    assert!(matches!(err, Error::CommitUnknown { .. }), "{err:?}");

    // The host retries the whole operation with the same key: the first run had committed, so the
    // second finds the key and writes nothing.
    let applied_again = db
        .run_in_scope(user, brand, |scope| {
            let key = key.clone();
            Box::pin(async move { operation(scope, &key).await })
        })
        .await
        .unwrap();
    assert!(!applied_again);
    let items: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE title = 'Imported once'")
            .fetch_one(pool(&test_db))
            .await
            .unwrap();
    assert_eq!(items, 1);

    // Keys are per brand, checked, and a system scope purges old ones.
    let mut scope = db.scope(user, brand).await.unwrap();
    let err = scope.claim_once("").await.unwrap_err();
    assert!(err.validation().is_some(), "{err:?}");
    drop(scope);
    let mut system = test_db.database().system_scope().await.unwrap();
    assert_eq!(
        system.purge_idempotency_keys(Duration::ZERO).await.unwrap(),
        1
    );
    system.commit().await.unwrap();
}
