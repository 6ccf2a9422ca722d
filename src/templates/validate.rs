//! Checking a content item's `fields` against a template: pure, no I/O, never panics.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

use super::field::{FieldType, TemplateField, ValidationRule, compile_pattern};
use crate::ValidationErrors;
use crate::types::{Email, http_url};

/// Checks one present, non-null `value` against `field`'s type and constraints, reporting under `path`.
pub(crate) fn check_value(
    errors: &mut ValidationErrors,
    path: &str,
    field: &TemplateField,
    value: &Value,
) {
    let rules = field.rules();
    let ty = field.field_type;
    if ty.is_textual() {
        let Some(s) = value.as_str() else {
            errors.push(path, "must be text");
            return;
        };
        if s.contains('\0') {
            errors.push(path, "must not contain NUL characters");
            return;
        }
        match ty {
            FieldType::Email if Email::parse(s).is_err() => {
                errors.push(path, "must be an email address")
            }
            FieldType::Url if http_url(s).is_err() => errors.push(path, "must be an http(s) URL"),
            _ => {}
        }
        let len = s.chars().count() as f64;
        if let Some(min) = rules.min
            && len < min
        {
            errors.push(path, format!("must be at least {min} characters long"));
        }
        if let Some(max) = rules.max
            && len > max
        {
            errors.push(path, format!("must be at most {max} characters long"));
        }
        if let Some(pattern) = &rules.pattern {
            match compile_pattern(pattern) {
                Ok(re) if !re.is_match(s) => {
                    errors.push(path, "does not match the required pattern")
                }
                Ok(_) => {}
                Err(_) => errors.push(
                    path,
                    "the template's pattern for this field does not compile",
                ),
            }
        }
        return;
    }
    match ty {
        FieldType::Number => {
            let Some(n) = value.as_f64() else {
                errors.push(path, "must be a number");
                return;
            };
            if let Some(min) = rules.min
                && n < min
            {
                errors.push(path, format!("must be at least {min}"));
            }
            if let Some(max) = rules.max
                && n > max
            {
                errors.push(path, format!("must be at most {max}"));
            }
        }
        FieldType::Date if as_date(value).is_none() => {
            errors.push(path, "must be a date (YYYY-MM-DD)");
        }
        FieldType::DateTime if as_datetime(value).is_none() => {
            errors.push(path, "must be a date and time (RFC 3339, with offset)");
        }
        FieldType::Boolean if !value.is_boolean() => {
            errors.push(path, "must be true or false");
        }
        FieldType::Select if !rules.options.as_deref().unwrap_or_default().contains(value) => {
            errors.push(path, "is not one of the options");
        }
        FieldType::MultiSelect => {
            let Some(items) = value.as_array() else {
                errors.push(path, "must be a list of options");
                return;
            };
            let options = rules.options.as_deref().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                if !options.contains(item) {
                    errors.push(format!("{path}[{i}]"), "is not one of the options");
                } else if items[..i].contains(item) {
                    errors.push(format!("{path}[{i}]"), "is chosen twice");
                }
            }
            let count = items.len() as f64;
            if let Some(min) = rules.min
                && count < min
            {
                errors.push(path, format!("must choose at least {min}"));
            }
            if let Some(max) = rules.max
                && count > max
            {
                errors.push(path, format!("must choose at most {max}"));
            }
        }
        FieldType::Image | FieldType::File => {
            let url = match value {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("url").and_then(Value::as_str),
                _ => None,
            };
            if url.is_none_or(|u| http_url(u).is_err()) {
                errors.push(
                    path,
                    "must be an http(s) URL or an object with one as `url`",
                );
            }
            if value.is_object() {
                super::field::check_json(errors, path, value);
            }
        }
        // Textual types returned above; the guarded arms above passed.
        _ => {}
    }
}

fn as_date(value: &Value) -> Option<NaiveDate> {
    value
        .as_str()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        // %Y accepts signs and more digits; the spec's date is exactly YYYY-MM-DD.
        .filter(|_| value.as_str().is_some_and(|s| s.len() == 10))
}

fn as_datetime(value: &Value) -> Option<DateTime<chrono::FixedOffset>> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// Whether each field is visible for these content values: a field with a condition is visible when
/// the field it tests is visible and the condition holds on that field's value. Cycles (which the
/// builder refuses, but a row written elsewhere could hold) count as visible, so such fields are
/// still checked.
fn visibility<'t>(
    fields: &'t [TemplateField],
    values: &Map<String, Value>,
) -> HashMap<&'t str, bool> {
    let by_name: HashMap<&str, &TemplateField> =
        fields.iter().map(|f| (f.name.as_str(), f)).collect();
    let mut known: HashMap<&'t str, bool> = HashMap::new();
    for f in fields {
        // Walk up the chain of conditions, then resolve it from the top down.
        let mut chain = vec![f];
        let mut cycle = false;
        while let Some(c) = chain.last().and_then(|g| g.conditional.as_ref()) {
            if known.contains_key(c.field.as_str()) {
                break;
            }
            let Some(parent) = by_name.get(c.field.as_str()) else {
                break;
            };
            if chain.iter().any(|g| g.name == parent.name) {
                cycle = true;
                break;
            }
            chain.push(parent);
        }
        while let Some(g) = chain.pop() {
            let visible = cycle
                || match &g.conditional {
                    None => true,
                    Some(c) => match known.get(c.field.as_str()) {
                        // A condition on a field the template does not have never holds.
                        None if !by_name.contains_key(c.field.as_str()) => false,
                        None => true,
                        Some(false) => false,
                        Some(true) => c.holds(present(values, &c.field)),
                    },
                };
            known.entry(g.name.as_str()).or_insert(visible);
        }
    }
    known
}

