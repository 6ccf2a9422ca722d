//! The supported deployment: a schema-owning role with `BYPASSRLS` and no superuser migrates and opens
//! every scope. Each test makes its own role and database on the test server, exactly as an operator
//! would (see `Database`'s docs), and cleans them up afterwards: roles are cluster-wide.

use mixerai_data::brands::{BrandRole, NewBrand, NewMembership};
use mixerai_data::content::{ContentFilter, NewContent};
use mixerai_data::templates::{NewTemplate, TemplateFilter};
use mixerai_data::test_support::TestServer;
use mixerai_data::workflows::{NewWorkflow, StepType, WorkflowFilter, WorkflowStep};
use mixerai_data::{Database, Error, PageRequest};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
use uuid::Uuid;

/// A login role and a database it owns, made through the server's superuser login; both are dropped
/// when this is dropped, even when the test fails.
struct OwnerDb {
    role: String,
    password: String,
    database: String,
    admin: PgConnectOptions,
}

impl OwnerDb {
    /// `attributes` are the role's, e.g. `BYPASSRLS`; `app_admin` grants it `mixerai_app` WITH ADMIN
    /// OPTION, the documented set-up step.
    async fn create(attributes: &str, app_admin: bool) -> OwnerDb {
        let server = TestServer::global().await.expect("test server");
        let id = Uuid::new_v4().simple().to_string();
        let owner = OwnerDb {
            role: format!("mixerai_owner_{id}"),
            password: Uuid::new_v4().simple().to_string(),
            database: format!("mixerai_owner_test_{id}"),
            admin: server.admin_options().clone(),
        };
        let mut admin = owner.admin().await;
        let mut setup = vec![
            // As 0013 does it: another test may be creating the role at this very moment.
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mixerai_app') THEN
                     CREATE ROLE mixerai_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
                .to_owned(),
            format!(
                "CREATE ROLE \"{}\" LOGIN PASSWORD '{}' NOSUPERUSER CREATEDB {attributes}",
                owner.role, owner.password
            ),
            format!(
                "CREATE DATABASE \"{}\" OWNER \"{}\"",
                owner.database, owner.role
            ),
        ];
        if app_admin {
            setup.push(format!(
                "GRANT mixerai_app TO \"{}\" WITH ADMIN OPTION",
                owner.role
            ));
        }
        for sql in setup {
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("owner set-up");
        }
        admin.close().await.expect("close");
        owner
    }

    async fn admin(&self) -> PgConnection {
        self.admin.connect().await.expect("admin connection")
    }

    /// A superuser connection to the owned database, to look at it from outside.
    async fn admin_on_db(&self) -> PgConnection {
        self.admin
            .clone()
            .database(&self.database)
            .connect()
            .await
            .expect("admin connection to the owned database")
    }

    /// The crate's handle, connected as the owning role.
    fn database(&self) -> Database {
        let options = self
            .admin
            .clone()
            .username(&self.role)
            .password(&self.password)
            .database(&self.database);
        Database::from_pool(
            PgPoolOptions::new()
                .max_connections(3)
                .connect_lazy_with(options),
        )
    }

    /// Whether any migration left a trace: the crate's schema (which holds its history table), or any
    /// relation or function in `public`.
    async fn anything_applied(&self) -> bool {
        let mut conn = self.admin_on_db().await;
        let applied = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'mixerai')
                 OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = 'public')
                 OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                            WHERE n.nspname = 'public')",
        )
        .fetch_one(&mut conn)
        .await
        .expect("inspect");
        conn.close().await.expect("close");
        applied
    }
}

impl Drop for OwnerDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let statements = [
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            format!("DROP ROLE IF EXISTS \"{}\"", self.role),
        ];
        // As TestDatabase's Drop: the test's runtime cannot be blocked on, so a runtime of its own on
        // its own thread does the round trips. Failure only leaves a stray role behind.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = admin.connect().await.ok()?;
                for sql in statements {
                    sqlx::raw_sql(AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .ok()?;
                }
                conn.close().await.ok()
            })
        })
        .join();
    }
}

fn user(email: &str) -> mixerai_data::users::NewUser {
    mixerai_data::users::NewUser::builder()
        .email(email)
        .first_name("Test")
        .last_name("Owner")
        .build()
        .unwrap()
}

fn brand(name: &str) -> NewBrand {
    NewBrand::builder()
        .name(name)
        .country("GB")
        .language("en")
        .build()
        .unwrap()
}

