//! A content item's life: draft -> review -> approve -> schedule -> publish (by the job) -> a new draft
//! of the published item -> diff -> restore, printing each step.
//!
//! ```text
//! cargo run --example content_lifecycle                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example content_lifecycle   # uses that database
//! ```

use chrono::{Duration, Utc};
use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::content::{ChangeKind, ContentPatch, Diffed, NewContent, publish_due};
use mixerai_data::users::NewUser;
use mixerai_data::{PageRequest, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;

    // Set-up: an editor who writes, an admin who reviews, and their brand.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut system = db.system_scope().await?;
    let mut person = async |first: &str, last: &str| {
        system
            .users()
            .create(
                &NewUser::builder()
                    .email(format!("{}+{run}@example.com", first.to_lowercase()))
                    .first_name(first)
                    .last_name(last)
                    .build()?,
            )
            .await
    };
    let ada = person("Ada", "Lovelace").await?;
    let mary = person("Mary", "Somerville").await?;
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Engine Notes {}", &run[..8]))
                .country("GB")
                .language("en")
                .build()?,
            ada.id,
        )
        .await?;
    for (user, role) in [(ada.id, BrandRole::Editor), (mary.id, BrandRole::Admin)] {
        system
            .brands()
            .grant(
                brand.id,
                user,
                &NewMembership::builder().role(role).build()?,
            )
            .await?;
    }
    system.commit().await?;

    // 1. Ada writes a draft.
    let mut scope = db.scope(ada.id, brand.id).await?;
    let item = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("article")
                .title("The Analytical Engine")
                .body("It weaves algebraic patterns.\nIt has a store and a mill.")
                .tag("engines")
                .note("first draft")
                .build()?,
        )
        .await?;
    println!(
        "1. draft        v{} {:?}: {}",
        item.version, item.status, item.title
    );
    // 2. ...and submits it for review.
    let item = scope.content().submit(item.id, item.version).await?;
    println!("2. submitted    v{} {:?}", item.version, item.status);
    scope.commit().await?;

    // 3. Mary reviews and approves exactly what she read.
    let mut scope = db.scope(mary.id, brand.id).await?;
    let item = scope.content().start_review(item.id, item.version).await?;
    let item = scope.content().approve(item.id, item.version).await?;
    let approval = scope.content().approval(item.id).await?.expect("standing");
    println!(
        "3. approved     v{} {:?}: version {} with hash {}",
        item.version, item.status, approval.version, approval.content_hash
    );
    scope.commit().await?;

    // 4. Ada schedules the approved version for tomorrow morning.
    let tomorrow = Utc::now() + Duration::days(1);
    let mut scope = db.scope(ada.id, brand.id).await?;
    let item = scope
        .content()
        .schedule(item.id, item.version, tomorrow)
        .await?;
    println!(
        "4. scheduled    v{} {:?}: version {:?} at {}",
        item.version,
        item.status,
        item.scheduled_version,
        tomorrow.format("%Y-%m-%d %H:%M")
    );
    scope.commit().await?;

    // 5. The publishing job runs (here: as if it were tomorrow) and publishes the pinned version.
    let report = publish_due(&db, tomorrow + Duration::minutes(1), 100, |so_far| {
        println!(
            "   job progress: {} published so far",
            so_far.published.len()
        );
    })
    .await?;
    println!(
        "5. published by the job: {:?}",
        report
            .published
            .iter()
            .map(|p| format!("{} v{}", p.content_id, p.version))
            .collect::<Vec<_>>()
    );

    // 6. Ada edits the published item: a new draft; readers still get the live version.
    let mut scope = db.scope(ada.id, brand.id).await?;
    let head = scope.content().get(item.id).await?;
    let draft = scope
        .content()
        .update(
            item.id,
            head.version,
            &ContentPatch::builder()
                .title("The Analytical Engine, revised")
                .body("It weaves algebraic patterns.\nIt has a store, a mill and a printer.")
                .tags(["engines", "babbage"])
                .note("the printer")
                .build()?,
        )
        .await?;
    let live = scope.content().get_live(item.id).await?;
    println!(
        "6. new draft    v{} {:?}: {:?}; live is still v{}: {:?}",
        draft.version, draft.status, draft.title, live.version.version, live.version.title
    );

    // 7. What changed between the live version and the draft.
    let diff = scope
        .content()
        .diff(item.id, live.version.version, draft.latest_version)
        .await?;
    println!("7. diff v{} -> v{}:", diff.from, diff.to);
    for change in &diff.changes {
        match &change.kind {
            ChangeKind::Text { lines, .. } => {
                println!("   {}:", change.path);
                for line in lines {
                    match line {
                        Diffed::Same(l) => println!("       {l}"),
                        Diffed::Added(l) => println!("     + {l}"),
                        Diffed::Removed(l) => println!("     - {l}"),
                    }
                }
            }
            ChangeKind::List { elements } => {
                let shown: Vec<String> = elements
                    .iter()
                    .map(|e| match e {
                        Diffed::Same(v) => v.to_string(),
                        Diffed::Added(v) => format!("+{v}"),
                        Diffed::Removed(v) => format!("-{v}"),
                    })
                    .collect();
                println!("   {}: [{}]", change.path, shown.join(", "));
            }
            other => println!("   {}: {other:?}", change.path),
        }
    }

    // 8. Ada thinks better of it and restores the first version: a new version, history kept.
    let restored = scope
        .content()
        .restore_version(item.id, draft.version, 1, Some("back to the first draft"))
        .await?;
    println!(
        "8. restored v1 as v{} {:?}: {:?}",
        restored.latest_version, restored.status, restored.title
    );
    let history = scope
        .content()
        .history(item.id, &PageRequest::first(10))
        .await?;
    for v in &history.items {
        println!(
            "   history v{}: {:?} ({})",
            v.version,
            v.title,
            v.note.as_deref().unwrap_or("no note")
        );
    }
    scope.commit().await?;
    Ok(())
}
