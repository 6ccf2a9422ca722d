//! Content templates: typed field definitions content is validated against (spec 2.3). Model,
//! builder, patch, repository, and [`Template::validate`].
//!
//! # Decisions the spec leaves open
//! - **Field types** are the [`FieldType`] table; `min`/`max` mean length for text, value for numbers
//!   and the number chosen for multiselects, and apply to nothing else. `pattern` (Rust `regex`
//!   syntax, linear-time) must match the *whole* text. Options are distinct strings or numbers.
//! - **Conditional fields**: a field whose condition does not hold (or whose tested field is itself
//!   hidden) is hidden. A hidden field is never required, and content must leave it out (or `null`):
//!   what is stored is what an editor was shown. Conditions may not form a cycle.
//! - **Unknown keys** in content `fields` are refused: a typo must not be stored silently.
//! - **Required** means present, not `null`, not blank text and not an empty list. Defaults are not
//!   filled in by `validate`; [`Template::apply_defaults`] does that when the caller wants it.
//! - **Template-wide rules** ([`ValidationRule`]): at least one of, all or none of, and ordered pairs of
//!   number/date fields. Stored as a JSON array (erratum W9).
//! - **Brands**: a template is created for the scope's brand, optionally shared with more brands;
//!   under row-level security only a platform admin may write a shared one (0013). An empty
//!   `content_types` list means the template fits every content type.
//! - **Error paths** name columns as the table does (`name`, `validation_rules[0]`, `content_types[1]`)
//!   and keys inside the JSON documents as they are stored (`fields[2].helpText`); content problems
//!   are under `fields.<name>`.
//! - There is no unique key on templates (two may share a name), so no duplicate error exists.

mod field;
mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use sqlx::types::Json;

pub(crate) use field::check_fields;
pub use field::{
    Condition, ConditionOperator, FieldType, FieldValidation, FieldWidth, TemplateField,
    ValidationRule,
};

use crate::page::{Page, PageRequest};
use crate::repo::Ctx;
use crate::types::{BrandId, TemplateId, UserId, no_nul, non_blank};
use crate::{Error, Result, ValidationErrors};

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
    /// Saves so far; the optimistic-concurrency token.
    pub version: i32,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

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

const TEMPLATE_COLUMNS: &str = "id, name, description, icon, fields, layout, ai_enabled, ai_prompts, \
    validation_rules, brand_ids, content_types, is_active, category, tags, usage, version, created_by, \
    created_at, updated_at";

/// Everything a template defines, checked as one: the builder and patches share it.
#[derive(Debug, Clone, PartialEq)]
struct Definition {
    name: String,
    description: Option<String>,
    icon: Option<String>,
    fields: Vec<TemplateField>,
    layout: Option<String>,
    ai_enabled: bool,
    ai_prompts: BTreeMap<String, String>,
    validation_rules: Vec<ValidationRule>,
    content_types: Vec<String>,
    category: Option<String>,
    tags: Vec<String>,
}

impl Definition {
    fn check(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        errors.check("name", non_blank(&self.name, 255));
        if let Some(d) = &self.description {
            errors.check("description", no_nul(d));
        }
        if let Some(i) = &self.icon {
            errors.check("icon", non_blank(i, 100));
        }
        if let Some(l) = &self.layout {
            errors.check("layout", no_nul(l));
        }
        check_fields(&mut errors, "fields", &self.fields);
        for (k, v) in &self.ai_prompts {
            let at = format!("ai_prompts.{k}");
            errors.check(&at, non_blank(k, 100));
            errors.check(&at, no_nul(v));
        }
        field::check_rules(&mut errors, &self.fields, &self.validation_rules);
        check_list(&mut errors, "content_types", &self.content_types, 50);
        if let Some(c) = &self.category {
            errors.check("category", non_blank(c, 100));
        }
        check_list(&mut errors, "tags", &self.tags, 100);
        errors
    }
}

/// Checks a list of short names: each non-blank, at most `max` characters, no repeats.
pub(crate) fn check_list(errors: &mut ValidationErrors, path: &str, items: &[String], max: usize) {
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if errors.check(&at, non_blank(item, max)).is_some() && items[..i].contains(item) {
            errors.push(at, "is listed twice");
        }
    }
}

/// A validated new template; build one with [`NewTemplate::builder`].
#[derive(Debug, Clone)]
pub struct NewTemplate {
    def: Definition,
    shared_with: Vec<BrandId>,
    is_active: bool,
}

