//! Validation of content against templates, and the stored JSON shape of fields and rules (no
//! database); the builders are tested in input.rs, the repository in tests/it/templates.rs.

use std::collections::BTreeMap;

use chrono::Utc;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::types::{TemplateId, UserId};

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

fn template(fields: Vec<TemplateField>, rules: Vec<ValidationRule>) -> Template {
    Template {
        id: TemplateId::new(),
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
        usage: TemplateUsage::default(),
        version: 1,
        created_by: UserId::new(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("object").clone()
}

/// The report as `(path, reason)` pairs, sorted, for whole-report assertions.
fn report(t: &Template, v: Value) -> Vec<(String, String)> {
    let mut out: Vec<_> = match t.validate(&obj(v)) {
        Ok(()) => vec![],
        Err(e) => e
            .errors()
            .iter()
            .map(|e| (e.field.clone(), e.reason.to_string()))
            .collect(),
    };
    out.sort();
    out
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// A template with one field of every type, and a valid content for it.
fn article() -> Template {
    let text = |min, max| FieldValidation {
        min: Some(min),
        max: Some(max),
        ..FieldValidation::default()
    };
    template(
        vec![
            TemplateField {
                required: true,
                ..with(field("headline", FieldType::Text), text(3.0, 20.0))
            },
            with(
                field("code", FieldType::Text),
                FieldValidation {
                    pattern: Some("[A-Z]{3}-[0-9]+".into()),
                    ..FieldValidation::default()
                },
            ),
            field("body", FieldType::RichText),
            with(field("rating", FieldType::Number), text(1.0, 5.0)),
            field("launch", FieldType::Date),
            field("ends", FieldType::Date),
            field("at", FieldType::DateTime),
            field("featured", FieldType::Boolean),
            with(
                field("tone", FieldType::Select),
                opts(&[json!("warm"), json!("cool")]),
            ),
            with(
                field("markets", FieldType::MultiSelect),
                FieldValidation {
                    min: Some(1.0),
                    max: Some(2.0),
                    ..opts(&[json!("GB"), json!("FR"), json!("DE")])
                },
            ),
            field("hero", FieldType::Image),
            field("brochure", FieldType::File),
            field("link", FieldType::Url),
            field("contact", FieldType::Email),
        ],
        vec![ValidationRule::Ordered {
            lower: "launch".into(),
            upper: "ends".into(),
            message: None,
        }],
    )
}

#[test]
fn content_matching_every_field_type_passes() {
    let ok = json!({
        "headline": "Spring launch", "code": "ABC-12", "body": "<p>Hi</p>", "rating": 4.5,
        "launch": "2026-03-01", "ends": "2026-03-31", "at": "2026-03-01T09:00:00+01:00", "featured": true,
        "tone": "warm", "markets": ["GB", "FR"], "hero": {"url": "https://cdn.example.com/a.png", "alt": "A"},
        "brochure": "https://example.com/b.pdf", "link": "http://example.com", "contact": "a@example.com",
    });
    assert_eq!(report(&article(), ok), vec![]);
}

#[test]
fn every_violation_is_reported_together_with_its_field_path() {
    let bad = json!({
        "code": "abc", "body": 7, "rating": 9, "launch": "2026-02-30", "at": "yesterday",
        "featured": "yes", "tone": "hot", "markets": ["GB", "GB", "XX"], "hero": "/local.png",
        "brochure": {"name": "b.pdf"}, "link": "ftp://x", "contact": "nobody", "extra": 1,
    });
    assert_eq!(
        report(&article(), bad),
        pairs(&[
            ("fields.headline", "is required"),
            ("fields.code", "does not match the required pattern"),
            ("fields.body", "must be text"),
            ("fields.rating", "must be at most 5"),
            ("fields.launch", "must be a date (YYYY-MM-DD)"),
            (
                "fields.at",
                "must be a date and time (RFC 3339, with offset)"
            ),
            ("fields.featured", "must be true or false"),
            ("fields.tone", "is not one of the options"),
            ("fields.markets[1]", "is chosen twice"),
            ("fields.markets[2]", "is not one of the options"),
            ("fields.markets", "must choose at most 2"),
            (
                "fields.hero",
                "must be an http(s) URL or an object with one as `url`"
            ),
            (
                "fields.brochure",
                "must be an http(s) URL or an object with one as `url`"
            ),
            ("fields.link", "must be an http(s) URL"),
            ("fields.contact", "must be an email address"),
            ("fields.extra", "not a field of this template"),
        ])
    );
}

#[test]
fn text_bounds_count_characters_and_multiselect_bounds_count_choices() {
    let t = article();
    assert_eq!(
        report(&t, json!({"headline": "\u{e9}\u{e9}", "markets": []})),
        pairs(&[
            ("fields.headline", "must be at least 3 characters long"),
            ("fields.markets", "must choose at least 1"),
        ])
    );
    assert_eq!(
        report(&t, json!({"headline": "\u{e9}\u{e9}\u{e9}"})),
        vec![]
    );
    assert_eq!(
        report(&t, json!({"headline": "x".repeat(21), "rating": 0})),
        pairs(&[
            ("fields.headline", "must be at most 20 characters long"),
            ("fields.rating", "must be at least 1"),
        ])
    );
}

#[test]
fn required_means_present_not_null_and_not_blank() {
    let t = article();
    for blank in [json!(null), json!(""), json!("   ")] {
        let got = report(&t, json!({ "headline": blank }));
        assert!(
            got.contains(&("fields.headline".into(), "is required".into())),
            "{got:?}"
        );
    }
    let t = template(
        vec![TemplateField {
            required: true,
            ..with(field("tags", FieldType::MultiSelect), opts(&[json!("a")]))
        }],
        vec![],
    );
    assert_eq!(
        report(&t, json!({"tags": []})),
        pairs(&[("fields.tags", "is required")])
    );
}

#[test]
fn a_pattern_must_match_the_whole_text() {
    let t = article();
    assert_eq!(
        report(&t, json!({"headline": "Fine", "code": "xABC-1x"})),
        pairs(&[("fields.code", "does not match the required pattern")])
    );
}

#[test]
fn ordered_rule_reports_the_lower_field_when_out_of_order() {
    let t = article();
    assert_eq!(
        report(
            &t,
            json!({"headline": "Fine", "launch": "2026-04-01", "ends": "2026-03-01"})
        ),
        pairs(&[("fields.launch", "must not be greater than fields.ends")])
    );
    // Only one side given: nothing to compare.
    assert_eq!(
        report(&t, json!({"headline": "Fine", "launch": "2026-04-01"})),
        vec![]
    );
}

fn conditional() -> Template {
    let shows = |field: &str, op, value| Condition {
        field: field.into(),
        operator: op,
        value,
    };
    template(
        vec![
            with(
                field("kind", FieldType::Select),
                opts(&[json!("video"), json!("text")]),
            ),
            TemplateField {
                required: true,
                conditional: Some(shows("kind", ConditionOperator::Equals, json!("video"))),
                ..field("video_url", FieldType::Url)
            },
            TemplateField {
                required: true,
                conditional: Some(shows("video_url", ConditionOperator::IsSet, Value::Null)),
                ..field("caption", FieldType::Text)
            },
        ],
        vec![],
    )
}

#[test]
fn a_hidden_field_is_not_required_and_must_be_left_out() {
    let t = conditional();
    assert_eq!(report(&t, json!({"kind": "text"})), vec![]);
    assert_eq!(report(&t, json!({})), vec![]);
    assert_eq!(
        report(
            &t,
            json!({"kind": "text", "video_url": "https://v.example.com/1"})
        ),
        pairs(&[(
            "fields.video_url",
            "is hidden by its condition and must be left out"
        )])
    );
    // null counts as left out.
    assert_eq!(
        report(&t, json!({"kind": "text", "video_url": null})),
        vec![]
    );
}

#[test]
fn a_visible_conditional_field_is_required_and_hides_its_own_dependents_when_hidden() {
    let t = conditional();
    assert_eq!(
        report(&t, json!({"kind": "video"})),
        pairs(&[("fields.video_url", "is required")])
    );
    assert_eq!(
        report(
            &t,
            json!({"kind": "video", "video_url": "https://v.example.com/1"})
        ),
        pairs(&[("fields.caption", "is required")])
    );
    // caption depends on video_url, which is hidden: caption is hidden too, even though the stale
    // video_url value would satisfy is_set.
    assert_eq!(
        report(
            &t,
            json!({"kind": "text", "video_url": "https://v.example.com/1", "caption": "c"})
        ),
        pairs(&[
            (
                "fields.caption",
                "is hidden by its condition and must be left out"
            ),
            (
                "fields.video_url",
                "is hidden by its condition and must be left out"
            ),
        ])
    );
}

#[test]
fn condition_operators_hold_as_documented() {
    let c = |op, value| Condition {
        field: "f".into(),
        operator: op,
        value,
    };
    use ConditionOperator::*;
    let a = json!("a");
    assert!(c(Equals, json!("a")).holds(Some(&a)));
    assert!(!c(Equals, json!("a")).holds(None));
    assert!(c(NotEquals, json!("a")).holds(None));
    assert!(c(In, json!(["a", "b"])).holds(Some(&a)));
    assert!(!c(In, json!(["b"])).holds(Some(&a)));
    assert!(c(NotIn, json!(["b"])).holds(None));
    assert!(c(Contains, json!("b")).holds(Some(&json!(["a", "b"]))));
    assert!(c(Contains, json!("ell")).holds(Some(&json!("hello"))));
    assert!(!c(Contains, json!(1)).holds(Some(&json!("1"))));
    assert!(c(IsSet, Value::Null).holds(Some(&a)) && !c(IsSet, Value::Null).holds(None));
    assert!(c(IsNotSet, Value::Null).holds(None));
}

#[test]
fn template_wide_rules_report_each_field_concerned() {
    let t = template(
        vec![
            field("email", FieldType::Email),
            field("phone", FieldType::Text),
            field("street", FieldType::Text),
            field("city", FieldType::Text),
        ],
        vec![
            ValidationRule::AtLeastOne {
                fields: vec!["email".into(), "phone".into()],
                message: Some("give a way to reach you".into()),
            },
            ValidationRule::AllOrNone {
                fields: vec!["street".into(), "city".into()],
                message: None,
            },
        ],
    );
    assert_eq!(
        report(&t, json!({"street": "1 Main St"})),
        pairs(&[
            ("fields.email", "give a way to reach you"),
            (
                "fields.city",
                "give all of fields.street, fields.city or none"
            ),
        ])
    );
    assert_eq!(
        report(&t, json!({"phone": "1", "street": "x", "city": "y"})),
        vec![]
    );
}

#[test]
fn defaults_fill_visible_fields_level_by_level_and_never_hidden_ones() {
    let cond = |field: &str, op, value| {
        Some(Condition {
            field: field.into(),
            operator: op,
            value,
        })
    };
    let t = template(
        vec![
            TemplateField {
                default_value: Some(json!("video")),
                ..with(
                    field("kind", FieldType::Select),
                    opts(&[json!("video"), json!("text")]),
                )
            },
            // Shown while kind is unset; kind's default hides it, so it gets no default.
            TemplateField {
                default_value: Some(json!("Describe it")),
                conditional: cond("kind", ConditionOperator::IsNotSet, Value::Null),
                ..field("summary", FieldType::Text)
            },
            TemplateField {
                required: true,
                default_value: Some(json!(true)),
                conditional: cond("kind", ConditionOperator::Equals, json!("video")),
                ..field("autoplay", FieldType::Boolean)
            },
            TemplateField {
                default_value: Some(json!(3)),
                ..field("rating", FieldType::Number)
            },
        ],
        vec![],
    );
    let mut values = obj(json!({"rating": 5, "summary": null}));
    t.apply_defaults(&mut values);
    assert_eq!(
        Value::Object(values.clone()),
        json!({"kind": "video", "autoplay": true, "rating": 5, "summary": null})
    );
    assert_eq!(t.validate(&values), Ok(()));
    // Given values win; a hidden field gets nothing.
    let mut values = obj(json!({"kind": "text"}));
    t.apply_defaults(&mut values);
    assert_eq!(Value::Object(values), json!({"kind": "text", "rating": 3}));
}

// ---- stored templates ----------------------------------------------------------------------

#[test]
fn a_cycle_in_a_stored_template_does_not_hang_validation() {
    let on = |f: &str| {
        Some(Condition {
            field: f.into(),
            operator: ConditionOperator::IsSet,
            value: Value::Null,
        })
    };
    let t = template(
        vec![
            TemplateField {
                required: true,
                conditional: on("b"),
                ..field("a", FieldType::Text)
            },
            TemplateField {
                conditional: on("a"),
                ..field("b", FieldType::Text)
            },
        ],
        vec![],
    );
    assert_eq!(report(&t, json!({})), pairs(&[("fields.a", "is required")]));
}

#[test]
fn stored_json_uses_the_specs_camel_case_names() {
    let f = TemplateField {
        default_value: Some(json!("x")),
        help_text: Some("h".into()),
        ai_enabled: true,
        ..field("headline", FieldType::RichText)
    };
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v["type"], "rich_text");
    assert_eq!(v["defaultValue"], "x");
    assert_eq!(v["helpText"], "h");
    assert_eq!(v["aiEnabled"], true);
    let rule = serde_json::to_value(ValidationRule::AtLeastOne {
        fields: vec!["a".into(), "b".into()],
        message: None,
    })
    .unwrap();
    assert_eq!(rule, json!({"rule": "at_least_one", "fields": ["a", "b"]}));
}

// ---- properties -----------------------------------------------------------------------------

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2026-01-31")),
        Just(json!("https://example.com/x")),
        Just(json!("warm")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_field_type() -> impl Strategy<Value = FieldType> {
    prop::sample::select(FieldType::ALL.to_vec())
}

fn any_condition() -> impl Strategy<Value = Option<Condition>> {
    prop::option::of(
        (
            "[a-z]{1,3}",
            prop::sample::select(ConditionOperator::ALL.to_vec()),
            any_json(),
        )
            .prop_map(|(field, operator, value)| Condition {
                field,
                operator,
                value,
            }),
    )
}

prop_compose! {
    fn any_field()(
        name in "[a-zA-Z_ ]{0,4}",
        ty in any_field_type(),
        required: bool,
        default in prop::option::of(any_json()),
        min in prop::option::of(-3.0f64..30.0),
        max in prop::option::of(-3.0f64..30.0),
        pattern in prop::option::of(prop_oneof![Just("[a-z]+".to_owned()), Just("(".to_owned()), ".{0,4}"]),
        options in prop::option::of(prop::collection::vec(any_json(), 0..4)),
        conditional in any_condition(),
        order: i32,
    ) -> TemplateField {
        TemplateField {
            required,
            default_value: default,
            validation: Some(FieldValidation { min, max, pattern, options }),
            conditional,
            order,
            ..TemplateField::new(name.clone(), name, ty)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validate_never_panics_on_any_template_and_any_json(
        fields in prop::collection::vec(any_field(), 0..6),
        values in prop::collection::btree_map("[a-z]{1,3}", any_json(), 0..6),
    ) {
        let t = template(fields, vec![]);
        let values: Map<String, Value> = values.into_iter().collect();
        let mut with_defaults = values.clone();
        t.apply_defaults(&mut with_defaults);
        prop_assert!(values.iter().all(|(k, v)| with_defaults.get(k) == Some(v)), "defaults never overwrite");
        match t.validate(&values) {
            Ok(()) => prop_assert!(values.keys().all(|k| t.fields.iter().any(|f| &f.name == k))),
            Err(report) => {
                prop_assert!(!report.is_empty());
                for e in report.errors() {
                    // Every path names a key of the content or a field of the template.
                    let name = e.field.strip_prefix("fields.").expect("fields. prefix");
                    let name = name.split('[').next().unwrap_or(name);
                    prop_assert!(
                        values.contains_key(name) || t.fields.iter().any(|f| f.name == name),
                        "{} names nothing", e.field
                    );
                }
                for k in values.keys().filter(|k| !t.fields.iter().any(|f| &f.name == *k)) {
                    let unknown = report.errors().iter().filter(|e| e.field == format!("fields.{k}")).count();
                    prop_assert_eq!(unknown, 1, "unknown key {} reported once", k);
                }
            }
        }
    }

    #[test]
    fn the_builder_builds_or_reports_without_panicking(
        name in ".{0,5}",
        fields in prop::collection::vec(any_field(), 0..5),
    ) {
        let mut b = NewTemplate::builder().name(name);
        for f in fields {
            b = b.field(f);
        }
        match b.build() {
            Ok(t) => {
                // What builds is coherent: its own fields validate content without panicking.
                let tmpl = template(t.fields().to_vec(), t.values.validation_rules.clone().unwrap_or_default());
                let _ = tmpl.validate(&Map::new());
            }
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
