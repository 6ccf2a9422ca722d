//! Workflow definitions: review and approval steps and transitions (spec 2.4).

use sqlx::PgConnection;

use crate::Scope;

/// Workflow repository over one tenant scope: the workflows assigned to the scope's brand.
#[derive(Debug)]
pub struct WorkflowRepo<'s> {
    scope: &'s mut Scope,
}

impl<'s> WorkflowRepo<'s> {
    pub(crate) fn new(scope: &'s mut Scope) -> Self {
        Self { scope }
    }

    #[allow(dead_code)] // filled in by the repository's methods
    fn conn(&mut self) -> &mut PgConnection {
        self.scope.connection()
    }
}
