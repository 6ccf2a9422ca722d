//! The event store and the change feed against PostgreSQL, as the application role through scopes:
//! expected versions, concurrent appends to one stream, idempotent retries, the gap-free feed order
//! under slow and overlapping transactions, tenant filtering, one notification per transaction, a
//! subscriber that survives its connections being killed, and exactly-once projections.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use mixerai_data::content::{ContentPatch, NewContent};
use mixerai_data::events::{
    Appended, ChangeFeed, Event, EventCategory, ExpectedVersion, FeedCursor, FeedFilter,
    FeedOptions, NewEvent, Projection, Subscription,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, UserId};
use mixerai_data::{Database, Error, Scope};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::support::{admin_pool, fresh_db, insert_brand, insert_role, insert_user, pool};

/// Brands A and B; in A an admin, an editor and a viewer; in B an editor.
struct World {
    db: TestDatabase,
    a: BrandId,
    b: BrandId,
    admin_a: UserId,
    editor_a: UserId,
    viewer_a: UserId,
    editor_b: UserId,
}

async fn world() -> World {
    let db = fresh_db().await;
    let p = pool(&db);
    let admin_a = insert_user(p, "events-admin-a@example.com").await;
    let editor_a = insert_user(p, "events-editor-a@example.com").await;
    let viewer_a = insert_user(p, "events-viewer-a@example.com").await;
    let editor_b = insert_user(p, "events-editor-b@example.com").await;
    let a = insert_brand(p, "events-alpha", admin_a).await;
    let b = insert_brand(p, "events-beta", editor_b).await;
    insert_role(p, admin_a, a, "admin").await;
    insert_role(p, editor_a, a, "editor").await;
    insert_role(p, viewer_a, a, "viewer").await;
    insert_role(p, editor_b, b, "editor").await;
    World {
        db,
        a: BrandId::from_uuid(a),
        b: BrandId::from_uuid(b),
        admin_a: UserId::from_uuid(admin_a),
        editor_a: UserId::from_uuid(editor_a),
        viewer_a: UserId::from_uuid(viewer_a),
        editor_b: UserId::from_uuid(editor_b),
    }
}

impl World {
    fn database(&self) -> &Database {
        self.db.database()
    }

    async fn scope(&self, user: UserId, brand: BrandId) -> Scope {
        self.database().scope(user, brand).await.unwrap()
    }

    fn owner(&self) -> &PgPool {
        pool(&self.db)
    }

    /// A database of its own on the test database, with room for `connections` at once.
    async fn database_with(&self, connections: u32) -> Database {
        Database::connect_with(
            self.db.connect_options().clone(),
            PgPoolOptions::new().max_connections(connections),
        )
        .await
        .unwrap()
    }

