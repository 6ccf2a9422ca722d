//! What a caller hands in: the raw input of a generation, the builders of the recorded request and
//! of its completion over it, the one parse, and the list filter.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cost::Cost;
use super::model::{AiGenerationStatus, AiGenerationType};
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::types::{ContentId, TemplateId, UserId, no_nul, non_blank};

/// A validated new generation request; build one with [`NewAiGeneration::builder`] and record it
/// with [`AiGenerationRepo::create`](super::AiGenerationRepo::create).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAiGeneration {
    pub(crate) values: AiGenerationValues,
}

impl NewAiGeneration {
    /// Starts a builder; [`NewAiGenerationBuilder::build`] reports every problem at once.
    pub fn builder() -> NewAiGenerationBuilder {
        NewAiGenerationBuilder::default()
    }
}

/// The validated outcome of a successful generation: the one change a recorded generation takes.
/// Build one with [`Completion::builder`]; record it with
/// [`AiGenerationRepo::complete`](super::AiGenerationRepo::complete).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub(crate) values: AiGenerationValues,
}

impl Completion {
    /// Starts a builder; [`CompletionBuilder::build`] reports every problem at once.
    pub fn builder() -> CompletionBuilder {
        CompletionBuilder::default()
    }
}

/// Raw input for a [`NewAiGeneration`]: the request as sent. Type, model and prompt are required;
/// the outcome fields are refused (they come with the [`Completion`]). Deserialises from the JSON of
/// an [`AiGenerationInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewAiGenerationBuilder(AiGenerationInput);

/// Raw input for a [`Completion`]: the outcome. The output is required; the request fields are
/// refused (a recorded request does not change). Deserialises from the JSON of an
/// [`AiGenerationInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompletionBuilder(AiGenerationInput);

input! {
    /// The raw input of a generation, shared by [`NewAiGenerationBuilder`] (the request) and
    /// [`CompletionBuilder`] (its outcome): every field optional, as a request carries it.
    pub struct AiGenerationInput;
    builders NewAiGenerationBuilder, CompletionBuilder;
    values AiGenerationValues, columns ai_generation_input_columns;
    fields {
        /// What the request is for (required when recording).
        generation_type "type" json "type": value AiGenerationType => AiGenerationType, generation_type maybe_generation_type;
        /// The model asked (required when recording, not blank, at most 100 characters).
        model "model": value String => String, model maybe_model;
        /// The prompt sent (required when recording, not blank).
        prompt "prompt": value String => String, prompt maybe_prompt;
        /// Request parameters (temperature, ...), replaced whole (default: none).
        parameters "parameters": value Map<String, Value> => Map<String, Value>, parameters maybe_parameters;
        /// The content item the request is for; must be of the scope's brand.
        content_id "content_id": value ContentId => ContentId, content_id maybe_content_id;
        /// The template the request follows; must be visible in the scope's brand.
        template_id "template_id": value TemplateId => TemplateId, template_id maybe_template_id;
        /// Anything else the host records, replaced whole (default: none).
        metadata "metadata": value Map<String, Value> => Map<String, Value>, metadata maybe_metadata;
        /// What the model returned (required by a completion; may be empty).
        output "output": value String => String, output maybe_output;
        /// Tokens used (default 0; at most 2 147 483 647, the column's range).
        tokens_used "tokens_used": value i64 => i32, tokens_used maybe_tokens_used;
        /// How long the request took, in whole milliseconds (default 0; at most 2 147 483 647,
        /// about 24.8 days).
        latency_ms "latency_ms": value i64 => i32, latency_ms maybe_latency_ms;
        /// What it cost, when known.
        cost "cost": value Cost => Cost, cost maybe_cost;
    }
}

impl NewAiGenerationBuilder {
    /// Sets one request parameter, keeping the others set so far.
    pub fn parameter(mut self, name: impl Into<String>, value: Value) -> Self {
        self.0
            .parameters
            .get_or_insert_with(Map::new)
            .insert(name.into(), value);
        self
    }

