//! One input shape for every aggregate.
//!
//! Each aggregate has one raw input struct (`ContentInput`, `BrandInput`, ...): every field optional,
//! exactly as a request body carries it, `Deserialize` and `Serialize`. Its create builder
//! (`NewContent::builder()`) and its patch builder (`ContentPatch::builder()`) both wrap that struct,
//! with the same setters, and both `build()` through the aggregate's one `parse` function, which checks
//! every field that is set and reports every problem at once. Creating requires the required fields
//! and fills defaults; patching takes only what is set, and a patch that sets nothing writes nothing.
//!
//! The [`input!`] macro declares the raw struct, the setters of both builders, the parsed values
//! (`ContentValues`) and the list of columns they write, from one line per field. The values
//! serialise to a JSON object keyed by column name, which the repositories hand to PostgreSQL as one
//! parameter and turn into a row with `jsonb_populate_record`: so every write statement is static SQL,
//! a patch changes exactly the columns that are set (the others are read from the row itself), and a
//! new column is declared once, as a field.
//!
//! Setters, for a field `title` (declared with the names it gets):
//! - `title(v)` sets it; `maybe_title(Option<v>)` sets it when `Some` and leaves it as it is when
//!   `None` (what a request's optional field means);
//! - a nullable field also has `clear_body()`, which writes NULL (`{"body": null}` in JSON);
//! - a list field replaces the whole list with `tags(iter)` and adds one element with `tag(v)`.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::error::ValidationErrors;

/// Whether a parse is for a create (required fields needed, defaults filled) or a patch (only what is
/// set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Patch,
}

/// Collects every problem of one parse, field by field. Each method returns the value that goes into
/// the parsed values: `Some` when the field is written (set, or defaulted on create), `None` when it is
/// not (unset in a patch, or refused, in which case the problem is recorded).
#[derive(Debug)]
pub(crate) struct Parser {
    pub(crate) errors: ValidationErrors,
    pub(crate) mode: Mode,
}

impl Parser {
    pub(crate) fn new(mode: Mode) -> Self {
        Self {
            errors: ValidationErrors::new(),
            mode,
        }
    }

    /// A field a create must set and a patch may change (but not clear).
    pub(crate) fn required<R, T, E: fmt::Display>(
        &mut self,
        field: &str,
        raw: &Option<R>,
        parse: impl FnOnce(&R) -> Result<T, E>,
    ) -> Option<T> {
        match raw {
            Some(r) => self.errors.check(field, parse(r)),
            None => {
                if self.mode == Mode::Create {
                    self.errors.push(field, "is required");
                }
                None
            }
        }
    }

    /// A field with a default: a create without it writes `default()`.
    pub(crate) fn defaulted<R, T, E: fmt::Display>(
        &mut self,
        field: &str,
        raw: &Option<R>,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&R) -> Result<T, E>,
    ) -> Option<T> {
        match raw {
            Some(r) => self.errors.check(field, parse(r)),
            None => (self.mode == Mode::Create).then(default),
        }
    }

    /// A nullable field: `Some(None)` writes NULL; a create without it writes NULL.
    pub(crate) fn nullable<R, T, E: fmt::Display>(
        &mut self,
        field: &str,
        raw: &Option<Option<R>>,
        parse: impl FnOnce(&R) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match raw {
            Some(Some(r)) => self.errors.check(field, parse(r)).map(Some),
            Some(None) => Some(None),
            None => (self.mode == Mode::Create).then_some(None),
        }
    }

    /// Records a problem found by a check across fields.
    pub(crate) fn push(&mut self, field: impl Into<String>, reason: &'static str) {
        self.errors.push(field, reason);
    }

    /// `Ok` with `values` when no problem was recorded.
    pub(crate) fn finish<V>(self, values: V) -> Result<V, ValidationErrors> {
        self.errors.into_result().map(|()| values)
    }
}

