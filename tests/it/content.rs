//! Integration tests of the `content` module's repository, run as `mixerai_app` through scopes.

use std::sync::Arc;

use mixerai_data::content::{ContentFilter, ContentPatch, ContentStatus, NewContent, SeoMetadata};
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, ContentId, Slug, UserId};
use mixerai_data::{Error, Scope};
use uuid::Uuid;

use crate::support::{fresh_db, insert_brand, insert_role, insert_user, pool};

/// Two brands; `editor` edits A, `viewer` reads A, `other` edits B, `stranger` has no role.
struct World {
    db: TestDatabase,
    a: BrandId,
    b: BrandId,
    editor: UserId,
    viewer: UserId,
    other: UserId,
    stranger: UserId,
}

async fn world() -> World {
    let db = fresh_db().await;
    let p = pool(&db);
    let editor = insert_user(p, "editor@example.com").await;
    let viewer = insert_user(p, "viewer@example.com").await;
    let other = insert_user(p, "other@example.com").await;
    let stranger = insert_user(p, "stranger@example.com").await;
    let a = insert_brand(p, "brand-a", editor).await;
    let b = insert_brand(p, "brand-b", editor).await;
    insert_role(p, editor, a, "editor").await;
    insert_role(p, viewer, a, "viewer").await;
    insert_role(p, other, b, "editor").await;
    World {
        db,
        a: BrandId::from_uuid(a),
        b: BrandId::from_uuid(b),
        editor: UserId::from_uuid(editor),
        viewer: UserId::from_uuid(viewer),
        other: UserId::from_uuid(other),
        stranger: UserId::from_uuid(stranger),
    }
}

impl World {
    async fn scope(&self, user: UserId, brand: BrandId) -> Scope {
        self.db.database().scope(user, brand).await.unwrap()
    }
    async fn editor(&self) -> Scope {
        self.scope(self.editor, self.a).await
    }
    /// Creates and commits an item in brand A.
    async fn item(&self, new: NewContent) -> mixerai_data::content::Content {
        let mut s = self.editor().await;
        let c = s.content().create(&new).await.unwrap();
        s.commit().await.unwrap();
        c
    }
}

fn article(title: &str) -> NewContent {
    NewContent::builder()
        .content_type("article")
        .title(title)
        .build()
        .unwrap()
}

fn seo() -> SeoMetadata {
    SeoMetadata {
        meta_title: Some("Engines".into()),
        meta_description: Some("All about engines.".into()),
        keywords: vec!["engine".into(), "history".into()],
        og_image: Some("https://example.com/og.png".into()),
        canonical_url: Some("https://example.com/engines".into()),
    }
}

