//! Integration tests of the `templates` module's repository, run as `mixerai_app` through scopes.

use std::collections::BTreeMap;

use mixerai_data::templates::{
    FieldType, FieldValidation, NewTemplate, TemplateField, TemplateFilter, TemplatePatch,
    ValidationRule,
};
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, TemplateId, UserId};
use mixerai_data::{Database, Error, PageRequest};
use serde_json::json;
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

/// Two brands; in A an admin, an editor and a viewer; in B an editor; and a platform admin.
pub struct Tenants {
    pub db: TestDatabase,
    pub a: BrandId,
    pub b: BrandId,
    pub admin: UserId,
    pub editor: UserId,
    pub viewer: UserId,
    pub editor_b: UserId,
    pub platform: UserId,
}

impl Tenants {
    pub async fn new() -> Self {
        let db = fresh_db().await;
        let p = pool(&db).clone();
        let admin = insert_user(&p, "admin@example.com").await;
        let editor = insert_user(&p, "editor@example.com").await;
        let viewer = insert_user(&p, "viewer@example.com").await;
        let editor_b = insert_user(&p, "editor-b@example.com").await;
        let platform = insert_user(&p, "platform@example.com").await;
        sqlx::query(
            "UPDATE mixerai.users SET metadata = '{\"is_platform_admin\": true}' WHERE id = $1",
        )
        .bind(platform)
        .execute(&p)
        .await
        .unwrap();
        let a = insert_brand(&p, "brand-a", admin).await;
        let b = insert_brand(&p, "brand-b", admin).await;
        insert_role(&p, admin, a, "admin").await;
        insert_role(&p, editor, a, "editor").await;
        insert_role(&p, viewer, a, "viewer").await;
        insert_role(&p, editor_b, b, "admin").await;
        Self {
            db,
            a: BrandId::from_uuid(a),
            b: BrandId::from_uuid(b),
            admin: UserId::from_uuid(admin),
            editor: UserId::from_uuid(editor),
            viewer: UserId::from_uuid(viewer),
            editor_b: UserId::from_uuid(editor_b),
            platform: UserId::from_uuid(platform),
        }
    }

    pub fn database(&self) -> &Database {
        self.db.database()
    }

    /// How many audit events the aggregate `id` has, read as the owner (past row-level security).
    pub async fn events(&self, id: impl Into<Uuid>) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
            .bind(id.into())
            .fetch_one(pool(&self.db))
            .await
            .unwrap()
    }
}

fn rename(name: &str) -> TemplatePatch {
    TemplatePatch::builder().name(name).build().unwrap()
}

fn deactivate() -> TemplatePatch {
    TemplatePatch::builder().is_active(false).build().unwrap()
}

fn article(name: &str) -> NewTemplate {
    NewTemplate::builder()
        .name(name)
        .description("Long-form")
        .icon("doc")
        .field(TemplateField {
            required: true,
            validation: Some(FieldValidation {
                min: Some(3.0),
                max: Some(80.0),
                ..FieldValidation::default()
            }),
            ..TemplateField::new("headline", "Headline", FieldType::Text)
        })
        .field(TemplateField {
            validation: Some(FieldValidation {
                options: Some(vec![json!("warm"), json!("cool")]),
                ..FieldValidation::default()
            }),
            default_value: Some(json!("warm")),
            ..TemplateField::new("tone", "Tone", FieldType::Select)
        })
        .field(TemplateField::new("email", "Email", FieldType::Email))
        .field(TemplateField::new("phone", "Phone", FieldType::Text))
        .validation_rule(ValidationRule::AtLeastOne {
            fields: vec!["email".into(), "phone".into()],
            message: None,
        })
        .ai_prompt("headline", "Write a headline")
        .content_type("article")
        .tag("news")
        .category("Editorial")
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_editor_creates_a_template_that_reads_back_unchanged() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    assert_eq!(created.brand_ids, vec![t.a]);
    assert_eq!(created.created_by, t.editor);
    assert_eq!(created.version, 1);
    assert!(created.is_active && created.ai_enabled);
    assert_eq!(created.fields.len(), 4);
    assert_eq!(
        created.ai_prompts.get("headline").map(String::as_str),
        Some("Write a headline")
    );
    assert_eq!(created.usage.count, 0);
    let got = scope.templates().get(created.id).await.unwrap();
    assert_eq!(got, created);
    scope.commit().await.unwrap();

    // The stored template validates content.
    let ok = json!({"headline": "Spring", "email": "a@example.com"});
    assert_eq!(got.validate(ok.as_object().unwrap()), Ok(()));
    let bad = json!({"tone": "hot"});
    let report = got.validate(bad.as_object().unwrap()).unwrap_err();
    assert_eq!(report.errors().len(), 3, "{report}");
}

