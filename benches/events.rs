//! What the event store and the change feed cost, in one run.
//!
//! `cargo bench --bench events -- --warm-up-time 1 --measurement-time 5`
//!
//! Groups:
//! - `append_single`: `crate_append_one` (a tenant scope: BEGIN + context, `mixerai.append_events`
//!   with its checks, versioning, idempotency probe and NOTIFY, COMMIT) beside `baseline_insert`, a
//!   bare INSERT of the same row in a transaction on the owner's pool (no scope, no RLS, no version
//!   check, no notification). One event to a new stream per iteration.
//! - `append_batched_100`: the same for 100 events to one new stream in one call, beside one bare
//!   INSERT of the 100 rows. Throughput is reported in events.
//! - `feed_lag`: `commit_to_delivery_1000_per_s`: four writers append one event per transaction at
//!   1,000 events per second in all (each in a tenant scope), while a tenant subscription of the
//!   same brand follows the feed; one iteration is one event, its time the lag from just before its
//!   COMMIT to the subscription yielding it. Criterion reports the mean; p50, p99 and the maximum
//!   over every event of the measurement are printed after the group.
//!
//! The throwaway server runs with `fsync` and `synchronous_commit` off, so commits cost no WAL flush
//! here; in production every figure grows by the flush, and NOTIFY's commit lock (see the events
//! module docs) serialises the flushes of notifying transactions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mixerai_data::Database;
use mixerai_data::events::{ChangeFeed, ExpectedVersion, FeedFilter, FeedOptions, NewEvent};
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, EventId, UserId};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

const BATCH: usize = 100;
/// Events per second the feed-lag writers append, in all.
const RATE: u64 = 1000;
const WRITERS: u64 = 4;

struct Fixture {
    _db: TestDatabase,
    database: Database,
    user: UserId,
    brand: BrandId,
    user_uuid: Uuid,
    brand_uuid: Uuid,
}

async fn fixture() -> Fixture {
    let server = TestServer::global().await.expect("test server");
    let db = server.database().await.expect("test database");
    let pool = db.database().pool();
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.users (email, first_name, last_name)
         VALUES ('bench-events@example.com', 'Bench', 'Events') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let brand: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.brands (name, slug, country, language, created_by)
         VALUES ('Bench events', 'bench-events', 'GB', 'en', $1) RETURNING id",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($1, $2, 'editor')",
    )
    .bind(user)
    .bind(brand)
    .execute(pool)
    .await
    .unwrap();
    // Room for the four writers, the subscription and the bench's own connection at once.
    let database = Database::connect_with(
        db.connect_options().clone(),
        PgPoolOptions::new().max_connections(10),
    )
    .await
    .unwrap();
    Fixture {
        _db: db,
        database,
        user: UserId::from_uuid(user),
        brand: BrandId::from_uuid(brand),
        user_uuid: user,
        brand_uuid: brand,
    }
}

fn payload(n: usize) -> serde_json::Value {
    json!({ "n": n, "sku": format!("SKU-{n:06}"), "quantity": 1 + n % 5, "note": "bench event" })
}

fn new_events(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|n| {
            NewEvent::builder()
                .event_type("ItemAdded")
                .payload(payload(n))
                .build()
                .unwrap()
        })
        .collect()
}

/// The same rows as plain values, for the baseline's INSERT.
fn plain_rows(count: usize) -> (Vec<Uuid>, Vec<i32>, Vec<serde_json::Value>) {
    (
        (0..count).map(|_| Uuid::new_v4()).collect(),
        (1..=count as i32).collect(),
        (0..count).map(payload).collect(),
    )
}

const BASELINE_INSERT: &str =
    "INSERT INTO mixerai.events (id, aggregate_id, aggregate_type, event_type,
         stream_version, payload, user_id, brand_id)
     SELECT r.id, $1, 'order', 'ItemAdded', r.version, r.payload, $2, $3
     FROM UNNEST($4::uuid[], $5::int[], $6::jsonb[]) AS r(id, version, payload)";