/// The value of `name`, treating `null` as absent.
fn present<'v>(values: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    values.get(name).filter(|v| !v.is_null())
}

/// Whether a present value counts as "given" for `required` and the all-or-none rules: blank text and
/// empty lists do not.
fn is_given(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

/// See [`Template::apply_defaults`](super::Template::apply_defaults).
pub(crate) fn apply_defaults(fields: &[TemplateField], values: &mut Map<String, Value>) {
    // A field's visibility depends only on the fields above it in its chain of conditions, so
    // settling the fields level by level (no condition first, then those tested on them, ...) never
    // gives a default to a field that a later default hides.
    let by_name: HashMap<&str, &TemplateField> =
        fields.iter().map(|f| (f.name.as_str(), f)).collect();
    let depth = |f: &TemplateField| {
        let mut d = 0;
        let mut next = f.conditional.as_ref().map(|c| c.field.as_str());
        while let Some(name) = next {
            d += 1;
            if d > fields.len() {
                break; // a cycle, which the builder refuses
            }
            next = by_name
                .get(name)
                .and_then(|g| g.conditional.as_ref())
                .map(|c| c.field.as_str());
        }
        d
    };
    let depths: Vec<usize> = fields.iter().map(depth).collect();
    let deepest = depths.iter().copied().max().unwrap_or(0);
    for level in 0..=deepest {
        let visible = visibility(fields, values);
        let mut defaults = Vec::new();
        for (f, d) in fields.iter().zip(&depths) {
            if *d == level
                && present(values, &f.name).is_none()
                && visible.get(f.name.as_str()).copied().unwrap_or(false)
                && let Some(v) = &f.default_value
            {
                defaults.push((f.name.clone(), v.clone()));
            }
        }
        values.extend(defaults);
    }
}

/// See [`Template::validate`](super::Template::validate).
pub(crate) fn validate(
    fields: &[TemplateField],
    rules: &[ValidationRule],
    values: &Map<String, Value>,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let visible = visibility(fields, values);
    for key in values.keys() {
        if !fields.iter().any(|f| &f.name == key) {
            errors.push(format!("fields.{key}"), "not a field of this template");
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        // A row written elsewhere could repeat a name; check each name once.
        if !seen.insert(f.name.as_str()) {
            continue;
        }
        let path = format!("fields.{}", f.name);
        let value = present(values, &f.name);
        if !visible.get(f.name.as_str()).copied().unwrap_or(true) {
            if value.is_some() {
                errors.push(path, "is hidden by its condition and must be left out");
            }
            continue;
        }
        match value {
            None if f.required => errors.push(path, "is required"),
            None => {}
            Some(v) => {
                if f.required && !is_given(Some(v)) {
                    errors.push(path.clone(), "is required");
                }
                check_value(&mut errors, &path, f, v);
            }
        }
    }
    let given = |n: &str| is_given(present(values, n));
    for rule in rules {
        match rule {
            ValidationRule::AtLeastOne {
                fields: names,
                message,
            } => {
                if !names.is_empty() && !names.iter().any(|n| given(n)) {
                    let reason = message.clone().unwrap_or_else(|| {
                        format!("at least one of {} must be given", list(names))
                    });
                    errors.push(format!("fields.{}", names[0]), reason);
                }
            }
            ValidationRule::AllOrNone {
                fields: names,
                message,
            } => {
                let count = names.iter().filter(|n| given(n)).count();
                if count > 0 && count < names.len() {
                    let reason = message
                        .clone()
                        .unwrap_or_else(|| format!("give all of {} or none", list(names)));
                    for n in names.iter().filter(|n| !given(n)) {
                        errors.push(format!("fields.{n}"), reason.clone());
                    }
                }
            }
            ValidationRule::Ordered {
                lower,
                upper,
                message,
            } => {
                let ty = fields
                    .iter()
                    .find(|f| &f.name == lower)
                    .map(|f| f.field_type);
                let (Some(l), Some(u)) = (present(values, lower), present(values, upper)) else {
                    continue;
                };
                let out_of_order = match ty {
                    Some(FieldType::Number) => match (l.as_f64(), u.as_f64()) {
                        (Some(l), Some(u)) => l > u,
                        _ => false,
                    },
                    Some(FieldType::Date) => {
                        matches!((as_date(l), as_date(u)), (Some(l), Some(u)) if l > u)
                    }
                    Some(FieldType::DateTime) => {
                        matches!((as_datetime(l), as_datetime(u)), (Some(l), Some(u)) if l > u)
                    }
                    _ => false,
                };
                if out_of_order {
                    let reason = message
                        .clone()
                        .unwrap_or_else(|| format!("must not be greater than fields.{upper}"));
                    errors.push(format!("fields.{lower}"), reason);
                }
            }
        }
    }
    errors
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("fields.{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
