//! mixerai-data (crate docs are written in the foundation commit)

pub mod db;
pub mod error;
pub mod scope;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod types;

pub use db::Database;
pub use error::{Error, FieldError, Result, ValidationErrors};
pub use scope::{Scope, SystemScope};
pub use types::{
    AiGenerationId, BrandId, ClaimId, ContentId, CountryCode, CurrencyCode, Email, EventId,
    HexColor, InvalidValue, LanguageCode, Slug, TemplateId, Timezone, UserBrandRoleId, UserId,
    VettingAgencyId, WorkflowId, WorkflowInstanceId,
};