#[tokio::test]
async fn bypassrls_owner_migrates_and_runs_system_and_tenant_scopes_with_isolation_intact() {
    let owner = OwnerDb::create("BYPASSRLS", true).await;
    let db = owner.database();
    db.migrate().await.expect("a BYPASSRLS owner migrates");
    let (is_super, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!((is_super, bypass), (false, true), "not a superuser");

    // System scope: users, brands, first roles. Creating a user is audited with no brand: the audit
    // trigger runs as the owner, which the brand-scope policies would refuse without BYPASSRLS.
    let mut system = db.system_scope().await.unwrap();
    let ada = system
        .users()
        .create(&user("ada@example.com"))
        .await
        .unwrap();
    let bob = system
        .users()
        .create(&user("bob@example.com"))
        .await
        .unwrap();
    let engines = system
        .brands()
        .create(&brand("Analytical Engines"), ada.id)
        .await
        .unwrap();
    let looms = system
        .brands()
        .create(&brand("Jacquard Looms"), bob.id)
        .await
        .unwrap();
    system
        .brands()
        .grant(
            engines.id,
            ada.id,
            &NewMembership::builder()
                .role(BrandRole::Admin)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    system
        .brands()
        .grant(
            looms.id,
            bob.id,
            &NewMembership::builder()
                .role(BrandRole::Admin)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let user_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1 AND brand_id IS NULL",
    )
    .bind(ada.id.as_uuid())
    .fetch_one(system.connection())
    .await
    .unwrap();
    assert_eq!(user_events, 1, "the user's creation is in the audit trail");
    system.commit().await.unwrap();

    // Tenant scope: runs as mixerai_app, which does not bypass.
    let mut scope = db.scope(ada.id, engines.id).await.unwrap();
    let (role, role_bypasses): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(scope.connection())
    .await
    .unwrap();
    assert_eq!((role.as_str(), role_bypasses), ("mixerai_app", false));
    let item = scope
        .content()
        .create(
            &NewContent::builder()
                .content_type("article")
                .title("Notes on the Zeppelin")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let content_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mixerai.events WHERE aggregate_id = $1")
            .bind(item.id.as_uuid())
            .fetch_one(scope.connection())
            .await
            .unwrap();
    assert_eq!(content_events, 1, "the content's creation is audited");
    // 0008's SECURITY DEFINER search runs as the owner and still finds only this brand's items.
    let hits = scope.content().search("zeppelin", 10).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.content.id).collect::<Vec<_>>(),
        [item.id]
    );
    let template = scope
        .templates()
        .create(
            &NewTemplate::builder()
                .name("Article")
                .content_type("article")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    // A default workflow passes 0015's one-default trigger (SECURITY DEFINER as well).
    let workflow = scope
        .workflows()
        .create(
            &NewWorkflow::builder()
                .name("Review")
                .step(WorkflowStep {
                    assignees: vec!["editor".into()],
                    ..WorkflowStep::new("Review", StepType::Review, 1)
                })
                .content_type("article")
                .is_default(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        scope
            .workflows()
            .default_for("article")
            .await
            .unwrap()
            .map(|w| w.id),
        Some(workflow.id)
    );
    scope.commit().await.unwrap();

    // The other brand's admin sees none of it.
    let mut other = db.scope(bob.id, looms.id).await.unwrap();
    let first = PageRequest::first(50);
    assert!(
        other
            .content()
            .list(&ContentFilter::default(), &first)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        other.content().get(item.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        other
            .content()
            .search("zeppelin", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        other.templates().get(template.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(
        other
            .templates()
            .list(&TemplateFilter::default(), &first)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        other
            .workflows()
            .list(&WorkflowFilter::default(), &first)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        other.workflows().default_for("article").await.unwrap(),
        None
    );
    let foreign_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mixerai.events WHERE aggregate_id = ANY($1) OR brand_id = $2",
    )
    .bind(vec![
        item.id.as_uuid(),
        template.id.as_uuid(),
        workflow.id.as_uuid(),
    ])
    .bind(engines.id.as_uuid())
    .fetch_one(other.connection())
    .await
    .unwrap();
    assert_eq!(foreign_events, 0, "no other brand's audit trail");
    other.rollback().await.unwrap();

    // An existing deployment whose owner no longer administers mixerai_app still upgrades: the
    // membership check applies only before the tenancy migration.
    let mut admin = owner.admin().await;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "REVOKE ADMIN OPTION FOR mixerai_app FROM \"{}\"",
        owner.role
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    db.migrate().await.expect("already current: a no-op");
    db.pool().close().await;
}

#[tokio::test]
async fn migrating_as_a_role_that_cannot_bypass_rls_is_refused_before_anything_is_applied() {
    let owner = OwnerDb::create("NOBYPASSRLS", true).await;
    let db = owner.database();
    let err = db.migrate().await.unwrap_err();
    let Error::Misconfigured { reason } = &err else {
        panic!("expected Misconfigured, got {err:?}");
    };
    assert!(reason.contains("BYPASSRLS"), "{reason}");
    assert!(reason.contains(&owner.role), "{reason}");
    db.pool().close().await;
    assert!(!owner.anything_applied().await, "nothing was applied");
}

#[tokio::test]
async fn migrating_as_an_owner_that_cannot_grant_itself_mixerai_app_is_refused_before_anything_is_applied()
 {
    let owner = OwnerDb::create("BYPASSRLS", false).await;
    let db = owner.database();
    let err = db.migrate().await.unwrap_err();
    let Error::Misconfigured { reason } = &err else {
        panic!("expected Misconfigured, got {err:?}");
    };
    assert!(reason.contains("WITH ADMIN OPTION"), "{reason}");
    db.pool().close().await;
    assert!(!owner.anything_applied().await, "nothing was applied");
}

#[tokio::test]
async fn a_createrole_owner_needs_no_grant_of_mixerai_app_before_postgresql_16() {
    let owner = OwnerDb::create("BYPASSRLS CREATEROLE", false).await;
    let db = owner.database();
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let migrated = db.migrate().await;
    if version < 160000 {
        // CREATEROLE may grant any non-superuser role there, so 0013 makes the owner a member itself.
        migrated.expect("a CREATEROLE owner migrates");
        let mut system = db.system_scope().await.unwrap();
        let ada = system
            .users()
            .create(&user("ada@example.com"))
            .await
            .unwrap();
        let engines = system
            .brands()
            .create(&brand("Analytical Engines"), ada.id)
            .await
            .unwrap();
        system.commit().await.unwrap();
        let mut scope = db.scope(ada.id, engines.id).await.unwrap();
        let role: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(scope.connection())
            .await
            .unwrap();
        assert_eq!(role, "mixerai_app");
        scope.rollback().await.unwrap();
    } else {
        // From 16 CREATEROLE grants only roles it administers, and mixerai_app exists already.
        let err = migrated.unwrap_err();
        assert!(
            matches!(&err, Error::Misconfigured { reason } if reason.contains("WITH ADMIN OPTION")),
            "{err:?}"
        );
        assert!(!owner.anything_applied().await, "nothing was applied");
    }
    db.pool().close().await;
}

/// The harness itself runs as the supported deployment: every test's pool logs in as the owner role it
/// made, which is no superuser, bypasses row-level security, owns the database and every object the
/// migrations made, and administers `mixerai_app`. So the rest of the suite tests that model.
#[tokio::test]
async fn test_databases_are_owned_and_used_by_a_non_superuser_bypassrls_owner_of_every_object() {
    let test_db = crate::support::fresh_db().await;
    let pool = test_db.database().pool();
    let (role, superuser, bypass, createrole, createdb, owns_db, app_admin): (
        String,
        bool,
        bool,
        bool,
        bool,
        bool,
        bool,
    ) = sqlx::query_as(
        "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
                (SELECT datdba FROM pg_database WHERE datname = current_database()) = r.oid,
                EXISTS (SELECT 1 FROM pg_auth_members m
                        WHERE m.roleid = 'mixerai_app'::regrole AND m.member = r.oid
                          AND m.admin_option)
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(role, mixerai_data::test_support::OWNER_ROLE);
    assert_eq!(
        (superuser, bypass, createrole, createdb, owns_db, app_admin),
        (false, true, false, false, true, true)
    );
    // Everything the migrations made belongs to the owner: tables, views, sequences, indexes,
    // functions and types of the crate's schema.
    let foreign: Vec<String> = sqlx::query_scalar(
        "SELECT format('relation %s', c.relname) FROM pg_class c
         WHERE c.relnamespace = 'mixerai'::regnamespace AND c.relowner <> current_user::regrole
         UNION ALL
         SELECT format('function %s', p.proname) FROM pg_proc p
         WHERE p.pronamespace = 'mixerai'::regnamespace AND p.proowner <> current_user::regrole
         UNION ALL
         SELECT format('type %s', t.typname) FROM pg_type t
         WHERE t.typnamespace = 'mixerai'::regnamespace AND t.typowner <> current_user::regrole",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(foreign, Vec::<String>::new());
    let objects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'mixerai'::regnamespace",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(objects > 50, "only {objects} relations: not migrated?");

    // The admin login, kept for the few tests that need it, is the superuser.
    let mut admin = test_db.admin_connect_options().connect().await.unwrap();
    let admin_super: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(admin_super);
    admin.close().await.unwrap();
}
