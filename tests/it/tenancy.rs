//! Row-level security, tested as `mixerai_app` through the crate's scopes: a table of cases per role x
//! command x table, the privilege-escalation paths, and a property over random tenants.

use mixerai_data::types::{BrandId, UserId};
use mixerai_data::{Error, Scope};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::support::{fresh_db, pool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Viewer,
    Editor,
    Admin,
    /// An admin role whose expires_at has passed.
    Expired,
    /// Admin of another brand, no role here.
    Outsider,
    /// users.metadata.is_platform_admin, no role here.
    PlatformAdmin,
    /// A transaction as mixerai_app with no user and no brand set.
    NoContext,
}

const ACTORS: [Actor; 7] = [
    Actor::Viewer,
    Actor::Editor,
    Actor::Admin,
    Actor::Expired,
    Actor::Outsider,
    Actor::PlatformAdmin,
    Actor::NoContext,
];

impl Actor {
    /// 0 nothing, 1 read, 2 write content, 3 admin, 4 platform admin.
    fn level(self) -> u8 {
        match self {
            Actor::Viewer => 1,
            Actor::Editor => 2,
            Actor::Admin => 3,
            Actor::PlatformAdmin => 4,
            Actor::Expired | Actor::Outsider | Actor::NoContext => 0,
        }
    }
}

/// The least level a command needs; `Never` when the application role has no grant at all.
#[derive(Debug, Clone, Copy)]
enum Needs {
    Read,
    Write,
    Admin,
    Platform,
    Never,
}

impl Needs {
    fn allows(self, actor: Actor) -> bool {
        let level = actor.level();
        match self {
            Needs::Read => level >= 1,
            Needs::Write => level >= 2,
            Needs::Admin => level >= 3,
            Needs::Platform => level >= 4,
            Needs::Never => false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Rows(u64),
    Forbidden,
    /// A foreign key refused the delete: row-level security had let it through.
    Referenced,
}

struct Fixture {
    a: Uuid,
    b: Uuid,
    users: Vec<(Actor, Uuid)>,
    newcomer: Uuid,
    bystander_role: Uuid,
    content_a: Uuid,
    content_a_victim: Uuid,
    agency_a: Uuid,
    instance_a: Uuid,
    claim_a: Uuid,
    generation_a: Uuid,
    check_a: Uuid,
    template_a: Uuid,
    template_shared: Uuid,
    workflow_a: Uuid,
    workflow_shared: Uuid,
}

async fn one(pool: &PgPool, sql: &'static str, binds: &[Uuid]) -> Uuid {
    let mut q = sqlx::query_scalar::<_, Uuid>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn user(pool: &PgPool, name: &str, platform_admin: bool) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO mixerai.users (email, first_name, last_name, metadata) VALUES ($1, $2, 'Test', $3) RETURNING id",
    )
    .bind(format!("{name}@example.com"))
    .bind(name)
    .bind(serde_json::json!({ "is_platform_admin": platform_admin }))
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn role(pool: &PgPool, user: Uuid, brand: Uuid, role: &str, expired: bool) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role, expires_at)
         VALUES ($1, $2, $3, CASE WHEN $4 THEN now() - interval '1 day' END) RETURNING id",
    )
    .bind(user)
    .bind(brand)
    .bind(role)
    .bind(expired)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Two brands with one row of every tenant table each, written as the migrating (super)user.
