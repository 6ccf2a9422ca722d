//! Builder tests (no database); the repository is tested in tests/it/ai.rs.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn fields(err: &ValidationErrors) -> Vec<&str> {
    err.errors().iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn a_request_builds_with_its_parameters_and_context() {
    let content = ContentId::new();
    let new = NewAiGeneration::builder()
        .generation_type(AiGenerationType::AltText)
        .model("gpt-4o")
        .prompt("Describe the image")
        .parameter("temperature", json!(0.2))
        .content(content)
        .metadata("source", json!("editor"))
        .build()
        .unwrap();
    assert_eq!(new.parameters["temperature"], json!(0.2));
    assert_eq!(new.content_id, Some(content));
    assert_eq!(new.template_id, None);
}

#[test]
fn every_problem_of_a_request_is_reported_at_once() {
    let err = NewAiGeneration::builder()
        .model("m".repeat(101))
        .prompt(" ")
        .parameter("stop", json!(["ok", "bad\u{0}"]))
        .metadata("k\u{0}", json!({"inner": "x\u{0}"}))
        .build()
        .unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "type",
            "model",
            "prompt",
            "parameters.stop[1]",
            "metadata.k\\0",
            "metadata.k\\0.inner"
        ],
        "{err}"
    );
}

#[test]
fn a_completion_needs_an_output_and_values_that_fit_the_columns() {
    let err = Completion::builder()
        .tokens_used(u32::MAX)
        .latency(Duration::from_secs(30 * 24 * 3600))
        .build()
        .unwrap_err();
    assert_eq!(fields(&err), ["output", "tokens_used", "latency"], "{err}");
    let done = Completion::builder()
        .output("")
        .tokens_used(12)
        .latency(Duration::from_micros(1_500_999))
        .cost(Cost::parse("0.0012").unwrap())
        .build()
        .unwrap();
    assert_eq!((done.tokens_used, done.latency_ms), (12, 1500));
    assert!(Completion::builder().output("a\0").build().is_err());
}

#[test]
fn enums_use_the_check_constraints_codes() {
    assert_eq!(AiGenerationType::ALL.len(), 7);
    assert_eq!(
        AiGenerationType::TitleSuggestion.as_str(),
        "title_suggestion"
    );
    assert_eq!(
        "failed".parse::<AiGenerationStatus>().unwrap(),
        AiGenerationStatus::Failed
    );
    assert!("done".parse::<AiGenerationStatus>().is_err());
}

#[test]
fn monthly_usage_counts_pending_as_the_rest() {
    let u = MonthlyUsage {
        month: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        generations: 5,
        completed: 2,
        failed: 1,
        tokens_used: 0,
        cost: Cost::ZERO,
    };
    assert_eq!(u.pending(), 2);
}

proptest! {
    #[test]
    fn any_request_builds_or_is_refused_without_panicking(
        model in ".{0,110}",
        prompt in ".{0,20}",
        params in proptest::collection::btree_map(".{0,4}", ".{0,6}", 0..4),
    ) {
        let mut b = NewAiGeneration::builder()
            .generation_type(AiGenerationType::Transcreation)
            .model(model)
            .prompt(prompt);
        for (k, v) in params { b = b.parameter(k, Value::String(v)); }
        match b.build() {
            Ok(new) => prop_assert!(!new.model.trim().is_empty() && new.model.chars().count() <= 100),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn any_completion_builds_or_is_refused_without_panicking(
        output in proptest::option::of(".{0,10}"),
        tokens: u32,
        millis in 0u64..5_000_000_000,
    ) {
        let mut b = Completion::builder().tokens_used(tokens).latency(Duration::from_millis(millis));
        if let Some(o) = output { b = b.output(o); }
        match b.build() {
            Ok(done) => prop_assert!(done.tokens_used >= 0 && done.latency_ms >= 0),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