    /// Sets one metadata entry, keeping the others set so far.
    pub fn metadata_entry(mut self, name: impl Into<String>, value: Value) -> Self {
        self.0
            .metadata
            .get_or_insert_with(Map::new)
            .insert(name.into(), value);
        self
    }

    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewAiGeneration, ValidationErrors> {
        Ok(NewAiGeneration {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

impl CompletionBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<Completion, ValidationErrors> {
        Ok(Completion {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a generation input: `Create` is the recorded request (required fields,
/// defaults, no outcome), `Patch` its completion (the outcome, with its output; no request field).
fn parse(input: &AiGenerationInput, mode: Mode) -> Result<AiGenerationValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let mut values = AiGenerationValues::default();
    let request = [
        ("type", input.generation_type.is_some()),
        ("model", input.model.is_some()),
        ("prompt", input.prompt.is_some()),
        ("parameters", input.parameters.is_some()),
        ("content_id", input.content_id.is_some()),
        ("template_id", input.template_id.is_some()),
        ("metadata", input.metadata.is_some()),
    ];
    let outcome = [
        ("output", input.output.is_some()),
        ("tokens_used", input.tokens_used.is_some()),
        ("latency_ms", input.latency_ms.is_some()),
        ("cost", input.cost.is_some()),
    ];
    match mode {
        Mode::Create => {
            values.generation_type =
                p.required("type", &input.generation_type, |t| Ok::<_, &str>(*t));
            values.model = p.required("model", &input.model, |m| owned(non_blank(m, 100)));
            values.prompt =
                p.required("prompt", &input.prompt, |m| owned(non_blank(m, usize::MAX)));
            values.parameters = Some(json_object(&mut p, "parameters", &input.parameters));
            values.content_id = input.content_id;
            values.template_id = input.template_id;
            values.metadata = Some(json_object(&mut p, "metadata", &input.metadata));
            for (field, _) in outcome.iter().filter(|(_, set)| *set) {
                p.push(*field, "is part of the outcome, recorded by complete");
            }
            // Written, not left out: a key absent from the record would insert NULL, not the
            // column's default.
            values.tokens_used = Some(0);
            values.latency_ms = Some(0);
        }
        Mode::Patch => {
            for (field, _) in request.iter().filter(|(_, set)| *set) {
                p.push(*field, "is part of the request, fixed once it is recorded");
            }
            values.output = match &input.output {
                Some(o) => p.errors.check("output", owned(no_nul(o))),
                None => {
                    p.push("output", "is required");
                    None
                }
            };
            values.tokens_used = input
                .tokens_used
                .and_then(|n| p.errors.check("tokens_used", column_int(n)));
            values.latency_ms = input
                .latency_ms
                .and_then(|n| p.errors.check("latency_ms", column_int(n)));
            values.cost = input.cost;
        }
    }
    p.finish(values)
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

/// A count that fits an `INTEGER` column with a `>= 0` CHECK.
fn column_int(n: i64) -> Result<i32, &'static str> {
    if n < 0 {
        return Err("must not be negative");
    }
    i32::try_from(n).map_err(|_| "is too large (at most 2147483647)")
}

/// A JSON object of the request (empty when unset), with every NUL character in it refused.
fn json_object(
    p: &mut Parser,
    path: &str,
    object: &Option<Map<String, Value>>,
) -> Map<String, Value> {
    let object = object.clone().unwrap_or_default();
    check_json(&mut p.errors, path, &object);
    object
}

/// Refuses NUL characters anywhere in a JSON object (keys and strings): PostgreSQL's `jsonb` cannot
/// hold them. Each problem is reported at its path, e.g. `parameters.stop[1]`.
fn check_json(errors: &mut ValidationErrors, path: &str, object: &Map<String, Value>) {
    fn walk(errors: &mut ValidationErrors, path: &str, value: &Value) {
        match value {
            Value::String(s) if s.contains('\0') => {
                errors.push(path, "must not contain NUL characters")
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(errors, &format!("{path}[{i}]"), item);
                }
            }
            Value::Object(map) => members(errors, path, map),
            _ => {}
        }
    }
    fn members(errors: &mut ValidationErrors, path: &str, map: &Map<String, Value>) {
        for (key, item) in map {
            let child = format!("{path}.{}", key.replace('\0', "\\0"));
            if key.contains('\0') {
                errors.push(child.clone(), "key must not contain NUL characters");
            }
            walk(errors, &child, item);
        }
    }
    members(errors, path, object);
}

/// Which of the brand's generations [`AiGenerationRepo::list`](super::AiGenerationRepo::list)
/// returns: every set condition must hold. Deserialises from a request's query or body. There is no
/// `deleted`: generations are never soft-deleted (see the [module docs](super)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiGenerationFilter {
    /// Only those requested by this user (in the scope's brand).
    pub user_id: Option<UserId>,
    /// Only those of this type.
    #[serde(rename = "type")]
    pub generation_type: Option<AiGenerationType>,
    /// Only those with this status.
    pub status: Option<AiGenerationStatus>,
}

#[cfg(test)]
mod tests {
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
            .content_id(content)
            .metadata_entry("source", json!("editor"))
            .build()
            .unwrap();
        assert_eq!(
            new.values.parameters.as_ref().unwrap()["temperature"],
            json!(0.2)
        );
        assert_eq!(new.values.content_id, Some(content));
        assert_eq!(new.values.template_id, None);
        // The record written: every request column, the outcome counters at zero, nothing else.
        let record = serde_json::to_value(&new.values).unwrap();
        let mut keys: Vec<_> = record.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "content_id",
                "latency_ms",
                "metadata",
                "model",
                "parameters",
                "prompt",
                "tokens_used",
                "type"
            ]
        );
        assert_eq!(
            (&record["tokens_used"], &record["latency_ms"]),
            (&json!(0), &json!(0))
        );
    }

    #[test]
    fn every_problem_of_a_request_is_reported_at_once() {
        let err = NewAiGeneration::builder()
            .model("m".repeat(101))
            .prompt(" ")
            .parameter("stop", json!(["ok", "bad\u{0}"]))
            .metadata_entry("k\u{0}", json!({"inner": "x\u{0}"}))
            .output("early")
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
                "metadata.k\\0.inner",
                "output",
            ],
            "{err}"
        );
    }