    /// Appends in a scope of its own and commits what succeeded.
    async fn append(
        &self,
        user: UserId,
        brand: BrandId,
        stream: Uuid,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Vec<Appended>, Error> {
        append_in(self.database(), user, brand, stream, expected, events).await
    }

    /// After every event written so far (the set-up's audit events): events from here on are what
    /// the test writes. Not `cursor_now`, whose cursor comes before events still held back (by
    /// other tests' transactions too), which is right for a reader and imprecise for a test.
    async fn now(&self) -> FeedCursor {
        read_all(self.database(), &FeedFilter::default(), FeedCursor::START)
            .await
            .last()
            .map_or(FeedCursor::START, Event::cursor)
    }
}

async fn append_in(
    db: &Database,
    user: UserId,
    brand: BrandId,
    stream: Uuid,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Vec<Appended>, Error> {
    let mut s = db.scope(user, brand).await?;
    let appended = s.events().append("order", stream, expected, events).await?;
    s.commit().await?;
    Ok(appended)
}

fn event(event_type: &str, n: i64) -> NewEvent {
    NewEvent::builder()
        .event_type(event_type)
        .payload(json!({ "n": n }))
        .build()
        .unwrap()
}

fn orders() -> FeedFilter {
    FeedFilter {
        aggregate_types: vec!["order".to_owned()],
        ..FeedFilter::default()
    }
}

/// Every event of the feed after `after` matching `filter` that has committed, read in a system
/// scope batch by batch. Events held back wait behind transactions anywhere on the server (other
/// tests' too: transaction ids are per cluster), so it reads again until none is.
async fn read_all(db: &Database, filter: &FeedFilter, mut after: FeedCursor) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let mut s = db.system_scope().await.unwrap();
        let batch = s.events().read_feed(filter, after, 250).await.unwrap();
        s.commit().await.unwrap();
        after = batch.next;
        out.extend(batch.events);
        if batch.held_back {
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else if !batch.has_more {
            return out;
        }
    }
}

/// The next `n` events of `sub`, failing the test if they take longer than `within`.
async fn take(sub: &mut Subscription, n: usize, within: Duration) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    tokio::time::timeout(within, async {
        while out.len() < n {
            out.push(sub.next().await.expect("a live stream").expect("an event"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {n} events within {within:?}", out.len()));
    out
}

/// Asserts that `sub` yields nothing for `wait`.
async fn nothing_within(sub: &mut Subscription, wait: Duration) {
    if let Ok(got) = tokio::time::timeout(wait, sub.next()).await {
        panic!("expected nothing, got {got:?}");
    }
}

fn stale(err: &Error) -> Option<(i32, i32)> {
    match err {
        Error::Stale {
            entity: "event stream",
            expected,
            actual,
        } => Some((*expected, *actual)),
        _ => None,
    }
}

#[tokio::test]
async fn each_expected_version_mode_appends_when_the_stream_is_as_expected_and_refuses_otherwise() {
    let w = world().await;
    let (ed, a) = (w.editor_a, w.a);
    let stream = Uuid::new_v4();
    use ExpectedVersion::*;

    let err = w
        .append(ed, a, stream, StreamExists, &[event("Placed", 0)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                entity: "event stream"
            }
        ),
        "{err:?}"
    );
    let err = w
        .append(ed, a, stream, Exact(3), &[event("Placed", 0)])
        .await
        .unwrap_err();
    assert_eq!(stale(&err), Some((3, 0)), "{err:?}");

    let first = w
        .append(ed, a, stream, NoStream, &[event("Placed", 1)])
        .await
        .unwrap();
    assert_eq!(first[0].stream_version, 1);
    let err = w
        .append(ed, a, stream, NoStream, &[event("Placed", 2)])
        .await
        .unwrap_err();
    assert_eq!(stale(&err), Some((0, 1)), "{err:?}");

    let second = w
        .append(ed, a, stream, StreamExists, &[event("Paid", 2)])
        .await
        .unwrap();
    assert_eq!(second[0].stream_version, 2);
    let batch = w
        .append(
            ed,
            a,
            stream,
            Exact(2),
            &[event("Packed", 3), event("Shipped", 4)],
        )
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [3, 4]
    );
    assert!(batch[0].position < batch[1].position && batch[0].cursor < batch[1].cursor);
    let err = w
        .append(ed, a, stream, Exact(2), &[event("Shipped", 5)])
        .await
        .unwrap_err();
    assert_eq!(stale(&err), Some((2, 4)), "{err:?}");
    let any = w
        .append(ed, a, stream, Any, &[event("Delivered", 5)])
        .await
        .unwrap();
    assert_eq!(any[0].stream_version, 5);
    let err = w
        .append(ed, a, stream, Exact(-1), &[event("Lost", 6)])
        .await
        .unwrap_err();
    assert!(err.validation().unwrap().get("expected_version").is_some());
    let err = w.append(ed, a, stream, Any, &[]).await.unwrap_err();
    assert!(err.validation().unwrap().get("events").is_some());

    // The stream as its readers see it: every event once, in version order, stamped by the database.
    let mut s = w.scope(w.viewer_a, a).await;
    let read = s.events().read_stream(stream, 1, 100).await.unwrap();
    assert_eq!(
        read.iter()
            .map(|e| (e.stream_version, e.event_type.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "Placed"),
            (2, "Paid"),
            (3, "Packed"),
            (4, "Shipped"),
            (5, "Delivered")
        ]
    );
    assert!(read.iter().all(|e| e.brand_id == Some(a)
        && e.user_id == Some(ed)
        && e.aggregate_type == "order"
        && e.category == EventCategory::Audit
        && e.schema_version == 1));
    let from_four = s.events().read_stream(stream, 4, 1).await.unwrap();
    assert_eq!(from_four.len(), 1);
    assert_eq!(from_four[0].stream_version, 4);
    let got = s.events().get(first[0].id).await.unwrap();
    assert_eq!(got.payload, json!({"n": 1}));
    assert_eq!(got.cursor(), first[0].cursor);
}

#[tokio::test]
async fn audit_events_and_explicit_appends_share_one_version_sequence() {
    let w = world().await;
    let mut s = w.scope(w.editor_a, w.a).await;
    let item = s
        .content()
        .create(
            &NewContent::builder()
                .content_type("article")
                .title("Versioned")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let reviewed = NewEvent::builder()
        .event_type("Reviewed")
        .schema_version(2)
        .payload(json!({"verdict": "fine"}))
        .metadata(serde_json::Map::from_iter([(
            "via".to_owned(),
            json!("test"),
        )]))
        .correlation_id(Uuid::nil())
        .build()
        .unwrap();
    let appended = s
        .events()
        .append_one(
            "content",
            item.id.as_uuid(),
            ExpectedVersion::Exact(1),
            &reviewed,
        )
        .await
        .unwrap();
    assert_eq!(appended.stream_version, 2);
    s.content()
        .update(
            item.id,
            item.version,
            &ContentPatch::builder()
                .title("Versioned twice")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let stream = s
        .events()
        .read_stream(item.id.as_uuid(), 1, 10)
        .await
        .unwrap();
    assert_eq!(
        stream
            .iter()
            .map(|e| (e.stream_version, e.event_type.as_str(), e.schema_version))
            .collect::<Vec<_>>(),
        [(1, "INSERT", 1), (2, "Reviewed", 2), (3, "UPDATE", 1)]
    );
    assert_eq!(stream[1].correlation_id, Some(Uuid::nil()));
    assert_eq!(stream[1].metadata.0["via"], json!("test"));
    // One transaction: one transaction id on all three.
    assert!(
        stream
            .iter()
            .all(|e| e.transaction_id == stream[0].transaction_id)
    );
    // A stream keeps the aggregate type it was made with.
    let err = s
        .events()
        .append_one(
            "order",
            item.id.as_uuid(),
            ExpectedVersion::Any,
            &event("Misfiled", 0),
        )
        .await
        .unwrap_err();
    assert!(
        err.validation().unwrap().get("aggregate_type").is_some(),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_appending_with_any_get_versions_1_to_800_without_a_gap_or_an_error() {
    let w = world().await;
    let db = w.database_with(12).await;
    let stream = Uuid::new_v4();
    let from = w.now().await;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let db = db.clone();
            let user = w.editor_a;
            let brand = w.a;
            tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..100 {
                    let appended = append_in(
                        &db,
                        user,
                        brand,
                        stream,
                        ExpectedVersion::Any,
                        &[event("Counted", writer * 1000 + i)],
                    )
                    .await
                    .expect("no error for Any");
                    versions.push(appended[0].stream_version);
                }
                versions
            })
        })
        .collect();
    let mut versions: Vec<i32> = Vec::new();
    for writer in writers {
        versions.extend(writer.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=800).collect::<Vec<i32>>());
    let stored: Vec<i32> = sqlx::query_scalar(
        "SELECT stream_version FROM mixerai.events WHERE aggregate_id = $1 ORDER BY stream_version",
    )
    .bind(stream)
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(stored, (1..=800).collect::<Vec<i32>>());
    // The feed carries the stream in version order, whatever order the writers' transactions took
    // their ids in.
    let fed: Vec<i32> = read_all(&db, &orders(), from)
        .await
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(fed, (1..=800).collect::<Vec<i32>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_appending_with_exact_versions_have_exactly_one_winner_per_version() {
    let w = world().await;
    let db = w.database_with(12).await;
    let stream = Uuid::new_v4();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let db = db.clone();
            let (user, brand) = (w.editor_a, w.a);
            tokio::spawn(async move {
                // (expected version, won?) for every attempt.
                let mut attempts: Vec<(i32, bool)> = Vec::new();
                let mut known = 0;
                let mut won = 0;
                while won < 100 {
                    match append_in(
                        &db,
                        user,
                        brand,
                        stream,
                        ExpectedVersion::Exact(known),
                        &[event("Counted", writer)],
                    )
                    .await
                    {
                        Ok(appended) => {
                            assert_eq!(appended[0].stream_version, known + 1);
                            attempts.push((known, true));
                            known += 1;
                            won += 1;
                        }
                        Err(err) => {
                            let (expected, actual) =
                                stale(&err).unwrap_or_else(|| panic!("{err:?}"));
                            assert_eq!(expected, known);
                            assert!(actual > known, "{actual} > {known}");
                            attempts.push((known, false));
                            known = actual;
                        }
                    }
                }
                attempts
            })
        })
        .collect();
    let mut winners: BTreeMap<i32, usize> = BTreeMap::new();
    let mut stale_attempts = 0;
    for writer in writers {
        for (expected, won) in writer.await.unwrap() {
            if won {
                *winners.entry(expected).or_default() += 1;
            } else {
                stale_attempts += 1;
            }
        }
    }
    assert_eq!(winners.len(), 800);
    assert!(
        winners
            .iter()
            .enumerate()
            .all(|(i, (v, n))| *v == i as i32 && *n == 1)
    );
    assert!(stale_attempts > 0, "the writers never raced");
    let count: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT stream_version) FROM mixerai.events WHERE aggregate_id = $1",
    )
    .bind(stream)
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert_eq!(count, 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_append_is_a_no_op_returning_the_originals_and_a_reused_id_is_a_conflict() {
    let w = world().await;
    let (ed, a) = (w.editor_a, w.a);
    let stream = Uuid::new_v4();
    let batch = [event("Placed", 1), event("Paid", 2)];
    let original = w
        .append(ed, a, stream, ExpectedVersion::NoStream, &batch)
        .await
        .unwrap();
    assert!(original.iter().all(|e| !e.replayed));
    // The same events again, even with an expectation that no longer holds: the originals.
    for expected in [ExpectedVersion::NoStream, ExpectedVersion::Any] {
        let retried = w.append(ed, a, stream, expected, &batch).await.unwrap();
        assert!(retried.iter().all(|e| e.replayed));
        let strip = |v: &[Appended]| {
            v.iter()
                .map(|e| (e.id, e.position, e.stream_version, e.cursor))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&retried), strip(&original));
    }
    let next = w
        .append(
            ed,
            a,
            stream,
            ExpectedVersion::Exact(2),
            &[event("Packed", 3)],
        )
        .await
        .unwrap();
    assert_eq!(next[0].stream_version, 3, "a retry took no version");

    // An id used for anything else: another payload, another stream, part of a new batch.
    let changed = NewEvent::builder()
        .id(batch[0].id())
        .event_type("Placed")
        .payload(json!({"n": 99}))
        .build()
        .unwrap();
    let partial = [batch[1].clone(), event("Fresh", 4)];
    for (target, events) in [
        (stream, vec![changed]),
        (Uuid::new_v4(), batch.to_vec()),
        (stream, partial.to_vec()),
    ] {
        let err = w
            .append(ed, a, target, ExpectedVersion::Any, &events)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Conflict { constraint, field: Some(f), .. }
                if constraint == "events_pkey" && f == "id"),
            "{err:?}"
        );
    }