#[tokio::test]
async fn a_viewer_cannot_create_and_an_editor_cannot_share_with_another_brand() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let err = scope
        .templates()
        .create(&article("Nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    let shared = NewTemplate::builder()
        .name("Shared")
        .share_with(t.b)
        .build()
        .unwrap();
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let err = scope.templates().create(&shared).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn a_platform_admin_shares_a_template_that_brand_editors_read_but_cannot_change() {
    let t = Tenants::new().await;
    let shared = NewTemplate::builder()
        .name("Shared")
        .share_with(t.b)
        .build()
        .unwrap();
    let mut scope = t.database().scope(t.platform, t.a).await.unwrap();
    let created = scope.templates().create(&shared).await.unwrap();
    scope.commit().await.unwrap();
    assert_eq!(created.brand_ids, vec![t.a, t.b]);

    for (user, brand) in [(t.editor, t.a), (t.editor_b, t.b)] {
        let mut scope = t.database().scope(user, brand).await.unwrap();
        assert_eq!(
            scope.templates().get(created.id).await.unwrap().id,
            created.id
        );
        let err = scope
            .templates()
            .update(created.id, 1, &rename("Mine"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
        drop(scope);
        let mut scope = t.database().scope(user, brand).await.unwrap();
        let err = scope
            .templates()
            .update(created.id, 1, &deactivate())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    }
    let mut scope = t.database().scope(t.platform, t.b).await.unwrap();
    let renamed = scope
        .templates()
        .update(created.id, 1, &rename("Renamed"))
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Renamed", 2));
}

#[tokio::test]
async fn another_brands_templates_are_not_found_not_listed_and_not_writable() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor_b, t.b).await.unwrap();
    let theirs = scope.templates().create(&article("Theirs")).await.unwrap();
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.admin, t.a).await.unwrap();
    let mut repo = scope.templates();
    assert!(matches!(
        repo.get(theirs.id).await,
        Err(Error::NotFound { entity: "template" })
    ));
    let page = repo
        .list(&TemplateFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let err = repo.update(theirs.id, 1, &rename("x")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = repo.update(theirs.id, 1, &deactivate()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    drop(scope);

    // Nothing changed.
    let name: String =
        sqlx::query_scalar("SELECT name FROM mixerai.content_templates WHERE id = $1")
            .bind(theirs.id)
            .fetch_one(pool(&t.db))
            .await
            .unwrap();
    assert_eq!(name, "Theirs");
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let id = TemplateId::new();
    assert!(matches!(
        scope.templates().get(id).await,
        Err(Error::NotFound { .. })
    ));
    let empty = TemplatePatch::builder().build().unwrap();
    assert!(matches!(
        scope.templates().update(id, 1, &empty).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        scope.templates().update(id, 1, &deactivate()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_content_type_and_activity() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let mut made = Vec::new();
    for i in 0..5 {
        let mut b = NewTemplate::builder()
            .name(format!("T{i}"))
            .is_active(i != 3);
        b = match i % 3 {
            0 => b.content_type("article"),
            1 => b.content_type("social_post"),
            _ => b, // fits every type
        };
        // One transaction, so every row has the same created_at: the pages break ties on id.
        made.push(scope.templates().create(&b.build().unwrap()).await.unwrap());
    }
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let mut repo = scope.templates();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(2);
    loop {
        let page = repo.list(&TemplateFilter::default(), &req).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|t| (t.created_at, t.id)));
        match page.next {
            Some(c) => req = req.after(c),
            None => break,
        }
    }
    let mut expected: Vec<_> = made.iter().map(|t| (t.created_at, t.id)).collect();
    expected.sort_by_key(|k| std::cmp::Reverse((k.0, k.1.as_uuid())));
    assert_eq!(seen, expected);

    let names = |items: Vec<mixerai_data::templates::Template>| {
        let mut n: Vec<String> = items.into_iter().map(|t| t.name).collect();
        n.sort();
        n
    };
    let articles = TemplateFilter {
        content_type: Some("article".into()),
        is_active: None,
    };
    let page = repo
        .list(&articles, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(names(page.items), ["T0", "T2", "T3"]);
    let active_articles = TemplateFilter {
        is_active: Some(true),
        ..articles
    };
    let page = repo
        .list(&active_articles, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(names(page.items), ["T0", "T2"]);
    let inactive = TemplateFilter {
        content_type: None,
        is_active: Some(false),
    };
    let page = repo
        .list(&inactive, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(names(page.items), ["T3"]);
}

#[tokio::test]
async fn an_update_applies_the_patch_and_a_stale_one_is_stale_and_changes_nothing() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    let patch = TemplatePatch::builder()
        .name("Feature")
        .clear_description()
        .tags(["long"])
        .content_types(["article", "feature"])
        .ai_prompts(BTreeMap::new())
        .build()
        .unwrap();
    let updated = scope
        .templates()
        .update(created.id, 1, &patch)
        .await
        .unwrap();
    assert_eq!(updated.name, "Feature");
    assert_eq!(updated.description, None);
    assert_eq!(updated.tags, ["long"]);
    assert_eq!(updated.content_types, ["article", "feature"]);
    assert!(updated.ai_prompts.is_empty());
    assert_eq!(updated.fields, created.fields);
    assert_eq!(updated.icon, created.icon, "unset stays");
    assert_eq!(updated.version, 2);

    let err = scope
        .templates()
        .update(created.id, 1, &rename("Stale"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "template",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    // Also when the patch is first checked against the stored template.
    let fields = TemplatePatch::builder()
        .fields(created.fields.clone())
        .build()
        .unwrap();
    let err = scope
        .templates()
        .update(created.id, 1, &fields)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(scope.templates().get(created.id).await.unwrap(), updated);
}

#[tokio::test]
async fn an_empty_patch_writes_no_row_and_no_audit_event() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    scope.commit().await.unwrap();
    let events = t.events(created.id).await;
    assert_eq!(events, 1, "the creation is audited");

    let empty = TemplatePatch::builder().build().unwrap();
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let same = scope
        .templates()
        .update(created.id, 1, &empty)
        .await
        .unwrap();
    assert_eq!(same, created);
    // A stale version is still reported, though nothing would be written.
    let renamed = scope
        .templates()
        .update(created.id, 1, &rename("Renamed"))
        .await
        .unwrap();
    let err = scope
        .templates()
        .update(created.id, 1, &empty)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    scope.commit().await.unwrap();
    assert_eq!(t.events(created.id).await, events + 1, "only the rename");
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    assert_eq!(scope.templates().get(created.id).await.unwrap(), renamed);
}

#[tokio::test]
async fn a_patch_is_checked_alone_then_against_the_stored_template_and_an_invalid_one_writes_nothing()
 {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    // What a patch sets is checked before any round trip, every problem together.
    let err = TemplatePatch::builder()
        .name(" ")
        .category("")
        .build()
        .unwrap_err();
    let mut paths: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["category", "name"], "{err}");
    // Dropping `email` and `phone` breaks the stored at_least_one rule that names them: only the
    // stored template can tell, and both problems are reported at once.
    let fields: Vec<TemplateField> = created
        .fields
        .iter()
        .filter(|f| f.name != "phone" && f.name != "email")
        .cloned()
        .collect();
    let patch = TemplatePatch::builder()
        .fields(fields)
        .name("Renamed")
        .build()
        .unwrap();
    let err = scope
        .templates()
        .update(created.id, 1, &patch)
        .await
        .unwrap_err();
    let report = err.validation().expect("invalid");
    let paths: Vec<_> = report.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        paths,
        [
            "validation_rules[0].fields[0]",
            "validation_rules[0].fields[1]"
        ],
        "{report}"
    );
    scope.commit().await.unwrap();
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    assert_eq!(scope.templates().get(created.id).await.unwrap(), created);
    assert_eq!(t.events(created.id).await, 1, "nothing but the creation");
    // Replacing the rules too, in step with the fields, is fine.
    drop(scope);
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let both = TemplatePatch::builder()
        .fields(created.fields.iter().take(1).cloned())
        .validation_rules(Vec::<ValidationRule>::new())
        .build()
        .unwrap();
    let updated = scope
        .templates()
        .update(created.id, 1, &both)
        .await
        .unwrap();
    assert_eq!((updated.fields.len(), updated.version), (1, 2));
}

#[tokio::test]
async fn of_two_concurrent_updates_from_one_version_exactly_one_wins() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    scope.commit().await.unwrap();

    // The first holds the row lock uncommitted while the second reads version 1 and queues behind it.
    let mut first = t.database().scope(t.editor, t.a).await.unwrap();
    first
        .templates()
        .update(created.id, 1, &rename("First"))
        .await
        .unwrap();
    let db = t.database().clone();
    let (editor, a, id) = (t.editor, t.a, created.id);
    let second = tokio::spawn(async move {
        let mut scope = db.scope(editor, a).await.unwrap();
        scope.templates().update(id, 1, &rename("Second")).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first.commit().await.unwrap();
    let err = second.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "template",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let now = scope.templates().get(created.id).await.unwrap();
    assert_eq!((now.name.as_str(), now.version), ("First", 2));
}

#[tokio::test]
async fn deactivating_is_a_patch_of_is_active_that_needs_a_writer_and_a_retry_writes_nothing() {
    let t = Tenants::new().await;
    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let created = scope.templates().create(&article("Article")).await.unwrap();
    scope.commit().await.unwrap();

    let mut scope = t.database().scope(t.viewer, t.a).await.unwrap();
    let err = scope
        .templates()
        .update(created.id, 1, &deactivate())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);

    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let off = scope
        .templates()
        .update(created.id, 1, &deactivate())
        .await
        .unwrap();
    assert!(!off.is_active);
    assert_eq!(off.version, 2);
    // The same request again (a retry) names the version it was read at: it is stale and writes
    // nothing, so deactivating twice leaves one change.
    let err = scope
        .templates()
        .update(created.id, 1, &deactivate())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
    // A patch that sets nothing writes nothing either.
    let empty = TemplatePatch::builder().build().unwrap();
    let again = scope
        .templates()
        .update(created.id, 2, &empty)
        .await
        .unwrap();
    assert_eq!((again.is_active, again.version), (false, 2));
    scope.commit().await.unwrap();
    assert_eq!(
        t.events(created.id).await,
        2,
        "the creation and one deactivation"
    );

    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
    let reactivated = scope
        .templates()
        .update(
            created.id,
            2,
            &TemplatePatch::builder().is_active(true).build().unwrap(),
        )
        .await
        .unwrap();
    assert!(reactivated.is_active);
    assert_eq!(reactivated.version, 3);
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Valid by construction: distinct names, constraints that fit each type.
    fn field(i: usize) -> impl Strategy<Value = TemplateField> {
        let ty = prop::sample::select(FieldType::ALL.to_vec());
        (
            ty,
            "\\PC{1,12}",
            any::<bool>(),
            any::<i32>(),
            0u32..50,
            0u32..50,
            // Any finite f64: PostgreSQL keeps JSON numbers' digits exactly and serde_json (with
            // `float_roundtrip`) reads them back to the same f64.
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            prop::collection::btree_set("[a-z\u{e9}]{1,6}", 1..4),
        )
            .prop_filter("labels are not blank", |(_, label, ..)| {
                !label.trim().is_empty()
            })
            .prop_map(move |(ty, label, required, order, lo, hi, x, options)| {
                let validation = match ty {
                    t if t.is_textual() => Some(FieldValidation {
                        min: Some(lo.min(hi).into()),
                        max: Some(lo.max(hi).into()),
                        pattern: Some(".*".into()),
                        options: None,
                    }),
                    FieldType::Number => Some(FieldValidation {
                        min: Some(-x.abs()),
                        max: Some(x.abs()),
                        ..FieldValidation::default()
                    }),
                    t if t.has_options() => Some(FieldValidation {
                        options: Some(options.into_iter().map(serde_json::Value::from).collect()),
                        ..FieldValidation::default()
                    }),
                    _ => None,
                };
                TemplateField {
                    required,
                    order,
                    validation,
                    help_text: Some(format!("help \u{1f600} {i}")),
                    ..TemplateField::new(format!("f{i}"), label, ty)
                }
            })
    }

    fn template() -> impl Strategy<Value = NewTemplate> {
        (0usize..6)
            .prop_flat_map(|n| (0..n).map(field).collect::<Vec<_>>())
            .prop_map(|fields| {
                let mut b = NewTemplate::builder()
                    .name("Round trip \u{e9}")
                    .content_type("article");
                for f in fields {
                    b = b.field(f);
                }
                b.build().expect("valid by construction")
            })
    }

    #[test]
    fn any_built_template_round_trips_through_the_database_unchanged() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let t = rt.block_on(Tenants::new());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&template(), |new| {
                rt.block_on(async {
                    let mut scope = t.database().scope(t.editor, t.a).await.unwrap();
                    let created = scope.templates().create(&new).await.unwrap();
                    let got = scope.templates().get(created.id).await.unwrap();
                    scope.commit().await.unwrap();
                    prop_assert_eq!(&got, &created);
                    // What was built is what is stored.
                    prop_assert_eq!(&got.fields[..], new.fields());
                    prop_assert_eq!(&got.name, new.name());
                    Ok(())
                })
            })
            .unwrap();
    }
}
