//! Content templates: typed field definitions content is validated against (spec 2.3).

use sqlx::PgConnection;

use crate::Scope;

/// Template repository over one tenant scope: the templates assigned to the scope's brand.
#[derive(Debug)]
pub struct TemplateRepo<'s> {
    scope: &'s mut Scope,
}

impl<'s> TemplateRepo<'s> {
    pub(crate) fn new(scope: &'s mut Scope) -> Self {
        Self { scope }
    }

    #[allow(dead_code)] // filled in by the repository's methods
    fn conn(&mut self) -> &mut PgConnection {
        self.scope.connection()
    }
}
