//! A real PostgreSQL for tests: a throwaway server and a fresh, migrated database per test.
//!
//! Enabled by the `test-support` feature. Host applications use it for their own tests exactly as this
//! crate does:
//!
//! ```no_run
//! # async fn demo() -> mixerai_data::Result<()> {
//! use mixerai_data::test_support::TestServer;
//!
//! // Starts a throwaway cluster once per process (or uses $MIXERAI_TEST_DATABASE_URL's server)...
//! let server = TestServer::global().await?;
//! // ...and gives each test its own database, cloned from a migrated template in milliseconds.
//! let test_db = server.database().await?;
//! test_db.database().migrate().await?; // already current: a no-op
//! # Ok(()) }
//! ```
//!
//! Without [`SERVER_URL_VAR`] (`MIXERAI_TEST_DATABASE_URL`), the server is started from the installed
//! PostgreSQL server binaries (found through `MIXERAI_PG_BINDIR`, `pg_config --bindir`,
//! `/usr/lib/postgresql/*/bin` or `PATH`), as the `postgres` OS user when running as root (initdb
//! refuses root), on a free loopback port, with durability switched off for speed. A watchdog process
//! stops it and deletes its files when the test process exits, however it exits. With the variable set,
//! that server is used instead and each test database is dropped when its [`TestDatabase`] is dropped.
//! The harness never reads `DATABASE_URL`: that is the host application's own setting, usually a
//! non-superuser login the harness could not use.
//!
//! # A host's own migrations
//! A host whose tests need its own tables too hands its migrator to [`TestServer::database_with`]: the
//! template is then migrated by the crate and then by the host's migrator, once per migration set, and
//! every test database is cloned from it, so the host's migrations do not run again for every test.
//!
//! ```no_run
//! # async fn demo() -> mixerai_data::Result<()> {
//! use mixerai_data::test_support::TestServer;
//! use sqlx::migrate::Migrator;
//!
//! // The host's own migrations (sqlx's `migrate!` expands to paths under `::sqlx`, so a host that
//! // uses it depends on sqlx itself, the same version the crate re-exports as `mixerai_data::sqlx`).
//! static HOST_MIGRATIONS: Migrator = sqlx::migrate!("examples/host_migrations");
//!
//! let test_db = TestServer::global().await?.database_with(&HOST_MIGRATIONS).await?;
//! # Ok(()) }
//! ```
//!
//! # Roles: the supported deployment, not the superuser
//! Tests run as production does (see [`Database`]): the server's administrative (superuser) login only
//! sets things up. Through it, once per server, the harness makes the owner role [`OWNER_ROLE`]
//! (`LOGIN NOSUPERUSER BYPASSRLS`, nothing else) and `mixerai_app`, granted to the owner `WITH ADMIN
//! OPTION`, the set-up the docs of [`Database`] prescribe. The owner owns the migrated template and
//! every test database, runs the migrations ([`Database::migrate`], with its role check), and is the
//! login of every pool handed out, so a missing grant or an object owned by the wrong role fails a test
//! here instead of in production. Tests that genuinely need the superuser (creating roles, loading
//! fixtures with triggers off, looking at the database from outside) connect with
//! [`TestDatabase::admin_connect_options`].
//!
//! The owner role is cluster-wide and has a fixed name, because the template it owns outlives the test
//! process on a server of [`SERVER_URL_VAR`] and is shared by every test process using that server. Its
//! password is derived from the administrative login's password (a SHA-256 of it), so every process
//! given the same URL computes the same one without storing it anywhere; when that URL has no password
//! (trust or peer authentication, like the throwaway cluster), the owner has none either.
//! Left behind on such a server, on purpose: the roles [`OWNER_ROLE`], [`TENANT_ROLE`], `mixerai_app` and one
//! template database per migration set (`mixerai_template_…`), all reused by the next run. To remove
//! them: drop the `mixerai_template_%` databases, then the three roles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::migrate::{Migration, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::db::{Database, MIGRATOR};
use crate::{Error, Result};

/// The role that owns the template and every test database, migrates them, and logs in for every pool
/// handed out: `LOGIN NOSUPERUSER BYPASSRLS`, granted `mixerai_app` `WITH ADMIN OPTION` (see the
/// module docs). Made by the harness, once per server; kept on a server of [`SERVER_URL_VAR`].
pub const OWNER_ROLE: &str = "mixerai_test_owner";