impl NewTemplate {
    /// Starts a builder; [`NewTemplateBuilder::build`] reports every problem at once.
    pub fn builder() -> NewTemplateBuilder {
        NewTemplateBuilder {
            ai_enabled: true,
            is_active: true,
            ..NewTemplateBuilder::default()
        }
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The field definitions, as they will be stored.
    pub fn fields(&self) -> &[TemplateField] {
        &self.def.fields
    }
}

/// Raw input for a [`NewTemplate`].
#[derive(Debug, Clone, Default)]
pub struct NewTemplateBuilder {
    name: String,
    description: Option<String>,
    icon: Option<String>,
    fields: Vec<TemplateField>,
    layout: Option<String>,
    ai_enabled: bool,
    ai_prompts: BTreeMap<String, String>,
    validation_rules: Vec<ValidationRule>,
    content_types: Vec<String>,
    category: Option<String>,
    tags: Vec<String>,
    shared_with: Vec<BrandId>,
    is_active: bool,
}

impl NewTemplateBuilder {
    /// Display name (required, at most 255 characters).
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = v.into();
        self
    }
    /// Free text.
    pub fn description(mut self, v: impl Into<String>) -> Self {
        self.description = Some(v.into());
        self
    }
    /// Icon name (at most 100 characters).
    pub fn icon(mut self, v: impl Into<String>) -> Self {
        self.icon = Some(v.into());
        self
    }
    /// Adds a field.
    pub fn field(mut self, f: TemplateField) -> Self {
        self.fields.push(f);
        self
    }
    /// Layout template.
    pub fn layout(mut self, v: impl Into<String>) -> Self {
        self.layout = Some(v.into());
        self
    }
    /// Whether AI may generate content for it (default: yes).
    pub fn ai_enabled(mut self, v: bool) -> Self {
        self.ai_enabled = v;
        self
    }
    /// Adds an AI prompt under `purpose`.
    pub fn ai_prompt(mut self, purpose: impl Into<String>, prompt: impl Into<String>) -> Self {
        self.ai_prompts.insert(purpose.into(), prompt.into());
        self
    }
    /// Adds a template-wide rule.
    pub fn rule(mut self, r: ValidationRule) -> Self {
        self.validation_rules.push(r);
        self
    }
    /// Adds a content type it fits (at most 50 characters); none = every type.
    pub fn content_type(mut self, v: impl Into<String>) -> Self {
        self.content_types.push(v.into());
        self
    }
    /// Grouping (at most 100 characters).
    pub fn category(mut self, v: impl Into<String>) -> Self {
        self.category = Some(v.into());
        self
    }
    /// Adds a tag (at most 100 characters).
    pub fn tag(mut self, v: impl Into<String>) -> Self {
        self.tags.push(v.into());
        self
    }
    /// Also assigns it to `brand` (besides the scope's). Only platform admins may write shared templates.
    pub fn share_with(mut self, brand: BrandId) -> Self {
        self.shared_with.push(brand);
        self
    }
    /// Whether it is offered for new content (default: yes).
    pub fn active(mut self, v: bool) -> Self {
        self.is_active = v;
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewTemplate, ValidationErrors> {
        let def = Definition {
            name: self.name,
            description: self.description,
            icon: self.icon,
            fields: self.fields,
            layout: self.layout,
            ai_enabled: self.ai_enabled,
            ai_prompts: self.ai_prompts,
            validation_rules: self.validation_rules,
            content_types: self.content_types,
            category: self.category,
            tags: self.tags,
        };
        let mut errors = def.check();
        for (i, b) in self.shared_with.iter().enumerate() {
            if self.shared_with[..i].contains(b) {
                errors.push(format!("brand_ids[{i}]"), "is listed twice");
            }
        }
        errors.into_result()?;
        Ok(NewTemplate {
            def,
            shared_with: self.shared_with,
            is_active: self.is_active,
        })
    }
}

/// Changes to a template; unset parts stay as they are. The result is validated as a whole (e.g. a
/// rule naming a field the patch removes is refused).
#[derive(Debug, Clone, Default)]
pub struct TemplatePatch {
    name: Option<String>,
    description: Option<Option<String>>,
    icon: Option<Option<String>>,
    fields: Option<Vec<TemplateField>>,
    layout: Option<Option<String>>,
    ai_enabled: Option<bool>,
    ai_prompts: Option<BTreeMap<String, String>>,
    validation_rules: Option<Vec<ValidationRule>>,
    content_types: Option<Vec<String>>,
    category: Option<Option<String>>,
    tags: Option<Vec<String>>,
    is_active: Option<bool>,
}

impl TemplatePatch {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }
    /// New name.
    pub fn name(mut self, v: impl Into<String>) -> Self {
        self.name = Some(v.into());
        self
    }
    /// New description; `None` clears it.
    pub fn description(mut self, v: Option<String>) -> Self {
        self.description = Some(v);
        self
    }
    /// New icon; `None` clears it.
    pub fn icon(mut self, v: Option<String>) -> Self {
        self.icon = Some(v);
        self
    }
    /// Replaces every field definition.
    pub fn fields(mut self, v: Vec<TemplateField>) -> Self {
        self.fields = Some(v);
        self
    }
    /// New layout; `None` clears it.
    pub fn layout(mut self, v: Option<String>) -> Self {
        self.layout = Some(v);
        self
    }
    /// Whether AI may generate content for it.
    pub fn ai_enabled(mut self, v: bool) -> Self {
        self.ai_enabled = Some(v);
        self
    }
    /// Replaces the AI prompts.
    pub fn ai_prompts(mut self, v: BTreeMap<String, String>) -> Self {
        self.ai_prompts = Some(v);
        self
    }
    /// Replaces the template-wide rules.
    pub fn validation_rules(mut self, v: Vec<ValidationRule>) -> Self {
        self.validation_rules = Some(v);
        self
    }
    /// Replaces the content types.
    pub fn content_types(mut self, v: Vec<String>) -> Self {
        self.content_types = Some(v);
        self
    }
    /// New category; `None` clears it.
    pub fn category(mut self, v: Option<String>) -> Self {
        self.category = Some(v);
        self
    }
    /// Replaces the tags.
    pub fn tags(mut self, v: Vec<String>) -> Self {
        self.tags = Some(v);
        self
    }
    /// Activates or deactivates it.
    pub fn active(mut self, v: bool) -> Self {
        self.is_active = Some(v);
        self
    }

