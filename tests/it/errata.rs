//! One test per erratum of the specification (shared/design/seed-errata.md), named after it, plus the
//! audit trail's guarantees.

use crate::support::{fresh_db, insert_brand, insert_content, insert_user, pool};
use mixerai_data::Error;
use sqlx::PgPool;
use uuid::Uuid;

async fn stream_versions(pool: &PgPool, aggregate: Uuid) -> Vec<(String, i32)> {
    sqlx::query_as("SELECT event_type::text, stream_version FROM mixerai.events WHERE aggregate_id = $1 ORDER BY position")
        .bind(aggregate)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn erratum_e1_tables_reference_only_tables_created_before_them() {
    let db = fresh_db().await;
    // Every foreign key points at a table whose migration ran no later than its own: the order in which
    // the tables were created (their OIDs grow) respects every reference.
    let backwards: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s -> %s', conrelid::regclass, confrelid::regclass) FROM pg_constraint
         WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND confrelid > conrelid",
    )
    .fetch_all(pool(&db))
    .await
    .unwrap();
    assert!(
        backwards.is_empty(),
        "references to later tables: {backwards:?}"
    );
    let role_fk: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'mixerai.user_brand_roles'::regclass
         AND confrelid = 'mixerai.brands'::regclass)",
    )
    .fetch_one(pool(&db))
    .await
    .unwrap();
    assert!(role_fk);
}

#[tokio::test]
async fn erratum_e2_audit_trigger_works_on_tables_without_brand_id() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "e2@example.com").await;
    let brand = insert_brand(p, "e2-brand", user).await;
    let (user_brand,): (Option<Uuid>,) =
        sqlx::query_as("SELECT brand_id FROM mixerai.events WHERE aggregate_id = $1")
            .bind(user)
            .fetch_one(p)
            .await
            .unwrap();
    assert_eq!(user_brand, None, "users carry no brand");
    let (brand_brand,): (Option<Uuid>,) =
        sqlx::query_as("SELECT brand_id FROM mixerai.events WHERE aggregate_id = $1")
            .bind(brand)
            .fetch_one(p)
            .await
            .unwrap();
    assert_eq!(
        brand_brand,
        Some(brand),
        "a brand's events are in its own brand"
    );
}

#[tokio::test]
async fn erratum_e3_second_update_and_delete_each_get_their_own_increasing_version() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "e3@example.com").await;
    let brand = insert_brand(p, "e3-brand", user).await;
    let content = insert_content(p, brand, "e3", user).await;
    sqlx::query("UPDATE mixerai.content SET title = 'first edit' WHERE id = $1")
        .bind(content)
        .execute(p)
        .await
        .unwrap();
    sqlx::query("UPDATE mixerai.content SET title = 'second edit' WHERE id = $1")
        .bind(content)
        .execute(p)
        .await
        .unwrap();
    sqlx::query("DELETE FROM mixerai.content WHERE id = $1")
        .bind(content)
        .execute(p)
        .await
        .unwrap();
    assert_eq!(
        stream_versions(p, content).await,
        vec![
            ("INSERT".into(), 1),
            ("UPDATE".into(), 2),
            ("UPDATE".into(), 3),
            ("DELETE".into(), 4)
        ]
    );
}

