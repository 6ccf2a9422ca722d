//! Integration tests of the `ai` module's repository, run as `mixerai_app` through scopes.

use std::time::Duration;

use chrono::NaiveDate;
use mixerai_data::ai::{
    AiGeneration, AiGenerationFilter, AiGenerationStatus, AiGenerationType, Completion, Cost,
    NewAiGeneration,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{AiGenerationId, BrandId, ContentId, TemplateId, UserId};
use mixerai_data::{Error, PageRequest, Scope};
use serde_json::json;
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_content, insert_role, insert_user, pool};

/// Brand A with an admin, an editor and a viewer, one content item and one template; brand B with an
/// editor, one content item and one template.
struct World {
    db: TestDatabase,
    a: BrandId,
    b: BrandId,
    editor: UserId,
    viewer: UserId,
    admin: UserId,
    editor_b: UserId,
    content_a: ContentId,
    content_b: ContentId,
    template_a: TemplateId,
    template_b: TemplateId,
}

async fn insert_template(db: &TestDatabase, brand: Uuid, user: Uuid) -> TemplateId {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('T', ARRAY[$1], $2) RETURNING id",
    )
    .bind(brand)
    .bind(user)
    .fetch_one(pool(db))
    .await
    .unwrap();
    TemplateId::from_uuid(id)
}

impl World {
    async fn new() -> Self {
        let db = fresh_db().await;
        let p = pool(&db);
        let admin = insert_user(p, "admin@example.com").await;
        let editor = insert_user(p, "editor@example.com").await;
        let viewer = insert_user(p, "viewer@example.com").await;
        let editor_b = insert_user(p, "editor-b@example.com").await;
        let a = insert_brand(p, "brand-a", admin).await;
        let b = insert_brand(p, "brand-b", admin).await;
        insert_role(pool(&db), admin, a, "admin").await;
        insert_role(pool(&db), editor, a, "editor").await;
        insert_role(pool(&db), viewer, a, "viewer").await;
        insert_role(pool(&db), editor_b, b, "editor").await;
        let content_a = ContentId::from_uuid(insert_content(p, a, "a", admin).await);
        let content_b = ContentId::from_uuid(insert_content(p, b, "b", admin).await);
        let template_a = insert_template(&db, a, admin).await;
        let template_b = insert_template(&db, b, admin).await;
        Self {
            db,
            a: BrandId::from_uuid(a),
            b: BrandId::from_uuid(b),
            editor: UserId::from_uuid(editor),
            viewer: UserId::from_uuid(viewer),
            admin: UserId::from_uuid(admin),
            editor_b: UserId::from_uuid(editor_b),
            content_a,
            content_b,
            template_a,
            template_b,
        }
    }

    async fn scope(&self, user: UserId) -> Scope {
        let brand = if user == self.editor_b {
            self.b
        } else {
            self.a
        };
        self.db.database().scope(user, brand).await.unwrap()
    }

    /// Records and commits a pending generation in the user's brand.
    async fn record(&self, user: UserId, kind: AiGenerationType) -> AiGeneration {
        let mut scope = self.scope(user).await;
        let generation = scope.ai().create(&request(kind)).await.unwrap();
        scope.commit().await.unwrap();
        generation
    }
}

fn request(kind: AiGenerationType) -> NewAiGeneration {
    NewAiGeneration::builder()
        .generation_type(kind)
        .model("gpt-4o")
        .prompt("Write something")
        .build()
        .unwrap()
}

fn completion(cost: &str) -> Completion {
    Completion::builder()
        .output("Done")
        .tokens_used(1234)
        .latency_ms(850)
        .cost(Cost::parse(cost).unwrap())
        .build()
        .unwrap()
}

fn ids(items: &[AiGeneration]) -> Vec<AiGenerationId> {
    items.iter().map(|g| g.id).collect()
}

/// Settling from a read made while it was pending, after it was settled.
fn is_stale<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(
        result,
        Err(Error::Stale {
            entity: "AI generation",
            expected: 1,
            actual: 2
        })
    )
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::NotFound { .. }))
}