    // Retries racing the original on a new stream: one writes, the others get what it wrote.
    let racing = Uuid::new_v4();
    let batch = Arc::new([event("Placed", 1), event("Paid", 2)]);
    let db = w.database_with(8).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (db, batch) = (db.clone(), Arc::clone(&batch));
            tokio::spawn(async move {
                append_in(&db, ed, a, racing, ExpectedVersion::NoStream, &batch[..]).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| !o[0].replayed).count(), 1);
    assert!(
        outcomes
            .windows(2)
            .all(|p| p[0][1].position == p[1][1].position)
    );
    let versions: Vec<i32> =
        sqlx::query_scalar("SELECT version FROM mixerai.event_streams WHERE aggregate_id = $1")
            .bind(racing)
            .fetch_all(w.owner())
            .await
            .unwrap();
    assert_eq!(versions, [2]);
}

#[tokio::test]
async fn appends_go_into_the_scopes_brand_only_by_a_writer_and_reads_stay_in_the_brand() {
    let w = world().await;
    let stream_b = Uuid::new_v4();
    let in_b = w
        .append(
            w.editor_b,
            w.b,
            stream_b,
            ExpectedVersion::NoStream,
            &[event("Placed", 1)],
        )
        .await
        .unwrap();
    // A viewer may not append; nobody appends into another brand's stream, or as a system scope.
    let err = w
        .append(
            w.viewer_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("Placed", 1)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = w
        .append(
            w.admin_a,
            w.a,
            stream_b,
            ExpectedVersion::Any,
            &[event("Hijacked", 1)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidReference { field: Some(f), .. } if f == "aggregate_id"),
        "{err:?}"
    );
    let mut system = w.database().system_scope().await.unwrap();
    let err = system
        .events()
        .append(
            "order",
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("X", 0)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(system);
    let security: serde_json::Value = json!({
        "event_type": "Escalated", "payload": {}, "category": "security"
    });
    assert!(
        serde_json::from_value::<mixerai_data::events::NewEventBuilder>(security)
            .unwrap()
            .build()
            .is_err()
    );
    // Brand A reads nothing of B's.
    let mut s = w.scope(w.admin_a, w.a).await;
    let err = s.events().get(in_b[0].id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { entity: "event" }),
        "{err:?}"
    );
    assert!(
        s.events()
            .read_stream(stream_b, 1, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_slow_transaction_holding_an_earlier_position_is_delivered_before_a_later_commit() {
    let w = world().await;
    let from = w.now().await;
    let feed = ChangeFeed::start(w.database(), FeedOptions::new());
    let mut sub = feed.subscribe(w.viewer_a, w.a, from, orders());

    // The slow transaction takes the earlier position and stays open; a later one commits.
    let mut slow = w.scope(w.editor_a, w.a).await;
    let early = slow
        .events()
        .append_one(
            "order",
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &event("Early", 1),
        )
        .await
        .unwrap();
    let late = w
        .append(
            w.editor_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("Late", 2)],
        )
        .await
        .unwrap();
    assert!(early.position < late[0].position);

    // Neither is delivered while the slow one is open: the later one waits behind it, held back.
    let mut reader = w.database().system_scope().await.unwrap();
    let batch = reader
        .events()
        .read_feed(&orders(), from, 100)
        .await
        .unwrap();
    reader.commit().await.unwrap();
    assert!(batch.events.is_empty() && batch.held_back, "{batch:?}");
    nothing_within(&mut sub, Duration::from_millis(300)).await;

    slow.commit().await.unwrap();
    let got = take(&mut sub, 2, Duration::from_secs(30)).await;
    assert_eq!(
        got.iter().map(|e| e.id).collect::<Vec<_>>(),
        [early.id, late[0].id]
    );
    let read: Vec<_> = read_all(w.database(), &orders(), from)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(read, [early.id, late[0].id]);
    nothing_within(&mut sub, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn an_event_held_back_by_a_transaction_that_writes_no_event_comes_soon_after_it_ends() {
    let w = world().await;
    let from = w.now().await;
    // No poll would come within the test: delivery must come from the held-back recheck.
    let feed = ChangeFeed::start(
        w.database(),
        FeedOptions::new().poll_interval(Duration::from_secs(60)),
    );
    let mut sub = feed.subscribe_all(from, orders());
    let mut blocker = w.database().system_scope().await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(blocker.connection())
        .await
        .unwrap();
    let appended = w
        .append(
            w.editor_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("Waiting", 1)],
        )
        .await
        .unwrap();
    nothing_within(&mut sub, Duration::from_millis(300)).await;
    // Ends without writing an event, so without a notification.
    blocker.rollback().await.unwrap();
    let got = take(&mut sub, 1, Duration::from_secs(30)).await;
    assert_eq!(got[0].id, appended[0].id);
}

#[tokio::test]
async fn a_stream_stays_in_version_order_when_an_older_transaction_appends_after_a_newer_one() {
    let w = world().await;
    let from = w.now().await;
    let stream = Uuid::new_v4();
    // The older transaction takes its id first (appending elsewhere)...
    let mut older = w.scope(w.editor_a, w.a).await;
    older
        .events()
        .append_one(
            "order",
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &event("Elsewhere", 0),
        )
        .await
        .unwrap();
    // ...a newer one appends version 1 and commits...
    let first = w
        .append(
            w.editor_a,
            w.a,
            stream,
            ExpectedVersion::NoStream,
            &[event("First", 1)],
        )
        .await
        .unwrap();
    // ...and the older one appends version 2.
    let second = older
        .events()
        .append_one(
            "order",
            stream,
            ExpectedVersion::Exact(1),
            &event("Second", 2),
        )
        .await
        .unwrap();
    older.commit().await.unwrap();
    let events = read_all(w.database(), &orders(), from).await;
    let in_stream: Vec<&Event> = events.iter().filter(|e| e.aggregate_id == stream).collect();
    assert_eq!(
        in_stream
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    // By transaction id alone version 2 would have come first.
    assert!(in_stream[1].transaction_id < in_stream[0].transaction_id);
    assert_eq!(in_stream[0].id, first[0].id);
    assert_eq!(in_stream[1].id, second.id);
    assert!(first[0].cursor < second.cursor);
}

#[tokio::test]
async fn the_feed_of_a_tenant_never_carries_another_brands_events_and_security_events_only_for_admins()
 {
    let w = world().await;
    let from = w.now().await;
    let feed = ChangeFeed::start(w.database(), FeedOptions::new());
    let mut viewer_a = feed.subscribe(w.viewer_a, w.a, from, FeedFilter::default());
    let mut admin_a = feed.subscribe(w.admin_a, w.a, from, FeedFilter::default());
    let mut editor_b = feed.subscribe(w.editor_b, w.b, from, FeedFilter::default());
    // Even asking for brand A by filter, B's user gets nothing of A.
    let mut nosy_b = feed.subscribe(
        w.editor_b,
        w.b,
        from,
        FeedFilter {
            brand_id: Some(w.a),
            ..FeedFilter::default()
        },
    );

    for i in 0..5 {
        w.append(
            w.editor_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("InA", i)],
        )
        .await
        .unwrap();
    }
    for i in 0..3 {
        w.append(
            w.editor_b,
            w.b,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("InB", i)],
        )
        .await
        .unwrap();
    }
    // A role granted in A: a security event of A.
    let newcomer = insert_user(w.owner(), "events-newcomer@example.com").await;
    insert_role(w.owner(), newcomer, w.a.as_uuid(), "viewer").await;

    let seen_by_viewer = take(&mut viewer_a, 5, Duration::from_secs(30)).await;
    let seen_by_admin = take(&mut admin_a, 6, Duration::from_secs(30)).await;
    let seen_in_b = take(&mut editor_b, 3, Duration::from_secs(30)).await;
    for (sub, wait) in [
        (&mut viewer_a, 300),
        (&mut admin_a, 50),
        (&mut editor_b, 50),
        (&mut nosy_b, 50),
    ] {
        nothing_within(sub, Duration::from_millis(wait)).await;
    }
    assert!(seen_by_viewer.iter().all(|e| e.event_type == "InA"));
    assert!(seen_by_admin.iter().all(|e| e.brand_id == Some(w.a)
        && (e.event_type == "InA" || e.category == EventCategory::Security)));
    assert_eq!(
        seen_by_admin
            .iter()
            .filter(|e| e.category == EventCategory::Security)
            .count(),
        1
    );
    assert!(
        seen_in_b
            .iter()
            .all(|e| e.event_type == "InB" && e.brand_id == Some(w.b))
    );

    // A user who loses their role is told so, and the stream ends.
    sqlx::query("DELETE FROM mixerai.user_brand_roles WHERE user_id = $1")
        .bind(w.viewer_a.as_uuid())
        .execute(w.owner())
        .await
        .unwrap();
    w.append(
        w.editor_a,
        w.a,
        Uuid::new_v4(),
        ExpectedVersion::Any,
        &[event("InA", 9)],
    )
    .await
    .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), viewer_a.next())
        .await
        .unwrap();
    assert!(
        matches!(ended, Some(Err(Error::Forbidden { .. }))),
        "{ended:?}"
    );
    assert!(viewer_a.next().await.is_none());
}

#[tokio::test]
async fn a_transaction_writing_many_events_sends_one_notification_unless_they_are_off() {
    let w = world().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(w.owner())
        .await
        .unwrap();
    listener
        .listen(mixerai_data::events::CHANNEL)
        .await
        .unwrap();
    for _ in 0..2 {
        let mut s = w.scope(w.editor_a, w.a).await;
        for i in 0..3 {
            s.events()
                .append(
                    "order",
                    Uuid::new_v4(),
                    ExpectedVersion::Any,
                    &[event("One", i), event("Two", i)],
                )
                .await
                .unwrap();
        }
        let items: Vec<NewContent> = (0..20)
            .map(|i| {
                NewContent::builder()
                    .content_type("article")
                    .title(format!("Audited {i} {}", Uuid::new_v4()))
                    .build()
                    .unwrap()
            })
            .collect();
        s.content().create_many(&items).await.unwrap();
        s.commit().await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(30), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        assert_eq!(first.payload(), "");
        let more = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
        assert!(more.is_err(), "a second notification: {more:?}");
    }

    // With notifications off, nothing is sent, and a subscription still finds the event by polling.
    let from = w.now().await;
    let feed = ChangeFeed::start(
        w.database(),
        FeedOptions::new().poll_interval(Duration::from_millis(100)),
    );
    let mut sub = feed.subscribe(w.viewer_a, w.a, from, orders());
    let mut s = w.scope(w.editor_a, w.a).await;
    sqlx::query("SELECT set_config('mixerai.feed_notify', 'off', true)")
        .execute(s.connection())
        .await
        .unwrap();
    let quiet = s
        .events()
        .append_one(
            "order",
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &event("Quiet", 0),
        )
        .await
        .unwrap();
    s.commit().await.unwrap();
    let none = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(
        none.is_err(),
        "a notification with notifications off: {none:?}"
    );
    assert_eq!(
        take(&mut sub, 1, Duration::from_secs(30)).await[0].id,
        quiet.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_whose_connections_are_killed_resumes_and_a_projection_applies_every_event_once()
 {
    let w = world().await;
    sqlx::raw_sql(
        "CREATE TABLE public.projected (event_id uuid PRIMARY KEY, stream uuid NOT NULL, version int NOT NULL)",
    )
    .execute(w.owner())
    .await
    .unwrap();
    let from = w.now().await;
    // The subscriber's own connections (listener, reads, projection writes), named so they can be
    // found and killed.
    let subscriber = Database::connect_with(
        w.db.connect_options()
            .clone()
            .application_name("events-subscriber"),
        PgPoolOptions::new().max_connections(4),
    )
    .await
    .unwrap();
    let feed = ChangeFeed::start(
        &subscriber,
        FeedOptions::new()
            .batch_size(20)
            .backoff(Duration::from_millis(20), Duration::from_millis(200)),
    );
    let projection = Projection::new("events-test-projection").unwrap();
    let running = {
        let (feed, projection) = (feed.clone(), projection.clone());
        tokio::spawn(async move {
            projection
                .run(&feed, orders(), |scope, event| {
                    let (id, stream, version) =
                        (event.id.as_uuid(), event.aggregate_id, event.stream_version);
                    Box::pin(async move {
                        sqlx::query("INSERT INTO public.projected VALUES ($1, $2, $3)")
                            .bind(id)
                            .bind(stream)
                            .bind(version)
                            .execute(scope.connection())
                            .await?;
                        Ok(())
                    })
                })
                .await
        })
    };
    let projected = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM public.projected")
            .fetch_one(w.owner())
            .await
            .unwrap()
    };

    // Four writers, 300 events over a few streams, while the subscriber's backends are killed twice.
    let db = w.database_with(8).await;
    let written = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (db, written) = (db.clone(), Arc::clone(&written));
            let (user, brand) = (w.editor_a, w.a);
            tokio::spawn(async move {
                let stream = Uuid::new_v4();
                for i in 0..75 {
                    let appended = append_in(
                        &db,
                        user,
                        brand,
                        stream,
                        ExpectedVersion::Any,
                        &[event("Tick", writer * 100 + i)],
                    )
                    .await
                    .unwrap();
                    written.lock().await.push(appended[0].id);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    let admin = admin_pool(&w.db);
    let kill = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'events-subscriber'",
        )
        .fetch_one(&admin)
        .await
        .unwrap()
    };
    let mut kills = 0;
    for threshold in [40, 150] {
        tokio::time::timeout(Duration::from_secs(60), async {
            while projected().await < threshold {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the projection progresses");
        kills += kill().await;
    }
    assert!(kills >= 2, "killed {kills} backends");
    for writer in writers {
        writer.await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while projected().await < 300 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every event projected");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !running.is_finished(),
        "the projection stopped: {:?}",
        running.await
    );
    running.abort();

    // Exactly once: every event written, no other row (the primary key refuses a second apply).
    let rows: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM public.projected")
        .fetch_all(w.owner())
        .await
        .unwrap();
    let written: HashSet<Uuid> = written.lock().await.iter().map(|id| id.as_uuid()).collect();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows.into_iter().collect::<HashSet<_>>(), written);
    // Each stream in version order, and the checkpoint at the last event.
    let disordered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT version - lag(version) OVER (PARTITION BY stream ORDER BY version) AS step
                               FROM public.projected) s WHERE step <> 1",
    )
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert_eq!(disordered, 0);
    let last = read_all(w.database(), &orders(), from).await.pop().unwrap();
    assert_eq!(
        projection.checkpoint(w.database()).await.unwrap(),
        last.cursor()
    );
    assert!(feed.listener_connects() >= 2, "the listener reconnected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projection_applies_each_event_once_when_applied_again_or_by_two_runners_at_once() {
    let w = world().await;
    sqlx::raw_sql("CREATE TABLE public.applied (event_id uuid PRIMARY KEY)")
        .execute(w.owner())
        .await
        .unwrap();
    let from = w.now().await;
    for i in 0..30 {
        w.append(
            w.editor_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("Once", i)],
        )
        .await
        .unwrap();
    }
    let events = Arc::new(read_all(w.database(), &orders(), from).await);
    assert_eq!(events.len(), 30);
    let projection = Projection::new("once").unwrap();
    assert_eq!(
        projection.checkpoint(w.database()).await.unwrap(),
        FeedCursor::START
    );
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let (db, events, projection) = (
                w.database().clone(),
                Arc::clone(&events),
                projection.clone(),
            );
            tokio::spawn(async move {
                projection
                    .apply(&db, &events, |scope, event| {
                        let id = event.id.as_uuid();
                        Box::pin(async move {
                            sqlx::query("INSERT INTO public.applied VALUES ($1)")
                                .bind(id)
                                .execute(scope.connection())
                                .await?;
                            Ok(())
                        })
                    })
                    .await
            })
        })
        .collect();
    let mut applied = Vec::new();
    for r in runners {
        applied.push(r.await.unwrap().unwrap());
    }
    applied.sort_unstable();
    assert_eq!(applied, [0, 30]);
    // A handler that fails rolls back its writes and the checkpoint.
    let more = w
        .append(
            w.editor_a,
            w.a,
            Uuid::new_v4(),
            ExpectedVersion::Any,
            &[event("Once", 31)],
        )
        .await
        .unwrap();
    let tail = read_all(w.database(), &orders(), events.last().unwrap().cursor()).await;
    assert_eq!(tail[0].id, more[0].id);
    let err = projection
        .apply(w.database(), &tail, |scope, event| {
            let id = event.id.as_uuid();
            Box::pin(async move {
                sqlx::query("INSERT INTO public.applied VALUES ($1)")
                    .bind(id)
                    .execute(scope.connection())
                    .await?;
                Err(Error::NotFound {
                    entity: "the handler refuses",
                })
            })
        })
        .await;
    assert!(err.is_err());
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM public.applied")
        .fetch_one(w.owner())
        .await
        .unwrap();
    assert_eq!(count, 30);
    assert_eq!(
        projection.checkpoint(w.database()).await.unwrap(),
        events.last().unwrap().cursor()
    );
    let row = sqlx::query(
        "SELECT feed_xid, position FROM mixerai.projection_checkpoints WHERE name = 'once'",
    )
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert_eq!(
        row.get::<i64, _>("position"),
        events.last().unwrap().position
    );
}

/// The statement of `EventRepo::read_feed` as a tenant scope runs it with no filter (a copy: the
/// repository builds it with `QueryBuilder`), and as a system scope runs it for one brand.
const TENANT_FEED: &str = "SELECT h.horizon, h.held_back, h.allowed, e.* FROM (SELECT x.horizon, EXISTS (
        SELECT 1 FROM mixerai.events p WHERE p.feed_xid >= x.horizon AND (p.feed_xid, p.position) > ($1, $2)
    ) AS held_back, (SELECT mixerai.app_can_read()) AS allowed
    FROM (SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint AS horizon) x) h
    LEFT JOIN LATERAL (SELECT id, position, feed_xid, aggregate_id, event_type, payload FROM mixerai.events
        WHERE feed_xid < h.horizon AND (feed_xid, position) > ($3, $4)
        ORDER BY feed_xid, position LIMIT $5) e ON true ORDER BY e.feed_xid, e.position";
