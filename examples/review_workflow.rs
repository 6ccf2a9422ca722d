//! A review workflow that runs: a brand with a two-step workflow (legal, then brand), an item
//! submitted, the legal reviewer approves, the brand reviewer asks for changes, the editor edits (which
//! voids the decisions: re-approval after an edit), both approve again, the item is approved at the
//! version they read and published. Prints each step.
//!
//! ```text
//! cargo run --example review_workflow                    # starts a throwaway PostgreSQL of its own
//! DATABASE_URL=postgres://... cargo run --example review_workflow   # uses that database
//! ```

use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::content::{ContentPatch, NewContent};
use mixerai_data::reviews::NewDecision;
use mixerai_data::users::NewUser;
use mixerai_data::workflows::{AssignmentType, NewWorkflow, StepType, WorkflowStep};
use mixerai_data::{PageRequest, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let (db, throwaway) = mixerai_data::test_support::database_from_env_or_throwaway().await?;
    if let Some(t) = &throwaway {
        println!("started a throwaway PostgreSQL, database {}", t.name());
    }
    db.migrate().await?;

    // Set-up: an admin who defines the workflow, an editor who writes, two reviewers (viewers: the
    // workflow, not their role, lets them decide).
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut system = db.system_scope().await?;
    let mut person = async |first: &str| {
        system
            .users()
            .create(
                &NewUser::builder()
                    .email(format!("{}+{run}@example.com", first.to_lowercase()))
                    .first_name(first)
                    .last_name("Example")
                    .build()?,
            )
            .await
    };
    let admin = person("Grace").await?;
    let editor = person("Ada").await?;
    let legal = person("Lena").await?;
    let brand_reviewer = person("Bea").await?;
    let brand = system
        .brands()
        .create(
            &NewBrand::builder()
                .name(format!("Oat Drinks {}", &run[..8]))
                .country("GB")
                .language("en")
                .build()?,
            admin.id,
        )
        .await?;
    for (user, role) in [
        (admin.id, BrandRole::Admin),
        (editor.id, BrandRole::Editor),
        (legal.id, BrandRole::Viewer),
        (brand_reviewer.id, BrandRole::Viewer),
    ] {
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

    // 1. The admin defines the brand's default workflow for articles: legal, then brand.
    let step = |name: &str, order: i32, who: &mixerai_data::users::User| WorkflowStep {
        assignment_type: AssignmentType::User,
        assignees: vec![who.id.to_string()],
        ..WorkflowStep::new(name, StepType::Approval, order)
    };
    let mut scope = db.scope(admin.id, brand.id).await?;
    let workflow = scope
        .workflows()
        .create(
            &NewWorkflow::builder()
                .name("Legal, then brand")
                .step(step("Legal", 1, &legal))
                .step(step("Brand", 2, &brand_reviewer))
                .content_type("article")
                .is_default(true)
                .build()?,
        )
        .await?;
    scope.commit().await?;
    println!(
        "1. workflow     {:?} v{}: {} steps",
        workflow.name,
        workflow.version,
        workflow.steps.len()
    );

    // 2. The editor writes an article and submits it: the default workflow starts.
    let mut scope = db.scope(editor.id, brand.id).await?;
    let item = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("article")
                .title("Oat milk, now creamier")
                .body("Our best oat drink yet.")
                .build()?,
        )
        .await?;
    let review = scope.reviews().submit(item.id, item.version).await?;
    let item = scope.content().get(item.id).await?;
    scope.commit().await?;
    println!(
        "2. submitted    item {:?}, run {:?} reviewing version {}",
        item.status, review.status, review.content_version
    );

    // What a reviewer has to decide, and deciding it.
    let decide = async |who: &mixerai_data::users::User, decision: NewDecision| -> Result<()> {
        let mut scope = db.scope(who.id, brand.id).await?;
        let pending = scope.reviews().my_pending(&PageRequest::first(10)).await?;
        let p = pending.items.first().expect("a pending decision");
        let run = scope
            .reviews()
            .decide(p.step_id, p.content_version, &decision)
            .await?;
        scope.commit().await?;
        println!(
            "   {} {:?} step {:?} of {:?} (version {}): run {:?}",
            who.first_name,
            decision.verdict(),
            p.step_name,
            p.title,
            p.content_version,
            run.status
        );
        Ok(())
    };

    // 3. Legal approves; the brand step opens.
    println!("3. legal review");
    decide(&legal, NewDecision::approve()).await?;
    // 4. The brand reviewer asks for changes: the run waits for an edit.
    println!("4. brand review");
    decide(
        &brand_reviewer,
        NewDecision::request_changes("Say which markets it is sold in")?,
    )
    .await?;

    // 5. The editor edits: the decisions taken are voided and the run starts over at the new version.
    let mut scope = db.scope(editor.id, brand.id).await?;
    let head = scope.content().get(item.id).await?;
    let edited = scope
        .content()
        .update(
            item.id,
            head.version,
            &ContentPatch::builder()
                .body("Our best oat drink yet. Sold in the UK and Ireland.")
                .build()?,
        )
        .await?;
    let open = scope.reviews().open_for(item.id).await?.expect("open run");
    let detail = scope.reviews().detail(open.id).await?;
    scope.commit().await?;
    println!(
        "5. edited       version {}: run {:?} round {}, {} decisions voided",
        edited.latest_version,
        open.status,
        open.round,
        detail
            .decisions
            .iter()
            .filter(|d| d.voided_at.is_some())
            .count()
    );

    // 6. Both approve again, at the new version: the last approval approves the item.
    println!("6. re-approval");
    decide(&legal, NewDecision::approve()).await?;
    decide(&brand_reviewer, NewDecision::approve()).await?;

    // 7. The editor publishes the approved version.
    let mut scope = db.scope(editor.id, brand.id).await?;
    let item = scope.content().get(item.id).await?;
    let approval = scope.content().approval(item.id).await?.expect("standing");
    println!(
        "7. approved     item {:?} at version {} (hash {})",
        item.status, approval.version, approval.content_hash
    );
    let item = scope.content().publish(item.id, item.version).await?;
    let detail = scope.reviews().detail(open.id).await?;
    scope.commit().await?;
    println!(
        "8. published    item {:?}, live version {:?}",
        item.status, item.live_version
    );
    println!("   timeline of the run:");
    for t in &detail.timeline {
        println!("     {:>3} {:?}", t.seq, t.kind);
    }
    Ok(())
}