async fn fixture(p: &PgPool) -> Fixture {
    let mut users = Vec::new();
    for actor in ACTORS {
        let name = format!("{actor:?}").to_lowercase();
        users.push((actor, user(p, &name, actor == Actor::PlatformAdmin).await));
    }
    let uid = |a: Actor| users.iter().find(|(x, _)| *x == a).unwrap().1;
    let owner = uid(Actor::Admin);
    let a = one(p, "INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('A', 'a', 'GB', 'en', $1) RETURNING id", &[owner]).await;
    let b = one(p, "INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ('B', 'b', 'FR', 'fr', $1) RETURNING id", &[owner]).await;
    role(p, uid(Actor::Viewer), a, "viewer", false).await;
    role(p, uid(Actor::Editor), a, "editor", false).await;
    role(p, uid(Actor::Admin), a, "admin", false).await;
    role(p, uid(Actor::Expired), a, "admin", true).await;
    role(p, uid(Actor::Outsider), b, "admin", false).await;
    let bystander = user(p, "bystander", false).await;
    let bystander_role = role(p, bystander, a, "viewer", false).await;
    role(p, bystander, b, "viewer", false).await;
    let newcomer = user(p, "newcomer", false).await;

    let mut per_brand = Vec::new();
    for brand in [a, b] {
        let agency = one(p, "INSERT INTO mixerai.brand_vetting_agencies (brand_id, agency_name) VALUES ($1, 'Agency') RETURNING id", &[brand]).await;
        let template = one(p, "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('T', ARRAY[$1], $2) RETURNING id", &[brand, owner]).await;
        let workflow = one(p, "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('W', ARRAY[$1], $2) RETURNING id", &[brand, owner]).await;
        let content = one(p, "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by) VALUES ($1, 'article', 'Main', 'main', $2, $2) RETURNING id", &[brand, owner]).await;
        let victim = one(p, "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by) VALUES ($1, 'article', 'Victim', 'victim', $2, $2) RETURNING id", &[brand, owner]).await;
        let instance = one(p, "INSERT INTO mixerai.workflow_instances (workflow_id, content_id, brand_id, started_by) VALUES ($1, $2, $3, $4) RETURNING id", &[workflow, content, brand, owner]).await;
        let claim = one(p, "INSERT INTO mixerai.claims (brand_id, type, level, text, status, created_by, updated_by) VALUES ($1, 'master', 'brand', '{\"original\": \"Tasty\"}', 'allowed', $2, $2) RETURNING id", &[brand, owner]).await;
        let generation = one(p, "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt, content_id) VALUES ($1, $2, 'alt_text', 'm', 'p', $3) RETURNING id", &[brand, owner, content]).await;
        let check = one(p, "INSERT INTO mixerai.compliance_checks (brand_id, content_id, version, country, language, checked_for, rules_fingerprint, checked_by) VALUES ($1, $2, 1, 'GB', 'en', now(), '{}', $3) RETURNING id", &[brand, content, owner]).await;
        per_brand.push((
            agency, template, workflow, content, victim, instance, claim, generation, check,
        ));
    }
    one(p, "INSERT INTO mixerai.compliance_settings (brand_id, created_by, updated_by) VALUES ($1, $2, $2) RETURNING id", &[a, owner]).await;
    let template_shared = one(p, "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('Shared', ARRAY[$1, $2], $3) RETURNING id", &[a, b, owner]).await;
    let workflow_shared = one(p, "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('Shared', ARRAY[$1, $2], $3) RETURNING id", &[a, b, owner]).await;
    let (
        agency_a,
        template_a,
        workflow_a,
        content_a,
        content_a_victim,
        instance_a,
        claim_a,
        generation_a,
        check_a,
    ) = per_brand[0];
    Fixture {
        a,
        b,
        users,
        newcomer,
        bystander_role,
        content_a,
        content_a_victim,
        agency_a,
        instance_a,
        claim_a,
        generation_a,
        check_a,
        template_a,
        template_shared,
        workflow_a,
        workflow_shared,
    }
}

enum Session {
    Scoped(Scope),
    Bare(Transaction<'static, Postgres>),
}

impl Session {
    async fn open(db: &mixerai_data::Database, f: &Fixture, actor: Actor, brand: Uuid) -> Session {
        if actor == Actor::NoContext {
            let mut tx = db.pool().begin().await.unwrap();
            sqlx::query("SET LOCAL ROLE mixerai_app")
                .execute(&mut *tx)
                .await
                .unwrap();
            return Session::Bare(tx);
        }
        let user = f.users.iter().find(|(a, _)| *a == actor).unwrap().1;
        Session::Scoped(
            db.scope(UserId::from_uuid(user), BrandId::from_uuid(brand))
                .await
                .unwrap(),
        )
    }