#[tokio::test]
async fn erratum_e3_concurrent_writers_of_one_row_get_distinct_versions() {
    let db = fresh_db().await;
    let p = pool(&db).clone();
    let user = insert_user(&p, "e3c@example.com").await;
    let brand = insert_brand(&p, "e3c-brand", user).await;
    let content = insert_content(&p, brand, "e3c", user).await;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move {
                for j in 0..5 {
                    sqlx::query("UPDATE mixerai.content SET title = $2 WHERE id = $1")
                        .bind(content)
                        .bind(format!("writer {i} edit {j}"))
                        .execute(&p)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let versions: Vec<i32> = stream_versions(&p, content)
        .await
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        versions,
        (1..=41).collect::<Vec<_>>(),
        "one insert and 40 updates, versions 1..=41 in order"
    );
}

#[tokio::test]
async fn erratum_e4_context_helpers_treat_a_reset_setting_as_absent() {
    let db = fresh_db().await;
    let mut tx = pool(&db).begin().await.unwrap();
    sqlx::query("SELECT set_config('app.current_user_id', $1, true)")
        .bind(Uuid::new_v4().to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT set_config('app.current_user_id', '', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let user: Option<Uuid> = sqlx::query_scalar("SELECT mixerai.app_current_user_id()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(user, None);
    // The audit trigger reads the same helper: a write after the reset is recorded, not refused.
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.users (email, first_name, last_name) VALUES ('e4@example.com', 'E', 'Four') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let actor: Option<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM mixerai.events WHERE aggregate_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(actor, None);
}

#[tokio::test]
async fn erratum_e5_missing_brand_context_reads_as_null_not_an_error() {
    let db = fresh_db().await;
    let mut conn = pool(&db).acquire().await.unwrap();
    let brand: Option<Uuid> = sqlx::query_scalar("SELECT mixerai.app_current_brand_id()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(brand, None, "never set: NULL");
}

#[tokio::test]
async fn erratum_e6_recent_published_index_is_a_plain_partial_index_that_is_used() {
    let db = fresh_db().await;
    let p = pool(&db);
    let def: String = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_content_published'",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert!(
        def.contains("published_at DESC") && !def.to_lowercase().contains("now()"),
        "{def}"
    );
    let mut tx = p.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT id FROM mixerai.content WHERE status = 'published' AND deleted_at IS NULL
         AND published_at > now() - interval '30 days' ORDER BY published_at DESC",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert!(
        plan.join("\n").contains("idx_content_published"),
        "{}",
        plan.join("\n")
    );
}

#[tokio::test]
async fn erratum_e7_content_and_events_are_plain_tables_with_version_uniqueness_kept() {
    let db = fresh_db().await;
    let p = pool(&db);
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "SELECT relname::text, relkind::text FROM pg_class WHERE relname IN ('content', 'events') ORDER BY 1",
    )
    .fetch_all(p)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        vec![
            ("content".into(), "r".into()),
            ("events".into(), "r".into())
        ]
    );
    let user = insert_user(p, "e7@example.com").await;
    let err = sqlx::query(
        "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, payload)
         VALUES ($1, 'users', 'MANUAL', 1, '{}')",
    )
    .bind(user)
    .execute(p)
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "events_stream_version_key"),
        "{err:?}"
    );
}

#[tokio::test]
async fn erratum_e8_analytics_view_averages_engagement_duration() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "e8@example.com").await;
    let brand = insert_brand(p, "e8-brand", user).await;
    for (slug, duration) in [("a", "10"), ("b", "20"), ("c", "\"not a number\"")] {
        let id = insert_content(p, brand, slug, user).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE mixerai.content SET engagement = '{{\"duration\": {duration}}}' WHERE id = $1"
        )))
        .bind(id)
        .execute(p)
        .await
        .unwrap();
    }
    sqlx::query("SELECT mixerai.refresh_content_analytics()")
        .execute(p)
        .await
        .unwrap();
    let (total, avg): (i64, Option<i32>) = sqlx::query_as(
        "SELECT total_count, avg_engagement_duration FROM mixerai.mv_content_analytics WHERE brand_id = $1",
    )
    .bind(brand)
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!((total, avg), (3, Some(15)));
}

#[tokio::test]
async fn erratum_e9_no_pgcrypto_and_mfa_secret_is_an_opaque_envelope_column() {
    let db = fresh_db().await;
    let p = pool(&db);
    let extensions: Vec<String> =
        sqlx::query_scalar("SELECT extname::text FROM pg_extension ORDER BY 1")
            .fetch_all(p)
            .await
            .unwrap();
    assert_eq!(extensions, vec!["plpgsql".to_string()]);
    let mfa_type: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'mfa_secret'",
    )
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(mfa_type, "bytea");
    let vault: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'vault')")
            .fetch_one(p)
            .await
            .unwrap();
    assert!(!vault);
}

