//! What a hostile tenant must not be able to do, tested as the application role inside its own scope
//! (SQL through `Scope::connection()`, as a host's query or an injection in host code would run it)
//! and as an outsider: forge or poison the trail, borrow the crate's functions, leave state for the
//! next scope on a connection, shadow what a definer function calls, reference another brand's rows,
//! graft a brand, flood the trail, hold a lock others need, read another member's private profile,
//! forge or rewrite a compliance record or read another brand's claims through resolution, or escape
//! the scope with RESET ROLE.

use std::time::{Duration, Instant};

use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, UserId};
use mixerai_data::{Database, Error, Scope};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, PgConnection, PgPool};
use uuid::Uuid;

use crate::support::{
    LEFTOVERS, admin_pool, assert_no_leftovers, fresh_db, insert_brand, insert_content,
    insert_role, insert_user, pool,
};

/// Brands A and B; in A an admin, an editor and a viewer; in B an admin. The admin of A has no role
/// in B.
struct World {
    db: TestDatabase,
    a: Uuid,
    b: Uuid,
    admin_a: Uuid,
    editor_a: Uuid,
    viewer_a: Uuid,
    admin_b: Uuid,
}

async fn world() -> World {
    let db = fresh_db().await;
    let p = pool(&db);
    let admin_a = insert_user(p, "admin-a@example.com").await;
    let editor_a = insert_user(p, "editor-a@example.com").await;
    let viewer_a = insert_user(p, "viewer-a@example.com").await;
    let admin_b = insert_user(p, "admin-b@example.com").await;
    let a = insert_brand(p, "alpha", admin_a).await;
    let b = insert_brand(p, "beta", admin_b).await;
    insert_role(p, admin_a, a, "admin").await;
    insert_role(p, editor_a, a, "editor").await;
    insert_role(p, viewer_a, a, "viewer").await;
    insert_role(p, admin_b, b, "admin").await;
    World {
        db,
        a,
        b,
        admin_a,
        editor_a,
        viewer_a,
        admin_b,
    }
}

impl World {
    async fn scope(&self, user: Uuid, brand: Uuid) -> Scope {
        self.db
            .database()
            .scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
            .await
            .unwrap()
    }

    fn owner(&self) -> &PgPool {
        pool(&self.db)
    }
}

/// Runs `sql` in `conn`, mapped to the crate's error.
async fn run(conn: &mut PgConnection, sql: &str) -> Result<u64, Error> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(Error::from)
}

async fn events_of(owner: &PgPool, aggregate: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
        .bind(aggregate)
        .fetch_one(owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_forged_event_is_refused_and_the_rows_later_writes_still_succeed() {
    let w = world().await;
    let item = insert_content(w.owner(), w.a, "target", w.editor_a).await;
    let brand_b_row = w.b;
    let mut s = w.scope(w.editor_a, w.a).await;
    let forgeries = [
        // Another user's name, a security category, a date in 2001.
        format!(
            "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, category,
                 payload, user_id, brand_id, created_at)
             VALUES ('{item}', 'content', 'UPDATE', 1, 'security', '{{}}', '{}', '{}', '2001-01-01')",
            w.admin_a, w.a
        ),
        // The next versions of a row, so its audited writes would collide.
        format!(
            "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, payload, brand_id)
             SELECT '{item}', 'content', 'UPDATE', v, '{{}}', '{}' FROM generate_series(2, 50) v",
            w.a
        ),
        // The next global positions.
        format!(
            "INSERT INTO mixerai.events (position, aggregate_id, aggregate_type, event_type, stream_version, payload, brand_id)
             OVERRIDING SYSTEM VALUE VALUES (1000000, '{item}', 'content', 'UPDATE', 99, '{{}}', '{}')",
            w.a
        ),
        // The existence oracle.
        format!(
            "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, payload, brand_id)
             VALUES ('{brand_b_row}', 'brands', 'INSERT', 1, '{{}}', '{}') ON CONFLICT DO NOTHING",
            w.a
        ),
        "UPDATE mixerai.events SET payload = '{}'".to_owned(),
        "DELETE FROM mixerai.events".to_owned(),
        "INSERT INTO mixerai.event_streams VALUES (gen_random_uuid(), 'x', NULL, 1)".to_owned(),
    ];
    for sql in &forgeries {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), sql).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{sql}: {err:?}");
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    // Explicit appends go through the definer function, into this brand's streams only, never as
    // security events; and they take the stream's versions from the same counter as the trigger.
    let appended: (Uuid, i64, i32) = sqlx::query_as(
        "SELECT event_id, event_position, event_stream_version FROM mixerai.append_events(
             $1, 'content', NULL, '[{\"event_type\": \"noted\", \"payload\": {\"by\": \"editor\"}}]')",
    )
    .bind(item)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(appended.2, 2, "after the INSERT's audit event");
    for (aggregate, category, expect_reference) in [
        (brand_b_row, "audit", true),
        (w.admin_a, "audit", true),
        (item, "security", false),
    ] {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err =
            sqlx::query("SELECT * FROM mixerai.append_events($1, 'x', NULL, jsonb_build_array(
                             jsonb_build_object('event_type', 'x', 'payload', '{}'::jsonb, 'category', $2::text)))")
                .bind(aggregate)
                .bind(category)
                .execute(s.connection())
                .await
                .map_err(Error::from)
                .unwrap_err();
        if expect_reference {
            assert!(matches!(err, Error::InvalidReference { .. }), "{err:?}");
        } else {
            assert!(err.validation().is_some(), "{err:?}");
        }
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    let (stamped_user, stamped_brand): (Option<Uuid>, Option<Uuid>) =
        sqlx::query_as("SELECT user_id, brand_id FROM mixerai.events WHERE id = $1")
            .bind(appended.0)
            .fetch_one(s.connection())
            .await
            .unwrap();
    assert_eq!((stamped_user, stamped_brand), (Some(w.editor_a), Some(w.a)));
    s.commit().await.unwrap();

    // Every later audited write of the row, another brand's row and a user row still succeeds.
    let mut s = w.scope(w.editor_a, w.a).await;
    run(
        s.connection(),
        &format!("UPDATE mixerai.content SET title = 'Still writable' WHERE id = '{item}'"),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    let mut s = w.scope(w.admin_b, w.b).await;
    run(
        s.connection(),
        &format!(
            "UPDATE mixerai.brands SET description = 'fine' WHERE id = '{}'",
            w.b
        ),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    assert_eq!(events_of(w.owner(), item).await, 3);
}

#[tokio::test]
async fn an_append_cannot_choose_its_position_feed_order_version_time_user_or_brand() {
    let w = world().await;
    let mut s = w.scope(w.editor_a, w.a).await;
    let before: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(s.connection())
        .await
        .unwrap();
    // Every column a reader trusts, forged in the record: a feed order far in the past (so that
    // readers past it would skip the event), another brand and user, a date in 2001.
    let forged = format!(
        r#"[{{"event_type": "Forged", "payload": {{}}, "position": 1, "feed_xid": 3,
              "transaction_id": "3", "stream_version": 99, "brand_id": "{}", "user_id": "{}",
              "created_at": "2001-01-01T00:00:00Z", "aggregate_id": "{}"}}]"#,
        w.b, w.admin_b, w.b
    );
    let stream = Uuid::new_v4();
    let last: i64 = sqlx::query_scalar("SELECT max(position) FROM mixerai.events")
        .fetch_one(w.owner())
        .await
        .unwrap();
    sqlx::query("SELECT * FROM mixerai.append_events($1, 'order', NULL, $2::jsonb)")
        .bind(stream)
        .bind(forged)
        .execute(s.connection())
        .await
        .unwrap();
    let (xid, position, version, brand, user, year, aggregate): (
        i64,
        i64,
        i32,
        Uuid,
        Uuid,
        f64,
        Uuid,
    ) = sqlx::query_as(
        "SELECT feed_xid, position, stream_version, brand_id, user_id,
                extract(year FROM created_at)::float8, aggregate_id
         FROM mixerai.events WHERE event_type = 'Forged'",
    )
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(xid, before, "the feed order is the writing transaction's");
    assert!(position > last, "{position} after {last}");
    assert_eq!(version, 1);
    assert_eq!((brand, user, aggregate), (w.a, w.editor_a, stream));
    assert!(year > 2001.0);
}

