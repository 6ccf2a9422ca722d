//! Claims: what a brand may, may not and must say, by market and date (spec 2.5).

use sqlx::PgConnection;

use crate::Scope;

/// Claim repository over one tenant scope: the scope's brand's claims.
#[derive(Debug)]
pub struct ClaimRepo<'s> {
    scope: &'s mut Scope,
}

impl<'s> ClaimRepo<'s> {
    pub(crate) fn new(scope: &'s mut Scope) -> Self {
        Self { scope }
    }

    #[allow(dead_code)] // filled in by the repository's methods
    fn conn(&mut self) -> &mut PgConnection {
        self.scope.connection()
    }
}
