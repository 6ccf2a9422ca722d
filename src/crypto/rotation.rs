//! Key rotation: re-encrypting stored envelopes under the primary key.
//!
//! After a new key is [promoted](super::Keyring::promote), values written under older keys still
//! decrypt (their keys are [`DecryptOnly`](super::KeyState::DecryptOnly)) but should move to the new
//! key, so the old one can be [disabled](super::KeyState::Disabled) and finally removed. This job does
//! that, for every column in [`ENCRYPTED_COLUMNS`]:
//!
//! 1. [`ReEncryption::run_batch`] (or [`ReEncryption::run_to_completion`]) until nothing is left;
//! 2. [`rows_using`]`(old key) == 0` tells that no row needs the old key any more;
//! 3. disable the old key in configuration, watch for [`CryptoError::KeyDisabled`], remove it.
//!
//! # Resumable and concurrent
//! A batch fetches only rows whose envelope is *not* under the primary key, compared in SQL on the
//! envelope's key-id bytes (bytes 1..5, big-endian; see [`envelope`](super::envelope)), and locks them
//! `FOR UPDATE SKIP LOCKED`. So the job keeps no state: stopping it loses nothing and running it again
//! picks up what is left, and several workers (processes or tasks) can run at once, each taking rows
//! the others have not locked.
//!
//! # Never overwrites what it cannot read
//! Each value is decrypted with its own [`Binding`] before being re-encrypted. A value that does not
//! decrypt (tampered, copied from another row, under an unknown or disabled key, malformed) is left
//! exactly as it is and reported in [`BatchReport::failed`], with its row id, for an operator to look at.
//!
//! # Which role
//! The job runs as the pool's own role, not as `mixerai_app`: it reads and writes encrypted columns the
//! application role may not touch, in every tenant's rows. Tables such as `users` have
//! `FORCE ROW LEVEL SECURITY`, so the pool's role must bypass row-level security: the role that owns
//! the schema and runs the migrations, which has `BYPASSRLS` (see [`crate::Database`]). Run it as a
//! maintenance job, never from a request path.

use sqlx::{AssertSqlSafe, PgPool};
use uuid::Uuid;

use super::{Binding, CryptoError, KeyId, Keyring};
use crate::Result;

/// One column holding envelopes, and the table's primary-key column (a UUID) that binds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncryptedColumn {
    /// The table inside the `mixerai` schema, e.g. `"users"` (also the table named in [`Binding`]s).
    pub table: &'static str,
    /// The `BYTEA` column holding envelopes, e.g. `"mfa_secret"`.
    pub column: &'static str,
    /// The table's UUID primary key, the row of each value's [`Binding`].
    pub id_column: &'static str,
}

impl EncryptedColumn {
    /// The binding of this column's value in row `row`.
    pub const fn binding(&self, row: Uuid) -> Binding {
        Binding::new(self.table, self.column, row)
    }
}

/// Every column of the schema that stores envelopes. A new encrypted column must be added here, or
/// rotation will leave it under old keys (and [`rows_using`] will not see it).
pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[EncryptedColumn {
    table: "users",
    column: "mfa_secret",
    id_column: "id",
}];

/// A value the job could not decrypt and left untouched. Holds where it is, never what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedValue {
    /// The table and column.
    pub column: EncryptedColumn,
    /// The row's id.
    pub row: Uuid,
    /// Why it did not decrypt.
    pub error: CryptoError,
}

/// What one batch (or a whole run) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Values fetched because they were not under the primary key.
    pub examined: u64,
    /// Values re-encrypted under the primary key and written back.
    pub rotated: u64,
    /// Values that did not decrypt and were left as they were.
    pub failed: Vec<FailedValue>,
}

impl BatchReport {
    fn absorb(&mut self, other: BatchReport) {
        self.examined += other.examined;
        self.rotated += other.rotated;
        self.failed.extend(other.failed);
    }
}

/// How far the rotation is, over every column of [`ENCRYPTED_COLUMNS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Stored (non-NULL) values.
    pub total: u64,
    /// Values already under the primary key.
    pub on_primary: u64,
    /// Values under another key (or unreadable): `total - on_primary`.
    pub remaining: u64,
}

/// The re-encryption job. See the [module docs](self) for how it behaves and which role it needs.
#[derive(Debug, Clone, Copy)]
pub struct ReEncryption;

/// The key-id bytes an envelope under `id` carries at offset 1.
fn key_bytes(id: KeyId) -> Vec<u8> {
    id.get().to_be_bytes().to_vec()
}

impl ReEncryption {
    /// Re-encrypts up to `batch_size` values not yet under the keyring's primary key, in one
    /// transaction, and commits. Values locked by another worker are skipped, not waited for. A report
    /// with `examined == 0` means nothing was left (or everything left is being handled by others).
    ///
    /// # Errors
    /// [`crate::Error::Crypto`] with [`CryptoError::NoPrimaryKey`] if the keyring has no primary key;
    /// database errors (the batch is then rolled back). A value that fails to decrypt is not an error:
    /// see [`BatchReport::failed`].
    #[tracing::instrument(name = "mixerai.crypto.rotation.run_batch", skip_all, fields(batch = batch_size), err(level = "debug"))]
    pub async fn run_batch(
        pool: &PgPool,
        keyring: &Keyring,
        batch_size: u32,
    ) -> Result<BatchReport> {
        Self::batch(pool, keyring, batch_size, &[]).await
    }