#[tokio::test]
async fn no_function_is_executable_by_public_and_the_application_role_gets_a_listed_set() {
    let w = world().await;
    let public: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace = 'mixerai'::regnamespace
           AND EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                       WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(public, Vec::<String>::new(), "executable by PUBLIC");
    let app: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace = 'mixerai'::regnamespace
           AND has_function_privilege('mixerai_app', p.oid, 'EXECUTE')
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    // What the policies, the constraints (and the claims' stored key and market index), and the
    // crate's tenant statements call; nothing else.
    assert_eq!(
        app,
        [
            "mixerai.app_can_admin()",
            "mixerai.app_can_read()",
            "mixerai.app_can_write()",
            "mixerai.app_context()",
            "mixerai.app_current_brand_id()",
            "mixerai.app_current_role()",
            "mixerai.app_current_user_id()",
            "mixerai.app_enter(uuid,uuid,bytea,boolean)",
            "mixerai.app_is_platform_admin()",
            "mixerai.app_scope_brand_id()",
            "mixerai.app_touch_brand_access()",
            "mixerai.append_events(uuid,text,integer,jsonb)",
            "mixerai.claim_market_keys(uuid,text[])",
            "mixerai.claim_rules_boundaries(text,timestamp with time zone,timestamp with time zone)",
            "mixerai.claim_rules_fingerprint(text)",
            "mixerai.claim_statement_key(text)",
            "mixerai.claims_resolve(text,text,uuid,text[],timestamp with time zone)",
            "mixerai.compliance_gate(uuid,integer,text[],text,timestamp with time zone)",
            "mixerai.content_search_ids(tsquery,integer)",
            "mixerai.is_country_code_array(text[])",
            "mixerai.workflow_decide(uuid,integer,text,text)",
            "mixerai.workflow_start(uuid,integer,uuid)",
        ]
    );
    // An outsider (a role with nothing granted) can call none of them, and cannot even look inside.
    let admin = admin_pool(&w.db);
    sqlx::query("DROP ROLE IF EXISTS hardening_outsider")
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CREATE ROLE hardening_outsider")
        .execute(&admin)
        .await
        .unwrap();
    let mut conn = admin.acquire().await.unwrap();
    run(&mut conn, "BEGIN; SET LOCAL ROLE hardening_outsider")
        .await
        .unwrap();
    for sql in [
        "SELECT mixerai.app_touch_brand_access()",
        "SELECT mixerai.app_current_role()",
        "SELECT mixerai.app_is_platform_admin()",
        "SELECT count(*) FROM mixerai.content",
    ] {
        run(&mut conn, "SAVEPOINT f").await.unwrap();
        let err = run(&mut conn, sql).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{sql}: {err:?}");
        run(&mut conn, "ROLLBACK TO SAVEPOINT f").await.unwrap();
    }
    run(&mut conn, "ROLLBACK").await.unwrap();
    drop(conn);
    sqlx::query("DROP ROLE hardening_outsider")
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_trigger_function_cannot_be_attached_to_the_callers_own_table_nor_run_for_one() {
    let w = world().await;
    let mut s = w.scope(w.admin_a, w.a).await;
    run(
        s.connection(),
        "CREATE TEMP TABLE content (id uuid, brand_id uuid, title text)",
    )
    .await
    .unwrap();
    for function in [
        "mixerai.audit_trigger('brand_id', 'audit')",
        "mixerai.content_search_inserted()",
        "mixerai.stamp_actor('created_by=insert')",
        "mixerai.workflows_one_default()",
        "mixerai.claims_revise_inserted()",
        "mixerai.compliance_checks_stamp()",
        "mixerai.content_compliance_gate()",
    ] {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(
            s.connection(),
            &format!("CREATE TRIGGER t AFTER INSERT ON pg_temp.content FOR EACH ROW EXECUTE FUNCTION {function}"),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Forbidden { .. }),
            "{function}: {err:?}"
        );
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    drop(s);
    // Even attached by someone who may (a superuser), the functions refuse a table not theirs.
    let admin = admin_pool(&w.db);
    let mut conn = admin.acquire().await.unwrap();
    run(
        &mut conn,
        "BEGIN; CREATE TEMP TABLE content (id uuid, brand_id uuid, title text);
         CREATE TRIGGER forge AFTER INSERT ON pg_temp.content FOR EACH ROW
             EXECUTE FUNCTION mixerai.audit_trigger('brand_id', 'audit')",
    )
    .await
    .unwrap();
    let err = run(
        &mut conn,
        &format!(
            "INSERT INTO pg_temp.content VALUES (gen_random_uuid(), '{}', 'x')",
            w.b
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    run(&mut conn, "ROLLBACK").await.unwrap();
}

/// A one-connection pool on `db`, so consecutive scopes share a backend.
async fn one_connection(db: &TestDatabase) -> Database {
    Database::from_pool(
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(db.connect_options().clone())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn state_left_by_one_scope_is_invisible_to_the_next_on_the_same_connection() {
    let w = world().await;
    let db = one_connection(&w.db).await;
    let mut hostile = db
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    run(hostile.connection(), LEFTOVERS).await.unwrap();
    hostile.commit().await.unwrap();

    // The next tenant: another brand's admin, on the same backend.
    let mut next = db
        .scope(UserId::from_uuid(w.admin_b), BrandId::from_uuid(w.b))
        .await
        .unwrap();
    assert_no_leftovers(next.connection(), Some(w.admin_b)).await;
    let created = next
        .content()
        .create(
            &mixerai_data::content::NewContent::builder()
                .content_type("article")
                .title("Beta's own")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    next.commit().await.unwrap();
    let in_crate_table: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE id = $1")
            .bind(created.id)
            .fetch_one(w.owner())
            .await
            .unwrap();
    assert_eq!(in_crate_table, 1);

    // A hostile scope again, then a system scope: no tenant context, and its writes attributed to
    // nobody rather than to the value the tenant left.
    let mut hostile = db
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    run(hostile.connection(), LEFTOVERS).await.unwrap();
    hostile.commit().await.unwrap();
    let mut system = db.system_scope().await.unwrap();
    assert_no_leftovers(system.connection(), None).await;
    run(
        system.connection(),
        &format!(
            "UPDATE mixerai.brands SET description = 'maintenance' WHERE id = '{}'",
            w.a
        ),
    )
    .await
    .unwrap();
    system.commit().await.unwrap();
    let actor: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM mixerai.events WHERE aggregate_id = $1 ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(w.a)
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert_eq!(actor, None);
}

#[tokio::test]
async fn definer_functions_are_unaffected_by_objects_a_tenant_creates() {
    let w = world().await;
    // PostgreSQL 14 and older let every role create in public: give the application role that
    // power back, as such a database would.
    let admin = admin_pool(&w.db);
    sqlx::query("GRANT CREATE ON SCHEMA public TO mixerai_app")
        .execute(&admin)
        .await
        .unwrap();
    let mut s = w.scope(w.editor_a, w.a).await;
    // A better-matching overload of what the audit trigger calls, and of what policies call, each
    // leaving a mark if it ever runs.
    run(
        s.connection(),
        "CREATE FUNCTION public.to_jsonb(mixerai.users) RETURNS jsonb LANGUAGE sql AS
             $$ SELECT set_config('pwned.to_jsonb', 'yes', false)::jsonb $$;
         CREATE FUNCTION public.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql AS
             $$ SELECT set_config('pwned.build', 'yes', false)::jsonb $$;
         CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS
             $$ SELECT set_config('pwned.now', 'yes', false)::timestamptz $$;
         CREATE TEMP TABLE users (id uuid);",
    )
    .await
    .unwrap();
    // An audited write of a user row runs audit_trigger (to_jsonb, jsonb_build_object), and the
    // policies' helpers run app_current_role (now()).
    run(
        s.connection(),
        &format!(
            "UPDATE mixerai.users SET first_name = 'Still me' WHERE id = '{}'",
            w.editor_a
        ),
    )
    .await
    .unwrap();
    let marks: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT current_setting('pwned.to_jsonb', true), current_setting('pwned.build', true),
                current_setting('pwned.now', true)",
    )
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(marks, (None, None, None));
    s.commit().await.unwrap();
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM mixerai.events WHERE aggregate_id = $1 ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(w.editor_a)
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert_eq!(payload["new"]["first_name"], "Still me");
}

#[tokio::test]
async fn inlined_context_helpers_ignore_a_tenants_search_path_operators_and_types() {
    let w = world().await;
    insert_content(w.owner(), w.a, "alpha-item", w.admin_a).await;
    insert_content(w.owner(), w.b, "beta-item", w.admin_b).await;
    // As on PostgreSQL 14 and older, where every role may create in public.
    let admin = admin_pool(&w.db);
    sqlx::query("GRANT CREATE ON SCHEMA public TO mixerai_app")
        .execute(&admin)
        .await
        .unwrap();
    // The context and role helpers are inlined into the caller's statement, parsed under its
    // search_path: a viewer plants an always-true text equality and a uuid type, puts public first,
    // and tries to pass as a writer and to see another brand.
    let mut s = w.scope(w.viewer_a, w.a).await;
    run(
        s.connection(),
        "CREATE FUNCTION public.always(text, text) RETURNS boolean LANGUAGE sql AS
             $$ SELECT set_config('pwned.eq', 'yes', false) IS NOT NULL $$;
         CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.always);
         CREATE DOMAIN public.uuid AS text;
         SELECT set_config('search_path', 'public, pg_catalog', false);",
    )
    .await
    .unwrap();
    let (brand, writer, visible): (Option<Uuid>, bool, i64) = sqlx::query_as(
        "SELECT mixerai.app_current_brand_id(), mixerai.app_can_write(),
                (SELECT count(*) FROM mixerai.content)",
    )
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!((brand, writer, visible), (Some(w.a), false, 1));
    let changed = run(
        s.connection(),
        "UPDATE mixerai.content SET title = 'Defaced'",
    )
    .await
    .unwrap();
    assert_eq!(changed, 0, "a viewer updated content");
    let mark: Option<String> = sqlx::query_scalar("SELECT current_setting('pwned.eq', true)")
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(mark, None, "the planted operator ran");
    s.rollback().await.unwrap();
}

#[tokio::test]
async fn references_to_another_brands_rows_are_refused_and_actor_columns_name_the_actor() {
    let w = world().await;
    let p = w.owner();
    let theirs = insert_content(p, w.b, "theirs", w.admin_b).await;
    let their_template: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('B only', ARRAY[$1], $2) RETURNING id",
    )
    .bind(w.b)
    .bind(w.admin_b)
    .fetch_one(p)
    .await
    .unwrap();
    let their_workflow: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('B only', ARRAY[$1], $2) RETURNING id",
    )
    .bind(w.b)
    .bind(w.admin_b)
    .fetch_one(p)
    .await
    .unwrap();
    let our_workflow: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('A only', ARRAY[$1], $2) RETURNING id",
    )
    .bind(w.a)
    .bind(w.admin_a)
    .fetch_one(p)
    .await
    .unwrap();
    let ours = insert_content(p, w.a, "ours", w.editor_a).await;

    let cases = [
        (
            format!("UPDATE mixerai.content SET parent_id = '{theirs}' WHERE id = '{ours}'"),
            "content_parent_fkey",
        ),
        (
            format!("UPDATE mixerai.content SET template_id = '{their_template}' WHERE id = '{ours}'"),
            "content_template_id_fkey",
        ),
        (
            format!("UPDATE mixerai.content SET workflow_id = '{their_workflow}' WHERE id = '{ours}'"),
            "content_workflow_id_fkey",
        ),
        (
            format!(
                "INSERT INTO mixerai.workflow_instances (workflow_id, content_id, brand_id, started_by)
                 VALUES ('{their_workflow}', '{ours}', '{}', '{}')",
                w.a, w.editor_a
            ),
            "workflow_instances_workflow_id_fkey",
        ),
        (
            format!(
                "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, template_id)
                 VALUES ('{}', '{}', 'alt_text', 'm', 'p', '{their_template}')",
                w.a, w.editor_a
            ),
            "ai_generations_template_id_fkey",
        ),
        (
            format!(
                "INSERT INTO mixerai.workflow_instances (workflow_id, content_id, brand_id, started_by)
                 VALUES ('{our_workflow}', '{theirs}', '{}', '{}')",
                w.a, w.editor_a
            ),
            "workflow_instances_content_fkey",
        ),
    ];
    let mut s = w.scope(w.admin_a, w.a).await;
    for (sql, constraint) in &cases {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), sql).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidReference { constraint: c, .. } if c == constraint),
            "{sql}: {err:?}"
        );
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    // Actor columns naming somebody else (another brand's admin) are set to the acting user.
    let (created_by, updated_by): (Uuid, Uuid) = sqlx::query_as(
        "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
         VALUES ($1, 'article', 'Mine', 'mine', $2, $2) RETURNING created_by, updated_by",
    )
    .bind(w.a)
    .bind(w.admin_b)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!((created_by, updated_by), (w.admin_a, w.admin_a));
    let updated_by: Uuid = sqlx::query_scalar(
        "UPDATE mixerai.content SET updated_by = $2 WHERE id = $1 RETURNING updated_by",
    )
    .bind(ours)
    .bind(w.admin_b)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(updated_by, w.admin_a);
    // Publication columns are the lifecycle's to set (0014): naming a publisher by hand is refused.
    run(s.connection(), "SAVEPOINT f").await.unwrap();
    let err = run(
        s.connection(),
        &format!(
            "UPDATE mixerai.content SET published_by = '{}', published_at = now() WHERE id = '{ours}'",
            w.admin_b
        ),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    run(s.connection(), "ROLLBACK TO SAVEPOINT f")
        .await
        .unwrap();
    let requester: Uuid = sqlx::query_scalar(
        "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt)
         VALUES ($1, $2, 'alt_text', 'm', 'p') RETURNING user_id",
    )
    .bind(w.a)
    .bind(w.admin_b)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(requester, w.admin_a);
    s.commit().await.unwrap();
}

