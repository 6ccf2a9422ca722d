//! AI generations: one AI request and its outcome, and usage totals (spec 2.6).

use sqlx::PgConnection;

use crate::Scope;

/// AI generation repository over one tenant scope: the scope's brand's requests.
#[derive(Debug)]
pub struct AiGenerationRepo<'s> {
    scope: &'s mut Scope,
}

impl<'s> AiGenerationRepo<'s> {
    pub(crate) fn new(scope: &'s mut Scope) -> Self {
        Self { scope }
    }

    #[allow(dead_code)] // filled in by the repository's methods
    fn conn(&mut self) -> &mut PgConnection {
        self.scope.connection()
    }
}
