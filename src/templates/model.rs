//! What a template is: the row as read, its usage, and the checks it runs over a content item's
//! fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::field::{TemplateField, ValidationRule};
use super::validate;
use crate::ValidationErrors;
use crate::types::{BrandId, TemplateId, UserId};

/// How often a template was used (spec `usage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateUsage {
    /// Items created from it.
    #[serde(default)]
    pub count: i64,
    /// The last time one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A content template (`content_templates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Template {
    /// Primary key.
    pub id: TemplateId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Icon name.
    pub icon: Option<String>,
    /// The fields content fills in.
    #[sqlx(json)]
    pub fields: Vec<TemplateField>,
    /// Layout template.
    pub layout: Option<String>,
    /// AI may generate content for it.
    pub ai_enabled: bool,
    /// Prompts by purpose.
    #[sqlx(json)]
    pub ai_prompts: BTreeMap<String, String>,
    /// Rules over several fields.
    #[sqlx(json)]
    pub validation_rules: Vec<ValidationRule>,
    /// The brands it is assigned to.
    pub brand_ids: Vec<BrandId>,
    /// The content types it fits; empty = every type.
    pub content_types: Vec<String>,
    /// Offered for new content.
    pub is_active: bool,
    /// Grouping.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Use so far.
    #[sqlx(json)]
    pub usage: TemplateUsage,
    /// Saves so far, counting the first: the optimistic-concurrency token every write names.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`Template`], for every statement that returns templates (`concat!` keeps each one
/// a `&'static str`).
macro_rules! template_columns {
    () => {
        "id, name, description, icon, fields, layout, ai_enabled, ai_prompts, validation_rules, \
         brand_ids, content_types, is_active, category, tags, usage, version, created_by, created_at, \
         updated_at"
    };
}
pub(crate) use template_columns;

impl Template {
    /// Checks a content item's `fields` against this template and returns every violation, each under
    /// `fields.<name>` (list elements as `fields.<name>[i]`): unknown keys, missing required fields,
    /// wrong types, lengths / values / counts out of range, pattern mismatches, values not among the
    /// options, values given for fields hidden by their condition, and broken template-wide rules.
    /// Pure and total: any JSON gives a report, never a panic.
    pub fn validate(&self, fields: &Map<String, Value>) -> Result<(), ValidationErrors> {
        validate::validate(&self.fields, &self.validation_rules, fields).into_result()
    }

    /// Fills in the `defaultValue` of every visible field that `fields` leaves out (or sets to `null`),
    /// as a form would before an editor types: a default that changes which fields are visible is
    /// applied before the fields it shows or hides. Call it before [`Template::validate`] when
    /// defaults should count; `validate` itself never applies them.
    pub fn apply_defaults(&self, fields: &mut Map<String, Value>) {
        validate::apply_defaults(&self.fields, fields);
    }

    /// Whether the template fits content of this type (an empty list fits every type).
    pub fn fits(&self, content_type: &str) -> bool {
        self.content_types.is_empty() || self.content_types.iter().any(|t| t == content_type)
    }
}
