//! Field definitions (`TemplateField`, spec 2.3), template-wide rules (`ValidationRule`), and the checks
//! that a set of them is coherent.
//!
//! The JSON shape follows the spec's TypeScript interfaces (camelCase keys: `defaultValue`, `helpText`,
//! `aiEnabled`, ...), so rows written by the crate and by a TypeScript application agree.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationErrors;
use crate::text_enum::text_enum;
use crate::types::{no_nul, non_blank, text};

/// The kind of value a field holds, and so how content is checked against it.
///
/// | type | content value | `min` / `max` | `pattern` | `options` |
/// |---|---|---|---|---|
/// | `text`, `textarea`, `rich_text` | string | length in characters | yes | no |
/// | `email` | string, an email address | length | yes | no |
/// | `url` | string, an absolute http(s) URL | length | yes | no |
/// | `number` | number | value | no | no |
/// | `date` | string `YYYY-MM-DD` | no | no | no |
/// | `datetime` | string, RFC 3339 with offset | no | no | no |
/// | `boolean` | `true` / `false` | no | no | no |
/// | `select` | one of `options` | no | no | required |
/// | `multiselect` | array of distinct `options` | number chosen | no | required |
/// | `image`, `file` | an http(s) URL, or an object whose `url` is one | no | no | no |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// One line of text.
    Text,
    /// Several lines of plain text.
    Textarea,
    /// HTML.
    RichText,
    /// A number.
    Number,
    /// A calendar date.
    Date,
    /// A point in time.
    DateTime,
    /// Yes or no.
    Boolean,
    /// One of a list.
    Select,
    /// Several of a list.
    MultiSelect,
    /// An image reference.
    Image,
    /// A file reference.
    File,
    /// A web address.
    Url,
    /// An email address.
    Email,
}

text_enum!(FieldType {
    Text => "text",
    Textarea => "textarea",
    RichText => "rich_text",
    Number => "number",
    Date => "date",
    DateTime => "datetime",
    Boolean => "boolean",
    Select => "select",
    MultiSelect => "multiselect",
    Image => "image",
    File => "file",
    Url => "url",
    Email => "email",
});

impl FieldType {
    /// Values are strings whose length `min`/`max` bound and `pattern` may constrain.
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::Textarea
                | FieldType::RichText
                | FieldType::Email
                | FieldType::Url
        )
    }

    /// Values are chosen from `options`.
    pub fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::MultiSelect)
    }

    /// What `min`/`max` bound for this type, if anything.
    fn bounds(self) -> Option<Bounds> {
        match self {
            t if t.is_textual() => Some(Bounds::Length),
            FieldType::Number => Some(Bounds::Value),
            FieldType::MultiSelect => Some(Bounds::Count),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bounds {
    Length,
    Value,
    Count,
}

/// How wide a field is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldWidth {
    /// The whole row.
    Full,
    /// Half a row.
    Half,
    /// A third of a row.
    Third,
}

text_enum!(FieldWidth { Full => "full", Half => "half", Third => "third" });

/// How a [`Condition`] compares the controlling field's value with its `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionOperator {
    /// The value equals `value`.
    Equals,
    /// The value is absent or differs from `value`.
    NotEquals,
    /// The value is one of `value` (an array).
    In,
    /// The value is absent or none of `value` (an array).
    NotIn,
    /// The value (text or an array) contains `value`.
    Contains,
    /// The field has a value (`value` must be `null`).
    IsSet,
    /// The field has no value (`value` must be `null`).
    IsNotSet,
}

text_enum!(ConditionOperator {
    Equals => "equals",
    NotEquals => "not_equals",
    In => "in",
    NotIn => "not_in",
    Contains => "contains",
    IsSet => "is_set",
    IsNotSet => "is_not_set",
});

/// A test of another field's value: shows a field only when it holds (spec `conditional`), or picks a
/// workflow transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The `name` of the field tested.
    pub field: String,
    /// How it is tested.
    pub operator: ConditionOperator,
    /// What it is tested against; `null` for `is_set` / `is_not_set`.
    #[serde(default)]
    pub value: Value,
}

impl Condition {
    /// Whether the condition holds for `actual`, the tested field's value (`None` when absent, `null`
    /// or hidden).
    pub fn holds(&self, actual: Option<&Value>) -> bool {
        let in_list = |v: &Value| self.value.as_array().is_some_and(|list| list.contains(v));
        match self.operator {
            ConditionOperator::Equals => actual == Some(&self.value),
            ConditionOperator::NotEquals => actual != Some(&self.value),
            ConditionOperator::In => actual.is_some_and(in_list),
            ConditionOperator::NotIn => !actual.is_some_and(in_list),
            ConditionOperator::Contains => match (actual, &self.value) {
                (Some(Value::Array(items)), v) => items.contains(v),
                (Some(Value::String(s)), Value::String(needle)) => s.contains(needle.as_str()),
                _ => false,
            },
            ConditionOperator::IsSet => actual.is_some(),
            ConditionOperator::IsNotSet => actual.is_none(),
        }
    }

