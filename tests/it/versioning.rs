//! Content versioning and the publishing lifecycle (issue 12), as the application role through
//! scopes: the transition table (through the crate and as raw SQL), history, diff and restore,
//! drafts of published items, concurrent saves, approvals pinned to a version, scheduled publishing
//! and the job, and the immutability of the version log.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use mixerai_data::content::{
    ChangeKind, Content, ContentPatch, ContentStatus, Diffed, JobAction, NewContent, TRANSITIONS,
    publish_due,
};
use mixerai_data::page::PageRequest;
use mixerai_data::test_support::{TestDatabase, TestServer};
use mixerai_data::types::{BrandId, ContentId, UserId};
use mixerai_data::{Error, Scope};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::support::{admin_pool, fresh_db, insert_brand, insert_role, insert_user, pool};

use ContentStatus::{
    Approved, Archived, Draft, InReview, PendingReview, Published, Rejected, Scheduled,
};

const ALL: [ContentStatus; 8] = [
    Draft,
    PendingReview,
    InReview,
    Approved,
    Scheduled,
    Published,
    Archived,
    Rejected,
];

/// Brand A with an admin, an editor and a viewer; brand B with an editor.
struct World {
    db: TestDatabase,
    a: BrandId,
    admin: UserId,
    editor: UserId,
    viewer: UserId,
}

async fn world() -> World {
    let db = fresh_db().await;
    let p = pool(&db);
    let admin = insert_user(p, "admin@example.com").await;
    let editor = insert_user(p, "editor@example.com").await;
    let viewer = insert_user(p, "viewer@example.com").await;
    let other = insert_user(p, "other@example.com").await;
    let a = insert_brand(p, "brand-a", admin).await;
    let b = insert_brand(p, "brand-b", other).await;
    insert_role(p, admin, a, "admin").await;
    insert_role(p, editor, a, "editor").await;
    insert_role(p, viewer, a, "viewer").await;
    insert_role(p, other, b, "editor").await;
    World {
        db,
        a: BrandId::from_uuid(a),
        admin: UserId::from_uuid(admin),
        editor: UserId::from_uuid(editor),
        viewer: UserId::from_uuid(viewer),
    }
}

impl World {
    async fn scope(&self, user: UserId) -> Scope {
        self.db.database().scope(user, self.a).await.unwrap()
    }