const SYSTEM_FEED: &str = "SELECT h.horizon, h.held_back, h.allowed, e.* FROM (SELECT x.horizon, EXISTS (
        SELECT 1 FROM mixerai.events p WHERE p.feed_xid >= x.horizon AND (p.feed_xid, p.position) > ($1, $2)
        AND p.brand_id = $6
    ) AS held_back, true AS allowed
    FROM (SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text::bigint AS horizon) x) h
    LEFT JOIN LATERAL (SELECT id, position, feed_xid, aggregate_id, event_type, payload FROM mixerai.events
        WHERE feed_xid < h.horizon AND (feed_xid, position) > ($3, $4) AND brand_id = $6
        ORDER BY feed_xid, position LIMIT $5) e ON true ORDER BY e.feed_xid, e.position";
const STREAM: &str = "SELECT id, stream_version FROM mixerai.events
    WHERE aggregate_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3";

/// The index scans on `events` in `plan`, as (index name, index condition); panics on a sequential
/// scan of it.
fn events_index_scans(plan: &serde_json::Value, what: &str) -> Vec<(String, String)> {
    let nodes = crate::support::plan_nodes(&plan[0]["Plan"]);
    let text =
        |n: &serde_json::Value, k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    assert!(
        !nodes
            .iter()
            .any(|n| text(n, "Node Type") == "Seq Scan" && text(n, "Relation Name") == "events"),
        "{what}: Seq Scan on events in\n{plan:#}"
    );
    nodes
        .iter()
        .filter(|n| {
            text(n, "Node Type").contains("Index")
                && (text(n, "Index Name").starts_with("events_")
                    || text(n, "Index Name").starts_with("idx_events"))
        })
        .map(|n| (text(n, "Index Name"), text(n, "Index Cond")))
        .collect()
}