    /// Checks the condition's own shape; `path` is where it sits (e.g. `fields[2].conditional`).
    pub(crate) fn check_shape(&self, errors: &mut ValidationErrors, path: &str) {
        let value_path = format!("{path}.value");
        match self.operator {
            ConditionOperator::In | ConditionOperator::NotIn if !self.value.is_array() => {
                errors.push(value_path.clone(), "must be an array for in / not_in");
            }
            ConditionOperator::IsSet | ConditionOperator::IsNotSet if !self.value.is_null() => {
                errors.push(value_path.clone(), "must be null for is_set / is_not_set");
            }
            ConditionOperator::Equals
            | ConditionOperator::NotEquals
            | ConditionOperator::Contains
                if self.value.is_null() =>
            {
                errors.push(
                    value_path.clone(),
                    "must not be null; use is_set / is_not_set",
                );
            }
            _ => {}
        }
        check_json(errors, &value_path, &self.value);
    }
}

/// Constraints on a field's value (spec `validation`); which apply depends on the [`FieldType`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldValidation {
    /// Least length (text), value (number) or number chosen (multiselect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Greatest length (text), value (number) or number chosen (multiselect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// A regular expression (Rust `regex` syntax) the whole text must match; it is anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The values a select or multiselect offers: distinct strings or numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
}

/// One field of a template (spec 2.3 `TemplateField`). Content stores its value under `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateField {
    /// Stable identifier of the definition (unique in the template); survives a rename of `name`.
    pub id: String,
    /// The key in content `fields`: `[a-z][a-z0-9_]*`, at most 64 characters, unique in the template.
    pub name: String,
    /// What editors see.
    pub label: String,
    /// The kind of value.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Content must give a value (when the field is visible).
    #[serde(default)]
    pub required: bool,
    /// Suggested initial value; must itself pass the field's checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<Value>,
    /// Hint shown in an empty input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// Help shown beside the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_text: Option<String>,
    /// Constraints on the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<FieldValidation>,
    /// AI may fill this field.
    #[serde(default)]
    pub ai_enabled: bool,
    /// The prompt AI fills it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_prompt: Option<String>,
    /// Position in the form, ascending.
    #[serde(default)]
    pub order: i32,
    /// Layout width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<FieldWidth>,
    /// Shown (and checked) only when this holds; hidden fields must be left out of content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional: Option<Condition>,
}

impl TemplateField {
    /// A field with this name (also used as its `id`), label and type, optional, without constraints.
    /// Set the other public fields with struct update syntax:
    /// `TemplateField { required: true, ..TemplateField::new("headline", "Headline", FieldType::Text) }`.
    pub fn new(name: impl Into<String>, label: impl Into<String>, field_type: FieldType) -> Self {
        let name = name.into();
        Self {
            id: name.clone(),
            name,
            label: label.into(),
            field_type,
            required: false,
            default_value: None,
            placeholder: None,
            help_text: None,
            validation: None,
            ai_enabled: false,
            ai_prompt: None,
            order: 0,
            width: None,
            conditional: None,
        }
    }

    /// The field's validation, or an empty one.
    pub(crate) fn rules(&self) -> FieldValidation {
        self.validation.clone().unwrap_or_default()
    }
}