    /// A committed draft in brand A, created by the editor.
    async fn item(&self, title: &str) -> Content {
        let mut s = self.scope(self.editor).await;
        let c = s
            .content()
            .create(
                &NewContent::builder()
                    .content_type("article")
                    .title(title)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        s.commit().await.unwrap();
        c
    }
}

fn patch_title(title: &str) -> ContentPatch {
    ContentPatch::builder().title(title).build().unwrap()
}

/// Takes a draft through review to published: submit and publish by `editor`, review and approval
/// by a new admin of `brand`. Used by other modules' tests that need a published item.
pub async fn publish_through_review(
    db: &TestDatabase,
    editor: UserId,
    brand: BrandId,
    id: ContentId,
) {
    let admin = UserId::from_uuid(
        insert_user(
            pool(db),
            &format!("reviewer-{}@example.com", Uuid::new_v4().simple()),
        )
        .await,
    );
    insert_role(pool(db), admin.as_uuid(), brand.as_uuid(), "admin").await;
    let mut s = db.database().scope(editor, brand).await.unwrap();
    let c = s.content().get(id).await.unwrap();
    let c = s.content().submit(id, c.version).await.unwrap();
    s.commit().await.unwrap();
    let mut s = db.database().scope(admin, brand).await.unwrap();
    let c = s.content().start_review(id, c.version).await.unwrap();
    let c = s.content().approve(id, c.version).await.unwrap();
    s.commit().await.unwrap();
    let mut s = db.database().scope(editor, brand).await.unwrap();
    s.content().publish(id, c.version).await.unwrap();
    s.commit().await.unwrap();
}

/// Brings a new item to `status` inside `s` (an admin's scope), by legal steps only.
async fn item_in(s: &mut Scope, slug: &str, status: ContentStatus) -> Content {
    let new = NewContent::builder()
        .content_type("article")
        .title(format!("Item {slug}"))
        .slug(slug)
        .build()
        .unwrap();
    let mut c = s.content().create(&new).await.unwrap();
    let path: &[ContentStatus] = match status {
        Draft => &[],
        PendingReview => &[PendingReview],
        InReview => &[PendingReview, InReview],
        Approved => &[PendingReview, InReview, Approved],
        Scheduled => &[PendingReview, InReview, Approved, Scheduled],
        Published => &[PendingReview, InReview, Approved, Published],
        Archived => &[PendingReview, InReview, Approved, Published, Archived],
        Rejected => &[PendingReview, InReview, Rejected],
    };
    for to in path {
        c = step_to(s, &c, *to).await.unwrap();
    }
    assert_eq!(c.status, status);
    c
}

/// The crate's named step that leads from `c`'s status to `to` (or, where the table has none, the
/// method whose target `to` is, so it is refused).
async fn step_to(s: &mut Scope, c: &Content, to: ContentStatus) -> Result<Content, Error> {
    let (id, v) = (c.id, c.version);
    let mut repo = s.content();
    match (c.status, to) {
        (_, PendingReview) if c.status == Approved => repo.revoke_approval(id, v).await,
        (_, PendingReview) => repo.submit(id, v).await,
        (PendingReview, Draft) => repo.withdraw(id, v).await,
        (Archived, Draft) => repo.reopen(id, v).await,
        (_, Draft) => repo.revise(id, v).await,
        (_, InReview) => repo.start_review(id, v).await,
        (Scheduled, Approved) => repo.unschedule(id, v).await,
        (_, Approved) => repo.approve(id, v).await,
        (_, Rejected) => repo.reject(id, v).await,
        (_, Scheduled) => repo.schedule(id, v, Utc::now() + Duration::days(1)).await,
        (_, Published) => repo.publish(id, v).await,
        (_, Archived) => repo.unpublish(id, v).await,
    }
}

/// Whether the table lets a statement move an item from `from` to `to` (edits and discards are not
/// requested by status).
fn requestable(from: ContentStatus, to: ContentStatus) -> bool {
    TRANSITIONS
        .iter()
        .any(|t| t.from == from && t.to == to && t.action != "edit" && t.action != "discard")
}

async fn run(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_transition_table_in_the_crate_is_the_one_the_database_enforces() {
    let w = world().await;
    let rows: Vec<(String, String, String, String, bool)> = sqlx::query_as(
        "SELECT from_status, action, to_status, least_role, by_job FROM mixerai.content_transitions
         ORDER BY from_status, action",
    )
    .fetch_all(pool(&w.db))
    .await
    .unwrap();
    let mut ours: Vec<(String, String, String, String, bool)> = TRANSITIONS
        .iter()
        .map(|t| {
            (
                t.from.as_str().to_owned(),
                t.action.to_owned(),
                t.to.as_str().to_owned(),
                t.least_role.as_str().to_owned(),
                t.by_job,
            )
        })
        .collect();
    ours.sort();
    assert_eq!(rows, ours);
}

#[tokio::test]
async fn every_legal_and_illegal_transition_through_the_crate_and_as_raw_sql() {
    let w = world().await;
    let mut s = w.scope(w.admin).await;
    let mut legal = 0;
    for from in ALL {
        let item = item_in(
            &mut s,
            &format!("from-{}", from.as_str().replace('_', "-")),
            from,
        )
        .await;
        for to in ALL {
            // Through the crate's named step.
            run(s.connection(), "SAVEPOINT t").await;
            let crate_result = step_to(&mut s, &item, to).await;
            run(s.connection(), "ROLLBACK TO SAVEPOINT t").await;
            // As raw SQL by the application role: set the status (and a time, for a schedule).
            run(s.connection(), "SAVEPOINT t").await;
            let raw: Result<(String, i32), Error> = sqlx::query_as(
                "UPDATE mixerai.content SET status = $2,
                     scheduled_for = CASE WHEN $2 = 'scheduled' THEN now() + interval '1 day' ELSE scheduled_for END
                 WHERE id = $1 RETURNING status, version",
            )
            .bind(item.id)
            .bind(to.as_str())
            .fetch_one(s.connection())
            .await
            .map_err(Error::from);
            run(s.connection(), "ROLLBACK TO SAVEPOINT t").await;

            if from == to {
                assert!(
                    matches!(crate_result, Err(Error::IllegalTransition { from: f, to: t }) if f == from && t == to),
                    "{from:?} to itself: {crate_result:?}"
                );
                continue;
            }
            if requestable(from, to) {
                legal += 1;
                let moved = crate_result.unwrap_or_else(|e| panic!("{from:?} -> {to:?}: {e:?}"));
                assert_eq!((moved.status, moved.version), (to, item.version + 1));
                let (status, _) = raw.unwrap_or_else(|e| panic!("raw {from:?} -> {to:?}: {e:?}"));
                assert_eq!(status, to.as_str());
            } else {
                let crate_err = crate_result.unwrap_err();
                let raw_err = raw.unwrap_err();
                for err in [&crate_err, &raw_err] {
                    assert!(
                        matches!(err, Error::IllegalTransition { from: f, to: t } if *f == from && *t == to)
                            // Unpublishing needs something live: refused as the step to archived.
                            || (to == Archived && matches!(err, Error::IllegalTransition { to: Archived, .. })),
                        "{from:?} -> {to:?}: {err:?}"
                    );
                }
                assert_eq!(
                    crate_err.to_string(),
                    format!(
                        "content cannot go from {} to {}",
                        from.as_str(),
                        to.as_str()
                    )
                );
            }
        }
    }
    assert_eq!(legal, 13, "every requestable row of the table was taken");
}

#[tokio::test]
async fn who_may_take_each_step_is_the_least_role_of_the_table() {
    let w = world().await;
    let mut admin = w.scope(w.admin).await;
    for t in TRANSITIONS
        .iter()
        .filter(|t| t.action != "edit" && t.action != "discard")
    {
        let slug = format!("who-{}-{}", t.from.as_str(), t.action).replace('_', "-");
        let item = item_in(&mut admin, &slug, t.from).await;
        admin.commit().await.unwrap();
        for (user, allowed) in [
            (w.viewer, false),
            (
                w.editor,
                t.least_role == mixerai_data::brands::BrandRole::Editor,
            ),
            (w.admin, true),
        ] {
            let mut s = w.scope(user).await;
            let result = step_to(&mut s, &item, t.to).await;
            match (allowed, result) {
                (true, Ok(c)) => assert_eq!(c.status, t.to),
                (false, Err(Error::Forbidden { .. })) => {}
                (allowed, other) => panic!("{t:?} by {user:?} (allowed {allowed}): {other:?}"),
            }
        }
        admin = w.scope(w.admin).await;
    }
    // The job (a system scope) may take the job's steps only: not an approval.
    let item = item_in(&mut admin, "job-approves", InReview).await;
    admin.commit().await.unwrap();
    let mut system = w.db.database().system_scope().await.unwrap();
    let err = sqlx::query("UPDATE mixerai.content SET status = 'approved' WHERE id = $1")
        .bind(item.id)
        .execute(system.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn publication_columns_and_pointers_are_set_by_the_lifecycle_only() {
    let w = world().await;
    let item = w.item("Hand set").await;
    let mut s = w.scope(w.admin).await;
    for sql in [
        "UPDATE mixerai.content SET published_at = now() WHERE id = $1",
        "UPDATE mixerai.content SET published_by = updated_by WHERE id = $1",
        "UPDATE mixerai.content SET live_version = 1 WHERE id = $1",
        "UPDATE mixerai.content SET approved_version = 1 WHERE id = $1",
        "UPDATE mixerai.content SET latest_version = 2 WHERE id = $1",
    ] {
        run(s.connection(), "SAVEPOINT t").await;
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(item.id)
            .execute(s.connection())
            .await
            .map_err(Error::from)
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{sql}: {err:?}");
        run(s.connection(), "ROLLBACK TO SAVEPOINT t").await;
    }
    // A new item starts as a draft; a save and a transition are two statements.
    let err = sqlx::query(
        "INSERT INTO mixerai.content (brand_id, type, title, slug, status, created_by, updated_by)
         VALUES ($1, 'article', 'Born live', 'born-live', 'published', $2, $2)",
    )
    .bind(w.a)
    .bind(w.admin)
    .execute(s.connection())
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert_eq!(
        err.validation().unwrap().errors()[0].field,
        "status",
        "{err:?}"
    );
    drop(s);
    let mut s = w.scope(w.admin).await;
    let err = sqlx::query(
        "UPDATE mixerai.content SET title = 'x', status = 'pending_review' WHERE id = $1",
    )
    .bind(item.id)
    .execute(s.connection())
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert_eq!(
        err.validation().unwrap().errors()[0].field,
        "status",
        "{err:?}"
    );
}

#[tokio::test]
async fn history_diff_and_restore_record_every_save_and_never_rewrite_it() {
    let w = world().await;
    let mut s = w.scope(w.editor).await;
    let v1 = s
        .content()
        .create(
            &NewContent::builder()
                .content_type("recipe")
                .title("Soup")
                .body("Boil water.\nAdd salt.")
                .tag("starter")
                .field("servings", json!(2))
                .note("first draft")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let v2 = s
        .content()
        .update(
            v1.id,
            v1.version,
            &ContentPatch::builder()
                .body("Boil water.\nAdd leeks.\nAdd salt.")
                .tags(["starter", "winter"])
                .field("servings", json!(4))
                .note("leeks")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // Not a save: no new version, but the token moves.
    let slugged = s
        .content()
        .update(
            v2.id,
            v2.version,
            &ContentPatch::builder().slug("leek-soup").build().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((slugged.version, slugged.latest_version), (3, 2));
    let v4 = s
        .content()
        .update(v1.id, 3, &patch_title("Leek soup"))
        .await
        .unwrap();
    assert_eq!(
        (v4.version, v4.latest_version, v4.version_note),
        (4, 4, None)
    );
    s.commit().await.unwrap();

    let mut s = w.scope(w.viewer).await;
    let first = s
        .content()
        .history(v1.id, &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [4, 2]
    );
    let rest = s
        .content()
        .history(v1.id, &PageRequest::first(2).after(first.next.unwrap()))
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1]
    );
    assert!(rest.next.is_none());
    let one = s.content().get_version(v1.id, 1).await.unwrap();
    assert_eq!(
        (one.title.as_str(), one.note.as_deref(), one.created_by),
        ("Soup", Some("first draft"), Some(w.editor))
    );
    assert_eq!(one.content_hash.to_string().len(), 64);
    assert!(matches!(
        s.content().get_version(v1.id, 3).await.unwrap_err(),
        Error::NotFound {
            entity: "content version"
        }
    ));

    let d = s.content().diff(v1.id, 1, 2).await.unwrap();
    let by_path = |p: &str| d.changes.iter().find(|c| c.path == p).map(|c| &c.kind);
    let Some(ChangeKind::Text { lines, .. }) = by_path("body") else {
        panic!("{d:#?}")
    };
    assert_eq!(
        lines,
        &[
            Diffed::Same("Boil water.".to_owned()),
            Diffed::Added("Add leeks.".to_owned()),
            Diffed::Same("Add salt.".to_owned())
        ]
    );
    assert_eq!(
        by_path("tags"),
        Some(&ChangeKind::List {
            elements: vec![
                Diffed::Same(json!("starter")),
                Diffed::Added(json!("winter"))
            ]
        })
    );
    assert_eq!(
        by_path("fields.servings"),
        Some(&ChangeKind::Changed {
            old: json!(2),
            new: json!(4)
        })
    );
    assert_eq!(d.changes.len(), 3, "{d:#?}");
    assert!(
        s.content()
            .diff(v1.id, 2, 2)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    drop(s);

    // Restore version 1: a new version 5 with version 1's content; 1..4 as they were.
    let mut s = w.scope(w.editor).await;
    let restored = s
        .content()
        .restore_version(v1.id, 4, 1, Some("back to basics"))
        .await
        .unwrap();
    assert_eq!((restored.version, restored.latest_version), (5, 5));
    assert_eq!(
        (restored.title.as_str(), restored.tags.clone()),
        ("Soup", vec!["starter".to_owned()])
    );
    let five = s.content().get_version(v1.id, 5).await.unwrap();
    assert_eq!(
        five.content_hash, one.content_hash,
        "the same content, the same hash"
    );
    assert_eq!(five.note.as_deref(), Some("back to basics"));
    assert_eq!(s.content().get_version(v1.id, 1).await.unwrap(), one);
    assert!(
        s.content()
            .diff(v1.id, 1, 5)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    // Restoring what the head holds writes nothing; a stale restore and a missing version are refused.
    let same = s
        .content()
        .restore_version(v1.id, 5, 1, None)
        .await
        .unwrap();
    assert_eq!(same.version, 5);
    assert!(matches!(
        s.content()
            .restore_version(v1.id, 4, 2, None)
            .await
            .unwrap_err(),
        Error::Stale {
            expected: 4,
            actual: 5,
            ..
        }
    ));
    assert!(matches!(
        s.content()
            .restore_version(v1.id, 5, 3, None)
            .await
            .unwrap_err(),
        Error::NotFound {
            entity: "content version"
        }
    ));
    s.commit().await.unwrap();
}

#[tokio::test]
async fn a_diff_still_works_after_the_template_changed_fields_retyped_renamed_and_reordered() {
    let w = world().await;
    let p = pool(&w.db);
    let mut templates = Vec::new();
    for name in ["Recipe v1", "Recipe v2"] {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ($1, ARRAY[$2], $3) RETURNING id",
        )
        .bind(name)
        .bind(w.a)
        .bind(w.admin)
        .fetch_one(p)
        .await
        .unwrap();
        templates.push(id);
    }
    let item = w.item("Stew").await;
    let mut s = w.scope(w.editor).await;
    // Version 2 follows template 1, version 3 template 2: `minutes` retyped, `level` renamed to
    // `difficulty`, the blocks reordered and one retyped. Written as raw SQL: a save whatever the path.
    for (template, fields) in [
        (
            templates[0],
            json!({"minutes": 10, "level": "easy", "blocks": [{"type": "text", "v": "a"}, {"type": "image", "v": "b"}]}),
        ),
        (
            templates[1],
            json!({"minutes": "ten", "difficulty": "easy", "blocks": [{"type": "image", "v": "b"}, {"type": "quote", "v": "a"}]}),
        ),
    ] {
        sqlx::query("UPDATE mixerai.content SET template_id = $2, fields = $3 WHERE id = $1")
            .bind(item.id)
            .bind(template)
            .bind(fields)
            .execute(s.connection())
            .await
            .unwrap();
    }
    let d = s.content().diff(item.id, 2, 3).await.unwrap();
    let kinds: Vec<(&str, &ChangeKind)> = d
        .changes
        .iter()
        .map(|c| (c.path.as_str(), &c.kind))
        .collect();
    assert!(
        kinds.contains(&(
            "fields.minutes",
            &ChangeKind::Changed {
                old: json!(10),
                new: json!("ten")
            }
        )),
        "{d:#?}"
    );
    assert!(
        kinds.contains(&("fields.level", &ChangeKind::Removed { old: json!("easy") })),
        "{d:#?}"
    );
    assert!(
        kinds.contains(&(
            "fields.difficulty",
            &ChangeKind::Added { new: json!("easy") }
        )),
        "{d:#?}"
    );
    assert!(kinds.iter().any(|(p, _)| *p == "template_id"), "{d:#?}");
    let Some((_, ChangeKind::List { elements })) =
        kinds.iter().find(|(p, _)| *p == "fields.blocks")
    else {
        panic!("{d:#?}")
    };
    assert_eq!(
        elements,
        &[
            Diffed::Removed(json!({"type": "text", "v": "a"})),
            Diffed::Same(json!({"type": "image", "v": "b"})),
            Diffed::Added(json!({"type": "quote", "v": "a"})),
        ]
    );
    // Each version records the template it followed, at that template's version.
    let two = s.content().get_version(item.id, 2).await.unwrap();
    let three = s.content().get_version(item.id, 3).await.unwrap();
    assert_eq!(two.template_id.map(|t| t.as_uuid()), Some(templates[0]));
    assert_eq!(three.template_id.map(|t| t.as_uuid()), Some(templates[1]));
    assert_eq!(
        (two.template_version, three.template_version),
        (Some(1), Some(1))
    );
    // Restoring across the template change brings the old template back too.
    let restored = s
        .content()
        .restore_version(item.id, 3, 2, None)
        .await
        .unwrap();
    assert_eq!(
        restored.template_id.map(|t| t.as_uuid()),
        Some(templates[0])
    );
}

#[tokio::test]
async fn a_draft_of_a_published_item_leaves_the_live_version_serving_until_publish_and_after_discard()
 {
    let w = world().await;
    let item = w.item("Launch").await;
    publish_through_review(&w.db, w.editor, w.a, item.id).await;
    let mut s = w.scope(w.editor).await;
    let live = s.content().get(item.id).await.unwrap();
    assert_eq!(
        (live.status, live.live_version, live.latest_version),
        (Published, Some(1), 1)
    );
    let published_at = live.published_at.expect("stamped by publishing");

    // Edit: a draft; readers of the published item still get version 1.
    let draft = s
        .content()
        .update(item.id, live.version, &patch_title("Launch, revised"))
        .await
        .unwrap();
    assert_eq!((draft.status, draft.live_version), (Draft, Some(1)));
    let served = s.content().get_live(item.id).await.unwrap();
    assert_eq!(
        (served.version.title.as_str(), served.version.version),
        ("Launch", 1)
    );
    assert_eq!(
        s.content().get_live_by_slug(&item.slug).await.unwrap(),
        served
    );
    assert_eq!(
        s.content().get(item.id).await.unwrap().title,
        "Launch, revised"
    );
    let listed = s
        .content()
        .list_live(&PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&served));

    // Discard: the head holds the live content again; the live version was never touched.
    let discarded = s
        .content()
        .discard_draft(item.id, draft.version)
        .await
        .unwrap();
    assert_eq!(
        (
            discarded.status,
            discarded.title.as_str(),
            discarded.latest_version,
            discarded.live_version
        ),
        (Published, "Launch", 1, Some(1))
    );
    assert_eq!(
        s.content().get_live(item.id).await.unwrap().version,
        served.version
    );
    assert!(matches!(
        s.content()
            .discard_draft(item.id, discarded.version)
            .await
            .unwrap_err(),
        Error::IllegalTransition {
            from: Published,
            to: Published
        }
    ));
    // The discarded draft stays in the history.
    assert_eq!(
        s.content()
            .get_version(item.id, draft.version)
            .await
            .unwrap()
            .title,
        "Launch, revised"
    );

    // A new draft, through review: publishing switches the live pointer, the first date stays.
    let draft = s
        .content()
        .update(item.id, discarded.version, &patch_title("Launch 2"))
        .await
        .unwrap();
    s.commit().await.unwrap();
    assert_eq!(
        w.scope(w.viewer)
            .await
            .content()
            .get_live(item.id)
            .await
            .unwrap()
            .version
            .title,
        "Launch"
    );
    publish_through_review(&w.db, w.editor, w.a, item.id).await;
    let mut s = w.scope(w.viewer).await;
    let now_live = s.content().get_live(item.id).await.unwrap();
    assert_eq!(
        (now_live.version.title.as_str(), now_live.version.version),
        ("Launch 2", draft.version)
    );
    assert_eq!(now_live.published_at, published_at);
    drop(s);

    // Unpublishing takes it down: archived, nothing live.
    let mut s = w.scope(w.admin).await;
    let head = s.content().get(item.id).await.unwrap();
    let down = s.content().unpublish(item.id, head.version).await.unwrap();
    assert_eq!((down.status, down.live_version), (Archived, None));
    assert!(matches!(
        s.content().get_live(item.id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[tokio::test]
async fn two_concurrent_saves_from_one_base_exactly_one_is_stale_and_one_version_is_written() {
    let w = Arc::new(world().await);
    let item = w.item("Contended").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for title in ["One", "Two"] {
        let (w, barrier) = (w.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = w.scope(w.editor).await;
            let read = s.content().get(item.id).await.unwrap();
            barrier.wait().await;
            let result = s
                .content()
                .update(read.id, read.version, &patch_title(title))
                .await;
            if result.is_ok() {
                s.commit().await.unwrap();
            }
            result.map(|c| c.title)
        }));
    }
    let mut won = Vec::new();
    let mut stale = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(title) => won.push(title),
            Err(Error::Stale {
                expected: 1,
                actual: 2,
                ..
            }) => stale += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((won.len(), stale), (1, 1));
    let mut s = w.scope(w.viewer).await;
    let history = s
        .content()
        .history(item.id, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        history.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(history.items[0].title, won[0]);
}

#[tokio::test]
async fn an_edit_after_approval_voids_it_and_sends_the_item_back_to_review() {
    let w = world().await;
    let mut s = w.scope(w.admin).await;
    let approved = item_in(&mut s, "approved", Approved).await;
    let approval = s
        .content()
        .approval(approved.id)
        .await
        .unwrap()
        .expect("standing");
    let v1 = s.content().get_version(approved.id, 1).await.unwrap();
    assert_eq!((approval.version, approval.approved_by), (1, Some(w.admin)));
    assert_eq!(approval.content_hash, v1.content_hash);
    s.commit().await.unwrap();

    let mut s = w.scope(w.editor).await;
    let edited = s
        .content()
        .update(approved.id, approved.version, &patch_title("Changed"))
        .await
        .unwrap();
    assert_eq!(
        (edited.status, edited.approved_version),
        (PendingReview, None)
    );
    assert_eq!(s.content().approval(approved.id).await.unwrap(), None);
    let all = s.content().approvals(approved.id).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].voided_by, all[0].voided_at_version),
        (Some(w.editor), Some(edited.version))
    );
    assert!(all[0].voided_at.is_some());
    // Nothing stands to publish or schedule: the edit must be reviewed first.
    assert!(matches!(
        s.content()
            .publish(approved.id, edited.version)
            .await
            .unwrap_err(),
        Error::IllegalTransition {
            from: PendingReview,
            to: Published
        }
    ));
    // Raw SQL cannot make the old approval stand again.
    drop(s);
    let mut s = w.scope(w.editor).await;
    let err =
        sqlx::query("UPDATE mixerai.content_approvals SET voided_at = NULL WHERE content_id = $1")
            .bind(approved.id)
            .execute(s.connection())
            .await
            .map_err(Error::from)
            .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn a_scheduled_publish_ships_the_approved_version_not_a_later_edit() {
    let w = world().await;
    let mut s = w.scope(w.admin).await;
    let approved = item_in(&mut s, "campaign", Approved).await;
    let at = Utc::now() + Duration::hours(1);
    let scheduled = s
        .content()
        .schedule(approved.id, approved.version, at)
        .await
        .unwrap();
    assert_eq!(
        (scheduled.scheduled_version, scheduled.status),
        (Some(1), Scheduled)
    );
    s.commit().await.unwrap();

    // An edit after scheduling: a draft back in review; the schedule keeps its approved version.
    let mut s = w.scope(w.editor).await;
    let edited = s
        .content()
        .update(approved.id, scheduled.version, &patch_title("Unreviewed"))
        .await
        .unwrap();
    assert_eq!(
        (edited.status, edited.scheduled_version),
        (PendingReview, Some(1))
    );
    s.commit().await.unwrap();

    // Not due yet: nothing happens.
    let early = publish_due(w.db.database(), Utc::now(), 100, |_| {})
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let report = publish_due(w.db.database(), at + Duration::seconds(1), 100, |_| {})
        .await
        .unwrap();
    assert_eq!(report.published.len(), 1);
    assert_eq!(
        (report.published[0].content_id, report.published[0].version),
        (approved.id, 1)
    );

    let mut s = w.scope(w.viewer).await;
    let live = s.content().get_live(approved.id).await.unwrap();
    assert_eq!(
        (live.version.version, live.version.title.as_str()),
        (1, "Item campaign")
    );
    let head = s.content().get(approved.id).await.unwrap();
    assert_eq!(
        (head.title.as_str(), head.status, head.scheduled_version),
        ("Unreviewed", PendingReview, None)
    );
    assert!(head.published_at.is_some());
    // The approval that went live stands as the record of what was approved.
    assert!(
        s.content().approvals(approved.id).await.unwrap()[0]
            .voided_at
            .is_none()
    );
    drop(s);
    // Ran again: nothing left to do.
    let again = publish_due(w.db.database(), at + Duration::seconds(2), 100, |_| {})
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn publish_due_from_four_workers_over_a_thousand_due_items_publishes_each_exactly_once() {
    let w = world().await;
    let items: Vec<NewContent> = (0..1000)
        .map(|i| {
            NewContent::builder()
                .content_type("article")
                .title(format!("Due {i}"))
                .build()
                .unwrap()
        })
        .collect();
    let mut s = w.scope(w.editor).await;
    s.content().create_many(&items).await.unwrap();
    // Set-based transitions as raw SQL: each row still goes through the lifecycle trigger.
    run(
        s.connection(),
        "UPDATE mixerai.content SET status = 'pending_review'",
    )
    .await;
    s.commit().await.unwrap();
    let mut s = w.scope(w.admin).await;
    run(
        s.connection(),
        "UPDATE mixerai.content SET status = 'in_review'",
    )
    .await;
    run(
        s.connection(),
        "UPDATE mixerai.content SET status = 'approved'",
    )
    .await;
    run(
        s.connection(),
        "UPDATE mixerai.content SET status = 'scheduled', scheduled_for = now() - interval '1 hour'",
    )
    .await;
    // A tenth of them also expire, in the future: not taken down by this run.
    run(s.connection(), "UPDATE mixerai.content SET expires_at = now() + interval '1 day' WHERE title LIKE 'Due %0'").await;
    s.commit().await.unwrap();

    let now = Utc::now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let db = w.db.database().clone();
        workers.push(tokio::spawn(async move {
            let mut batches = 0;
            let report = publish_due(&db, now, 50, |_| batches += 1).await.unwrap();
            (report, batches)
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        let (report, batches) = worker.await.unwrap();
        assert!(
            report.failed.is_empty() && report.archived.is_empty(),
            "{report:?}"
        );
        assert!(
            batches >= report.published.len() / 50,
            "progress after every batch"
        );
        total += report.published.len();
        seen.extend(report.published.iter().map(|i| i.content_id));
    }
    assert_eq!((total, seen.len()), (1000, 1000), "each item exactly once");
    let p = pool(&w.db);
    let (live, publications): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mixerai.content WHERE status = 'published' AND live_version = 1
                   AND scheduled_version IS NULL),
                (SELECT count(*) FROM mixerai.events
                 WHERE aggregate_type = 'content' AND payload -> 'changed_fields' ? 'live_version')",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(
        (live, publications),
        (1000, 1000),
        "one audited publication per item"
    );

    // The expiries come due: taken down, each once.
    let later = now + Duration::days(2);
    let report = publish_due(w.db.database(), later, 1000, |_| {})
        .await
        .unwrap();
    assert_eq!((report.archived.len(), report.published.len()), (100, 0));
    let archived: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.content WHERE status = 'archived' AND live_version IS NULL AND expires_at IS NULL",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(archived, 100);
}

#[tokio::test]
async fn a_refused_publication_is_recorded_the_others_go_on_and_it_is_given_up_after_five_attempts()
{
    let w = world().await;
    let mut s = w.scope(w.admin).await;
    let mut ids = Vec::new();
    for slug in ["good-one", "tampered", "good-two"] {
        let c = item_in(&mut s, slug, Approved).await;
        let c = s
            .content()
            .schedule(c.id, c.version, Utc::now() - Duration::minutes(5))
            .await
            .unwrap();
        ids.push(c.id);
    }
    s.commit().await.unwrap();
    // Someone with the superuser's powers changes what was approved behind the database's back.
    let admin = admin_pool(&w.db);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; SET LOCAL session_replication_role = replica;
         UPDATE mixerai.content_versions SET title = 'Tampered' WHERE content_id = '{}'; COMMIT;",
        ids[1]
    )))
    .execute(&admin)
    .await
    .unwrap();

    let report = publish_due(w.db.database(), Utc::now(), 10, |_| {})
        .await
        .unwrap();
    assert_eq!(report.published.len(), 2, "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].content_id, report.failed[0].action),
        (ids[1], JobAction::Publish)
    );
    for attempt in 2..=5 {
        let report = publish_due(w.db.database(), Utc::now(), 10, |_| {})
            .await
            .unwrap();
        assert_eq!(report.failed.len(), 1, "attempt {attempt}");
    }
    let report = publish_due(w.db.database(), Utc::now(), 10, |_| {})
        .await
        .unwrap();
    assert!(report.is_empty(), "given up: {report:?}");
    let mut s = w.scope(w.viewer).await;
    let (attempts, error): (i64, String) = sqlx::query_as(
        "SELECT attempts, last_error FROM mixerai.content_publish_failures WHERE content_id = $1",
    )
    .bind(ids[1])
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(attempts, 5);
    assert!(error.contains("no standing approval"), "{error}");
    assert!(s.content().get_live(ids[1]).await.is_err());
}

#[tokio::test]
async fn version_rows_and_approvals_cannot_be_changed_or_deleted_by_the_application_role() {
    let w = world().await;
    let mut s = w.scope(w.admin).await;
    let item = item_in(&mut s, "kept", Approved).await;
    s.commit().await.unwrap();
    for user in [w.editor, w.admin] {
        let mut s = w.scope(user).await;
        for sql in [
            "UPDATE mixerai.content_versions SET title = 'Rewritten'",
            "DELETE FROM mixerai.content_versions",
            "INSERT INTO mixerai.content_versions (content_id, brand_id, version, title, fields, metadata, tags, categories, content_hash)
             SELECT content_id, brand_id, 99, title, fields, metadata, tags, categories, content_hash FROM mixerai.content_versions",
            "UPDATE mixerai.content_approvals SET version = 1",
            "DELETE FROM mixerai.content_approvals",
            "TRUNCATE mixerai.content_versions CASCADE",
        ] {
            run(s.connection(), "SAVEPOINT t").await;
            let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(s.connection())
                .await
                .map_err(Error::from)
                .unwrap_err();
            assert!(matches!(err, Error::Forbidden { .. }), "{sql}: {err:?}");
            run(s.connection(), "ROLLBACK TO SAVEPOINT t").await;
        }
    }
    // Not even the owner changes a version, nor deletes one while its item exists.
    for sql in [
        "UPDATE mixerai.content_versions SET title = 'Rewritten'",
        "DELETE FROM mixerai.content_versions",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool(&w.db))
            .await
            .map_err(Error::from)
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{sql}: {err:?}");
    }
    let mut s = w.scope(w.viewer).await;
    let v = s.content().get_version(item.id, 1).await.unwrap();
    assert_eq!(v.title, "Item kept");
    // A hard delete of the item (an editor may) takes its history with it.
    drop(s);
    let mut s = w.scope(w.editor).await;
    sqlx::query("DELETE FROM mixerai.content WHERE id = $1")
        .bind(item.id)
        .execute(s.connection())
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content_versions")
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_wal_of_a_save_is_the_same_at_version_10_and_at_version_1000() {
    // A cluster of this test's own: WAL positions are the cluster's, and the suite's other tests
    // write into the shared one meanwhile. (With MIXERAI_TEST_DATABASE_URL set, that server is used.)
    let server: &'static TestServer = Box::leak(Box::new(TestServer::start().await.unwrap()));
    let db = server.database().await.unwrap();
    let p = pool(&db);
    let editor = insert_user(p, "wal@example.com").await;
    let brand = insert_brand(p, "wal", editor).await;
    insert_role(p, editor, brand, "editor").await;
    let w = World {
        a: BrandId::from_uuid(brand),
        admin: UserId::from_uuid(editor),
        editor: UserId::from_uuid(editor),
        viewer: UserId::from_uuid(editor),
        db,
    };
    let a = w.item("Ten").await;
    let b = w.item("Thousand").await;
    // Each save through every trigger, as raw SQL on the owner's connection.
    for (id, n) in [(a.id, 10), (b.id, 1000)] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DO $$ BEGIN FOR i IN 2..{n} LOOP
                 UPDATE mixerai.content SET title = 'Revision ' || i WHERE id = '{id}';
             END LOOP; END $$"
        )))
        .execute(pool(&w.db))
        .await
        .unwrap();
    }
    // No dead rows of the warm-up left to prune during the measurement, for either item.
    sqlx::raw_sql(
        "VACUUM mixerai.content, mixerai.content_versions, mixerai.events, mixerai.event_streams",
    )
    .execute(&admin_pool(&w.db))
    .await
    .unwrap();
    let mut per_save = Vec::new();
    for (id, mut version) in [(a.id, 10), (b.id, 1000)] {
        let lsn = || {
            sqlx::query_scalar::<_, i64>(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint",
            )
            .fetch_one(pool(&w.db))
        };
        let before = lsn().await.unwrap();
        for k in 0..100 {
            let mut s = w.scope(w.editor).await;
            version = s
                .content()
                .update(id, version, &patch_title(&format!("Saved {k}")))
                .await
                .unwrap()
                .version;
            s.commit().await.unwrap();
        }
        per_save.push((lsn().await.unwrap() - before) / 100);
    }
    println!(
        "WAL bytes per save: {} at version 10, {} at version 1000",
        per_save[0], per_save[1]
    );
    // Nothing a save writes grows with the history: the same within index-split noise.
    let (low, high) = (per_save[0].min(per_save[1]), per_save[0].max(per_save[1]));
    assert!(high * 100 <= low * 120, "{per_save:?}");
}