/// Deserialises a present input field as `Some`, an absent one being `None` through
/// `#[serde(default)]`. For a nullable field (`T = Option<R>`) `null` is then `Some(None)` (clear it),
/// distinct from absent (leave it as it is); for any other field `null` is refused.
pub(crate) fn some<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Declares an aggregate's raw input struct, the setters of its create and patch builders, its parsed
/// values and the columns they write. See the [module docs](self).
///
/// ```text
/// input! {
///     /// Raw input for a content item.
///     pub struct ContentInput;
///     builders NewContentBuilder, ContentPatchBuilder;
///     values ContentValues, columns content_input_columns;
///     fields {
///         /// Title (required, at most 500 characters).
///         title "title": value String => String, title maybe_title;
///         /// Plain-text summary.
///         excerpt "excerpt": nullable String => String, excerpt maybe_excerpt clear_excerpt;
///         /// Tags (trimmed and lowercased; repeats dropped).
///         tags "tags": list String => Vec<String>, tags maybe_tags tag;
///     }
/// }
/// ```
///
/// Each field: its name (also its JSON name, unless `json "…"` follows the column), its column, its
/// kind (`value`, `nullable`, `list`) with the raw type and the parsed type, then its setter names.
/// Raw types of `value` and `list` setters are taken with `impl Into<…>`. An aggregate that is only
/// ever created, never patched (an event), names one builder: `builders NewEventBuilder;`.
macro_rules! input {
    (
        $(#[$meta:meta])*
        $vis:vis struct $Input:ident;
        builders $New:ident, $Patch:tt;
        values $Values:ident, columns $columns:ident;
        fields {
            $(
                $(#[doc = $doc:literal])*
                $field:ident $column:literal $(json $json:literal)? :
                    $kind:ident $raw:ty => $parsed:ty, $($setter:ident)+;
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        $vis struct $Input {
            $(
                $(#[doc = $doc])*
                #[serde($(rename = $json,)? skip_serializing_if = "Option::is_none", deserialize_with = "crate::input::some")]
                pub $field: $crate::input::input!(@raw_type $kind $raw),
            )+
        }

        $crate::input::input!(@setters $New $Input; $( $(#[doc = $doc])* $kind $raw, $field, $($setter)+; )+);
        $crate::input::input!(@setters $Patch $Input; $( $(#[doc = $doc])* $kind $raw, $field, $($setter)+; )+);

        /// The parsed, validated values of one create or patch, serialised as a JSON record keyed by
        /// column: only the columns that are written appear.
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
        pub(crate) struct $Values {
            $(
                #[serde(rename = $column, skip_serializing_if = "Option::is_none")]
                pub(crate) $field: $crate::input::input!(@values_type $kind $parsed),
            )+
        }

        impl $Values {
            /// Whether nothing is written.
            #[allow(dead_code)]
            pub(crate) fn is_empty(&self) -> bool {
                true $(&& self.$field.is_none())+
            }
        }

        $crate::input::input!(@columns $columns; $($column),+);
    };

    // An aggregate that is only ever created (an event) has one builder: `builders NewEventBuilder;`.
    (
        $(#[$meta:meta])*
        $vis:vis struct $Input:ident;
        builders $New:ident;
        $($rest:tt)*
    ) => {
        $crate::input::input! { $(#[$meta])* $vis struct $Input; builders $New, _; $($rest)* }
    };

    (@raw_type value $raw:ty) => { Option<$raw> };
    (@raw_type nullable $raw:ty) => { Option<Option<$raw>> };
    (@raw_type list $raw:ty) => { Option<Vec<$raw>> };

    (@values_type nullable $parsed:ty) => { Option<Option<$parsed>> };
    (@values_type $kind:ident $parsed:ty) => { Option<$parsed> };

    (@columns $name:ident; $first:literal $(, $rest:literal)*) => {
        /// The columns the values write, in declaration order, for static SQL (`concat!`).
        #[allow(unused_macros)]
        macro_rules! $name {
            () => { concat!($first $(, ", ", $rest)*) };
        }
        #[allow(unused_imports)]
        pub(crate) use $name;
    };

    (@setters _ $($rest:tt)*) => {};

    (@setters $Builder:ident $Input:ident; $( $(#[doc = $doc:literal])* $kind:ident $raw:ty, $field:ident, $($setter:ident)+; )+) => {
        impl $Builder {
            $( $crate::input::input!(@setter $kind $raw, $field, [$(#[doc = $doc])*], $($setter)+); )+
        }

        impl From<$Input> for $Builder {
            fn from(input: $Input) -> Self {
                Self(input)
            }
        }

        impl $Builder {
            /// The raw input set so far.
            pub fn input(&self) -> &$Input {
                &self.0
            }
        }
    };

    (@setter value $raw:ty, $field:ident, [$(#[doc = $doc:literal])*], $set:ident $maybe:ident) => {
        $(#[doc = $doc])*
        pub fn $set(mut self, v: impl Into<$raw>) -> Self {
            self.0.$field = Some(v.into());
            self
        }
        #[doc = concat!("Sets `", stringify!($field), "` when `Some`; leaves it as it is when `None`.")]
        pub fn $maybe(mut self, v: Option<impl Into<$raw>>) -> Self {
            if let Some(v) = v {
                self.0.$field = Some(v.into());
            }
            self
        }
    };

    (@setter nullable $raw:ty, $field:ident, [$(#[doc = $doc:literal])*], $set:ident $maybe:ident $clear:ident) => {
        $(#[doc = $doc])*
        pub fn $set(mut self, v: impl Into<$raw>) -> Self {
            self.0.$field = Some(Some(v.into()));
            self
        }
        #[doc = concat!("Sets `", stringify!($field), "` when `Some`; leaves it as it is when `None`.")]
        pub fn $maybe(mut self, v: Option<impl Into<$raw>>) -> Self {
            if let Some(v) = v {
                self.0.$field = Some(Some(v.into()));
            }
            self
        }
        #[doc = concat!("Clears `", stringify!($field), "` (writes NULL).")]
        pub fn $clear(mut self) -> Self {
            self.0.$field = Some(None);
            self
        }
    };

    (@setter list $raw:ty, $field:ident, [$(#[doc = $doc:literal])*], $set:ident $maybe:ident $add:ident) => {
        $(#[doc = $doc])*
        ///
        /// Replaces the whole list.
        pub fn $set<V: Into<$raw>>(mut self, v: impl IntoIterator<Item = V>) -> Self {
            self.0.$field = Some(v.into_iter().map(Into::into).collect());
            self
        }
        #[doc = concat!("Replaces `", stringify!($field), "` when `Some`; leaves it as it is when `None`.")]
        pub fn $maybe<V: Into<$raw>>(mut self, v: Option<impl IntoIterator<Item = V>>) -> Self {
            if let Some(v) = v {
                self.0.$field = Some(v.into_iter().map(Into::into).collect());
            }
            self
        }
        #[doc = concat!("Adds one element to `", stringify!($field), "`.")]
        pub fn $add(mut self, v: impl Into<$raw>) -> Self {
            self.0.$field.get_or_insert_with(Vec::new).push(v.into());
            self
        }
    };
}

pub(crate) use input;

#[cfg(test)]
// Not every generated setter is called here.
#[allow(dead_code)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    pub struct NewThing(ThingInput);
    #[derive(Debug, Default)]
    pub struct ThingPatch(ThingInput);

    input! {
        /// Raw input of a test aggregate.
        pub struct ThingInput;
        builders NewThing, ThingPatch;
        values ThingValues, columns thing_columns;
        fields {
            /// Name.
            name "name": value String => String, name maybe_name;
            /// Kind, stored as `type`.
            kind "type" json "type": value String => String, kind maybe_kind;
            /// Note.
            note "note": nullable String => String, note maybe_note clear_note;
            /// Labels.
            labels "labels": list String => Vec<String>, labels maybe_labels label;
        }
    }

    fn parse(input: &ThingInput, mode: Mode) -> Result<ThingValues, ValidationErrors> {
        let mut p = Parser::new(mode);
        let values = ThingValues {
            name: p.required("name", &input.name, |n| {
                if n.trim().is_empty() {
                    Err("must not be blank")
                } else {
                    Ok(n.trim().to_owned())
                }
            }),
            kind: p.defaulted(
                "type",
                &input.kind,
                || "plain".to_owned(),
                |k| Ok::<_, &str>(k.clone()),
            ),
            note: p.nullable("note", &input.note, |n| Ok::<_, &str>(n.clone())),
            labels: p.defaulted("labels", &input.labels, Vec::new, |l| {
                Ok::<_, &str>(l.clone())
            }),
        };
        p.finish(values)
    }

    #[test]
    fn setters_of_both_builders_fill_the_same_raw_input() {
        let new = NewThing::default()
            .name("a")
            .maybe_kind(None::<String>)
            .note("n")
            .label("x")
            .label("y");
        let patch = ThingPatch::default().name("a").note("n").labels(["x", "y"]);
        assert_eq!(new.input(), patch.input());
        assert_eq!(ThingPatch::default().clear_note().input().note, Some(None));
        assert_eq!(thing_columns!(), "name, type, note, labels");
    }

    #[test]
    fn create_requires_and_defaults_patch_takes_only_what_is_set() {
        let err = parse(&ThingInput::default(), Mode::Create).unwrap_err();
        assert_eq!(err.get("name").unwrap().reason, "is required");
        let created = parse(&NewThing::default().name(" a ").0, Mode::Create).unwrap();
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!({"name": "a", "type": "plain", "note": null, "labels": []})
        );
        let empty = parse(&ThingInput::default(), Mode::Patch).unwrap();
        assert!(empty.is_empty());
        let cleared = parse(&ThingPatch::default().clear_note().0, Mode::Patch).unwrap();
        assert_eq!(
            serde_json::to_value(&cleared).unwrap(),
            serde_json::json!({"note": null})
        );
    }

    #[test]
    fn json_absent_null_and_value_mean_keep_clear_and_set() {
        let input: ThingInput =
            serde_json::from_str(r#"{"name": "a", "type": "k", "note": null}"#).unwrap();
        assert_eq!(input.kind.as_deref(), Some("k"));
        assert_eq!(input.note, Some(None));
        assert_eq!(input.labels, None);
        let input: ThingInput = serde_json::from_str(r#"{"note": "x"}"#).unwrap();
        assert_eq!(input.note, Some(Some("x".to_owned())));
        assert!(serde_json::from_str::<ThingInput>(r#"{"nmae": "typo"}"#).is_err());
        // Serialising leaves out what is unset, so a raw input round-trips exactly.
        let back: ThingInput =
            serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
        assert_eq!(back, input);
    }
}
