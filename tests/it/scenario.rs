//! Many tenants sharing a small pool: no scope ever sees another tenant's rows, and no connection handed
//! back after a scope carries a tenant setting, whatever way the scope ended (commit, rollback, drop,
//! drop after an error).
//!
//! The scenario: shared by the direct-pool test (`pooling.rs`) and the PgBouncer test
//! (`tests/tools/pgbouncer.rs`), so every statement in it
//! must also work through PgBouncer in transaction mode without protocol-level prepared statements
//! (PgBouncer < 1.21): inside a scope, statements are unnamed (`persistent(false)`), because sqlx names
//! its prepared statements `sqlx_s_N` per client connection (even with `statement_cache_capacity(0)`)
//! and two clients sharing one server connection would collide; outside a scope only the simple protocol
//! (`raw_sql`) is used, because sqlx's extended protocol sends Parse and Bind in two syncs, between which
//! transaction pooling may hand the server connection to another client.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mixerai_data::Database;
use mixerai_data::types::{BrandId, UserId};
use sqlx::{PgPool, Row};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::support::{insert_brand, insert_user};

pub const BRANDS: usize = 8;
pub const TASKS: usize = 16;
pub const ITERATIONS: usize = 50;
pub const SEED_ROWS_PER_BRAND: i64 = 25;

/// One brand with its one editor. `committed` counts the rows scopes have committed into the brand; the
/// lock also serialises the brand's own tasks, so each scope knows the exact count it must see.
pub struct Tenant {
    pub brand: Uuid,
    pub user: Uuid,
    /// Every title of the brand starts with this.
    pub prefix: String,
    committed: Mutex<i64>,
}

/// The brands of the scenario, seeded as the owner (which bypasses row-level security).
pub struct Tenants(Vec<Arc<Tenant>>);

pub async fn seed_tenants(owner: &PgPool) -> Tenants {
    let mut tenants = Vec::with_capacity(BRANDS);
    for k in 0..BRANDS {
        let user = insert_user(owner, &format!("editor{k}@example.com")).await;
        let brand = insert_brand(owner, &format!("tenant-{k}"), user).await;
        sqlx::query(
            "INSERT INTO mixerai.user_brand_roles (user_id, brand_id, role) VALUES ($1, $2, 'editor')",
        )
        .bind(user)
        .bind(brand)
        .execute(owner)
        .await
        .expect("grant editor");
        let prefix = format!("[tenant-{k}]");
        sqlx::query(
            "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
             SELECT $1, 'article', $2 || ' seed ' || g, 'seed-' || g, $3, $3
             FROM generate_series(1, $4) g",
        )
        .bind(brand)
        .bind(&prefix)
        .bind(user)
        .bind(SEED_ROWS_PER_BRAND)
        .execute(owner)
        .await
        .expect("seed content");
        tenants.push(Arc::new(Tenant {
            brand,
            user,
            prefix,
            committed: Mutex::new(0),
        }));
    }
    Tenants(tenants)
}

/// What the scenario did, for the caller's own assertions.
#[derive(Debug, Default)]
pub struct Report {
    pub committed: usize,
    pub dropped: usize,
    pub failed: usize,
    pub rolled_back: usize,
    pub read_only: usize,
    pub plain_checks: usize,
    /// `pg_backend_pid()` of every server connection a scope ran on.
    pub backends: BTreeSet<i32>,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.committed += other.committed;
        self.dropped += other.dropped;
        self.failed += other.failed;
        self.rolled_back += other.rolled_back;
        self.read_only += other.read_only;
        self.plain_checks += other.plain_checks;
        self.backends.extend(other.backends);
    }
}

/// Runs [`TASKS`] tasks, two per brand, each [`ITERATIONS`] times opening a scope on `db`, checking what
/// it sees, and ending the scope one of five ways; between scopes each task checks a plain connection of
/// the same pool for leftover tenant state. Finally checks, as the owner (`owner`, which bypasses
/// row-level security), that exactly the committed rows were written. `login_role` is the pool's login role.
pub async fn run_pooling_scenario(
    db: &Database,
    tenants: &Tenants,
    owner: &PgPool,
    login_role: &str,
) -> Report {
    let mut handles = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let tenant = tenants.0[task % BRANDS].clone();
        let other = tenants.0[(task + 1) % BRANDS].clone();
        let db = db.clone();
        let login_role = login_role.to_owned();
        handles.push(tokio::spawn(async move {
            tenant_task(db, tenant, other, task, login_role).await
        }));
    }
    let mut report = Report::default();
    for handle in handles {
        match handle.await {
            Ok(r) => report.merge(r),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("task failed: {e}"),
        }
    }

    // Every way of ending a scope was exercised.
    assert!(
        report.committed > 0
            && report.dropped > 0
            && report.failed > 0
            && report.rolled_back > 0
            && report.read_only > 0,
        "{report:?}"
    );
    assert_eq!(report.plain_checks, TASKS * ITERATIONS);

    // The owner (BYPASSRLS: no row-level security) sees exactly the seeds plus the committed rows.
    let per_brand: BTreeMap<Uuid, i64> = sqlx::raw_sql(
        "SELECT brand_id, count(*) FROM mixerai.content WHERE deleted_at IS NULL GROUP BY brand_id",
    )
    .fetch_all(owner)
    .await
    .unwrap()
    .into_iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    let mut committed_total = 0;
    for tenant in &tenants.0 {
        let committed = *tenant.committed.lock().await;
        committed_total += committed;
        assert_eq!(
            per_brand.get(&tenant.brand).copied(),
            Some(SEED_ROWS_PER_BRAND + committed),
            "{}",
            tenant.prefix
        );
    }
    assert_eq!(committed_total, report.committed as i64);
    let (kept, discarded): (i64, i64) = {
        let row = sqlx::raw_sql(
            "SELECT count(*) FILTER (WHERE title LIKE '% committed'),
                    count(*) FILTER (WHERE title LIKE '% dropped' OR title LIKE '% failed'
                                        OR title LIKE '% rolled back' OR title LIKE '% foreign')
             FROM mixerai.content",
        )
        .fetch_one(owner)
        .await
        .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((kept, discarded), (report.committed as i64, 0));
    report
}