    fn conn(&mut self) -> &mut PgConnection {
        match self {
            Session::Scoped(s) => s.connection(),
            Session::Bare(tx) => tx,
        }
    }
}

struct Case {
    table: &'static str,
    read: Needs,
    insert: Needs,
    update: Needs,
    delete: Needs,
    /// Rows of brand A a reader sees (counted as the owner, which bypasses row-level security).
    visible: &'static str,
    insert_sql: &'static str,
    update_sql: &'static str,
    delete_sql: &'static str,
}

/// Binds for every statement: $1 = brand A, $2 = the acting user (or the newcomer), $3 = the row,
/// $4 = a second row (an insert's other reference: the content of an instance, the other brand).
fn cases() -> Vec<Case> {
    vec![
        Case {
            table: "brands",
            read: Needs::Read,
            insert: Needs::Platform,
            update: Needs::Admin,
            delete: Needs::Platform,
            visible: "SELECT count(*) FROM mixerai.brands WHERE id = $1",
            // Runs in a scope of a brand that does not exist yet: $1 is that new id.
            insert_sql: "INSERT INTO mixerai.brands (id, name, slug, country, language, created_by)
                         VALUES ($1, 'New', 'new', 'GB', 'en', $2)",
            update_sql: "UPDATE mixerai.brands SET description = 'edited' WHERE id = $1",
            delete_sql: "DELETE FROM mixerai.brands WHERE id = $1",
        },
        Case {
            table: "user_brand_roles",
            read: Needs::Read,
            insert: Needs::Admin,
            update: Needs::Admin,
            delete: Needs::Admin,
            visible: "SELECT count(*) FROM mixerai.user_brand_roles WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($2, $1, 'viewer')",
            update_sql: "UPDATE mixerai.user_brand_roles SET role = 'editor' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.user_brand_roles WHERE id = $3",
        },
        Case {
            table: "brand_vetting_agencies",
            read: Needs::Read,
            insert: Needs::Admin,
            update: Needs::Admin,
            delete: Needs::Admin,
            visible: "SELECT count(*) FROM mixerai.brand_vetting_agencies WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.brand_vetting_agencies (brand_id, agency_name) VALUES ($1, 'Another')",
            update_sql: "UPDATE mixerai.brand_vetting_agencies SET priority = 5 WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.brand_vetting_agencies WHERE id = $3",
        },
        Case {
            table: "content",
            read: Needs::Read,
            insert: Needs::Write,
            update: Needs::Write,
            delete: Needs::Write,
            visible: "SELECT count(*) FROM mixerai.content WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
                         VALUES ($1, 'article', 'New', 'new', $2, $2)",
            update_sql: "UPDATE mixerai.content SET title = 'edited' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.content WHERE id = $3",
        },
        Case {
            table: "workflow_instances",
            read: Needs::Read,
            insert: Needs::Write,
            update: Needs::Write,
            delete: Needs::Write,
            visible: "SELECT count(*) FROM mixerai.workflow_instances WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.workflow_instances (workflow_id, content_id, brand_id, started_by, status, completed_at)
                         VALUES ($3, $4, $1, $2, 'approved', now())",
            update_sql: "UPDATE mixerai.workflow_instances SET context = '{\"edited\": true}' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.workflow_instances WHERE id = $3",
        },
        Case {
            table: "claims",
            read: Needs::Read,
            insert: Needs::Admin,
            update: Needs::Admin,
            delete: Needs::Admin,
            visible: "SELECT count(*) FROM mixerai.claims WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.claims (brand_id, type, level, text, status, created_by, updated_by)
                         VALUES ($1, 'product', 'product', '{\"original\": \"New\"}', 'allowed', $2, $2)",
            update_sql: "UPDATE mixerai.claims SET notes = 'edited' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.claims WHERE id = $3",
        },
        Case {
            table: "compliance_checks",
            read: Needs::Read,
            // Recorded by writers, never changed or deleted by anyone (the application role has no
            // grant for either).
            insert: Needs::Write,
            update: Needs::Never,
            delete: Needs::Never,
            visible: "SELECT count(*) FROM mixerai.compliance_checks WHERE brand_id = $1",
            // $3 is the item checked (see the insert's row below).
            insert_sql: "INSERT INTO mixerai.compliance_checks (brand_id, content_id, version, country, language,
                             checked_for, rules_fingerprint, checked_by)
                         VALUES ($1, $3, 1, 'GB', 'en', now(), '{}', $2)",
            update_sql: "UPDATE mixerai.compliance_checks SET findings = '[]' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.compliance_checks WHERE id = $3",
        },
        Case {
            table: "compliance_settings",
            read: Needs::Read,
            insert: Needs::Admin,
            update: Needs::Admin,
            delete: Needs::Never,
            visible: "SELECT count(*) FROM mixerai.compliance_settings WHERE brand_id = $1",
            // The brand has settings already: an insert meeting them updates them, and needs the
            // insert policy first.
            insert_sql: "INSERT INTO mixerai.compliance_settings (brand_id, created_by, updated_by) VALUES ($1, $2, $2)
                         ON CONFLICT (brand_id) DO UPDATE SET gate_approval = true",
            update_sql: "UPDATE mixerai.compliance_settings SET gate_publishing = true WHERE brand_id = $1",
            delete_sql: "DELETE FROM mixerai.compliance_settings WHERE brand_id = $1",
        },
        Case {
            table: "ai_generations",
            read: Needs::Read,
            insert: Needs::Write,
            update: Needs::Write,
            delete: Needs::Admin,
            visible: "SELECT count(*) FROM mixerai.ai_generations WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.ai_generations (brand_id, user_id, type, model, prompt) VALUES ($1, $2, 'alt_text', 'm', 'p')",
            update_sql: "UPDATE mixerai.ai_generations SET metadata = '{\"edited\": true}' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.ai_generations WHERE id = $3",
        },
        Case {
            table: "events",
            read: Needs::Read,
            // The trail is written by the audit trigger and mixerai.append_events only (hardening.rs).
            insert: Needs::Never,
            update: Needs::Never,
            delete: Needs::Never,
            // Readers below admin do not see security events; see events_visible_to().
            visible: "SELECT count(*) FROM mixerai.events WHERE brand_id = $1",
            insert_sql: "INSERT INTO mixerai.events (aggregate_id, aggregate_type, event_type, stream_version, payload, brand_id)
                         VALUES (gen_random_uuid(), 'note', 'noted', 1, '{}', $1)",
            update_sql: "UPDATE mixerai.events SET metadata = '{\"edited\": true}' WHERE brand_id = $1",
            delete_sql: "DELETE FROM mixerai.events WHERE brand_id = $1",
        },
        Case {
            table: "content_templates",
            read: Needs::Read,
            insert: Needs::Write,
            update: Needs::Write,
            delete: Needs::Write,
            visible: "SELECT count(*) FROM mixerai.content_templates WHERE brand_ids @> ARRAY[$1]",
            insert_sql: "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('New', ARRAY[$1], $2)",
            update_sql: "UPDATE mixerai.content_templates SET description = 'edited' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.content_templates WHERE id = $3",
        },
        Case {
            table: "content_templates (shared by two brands)",
            read: Needs::Read,
            insert: Needs::Platform,
            update: Needs::Platform,
            delete: Needs::Platform,
            visible: "SELECT count(*) FROM mixerai.content_templates WHERE brand_ids @> ARRAY[$1]",
            insert_sql: "INSERT INTO mixerai.content_templates (name, brand_ids, created_by) VALUES ('New', ARRAY[$1, $4], $2)",
            update_sql: "UPDATE mixerai.content_templates SET description = 'edited' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.content_templates WHERE id = $3",
        },
        Case {
            table: "workflows",
            read: Needs::Read,
            insert: Needs::Admin,
            update: Needs::Admin,
            delete: Needs::Admin,
            visible: "SELECT count(*) FROM mixerai.workflows WHERE brand_ids @> ARRAY[$1]",
            insert_sql: "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('New', ARRAY[$1], $2)",
            update_sql: "UPDATE mixerai.workflows SET description = 'edited' WHERE id = $3",
            // The instance of brand A references it: a permitted delete hits the foreign key.
            delete_sql: "DELETE FROM mixerai.workflows WHERE id = $3",
        },
        Case {
            table: "workflows (shared by two brands)",
            read: Needs::Read,
            insert: Needs::Platform,
            update: Needs::Platform,
            delete: Needs::Platform,
            visible: "SELECT count(*) FROM mixerai.workflows WHERE brand_ids @> ARRAY[$1]",
            insert_sql: "INSERT INTO mixerai.workflows (name, brand_ids, created_by) VALUES ('New', ARRAY[$1, $4], $2)",
            update_sql: "UPDATE mixerai.workflows SET description = 'edited' WHERE id = $3",
            delete_sql: "DELETE FROM mixerai.workflows WHERE id = $3",
        },
    ]
}