fn conflict_on(err: &Error) -> &str {
    match err {
        Error::Conflict { constraint, .. } => constraint,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn is_not_found(err: &Error) -> bool {
    matches!(err, Error::NotFound { entity: "content" })
}

#[tokio::test]
async fn create_then_get_and_get_by_slug_return_every_field_with_labels_normalised() {
    let w = world().await;
    let new = NewContent::builder()
        .content_type("article")
        .title("Notes on the Engine")
        .body("<p>The engine weaves patterns.</p>")
        .excerpt("Weaving")
        .field("audience", serde_json::json!("engineers"))
        .metadata(seo())
        .tag(" History ")
        .tag("history")
        .tag("Engines")
        .category("Science")
        .category(" Science ")
        .build()
        .unwrap();
    let mut s = w.editor().await;
    let created = s.content().create(&new).await.unwrap();
    assert_eq!(created.slug.as_str(), "notes-on-the-engine");
    assert_eq!(created.tags, vec!["history", "engines"]);
    assert_eq!(created.categories, vec!["Science"]);
    assert_eq!(created.metadata.0, seo());
    assert_eq!(created.version, 1);
    assert_eq!(created.status, ContentStatus::Draft);
    assert_eq!(created.created_by, w.editor);
    s.commit().await.unwrap();

    let mut s = w.editor().await;
    assert_eq!(s.content().get(created.id).await.unwrap(), created);
    assert_eq!(
        s.content().get_by_slug(&created.slug).await.unwrap(),
        created
    );
    // Stored with the spec's camelCase keys.
    let stored: serde_json::Value =
        sqlx::query_scalar("SELECT metadata FROM mixerai.content WHERE id = $1")
            .bind(created.id)
            .fetch_one(s.connection())
            .await
            .unwrap();
    assert_eq!(stored["metaTitle"], "Engines");
    assert_eq!(stored["canonicalUrl"], "https://example.com/engines");
}

#[tokio::test]
async fn create_with_a_live_slug_is_a_conflict_on_the_slug_key() {
    let w = world().await;
    w.item(article("Same")).await;
    let mut s = w.editor().await;
    let err = s.content().create(&article("Same")).await.unwrap_err();
    assert_eq!(conflict_on(&err), "content_brand_slug_key");
}

#[tokio::test]
async fn get_and_get_by_slug_of_an_absent_item_are_not_found() {
    let w = world().await;
    let mut s = w.editor().await;
    assert!(is_not_found(
        &s.content().get(ContentId::new()).await.unwrap_err()
    ));
    let slug = Slug::parse("nothing-here").unwrap();
    assert!(is_not_found(
        &s.content().get_by_slug(&slug).await.unwrap_err()
    ));
}

#[tokio::test]
async fn builder_and_patch_report_every_problem_together() {
    let err = NewContent::builder()
        .content_type("")
        .title(" ")
        .slug("Bad Slug")
        .body("a\0b")
        .tag("")
        .category("x".repeat(101))
        .metadata(SeoMetadata {
            meta_title: Some("t".repeat(61)),
            meta_description: Some("d".repeat(161)),
            keywords: vec![" ".into()],
            og_image: Some("javascript:alert(1)".into()),
            canonical_url: Some("/relative".into()),
        })
        .build()
        .unwrap_err();
    let fields: Vec<&str> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "type",
            "title",
            "slug",
            "body",
            "tags[0]",
            "categories[0]",
            "metadata.meta_title",
            "metadata.meta_description",
            "metadata.keywords[0]",
            "metadata.og_image",
            "metadata.canonical_url",
        ],
        "{err}"
    );

    let err = ContentPatch::builder()
        .title("")
        .slug("-x")
        .excerpt("\0")
        .tags(["ok", " "])
        .note(" ")
        .build()
        .unwrap_err();
    let fields: Vec<&str> = err.errors().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["title", "slug", "excerpt", "tags[1]", "note"],
        "{err}"
    );
}

#[tokio::test]
async fn update_applies_only_what_the_patch_sets_and_counts_the_save() {
    let w = world().await;
    let mut new = NewContent::builder()
        .content_type("article")
        .title("Draft")
        .body("old body")
        .excerpt("old excerpt")
        .tag("keep");
    new = new.category("Kept");
    let item = w.item(new.build().unwrap()).await;
    let patch = ContentPatch::builder()
        .title("Final")
        .slug("final")
        .clear_body()
        .tags(["New", "new", "other"])
        .metadata(seo())
        .build()
        .unwrap();
    let mut s = w.editor().await;
    let updated = s.content().update(item.id, 1, &patch).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.title, "Final");
    assert_eq!(updated.slug.as_str(), "final");
    assert_eq!(updated.body, None, "None clears the body");
    assert_eq!(
        updated.excerpt.as_deref(),
        Some("old excerpt"),
        "unset stays"
    );
    assert_eq!(updated.categories, vec!["Kept"]);
    assert_eq!(updated.tags, vec!["new", "other"]);
    assert_eq!(updated.metadata.0, seo());
    assert_eq!(
        updated.status,
        ContentStatus::Draft,
        "a save changes no status"
    );
    assert_eq!((updated.latest_version, updated.published_at), (2, None));
    s.commit().await.unwrap();
}

#[tokio::test]
async fn update_from_a_stale_version_is_a_conflict_and_overwrites_nothing() {
    let w = world().await;
    let item = w.item(article("Racing")).await;
    let mut s = w.editor().await;
    let first = ContentPatch::builder().title("First").build().unwrap();
    s.content().update(item.id, 1, &first).await.unwrap();
    let late = ContentPatch::builder().title("Late").build().unwrap();
    let err = s.content().update(item.id, 1, &late).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Stale {
                entity: "content",
                expected: 1,
                actual: 2
            }
        ),
        "{err:?}"
    );
    let now = s.content().get(item.id).await.unwrap();
    assert_eq!((now.title.as_str(), now.version), ("First", 2));
}

