//! The repository toolkit every domain module is written with: the context a repository runs in, the
//! one keyset pager, and the one answer to "why did this write touch no row".
//!
//! Statements stay in the open, in each domain's `repo.rs`: static SQL (`&'static str`, column lists
//! pasted with `concat!` from the model's and the input's column macros), or a [`QueryBuilder`] for
//! the lists whose filters vary. Writes hand their values to PostgreSQL as one JSON record (see
//! [`crate::input`]), so a patch needs no hand-numbered parameters.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::types::{BrandId, UserId};
use crate::{Error, Result};

/// What every repository holds: the scope's transaction, who is acting and in which brand (none in a
/// system scope), and the scope's tracing span, the parent of every repository call's span.
#[derive(Debug)]
pub(crate) struct Ctx {
    tx: Transaction<'static, Postgres>,
    user: Option<UserId>,
    brand: Option<BrandId>,
    span: tracing::Span,
}

impl Ctx {
    pub(crate) fn new(
        tx: Transaction<'static, Postgres>,
        user: Option<UserId>,
        brand: Option<BrandId>,
        span: tracing::Span,
    ) -> Self {
        Self {
            tx,
            user,
            brand,
            span,
        }
    }

    /// The scope's connection, inside its transaction.
    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// The acting user; `None` in a system scope.
    pub(crate) fn user(&self) -> Option<UserId> {
        self.user
    }

    /// The acting user and brand of a tenant scope, for operations that exist only inside one.
    pub(crate) fn tenant(&self) -> Result<(UserId, BrandId)> {
        match (self.user, self.brand) {
            (Some(user), Some(brand)) => Ok((user, brand)),
            _ => Err(Error::forbidden(
                "this needs a tenant scope: a user acting in a brand",
            )),
        }
    }

    /// The scope's brand; `None` in a system scope.
    pub(crate) fn brand(&self) -> Option<BrandId> {
        self.brand
    }

    /// The acting user of a repository that only a tenant [`Scope`](crate::Scope) hands out.
    pub(crate) fn tenant_user(&self) -> UserId {
        self.user.expect("a tenant scope's repository")
    }

    /// The brand of a repository that only a tenant [`Scope`](crate::Scope) hands out.
    pub(crate) fn tenant_brand(&self) -> BrandId {
        self.brand.expect("a tenant scope's repository")
    }

    /// The scope's span, the parent of every repository call's span.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub(crate) fn into_tx(self) -> Transaction<'static, Postgres> {
        self.tx
    }
}

/// Which state of a soft-deletable row a write needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// A live row (update, soft delete).
    Live,
    /// A soft-deleted row (restore).
    Deleted,
}

/// Why a write of row `id` at `expected` version touched no row, asked with `probe`: a statement
/// `SELECT version, deleted_at IS NOT NULL FROM mixerai.<table> WHERE id = $1`, run in the same scope
/// and so under the same policies.
///
/// - Not visible: [`Error::NotFound`], whether absent, another brand's or not readable.
/// - At another version: [`Error::Stale`] with the version it is at (also when it was deleted or
///   restored since: that is a change the caller did not see).
/// - Not in the state the write needs: [`Error::NotFound`] (an update of a deleted row).
/// - Otherwise the policies let the scope read the row but not write it: [`Error::Forbidden`].
pub(crate) async fn why_unchanged(
    conn: &mut PgConnection,
    probe: &'static str,
    entity: &'static str,
    id: Uuid,
    expected: i32,
    needs: Needs,
) -> Result<Error> {
    let row: Option<(i32, bool)> = sqlx::query_as(probe)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        None => Error::NotFound { entity },
        Some((actual, _)) if actual != expected => Error::Stale {
            entity,
            expected,
            actual,
        },
        Some((_, deleted)) if deleted != (needs == Needs::Deleted) => Error::NotFound { entity },
        Some(_) => Error::forbidden(format!(
            "the acting user's role does not allow changing this {entity}"
        )),
    })
}

/// The order a list is paged in: newest first by `(at, id)`, e.g. `("created_at", "id")`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyset {
    pub(crate) at: &'static str,
    pub(crate) id: &'static str,
}

/// The keyset of every list ordered by creation.
pub(crate) const BY_CREATION: Keyset = Keyset {
    at: "created_at",
    id: "id",
};

/// Runs a list query built so far (`SELECT … FROM … WHERE …`, conditions included) as one page:
/// continues after the request's cursor with one row comparison, which an index ending in
/// `(at DESC, id DESC)` serves as a single seek, orders by the keyset, and fetches one row more than
/// the page to learn whether a next page exists. Never `OFFSET`.
pub(crate) async fn page<T>(
    conn: &mut PgConnection,
    mut query: QueryBuilder<Postgres>,
    request: &PageRequest,
    keyset: Keyset,
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> Result<Page<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    if let (Some(at), Some(id)) = request.after_key() {
        query
            .push(format_args!(" AND ({}, {}) < (", keyset.at, keyset.id))
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    query
        .push(format_args!(
            " ORDER BY {} DESC, {} DESC LIMIT ",
            keyset.at, keyset.id
        ))
        .push_bind(request.fetch_limit());
    let rows = query.build_query_as::<T>().fetch_all(&mut *conn).await?;
    Ok(Page::from_rows(rows, request, key))
}