#[tokio::test]
async fn erratum_w7_email_check_refuses_a_literal_pipe() {
    let db = fresh_db().await;
    let err = sqlx::query(
        "INSERT INTO mixerai.users (email, first_name, last_name) VALUES ('a@b.c|om', 'W', 'Seven')",
    )
    .execute(pool(&db))
    .await
    .map_err(Error::from)
    .unwrap_err();
    let errors = err.validation().expect("Invalid");
    assert_eq!(errors.errors()[0].field, "email");
}

#[tokio::test]
async fn erratum_w8_slug_is_unique_among_live_items_and_reusable_after_soft_delete() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "w8@example.com").await;
    let brand = insert_brand(p, "w8-brand", user).await;
    let first = insert_content(p, brand, "launch", user).await;
    let err = sqlx::query(
        "INSERT INTO mixerai.content (brand_id, type, title, slug, version, created_by, updated_by)
         VALUES ($1, 'article', 'Again', 'launch', 2, $2, $2)",
    )
    .bind(brand)
    .bind(user)
    .execute(p)
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { constraint, .. } if constraint == "content_brand_slug_key"),
        "{err:?}"
    );
    sqlx::query("UPDATE mixerai.content SET deleted_at = now() WHERE id = $1")
        .bind(first)
        .execute(p)
        .await
        .unwrap();
    let second = insert_content(p, brand, "launch", user).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn erratum_w9_template_validation_rules_are_an_array() {
    let db = fresh_db().await;
    let p = pool(&db);
    let user = insert_user(p, "w9@example.com").await;
    let rules: serde_json::Value = sqlx::query_scalar(
        "INSERT INTO mixerai.content_templates (name, created_by) VALUES ('T', $1) RETURNING validation_rules",
    )
    .bind(user)
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(rules, serde_json::json!([]));
    let err = sqlx::query(
        "INSERT INTO mixerai.content_templates (name, created_by, validation_rules) VALUES ('T', $1, '{}')",
    )
    .bind(user)
    .execute(p)
    .await
    .map_err(Error::from)
    .unwrap_err();
    assert_eq!(
        err.validation().expect("Invalid").errors()[0].field,
        "validation_rules"
    );
}

#[tokio::test]
async fn audit_events_never_contain_password_hash_or_mfa_material() {
    let db = fresh_db().await;
    let p = pool(&db);
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.users (email, first_name, last_name, password_hash, mfa_enabled, mfa_secret, mfa_backup_codes)
         VALUES ('secret@example.com', 'S', 'Ecret', 'PWHASH-ONE', true, '\\xdeadbeefcafe'::bytea, '{BACKUP-ONE}')
         RETURNING id",
    )
    .fetch_one(p)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE mixerai.users SET password_hash = 'PWHASH-TWO', mfa_secret = '\\xfeedface'::bytea,
         mfa_backup_codes = '{BACKUP-TWO}', first_name = 'Changed' WHERE id = $1",
    )
    .bind(id)
    .execute(p)
    .await
    .unwrap();
    sqlx::query("DELETE FROM mixerai.users WHERE id = $1")
        .bind(id)
        .execute(p)
        .await
        .unwrap();
    let payloads: Vec<String> = sqlx::query_scalar(
        "SELECT payload::text FROM mixerai.events WHERE aggregate_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(p)
    .await
    .unwrap();
    assert_eq!(payloads.len(), 3);
    for payload in &payloads {
        for secret in [
            "PWHASH",
            "BACKUP",
            "deadbeef",
            "feedface",
            "\"password_hash\":",
            "\"mfa_secret\":",
            "\"mfa_backup_codes\":",
        ] {
            assert!(!payload.contains(secret), "{secret} leaked into {payload}");
        }
    }
    assert!(
        payloads[1].contains("Changed"),
        "the non-secret change is recorded: {}",
        payloads[1]
    );
}