fn target_row(f: &Fixture, table: &str) -> Uuid {
    match table {
        "brands" => f.a,
        "user_brand_roles" => f.bystander_role,
        "brand_vetting_agencies" => f.agency_a,
        "content" => f.content_a_victim,
        "workflow_instances" => f.instance_a,
        "claims" => f.claim_a,
        "ai_generations" => f.generation_a,
        "compliance_checks" => f.check_a,
        "compliance_settings" => f.a,
        "events" => f.a,
        "content_templates" => f.template_a,
        "content_templates (shared by two brands)" => f.template_shared,
        "workflows" => f.workflow_a,
        "workflows (shared by two brands)" => f.workflow_shared,
        other => unreachable!("{other}"),
    }
}

async fn run(conn: &mut PgConnection, sql: &'static str, binds: [Uuid; 4]) -> Outcome {
    // sqlx declares each parameter's type (uuid), so statements may leave some unused.
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b);
    }
    match q.execute(conn).await.map_err(Error::from) {
        Ok(r) => Outcome::Rows(r.rows_affected()),
        Err(Error::Forbidden { .. }) => Outcome::Forbidden,
        Err(Error::InvalidReference { .. }) => Outcome::Referenced,
        Err(e) => panic!("{sql}: unexpected {e:?}"),
    }
}

