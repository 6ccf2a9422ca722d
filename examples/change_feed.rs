//! The realtime change feed: one task appends events while another follows the feed and prints what
//! arrives; midway the listener's connection is killed, and the feed goes on without losing an event.
//!
//! ```text
//! cargo run --example change_feed                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example change_feed   # uses that database
//! ```

use std::time::{Duration, Instant};

use mixerai_data::Result;
use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::events::{ChangeFeed, ExpectedVersion, FeedFilter, FeedOptions, NewEvent};
use mixerai_data::users::NewUser;
use serde_json::json;
use uuid::Uuid;

const EVENTS: usize = 20;

#[tokio::main]
async fn main() -> Result<()> {
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;

    // A user who edits one brand.
    let mut system = db.system_scope().await?;
    let tag = Uuid::new_v4().simple().to_string();
    let grace = system
        .users()
        .create(
            &NewUser::builder()
                .email(format!("grace+{tag}@example.com"))
                .first_name("Grace")
                .last_name("Hopper")
                .build()?,
        )
        .await?;
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Compilers {}", &tag[..8]))
                .country("US")
                .language("en")
                .build()?,
            grace.id,
        )
        .await?;
    system
        .brands()
        .grant(
            brand.id,
            grace.id,
            &NewMembership::builder().role(BrandRole::Editor).build()?,
        )
        .await?;
    system.commit().await?;

    // The feed: one listener for the process; a subscription for Grace in her brand, from now on,
    // to the streams of orders only.
    let feed = ChangeFeed::start(&db, FeedOptions::new());
    let mut scope = db.scope(grace.id, brand.id).await?;
    let now = scope.events().cursor_now().await?;
    drop(scope);
    let mut subscription = feed.subscribe(
        grace.id,
        brand.id,
        now,
        FeedFilter {
            aggregate_types: vec!["order".to_owned()],
            ..FeedFilter::default()
        },
    );
    let started = Instant::now();
    let follower = tokio::spawn(async move {
        for _ in 0..EVENTS {
            let event = subscription.next().await.expect("a live subscription")?;
            println!(
                "  {:>5} ms  received {} #{} of order {} (position {}, cursor {})",
                started.elapsed().as_millis(),
                event.event_type,
                event.stream_version,
                &event.aggregate_id.to_string()[..8],
                event.position,
                event.cursor()
            );
        }
        Ok::<_, mixerai_data::Error>(subscription.position())
    });

    // The writer: two orders, an event every 50 ms, each append in a scope of its own.
    let orders = [Uuid::new_v4(), Uuid::new_v4()];
    let mut connects = 0;
    for i in 0..EVENTS {
        if feed.listener_connects() > connects {
            connects = feed.listener_connects();
            println!("  ---- the listener is connected (connection #{connects})");
        }
        let order = orders[i % 2];
        let kind = ["OrderPlaced", "OrderPaid", "OrderPacked", "OrderShipped"][(i / 2) % 4];
        let mut scope = db.scope(grace.id, brand.id).await?;
        let appended = scope
            .events()
            .append_one(
                "order",
                order,
                ExpectedVersion::Any,
                &NewEvent::builder()
                    .event_type(kind)
                    .payload(json!({ "step": i }))
                    .build()?,
            )
            .await?;
        scope.commit().await?;
        println!(
            "  {:>5} ms  appended {kind} #{} of order {}",
            started.elapsed().as_millis(),
            appended.stream_version,
            &order.to_string()[..8]
        );
        if i == EVENTS / 2 {
            // Kill the listener's connection, as a failover or an administrator would.
            let killed: Vec<i32> = sqlx::query_scalar(
                "SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND query LIKE 'LISTEN %'
                   AND pg_terminate_backend(pid)",
            )
            .fetch_all(db.pool())
            .await?;
            println!("  ---- killed the listener's connection (backend {killed:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let position = follower.await.expect("the follower")?;
    println!(
        "received all {EVENTS} events in order; the listener connected {} times; a restart would resume after {position}",
        feed.listener_connects()
    );
    Ok(())
}
