//! What a caller hands in: the raw input, the create and patch builders over it, the one parse, and
//! the list filter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{ContentStatus, SeoMetadata};
use crate::ValidationErrors;
use crate::input::{Mode, Parser, input};
use crate::page::Deleted;
use crate::types::{Slug, TemplateId, no_nul, non_blank};

/// The most tags, and the most categories, one item may carry.
pub const MAX_LABELS: usize = 50;

/// The longest tag or category, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// A content item's template fields: field name to value.
pub type Fields = serde_json::Map<String, serde_json::Value>;

/// A validated new content item; build one with [`NewContent::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewContent {
    pub(crate) values: ContentValues,
    /// Set by create-from-template once a template has validated the fields.
    pub(crate) template_id: Option<TemplateId>,
}

impl NewContent {
    /// Starts a builder; [`NewContentBuilder::build`] reports every problem at once.
    pub fn builder() -> NewContentBuilder {
        NewContentBuilder::default()
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.values.content_type.as_deref().unwrap_or_default()
    }

    /// The slug the item will have.
    pub fn slug(&self) -> &Slug {
        self.values.slug.as_ref().expect("a create sets the slug")
    }
}

/// A validated change to an item: only what was set is written, and a patch that sets nothing
/// writes nothing. Build one with [`ContentPatch::builder`]; apply it with
/// [`ContentRepo::update`](super::ContentRepo::update).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContentPatch {
    pub(crate) values: ContentValues,
}