/// A `change` actor column (0001 `stamp_actor`: `assigned_by` on memberships) names the acting user
/// when an update sets it to a new value, and keeps what it held otherwise: rewriting it unchanged, or
/// clearing it, is not the actor's transition.
#[tokio::test]
async fn a_change_actor_column_names_the_actor_only_when_an_update_sets_a_new_value() {
    let w = world().await;
    sqlx::query(
        "UPDATE mixerai.user_brand_roles SET assigned_by = $1 WHERE user_id = $2 AND brand_id = $3",
    )
    .bind(w.admin_b)
    .bind(w.editor_a)
    .bind(w.a)
    .execute(w.owner())
    .await
    .unwrap();
    let mut s = w.scope(w.admin_a, w.a).await;
    let somebody_else = format!("'{}'", w.viewer_a);
    let mut seen = Vec::new();
    for expr in ["assigned_by", &somebody_else, "NULL"] {
        let assigned_by: Option<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE mixerai.user_brand_roles SET assigned_by = {expr}
             WHERE user_id = $1 AND brand_id = $2 RETURNING assigned_by"
        )))
        .bind(w.editor_a)
        .bind(w.a)
        .fetch_one(s.connection())
        .await
        .unwrap();
        seen.push(assigned_by);
    }
    // Unchanged, set to somebody else, cleared.
    assert_eq!(seen, [Some(w.admin_b), Some(w.admin_a), None]);
    s.commit().await.unwrap();
}