#[tokio::test]
async fn two_concurrent_updates_from_the_same_read_exactly_one_wins() {
    let w = Arc::new(world().await);
    let item = w.item(article("Contended")).await;
    // Both tasks read version 1 before either writes.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for title in ["From task one", "From task two"] {
        let (w, barrier) = (w.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = w.editor().await;
            let read = s.content().get(item.id).await.unwrap();
            barrier.wait().await;
            let patch = ContentPatch::builder().title(title).build().unwrap();
            let result = s.content().update(read.id, read.version, &patch).await;
            if result.is_ok() {
                s.commit().await.unwrap();
            }
            result.map(|c| c.title)
        }));
    }
    let mut wins = Vec::new();
    let mut stale = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(title) => wins.push(title),
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::Stale {
                            expected: 1,
                            actual: 2,
                            ..
                        }
                    ),
                    "{e:?}"
                );
                stale += 1;
            }
        }
    }
    assert_eq!((wins.len(), stale), (1, 1));
    let mut s = w.editor().await;
    let final_state = s.content().get(item.id).await.unwrap();
    assert_eq!(final_state.version, 2);
    assert_eq!(final_state.title, wins[0], "the loser overwrote nothing");
}

#[tokio::test]
async fn update_errors_not_found_taken_slug_and_reader_forbidden() {
    let w = world().await;
    let item = w.item(article("One")).await;
    w.item(article("Two")).await;
    let mut s = w.editor().await;
    let patch = ContentPatch::builder().title("x").build().unwrap();
    assert!(is_not_found(
        &s.content()
            .update(ContentId::new(), 1, &patch)
            .await
            .unwrap_err()
    ));
    let to_two = ContentPatch::builder().slug("two").build().unwrap();
    let err = s.content().update(item.id, 1, &to_two).await.unwrap_err();
    assert_eq!(conflict_on(&err), "content_brand_slug_key");
    drop(s);

    let mut s = w.scope(w.viewer, w.a).await;
    let err = s.content().update(item.id, 1, &patch).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = s.content().soft_delete(item.id, 1).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = s.content().create(&article("Three")).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn soft_delete_frees_the_slug_and_restore_conflicts_when_it_was_taken() {
    let w = world().await;
    let item = w.item(article("Seasonal")).await;
    let mut s = w.editor().await;
    let deleted = s
        .content()
        .soft_delete(item.id, item.version)
        .await
        .unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(
        deleted.version,
        item.version + 1,
        "a soft delete is a write"
    );
    // Gone from get, slugs and lists, readable as deleted, and not deletable twice.
    assert!(is_not_found(
        &s.content().get_by_slug(&item.slug).await.unwrap_err()
    ));
    let page = s
        .content()
        .list(&ContentFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert!(is_not_found(&s.content().get(item.id).await.unwrap_err()));
    assert_eq!(
        s.content().get_including_deleted(item.id).await.unwrap(),
        deleted
    );
    let only_deleted = ContentFilter {
        deleted: mixerai_data::Deleted::Only,
        ..Default::default()
    };
    let page = s
        .content()
        .list(&only_deleted, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(&deleted));
    assert!(is_not_found(
        &s.content()
            .soft_delete(item.id, deleted.version)
            .await
            .unwrap_err()
    ));
    // Restore brings it back, once, and only from the version it was read at.
    assert!(matches!(
        s.content()
            .restore(item.id, item.version)
            .await
            .unwrap_err(),
        Error::Stale { .. }
    ));
    let restored = s.content().restore(item.id, deleted.version).await.unwrap();
    assert_eq!(restored.deleted_at, None);
    assert!(is_not_found(
        &s.content()
            .restore(item.id, restored.version)
            .await
            .unwrap_err()
    ));
    assert!(is_not_found(
        &s.content().restore(ContentId::new(), 1).await.unwrap_err()
    ));
    // Delete again, reuse the slug, then restoring the old item conflicts.
    let deleted = s
        .content()
        .soft_delete(item.id, restored.version)
        .await
        .unwrap();
    let successor = s.content().create(&article("Seasonal")).await.unwrap();
    assert_eq!(successor.slug, item.slug);
    s.commit().await.unwrap();
    let mut s = w.editor().await;
    let err = s
        .content()
        .restore(item.id, deleted.version)
        .await
        .unwrap_err();
    assert_eq!(conflict_on(&err), "content_brand_slug_key");
}

#[tokio::test]
async fn another_brands_items_are_invisible_and_unwritable() {
    let w = world().await;
    let item = w.item(article("Secret Zeppelin Plans")).await;
    let mut s = w.scope(w.other, w.b).await;
    let repo_err = |e: Error| assert!(is_not_found(&e), "{e:?}");
    repo_err(s.content().get(item.id).await.unwrap_err());
    repo_err(s.content().get_by_slug(&item.slug).await.unwrap_err());
    let patch = ContentPatch::builder().title("Hijacked").build().unwrap();
    repo_err(s.content().update(item.id, 1, &patch).await.unwrap_err());
    repo_err(s.content().soft_delete(item.id, 1).await.unwrap_err());
    repo_err(s.content().restore(item.id, 1).await.unwrap_err());
    let page = s
        .content()
        .list(&ContentFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert!(s.content().search("zeppelin", 10).await.unwrap().is_empty());
    // The same slug is free in brand B: slugs are per brand.
    s.content()
        .create(&article("Secret Zeppelin Plans"))
        .await
        .unwrap();
    s.commit().await.unwrap();
    let mut s = w.editor().await;
    let untouched = s.content().get(item.id).await.unwrap();
    assert_eq!(
        (untouched.title.as_str(), untouched.version),
        ("Secret Zeppelin Plans", 1)
    );
    assert!(untouched.deleted_at.is_none());
}

#[tokio::test]
async fn list_pages_newest_first_and_applies_every_filter() {
    let w = world().await;
    let p = pool(&w.db);
    let template: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('T', ARRAY[$1], $2) RETURNING id",
    )
    .bind(w.a)
    .bind(w.editor)
    .fetch_one(p)
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let new = NewContent::builder()
            .content_type(if i % 2 == 0 { "article" } else { "page" })
            .title(format!("Item {i}"))
            .tag(if i < 2 { "Early" } else { "late" })
            .build()
            .unwrap();
        ids.push(w.item(new).await.id);
    }
    // Spread creation times a day apart (newest last), put one item on the template, publish one.
    sqlx::query(
        "UPDATE mixerai.content SET created_at = timestamptz '2026-01-01' + (ord * interval '1 day')
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, ord) WHERE content.id = t.id",
    )
    .bind(ids.iter().map(|i| i.as_uuid()).collect::<Vec<_>>())
    .execute(p)
    .await
    .unwrap();
    sqlx::query("UPDATE mixerai.content SET template_id = $1 WHERE id = $2")
        .bind(template)
        .bind(ids[3])
        .execute(p)
        .await
        .unwrap();
    // The fixture's own UPDATEs above are writes too: the database counted them.
    let mut s = w.editor().await;
    let fifth = s.content().get(ids[4]).await.unwrap();
    assert_eq!(fifth.version, 2);
    drop(s);
    crate::versioning::publish_through_review(&w.db, w.editor, w.a, ids[4]).await;
    let mut s = w.editor().await;

    // Keyset pages of two: 4 3 | 2 1 | 0.
    let all = ContentFilter::default();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(2);
    loop {
        let page = s.content().list(&all, &req).await.unwrap();
        seen.extend(page.items.iter().map(|c| c.id));
        match page.next {
            Some(cursor) => req = req.after(cursor),
            None => break,
        }
    }
    let newest_first: Vec<_> = ids.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);

    let mut listed = async |f: ContentFilter| -> Vec<ContentId> {
        let page = s.content().list(&f, &PageRequest::first(50)).await.unwrap();
        page.items.iter().map(|c| c.id).collect()
    };
    let day = |d: u32| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-01-{d:02}T00:00:00Z"))
            .unwrap()
            .to_utc()
    };
    let f = ContentFilter {
        content_type: Some("page".into()),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[3], ids[1]]);
    let f = ContentFilter {
        tag: Some(" EARLY ".into()),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[1], ids[0]]);
    let f = ContentFilter {
        status: Some(ContentStatus::Published),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[4]]);
    let f = ContentFilter {
        template_id: Some(mixerai_data::types::TemplateId::from_uuid(template)),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[3]]);
    // Items 1..=3 were created on 2026-01-03 .. 2026-01-05 (ordinality starts at 1).
    let f = ContentFilter {
        created_from: Some(day(3)),
        created_to: Some(day(5)),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[2], ids[1]]);
    let f = ContentFilter {
        published_from: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        published_to: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        content_type: Some("article".into()),
        ..Default::default()
    };
    assert_eq!(listed(f).await, [ids[4]]);
    let f = ContentFilter {
        published_to: Some(day(1)),
        ..Default::default()
    };
    assert!(listed(f).await.is_empty());
}

