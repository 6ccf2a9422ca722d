//! mixerai-data (crate docs are written in the foundation commit)

pub mod error;
pub mod types;

pub use error::{Error, FieldError, Result, ValidationErrors};
pub use types::{
    AiGenerationId, BrandId, ClaimId, ContentId, CountryCode, CurrencyCode, Email, EventId,
    HexColor, InvalidValue, LanguageCode, Slug, TemplateId, Timezone, UserBrandRoleId, UserId,
    VettingAgencyId, WorkflowId, WorkflowInstanceId,
};