#[tokio::test]
async fn a_brand_admin_cannot_graft_their_brand_under_or_onto_another_tenant() {
    let w = world().await;
    let p = w.owner();
    let deleted = insert_brand(p, "gone", w.admin_a).await;
    insert_role(p, w.admin_a, deleted, "admin").await;
    sqlx::query("UPDATE mixerai.brands SET deleted_at = now() WHERE id = $1")
        .bind(deleted)
        .execute(p)
        .await
        .unwrap();
    let mut s = w.scope(w.admin_a, w.a).await;
    for (target, set) in [
        (w.b, "parent_brand_id = '{t}'"),
        (w.b, "master_claim_brand_ids = ARRAY['{t}']::uuid[]"),
        (deleted, "parent_brand_id = '{t}'"),
        (deleted, "master_claim_brand_ids = ARRAY['{t}']::uuid[]"),
    ] {
        let sql = format!(
            "UPDATE mixerai.brands SET {} WHERE id = '{}'",
            set.replace("{t}", &target.to_string()),
            w.a
        );
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), &sql).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidReference { .. }),
            "{sql}: {err:?}"
        );
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    drop(s);
    // An admin of both brands may; so may a system scope.
    insert_role(p, w.admin_a, w.b, "admin").await;
    let mut s = w.scope(w.admin_a, w.a).await;
    run(
        s.connection(),
        &format!(
            "UPDATE mixerai.brands SET parent_brand_id = '{}', master_claim_brand_ids = ARRAY['{}']::uuid[]
             WHERE id = '{}'",
            w.b, w.b, w.a
        ),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
}