#[tokio::test]
async fn search_ranks_title_matches_first_and_stays_inside_the_brand_and_its_readers() {
    let w = world().await;
    let in_body = w
        .item(
            NewContent::builder()
                .content_type("article")
                .title("Flight notes")
                .body("A zeppelin crossed the channel.")
                .build()
                .unwrap(),
        )
        .await;
    let in_title = w.item(article("The Zeppelin Era")).await;
    let in_field = w
        .item(
            NewContent::builder()
                .content_type("article")
                .title("Airships")
                .field("subject", serde_json::json!("zeppelins over London"))
                .build()
                .unwrap(),
        )
        .await;
    let unrelated = w.item(article("Steam engines")).await;
    // Another brand's item with the same word.
    let mut s = w.scope(w.other, w.b).await;
    let foreign = s
        .content()
        .create(&article("Zeppelin rival"))
        .await
        .unwrap();
    s.commit().await.unwrap();

    let mut s = w.scope(w.viewer, w.a).await;
    let hits = s.content().search("zeppelin", 10).await.unwrap();
    let ids: Vec<_> = hits.iter().map(|h| h.content.id).collect();
    assert_eq!(
        ids,
        [in_title.id, in_body.id, in_field.id],
        "title, body, fields"
    );
    assert!(hits.windows(2).all(|p| p[0].rank >= p[1].rank));
    assert!(!ids.contains(&foreign.id) && !ids.contains(&unrelated.id));
    assert_eq!(hits[0].content, in_title);
    // Web-search syntax, the limit, stop words only, and invalid input.
    // (ts_rank scores an AND with a negated term alike for both, so compare as a set.)
    let mut ids: Vec<_> = s
        .content()
        .search("zeppelin -channel", 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.content.id)
        .collect();
    ids.sort_by_key(|id| id.as_uuid());
    let mut expected = [in_title.id, in_field.id];
    expected.sort_by_key(|id| id.as_uuid());
    assert_eq!(ids, expected);
    assert_eq!(s.content().search("zeppelin", 1).await.unwrap().len(), 1);
    assert!(
        s.content()
            .search("the and of", 10)
            .await
            .unwrap()
            .is_empty()
    );
    for bad in [" ", "a\0b"] {
        let err = s.content().search(bad, 10).await.unwrap_err();
        assert!(
            err.validation().and_then(|v| v.get("query")).is_some(),
            "{err:?}"
        );
    }
    drop(s);

    // Edits and deletes reach the index; a user with no role finds nothing.
    let mut s = w.editor().await;
    let retitle = ContentPatch::builder().title("Balloons").build().unwrap();
    s.content().update(in_title.id, 1, &retitle).await.unwrap();
    let gone = s.content().soft_delete(in_body.id, 1).await.unwrap();
    let ids: Vec<_> = s
        .content()
        .search("zeppelin", 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.content.id)
        .collect();
    assert_eq!(ids, [in_field.id]);
    s.content().restore(in_body.id, gone.version).await.unwrap();
    assert_eq!(s.content().search("channel", 10).await.unwrap().len(), 1);
    s.commit().await.unwrap();
    let mut s = w.scope(w.stranger, w.a).await;
    assert!(s.content().search("zeppelin", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn create_many_inserts_a_thousand_rows_in_one_statement_in_the_given_order() {
    let w = world().await;
    let batch: Vec<NewContent> = (0..1000)
        .map(|i| {
            NewContent::builder()
                .content_type("social")
                .title(format!("Post {i}"))
                .tag(format!("batch-{}", i % 3))
                .category("Social")
                .metadata(SeoMetadata {
                    meta_title: Some(format!("Post {i}")),
                    ..Default::default()
                })
                .build()
                .unwrap()
        })
        .collect();
    let mut s = w.editor().await;
    let created = s.content().create_many(&batch).await.unwrap();
    assert_eq!(created.len(), 1000);
    for (i, c) in created.iter().enumerate() {
        assert_eq!(c.title, format!("Post {i}"));
        assert_eq!(c.tags, vec![format!("batch-{}", i % 3)]);
        assert_eq!(c.categories, vec!["Social"]);
        assert_eq!(c.metadata.0.meta_title.as_deref(), Some(c.title.as_str()));
        assert_eq!((c.brand_id, c.created_by, c.version), (w.a, w.editor, 1));
    }
    // Every row carries the command id of the statement that inserted it: one statement, one id.
    let (rows, statements): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT cmin::text::bigint) FROM mixerai.content WHERE type = 'social'",
    )
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!((rows, statements), (1000, 1));
    assert_eq!(s.content().search("post", 100).await.unwrap().len(), 100);
    assert!(s.content().create_many(&[]).await.unwrap().is_empty());
    s.commit().await.unwrap();
}

#[tokio::test]
async fn create_many_with_a_repeated_or_taken_slug_inserts_nothing() {
    let w = world().await;
    w.item(article("Taken")).await;
    for clash in ["Fresh 1", "Taken"] {
        let batch = vec![article("Fresh 1"), article("Fresh 2"), article(clash)];
        let mut s = w.editor().await;
        let err = s.content().create_many(&batch).await.unwrap_err();
        assert_eq!(conflict_on(&err), "content_brand_slug_key");
        drop(s);
    }
    let mut s = w.editor().await;
    let page = s
        .content()
        .list(&ContentFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "only the item created before");
    // A viewer may not bulk-create either.
    let mut s = w.scope(w.viewer, w.a).await;
    let err = s
        .content()
        .create_many(&[article("Fresh 3")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Title, body, tags, categories, meta title, og image.
    type Raw = (
        String,
        String,
        Vec<String>,
        Vec<String>,
        Option<String>,
        Option<String>,
    );

    fn input() -> impl Strategy<Value = Raw> {
        let text = prop_oneof![".{0,20}", "[a-zA-Z0-9 ]{1,20}"];
        (
            text.clone(),
            text.clone(),
            proptest::collection::vec(text.clone(), 0..4),
            proptest::collection::vec(text.clone(), 0..4),
            proptest::option::of(text.clone()),
            proptest::option::of(prop_oneof![
                ".{0,20}",
                "https://[a-z]{1,8}\\.com/[a-z]{0,8}"
            ]),
        )
    }

    fn build(
        (title, body, tags, categories, meta_title, og_image): &Raw,
    ) -> Result<NewContent, mixerai_data::ValidationErrors> {
        let mut b = NewContent::builder()
            .content_type("article")
            .title(title.clone())
            .body(body.clone())
            .field("f", serde_json::json!(body))
            .metadata(SeoMetadata {
                meta_title: meta_title.clone(),
                og_image: og_image.clone(),
                ..Default::default()
            });
        for t in tags {
            b = b.tag(t.clone());
        }
        for c in categories {
            b = b.category(c.clone());
        }
        b.build()
    }

    #[test]
    fn anything_built_round_trips_through_the_database_unchanged() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let w = rt.block_on(world());
        let mut runner = TestRunner::new(Config {
            cases: 24,
            ..Config::default()
        });
        runner
            .run(&input(), |raw| {
                let Ok(new) = build(&raw) else {
                    return Ok(());
                };
                rt.block_on(async {
                    let mut s = w.editor().await;
                    let created = s.content().create(&new).await.unwrap();
                    let read = s.content().get(created.id).await.unwrap();
                    prop_assert_eq!(&read, &created);
                    prop_assert_eq!(read.title.as_str(), raw.0.as_str());
                    prop_assert_eq!(read.body.as_deref(), Some(raw.1.as_str()));
                    prop_assert_eq!(&read.fields.0["f"], &serde_json::json!(raw.1));
                    prop_assert_eq!(read.metadata.0.meta_title, raw.4.clone());
                    let tags: Vec<String> = raw.2.iter().map(|t| t.trim().to_lowercase()).collect();
                    prop_assert!(read.tags.iter().all(|t| tags.contains(t)));
                    Ok(())
                })
            })
            .unwrap();
    }
}

mod from_template {
    use super::*;
    use mixerai_data::templates::{FieldType, FieldValidation, NewTemplate, TemplateField};
    use mixerai_data::types::TemplateId;
    use serde_json::json;

    /// An article template in brand A: a required headline of 3..=80 characters, a tone that is warm
    /// (the default) or cool, and a number of minutes between 1 and 60.
    async fn template(w: &World, active: bool) -> TemplateId {
        let new = NewTemplate::builder()
            .name("Article")
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
            .field(TemplateField {
                validation: Some(FieldValidation {
                    min: Some(1.0),
                    max: Some(60.0),
                    ..FieldValidation::default()
                }),
                ..TemplateField::new("minutes", "Reading time", FieldType::Number)
            })
            .content_type("article")
            .is_active(active)
            .build()
            .unwrap();
        let mut s = w.editor().await;
        let t = s.templates().create(&new).await.unwrap();
        s.commit().await.unwrap();
        t.id
    }

    async fn count(w: &World) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM mixerai.content")
            .fetch_one(w.db.database().pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn content_from_a_template_gets_its_defaults_and_records_the_template() {
        let w = world().await;
        let t = template(&w, true).await;
        let mut s = w.editor().await;
        let new = NewContent::builder()
            .content_type("article")
            .title("Engines")
            .field("headline", json!("On engines"))
            .field("minutes", json!(12))
            .build()
            .unwrap();
        let c = s.content().create_from_template(t, &new).await.unwrap();
        assert_eq!(c.template_id, Some(t));
        assert_eq!(
            serde_json::Value::Object(c.fields.0.clone()),
            json!({"headline": "On engines", "tone": "warm", "minutes": 12})
        );
        assert_eq!(s.content().get(c.id).await.unwrap(), c);
        s.commit().await.unwrap();
    }

    #[tokio::test]
    async fn every_violation_of_the_template_is_reported_together_and_nothing_is_written() {
        let w = world().await;
        let t = template(&w, false).await;
        let mut s = w.editor().await;
        let new = NewContent::builder()
            .content_type("recipe")
            .title("Engines")
            .field("tone", json!("hot"))
            .field("minutes", json!(600))
            .field("colour", json!("red"))
            .build()
            .unwrap();
        let err = s.content().create_from_template(t, &new).await.unwrap_err();
        let errors = err.validation().expect("invalid");
        for field in [
            "template_id",
            "type",
            "fields.headline",
            "fields.tone",
            "fields.minutes",
            "fields.colour",
        ] {
            assert!(errors.get(field).is_some(), "{field} missing from {errors}");
        }
        drop(s);
        assert_eq!(count(&w).await, 0);
    }

    #[tokio::test]
    async fn another_brands_template_is_not_found() {
        let w = world().await;
        let t = template(&w, true).await;
        let mut s = w.scope(w.other, w.b).await;
        let new = NewContent::builder()
            .content_type("article")
            .title("Engines")
            .field("headline", json!("On engines"))
            .build()
            .unwrap();
        let err = s.content().create_from_template(t, &new).await.unwrap_err();
        assert!(
            matches!(err, Error::NotFound { entity: "template" }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn new_fields_of_templated_content_are_checked_against_its_template() {
        let w = world().await;
        let t = template(&w, true).await;
        let mut s = w.editor().await;
        let new = NewContent::builder()
            .content_type("article")
            .title("Engines")
            .field("headline", json!("On engines"))
            .build()
            .unwrap();
        let c = s.content().create_from_template(t, &new).await.unwrap();
        let mut bad = serde_json::Map::new();
        bad.insert("headline".into(), json!("no"));
        let patch = ContentPatch::builder().fields(bad).build().unwrap();
        let err = s
            .content()
            .update(c.id, c.version, &patch)
            .await
            .unwrap_err();
        assert!(
            err.validation()
                .and_then(|e| e.get("fields.headline"))
                .is_some(),
            "{err:?}"
        );
        let mut good = serde_json::Map::new();
        good.insert("headline".into(), json!("On engines, revised"));
        let patch = ContentPatch::builder().fields(good).build().unwrap();
        let updated = s.content().update(c.id, c.version, &patch).await.unwrap();
        assert_eq!(updated.fields.0["headline"], json!("On engines, revised"));
        assert_eq!(updated.version, c.version + 1);
    }
}