#[tokio::test]
async fn an_editor_records_a_pending_request_that_reads_back_unchanged() {
    let w = World::new().await;
    let mut scope = w.scope(w.editor).await;
    let new = NewAiGeneration::builder()
        .generation_type(AiGenerationType::MetadataGeneration)
        .model("claude-3")
        .prompt("Describe \"this\"")
        .parameter("temperature", json!(0.25))
        .parameter("stop", json!(["\n\n"]))
        .content_id(w.content_a)
        .template_id(w.template_a)
        .metadata_entry("request_id", json!("r-1"))
        .build()
        .unwrap();
    let generation = scope.ai().create(&new).await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!((generation.brand_id, generation.user_id), (w.a, w.editor));
    assert_eq!(generation.status, AiGenerationStatus::Pending);
    assert_eq!(generation.version, 1);
    assert_eq!(
        generation.generation_type,
        AiGenerationType::MetadataGeneration
    );
    assert_eq!(generation.model, "claude-3");
    assert_eq!(generation.prompt, "Describe \"this\"");
    assert_eq!(generation.parameters["temperature"], json!(0.25));
    assert_eq!(generation.parameters["stop"], json!(["\n\n"]));
    assert_eq!(generation.metadata["request_id"], json!("r-1"));
    assert_eq!(generation.content_id, Some(w.content_a));
    assert_eq!(generation.template_id, Some(w.template_a));
    assert_eq!((generation.tokens_used, generation.latency_ms), (0, 0));
    assert_eq!(
        (generation.output.as_deref(), generation.cost),
        (None, None)
    );
    assert_eq!(generation.completed_at, None);

    let mut scope = w.scope(w.viewer).await;
    assert_eq!(scope.ai().get(generation.id).await.unwrap(), generation);
    assert!(matches!(
        scope.ai().get(AiGenerationId::new()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn completing_records_the_outcome_once_and_an_exact_cost() {
    let w = World::new().await;
    let pending = w.record(w.editor, AiGenerationType::AltText).await;
    // Another editor's worker may finish it.
    let mut scope = w.scope(w.admin).await;
    let done = scope
        .ai()
        // The largest amount NUMERIC(19,4) holds.
        .complete(
            pending.id,
            pending.version,
            &completion("999999999999999.9999"),
        )
        .await
        .unwrap();
    assert_eq!(done.status, AiGenerationStatus::Completed);
    assert_eq!(done.version, 2);
    assert_eq!(done.output.as_deref(), Some("Done"));
    assert_eq!((done.tokens_used, done.latency_ms), (1234, 850));
    assert_eq!(
        done.cost.unwrap().ten_thousandths(),
        9_999_999_999_999_999_999
    );
    assert!(done.completed_at.unwrap() >= done.created_at);
    assert_eq!(done.user_id, w.editor, "who asked stays recorded");
    assert_eq!(scope.ai().get(pending.id).await.unwrap(), done);

    // Settling again from the read made while it was pending is stale; from a read of the settled
    // generation there is nothing pending to settle. Neither overwrites the outcome.
    assert!(is_stale(
        &scope.ai().complete(pending.id, 1, &completion("1")).await
    ));
    assert!(is_stale(&scope.ai().fail(pending.id, 1, "late").await));
    assert!(is_not_found(
        &scope.ai().complete(pending.id, 2, &completion("1")).await
    ));
    assert!(is_not_found(&scope.ai().fail(pending.id, 2, "late").await));
    assert_eq!(scope.ai().get(pending.id).await.unwrap(), done);
    scope.commit().await.unwrap();
    let mut scope = w.scope(w.viewer).await;
    assert_eq!(scope.ai().get(pending.id).await.unwrap(), done);
    let text: String =
        sqlx::query_scalar("SELECT cost::text FROM mixerai.ai_generations WHERE id = $1")
            .bind(pending.id)
            .fetch_one(pool(&w.db))
            .await
            .unwrap();
    assert_eq!(text, "999999999999999.9999");
}

#[tokio::test]
async fn failing_records_the_error_and_refuses_a_blank_one_or_a_settled_generation() {
    let w = World::new().await;
    let pending = w.record(w.editor, AiGenerationType::Transcreation).await;
    let mut scope = w.scope(w.editor).await;
    let err = scope.ai().fail(pending.id, 1, "  ").await.unwrap_err();
    assert_eq!(err.validation().unwrap().errors()[0].field, "error");
    let failed = scope
        .ai()
        .fail(pending.id, 1, "rate limited")
        .await
        .unwrap();
    assert_eq!(failed.status, AiGenerationStatus::Failed);
    assert_eq!(failed.version, 2);
    assert_eq!(failed.error.as_deref(), Some("rate limited"));
    assert_eq!((failed.output.as_deref(), failed.cost), (None, None));
    assert!(failed.completed_at.is_some());
    assert!(is_stale(
        &scope
            .ai()
            .complete(pending.id, 1, &completion("0.01"))
            .await
    ));
    assert!(is_stale(&scope.ai().fail(pending.id, 1, "again").await));
    assert!(is_not_found(&scope.ai().fail(pending.id, 2, "again").await));
    assert_eq!(scope.ai().get(pending.id).await.unwrap(), failed);
    assert!(is_not_found(
        &scope
            .ai()
            .complete(AiGenerationId::new(), 1, &completion("0"))
            .await
    ));
    assert!(is_not_found(
        &scope.ai().fail(AiGenerationId::new(), 1, "x").await
    ));
}

#[tokio::test]
async fn a_viewer_reads_generations_but_cannot_record_or_settle_them() {
    let w = World::new().await;
    let pending = w.record(w.editor, AiGenerationType::ClaimReview).await;
    let mut scope = w.scope(w.viewer).await;
    assert!(matches!(
        scope.ai().create(&request(AiGenerationType::AltText)).await,
        Err(Error::Forbidden { .. })
    ));
    let mut scope = w.scope(w.viewer).await;
    assert!(matches!(
        scope.ai().complete(pending.id, 1, &completion("0.5")).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        scope.ai().fail(pending.id, 1, "no").await,
        Err(Error::Forbidden { .. })
    ));
    let page = scope
        .ai()
        .list(&AiGenerationFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(&pending));
    assert_eq!(scope.ai().get(pending.id).await.unwrap(), pending);
}

#[tokio::test]
async fn another_brand_sees_nothing_settles_nothing_and_cannot_borrow_content_or_templates() {
    let w = World::new().await;
    let pending = w.record(w.editor, AiGenerationType::AltText).await;
    let mut scope = w.scope(w.editor_b).await;
    assert!(matches!(
        scope.ai().get(pending.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.ai().complete(pending.id, 1, &completion("1")).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.ai().fail(pending.id, 1, "x").await,
        Err(Error::NotFound { .. })
    ));
    let listed = scope
        .ai()
        .list(&AiGenerationFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    let usage = scope
        .ai()
        .monthly_usage(
            pending.created_at.date_naive(),
            pending.created_at.date_naive(),
        )
        .await
        .unwrap();
    assert_eq!(usage[0].generations, 0);

    let with_content = NewAiGeneration::builder()
        .generation_type(AiGenerationType::AltText)
        .model("m")
        .prompt("p")
        .content_id(w.content_a)
        .build()
        .unwrap();
    match scope.ai().create(&with_content).await {
        Err(Error::InvalidReference {
            constraint, field, ..
        }) => {
            assert_eq!(constraint, "ai_generations_content_fkey");
            assert_eq!(field.as_deref(), Some("content_id"));
        }
        other => panic!("{other:?}"),
    }
    let mut scope = w.scope(w.editor_b).await;
    let with_template = NewAiGeneration::builder()
        .generation_type(AiGenerationType::AltText)
        .model("m")
        .prompt("p")
        .template_id(w.template_a)
        .build()
        .unwrap();
    match scope.ai().create(&with_template).await {
        Err(Error::InvalidReference {
            constraint, field, ..
        }) => {
            assert_eq!(constraint, "ai_generations_template_id_fkey");
            assert_eq!(field.as_deref(), Some("template_id"));
        }
        other => panic!("{other:?}"),
    }
    // Its own content and template are fine, and the generation is B's.
    let own = NewAiGeneration::builder()
        .generation_type(AiGenerationType::AltText)
        .model("m")
        .prompt("p")
        .content_id(w.content_b)
        .template_id(w.template_b)
        .build()
        .unwrap();
    assert_eq!(scope.ai().create(&own).await.unwrap().brand_id, w.b);
    scope.commit().await.unwrap();
    let mut scope = w.scope(w.viewer).await;
    let listed = scope
        .ai()
        .list(&AiGenerationFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&listed.items), [pending.id]);
}

#[tokio::test]
async fn of_two_workers_completing_the_same_generation_exactly_one_succeeds() {
    let w = World::new().await;
    for _ in 0..5 {
        let pending = w
            .record(w.editor, AiGenerationType::ContentGeneration)
            .await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let worker = |user: UserId, cost: &'static str| {
            let (db, brand, barrier) = (w.db.database().clone(), w.a, barrier.clone());
            tokio::spawn(async move {
                let mut scope = db.scope(user, brand).await.unwrap();
                barrier.wait().await;
                let result = scope
                    .ai()
                    .complete(pending.id, pending.version, &completion(cost))
                    .await;
                if result.is_ok() {
                    // Hold the row a moment so the other worker queues behind it.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    scope.commit().await.unwrap();
                }
                result.map(|g| g.cost)
            })
        };
        let (one, two) = tokio::join!(worker(w.editor, "1"), worker(w.admin, "2"));
        let results = [one.unwrap(), two.unwrap()];
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{results:?}");
        assert!(results.iter().any(is_stale), "{results:?}");
        let mut scope = w.scope(w.viewer).await;
        assert_eq!(scope.ai().get(pending.id).await.unwrap().cost, *won[0]);
    }
}

#[tokio::test]
async fn lists_filter_by_user_type_and_status_and_page_without_gaps() {
    let w = World::new().await;
    let mut by_editor = Vec::new();
    for kind in [
        AiGenerationType::AltText,
        AiGenerationType::TitleSuggestion,
        AiGenerationType::AltText,
    ] {
        by_editor.push(w.record(w.editor, kind).await);
    }
    let by_admin = w.record(w.admin, AiGenerationType::AltText).await;
    let mut scope = w.scope(w.editor).await;
    scope
        .ai()
        .complete(by_editor[0].id, 1, &completion("0.1"))
        .await
        .unwrap();
    // Several in one transaction share created_at: the id breaks the tie.
    let mut same_instant = Vec::new();
    for _ in 0..4 {
        same_instant.push(
            scope
                .ai()
                .create(&request(AiGenerationType::BrandAnalysis))
                .await
                .unwrap()
                .id,
        );
    }
    scope.commit().await.unwrap();
    same_instant.sort_by_key(|id| std::cmp::Reverse(id.as_uuid()));

    let mut scope = w.scope(w.viewer).await;
    let first = PageRequest::first(100);
    let all = AiGenerationFilter::default();
    let mut list = async |filter: AiGenerationFilter| {
        ids(&scope.ai().list(&filter, &first).await.unwrap().items)
    };
    let mut expected = same_instant.clone();
    expected.extend([
        by_admin.id,
        by_editor[2].id,
        by_editor[1].id,
        by_editor[0].id,
    ]);
    assert_eq!(list(all).await, expected);
    let by_user = |user: UserId| AiGenerationFilter {
        user_id: Some(user),
        ..all
    };
    let alt_text = Some(AiGenerationType::AltText);
    assert_eq!(list(by_user(w.admin)).await, [by_admin.id]);
    assert_eq!(
        list(AiGenerationFilter {
            generation_type: alt_text,
            ..all
        })
        .await,
        [by_admin.id, by_editor[2].id, by_editor[0].id]
    );
    assert_eq!(
        list(AiGenerationFilter {
            generation_type: alt_text,
            ..by_user(w.editor)
        })
        .await,
        [by_editor[2].id, by_editor[0].id]
    );
    assert_eq!(
        list(AiGenerationFilter {
            status: Some(AiGenerationStatus::Completed),
            ..all
        })
        .await,
        [by_editor[0].id]
    );
    // A user of another brand has nothing here.
    assert_eq!(list(by_user(w.editor_b)).await, []);

    let mut request = PageRequest::first(3);
    let mut seen = Vec::new();
    loop {
        let page = scope.ai().list(&all, &request).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(ids(&page.items));
        match page.next {
            Some(cursor) => request = request.after(cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn usage_totals_are_grouped_by_utc_month_with_empty_months_as_zero() {
    let w = World::new().await;
    let p = pool(&w.db);
    // (created_at, status, tokens, cost) written directly: the months are what is tested.
    let rows = [
        ("2025-01-01T00:00:00Z", "completed", 100, Some("0.0100")),
        (
            "2025-01-31T23:59:59.999999Z",
            "completed",
            50,
            Some("1.2345"),
        ),
        ("2025-01-15T12:00:00Z", "failed", 0, None),
        ("2025-01-20T12:00:00Z", "pending", 0, None),
        // 23:30 on 31 January in New York is February in UTC.
        ("2025-01-31T23:30:00-05:00", "completed", 7, None),
        ("2025-03-10T00:00:00Z", "completed", 1, Some("0.0001")),
        // Outside the range asked for.
        ("2024-12-31T23:59:59.999999Z", "completed", 1000, Some("9")),
        ("2025-04-01T00:00:00Z", "completed", 1000, Some("9")),
    ];
    for (created, status, tokens, cost) in rows {
        sqlx::query(
            "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, status, tokens_used, cost,
                output, error, created_at, completed_at)
             VALUES ($1, $2, 'alt_text', 'm', 'p', $3, $4, $5::numeric,
                CASE WHEN $3 = 'completed' THEN 'out' END, CASE WHEN $3 = 'failed' THEN 'err' END,
                $6::timestamptz, CASE WHEN $3 <> 'pending' THEN $6::timestamptz END)",
        )
        .bind(w.a)
        .bind(w.editor)
        .bind(status)
        .bind(tokens)
        .bind(cost)
        .bind(created)
        .execute(p)
        .await
        .unwrap();
    }
    // Another brand's usage never counts.
    sqlx::query(
        "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, created_at)
         VALUES ($1, $2, 'alt_text', 'm', 'p', '2025-01-10T00:00:00Z')",
    )
    .bind(w.b)
    .bind(w.editor_b)
    .execute(p)
    .await
    .unwrap();

    let mut scope = w.scope(w.viewer).await;
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    // Any day of a month stands for the month.
    let usage = scope
        .ai()
        .monthly_usage(day(2025, 1, 17), day(2025, 3, 31))
        .await
        .unwrap();
    let summary: Vec<_> = usage
        .iter()
        .map(|u| {
            (
                u.month,
                u.generations,
                u.completed,
                u.failed,
                u.pending(),
                u.tokens_used,
                u.cost.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (day(2025, 1, 1), 4, 2, 1, 1, 150, "1.2445".to_owned()),
            (day(2025, 2, 1), 1, 1, 0, 0, 7, "0.0000".to_owned()),
            (day(2025, 3, 1), 1, 1, 0, 0, 1, "0.0001".to_owned()),
        ]
    );
    let one = scope
        .ai()
        .monthly_usage(day(2025, 2, 28), day(2025, 2, 1))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    let err = scope
        .ai()
        .monthly_usage(day(2025, 3, 1), day(2025, 2, 28))
        .await
        .unwrap_err();
    assert_eq!(err.validation().unwrap().errors()[0].field, "to");
    let err = scope
        .ai()
        .monthly_usage(day(1900, 1, 1), day(2001, 1, 1))
        .await
        .unwrap_err();
    assert!(err.validation().is_some());
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            "[^\u{0}]{0,8}".prop_map(serde_json::Value::from),
            proptest::collection::vec("[^\u{0}]{0,4}", 0..3).prop_map(serde_json::Value::from),
        ]
    }

    #[test]
    fn whatever_the_builders_accept_round_trips_through_the_database_unchanged() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let w = rt.block_on(World::new());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        let strategy = (
            0..AiGenerationType::ALL.len(),
            "[^\u{0}]{0,99}[a-z]",
            "[^\u{0}]{0,30}[a-z]",
            proptest::collection::btree_map("[^\u{0}]{0,6}", json_value(), 0..4),
            proptest::collection::btree_map("[^\u{0}]{0,6}", json_value(), 0..3),
            "[^\u{0}]{0,30}",
            any::<u32>().prop_map(|t| t >> 1),
            0u64..2_000_000_000,
            proptest::option::of(0u64..=9_999_999_999_999_999_999),
        );
        runner
            .run(
                &strategy,
                |(kind, model, prompt, params, meta, output, tokens, millis, cost)| {
                    rt.block_on(async {
                        let kind = AiGenerationType::ALL[kind];
                        let mut b = NewAiGeneration::builder()
                            .generation_type(kind)
                            .model(model.clone())
                            .prompt(prompt.clone());
                        for (k, v) in &params {
                            b = b.parameter(k.clone(), v.clone());
                        }
                        for (k, v) in &meta {
                            b = b.metadata_entry(k.clone(), v.clone());
                        }
                        let new = match b.build() {
                            Ok(new) => new,
                            // Only an over-long model name (counted in characters) is refused here.
                            Err(e) => {
                                assert_eq!(e.errors()[0].field, "model", "{e}");
                                return;
                            }
                        };
                        let mut scope = w.scope(w.editor).await;
                        let recorded = scope.ai().create(&new).await.unwrap();
                        assert_eq!(scope.ai().get(recorded.id).await.unwrap(), recorded);
                        assert_eq!(
                            (recorded.generation_type, &recorded.model, &recorded.prompt),
                            (kind, &model, &prompt)
                        );
                        assert_eq!(recorded.parameters, params.into_iter().collect());
                        assert_eq!(recorded.metadata, meta.into_iter().collect());
                        let mut c = Completion::builder()
                            .output(output.clone())
                            .tokens_used(tokens)
                            .latency_ms(millis as i64);
                        let cost = cost.map(|c| Cost::from_ten_thousandths(c).unwrap());
                        if let Some(cost) = cost {
                            c = c.cost(cost);
                        }
                        let done = scope
                            .ai()
                            .complete(recorded.id, recorded.version, &c.build().unwrap())
                            .await
                            .unwrap();
                        scope.commit().await.unwrap();
                        assert_eq!(done.output.as_deref(), Some(output.as_str()));
                        assert_eq!(done.tokens_used as u32, tokens);
                        assert_eq!(done.latency_ms as u64, millis);
                        assert_eq!(done.cost, cost);
                        let request = |g: &AiGeneration| {
                            (
                                g.generation_type,
                                g.model.clone(),
                                g.prompt.clone(),
                                g.parameters.clone(),
                                g.metadata.clone(),
                                g.content_id,
                                g.template_id,
                            )
                        };
                        assert_eq!(request(&done), request(&recorded), "the request is kept");
                        let json = serde_json::to_string(&done).unwrap();
                        assert_eq!(serde_json::from_str::<AiGeneration>(&json).unwrap(), done);
                    });
                    Ok(())
                },
            )
            .unwrap();
    }
}

mod plans {
    //! The list's shapes at 25,000 generations per brand, explained inside a scope (policies
    //! included): each filter seeks its own index and reads it in order, never sorting. The
    //! statements mirror what `AiGenerationRepo::list` builds.
    use super::*;
    use crate::support::plan_nodes;
    use chrono::Utc;
    use serde_json::Value;

    #[tokio::test]
    async fn each_list_filter_seeks_an_index_in_list_order_without_sorting() {
        let w = World::new().await;
        let p = pool(&w.db);
        sqlx::query(
            "INSERT INTO mixerai.users (email, first_name, last_name)
             SELECT 'u' || g || '@example.com', 'U', 'Ser' FROM generate_series(1, 20) AS g",
        )
        .execute(p)
        .await
        .unwrap();
        sqlx::query(
            "WITH u AS (SELECT array_agg(id ORDER BY id) AS ids FROM mixerai.users)
             INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, created_at)
             SELECT CASE WHEN g % 2 = 0 THEN $1 ELSE $2 END, u.ids[g % array_length(u.ids, 1) + 1],
                    (ARRAY['content_generation', 'brand_analysis', 'metadata_generation', 'alt_text',
                           'transcreation', 'claim_review', 'title_suggestion'])[g % 7 + 1],
                    'm', 'p', now() - g * interval '1 second'
             FROM generate_series(1, 50000) AS g, u",
        )
        .bind(w.a)
        .bind(w.b)
        .execute(p)
        .await
        .unwrap();
        sqlx::query("ANALYZE mixerai.ai_generations")
            .execute(p)
            .await
            .unwrap();

        let base = "SELECT id FROM mixerai.ai_generations WHERE brand_id = $1";
        let tail = " AND (created_at, id) < ($3, $4) ORDER BY created_at DESC, id DESC LIMIT 26";
        let cases = [
            (
                "no filter",
                " AND $2::text IS NULL",
                "idx_ai_generations_brand_created",
            ),
            (
                "user",
                " AND user_id = $2::text::uuid",
                "idx_ai_generations_brand_user_created",
            ),
            (
                "type",
                " AND type = $2",
                "idx_ai_generations_brand_type_created",
            ),
        ];
        let mut scope = w.scope(w.viewer).await;
        for (what, filter, index) in cases {
            let param = match what {
                "user" => Some(w.editor.to_string()),
                "type" => Some("transcreation".to_owned()),
                _ => None,
            };
            let sql = format!("EXPLAIN (FORMAT JSON) {base}{filter}{tail}");
            let plan: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(w.a)
                .bind(param)
                .bind(Utc::now())
                .bind(Uuid::max())
                .fetch_one(scope.connection())
                .await
                .unwrap();
            let nodes = plan_nodes(&plan[0]["Plan"]);
            let kinds: Vec<_> = nodes
                .iter()
                .map(|n| n["Node Type"].as_str().unwrap_or(""))
                .collect();
            assert!(
                !kinds.contains(&"Sort") && !kinds.contains(&"Seq Scan"),
                "{what}: {plan:#}"
            );
            assert!(
                nodes.iter().any(|n| n["Index Name"] == index),
                "{what}: {plan:#}"
            );
        }
    }
}

#[tokio::test]
async fn a_cost_decodes_from_the_text_protocol_and_refuses_what_it_cannot_hold() {
    let w = World::new().await;
    let p = pool(&w.db);
    // raw_sql uses the simple protocol: values arrive as text.
    let row = sqlx::raw_sql("SELECT 1.2345::numeric(19,4), 1.23450000::numeric, 0::numeric")
        .fetch_one(p)
        .await
        .unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<Cost, _>(0).ten_thousandths(), 12_345);
    assert_eq!(row.get::<Cost, _>(1).ten_thousandths(), 12_345);
    assert_eq!(row.get::<Cost, _>(2), Cost::ZERO);
    // A digit past the 28th decimal, which a decimal parser would round away to zero, is refused.
    for tiny in ["0.00000000000000000000000000001", "1e-40"] {
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT {tiny}::numeric")))
            .fetch_one(p)
            .await
            .unwrap();
        assert!(row.try_get::<Cost, _>(0).is_err(), "{tiny}");
    }
    // The binary protocol reads the same, zeros past the fourth decimal included...
    let padded: Cost = sqlx::query_scalar("SELECT 1.23450000::numeric")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(padded.ten_thousandths(), 12_345);
    // ...and refuses values a cost cannot be: negative, a fifth decimal, NaN, beyond the column,
    // beyond what a decimal holds.
    for bad in [
        "-1", "-0.0001", "0.00001", "'NaN'", "1e15", "1e20", "1e40", "1e-40",
    ] {
        let result =
            sqlx::query_scalar::<_, Cost>(sqlx::AssertSqlSafe(format!("SELECT {bad}::numeric")))
                .fetch_one(p)
                .await;
        assert!(result.is_err(), "{bad}");
    }
    let exact: Cost = sqlx::query_scalar("SELECT $1::numeric + 0.0001")
        .bind(Cost::parse("12345.6789").unwrap())
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(exact.to_string(), "12345.6790");
}