#[tokio::test]
async fn five_thousand_access_touches_write_no_audit_event_and_a_deleted_users_are_not_counted() {
    let w = world().await;
    let role: Uuid = sqlx::query_scalar(
        "SELECT id FROM mixerai.user_brand_roles WHERE user_id = $1 AND brand_id = $2",
    )
    .bind(w.viewer_a)
    .bind(w.a)
    .fetch_one(w.owner())
    .await
    .unwrap();
    let before = events_of(w.owner(), role).await;
    let mut s = w.scope(w.viewer_a, w.a).await;
    run(
        s.connection(),
        "SELECT mixerai.app_touch_brand_access() FROM generate_series(1, 5000)",
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    let (count, version): (i32, i32) =
        sqlx::query_as("SELECT access_count, version FROM mixerai.user_brand_roles WHERE id = $1")
            .bind(role)
            .fetch_one(w.owner())
            .await
            .unwrap();
    assert_eq!(
        (count, version),
        (5000, 1),
        "counted, and no new version of the grant"
    );
    assert_eq!(events_of(w.owner(), role).await, before);

    sqlx::query("UPDATE mixerai.users SET deleted_at = now() WHERE id = $1")
        .bind(w.viewer_a)
        .execute(w.owner())
        .await
        .unwrap();
    let mut s = w.scope(w.viewer_a, w.a).await;
    run(s.connection(), "SELECT mixerai.app_touch_brand_access()")
        .await
        .unwrap();
    s.commit().await.unwrap();
    let count: i32 =
        sqlx::query_scalar("SELECT access_count FROM mixerai.user_brand_roles WHERE id = $1")
            .bind(role)
            .fetch_one(w.owner())
            .await
            .unwrap();
    assert_eq!(count, 5000);
}

#[tokio::test]
async fn an_outsiders_advisory_locks_delay_no_admin() {
    let w = world().await;
    // An outsider of the database (here a plain session of the owner's login: any role could) holds
    // every advisory key the schema once used, for as long as it likes.
    let mut squatter = w.db.connect_options().connect().await.unwrap();
    sqlx::query(
        "SELECT pg_advisory_lock(hashtext('mixerai.brands.hierarchy')),
                pg_advisory_lock(hashtext('workflows_one_default'), hashtext($1::text))",
    )
    .bind(w.a)
    .execute(&mut squatter)
    .await
    .unwrap();
    let child = insert_brand(w.owner(), "child", w.admin_a).await;
    insert_role(w.owner(), w.admin_a, child, "admin").await;
    let started = Instant::now();
    let mut s = w.scope(w.admin_a, w.a).await;
    run(
        s.connection(),
        &format!(
            "INSERT INTO mixerai.workflows (name, brand_ids, content_types, is_default, created_by)
             VALUES ('Default', ARRAY['{}']::uuid[], ARRAY['article'], true, '{}')",
            w.a, w.admin_a
        ),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    let mut s = w.scope(w.admin_a, child).await;
    run(
        s.connection(),
        &format!(
            "UPDATE mixerai.brands SET parent_brand_id = '{}' WHERE id = '{child}'",
            w.a
        ),
    )
    .await
    .unwrap();
    s.commit().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "admins waited on an outsider's lock: {:?}",
        started.elapsed()
    );
    // The locks that do guard these rules are out of an untrusted role's reach.
    let mut s = w.scope(w.admin_b, w.b).await;
    let err = run(s.connection(), "SELECT 1 FROM mixerai.locks FOR UPDATE")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(s);
    let mut s = w.scope(w.admin_b, w.b).await;
    let locked = run(
        s.connection(),
        &format!(
            "SELECT 1 FROM mixerai.brands WHERE id = '{}' FOR UPDATE",
            w.a
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        locked, 0,
        "another brand's row is invisible, so it cannot be locked"
    );
    drop(s);
    drop(squatter);
}

#[tokio::test]
async fn every_lock_wait_in_a_scope_is_bounded_and_reported_as_retryable() {
    let w = world().await;
    let item = insert_content(w.owner(), w.a, "held", w.editor_a).await;
    let mut holder = w.owner().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM mixerai.content WHERE id = $1 FOR UPDATE")
        .bind(item)
        .execute(&mut *holder)
        .await
        .unwrap();
    let db =
        w.db.database()
            .clone()
            .with_lock_timeout(Duration::from_millis(200));
    let mut s = db
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    let started = Instant::now();
    let err = run(
        s.connection(),
        &format!("UPDATE mixerai.content SET title = 'waits' WHERE id = '{item}'"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Retryable {
                sqlstate: "55P03",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn a_member_reads_another_members_public_profile_and_nothing_more() {
    let w = world().await;
    sqlx::query(
        "UPDATE mixerai.users SET phone = '+44 20 7946 0000', metadata = '{\"salary\": 1}' WHERE id = $1",
    )
    .bind(w.editor_a)
    .execute(w.owner())
    .await
    .unwrap();
    let mut s = w.scope(w.viewer_a, w.a).await;
    let private: Vec<(Option<String>, serde_json::Value)> =
        sqlx::query_as("SELECT phone, metadata FROM mixerai.users WHERE id = $1")
            .bind(w.editor_a)
            .fetch_all(s.connection())
            .await
            .unwrap();
    assert!(private.is_empty(), "{private:?}");
    let profile: (String, String) =
        sqlx::query_as("SELECT email, first_name FROM mixerai.user_profiles WHERE id = $1")
            .bind(w.editor_a)
            .fetch_one(s.connection())
            .await
            .unwrap();
    assert_eq!(profile.0, "editor-a@example.com");
    let err = sqlx::query("SELECT phone FROM mixerai.user_profiles")
        .execute(s.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::Database(_)), "no such column: {err:?}");
    drop(s);
    // Granting a role to any user reveals no more than the profile.
    let mut s = w.scope(w.admin_a, w.a).await;
    run(
        s.connection(),
        &format!(
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ('{}', '{}', 'viewer')",
            w.admin_b, w.a
        ),
    )
    .await
    .unwrap();
    let private: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.users WHERE id = $1")
        .bind(w.admin_b)
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(private, 0);
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.user_profiles WHERE id = $1")
        .bind(w.admin_b)
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn reset_role_inside_a_scope_on_the_tenant_login_reads_nothing_beyond_the_scope() {
    let w = world().await;
    insert_content(w.owner(), w.b, "beta-secret", w.admin_b).await;
    let db =
        w.db.database()
            .clone()
            .with_tenant_login(
                w.db.tenant_connect_options(),
                PgPoolOptions::new().max_connections(2),
            )
            .await
            .unwrap();
    let mut s = db
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    run(s.connection(), "RESET ROLE").await.unwrap();
    let me: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(me, mixerai_data::test_support::TENANT_ROLE);
    for sql in [
        "SELECT count(*) FROM mixerai.content",
        "SELECT count(*) FROM mixerai.users",
        "SET ROLE mixerai_test_owner",
    ] {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), sql).await.unwrap_err();
        assert!(
            matches!(err, Error::Forbidden { .. } | Error::Database(_)),
            "{sql}: {err:?}"
        );
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    // Back as mixerai_app, still only the scope's brand.
    run(s.connection(), "SET ROLE mixerai_app").await.unwrap();
    let beta: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE brand_id = $1")
        .bind(w.b)
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(beta, 0);
    drop(s);

    // On the owner's pool the same RESET ROLE is the documented escape the tenant login closes.
    let mut s = w.scope(w.editor_a, w.a).await;
    run(s.connection(), "RESET ROLE").await.unwrap();
    let beta: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE brand_id = $1")
        .bind(w.b)
        .fetch_one(s.connection())
        .await
        .unwrap();
    assert_eq!(beta, 1);
    drop(s);

    // A login that could bypass row-level security is refused as the tenant login.
    let err =
        w.db.database()
            .clone()
            .with_tenant_login(w.db.connect_options().clone(), PgPoolOptions::new())
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Misconfigured { .. }), "{err:?}");
}

#[tokio::test]
async fn every_foreign_key_is_served_by_an_index_and_no_index_repeats_another() {
    let w = world().await;
    let unindexed: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s %s', c.conrelid::regclass, c.conname) FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = 'mixerai'::regnamespace
           AND NOT EXISTS (
               SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.conrelid
                 AND (i.indpred IS NULL
                      OR pg_get_expr(i.indpred, i.indrelid) ~ '^\\(\\w+ IS NOT NULL\\)$')
                 -- The check looks rows up by the key's columns; an index leading with the first
                 -- of them serves it (the others narrow a handful of rows).
                 AND i.indkey[0] = c.conkey[1])
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(unindexed, Vec::<String>::new());
    // An index whose columns are a leading prefix of another's, with the same predicate and method,
    // only costs writes.
    let redundant: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s is a prefix of %s', a.indexrelid::regclass, b.indexrelid::regclass)
         FROM pg_index a
         JOIN pg_index b ON a.indrelid = b.indrelid AND a.indexrelid <> b.indexrelid
         JOIN pg_class ca ON ca.oid = a.indexrelid
         JOIN pg_class cb ON cb.oid = b.indexrelid
         WHERE ca.relnamespace = 'mixerai'::regnamespace
           AND ca.relam = cb.relam AND NOT a.indisunique
           AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
           AND a.indnatts <= b.indnatts
           AND (a.indkey::int2[])[0:a.indnatts - 1] = (b.indkey::int2[])[0:a.indnatts - 1]
           AND a.indoption::int2[] = (b.indoption::int2[])[0:a.indnatts - 1]
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(redundant, Vec::<String>::new());
}

#[tokio::test]
async fn compliance_records_cannot_be_forged_rewritten_or_read_across_brands() {
    let w = world().await;
    let p = w.owner();
    let ours = insert_content(p, w.a, "ours", w.editor_a).await;
    let theirs = insert_content(p, w.b, "theirs", w.admin_b).await;
    sqlx::query(
        "INSERT INTO mixerai.claims (brand_id, type, level, text, status, created_by, updated_by)
         VALUES ($1, 'product', 'brand', '{\"original\": \"Beta secret\"}', 'disallowed', $2, $2)",
    )
    .bind(w.b)
    .bind(w.admin_b)
    .execute(p)
    .await
    .unwrap();
    let record = |brand: Uuid, item: Uuid, version: i32| {
        format!(
            "INSERT INTO mixerai.compliance_checks (brand_id, content_id, version, country, language,
                 checked_for, rules_fingerprint, findings, checked_by, checked_at)
             VALUES ('{brand}', '{item}', {version}, 'GB', 'en', now(), '{{}}', '[]', '{}', '2001-01-01')",
            w.admin_b
        )
    };
    let mut s = w.scope(w.editor_a, w.a).await;
    for (sql, refused) in [
        // Another brand's item, under this brand: the composite foreign key.
        (record(w.a, theirs, 1), "reference"),
        // Another brand's item, under its brand: the brand policy.
        (record(w.b, theirs, 1), "forbidden"),
        // A version the item is not at.
        (record(w.a, ours, 7), "invalid"),
        // Rewriting or removing a record.
        (
            "UPDATE mixerai.compliance_checks SET findings = '[]'".to_owned(),
            "forbidden",
        ),
        (
            "DELETE FROM mixerai.compliance_checks".to_owned(),
            "forbidden",
        ),
        // The rule counters, and the owner's functions behind the tenant's doors.
        (
            "SELECT * FROM mixerai.claim_rule_revisions".to_owned(),
            "forbidden",
        ),
        (
            format!("SELECT mixerai.claim_rules_fingerprint_of('{}', 'GB')", w.b),
            "forbidden",
        ),
        (
            format!("SELECT * FROM mixerai.claim_source_brands('{}')", w.b),
            "forbidden",
        ),
    ] {
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), &sql).await.unwrap_err();
        let as_expected = match refused {
            "reference" => matches!(err, Error::InvalidReference { .. }),
            "forbidden" => matches!(err, Error::Forbidden { .. }),
            _ => err.validation().is_some(),
        };
        assert!(as_expected, "{sql}: {err:?}");
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
    }
    // A record of its own item is taken, but the time and the author are the database's.
    run(s.connection(), &record(w.a, ours, 1)).await.unwrap();
    let (at, by): (chrono::DateTime<chrono::Utc>, Uuid) =
        sqlx::query_as("SELECT checked_at, checked_by FROM mixerai.compliance_checks")
            .fetch_one(s.connection())
            .await
            .unwrap();
    assert!(
        at > chrono::Utc::now() - chrono::Duration::minutes(5),
        "{at}"
    );
    assert_eq!(by, w.editor_a);
    // Another brand's item answers nothing at the gate, its claims never reach resolution (B is no
    // master claim brand of A's), and its rule counters read as nothing.
    let gate: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.compliance_gate($1, 1, ARRAY['GB'], 'publishing', now())",
    )
    .bind(theirs)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(gate, 0);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.claims_resolve('GB', NULL, NULL, NULL, now()) WHERE brand_id = $1",
    )
    .bind(w.b)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    let fingerprint: serde_json::Value =
        sqlx::query_scalar("SELECT mixerai.claim_rules_fingerprint('GB')")
            .fetch_one(s.connection())
            .await
            .unwrap();
    assert_eq!(fingerprint.as_object().unwrap().len(), 1, "A's own only");
    s.commit().await.unwrap();

    // A tenant who clears its context gets nothing from the doors, rather than the owner's view.
    let mut s = w.scope(w.editor_a, w.a).await;
    run(
        s.connection(),
        "SELECT set_config('app.current_brand_id', '', true), set_config('app.current_user_id', '', true)",
    )
    .await
    .unwrap();
    let (resolved, gated, fp): (i64, i64, Option<serde_json::Value>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mixerai.claims_resolve('GB', NULL, NULL, NULL, now())),
                (SELECT count(*) FROM mixerai.compliance_gate($1, 1, ARRAY['GB'], 'publishing', now())),
                mixerai.claim_rules_fingerprint('GB')",
    )
    .bind(ours)
    .fetch_one(s.connection())
    .await
    .unwrap();
    assert_eq!((resolved, gated, fp), (0, 0, None));
}