async fn count(conn: &mut PgConnection, table: &str) -> u64 {
    let table = table.split(' ').next().unwrap();
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM mixerai.{table}"
    )))
    .fetch_one(conn)
    .await
    .unwrap();
    n as u64
}

#[tokio::test]
async fn every_role_sees_and_changes_exactly_what_its_policies_allow() {
    let test_db = fresh_db().await;
    let db = test_db.database();
    let p = pool(&test_db);
    let f = fixture(p).await;
    let mut failures = Vec::new();
    for case in cases() {
        let target = target_row(&f, case.table);
        let visible_all: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(case.visible.to_string()))
            .bind(f.a)
            .fetch_one(p)
            .await
            .unwrap();
        for actor in ACTORS {
            let acting_user = f
                .users
                .iter()
                .find(|(a, _)| *a == actor)
                .map(|u| u.1)
                .unwrap();
            // select
            let mut s = Session::open(db, &f, actor, f.a).await;
            let seen = count(s.conn(), case.table).await;
            let expected = if case.read.allows(actor) {
                if case.table == "events" && actor.level() < 3 {
                    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM mixerai.events WHERE brand_id = $1 AND category <> 'security'")
                        .bind(f.a)
                        .fetch_one(p)
                        .await
                        .unwrap() as u64
                } else {
                    visible_all as u64
                }
            } else {
                0
            };
            if seen != expected {
                failures.push(format!(
                    "{actor:?} select {}: saw {seen}, expected {expected}",
                    case.table
                ));
            }
            drop(s);

            // insert: a brand is created in a scope of its own, new id
            let (brand, second) = match case.table {
                "brands" => (Uuid::new_v4(), acting_user),
                "user_brand_roles" => (f.a, f.newcomer),
                _ => (f.a, acting_user),
            };
            let mut s = Session::open(db, &f, actor, brand).await;
            let (row, other) = match case.table {
                "workflow_instances" => (f.workflow_a, f.content_a),
                "compliance_checks" => (f.content_a, f.b),
                _ => (target, f.b),
            };
            let got = run(s.conn(), case.insert_sql, [brand, second, row, other]).await;
            let want = if case.insert.allows(actor) {
                Outcome::Rows(1)
            } else {
                Outcome::Forbidden
            };
            if got != want {
                failures.push(format!(
                    "{actor:?} insert {}: {got:?}, expected {want:?}",
                    case.table
                ));
            }
            drop(s);

            // update
            let mut s = Session::open(db, &f, actor, f.a).await;
            let got = run(s.conn(), case.update_sql, [f.a, acting_user, target, f.b]).await;
            let want = match case.update {
                Needs::Never => Outcome::Forbidden,
                n if n.allows(actor) => Outcome::Rows(if case.table == "events" {
                    visible_all as u64
                } else {
                    1
                }),
                _ => Outcome::Rows(0),
            };
            if got != want {
                failures.push(format!(
                    "{actor:?} update {}: {got:?}, expected {want:?}",
                    case.table
                ));
            }
            drop(s);

            // delete
            let mut s = Session::open(db, &f, actor, f.a).await;
            let got = run(s.conn(), case.delete_sql, [f.a, acting_user, target, f.b]).await;
            let want = match case.delete {
                Needs::Never => Outcome::Forbidden,
                n if n.allows(actor) => match case.table {
                    // Other rows still reference these: the delete got past row-level security.
                    "brands" | "workflows" => Outcome::Referenced,
                    _ => Outcome::Rows(1),
                },
                _ => Outcome::Rows(0),
            };
            if got != want {
                failures.push(format!(
                    "{actor:?} delete {}: {got:?}, expected {want:?}",
                    case.table
                ));
            }
            drop(s);
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing above committed: every row of the fixture is still there.
    let content: i64 = sqlx::query_scalar("SELECT count(*) FROM mixerai.content")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(content, 4);
}

async fn editor_and_admin(p: &PgPool) -> (Fixture, Uuid, Uuid) {
    let f = fixture(p).await;
    let editor = f.users.iter().find(|(a, _)| *a == Actor::Editor).unwrap().1;
    let admin = f.users.iter().find(|(a, _)| *a == Actor::Admin).unwrap().1;
    (f, editor, admin)
}

#[tokio::test]
async fn no_user_can_make_themselves_a_platform_admin() {
    let test_db = fresh_db().await;
    let p = pool(&test_db);
    let (f, editor, _) = editor_and_admin(p).await;
    let mut scope = test_db
        .database()
        .scope(UserId::from_uuid(editor), BrandId::from_uuid(f.a))
        .await
        .unwrap();
    let err = scope
        .users()
        .set_platform_admin(UserId::from_uuid(editor), 1, true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    drop(scope);
    let flag: Option<String> = sqlx::query_scalar(
        "SELECT metadata->>'is_platform_admin' FROM mixerai.users WHERE id = $1",
    )
    .bind(editor)
    .fetch_one(p)
    .await
    .unwrap();
    assert_eq!(flag.as_deref(), Some("false"));
}

#[tokio::test]
async fn no_editor_can_grant_themselves_a_role() {
    let test_db = fresh_db().await;
    let (f, editor, _) = editor_and_admin(pool(&test_db)).await;
    for brand in [f.a, f.b] {
        let mut scope = test_db
            .database()
            .scope(UserId::from_uuid(editor), BrandId::from_uuid(brand))
            .await
            .unwrap();
        let err = scope
            .brands()
            .grant(
                BrandId::from_uuid(brand),
                UserId::from_uuid(editor),
                &mixerai_data::brands::NewMembership::builder()
                    .role(mixerai_data::brands::BrandRole::Admin)
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Forbidden { .. }),
            "brand {brand}: {err:?}"
        );
    }
    let role: String = sqlx::query_scalar(
        "SELECT role FROM mixerai.user_brand_roles WHERE user_id = $1 AND brand_id = $2",
    )
    .bind(editor)
    .bind(f.a)
    .fetch_one(pool(&test_db))
    .await
    .unwrap();
    assert_eq!(role, "editor");
}

#[tokio::test]
async fn no_admin_can_move_a_row_into_another_brand_or_grant_roles_there() {
    let test_db = fresh_db().await;
    let p = pool(&test_db);
    let (f, _, admin) = editor_and_admin(p).await;
    let mut scope = test_db
        .database()
        .scope(UserId::from_uuid(admin), BrandId::from_uuid(f.a))
        .await
        .unwrap();
    for (sql, what) in [
        (
            "UPDATE mixerai.content SET brand_id = $2 WHERE id = $1",
            "move content",
        ),
        (
            "UPDATE mixerai.claims SET brand_id = $2 WHERE brand_id = $3",
            "move claims",
        ),
        (
            "UPDATE mixerai.workflows SET brand_ids = ARRAY[$2] WHERE id = $4",
            "reassign a workflow",
        ),
        (
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($5, $2, 'admin')",
            "grant in B",
        ),
    ] {
        let r = sqlx::query("SAVEPOINT s").execute(scope.connection()).await;
        r.unwrap();
        let err = sqlx::query(sql)
            .bind(f.content_a)
            .bind(f.b)
            .bind(f.a)
            .bind(f.workflow_a)
            .bind(admin)
            .execute(scope.connection())
            .await
            .map_err(Error::from)
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{what}: {err:?}");
        sqlx::query("ROLLBACK TO SAVEPOINT s")
            .execute(scope.connection())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_application_role_never_reads_password_hashes_or_mfa_material() {
    let test_db = fresh_db().await;
    let p = pool(&test_db);
    let (f, editor, _) = editor_and_admin(p).await;
    let mut scope = test_db
        .database()
        .scope(UserId::from_uuid(editor), BrandId::from_uuid(f.a))
        .await
        .unwrap();
    for column in ["password_hash", "mfa_secret", "mfa_backup_codes"] {
        sqlx::query("SAVEPOINT s")
            .execute(scope.connection())
            .await
            .unwrap();
        let err = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {column} FROM mixerai.users WHERE id = $1"
        )))
        .bind(editor)
        .execute(scope.connection())
        .await
        .map_err(Error::from)
        .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{column}: {err:?}");
        sqlx::query("ROLLBACK TO SAVEPOINT s")
            .execute(scope.connection())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn members_see_their_brands_members_and_no_one_else() {
    let test_db = fresh_db().await;
    let p = pool(&test_db);
    let f = fixture(p).await;
    let viewer = f.users.iter().find(|(a, _)| *a == Actor::Viewer).unwrap().1;
    let outsider = f
        .users
        .iter()
        .find(|(a, _)| *a == Actor::Outsider)
        .unwrap()
        .1;
    let mut scope = test_db
        .database()
        .scope(UserId::from_uuid(viewer), BrandId::from_uuid(f.a))
        .await
        .unwrap();
    // Everyone who holds or held a role in the brand (the viewer among them), as a public profile.
    let profiles = scope
        .users()
        .profiles(&mixerai_data::PageRequest::first(100))
        .await
        .unwrap();
    let mut visible: Vec<Uuid> = profiles.items.iter().map(|u| u.id.as_uuid()).collect();
    visible.sort();
    let expected: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM mixerai.user_brand_roles WHERE brand_id = $1 ORDER BY user_id",
    )
    .bind(f.a)
    .fetch_all(p)
    .await
    .unwrap();
    assert_eq!(visible, expected);
    assert!(!visible.contains(&outsider));
    let err = scope
        .users()
        .profile(UserId::from_uuid(outsider))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    // And nothing more: of the accounts themselves only the viewer's own is readable.
    for member in &expected {
        let profile = scope
            .users()
            .profile(UserId::from_uuid(*member))
            .await
            .unwrap();
        assert_eq!(profile.id.as_uuid(), *member);
        for column in ["phone", "metadata"] {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {column} FROM mixerai.users WHERE id = $1"
            )))
            .bind(member)
            .fetch_all(scope.connection())
            .await
            .unwrap();
            assert_eq!(rows.len(), usize::from(*member == viewer), "{column}");
        }
    }
    let readable: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM mixerai.users")
        .fetch_all(scope.connection())
        .await
        .unwrap();
    assert_eq!(readable, [viewer]);
}