async fn tenant_task(
    db: Database,
    tenant: Arc<Tenant>,
    other: Arc<Tenant>,
    task: usize,
    login_role: String,
) -> Report {
    let mut report = Report::default();
    for i in 0..ITERATIONS {
        {
            let mut committed = tenant.committed.lock().await;
            let mut scope = db
                .scope(
                    UserId::from_uuid(tenant.user),
                    BrandId::from_uuid(tenant.brand),
                )
                .await
                .expect("open scope");

            let rows = sqlx::query("SELECT brand_id, title, pg_backend_pid() FROM mixerai.content")
                .persistent(false)
                .fetch_all(scope.connection())
                .await
                .expect("read in scope");
            for row in &rows {
                let (brand, title): (Uuid, String) = (row.get(0), row.get(1));
                assert!(
                    brand == tenant.brand && title.starts_with(&tenant.prefix),
                    "task {task} iteration {i}: scope of {} saw {title:?} of brand {brand}",
                    tenant.prefix
                );
            }
            assert_eq!(
                rows.len() as i64,
                SEED_ROWS_PER_BRAND + *committed,
                "task {task} iteration {i}: rows visible to {}",
                tenant.prefix
            );
            report.backends.insert(rows[0].get(2));

            let title = |how: &str| format!("{} t{task} i{i} {how}", tenant.prefix);
            match (task * 7 + i * 3) % 5 {
                0 => {
                    scope.commit().await.expect("commit read-only scope");
                    report.read_only += 1;
                }
                1 => {
                    insert(&mut scope, tenant.brand, tenant.user, &title("committed"))
                        .await
                        .expect("insert");
                    scope.commit().await.expect("commit");
                    *committed += 1;
                    report.committed += 1;
                }
                2 => {
                    insert(&mut scope, tenant.brand, tenant.user, &title("dropped"))
                        .await
                        .expect("insert");
                    drop(scope);
                    report.dropped += 1;
                }
                3 => {
                    insert(&mut scope, tenant.brand, tenant.user, &title("failed"))
                        .await
                        .expect("insert");
                    // Writing into another brand fails (the restrictive policy's WITH CHECK) and aborts
                    // the transaction; the scope is then dropped.
                    let err = insert(&mut scope, other.brand, tenant.user, &title("foreign"))
                        .await
                        .expect_err("insert into another brand must fail");
                    let code = err
                        .as_database_error()
                        .and_then(|e| e.code().map(|c| c.into_owned()));
                    assert_eq!(code.as_deref(), Some("42501"), "{err}");
                    drop(scope);
                    report.failed += 1;
                }
                _ => {
                    insert(&mut scope, tenant.brand, tenant.user, &title("rolled back"))
                        .await
                        .expect("insert");
                    scope.rollback().await.expect("rollback");
                    report.rolled_back += 1;
                }
            }
        }

        // A plain connection of the same pool, outside any scope: no tenant state left on it.
        let row = sqlx::raw_sql(
            "SELECT current_user::text, session_user::text, current_setting('role'),
                    mixerai.app_current_user_id(), mixerai.app_current_brand_id()",
        )
        .fetch_one(db.pool())
        .await
        .expect("plain check");
        let state: (String, String, String, Option<Uuid>, Option<Uuid>) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        assert_eq!(
            state,
            (
                login_role.clone(),
                login_role.clone(),
                "none".to_owned(),
                None,
                None
            ),
            "task {task} iteration {i}: a pooled connection kept tenant state"
        );
        report.plain_checks += 1;
    }
    report
}

async fn insert(
    scope: &mut mixerai_data::Scope,
    brand: Uuid,
    user: Uuid,
    title: &str,
) -> Result<(), sqlx::Error> {
    let slug: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    sqlx::query(
        "INSERT INTO mixerai.content (brand_id, type, title, slug, created_by, updated_by)
         VALUES ($1, 'article', $2, $3, $4, $4)",
    )
    .persistent(false)
    .bind(brand)
    .bind(title)
    .bind(slug)
    .bind(user)
    .execute(scope.connection())
    .await
    .map(|_| ())
}