/// The scope of `user` in `brand` on a tenant login of `w`'s database.
async fn tenant_login(w: &World, connections: u32) -> Database {
    w.db.database()
        .clone()
        .with_tenant_login(
            w.db.tenant_connect_options(),
            PgPoolOptions::new().max_connections(connections),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_context_set_inside_a_scope_is_refused_and_opening_one_takes_the_key() {
    let w = world().await;
    insert_content(w.owner(), w.b, "beta-secret", w.admin_b).await;
    let tenant = tenant_login(&w, 1).await;
    for (pool, db) in [("owner's pool", w.db.database()), ("tenant login", &tenant)] {
        let mut s = db
            .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
            .await
            .unwrap();
        // Becoming brand B's admin with set_config: every later statement is refused.
        for forge in [
            format!(
                "SELECT set_config('app.current_user_id', '{}', true), \
                        set_config('app.current_brand_id', '{}', true)",
                w.admin_b, w.b
            ),
            format!(
                "SELECT set_config('app.current_user_id', '{}', true)",
                w.admin_a
            ),
            "SELECT set_config('app.context_seal', '', true)".to_string(),
        ] {
            run(s.connection(), "SAVEPOINT f").await.unwrap();
            run(s.connection(), &forge).await.unwrap();
            let err = run(s.connection(), "SELECT count(*) FROM mixerai.content")
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::Forbidden { .. }),
                "{pool}, {forge}: {err:?}"
            );
            run(s.connection(), "ROLLBACK TO SAVEPOINT f")
                .await
                .unwrap();
        }
        // Opening a context without the key: refused, whatever proof is made up.
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(
            s.connection(),
            &format!(
                "SELECT mixerai.app_enter('{}', '{}', sha256('{}'::text::bytea), false)",
                w.admin_b, w.b, w.admin_b
            ),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{pool}: {err:?}");
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
        // The key itself is the owner's.
        run(s.connection(), "SAVEPOINT f").await.unwrap();
        let err = run(s.connection(), "SELECT key FROM mixerai.scope_keys")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{pool}: {err:?}");
        run(s.connection(), "ROLLBACK TO SAVEPOINT f")
            .await
            .unwrap();
        // The scope itself still works, and still sees its own brand only.
        let (mine, beta): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE brand_id = $1), count(*) FILTER (WHERE brand_id = $2)
             FROM mixerai.content",
        )
        .bind(w.a)
        .bind(w.b)
        .fetch_one(s.connection())
        .await
        .unwrap();
        assert_eq!((mine, beta), (0, 0), "{pool}");
    }
}

