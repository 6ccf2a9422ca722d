//! What a caller hands in: the raw input, the create and patch builders over it, the one parse, the
//! check of a patch against the template it changes, and the list filter.

use std::collections::BTreeMap;
use std::convert::Infallible;

use serde::{Deserialize, Serialize};

use super::field::{
    TemplateField, ValidationRule, check_fields, check_rule_references, check_rules,
};
use super::model::Template;
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::types::{BrandId, no_nul, non_blank};

/// A validated new template; build one with [`NewTemplate::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub(crate) values: TemplateValues,
}

impl NewTemplate {
    /// Starts a builder; [`NewTemplateBuilder::build`] reports every problem at once.
    pub fn builder() -> NewTemplateBuilder {
        NewTemplateBuilder::default()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        self.values.name.as_deref().unwrap_or_default()
    }

    /// The field definitions, as they will be stored.
    pub fn fields(&self) -> &[TemplateField] {
        self.values.fields.as_deref().unwrap_or_default()
    }
}

/// A validated change to a template: only what was set is written, and a patch that sets nothing
/// writes nothing. Build one with [`TemplatePatch::builder`]; apply it with
/// [`TemplateRepo::update`](super::TemplateRepo::update), which also checks it against the template
/// it changes (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplatePatch {
    pub(crate) values: TemplateValues,
}