/// The tenant login the harness makes beside the owner, as [`Database`]'s docs prescribe for
/// [`Database::with_tenant_login`]: `LOGIN NOINHERIT NOBYPASSRLS`, a member of `mixerai_app` and of
/// nothing else. Same password as the owner's. See [`TestDatabase::tenant_connect_options`].
pub const TENANT_ROLE: &str = "mixerai_test_tenant";

/// The variable naming a server of one's own for the tests (`postgres://user:password@host:port/db`),
/// instead of a throwaway cluster. Its login must be a superuser: the harness creates the roles
/// `mixerai_app` and [`OWNER_ROLE`], and only a superuser may create a role with `BYPASSRLS`.
pub const SERVER_URL_VAR: &str = "MIXERAI_TEST_DATABASE_URL";

/// A PostgreSQL server to make test databases on: a throwaway cluster, or the server of
/// [`SERVER_URL_VAR`].
#[derive(Debug)]
pub struct TestServer {
    admin: PgConnectOptions,
    owner: PgConnectOptions,
    owner_password: Option<String>,
    template: String,
    throwaway: bool,
    /// Templates with host migrations on top, built by this process (by name).
    host_templates: tokio::sync::Mutex<std::collections::HashSet<String>>,
}

static GLOBAL: OnceCell<TestServer> = OnceCell::const_new();

/// Serialises the harness's role set-up and template builds across the test processes sharing a
/// server (`pg_advisory_lock(hashtext(..))`).
const SETUP_LOCK: &str = "mixerai_data.test_template";