/// A tenant login may give itself session defaults (`ALTER ROLE … SET`), and `RESET ALL` brings them
/// back in every session: with `debug_print_plan` on, the server would write the custom plan of the
/// next scope's `app_enter`, its proof folded in as a constant, to its log (and send it to the client);
/// with `log_parameter_max_length_on_error` it would log the proof with an error. A scope turns both
/// off before `app_enter` is planned; the driver's startup settings (`TimeZone` here) outrank the
/// login's defaults anyway.
#[tokio::test]
async fn a_tenant_logins_own_session_defaults_cannot_make_the_server_print_the_next_scopes_proof() {
    let w = world().await;
    let intruder = tenant_login(&w, 1).await;
    let mut s = intruder
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(s.connection())
        .await
        .unwrap();
    run(s.connection(), "RESET ROLE").await.unwrap();
    for setting in [
        "debug_print_plan = on",
        "log_parameter_max_length_on_error = -1",
        "client_min_messages = log",
        "TimeZone = 'Pacific/Apia'",
    ] {
        run(
            s.connection(),
            &format!("ALTER ROLE CURRENT_USER IN DATABASE \"{database}\" SET {setting}"),
        )
        .await
        .unwrap();
    }
    s.commit().await.unwrap();

    // A new session of the login starts from those defaults; the next user's scope runs without them.
    let next = tenant_login(&w, 1).await;
    let mut s = next
        .scope(UserId::from_uuid(w.admin_b), BrandId::from_uuid(w.b))
        .await
        .unwrap();
    let seen: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT name, setting, reset_val FROM pg_catalog.pg_settings
         WHERE name IN ('debug_print_plan', 'log_parameter_max_length_on_error', 'TimeZone')
         ORDER BY name",
    )
    .fetch_all(s.connection())
    .await
    .unwrap();
    let own = |name: &str, setting: &str, default: &str| {
        (name.to_owned(), setting.to_owned(), default.to_owned())
    };
    assert_eq!(
        seen,
        [
            // The driver's startup setting outranks the login's default.
            own("TimeZone", "UTC", "UTC"),
            own("debug_print_plan", "off", "on"),
            own("log_parameter_max_length_on_error", "0", "-1"),
        ]
    );
    s.commit().await.unwrap();
}