impl TemplatePatch {
    /// Starts a builder; [`TemplatePatchBuilder::build`] reports every problem at once.
    pub fn builder() -> TemplatePatchBuilder {
        TemplatePatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether the patch replaces the fields or the rules but not both: then the rules must still name
    /// fields of the template as it will be, which only the stored template can tell.
    pub(super) fn needs_whole_check(&self) -> bool {
        self.values.fields.is_some() != self.values.validation_rules.is_some()
    }

    /// Checks the template as this patch would leave it: every rule names a field it has. Every
    /// problem is reported together.
    pub(super) fn check_whole(&self, current: &Template) -> Result<(), ValidationErrors> {
        let fields = self.values.fields.as_deref().unwrap_or(&current.fields);
        let rules = self
            .values
            .validation_rules
            .as_deref()
            .unwrap_or(&current.validation_rules);
        let mut errors = ValidationErrors::new();
        check_rule_references(&mut errors, rules, fields);
        errors.into_result()
    }
}

/// Raw input for a [`NewTemplate`]. Nothing is checked until [`build`](Self::build). Deserialises
/// from the JSON of a [`TemplateInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewTemplateBuilder(TemplateInput);

/// Raw input for a [`TemplatePatch`]: every setter replaces that part of the template; unset parts
/// stay. Deserialises from the JSON of a [`TemplateInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplatePatchBuilder(TemplateInput);

input! {
    /// The raw input of a template, shared by [`NewTemplateBuilder`] and [`TemplatePatchBuilder`]:
    /// every field optional, as a request carries it.
    pub struct TemplateInput;
    builders NewTemplateBuilder, TemplatePatchBuilder;
    values TemplateValues, columns template_input_columns;
    fields {
        /// Display name (required on create, not blank, at most 255 characters).
        name "name": value String => String, name maybe_name;
        /// Free text.
        description "description": nullable String => String, description maybe_description clear_description;
        /// Icon name (not blank, at most 100 characters).
        icon "icon": nullable String => String, icon maybe_icon clear_icon;
        /// The fields content fills in, replaced whole (default: none). Checked together: distinct ids
        /// and names, constraints that fit each type, defaults the field accepts, conditions on other
        /// fields without a cycle.
        fields "fields": list TemplateField => Vec<TemplateField>, fields maybe_fields field;
        /// Layout template.
        layout "layout": nullable String => String, layout maybe_layout clear_layout;
        /// Whether AI may generate content for it (default: yes).
        ai_enabled "ai_enabled": value bool => bool, ai_enabled maybe_ai_enabled;
        /// AI prompts by purpose, replaced whole (default: none).
        ai_prompts "ai_prompts": value BTreeMap<String, String> => BTreeMap<String, String>, ai_prompts maybe_ai_prompts;
        /// Template-wide rules over several fields, replaced whole (default: none); they must name
        /// fields of the template.
        validation_rules "validation_rules": list ValidationRule => Vec<ValidationRule>, validation_rules maybe_validation_rules validation_rule;
        /// The content types it fits, each at most 50 characters (default: none, which fits every type).
        content_types "content_types": list String => Vec<String>, content_types maybe_content_types content_type;
        /// Whether it is offered for new content (default: yes). Deactivating a template is a patch
        /// setting this to `false`; content made from it keeps it.
        is_active "is_active": value bool => bool, is_active maybe_is_active;
        /// Grouping (not blank, at most 100 characters).
        category "category": nullable String => String, category maybe_category clear_category;
        /// Tags (each not blank, at most 100 characters, no repeats).
        tags "tags": list String => Vec<String>, tags maybe_tags tag;
        /// Brands it is also assigned to, besides the scope's (create only). Only platform admins may
        /// write a template shared with other brands.
        shared_with "brand_ids": list BrandId => Vec<BrandId>, shared_with maybe_shared_with share_with;
    }
}

macro_rules! ai_prompt_setter {
    ($Builder:ident) => {
        impl $Builder {
            /// Sets the AI prompt for `purpose`, keeping the others set so far.
            pub fn ai_prompt(
                mut self,
                purpose: impl Into<String>,
                prompt: impl Into<String>,
            ) -> Self {
                self.0
                    .ai_prompts
                    .get_or_insert_with(BTreeMap::new)
                    .insert(purpose.into(), prompt.into());
                self
            }
        }
    };
}
ai_prompt_setter!(NewTemplateBuilder);
ai_prompt_setter!(TemplatePatchBuilder);

impl NewTemplateBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewTemplate, ValidationErrors> {
        Ok(NewTemplate {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl TemplatePatchBuilder {
    /// Validates every field that was set, returning all problems together. Whether the rules still
    /// name the template's fields is checked by [`TemplateRepo::update`](super::TemplateRepo::update)
    /// when the patch replaces only one of the two.
    pub fn build(self) -> Result<TemplatePatch, ValidationErrors> {
        Ok(TemplatePatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a template input, for a create (required fields, defaults) or a patch.
fn parse(input: &TemplateInput, mode: Mode) -> Result<TemplateValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let name = p.required("name", &input.name, |n| owned(non_blank(n, 255)));
    let description = p.nullable("description", &input.description, |d| owned(no_nul(d)));
    let icon = p.nullable("icon", &input.icon, |i| owned(non_blank(i, 100)));
    let fields = list(&mut p, &input.fields, |errors, fields| {
        check_fields(errors, "fields", fields)
    });
    let layout = p.nullable("layout", &input.layout, |l| owned(no_nul(l)));
    let ai_enabled = p.defaulted("ai_enabled", &input.ai_enabled, || true, |v| ok(*v));
    let ai_prompts = match &input.ai_prompts {
        Some(prompts) => {
            for (purpose, prompt) in prompts {
                let at = format!("ai_prompts.{purpose}");
                p.errors.check(&at, non_blank(purpose, 100));
                p.errors.check(&at, no_nul(prompt));
            }
            Some(prompts.clone())
        }
        None => (mode == Mode::Create).then(BTreeMap::new),
    };
    // The rules are checked against the fields when both are known here; a patch that replaces only
    // one of them is checked against the other by the repository.
    let known_fields = fields.as_deref();
    let validation_rules = list(&mut p, &input.validation_rules, |errors, rules| {
        check_rules(errors, rules, known_fields)
    });
    let content_types = list(&mut p, &input.content_types, |errors, types| {
        check_list(errors, "content_types", types, 50)
    });
    let is_active = p.defaulted("is_active", &input.is_active, || true, |v| ok(*v));
    let category = p.nullable("category", &input.category, |c| owned(non_blank(c, 100)));
    let tags = list(&mut p, &input.tags, |errors, tags| {
        check_list(errors, "tags", tags, 100)
    });
    let shared_with = match mode {
        Mode::Create => list(&mut p, &input.shared_with, |errors, brands| {
            for (i, b) in brands.iter().enumerate() {
                if brands[..i].contains(b) {
                    errors.push(format!("shared_with[{i}]"), "is listed twice");
                }
            }
        }),
        Mode::Patch => {
            if input.shared_with.is_some() {
                p.push("shared_with", "cannot be changed after creation");
            }
            None
        }
    };
    p.finish(TemplateValues {
        name,
        description,
        icon,
        fields,
        layout,
        ai_enabled,
        ai_prompts,
        validation_rules,
        content_types,
        is_active,
        category,
        tags,
        shared_with,
    })
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

fn ok<T>(v: T) -> Result<T, Infallible> {
    Ok(v)
}

/// A list field: checked with `check` when set; unset in a patch is `None`, unset on create is empty.
fn list<T: Clone>(
    p: &mut Parser,
    raw: &Option<Vec<T>>,
    check: impl FnOnce(&mut ValidationErrors, &[T]),
) -> Option<Vec<T>> {
    match raw {
        Some(items) => {
            check(&mut p.errors, items);
            Some(items.clone())
        }
        None => (p.mode == Mode::Create).then(Vec::new),
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

/// Which templates [`TemplateRepo::list`](super::TemplateRepo::list) returns: every set condition must
/// hold. Deserialises from a request's query or body. Templates are never soft-deleted, so there is no
/// `deleted`; an inactive template is found with `is_active: Some(false)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateFilter {
    /// Only templates that fit this content type (listing it, or listing none).
    pub content_type: Option<String>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) templates.
    pub is_active: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::{Condition, ConditionOperator, FieldType, FieldValidation};
    use chrono::Utc;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn field(name: &str, ty: FieldType) -> TemplateField {
        TemplateField::new(name, name.to_uppercase(), ty)
    }

    fn with(f: TemplateField, v: FieldValidation) -> TemplateField {
        TemplateField {
            validation: Some(v),
            ..f
        }
    }

    fn opts(values: &[Value]) -> FieldValidation {
        FieldValidation {
            options: Some(values.to_vec()),
            ..FieldValidation::default()
        }
    }

    fn valid_builder() -> NewTemplateBuilder {
        NewTemplate::builder()
            .name("Article")
            .field(TemplateField {
                required: true,
                ..field("headline", FieldType::Text)
            })
            .content_type("article")
    }

    fn stored(fields: Vec<TemplateField>, rules: Vec<ValidationRule>) -> Template {
        Template {
            id: crate::types::TemplateId::new(),
            name: "T".into(),
            description: None,
            icon: None,
            fields,
            layout: None,
            ai_enabled: true,
            ai_prompts: BTreeMap::new(),
            validation_rules: rules,
            brand_ids: vec![],
            content_types: vec![],
            is_active: true,
            category: None,
            tags: vec![],
            usage: crate::templates::TemplateUsage::default(),
            version: 1,
            created_by: crate::types::UserId::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_valid_template_builds_with_its_defaults() {
        let t = valid_builder()
            .tag("news")
            .category("Editorial")
            .build()
            .unwrap();
        assert_eq!(t.fields().len(), 1);
        assert_eq!(t.name(), "Article");
        assert_eq!(t.values.is_active, Some(true));
        assert_eq!(t.values.ai_enabled, Some(true));
        assert_eq!(t.values.shared_with.as_deref(), Some(&[][..]));
    }

    #[test]
    fn the_builder_reports_every_problem_at_once() {
        let bad_default = TemplateField {
            default_value: Some(json!(42)),
            ..field("title", FieldType::Text)
        };
        let brand = BrandId::new();
        let err = NewTemplate::builder()
            .name(" ")
            .icon("x".repeat(101))
            .field(field("Bad Name", FieldType::Text))
            .field(field("dup", FieldType::Text))
            .field(TemplateField {
                id: "other".into(),
                ..field("dup", FieldType::Boolean)
            })
            .field(field("choice", FieldType::Select))
            .field(with(
                field("empty_choice", FieldType::MultiSelect),
                opts(&[]),
            ))
            .field(with(
                field("n", FieldType::Number),
                FieldValidation {
                    min: Some(5.0),
                    max: Some(1.0),
                    pattern: Some("x".into()),
                    ..FieldValidation::default()
                },
            ))
            .field(with(
                field("t", FieldType::Text),
                FieldValidation {
                    min: Some(1.5),
                    pattern: Some("(".into()),
                    options: Some(vec![json!("a")]),
                    ..FieldValidation::default()
                },
            ))
            .field(bad_default)
            .field(TemplateField {
                conditional: Some(Condition {
                    field: "nowhere".into(),
                    operator: ConditionOperator::Equals,
                    value: json!(1),
                }),
                ..field("c", FieldType::Text)
            })
            .validation_rule(ValidationRule::AtLeastOne {
                fields: vec!["ghost".into()],
                message: None,
            })
            .content_type("article")
            .content_type("article")
            .ai_prompt(" ", "p")
            .share_with(brand)
            .share_with(brand)
            .build()
            .unwrap_err();
        let mut got: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        got.sort();
        let mut expected = vec![
            "name",
            "icon",
            "fields[0].name",
            "fields[2].name",
            "fields[3].validation.options",
            "fields[4].validation.options",
            "fields[5].validation.min",
            "fields[5].validation.pattern",
            "fields[6].validation.min",
            "fields[6].validation.pattern",
            "fields[6].validation.options",
            "fields[7].defaultValue",
            "fields[8].conditional.field",
            "ai_prompts. ",
            "validation_rules[0].fields",
            "validation_rules[0].fields[0]",
            "content_types[1]",
            "shared_with[1]",
        ];
        expected.sort();
        assert_eq!(got, expected, "{err}");
    }

    #[test]
    fn conditions_must_not_form_a_cycle_or_point_at_themselves() {
        let on = |f: &str| {
            Some(Condition {
                field: f.into(),
                operator: ConditionOperator::IsSet,
                value: Value::Null,
            })
        };
        let err = NewTemplate::builder()
            .name("T")
            .field(TemplateField {
                conditional: on("b"),
                ..field("a", FieldType::Text)
            })
            .field(TemplateField {
                conditional: on("a"),
                ..field("b", FieldType::Text)
            })
            .field(TemplateField {
                conditional: on("c"),
                ..field("c", FieldType::Text)
            })
            .field(TemplateField {
                conditional: Some(Condition {
                    field: "a".into(),
                    operator: ConditionOperator::In,
                    value: json!("not a list"),
                }),
                ..field("d", FieldType::Text)
            })
            .build()
            .unwrap_err();
        assert_eq!(
            err.get("fields[0].conditional.field").unwrap().reason,
            "conditions form a cycle"
        );
        assert_eq!(
            err.get("fields[1].conditional.field").unwrap().reason,
            "conditions form a cycle"
        );
        assert_eq!(
            err.get("fields[2].conditional.field").unwrap().reason,
            "must name another field"
        );
        assert_eq!(
            err.get("fields[3].conditional.value").unwrap().reason,
            "must be an array for in / not_in"
        );
    }

    #[test]
    fn ordered_rules_need_two_comparable_fields_of_one_type() {
        let err = NewTemplate::builder()
            .name("T")
            .field(field("start", FieldType::Date))
            .field(field("count", FieldType::Number))
            .validation_rule(ValidationRule::Ordered {
                lower: "start".into(),
                upper: "count".into(),
                message: Some(String::new()),
            })
            .build()
            .unwrap_err();
        assert!(err.get("validation_rules[0].upper").is_some(), "{err}");
        assert!(err.get("validation_rules[0].message").is_some(), "{err}");
    }

    #[test]
    fn an_empty_patch_builds_and_writes_nothing() {
        let patch = TemplatePatch::builder().build().unwrap();
        assert!(patch.is_empty());
        assert!(!patch.needs_whole_check());
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn a_create_writes_every_input_column_and_a_patch_only_what_is_set() {
        let new = valid_builder().build().unwrap();
        let record = serde_json::to_value(&new.values).unwrap();
        let mut keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut columns: Vec<&str> = template_input_columns!().split(", ").collect();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(record["brand_ids"], json!([]));

        let patch = TemplatePatch::builder()
            .clear_description()
            .maybe_name(None::<String>)
            .is_active(false)
            .tags(["a"])
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            json!({"description": null, "is_active": false, "tags": ["a"]})
        );
    }

    #[test]
    fn a_patch_checks_what_it_sets_alone_and_cannot_change_the_sharing() {
        let err = TemplatePatch::builder()
            .name(" ")
            .category("")
            .share_with(BrandId::new())
            .content_types(["a", "a"])
            .build()
            .unwrap_err();
        let mut got: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        got.sort();
        assert_eq!(
            got,
            ["category", "content_types[1]", "name", "shared_with"],
            "{err}"
        );
        // Rules and fields set together are checked together, before any round trip.
        let err = TemplatePatch::builder()
            .field(field("email", FieldType::Email))
            .validation_rule(ValidationRule::AtLeastOne {
                fields: vec!["email".into(), "phone".into()],
                message: None,
            })
            .build()
            .unwrap_err();
        assert_eq!(
            err.get("validation_rules[0].fields[1]").unwrap().reason,
            "names no field of this template"
        );
    }

    #[test]
    fn a_patch_of_only_the_fields_is_checked_against_the_stored_rules() {
        let rule = ValidationRule::AtLeastOne {
            fields: vec!["email".into(), "phone".into()],
            message: None,
        };
        let current = stored(
            vec![
                field("email", FieldType::Email),
                field("phone", FieldType::Text),
            ],
            vec![rule],
        );
        let patch = TemplatePatch::builder()
            .fields([field("headline", FieldType::Text)])
            .build()
            .unwrap();
        assert!(patch.needs_whole_check());
        let err = patch.check_whole(&current).unwrap_err();
        let got: Vec<_> = err.errors().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            got,
            [
                "validation_rules[0].fields[0]",
                "validation_rules[0].fields[1]"
            ]
        );
        let keeps_both = TemplatePatch::builder()
            .fields([
                field("headline", FieldType::Text),
                field("phone", FieldType::Text),
                field("email", FieldType::Email),
            ])
            .build()
            .unwrap();
        assert_eq!(keeps_both.check_whole(&current), Ok(()));
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let brand = BrandId::new();
        let json = json!({
            "name": "Article",
            "description": "Long-form",
            "fields": [{"id": "headline", "name": "headline", "label": "HEADLINE", "type": "text", "required": true}],
            "ai_prompts": {"headline": "Write one"},
            "validation_rules": [],
            "content_types": ["article"],
            "is_active": false,
            "tags": ["news"],
            "shared_with": [brand],
        });
        let from_json: NewTemplateBuilder = serde_json::from_value(json).unwrap();
        let by_setters = NewTemplate::builder()
            .name("Article")
            .description("Long-form")
            .field(TemplateField {
                required: true,
                ..field("headline", FieldType::Text)
            })
            .ai_prompt("headline", "Write one")
            .validation_rules(Vec::<ValidationRule>::new())
            .content_type("article")
            .is_active(false)
            .tag("news")
            .share_with(brand);
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let patch: TemplatePatchBuilder =
            serde_json::from_str(r#"{"icon": null, "is_active": false}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            TemplatePatch::builder()
                .clear_icon()
                .is_active(false)
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<TemplatePatchBuilder>(r#"{"nmae": "typo"}"#).is_err());
        let filter: TemplateFilter =
            serde_json::from_str(r#"{"content_type": "article", "is_active": true}"#).unwrap();
        assert_eq!(filter.is_active, Some(true));
        assert!(serde_json::from_str::<TemplateFilter>(r#"{"deleted": "include"}"#).is_err());
    }

    prop_compose! {
        fn any_field()(
            name in "[a-zA-Z_ ]{0,4}",
            ty in prop::sample::select(FieldType::ALL.to_vec()),
            required: bool,
            min in prop::option::of(-3.0f64..30.0),
            max in prop::option::of(-3.0f64..30.0),
            pattern in prop::option::of(prop_oneof![Just("[a-z]+".to_owned()), Just("(".to_owned()), ".{0,4}"]),
            options in prop::option::of(prop::collection::vec(prop_oneof![Just(json!("a")), Just(json!(1)), Just(Value::Null)], 0..4)),
            default in prop::option::of(prop_oneof![Just(json!("a")), Just(json!(2)), Just(Value::Null)]),
            conditional in prop::option::of(("[a-z]{1,3}", prop::sample::select(ConditionOperator::ALL.to_vec()))),
            order: i32,
        ) -> TemplateField {
            TemplateField {
                required,
                default_value: default,
                validation: Some(FieldValidation { min, max, pattern, options }),
                conditional: conditional.map(|(field, operator)| Condition { field, operator, value: Value::Null }),
                order,
                ..TemplateField::new(name.clone(), name, ty)
            }
        }
    }

    proptest! {
        #[test]
        fn the_builders_build_or_report_without_panicking(
            name in ".{0,5}",
            fields in prop::collection::vec(any_field(), 0..5),
            rule_names in prop::collection::vec("[a-z]{1,3}", 0..3),
        ) {
            let rule = ValidationRule::AllOrNone { fields: rule_names, message: None };
            let b = NewTemplate::builder().name(name.clone()).fields(fields.clone()).validation_rule(rule.clone());
            match b.build() {
                Ok(t) => {
                    // What builds is coherent: a stored copy validates an empty item without panicking.
                    let tmpl = stored(t.fields().to_vec(), t.values.validation_rules.clone().unwrap());
                    let _ = tmpl.validate(&serde_json::Map::new());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            let p = TemplatePatch::builder().maybe_name(Some(name)).fields(fields).build();
            match p {
                Ok(p) => prop_assert!(p.needs_whole_check()),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
