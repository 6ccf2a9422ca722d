//! What a caller hands in: the raw input of an event, its builder, the one parse, the expected version
//! of an append, and the feed filter.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::EventCategory;
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::types::{BrandId, EventId, non_blank};

/// The longest aggregate or event type, in characters (the columns' `VARCHAR(100)`).
pub const MAX_TYPE_CHARS: usize = 100;

/// A validated new event; build one with [`NewEvent::builder`] and append it with
/// [`EventRepo::append`](super::EventRepo::append).
///
/// Its id is fixed when it is built (a new random one unless [`NewEventBuilder::id`] sets it), so
/// appending the same `NewEvent` again, after an error that left the outcome unknown, is a no-op
/// that returns the original.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub(crate) values: EventValues,
}

impl NewEvent {
    /// Starts a builder; [`NewEventBuilder::build`] reports every problem at once.
    pub fn builder() -> NewEventBuilder {
        NewEventBuilder::default()
    }

    /// The event's id.
    pub fn id(&self) -> EventId {
        self.values.id.expect("a built event has an id")
    }

    /// The event's type.
    pub fn event_type(&self) -> &str {
        self.values.event_type.as_deref().unwrap_or_default()
    }
}

/// Raw input for a [`NewEvent`]. Nothing is checked until [`build`](Self::build). Deserialises from
/// the JSON of an [`EventInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewEventBuilder(EventInput);

input! {
    /// The raw input of an event: every field optional, as a request carries it. Events are only ever
    /// appended, so it has one builder, [`NewEventBuilder`].
    pub struct EventInput;
    builders NewEventBuilder;
    values EventValues, columns event_input_columns;
    fields {
        /// The event's id, the key of idempotent appends (default: a new random id, fixed by `build`).
        id "id": value EventId => EventId, id maybe_id;
        /// What happened, e.g. `ContentApproved` (required, not blank, at most 100 characters).
        event_type "event_type": value String => String, event_type maybe_event_type;
        /// The version of this event type's payload shape (default 1; at least 1).
        schema_version "schema_version": value i32 => i32, schema_version maybe_schema_version;
        /// What the event says: any JSON but `null` (required).
        payload "payload": value Value => Value, payload maybe_payload;
        /// Anything else to record with it, e.g. the client or the request (default: none).
        metadata "metadata": value Map<String, Value> => Map<String, Value>, metadata maybe_metadata;
        /// Retention class (default `audit`); `security` is refused: those events come from the audit
        /// trail alone.
        category "category": value EventCategory => EventCategory, category maybe_category;
        /// The request or process the event is part of.
        correlation_id "correlation_id": nullable Uuid => Uuid, correlation_id maybe_correlation_id clear_correlation_id;
        /// The event or command that caused it.
        causation_id "causation_id": nullable Uuid => Uuid, causation_id maybe_causation_id clear_causation_id;
    }
}

impl NewEventBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewEvent, ValidationErrors> {
        Ok(NewEvent {
            values: parse(&self.0, Mode::Create)?,
        })
    }
}

/// The one parse of an event input. Events are never patched, so it only ever runs for a create.
fn parse(input: &EventInput, mode: Mode) -> Result<EventValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let id = p.defaulted("id", &input.id, EventId::new, |id| Ok::<_, &str>(*id));
    let event_type = p.required("event_type", &input.event_type, |t| {
        non_blank(t, MAX_TYPE_CHARS).map(str::to_owned)
    });
    let schema_version = p.defaulted(
        "schema_version",
        &input.schema_version,
        || 1,
        |v| {
            if *v >= 1 {
                Ok(*v)
            } else {
                Err("must be at least 1")
            }
        },
    );
    let payload = p.required("payload", &input.payload, |v| {
        if v.is_null() {
            Err("must not be null")
        } else {
            storable(v).map(|()| v.clone())
        }
    });
    let metadata = p.defaulted("metadata", &input.metadata, Map::new, |m| {
        storable(m).map(|()| m.clone())
    });
    let category = p.defaulted(
        "category",
        &input.category,
        || EventCategory::Audit,
        |c| match c {
            EventCategory::Security => Err("security events come from the audit trail only"),
            other => Ok(*other),
        },
    );
    let correlation_id = p.nullable("correlation_id", &input.correlation_id, |id| {
        Ok::<_, &str>(*id)
    });
    let causation_id = p.nullable("causation_id", &input.causation_id, |id| Ok::<_, &str>(*id));
    p.finish(EventValues {
        id,
        event_type,
        schema_version,
        payload,
        metadata,
        category,
        correlation_id,
        causation_id,
    })
}

/// Refuses JSON that PostgreSQL's `jsonb` cannot store: a NUL character in any string or key.
fn storable(value: &impl Serialize) -> Result<(), &'static str> {
    if serde_json::to_string(value).is_ok_and(|s| s.contains("\\u0000")) {
        Err("contains a NUL character")
    } else {
        Ok(())
    }
}

