//! [`Database`]: the pool, the embedded migrations, and the doors into scopes.

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::Result;
use crate::scope::{Scope, SystemScope};
use crate::types::{BrandId, UserId};

/// The schema, embedded at compile time from `migrations/` (plain SQL, applied in file-name order).
///
/// Exposed so operators can list or inspect the migrations; [`Database::migrate`] applies them.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// A handle on one PostgreSQL database holding the MixerAI schema. Cheap to clone (it wraps a pool).
#[derive(Debug, Clone)]
pub struct Database {
    pool: PgPool,
}

impl Database {
    /// Connects a pool of up to 10 connections to `url`
    /// (`postgres://user@host:port/dbname`). For other pool settings build a [`PgPool`] yourself and use
    /// [`Database::from_pool`].
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool. The pool's role must be a member of `mixerai_app` (the migrations grant
    /// this to the role that runs them) and should not be a superuser (see [`Scope`]).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool, for the host's own queries outside the MixerAI schema.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies every migration not yet applied, in order; a no-op when the schema is current.
    ///
    /// Safe to run from several processes at once: sqlx holds a PostgreSQL advisory lock while it
    /// migrates, so one process applies and the others find nothing left to do. Fails with
    /// [`crate::Error::Migrate`] if the database holds a migration this build does not know or one whose
    /// checksum changed.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Opens a tenant scope: a transaction acting as `user` inside `brand`, with row-level security
    /// enforced by PostgreSQL. See [`Scope`].
    pub async fn scope(&self, user: UserId, brand: BrandId) -> Result<Scope> {
        Scope::begin(&self.pool, user, brand).await
    }

    /// Opens a system scope: a transaction with the pool's own role and no tenant context, for
    /// maintenance jobs and set-up (creating users and brands, granting the first roles). See
    /// [`SystemScope`].
    pub async fn system_scope(&self) -> Result<SystemScope> {
        SystemScope::begin(&self.pool).await
    }
}