impl TestServer {
    /// The server shared by every test of this process, started on first use.
    pub async fn global() -> Result<&'static TestServer> {
        GLOBAL.get_or_try_init(Self::start).await
    }

    /// Starts a server of its own: [`SERVER_URL_VAR`]'s when set, otherwise a throwaway cluster. Either
    /// way makes sure the owner role ([`OWNER_ROLE`]) and the migrated template exist.
    pub async fn start() -> Result<TestServer> {
        match std::env::var(SERVER_URL_VAR) {
            Ok(url) if !url.is_empty() => Self::at(&url).await,
            _ => Self::prepare(start_cluster().map_err(setup_error)?, None, true).await,
        }
    }

    /// Uses the server at `url` (as [`SERVER_URL_VAR`] would), whose login must be a superuser; makes
    /// sure the owner role and the migrated template exist there.
    pub async fn at(url: &str) -> Result<TestServer> {
        // The password the admin login uses: the URL's, else PGPASSWORD, which sqlx falls back to.
        let secret = url_password(url).or_else(|| {
            std::env::var("PGPASSWORD")
                .ok()
                .filter(|password| !password.is_empty())
        });
        let admin = PgConnectOptions::from_str(url)
            .map_err(|e| setup_error(format!("{SERVER_URL_VAR} is not a PostgreSQL URL: {e}")))?;
        Self::prepare(admin, secret, false).await
    }

    async fn prepare(
        admin: PgConnectOptions,
        secret: Option<String>,
        throwaway: bool,
    ) -> Result<TestServer> {
        let owner_password = secret.as_deref().map(owner_password);
        let mut owner = admin.clone().username(OWNER_ROLE);
        if let Some(password) = &owner_password {
            owner = owner.password(password);
        }
        let template = format!("mixerai_template_{:016x}", migrations_fingerprint());
        let server = TestServer {
            admin,
            owner,
            owner_password,
            template,
            throwaway,
            host_templates: Default::default(),
        };
        server.set_up().await?;
        Ok(server)
    }

    /// Connection options of the server's administrative (superuser) login, for set-up that needs a
    /// superuser, such as creating roles. Test databases are owned and used by [`OWNER_ROLE`] instead.
    pub fn admin_options(&self) -> &PgConnectOptions {
        &self.admin
    }

    /// A new database, migrated, that no other test shares, owned by [`OWNER_ROLE`].
    pub async fn database(&'static self) -> Result<TestDatabase> {
        self.new_database(Some(&self.template)).await
    }

    /// A new database with the crate's migrations and then the host's `migrations` applied, as
    /// production applies them ([`Database::migrate`], then the host's migrator, both as
    /// [`OWNER_ROLE`]). The migrated state is built once per migration set into a template of its
    /// own and cloned for every call, so the host's migrations run once, not once per test.
    pub async fn database_with(
        &'static self,
        migrations: &'static Migrator,
    ) -> Result<TestDatabase> {
        let template = format!(
            "{}_{:016x}",
            self.template,
            fingerprint(migrations.iter(), migrations.table_name.as_bytes())
        );
        {
            let mut built = self.host_templates.lock().await;
            if !built.contains(&template) {
                self.build_template(&template, Some(migrations)).await?;
                built.insert(template.clone());
            }
        }
        self.new_database(Some(&template)).await
    }

    /// A new, empty database (no migrations applied) owned by [`OWNER_ROLE`], for testing migrations
    /// themselves.
    pub async fn empty_database(&'static self) -> Result<TestDatabase> {
        self.new_database(None).await
    }

    async fn new_database(&'static self, template: Option<&str>) -> Result<TestDatabase> {
        let name = format!("mixerai_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = self.admin.connect().await?;
        let create = match template {
            Some(t) => {
                format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\" OWNER \"{OWNER_ROLE}\"")
            }
            None => format!("CREATE DATABASE \"{name}\" OWNER \"{OWNER_ROLE}\""),
        };
        sqlx::raw_sql(AssertSqlSafe(create))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let options = self.owner.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_lazy_with(options.clone());
        Ok(TestDatabase {
            name: name.clone(),
            options,
            admin_options: self.admin.clone().database(&name),
            db: Database::from_pool(pool),
            server: self,
        })
    }

    /// Makes the owner role and the migrated template, unless they exist, holding [`SETUP_LOCK`] so
    /// that concurrent test processes sharing a server neither race to create the role nor build the
    /// same template twice.
    async fn set_up(&self) -> Result<()> {
        let mut admin = self.admin.connect().await.map_err(|e| {
            setup_error(format!(
                "cannot connect to the test server{}: {e}",
                if self.throwaway {
                    ""
                } else {
                    " of MIXERAI_TEST_DATABASE_URL"
                }
            ))
        })?;
        let (login, superuser): (String, bool) = sqlx::query_as(
            "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut admin)
        .await?;
        if !superuser {
            return Err(setup_error(format!(
                "{SERVER_URL_VAR} logs in as \"{login}\", which is not a superuser: the test harness \
                 creates the roles mixerai_app and {OWNER_ROLE} (BYPASSRLS, which only a superuser may \
                 grant) and a database per test. Point {SERVER_URL_VAR} at a superuser login of a \
                 server for tests, or unset it to let the harness start a throwaway server"
            )));
        }
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(SETUP_LOCK)
            .execute(&mut admin)
            .await?;
        // Roles are cluster-wide: a migration, another tool or an older run may have created either
        // role, possibly at this very moment, so creation tolerates "exists" (as 0001 does). The ALTER
        // then gives the owner exactly the documented attributes (and this run's password) whatever
        // it had. The password is hex, safe to splice in; utility statements take no parameters.
        let password = match &self.owner_password {
            Some(p) => format!("'{p}'"),
            None => "NULL".to_owned(),
        };
        let roles = format!(
            "DO $$
             BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mixerai_app') THEN
                     CREATE ROLE mixerai_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             DO $$
             BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                     CREATE ROLE \"{OWNER_ROLE}\" LOGIN;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             ALTER ROLE \"{OWNER_ROLE}\" LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
                 INHERIT PASSWORD {password};
             DO $$
             BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_auth_members m
                                WHERE m.roleid = 'mixerai_app'::regrole
                                  AND m.member = '{OWNER_ROLE}'::regrole AND m.admin_option) THEN
                     GRANT mixerai_app TO \"{OWNER_ROLE}\" WITH ADMIN OPTION;
                 END IF;
             END $$;
             DO $$
             BEGIN
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TENANT_ROLE}') THEN
                     CREATE ROLE \"{TENANT_ROLE}\" LOGIN;
                 END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$;
             ALTER ROLE \"{TENANT_ROLE}\" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION
                 NOINHERIT PASSWORD {password};
             GRANT mixerai_app TO \"{TENANT_ROLE}\";"
        );
        let roles_made = sqlx::raw_sql(AssertSqlSafe(roles))
            .execute(&mut admin)
            .await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(SETUP_LOCK)
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        roles_made?;
        self.build_template(&self.template, None).await
    }

    /// Makes the template `name`, unless it exists: the crate's migrations, then `host`'s, applied as
    /// production applies them. Holds [`SETUP_LOCK`] so that concurrent test processes sharing a
    /// server never build the same template twice.
    async fn build_template(&self, name: &str, host: Option<&'static Migrator>) -> Result<()> {
        let mut admin = self.admin.connect().await?;
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(SETUP_LOCK)
            .execute(&mut admin)
            .await?;
        let built = self.build_template_locked(&mut admin, name, host).await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(SETUP_LOCK)
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        built
    }

    async fn build_template_locked(
        &self,
        admin: &mut PgConnection,
        name: &str,
        host: Option<&'static Migrator>,
    ) -> Result<()> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut *admin)
                .await?;
        if exists {
            return Ok(());
        }
        // Built under a temporary name and renamed when complete, so a run that dies half-way never
        // leaves a half-migrated template behind.
        let building = format!("{name}_b{}", std::process::id());
        // Separate statements: a multi-statement string runs as one transaction, which DROP/CREATE
        // DATABASE refuse.
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{building}\""),
            format!("CREATE DATABASE \"{building}\" OWNER \"{OWNER_ROLE}\""),
        ] {
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *admin)
                .await?;
        }
        // Migrated as production migrates: by the owner, through `migrate()` and its role check, then
        // the host's migrator.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.owner.clone().database(&building))
            .await?;
        let mut migrated = Database::from_pool(pool.clone()).migrate().await;
        if let (Ok(()), Some(host)) = (&migrated, host) {
            migrated = host.run(&pool).await.map_err(Error::from);
        }
        pool.close().await;
        migrated?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        )))
        .execute(&mut *admin)
        .await?;
        Ok(())
    }
}