    /// Runs batches of `batch_size` until no value is left to re-encrypt, calling `on_progress` after
    /// each batch, and returns the sum of the batches' reports. Values that fail are reported once and
    /// not fetched again by this run.
    ///
    /// # Errors
    /// As [`run_batch`](Self::run_batch); batches committed before the error stay committed.
    pub async fn run_to_completion(
        pool: &PgPool,
        keyring: &Keyring,
        batch_size: u32,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<BatchReport> {
        let mut total = BatchReport::default();
        let mut skip: Vec<Uuid> = Vec::new();
        loop {
            let report = Self::batch(pool, keyring, batch_size, &skip).await?;
            let done = report.examined == 0;
            skip.extend(report.failed.iter().map(|f| f.row));
            total.absorb(report);
            on_progress(progress(pool, keyring).await?);
            if done {
                return Ok(total);
            }
        }
    }

    async fn batch(
        pool: &PgPool,
        keyring: &Keyring,
        batch_size: u32,
        skip: &[Uuid],
    ) -> Result<BatchReport> {
        let primary = key_bytes(keyring.primary()?);
        let mut report = BatchReport::default();
        let mut budget = i64::from(batch_size);
        let mut tx = pool.begin().await?;
        for col in ENCRYPTED_COLUMNS {
            if budget == 0 {
                break;
            }
            let EncryptedColumn {
                table,
                column,
                id_column,
            } = col;
            // Identifiers come from the compile-time list above, never from input.
            let select = format!(
                r#"SELECT "{id_column}", "{column}" FROM mixerai."{table}"
                   WHERE "{column}" IS NOT NULL AND substring("{column}" from 2 for 4) <> $1
                     AND "{id_column}" <> ALL($3)
                   ORDER BY "{id_column}" LIMIT $2 FOR UPDATE SKIP LOCKED"#
            );
            let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(select))
                .bind(&primary)
                .bind(budget)
                .bind(skip)
                .fetch_all(&mut *tx)
                .await?;
            budget -= rows.len() as i64;
            report.examined += rows.len() as u64;

            let mut ids = Vec::with_capacity(rows.len());
            let mut envelopes = Vec::with_capacity(rows.len());
            for (row, envelope) in rows {
                match keyring.rotate(&col.binding(row), &envelope) {
                    Ok(Some(rotated)) => {
                        ids.push(row);
                        envelopes.push(rotated);
                    }
                    // Already under the primary key: nothing to write.
                    Ok(None) => {}
                    Err(error) => report.failed.push(FailedValue {
                        column: *col,
                        row,
                        error,
                    }),
                }
            }
            if ids.is_empty() {
                continue;
            }
            let update = format!(
                r#"UPDATE mixerai."{table}" AS t SET "{column}" = v.envelope
                   FROM UNNEST($1::uuid[], $2::bytea[]) AS v(id, envelope)
                   WHERE t."{id_column}" = v.id"#
            );
            let done = sqlx::query(AssertSqlSafe(update))
                .bind(&ids)
                .bind(&envelopes)
                .execute(&mut *tx)
                .await?;
            report.rotated += done.rows_affected();
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// How many stored values are, and are not yet, under the keyring's primary key.
///
/// # Errors
/// [`crate::Error::Crypto`] if the keyring has no primary key; database errors.
pub async fn progress(pool: &PgPool, keyring: &Keyring) -> Result<Progress> {
    let primary = key_bytes(keyring.primary()?);
    let mut progress = Progress::default();
    for EncryptedColumn { table, column, .. } in ENCRYPTED_COLUMNS {
        // Identifiers come from the compile-time list ENCRYPTED_COLUMNS, never from input.
        let sql = format!(
            r#"SELECT count("{column}"),
                      count(*) FILTER (WHERE substring("{column}" from 2 for 4) = $1)
               FROM mixerai."{table}""#
        );
        let (total, on_primary): (i64, i64) = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&primary)
            .fetch_one(pool)
            .await?;
        progress.total += total as u64;
        progress.on_primary += on_primary as u64;
    }
    progress.remaining = progress.total - progress.on_primary;
    Ok(progress)
}

/// How many stored values are under `key`, over every column of [`ENCRYPTED_COLUMNS`]: zero tells
/// that no row uses the key any more, so it can be disabled (and later removed).
///
/// # Errors
/// Database errors.
pub async fn rows_using(pool: &PgPool, key: KeyId) -> Result<u64> {
    let bytes = key_bytes(key);
    let mut n = 0;
    for EncryptedColumn { table, column, .. } in ENCRYPTED_COLUMNS {
        // Identifiers come from the compile-time list ENCRYPTED_COLUMNS, never from input.
        let sql = format!(
            r#"SELECT count(*) FROM mixerai."{table}" WHERE substring("{column}" from 2 for 4) = $1"#
        );
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&bytes)
            .fetch_one(pool)
            .await?;
        n += count as u64;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_are_the_envelope_header_bytes() {
        let mut ring = Keyring::new();
        ring.add(
            KeyId(0x0102_0304),
            super::super::Key::from_bytes([7; 32]),
            super::super::KeyState::Primary,
        )
        .unwrap();
        let envelope = ring
            .encrypt(&ENCRYPTED_COLUMNS[0].binding(Uuid::nil()), b"x")
            .unwrap();
        assert_eq!(envelope[1..5], key_bytes(KeyId(0x0102_0304))[..]);
    }

    #[test]
    fn every_encrypted_column_is_a_plain_identifier() {
        for col in ENCRYPTED_COLUMNS {
            for name in [col.table, col.column, col.id_column] {
                assert!(
                    name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{name}"
                );
            }
        }
    }
}