/// A template-wide rule over several fields (the spec's `ValidationRule[]`, erratum W9: always an array).
///
/// Stored as JSON tagged by `rule`, e.g. `{"rule": "at_least_one", "fields": ["email", "phone"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum ValidationRule {
    /// At least one of these fields has a value.
    AtLeastOne {
        /// Field names (two or more).
        fields: Vec<String>,
        /// Reported instead of the default reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Either all of these fields have a value or none has.
    AllOrNone {
        /// Field names (two or more).
        fields: Vec<String>,
        /// Reported instead of the default reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// When both have values, `lower` is not greater than `upper` (two number, date or datetime fields
    /// of the same type), e.g. a campaign's start and end.
    Ordered {
        /// The field that must not be greater.
        lower: String,
        /// The field that must not be smaller.
        upper: String,
        /// Reported instead of the default reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// Longest field name, option list and so on: generous for people, bounded for machines.
pub(crate) const MAX_NAME: usize = 64;
const MAX_FIELDS: usize = 200;
const MAX_OPTIONS: usize = 1000;
/// Compiled size limit of a pattern, so a pathological pattern is refused instead of eating memory.
#[cfg(feature = "template-patterns")]
pub(crate) const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A field name as content keys it: `[a-z][a-z0-9_]*`, at most [`MAX_NAME`] characters.
fn is_field_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Refuses JSON that PostgreSQL's `jsonb` cannot hold: NUL characters in strings or keys.
pub(crate) fn check_json(errors: &mut ValidationErrors, path: &str, value: &Value) {
    if serde_json::to_string(value).is_ok_and(|s| s.contains("\\u0000")) {
        errors.push(path, "contains a NUL character");
    }
}

/// A compiled field pattern.
pub(crate) struct Pattern(#[cfg(feature = "template-patterns")] regex::Regex);

impl Pattern {
    /// Whether the whole of `text` matches.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        #[cfg(feature = "template-patterns")]
        return self.0.is_match(text);
        #[cfg(not(feature = "template-patterns"))]
        {
            // Never built without the feature (compile_pattern refuses every pattern).
            let _ = text;
            unreachable!("no pattern compiles without the template-patterns feature")
        }
    }
}

/// Compiles a pattern as content validation uses it: anchored at both ends. The error is the reason
/// a template's pattern is refused.
pub(crate) fn compile_pattern(pattern: &str) -> Result<Pattern, &'static str> {
    #[cfg(feature = "template-patterns")]
    return regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map(Pattern)
        .map_err(|_| "is not a valid regular expression");
    #[cfg(not(feature = "template-patterns"))]
    {
        let _ = pattern;
        Err("needs the crate's template-patterns feature")
    }
}

/// Checks a list of field definitions at `prefix` (e.g. `fields` -> `fields[0].name`): every
/// problem, each with its path. Used for templates and for workflow steps' form fields.
pub(crate) fn check_fields(errors: &mut ValidationErrors, prefix: &str, fields: &[TemplateField]) {
    if fields.len() > MAX_FIELDS {
        errors.push(prefix, format!("has more than {MAX_FIELDS} fields"));
    }
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let at = |what: &str| format!("{prefix}[{i}].{what}");
        if errors.check(&at("id"), non_blank(&f.id, 100)).is_some() && !ids.insert(f.id.as_str()) {
            errors.push(at("id"), "is used by another field");
        }
        if !is_field_name(&f.name) {
            errors.push(
                at("name"),
                "must be lowercase letters, digits and _ starting with a letter, at most 64 characters",
            );
        } else if !names.insert(f.name.as_str()) {
            errors.push(at("name"), "is used by another field");
        }
        errors.check(&at("label"), non_blank(&f.label, 255));
        if let Some(p) = &f.placeholder {
            errors.check(&at("placeholder"), text(p, 500));
        }
        if let Some(h) = &f.help_text {
            errors.check(&at("helpText"), text(h, 2000));
        }
        if let Some(p) = &f.ai_prompt {
            errors.check(&at("aiPrompt"), no_nul(p));
        }
        check_validation(errors, &at("validation"), f);
        if let Some(default) = &f.default_value {
            let path = at("defaultValue");
            if default.is_null() {
                errors.push(path, "must not be null; leave it out instead");
            } else {
                check_json(errors, &path, default);
                // The default must be a value the field itself accepts.
                let mut own = ValidationErrors::new();
                super::validate::check_value(&mut own, &path, f, default);
                for e in own.errors() {
                    errors.push(e.field.clone(), e.reason.clone());
                }
            }
        }
    }
    // Conditions refer to other fields by name, and must not go round in a circle.
    let by_name: HashMap<&str, &TemplateField> =
        fields.iter().map(|f| (f.name.as_str(), f)).collect();
    for (i, f) in fields.iter().enumerate() {
        let Some(c) = &f.conditional else { continue };
        let path = format!("{prefix}[{i}].conditional");
        c.check_shape(errors, &path);
        if c.field == f.name {
            errors.push(format!("{path}.field"), "must name another field");
        } else if !by_name.contains_key(c.field.as_str()) {
            errors.push(format!("{path}.field"), "names no field of this template");
        } else {
            let mut seen = HashSet::from([f.name.as_str()]);
            let mut next = Some(c.field.as_str());
            while let Some(name) = next {
                if !seen.insert(name) {
                    errors.push(format!("{path}.field"), "conditions form a cycle");
                    break;
                }
                next = by_name
                    .get(name)
                    .and_then(|g| g.conditional.as_ref())
                    .map(|g| g.field.as_str());
            }
        }
    }
}

fn check_validation(errors: &mut ValidationErrors, path: &str, f: &TemplateField) {
    let v = f.rules();
    let bounds = f.field_type.bounds();
    for (name, value) in [("min", v.min), ("max", v.max)] {
        let Some(value) = value else { continue };
        let at = format!("{path}.{name}");
        match bounds {
            None => errors.push(at, format!("does not apply to {} fields", f.field_type)),
            Some(_) if !value.is_finite() => errors.push(at, "must be a finite number"),
            Some(Bounds::Length | Bounds::Count) if value < 0.0 || value.fract() != 0.0 => {
                errors.push(at, "must be a whole number, not negative")
            }
            _ => {}
        }
    }
    if let (Some(min), Some(max)) = (v.min, v.max)
        && min > max
    {
        errors.push(format!("{path}.min"), "must not be greater than max");
    }
    if let Some(pattern) = &v.pattern {
        let at = format!("{path}.pattern");
        if !f.field_type.is_textual() {
            errors.push(at, format!("does not apply to {} fields", f.field_type));
        } else if errors.check(&at, text(pattern, 1000)).is_some()
            && let Err(reason) = compile_pattern(pattern)
        {
            errors.push(at, reason);
        }
    }
    match (&v.options, f.field_type.has_options()) {
        (None, true) => errors.push(format!("{path}.options"), "are required for select fields"),
        (Some(_), false) => errors.push(
            format!("{path}.options"),
            format!("do not apply to {} fields", f.field_type),
        ),
        (Some(options), true) => {
            let at = format!("{path}.options");
            if options.is_empty() {
                errors.push(at.clone(), "must not be empty");
            }
            if options.len() > MAX_OPTIONS {
                errors.push(at.clone(), format!("has more than {MAX_OPTIONS} options"));
            }
            for (i, o) in options.iter().enumerate() {
                let at = format!("{at}[{i}]");
                if !(o.is_string() || o.is_number()) {
                    errors.push(at, "must be a string or a number");
                } else if options[..i].contains(o) {
                    errors.push(at, "is listed twice");
                } else {
                    check_json(errors, &at, o);
                }
            }
        }
        (None, false) => {}
    }
}

/// Checks template-wide rules: each rule's own shape and, when the template's `fields` are known, that
/// the rules name fields it has ([`check_rule_references`]). A patch that replaces only one of the two
/// is checked against the other one stored, in the repository (see the module docs).
pub(crate) fn check_rules(
    errors: &mut ValidationErrors,
    rules: &[ValidationRule],
    fields: Option<&[TemplateField]>,
) {
    for (i, rule) in rules.iter().enumerate() {
        let at = |what: &str| format!("validation_rules[{i}].{what}");
        let message = match rule {
            ValidationRule::AtLeastOne {
                fields: names,
                message,
            }
            | ValidationRule::AllOrNone {
                fields: names,
                message,
            } => {
                if names.len() < 2 {
                    errors.push(at("fields"), "must name at least two fields");
                }
                for (j, n) in names.iter().enumerate() {
                    if names[..j].contains(n) {
                        errors.push(format!("{}[{j}]", at("fields")), "is listed twice");
                    }
                }
                message
            }
            ValidationRule::Ordered {
                lower,
                upper,
                message,
            } => {
                if lower == upper {
                    errors.push(at("upper"), "must name another field than lower");
                }
                message
            }
        };
        if let Some(m) = message {
            errors.check(&at("message"), non_blank(m, 500));
        }
    }
    if let Some(fields) = fields {
        check_rule_references(errors, rules, fields);
    }
}

/// Checks that template-wide rules name fields of the template, and that an `ordered` rule compares
/// two number, date or datetime fields of one type.
pub(crate) fn check_rule_references(
    errors: &mut ValidationErrors,
    rules: &[ValidationRule],
    fields: &[TemplateField],
) {
    let find = |name: &str| fields.iter().find(|f| f.name == name);
    for (i, rule) in rules.iter().enumerate() {
        let at = |what: &str| format!("validation_rules[{i}].{what}");
        match rule {
            ValidationRule::AtLeastOne { fields: names, .. }
            | ValidationRule::AllOrNone { fields: names, .. } => {
                for (j, n) in names.iter().enumerate() {
                    // A repeat is reported as such by the shape check, not again here.
                    if !names[..j].contains(n) && find(n).is_none() {
                        errors.push(
                            format!("{}[{j}]", at("fields")),
                            "names no field of this template",
                        );
                    }
                }
            }
            ValidationRule::Ordered { lower, upper, .. } => {
                let (l, u) = (find(lower), find(upper));
                if l.is_none() {
                    errors.push(at("lower"), "names no field of this template");
                }
                if u.is_none() {
                    errors.push(at("upper"), "names no field of this template");
                }
                if let (Some(l), Some(u)) = (l, u) {
                    let comparable = matches!(
                        l.field_type,
                        FieldType::Number | FieldType::Date | FieldType::DateTime
                    );
                    if !comparable || l.field_type != u.field_type {
                        errors.push(
                            at("upper"),
                            "lower and upper must both be number, date or datetime fields of one type",
                        );
                    }
                }
            }
        }
    }
}