fn events(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = rt.block_on(fixture());
    let f = &fixture;
    let pool = f.database.pool();

    for (name, count) in [("append_single", 1), ("append_batched_100", BATCH)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(count as u64));
        if count > 1 {
            group.sample_size(20).sampling_mode(SamplingMode::Flat);
        }
        group.bench_function("crate_append", |b| {
            b.to_async(&rt).iter_batched(
                // New ids every iteration: the same events again would be a replayed no-op.
                || new_events(count),
                |events| async move {
                    let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
                    let appended = scope
                        .events()
                        .append("order", Uuid::new_v4(), ExpectedVersion::Any, &events)
                        .await
                        .unwrap();
                    scope.commit().await.unwrap();
                    assert_eq!(appended.len(), count);
                    appended
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("baseline_insert", |b| {
            b.to_async(&rt).iter_batched(
                || plain_rows(count),
                |(ids, versions, payloads)| async move {
                    let mut tx = pool.begin().await.unwrap();
                    let done = sqlx::query(BASELINE_INSERT)
                        .bind(Uuid::new_v4())
                        .bind(f.user_uuid)
                        .bind(f.brand_uuid)
                        .bind(ids)
                        .bind(versions)
                        .bind(payloads)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    assert_eq!(done.rows_affected(), count as u64);
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }

    feed_lag(c, &rt, f);
}

/// The feed-lag group: writers at a steady rate in the background, a subscription measuring.
fn feed_lag(c: &mut Criterion, rt: &tokio::runtime::Runtime, f: &Fixture) {
    let sent: Arc<Mutex<HashMap<EventId, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicU64::new(0));
    let (lag_tx, lag_rx) = mpsc::unbounded_channel::<Duration>();
    let lag_rx = Arc::new(Mutex::new(lag_rx));
    let all: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::default();
    let started = Instant::now();

    let (subscriber, writers) = rt.block_on(async {
        let feed = ChangeFeed::start(&f.database, FeedOptions::new());
        let mut scope = f.database.scope(f.user, f.brand).await.unwrap();
        let now = scope.events().cursor_now().await.unwrap();
        drop(scope);
        let mut subscription = feed.subscribe(f.user, f.brand, now, FeedFilter::default());
        let subscriber = {
            let sent = Arc::clone(&sent);
            tokio::spawn(async move {
                let _feed = feed;
                while let Some(event) = subscription.next().await {
                    let event = event.unwrap();
                    let arrived = Instant::now();
                    let at = sent.lock().await.remove(&event.id);
                    if let Some(at) = at
                        && lag_tx.send(arrived.saturating_duration_since(at)).is_err()
                    {
                        return;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (db, sent, stop, appended) = (
                    f.database.clone(),
                    Arc::clone(&sent),
                    Arc::clone(&stop),
                    Arc::clone(&appended),
                );
                let (user, brand) = (f.user, f.brand);
                tokio::spawn(async move {
                    let mut tick =
                        tokio::time::interval(Duration::from_micros(1_000_000 * WRITERS / RATE));
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    let stream = Uuid::new_v4();
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        let event = NewEvent::builder()
                            .event_type("Ticked")
                            .payload(payload(n))
                            .build()
                            .unwrap();
                        n += 1;
                        let mut scope = db.scope(user, brand).await.unwrap();
                        scope
                            .events()
                            .append_one("ticker", stream, ExpectedVersion::Any, &event)
                            .await
                            .unwrap();
                        sent.lock().await.insert(event.id(), Instant::now());
                        scope.commit().await.unwrap();
                        appended.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        (subscriber, writers)
    });

    let mut group = c.benchmark_group("feed_lag");
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    group.bench_function("commit_to_delivery_1000_per_s", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (lag_rx, all) = (Arc::clone(&lag_rx), Arc::clone(&all));
            async move {
                let mut rx = lag_rx.lock().await;
                let mut total = Duration::ZERO;
                let mut taken = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let lag = rx.recv().await.expect("the subscriber runs");
                    total += lag;
                    taken.push(lag);
                }
                all.lock().unwrap().extend(taken);
                total
            }
        })
    });
    group.finish();

    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for w in writers {
            w.await.unwrap();
        }
        subscriber.abort();
    });
    let elapsed = started.elapsed();
    let mut lags = std::mem::take(&mut *all.lock().unwrap());
    lags.sort_unstable();
    if lags.is_empty() {
        return;
    }
    let pick = |q: f64| lags[((lags.len() - 1) as f64 * q).round() as usize];
    let rate = appended.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    println!(
        "feed_lag/commit_to_delivery_1000_per_s: {} events measured at {rate:.0} appends/s: \
         p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        lags.len(),
        pick(0.50),
        pick(0.99),
        lags[lags.len() - 1]
    );
}

criterion_group!(benches, events);
criterion_main!(benches);
