//! The pooling scenario again, through PgBouncer in transaction pooling mode: server connections are
//! handed to a different client at every transaction boundary, so a scope that relied on session state
//! (or leaked it) would fail here.
//!
//! Needs the `pgbouncer` binary (Debian/Ubuntu: `apt-get install pgbouncer`). Without it the test fails;
//! it never skips.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mixerai_data::Database;
use mixerai_data::test_support::TestDatabase;
use mixerai_data::types::{BrandId, UserId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::process::{Child, Command};

use crate::scenario::{TASKS, run_pooling_scenario, seed_tenants};
use crate::support::{fresh_db, pool};

/// PgBouncer's server-side pool size per database/user pair.
const SERVER_POOL_SIZE: usize = 2;

/// A running pgbouncer in front of one test database; killed (and its files removed) on drop.
pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
    port: u16,
    pub version: (u32, u32),
}

impl PgBouncer {
    /// Starts pgbouncer in transaction mode in front of `db`, on a free loopback port.
    pub async fn start(db: &TestDatabase) -> PgBouncer {
        Self::start_with_pool_size(db, SERVER_POOL_SIZE).await
    }

    /// As [`Self::start`], with `pool_size` server connections.
    pub async fn start_with_pool_size(db: &TestDatabase, pool_size: usize) -> PgBouncer {
        let binary = find_pgbouncer().unwrap_or_else(|| {
            panic!(
                "pgbouncer not found (looked in PATH, /usr/sbin, /usr/bin): install it with \
                 `apt-get install pgbouncer` to run this test"
            )
        });
        let version = pgbouncer_version(&binary);
        let as_postgres = running_as_root();
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("mixerai-pgbouncer-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("pgbouncer temp dir");
        let target = db.connect_options();
        let user = target.get_username().to_owned();
        // The password (when the server needs one) is what pgbouncer logs in to the server with.
        let password = db.password().unwrap_or_default();
        std::fs::write(
            dir.join("userlist.txt"),
            format!("\"{user}\" \"{password}\"\n"),
        )
        .unwrap();
        if as_postgres {
            // pgbouncer refuses to run as root; it runs as `postgres`, which must read its files and
            // write its log.
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {} failed", dir.display());
        }

        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let ini = dir.join("pgbouncer.ini");
            std::fs::write(
                &ini,
                ini_text(&dir, port, target, &user, version, pool_size),
            )
            .unwrap();
            let mut command = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&binary);
                c
            } else {
                Command::new(&binary)
            };
            let mut child = command
                .arg(&ini)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok() {
                    return PgBouncer {
                        child,
                        dir,
                        port,
                        version,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("pgbouncer exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    last_error = "pgbouncer did not listen within 10 s".to_owned();
                    let _ = child.start_kill();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        panic!("{last_error}\npgbouncer log:\n{log}");
    }

    /// Options to connect through this pgbouncer to the test database. The statement cache is off:
    /// a cached statement lives on one server connection, which the next transaction may not get.
    pub fn connect_options(&self, db: &TestDatabase) -> PgConnectOptions {
        db.connect_options()
            .clone()
            .host("127.0.0.1")
            .port(self.port)
            .statement_cache_capacity(0)
    }

    /// Protocol-level prepared statements (`max_prepared_statements`) arrived in PgBouncer 1.21.
    pub fn supports_prepared_statements(&self) -> bool {
        self.version >= (1, 21)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGTERM first: when started through runuser, runuser forwards it to pgbouncer, whereas a
        // SIGKILL would kill runuser alone and orphan pgbouncer. Then the pidfile, then SIGKILL.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ini_text(
    dir: &Path,
    port: u16,
    target: &PgConnectOptions,
    user: &str,
    version: (u32, u32),
    pool_size: usize,
) -> String {
    let dbname = target.get_database().unwrap_or("postgres");
    let prepared = if version >= (1, 21) {
        "max_prepared_statements = 100\n"
    } else {
        ""
    };
    format!(
        "[databases]\n\
         {dbname} = host={host} port={server_port} dbname={dbname}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {dir}/userlist.txt\n\
         admin_users = {user}\n\
         pool_mode = transaction\n\
         default_pool_size = {pool_size}\n\
         max_client_conn = 100\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         logfile = {dir}/pgbouncer.log\n\
         pidfile = {dir}/pgbouncer.pid\n\
         {prepared}",
        host = target.get_host(),
        server_port = target.get_port(),
        dir = dir.display(),
    )
}

fn find_pgbouncer() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|p| p.is_file())
}

/// `(major, minor)` from `pgbouncer --version` ("PgBouncer 1.18.0").
fn pgbouncer_version(binary: &Path) -> (u32, u32) {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .expect("pgbouncer --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected `pgbouncer --version` output: {text}"));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_sharing_pgbouncer_transaction_pooling_never_see_each_others_rows_or_settings() {
    let test_db = fresh_db().await;
    let bouncer = PgBouncer::start(&test_db).await;
    eprintln!(
        "PgBouncer {}.{}, protocol-level prepared statements: {}",
        bouncer.version.0,
        bouncer.version.1,
        bouncer.supports_prepared_statements()
    );
    let tenants = seed_tenants(pool(&test_db)).await;
    // More client connections than PgBouncer has server connections, so server connections really pass
    // from client to client between transactions.
    let clients = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(bouncer.connect_options(&test_db))
        .await
        .unwrap();
    let db = Database::from_pool(clients.clone());
    let login = test_db.connect_options().get_username().to_owned();
    let report = run_pooling_scenario(&db, &tenants, pool(&test_db), &login).await;
    // Scopes ran on at most PgBouncer's server connections, from more clients than that.
    assert!(report.backends.len() <= SERVER_POOL_SIZE, "{report:?}");
    assert!(
        clients.size() as usize > SERVER_POOL_SIZE,
        "only {} client connections for {TASKS} tasks",
        clients.size()
    );
    clients.close().await;
    drop(bouncer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_a_scope_leaves_behind_pgbouncer_never_reaches_the_next_client() {
    let test_db = fresh_db().await;
    let p = pool(&test_db);
    let user = crate::support::insert_user(p, "hostile@example.com").await;
    let other = crate::support::insert_user(p, "next@example.com").await;
    let a = crate::support::insert_brand(p, "hostile", user).await;
    let b = crate::support::insert_brand(p, "next", other).await;
    crate::support::insert_role(p, user, a, "editor").await;
    crate::support::insert_role(p, other, b, "editor").await;
    // One server connection behind two clients: the second client's scope runs on the very backend
    // the first one's left its state on.
    let bouncer = PgBouncer::start_with_pool_size(&test_db, 1).await;
    let clients = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(bouncer.connect_options(&test_db))
        .await
        .unwrap();
    let db = Database::from_pool(clients.clone());
    let mut hostile = db
        .scope(UserId::from_uuid(user), BrandId::from_uuid(a))
        .await
        .unwrap();
    sqlx::raw_sql(crate::support::LEFTOVERS)
        .execute(hostile.connection())
        .await
        .unwrap();
    let hostile_backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .persistent(false)
        .fetch_one(hostile.connection())
        .await
        .unwrap();
    hostile.commit().await.unwrap();
    let mut next = db
        .scope(UserId::from_uuid(other), BrandId::from_uuid(b))
        .await
        .unwrap();
    let next_backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .persistent(false)
        .fetch_one(next.connection())
        .await
        .unwrap();
    assert_eq!(next_backend, hostile_backend, "one server connection");
    crate::support::assert_no_leftovers(next.connection(), Some(other)).await;
    next.rollback().await.unwrap();

    // A read-only scope ends with a ROLLBACK sent after the caller moved on (with the pool's return
    // ping): the next client on the one server connection finds it over, read-write, with no context
    // and none of the session state the reader left.
    for end_by_drop in [false, true] {
        let mut reader = db
            .read_scope(UserId::from_uuid(user), BrandId::from_uuid(a))
            .await
            .unwrap();
        sqlx::raw_sql(
            "SELECT set_config('app.current_user_id', '00000000-0000-0000-0000-000000000001', false),
                    set_config('search_path', 'pg_temp, mixerai, public', false),
                    pg_advisory_lock(4242)",
        )
        .execute(reader.connection())
        .await
        .unwrap();
        if end_by_drop {
            drop(reader);
        } else {
            reader.commit().await.unwrap();
        }
        let mut writer = db
            .scope(UserId::from_uuid(other), BrandId::from_uuid(b))
            .await
            .unwrap();
        // Unnamed statements: this PgBouncer may not carry named ones from client to client.
        let (backend, read_only, acting, path, locks): (i32, String, Option<uuid::Uuid>, String, i64) =
            sqlx::query_as(
                "SELECT pg_backend_pid(), current_setting('transaction_read_only'),
                        mixerai.app_current_user_id(), current_setting('search_path'),
                        (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())",
            )
            .persistent(false)
            .fetch_one(writer.connection())
            .await
            .unwrap();
        assert_eq!(backend, hostile_backend, "one server connection");
        assert_eq!(
            (read_only.as_str(), acting, path.as_str(), locks),
            ("off", Some(other), "\"$user\", public", 0),
            "the reader's transaction or session state reached the next client"
        );
        writer.rollback().await.unwrap();
    }
    clients.close().await;
    drop(bouncer);
}