    fn apply(self, t: &Template) -> (Definition, bool) {
        let def = Definition {
            name: self.name.unwrap_or_else(|| t.name.clone()),
            description: self.description.unwrap_or_else(|| t.description.clone()),
            icon: self.icon.unwrap_or_else(|| t.icon.clone()),
            fields: self.fields.unwrap_or_else(|| t.fields.clone()),
            layout: self.layout.unwrap_or_else(|| t.layout.clone()),
            ai_enabled: self.ai_enabled.unwrap_or(t.ai_enabled),
            ai_prompts: self.ai_prompts.unwrap_or_else(|| t.ai_prompts.clone()),
            validation_rules: self
                .validation_rules
                .unwrap_or_else(|| t.validation_rules.clone()),
            content_types: self
                .content_types
                .unwrap_or_else(|| t.content_types.clone()),
            category: self.category.unwrap_or_else(|| t.category.clone()),
            tags: self.tags.unwrap_or_else(|| t.tags.clone()),
        };
        (def, self.is_active.unwrap_or(t.is_active))
    }
}

/// Which templates a list returns.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    /// Only templates that fit this content type (listing it, or listing none).
    pub content_type: Option<String>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) templates.
    pub active: Option<bool>,
}

/// Template repository over one tenant scope: the templates assigned to the scope's brand.
///
/// Reading needs any live role in the brand; writing needs editor or admin, and a template shared
/// with other brands is written only by platform admins (row-level security, 0013). A stale update is
/// [`Error::Conflict`] on `content_templates_stale_version`.
#[derive(Debug)]
pub struct TemplateRepo<'s> {
    ctx: &'s mut Ctx,
}

impl<'s> TemplateRepo<'s> {
    pub(crate) fn new(ctx: &'s mut Ctx) -> Self {
        Self { ctx }
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.ctx.conn()
    }

    /// Creates a template assigned to the scope's brand (and any brands it is shared with), created by
    /// the scope's user. A viewer, or a non-platform admin sharing it, gets [`Error::Forbidden`].
    pub async fn create(&mut self, new: &NewTemplate) -> Result<Template> {
        let mut brands = vec![self.ctx.tenant_brand()];
        brands.extend(
            new.shared_with
                .iter()
                .filter(|b| **b != self.ctx.tenant_brand()),
        );
        let user = self.ctx.tenant_user();
        let d = &new.def;
        let sql = format!(
            "INSERT INTO mixerai.content_templates (name, description, icon, fields, layout, ai_enabled, ai_prompts,
                 validation_rules, brand_ids, content_types, is_active, category, tags, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             RETURNING {TEMPLATE_COLUMNS}"
        );
        Ok(sqlx::query_as::<_, Template>(sqlx::AssertSqlSafe(sql))
            .bind(&d.name)
            .bind(&d.description)
            .bind(&d.icon)
            .bind(Json(&d.fields))
            .bind(&d.layout)
            .bind(d.ai_enabled)
            .bind(Json(&d.ai_prompts))
            .bind(Json(&d.validation_rules))
            .bind(&brands)
            .bind(&d.content_types)
            .bind(new.is_active)
            .bind(&d.category)
            .bind(&d.tags)
            .bind(user)
            .fetch_one(self.conn())
            .await?)
    }