/// The database an example or a local tool should use: `$DATABASE_URL`'s when set, otherwise a fresh,
/// empty database on a throwaway server, owned by [`OWNER_ROLE`] and connected as it (kept alive by the
/// returned [`TestDatabase`]; it disappears when the process exits). Migrations are left to the caller,
/// as in production.
pub async fn database_from_env_or_throwaway() -> Result<(Database, Option<TestDatabase>)> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok((Database::connect(&url).await?, None)),
        _ => {
            let throwaway = TestServer::global().await?.empty_database().await?;
            Ok((throwaway.database().clone(), Some(throwaway)))
        }
    }
}

/// One test's own database, owned by [`OWNER_ROLE`]. Dropping it drops the database on a shared
/// server ([`SERVER_URL_VAR`]); a throwaway server is deleted whole when the process exits.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    options: PgConnectOptions,
    admin_options: PgConnectOptions,
    db: Database,
    server: &'static TestServer,
}

impl TestDatabase {
    /// A [`Database`] on this test database, connected as [`OWNER_ROLE`], the role that migrated it
    /// (`BYPASSRLS`, not a superuser), as production connects. Tenant scopes opened on it switch to
    /// `mixerai_app`, so row-level security applies.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection options for this database, logging in as [`OWNER_ROLE`] like [`Self::database`].
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// Connection options for this database as the tenant login [`TENANT_ROLE`], for
    /// [`Database::with_tenant_login`] (password: [`Self::password`]).
    pub fn tenant_connect_options(&self) -> PgConnectOptions {
        let options = self.options.clone().username(TENANT_ROLE);
        match self.password() {
            Some(password) => options.password(password),
            None => options,
        }
    }

    /// The password of [`Self::connect_options`]' login, for tools outside this process that log in
    /// as the owner (psql, a connection pooler); `None` when the server needs none (see the module
    /// docs).
    pub fn password(&self) -> Option<&str> {
        self.server.owner_password.as_deref()
    }

    /// Connection options for this database as the server's administrative (superuser) login, for the
    /// few things the owner may not do: loading fixtures with triggers off
    /// (`session_replication_role`), managing roles, inspecting the database from outside. Not for
    /// the code under test, which should run as the owner.
    pub fn admin_connect_options(&self) -> &PgConnectOptions {
        &self.admin_options
    }

