//! Content templates: typed field definitions content is validated against (spec 2.3).
//!
//! Laid out as every domain module is: the model (what a template is: [`Template`],
//! [`TemplateUsage`], and [`Template::validate`] over a content item's fields), input (what a caller
//! hands in: [`TemplateInput`], [`NewTemplate`] and [`TemplatePatch`] with their builders,
//! [`TemplateFilter`]), and the repository ([`TemplateRepo`]). Two parts of its own: `field.rs`, the
//! typed field definitions ([`TemplateField`], [`FieldType`], [`Condition`], [`ValidationRule`]) and
//! the checks that a set of them is coherent; `validate.rs`, the check of content against them.
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
//! - **Brands**: a template is created for the scope's brand, optionally shared with more brands
//!   ([`NewTemplateBuilder::share_with`]); under row-level security only a platform admin may write a
//!   shared one (migration 0006). Sharing is fixed at creation. An empty `content_types` list means the template
//!   fits every content type.
//! - **Optimistic concurrency.** [`TemplateRepo::update`] takes the `version` the caller read; a
//!   template saved since is [`Error::Stale`](crate::Error::Stale) with the version it is at, and
//!   nothing is written. The database adds one to `version` on every write, whoever makes it.
//! - **No soft delete**: the table has no `deleted_at`, and content keeps pointing at its template, so
//!   a template is never deleted. It is deactivated instead, by a patch of `is_active`
//!   ([`TemplatePatchBuilder::is_active`]): it is then no longer offered for new content, and content
//!   made from it keeps it.
//! - **A patch is checked twice.** Its builder checks what it sets, alone, before any round trip. But
//!   the rules must name fields of the template, and a patch that replaces only the fields (or only
//!   the rules) cannot know the other half: [`TemplateRepo::update`] reads the stored template and
//!   checks the rules against the fields as the patch would leave them, reporting every problem at
//!   once, before it writes. The version guard of the write makes that check and the write one step.
//! - **Error paths** name columns as the table does (`name`, `validation_rules[0]`, `content_types[1]`)
//!   and keys inside the JSON documents as they are stored (`fields[2].helpText`); content problems
//!   are under `fields.<name>`. The brands a template is shared with are `shared_with[i]`, as the
//!   input names them.
//! - There is no unique key on templates (two may share a name), so no duplicate error exists.

mod field;
mod input;
mod model;
mod repo;
mod validate;

pub(crate) use field::check_fields;
pub use field::{
    Condition, ConditionOperator, FieldType, FieldValidation, FieldWidth, TemplateField,
    ValidationRule,
};
pub(crate) use input::check_list;
pub use input::{
    NewTemplate, NewTemplateBuilder, TemplateFilter, TemplateInput, TemplatePatch,
    TemplatePatchBuilder,
};
pub use model::{Template, TemplateUsage};
pub use repo::TemplateRepo;

#[cfg(test)]
mod tests;