    /// The template with this id, if assigned to the scope's brand; else [`Error::NotFound`].
    pub async fn get(&mut self, id: TemplateId) -> Result<Template> {
        let sql = format!("SELECT {TEMPLATE_COLUMNS} FROM mixerai.content_templates WHERE id = $1");
        sqlx::query_as::<_, Template>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?
            .ok_or(Error::NotFound { entity: "template" })
    }

    /// The scope's brand's templates, newest first, one page at a time.
    pub async fn list(
        &mut self,
        filter: &TemplateFilter,
        page: &PageRequest,
    ) -> Result<Page<Template>> {
        let (after_at, after_id) = page.after_key();
        // The brand condition repeats the RESTRICTIVE policy so the planner can use the GIN index.
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM mixerai.content_templates
             WHERE brand_ids @> ARRAY[$1::uuid]
               AND ($2::text IS NULL OR content_types = '{{}}' OR content_types @> ARRAY[$2::text])
               AND ($3::boolean IS NULL OR is_active = $3)
               AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
             ORDER BY created_at DESC, id DESC
             LIMIT $6"
        );
        let rows = sqlx::query_as::<_, Template>(sqlx::AssertSqlSafe(sql))
            .bind(self.ctx.tenant_brand())
            .bind(&filter.content_type)
            .bind(filter.active)
            .bind(after_at)
            .bind(after_id)
            .bind(page.fetch_limit())
            .fetch_all(self.conn())
            .await?;
        Ok(Page::from_rows(rows, page, |t| {
            (t.created_at, t.id.as_uuid())
        }))
    }

    /// Applies `patch` to the template if it is still at `expected_version`, and returns it at its new
    /// version. The patched template is validated as a whole first ([`Error::Invalid`]). A template
    /// changed since (by anyone) is [`Error::Conflict`] on `content_templates_stale_version`, and
    /// nothing is written.
    pub async fn update(
        &mut self,
        id: TemplateId,
        expected_version: i32,
        patch: TemplatePatch,
    ) -> Result<Template> {
        let current = self.get(id).await?;
        if current.version != expected_version {
            return Err(stale());
        }
        let (d, is_active) = patch.apply(&current);
        d.check().into_result()?;
        let sql = format!(
            "UPDATE mixerai.content_templates
             SET name = $3, description = $4, icon = $5, fields = $6, layout = $7, ai_enabled = $8,
                 ai_prompts = $9, validation_rules = $10, content_types = $11, category = $12, tags = $13,
                 is_active = $14, version = version + 1
             WHERE id = $1 AND version = $2
             RETURNING {TEMPLATE_COLUMNS}"
        );
        let row = sqlx::query_as::<_, Template>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(expected_version)
            .bind(&d.name)
            .bind(&d.description)
            .bind(&d.icon)
            .bind(Json(&d.fields))
            .bind(&d.layout)
            .bind(d.ai_enabled)
            .bind(Json(&d.ai_prompts))
            .bind(Json(&d.validation_rules))
            .bind(&d.content_types)
            .bind(&d.category)
            .bind(&d.tags)
            .bind(is_active)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(t) => Ok(t),
            None => Err(self.refused(id, Some(expected_version)).await),
        }
    }

    /// Why an UPDATE of a row read a moment ago touched nothing: it changed in between (stale), it is
    /// gone, or row-level security lets this scope read it but not write it.
    async fn refused(&mut self, id: TemplateId, expected_version: Option<i32>) -> Error {
        match self.get(id).await {
            Err(e) => e,
            Ok(t) if expected_version.is_some_and(|v| v != t.version) => stale(),
            Ok(_) => Error::forbidden("this template cannot be changed in this scope"),
        }
    }

    /// Stops offering the template for new content (content made from it keeps it). Idempotent.
    /// Not visible is [`Error::NotFound`]; visible but not writable is [`Error::Forbidden`].
    pub async fn deactivate(&mut self, id: TemplateId) -> Result<Template> {
        let sql = format!(
            "UPDATE mixerai.content_templates
             SET is_active = false, version = version + CASE WHEN is_active THEN 1 ELSE 0 END
             WHERE id = $1 RETURNING {TEMPLATE_COLUMNS}"
        );
        let row = sqlx::query_as::<_, Template>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        match row {
            Some(t) => Ok(t),
            None => Err(self.refused(id, None).await),
        }
    }
}

fn stale() -> Error {
    Error::Conflict {
        constraint: "content_templates_stale_version".to_owned(),
        field: None,
        source: None,
    }
}

#[cfg(test)]
mod tests;