#[tokio::test]
async fn a_statement_planted_under_a_driver_statement_name_never_runs_in_the_next_scope() {
    let w = world().await;
    let item = insert_content(w.owner(), w.b, "beta-item", w.admin_b).await;
    // One connection, so the intruder's session is the victim's next.
    let db = tenant_login(&w, 1).await;
    let (admin_b, b) = (w.admin_b, w.b);
    let victim = |db: Database| async move {
        let mut s = db
            .scope(UserId::from_uuid(admin_b), BrandId::from_uuid(b))
            .await
            .unwrap();
        let got = s
            .content()
            .get(mixerai_data::types::ContentId::from_uuid(item))
            .await
            .unwrap();
        s.commit().await.unwrap();
        got.title
    };
    assert_eq!(victim(db.clone()).await, "A title");

    // Brand A's editor replaces every statement the driver prepared on the session with one that
    // would rename all of the next scope's content, under that scope's context.
    let mut s = db
        .scope(UserId::from_uuid(w.editor_a), BrandId::from_uuid(w.a))
        .await
        .unwrap();
    let cached: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT name, parameter_types::text[] FROM pg_prepared_statements WHERE NOT from_sql",
    )
    .fetch_all(s.connection())
    .await
    .unwrap();
    assert!(!cached.is_empty(), "the driver caches its statements");
    for (name, types) in &cached {
        let types = if types.is_empty() {
            String::new()
        } else {
            format!("({})", types.join(", "))
        };
        run(
            s.connection(),
            &format!(
                "DEALLOCATE \"{name}\"; PREPARE \"{name}\"{types} AS \
                 UPDATE mixerai.content SET title = 'hijacked' RETURNING true"
            ),
        )
        .await
        .unwrap();
    }
    s.commit().await.unwrap();

    // The next scope on that connection sweeps them away before it runs anything named.
    assert_eq!(victim(db.clone()).await, "A title");
    let hijacked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.content WHERE title = 'hijacked'")
            .fetch_one(w.owner())
            .await
            .unwrap();
    assert_eq!(hijacked, 0);
    // And the driver's statements work again afterwards.
    assert_eq!(victim(db).await, "A title");
}

#[tokio::test]
async fn every_permissive_policy_checks_the_seal_and_the_unchecked_brand_is_for_restrictive_ones() {
    let w = world().await;
    // The restrictive brand policies read the brand unchecked (migration 0001, app_scope_brand_id):
    // safe only because a row must also pass a permissive policy, and each of those calls a helper
    // that checks the context's seal. A permissive policy may read it unchecked only right after such
    // a check, in the same expression.
    let unchecked: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s.%s', tablename, policyname) FROM pg_policies
         WHERE schemaname = 'mixerai' AND permissive = 'PERMISSIVE'
           AND concat(qual, ' ', with_check) !~
               'mixerai\\.app_(can_read|can_write|can_admin|current_role|is_platform_admin|current_user_id|current_brand_id|administers|context)\\('
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(unchecked, Vec::<String>::new());
    let misused: Vec<String> = sqlx::query_scalar(
        "SELECT format('policy %s.%s', tablename, policyname) FROM pg_policies
         WHERE schemaname = 'mixerai' AND permissive = 'PERMISSIVE'
           AND concat(qual, ' ', with_check) ~ 'app_scope_brand_id'
           -- Only right after a check of the seal in the same expression (content_read).
           AND concat(qual, ' ', with_check) !~
               'WHEN mixerai\\.app_can_(read|write|admin)\\(\\) THEN mixerai\\.app_scope_brand_id\\(\\)'
         UNION ALL
         SELECT format('function %s', p.oid::regprocedure) FROM pg_proc p
         WHERE p.pronamespace = 'mixerai'::regnamespace AND p.proname <> 'app_scope_brand_id'
           AND p.prosrc ~ 'app_scope_brand_id'
         UNION ALL
         SELECT format('view %s', c.oid::regclass) FROM pg_class c
         WHERE c.relnamespace = 'mixerai'::regnamespace AND c.relkind IN ('v', 'm')
           AND pg_get_viewdef(c.oid) ~ 'app_scope_brand_id'
         ORDER BY 1",
    )
    .fetch_all(w.owner())
    .await
    .unwrap();
    assert_eq!(misused, Vec::<String>::new());
    let restrictive: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_policies WHERE schemaname = 'mixerai' AND permissive = 'RESTRICTIVE'
           AND concat(qual, ' ', with_check) ~ 'app_scope_brand_id'",
    )
    .fetch_one(w.owner())
    .await
    .unwrap();
    assert!(restrictive > 10, "the brand policies use it: {restrictive}");
}