/// What an append expects of its stream (EventStoreDB's modes). A stream's version is the number of
/// events in it: 0 before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedVersion {
    /// Whatever the stream holds, also nothing: concurrent appends queue on the stream and each gets
    /// the next versions.
    Any,
    /// The stream has no event yet. Otherwise [`Error::Stale`](crate::Error::Stale) (expected 0).
    NoStream,
    /// The stream has at least one event. Otherwise [`Error::NotFound`](crate::Error::NotFound).
    StreamExists,
    /// The stream is at exactly this version (`Exact(0)` is [`ExpectedVersion::NoStream`]): the
    /// optimistic-concurrency check of an event-sourced aggregate. Otherwise
    /// [`Error::Stale`](crate::Error::Stale) with the expected and the actual version.
    Exact(i32),
}

impl ExpectedVersion {
    /// The version `append_events` is given: NULL any, -1 exists, 0 none, n exactly n.
    pub(crate) fn sql(self) -> Result<Option<i32>, ValidationErrors> {
        match self {
            ExpectedVersion::Any => Ok(None),
            ExpectedVersion::StreamExists => Ok(Some(-1)),
            ExpectedVersion::NoStream => Ok(Some(0)),
            ExpectedVersion::Exact(n) if n >= 0 => Ok(Some(n)),
            ExpectedVersion::Exact(_) => Err(ValidationErrors::single(
                "expected_version",
                "must not be negative",
            )),
        }
    }
}

/// Which events a read of the feed (or a subscription) returns: every set condition must hold; an
/// empty list means any. A tenant scope adds its own brand (and leaves out security events for
/// anyone but an admin) whatever the filter says. Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedFilter {
    /// Only this brand's events (for system readers; a tenant reader is held to its brand anyway).
    pub brand_id: Option<BrandId>,
    /// Only streams of these aggregate types, e.g. `content`.
    pub aggregate_types: Vec<String>,
    /// Only events of these types.
    pub event_types: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_new_event_has_an_id_a_first_schema_version_and_the_audit_category() {
        let event = NewEvent::builder()
            .event_type("ContentApproved")
            .payload(json!({"by": "ada"}))
            .build()
            .unwrap();
        assert_eq!(event.event_type(), "ContentApproved");
        assert_eq!(event.values.schema_version, Some(1));
        assert_eq!(event.values.category, Some(EventCategory::Audit));
        assert_eq!(event.values.metadata, Some(Map::new()));
        let again = NewEvent::builder()
            .id(event.id())
            .event_type("ContentApproved")
            .payload(json!({"by": "ada"}))
            .build()
            .unwrap();
        assert_eq!(again, event, "the same id, the same event");
        // Every column the append reads, keyed as the events table names them.
        let json = serde_json::to_value(&event.values).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "category",
                "causation_id",
                "correlation_id",
                "event_type",
                "id",
                "metadata",
                "payload",
                "schema_version"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = NewEvent::builder()
            .event_type(" ")
            .schema_version(0)
            .payload(Value::Null)
            .category(EventCategory::Security)
            .metadata(Map::from_iter([("k".to_owned(), json!("a\u{0}b"))]))
            .build()
            .unwrap_err();
        for field in [
            "event_type",
            "schema_version",
            "payload",
            "category",
            "metadata",
        ] {
            assert!(err.get(field).is_some(), "{field}: {err}");
        }
        let err = NewEvent::builder().build().unwrap_err();
        assert_eq!(err.get("event_type").unwrap().reason, "is required");
        assert_eq!(err.get("payload").unwrap().reason, "is required");
    }

    #[test]
    fn a_builder_deserialises_from_json_and_refuses_unknown_fields() {
        let builder: NewEventBuilder = serde_json::from_value(json!({
            "event_type": "Noted", "payload": [1, 2], "category": "analytics",
            "correlation_id": Uuid::nil(),
        }))
        .unwrap();
        let event = builder.build().unwrap();
        assert_eq!(event.values.category, Some(EventCategory::Analytics));
        assert_eq!(event.values.correlation_id, Some(Some(Uuid::nil())));
        assert!(
            serde_json::from_value::<NewEventBuilder>(json!({"event_tpye": "x"})).is_err(),
            "a typo is refused"
        );
    }

    #[test]
    fn expected_versions_map_to_the_functions_convention() {
        assert_eq!(ExpectedVersion::Any.sql().unwrap(), None);
        assert_eq!(ExpectedVersion::StreamExists.sql().unwrap(), Some(-1));
        assert_eq!(ExpectedVersion::NoStream.sql().unwrap(), Some(0));
        assert_eq!(ExpectedVersion::Exact(0).sql().unwrap(), Some(0));
        assert_eq!(ExpectedVersion::Exact(7).sql().unwrap(), Some(7));
        let err = ExpectedVersion::Exact(-1).sql().unwrap_err();
        assert!(err.get("expected_version").is_some());
    }

    proptest! {
        #[test]
        fn any_event_type_is_built_or_refused_under_its_field(t in ".{0,120}") {
            match NewEvent::builder().event_type(t.clone()).payload(json!(1)).build() {
                Ok(event) => prop_assert_eq!(event.event_type(), t.as_str()),
                Err(err) => prop_assert!(err.get("event_type").is_some()),
            }
        }
    }
}