mod property {
    //! Random brands, users, roles and operations: no operation ever returns or changes a row of a
    //! brand the acting user has no live role in.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy)]
    enum Grant {
        None,
        Viewer,
        Editor,
        Admin,
        ExpiredAdmin,
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        ReadAll,
        UpdateAll,
        DeleteAll,
        InsertInto(usize),
        ReadOtherBrand(usize),
    }

    fn grant() -> impl Strategy<Value = Grant> {
        prop_oneof![
            Just(Grant::None),
            Just(Grant::Viewer),
            Just(Grant::Editor),
            Just(Grant::Admin),
            Just(Grant::ExpiredAdmin)
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::ReadAll),
            Just(Op::UpdateAll),
            Just(Op::DeleteAll),
            (0usize..4).prop_map(Op::InsertInto),
            (0usize..4).prop_map(Op::ReadOtherBrand),
        ]
    }

    /// Brand count, each user's grant per brand, and operations (user index, scope brand index, op).
    type Scenario = (usize, Vec<Vec<Grant>>, Vec<(usize, usize, Op)>);

    /// A scenario of 2-4 brands and 2-4 users.
    fn scenario() -> impl Strategy<Value = Scenario> {
        (2usize..=4, 2usize..=4).prop_flat_map(|(brands, users)| {
            (
                Just(brands),
                proptest::collection::vec(proptest::collection::vec(grant(), brands), users),
                proptest::collection::vec((0..users, 0..brands, op()), 1..12),
            )
        })
    }

    fn live(g: Grant) -> u8 {
        match g {
            Grant::Viewer => 1,
            Grant::Editor => 2,
            Grant::Admin => 3,
            Grant::None | Grant::ExpiredAdmin => 0,
        }
    }

    async fn snapshot(p: &PgPool) -> Vec<(Uuid, Uuid, String)> {
        sqlx::query_as("SELECT id, brand_id, title FROM mixerai.content ORDER BY id")
            .fetch_all(p)
            .await
            .unwrap()
    }

    async fn check(brand_count: usize, grants: Vec<Vec<Grant>>, ops: Vec<(usize, usize, Op)>) {
        let test_db = fresh_db().await;
        let p = pool(&test_db).clone();
        let owner = user(&p, "owner", false).await;
        let mut brands = Vec::new();
        for i in 0..brand_count {
            let b: Uuid = sqlx::query_scalar(
                "INSERT INTO mixerai.brands (name, slug, country, language, created_by) VALUES ($1, $1, 'GB', 'en', $2) RETURNING id",
            )
            .bind(format!("b{i}"))
            .bind(owner)
            .fetch_one(&p)
            .await
            .unwrap();
            for j in 0..3 {
                sqlx::query("INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by) VALUES ($1, 'a', 'seed', $2, $3, $3)")
                    .bind(b)
                    .bind(format!("seed-{j}"))
                    .bind(owner)
                    .execute(&p)
                    .await
                    .unwrap();
            }
            brands.push(b);
        }
        let mut users = Vec::new();
        for (u, per_brand) in grants.iter().enumerate() {
            let id = user(&p, &format!("u{u}"), false).await;
            for (b, g) in per_brand.iter().enumerate() {
                let (r, expired) = match g {
                    Grant::None => continue,
                    Grant::Viewer => ("viewer", false),
                    Grant::Editor => ("editor", false),
                    Grant::Admin => ("admin", false),
                    Grant::ExpiredAdmin => ("admin", true),
                };
                role(&p, id, brands[b], r, expired).await;
            }
            users.push(id);
        }
        for (n, (u, b, op)) in ops.into_iter().enumerate() {
            let level = live(grants[u][b]);
            let before = snapshot(&p).await;
            let mut scope = test_db
                .database()
                .scope(UserId::from_uuid(users[u]), BrandId::from_uuid(brands[b]))
                .await
                .unwrap();
            match op {
                Op::ReadAll | Op::ReadOtherBrand(_) => {
                    let target = match op {
                        Op::ReadOtherBrand(o) => brands[o % brand_count],
                        _ => brands[b],
                    };
                    let rows: Vec<Uuid> = sqlx::query_scalar(
                        "SELECT brand_id FROM mixerai.content WHERE brand_id = $1 OR $1 IS NOT NULL",
                    )
                    .bind(target)
                    .fetch_all(scope.connection())
                    .await
                    .unwrap();
                    assert!(
                        rows.iter().all(|r| *r == brands[b]),
                        "op {n}: read a row of another brand"
                    );
                    assert!(
                        level >= 1 || rows.is_empty(),
                        "op {n}: read without a live role"
                    );
                }
                Op::UpdateAll => {
                    let r = sqlx::query("UPDATE mixerai.content SET title = $1")
                        .bind(format!("op{n}"))
                        .execute(scope.connection())
                        .await
                        .unwrap();
                    assert!(
                        level >= 2 || r.rows_affected() == 0,
                        "op {n}: updated without write role"
                    );
                }
                Op::DeleteAll => {
                    let r = sqlx::query("DELETE FROM mixerai.content")
                        .execute(scope.connection())
                        .await
                        .unwrap();
                    assert!(
                        level >= 2 || r.rows_affected() == 0,
                        "op {n}: deleted without write role"
                    );
                }
                Op::InsertInto(o) => {
                    let target = brands[o % brand_count];
                    let r = sqlx::query("INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by) VALUES ($1, 'a', 'ins', $2, $3, $3)")
                        .bind(target)
                        .bind(format!("op-{n}"))
                        .bind(users[u])
                        .execute(scope.connection())
                        .await
                        .map_err(Error::from);
                    match r {
                        Ok(_) => assert!(
                            target == brands[b] && level >= 2,
                            "op {n}: inserted where not allowed"
                        ),
                        Err(Error::Forbidden { .. }) => assert!(
                            target != brands[b] || level < 2,
                            "op {n}: refused an allowed insert"
                        ),
                        Err(e) => panic!("op {n}: {e:?}"),
                    }
                }
            }
            scope.commit().await.unwrap();
            // Whatever changed belongs to the scope's brand, and only a writer changed anything.
            let after = snapshot(&p).await;
            let changed: Vec<_> = after
                .iter()
                .filter(|r| !before.contains(r))
                .chain(before.iter().filter(|r| !after.contains(r)))
                .collect();
            for (_, brand, _) in &changed {
                assert_eq!(*brand, brands[b], "op {n}: changed a row of another brand");
                assert!(
                    level >= 2,
                    "op {n}: changed a row without a live write role"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn no_operation_touches_a_brand_without_a_live_role((brands, grants, ops) in scenario()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(check(brands, grants, ops));
        }
    }
}