impl ContentPatch {
    /// Starts a builder; [`ContentPatchBuilder::build`] reports every problem at once.
    pub fn builder() -> ContentPatchBuilder {
        ContentPatchBuilder::default()
    }

    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Raw input for a [`NewContent`]. Nothing is checked until [`build`](Self::build). Deserialises
/// from the JSON of a [`ContentInput`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NewContentBuilder(ContentInput);

/// Raw input for a [`ContentPatch`]: every setter replaces that part of the item; unset parts stay.
/// Deserialises from the JSON of a [`ContentInput`] (`null` clears a nullable field).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentPatchBuilder(ContentInput);

input! {
    /// The raw input of a content item, shared by [`NewContentBuilder`] and
    /// [`ContentPatchBuilder`]: every field optional, as a request carries it.
    pub struct ContentInput;
    builders NewContentBuilder, ContentPatchBuilder;
    values ContentValues, columns content_input_columns;
    fields {
        /// Content type, e.g. `article` (required on create, at most 50 characters; fixed after).
        content_type "type" json "type": value String => String, content_type maybe_content_type;
        /// Title (required on create, not blank, at most 500 characters).
        title "title": value String => String, title maybe_title;
        /// URL name, unique among the brand's live items (default: derived from the title).
        slug "slug": value String => Slug, slug maybe_slug;
        /// Template fields, replaced whole (default: none).
        fields "fields": value Fields => Fields, fields maybe_fields;
        /// HTML body.
        body "body": nullable String => String, body maybe_body clear_body;
        /// Plain-text summary.
        excerpt "excerpt": nullable String => String, excerpt maybe_excerpt clear_excerpt;
        /// SEO metadata (checked by `build`).
        metadata "metadata": value SeoMetadata => SeoMetadata, metadata maybe_metadata;
        /// Tags (trimmed and lowercased; repeats dropped).
        tags "tags": list String => Vec<String>, tags maybe_tags tag;
        /// Categories (trimmed; repeats dropped).
        categories "categories": list String => Vec<String>, categories maybe_categories category;
        /// When the live version is taken down by the publishing job (`null`: never).
        expires_at "expires_at": nullable DateTime<Utc> => DateTime<Utc>, expires_at maybe_expires_at clear_expires_at;
        /// A note on this save, kept with its version in the history (at most 1,000 characters).
        note "version_note" json "note": nullable String => String, note maybe_note clear_note;
    }
}

macro_rules! field_setter {
    ($Builder:ident) => {
        impl $Builder {
            /// Sets one template field, keeping the others set so far.
            pub fn field(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
                self.0
                    .fields
                    .get_or_insert_with(Fields::new)
                    .insert(name.into(), value);
                self
            }
        }
    };
}
field_setter!(NewContentBuilder);
field_setter!(ContentPatchBuilder);

impl NewContentBuilder {
    /// Validates every field, returning all problems together.
    pub fn build(self) -> Result<NewContent, ValidationErrors> {
        Ok(NewContent {
            values: parse(&self.0, Mode::Create)?,
            template_id: None,
        })
    }
}

impl ContentPatchBuilder {
    /// Validates every field that was set, returning all problems together.
    pub fn build(self) -> Result<ContentPatch, ValidationErrors> {
        Ok(ContentPatch {
            values: parse(&self.0, Mode::Patch)?,
        })
    }
}

/// The one parse of a content input, for a create (required fields, defaults) or a patch.
fn parse(input: &ContentInput, mode: Mode) -> Result<ContentValues, ValidationErrors> {
    let mut p = Parser::new(mode);
    let content_type = match mode {
        Mode::Create => p.required("type", &input.content_type, |t| owned(non_blank(t, 50))),
        Mode::Patch => {
            if input.content_type.is_some() {
                p.push("type", "cannot be changed after creation");
            }
            None
        }
    };
    let title = p.required("title", &input.title, |t| owned(non_blank(t, 500)));
    let slug = match (&input.slug, mode) {
        (Some(s), _) => p.errors.check("slug", Slug::parse(s)),
        (None, Mode::Create) => input
            .title
            .as_deref()
            .and_then(Slug::from_title)
            .or_else(|| {
                if title.is_some() {
                    p.push("slug", "cannot be derived from the title; give one");
                }
                None
            }),
        (None, Mode::Patch) => None,
    };
    let fields = p.defaulted("fields", &input.fields, Fields::new, check_fields);
    let body = p.nullable("body", &input.body, |b| owned(no_nul(b)));
    let excerpt = p.nullable("excerpt", &input.excerpt, |e| owned(no_nul(e)));
    let tags = labels(&mut p, "tags", &input.tags, true);
    let categories = labels(&mut p, "categories", &input.categories, false);
    let metadata = match &input.metadata {
        Some(m) => {
            m.check_into(&mut p.errors);
            Some(m.clone())
        }
        None => (mode == Mode::Create).then(SeoMetadata::default),
    };
    let expires_at = p.nullable("expires_at", &input.expires_at, |t| Ok::<_, &str>(*t));
    let note = p.nullable("note", &input.note, |n| owned(non_blank(n, 1000)));
    p.finish(ContentValues {
        content_type,
        title,
        slug,
        fields,
        body,
        excerpt,
        metadata,
        tags,
        categories,
        expires_at,
        note,
    })
}

fn owned<E>(r: Result<&str, E>) -> Result<String, E> {
    r.map(str::to_owned)
}

/// Checks a list of tags or categories under `field[i]`, trims them, lowercases them when asked, and
/// drops repeats. Unset in a patch is `None`; unset on create is empty.
fn labels(
    p: &mut Parser,
    field: &str,
    input: &Option<Vec<String>>,
    lowercase: bool,
) -> Option<Vec<String>> {
    let Some(input) = input else {
        return (p.mode == Mode::Create).then(Vec::new);
    };
    if input.len() > MAX_LABELS {
        p.errors.push(field, "at most 50 entries");
    }
    let mut out: Vec<String> = Vec::with_capacity(input.len());
    for (i, raw) in input.iter().enumerate() {
        let Some(v) = p
            .errors
            .check(&format!("{field}[{i}]"), non_blank(raw, MAX_LABEL_CHARS))
        else {
            continue;
        };
        let v = v.trim();
        let v = if lowercase {
            v.to_lowercase()
        } else {
            v.to_owned()
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Some(out)
}

/// Refuses template fields that PostgreSQL cannot store (a NUL character anywhere in them).
fn check_fields(fields: &Fields) -> Result<Fields, &'static str> {
    if serde_json::to_string(fields).is_ok_and(|s| s.contains("\\u0000")) {
        Err("contains a NUL character")
    } else {
        Ok(fields.clone())
    }
}

/// Which items [`ContentRepo::list`](super::ContentRepo::list) returns: every set condition must
/// hold. Ranges are half-open, `[from, to)`. Deserialises from a request's query or body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentFilter {
    /// Only this content type.
    #[serde(rename = "type")]
    pub content_type: Option<String>,
    /// Only heads in this status (`published`: the head is the live version; every item with a live
    /// version, drafts ahead of it included, is what [`ContentRepo::list_live`](super::ContentRepo::list_live) lists).
    pub status: Option<ContentStatus>,
    /// Only items carrying this tag (compared as tags are stored: trimmed and lowercased).
    pub tag: Option<String>,
    /// Only items following this template.
    pub template_id: Option<TemplateId>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// Published at or after.
    pub published_from: Option<DateTime<Utc>>,
    /// Published before.
    pub published_to: Option<DateTime<Utc>>,
    /// Soft-deleted items too, or only them (default: live items only).
    pub deleted: Deleted,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_trimmed_lowercased_and_deduplicated_categories_keep_case() {
        let new = NewContent::builder()
            .content_type("article")
            .title("T")
            .tag(" Food ")
            .tag("food")
            .tag("FOOD")
            .tag("Drink")
            .category("Recipes")
            .category("recipes")
            .category(" Recipes")
            .build()
            .unwrap();
        assert_eq!(new.values.tags.unwrap(), ["food", "drink"]);
        assert_eq!(new.values.categories.unwrap(), ["Recipes", "recipes"]);
    }

    #[test]
    fn too_many_labels_and_keywords_are_refused() {
        let mut b = NewContent::builder().content_type("article").title("T");
        for i in 0..=MAX_LABELS {
            b = b.tag(format!("t{i}"));
        }
        let seo = SeoMetadata {
            keywords: (0..21).map(|i| format!("k{i}")).collect(),
            ..Default::default()
        };
        let err = b.metadata(seo.clone()).build().unwrap_err();
        assert_eq!(err.get("tags").unwrap().reason, "at most 50 entries");
        assert_eq!(
            err.get("metadata.keywords").unwrap().reason,
            "at most 20 keywords"
        );
        assert!(seo.validate().is_err());
        assert!(SeoMetadata::default().validate().is_ok());
    }

    #[test]
    fn seo_limits_are_sixty_and_one_hundred_sixty_characters() {
        let ok = SeoMetadata {
            meta_title: Some("é".repeat(60)),
            meta_description: Some("d".repeat(160)),
            og_image: Some("https://cdn.example.com/a.png".into()),
            canonical_url: Some("http://example.com/a?b=c".into()),
            keywords: vec!["k".into()],
        };
        assert!(ok.validate().is_ok());
        let long = SeoMetadata {
            meta_title: Some("t".repeat(61)),
            meta_description: Some("d".repeat(161)),
            ..ok
        };
        let err = long.validate().unwrap_err();
        assert_eq!(err.errors().len(), 2, "{err}");
    }

    #[test]
    fn seo_metadata_uses_the_specs_camel_case_keys() {
        let json = serde_json::to_value(SeoMetadata {
            meta_title: Some("A".into()),
            og_image: Some("https://x.com/i.png".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"metaTitle": "A", "ogImage": "https://x.com/i.png"})
        );
        let back: SeoMetadata = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(back, SeoMetadata::default());
    }

    #[test]
    fn an_empty_patch_builds_and_writes_nothing() {
        let patch = ContentPatch::builder().build().unwrap();
        assert!(patch.is_empty());
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn a_create_writes_every_input_column_and_a_patch_only_what_is_set() {
        let new = NewContent::builder()
            .content_type("article")
            .title("Notes on the Engine")
            .build()
            .unwrap();
        let record = serde_json::to_value(&new.values).unwrap();
        let keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut columns: Vec<&str> = content_input_columns!().split(", ").collect();
        columns.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(keys_sorted, columns);
        assert_eq!(record["slug"], "notes-on-the-engine");
        assert_eq!(record["body"], serde_json::Value::Null);

        let patch = ContentPatch::builder()
            .clear_excerpt()
            .maybe_title(None::<String>)
            .tags(["A"])
            .build()
            .unwrap();
        assert_eq!(
            serde_json::to_value(&patch.values).unwrap(),
            serde_json::json!({"excerpt": null, "tags": ["a"]})
        );
    }

    #[test]
    fn a_patch_cannot_change_the_type_nor_carry_a_blank_note() {
        let err = ContentPatch::builder()
            .content_type("page")
            .note("  ")
            .build()
            .unwrap_err();
        assert!(
            err.get("type").is_some() && err.get("note").is_some(),
            "{err}"
        );
    }

    #[test]
    fn deserialising_then_building_equals_the_setters() {
        let json = r#"{"type": "article", "title": "T", "body": "<p>b</p>", "tags": ["X"],
                       "fields": {"servings": 4}, "metadata": {"metaTitle": "M"}}"#;
        let from_json: NewContentBuilder = serde_json::from_str(json).unwrap();
        let by_setters = NewContent::builder()
            .content_type("article")
            .title("T")
            .body("<p>b</p>")
            .tag("X")
            .field("servings", serde_json::json!(4))
            .metadata(SeoMetadata {
                meta_title: Some("M".into()),
                ..Default::default()
            });
        assert_eq!(from_json, by_setters);
        assert_eq!(from_json.build().unwrap(), by_setters.build().unwrap());

        let patch: ContentPatchBuilder =
            serde_json::from_str(r#"{"excerpt": null, "title": "U"}"#).unwrap();
        assert_eq!(
            patch.build().unwrap(),
            ContentPatch::builder()
                .clear_excerpt()
                .title("U")
                .build()
                .unwrap()
        );
        assert!(serde_json::from_str::<ContentPatchBuilder>(r#"{"titel": "typo"}"#).is_err());
        let filter: ContentFilter =
            serde_json::from_str(r#"{"type": "article", "status": "draft", "deleted": "include"}"#)
                .unwrap();
        assert_eq!(filter.deleted, Deleted::Include);
    }

    proptest! {
        #[test]
        fn any_builder_input_builds_or_reports_errors_without_panicking(
            ty in ".{0,60}", title in ".{0,20}", slug in proptest::option::of(".{0,12}"),
            body in proptest::option::of(".{0,12}"), tags in proptest::collection::vec(".{0,8}", 0..4),
            url in proptest::option::of(".{0,24}"), meta in proptest::option::of(".{0,70}"),
        ) {
            let b = NewContent::builder().content_type(ty).title(title).maybe_slug(slug)
                .maybe_body(body.clone()).tags(tags.clone()).categories(tags.clone())
                .metadata(SeoMetadata {
                    meta_title: meta.clone(), og_image: url.clone(), canonical_url: url,
                    ..Default::default()
                });
            match b.build() {
                Ok(new) => {
                    let tags = new.values.tags.unwrap();
                    prop_assert!(tags.iter().all(|t| !t.is_empty() && *t == t.trim().to_lowercase()));
                    prop_assert!(new.values.metadata.unwrap().validate().is_ok());
                }
                Err(e) => prop_assert!(!e.is_empty()),
            }
            let p = ContentPatch::builder().tags(tags).metadata(SeoMetadata { meta_title: meta, ..Default::default() })
                .maybe_title(body.clone()).maybe_slug(body.clone()).maybe_excerpt(body);
            match p.build() {
                Ok(_) => {}
                Err(e) => prop_assert!(!e.is_empty()),
            }
        }
    }
}