/// The indexes a feed read's plan uses: for the read itself (below the horizon) and for the probe
/// of held-back events (at or above it); both must be index scans.
fn feed_indexes(plan: &serde_json::Value, what: &str) -> (String, String) {
    let scans = events_index_scans(plan, what);
    let find = |op: &str| {
        scans
            .iter()
            .find(|(_, cond)| cond.contains(&format!("feed_xid {op} ")))
            .map(|(index, _)| index.clone())
            .unwrap_or_else(|| panic!("{what}: no index scan with feed_xid {op} in\n{plan:#}"))
    };
    (find("<"), find(">="))
}

#[tokio::test]
async fn feed_and_stream_reads_use_their_indexes_under_row_level_security() {
    let w = world().await;
    // 20,000 events over 100 brands, one of them A, in 1,000 streams of 20, written by as many
    // transactions (feed_xid), all ended.
    sqlx::query(
        "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, feed_xid,
                                     payload, brand_id)
         SELECT s.id, 'order', 'Seeded', v,
                greatest(3, pg_current_xact_id()::text::bigint - 20000 + s.n * 20 + v), '{}',
                CASE WHEN s.n % 100 = 0 THEN $1 ELSE s.brand END
         FROM (SELECT n, gen_random_uuid() AS id, (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 99)) AS brands
               FROM generate_series(0, 999) n) s0
         CROSS JOIN LATERAL (SELECT s0.n, s0.id, s0.brands[1 + s0.n % 99] AS brand) s,
              generate_series(1, 20) v",
    )
    .bind(w.a.as_uuid())
    .execute(w.owner())
    .await
    .unwrap();
    sqlx::query("ANALYZE mixerai.events")
        .execute(w.owner())
        .await
        .unwrap();
    let stream: Uuid = sqlx::query_scalar(
        "SELECT aggregate_id FROM mixerai.events WHERE brand_id = $1 AND event_type = 'Seeded' LIMIT 1",
    )
    .bind(w.a.as_uuid())
    .fetch_one(w.owner())
    .await
    .unwrap();

    let (seed_xid, mid): (i64, i64) = sqlx::query_as(
        "SELECT feed_xid, position FROM mixerai.events
         WHERE event_type = 'Seeded' AND brand_id = $1 ORDER BY feed_xid, position OFFSET 100 LIMIT 1",
    )
    .bind(w.a.as_uuid())
    .fetch_one(w.owner())
    .await
    .unwrap();

    let mut s = w.scope(w.viewer_a, w.a).await;
    for (after, what) in [
        (FeedCursor::START, "from the start"),
        (FeedCursor::new(seed_xid, mid), "midway"),
    ] {
        let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (FORMAT JSON) {TENANT_FEED}"
        )))
        .bind(after.feed_xid())
        .bind(after.position())
        .bind(after.feed_xid())
        .bind(after.position())
        .bind(100i64)
        .fetch_one(s.connection())
        .await
        .unwrap();
        let (read, probe) = feed_indexes(&plan, &format!("tenant feed {what}"));
        assert_eq!(read, "idx_events_brand_feed", "{what}");
        // The probe of held-back events seeks at the horizon, above which little ever is: either
        // feed index serves it.
        assert!(
            probe.starts_with("idx_events_") && probe.ends_with("feed"),
            "{what}: {probe}"
        );
    }
    // The generic plan too: what a prepared statement settles on after five executions.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PREPARE feed_probe(bigint, bigint, bigint, bigint, bigint) AS {TENANT_FEED};
         SET LOCAL plan_cache_mode = force_generic_plan"
    )))
    .execute(s.connection())
    .await
    .unwrap();
    let plan: serde_json::Value = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) EXECUTE feed_probe({seed_xid}, {mid}, {seed_xid}, {mid}, 100)"
    )))
    .fetch_one(s.connection())
    .await
    .map(|row| row.get(0))
    .unwrap();
    let (read, _) = feed_indexes(&plan, "tenant feed, generic plan");
    assert_eq!(read, "idx_events_brand_feed");
    sqlx::raw_sql("DEALLOCATE feed_probe; RESET plan_cache_mode")
        .execute(s.connection())
        .await
        .unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) {STREAM}"
    )))
    .bind(stream)
    .bind(5)
    .bind(100i64)
    .fetch_one(s.connection())
    .await
    .unwrap();
    // The stream's own key finds its events (the planner may AND it with the brand's index).
    let scans = events_index_scans(&plan, "stream");
    assert!(
        scans.iter().any(|(i, _)| i == "events_stream_version_key"),
        "{scans:?}"
    );
    // And the repository's own read returns what the policies allow: the brand's events, in order.
    let batch = s
        .events()
        .read_feed(&FeedFilter::default(), FeedCursor::START, 100)
        .await
        .unwrap();
    assert_eq!(batch.events.len(), 100);
    assert!(batch.has_more && batch.events.iter().all(|e| e.brand_id == Some(w.a)));
    assert!(
        batch
            .events
            .windows(2)
            .all(|p| p[0].cursor() < p[1].cursor())
    );
    assert_eq!(
        s.events().read_stream(stream, 5, 100).await.unwrap().len(),
        16
    );
    s.rollback().await.unwrap();

    let mut system = w.database().system_scope().await.unwrap();
    let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (FORMAT JSON) {SYSTEM_FEED}"
    )))
    .bind(0i64)
    .bind(0i64)
    .bind(0i64)
    .bind(0i64)
    .bind(100i64)
    .bind(w.a.as_uuid())
    .fetch_one(system.connection())
    .await
    .unwrap();
    let (read, probe) = feed_indexes(&plan, "system feed of one brand");
    assert_eq!(read, "idx_events_brand_feed");
    assert!(
        probe.starts_with("idx_events_") && probe.ends_with("feed"),
        "{probe}"
    );
    let all = SYSTEM_FEED
        .replace(" AND p.brand_id = $6", "")
        .replace(" AND brand_id = $6", "");
    let plan: serde_json::Value =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {all}")))
            .bind(0i64)
            .bind(0i64)
            .bind(0i64)
            .bind(0i64)
            .bind(100i64)
            .fetch_one(system.connection())
            .await
            .unwrap();
    assert_eq!(
        feed_indexes(&plan, "system feed of every brand"),
        ("idx_events_feed".to_owned(), "idx_events_feed".to_owned())
    );
}