    #[test]
    fn a_completion_needs_an_output_values_that_fit_the_columns_and_no_request_field() {
        let err = Completion::builder()
            .tokens_used(u32::MAX)
            .latency_ms(-1)
            .prompt("changed")
            .build()
            .unwrap_err();
        assert_eq!(
            fields(&err),
            ["prompt", "output", "tokens_used", "latency_ms"],
            "{err}"
        );
        let done = Completion::builder()
            .output("")
            .tokens_used(12)
            .latency_ms(1500)
            .cost(Cost::parse("0.0012").unwrap())
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&done.values).unwrap(),
            json!({"output": "", "tokens_used": 12, "latency_ms": 1500, "cost": "0.0012"})
        );
        assert!(Completion::builder().output("a\0").build().is_err());
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let template = TemplateId::new();
        let json = format!(
            r#"{{"type": "alt_text", "model": "gpt-4o", "prompt": "Describe",
                "parameters": {{"temperature": 0.5}}, "template_id": "{template}",
                "metadata": {{"request_id": "r-1"}}}}"#
        );
        let from_json: NewAiGenerationBuilder = serde_json::from_str(&json).unwrap();
        let by_setters = NewAiGeneration::builder()
            .generation_type(AiGenerationType::AltText)
            .model("gpt-4o")
            .prompt("Describe")
            .parameter("temperature", json!(0.5))
            .template_id(template)
            .metadata_entry("request_id", json!("r-1"));
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let done: CompletionBuilder = serde_json::from_str(
            r#"{"output": "Done", "tokens_used": 7, "latency_ms": 30, "cost": "0.5"}"#,
        )
        .unwrap();
        assert_eq!(
            done.build().unwrap(),
            Completion::builder()
                .output("Done")
                .tokens_used(7)
                .latency_ms(30)
                .cost(Cost::parse("0.5").unwrap())
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<CompletionBuilder>(r#"{"ouput": "typo"}"#).is_err());
        let filter: AiGenerationFilter =
            serde_json::from_str(r#"{"type": "transcreation", "status": "failed"}"#).unwrap();
        assert_eq!(
            filter,
            AiGenerationFilter {
                generation_type: Some(AiGenerationType::Transcreation),
                status: Some(AiGenerationStatus::Failed),
                ..Default::default()
            }
        );
        assert!(serde_json::from_str::<AiGenerationFilter>(r#"{"deleted": "include"}"#).is_err());
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
                Ok(new) => {
                    let model = new.values.model.unwrap();
                    prop_assert!(!model.trim().is_empty() && model.chars().count() <= 100);
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }

        #[test]
        fn any_completion_builds_or_is_refused_without_panicking(
            output in proptest::option::of(".{0,10}"),
            tokens: i64,
            millis in -10i64..5_000_000_000,
        ) {
            let b = Completion::builder().maybe_output(output).tokens_used(tokens).latency_ms(millis);
            match b.build() {
                Ok(done) => prop_assert!(
                    done.values.tokens_used.unwrap() >= 0 && done.values.latency_ms.unwrap() >= 0
                ),
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