    /// The server this database lives on.
    pub fn server(&self) -> &'static TestServer {
        self.server
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.server.throwaway {
            return;
        }
        let admin = self.server.admin.clone();
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived runtime on its
        // own thread does the network round trip. Failure only leaves a stray database behind.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = admin.connect().await.ok()?;
                sqlx::raw_sql(AssertSqlSafe(drop_sql))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

/// A fingerprint of the embedded migrations and of the template's owner, so a server shared across
/// builds never serves a template made from another migration set, nor one an older harness built as
/// the superuser.
fn migrations_fingerprint() -> u64 {
    fingerprint(MIGRATOR.iter(), OWNER_ROLE.as_bytes())
}

/// FNV-1a over each migration's version and checksum, then `extra`: stable across Rust versions,
/// unlike std's DefaultHasher.
fn fingerprint<'m>(migrations: impl Iterator<Item = &'m Migration>, extra: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    for m in migrations {
        for byte in m.version.to_be_bytes().iter().chain(m.checksum.iter()) {
            add(*byte);
        }
    }
    for byte in extra {
        add(*byte);
    }
    hash
}

/// The password of a `postgres://user:password@host/db` URL, as written (percent-encoded).
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _host) = authority.rsplit_once('@')?;
    let (_user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// The owner's password: derived from the administrative login's, so every process given the same
/// credentials computes the same one and none has to be stored, while nobody without the superuser's
/// password can compute it. Hex, so it needs no quoting.
fn owner_password(admin_secret: &str) -> String {
    let digest = Sha256::digest(format!("mixerai-data test owner\0{admin_secret}").as_bytes());
    digest
        .iter()
        .take(20)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn setup_error(reason: String) -> Error {
    Error::Misconfigured { reason }
}

const INSTALL_HINT: &str = "install the PostgreSQL server (14 or newer; Debian/Ubuntu: `apt-get install postgresql`), \
     or set MIXERAI_PG_BINDIR to the directory holding initdb and pg_ctl, \
     or set MIXERAI_TEST_DATABASE_URL to a superuser login of a server you run";

/// Starts a throwaway cluster and returns the superuser's connection options.
fn start_cluster() -> std::result::Result<PgConnectOptions, String> {
    let bindir = find_bindir().ok_or_else(|| {
        format!("no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}")
    })?;
    let as_postgres = running_as_root();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("mixerai-pg-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if as_postgres {
        // initdb refuses to run as root; the cluster belongs to the `postgres` OS user.
        run(
            Command::new("chown").arg("postgres:postgres").arg(&dir),
            "chown the cluster directory to the postgres user (running as root needs a `postgres` OS user; installing PostgreSQL creates it)",
        )?;
    }
    let data = dir.join("data");
    run(
        command(as_postgres, &bindir.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
        "initdb",
    )?;
    // The watchdog outlives this process: when the process is gone (finished, panicked or killed) it
    // stops the server and deletes its files. Its own process group keeps it out of a Ctrl-C.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         kill -QUIT $(head -1 '{data}/postmaster.pid' 2>/dev/null) 2>/dev/null; sleep 1; rm -rf '{dir}'",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    {
        use std::os::unix::process::CommandExt;
        Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the cluster watchdog: {e}"))?;
    }
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {dir} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            dir = dir.display()
        );
        let started = run(
            command(as_postgres, &bindir.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
        match started {
            Ok(()) => {
                return Ok(PgConnectOptions::new()
                    .host("127.0.0.1")
                    .port(port)
                    .username("postgres")
                    .database("postgres"));
            }
            Err(e) => last_error = e,
        }
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    Err(format!("{last_error}\nserver log:\n{log}"))
}

fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command, what: &str) -> std::result::Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", command.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The directory holding `initdb` and `pg_ctl`, newest version first.
pub fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("MIXERAI_PG_BINDIR").map(PathBuf::from) {
        return has_server(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_the_userinfo_after_the_first_colon() {
        assert_eq!(
            url_password("postgres://admin:s3cr%40t@db.example:5432/postgres").as_deref(),
            Some("s3cr%40t")
        );
        assert_eq!(
            url_password("postgres://admin:a:b@h/db?sslmode=disable").as_deref(),
            Some("a:b")
        );
        assert_eq!(
            url_password("postgres://postgres@127.0.0.1:5432/postgres"),
            None
        );
        assert_eq!(url_password("postgres://admin:@h/db"), None);
        assert_eq!(url_password("postgres://h/db?user=x"), None);
        assert_eq!(url_password("not a url"), None);
    }

    #[test]
    fn owner_password_is_stable_hex_and_depends_on_the_admin_secret() {
        let a = owner_password("one");
        assert_eq!(a, owner_password("one"));
        assert_ne!(a, owner_password("two"));
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
