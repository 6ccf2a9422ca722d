//! The structural diff between two versions of an item: pure, no I/O.
//!
//! It compares the versions as JSON documents (title, body, excerpt, fields, metadata, tags,
//! categories, template and template version), so it needs no template to read them and keeps working
//! when the template changed between the two, however the fields were renamed, retyped or reordered:
//! objects key by key, strings line by line, lists element by element (a longest common subsequence,
//! so an insertion does not show as every later element changed), anything else as an old and a new
//! value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::versions::ContentVersion;

/// What changed from one version of an item to another, in the order of the paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentDiff {
    /// The version compared from.
    pub from: i32,
    /// The version compared to.
    pub to: i32,
    /// Every change; empty when the two versions hold the same content.
    pub changes: Vec<Change>,
}

/// One change, at a path such as `title`, `fields.servings` or `metadata.keywords`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Where: the top-level part, then object keys joined with `.`.
    pub path: String,
    /// What.
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// How a part changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Present in the newer version only.
    Added {
        /// Its value.
        new: Value,
    },
    /// Present in the older version only.
    Removed {
        /// Its value.
        old: Value,
    },
    /// Another value, or another type (a field retyped by a template change).
    Changed {
        /// The older value.
        old: Value,
        /// The newer value.
        new: Value,
    },
    /// A text changed: both values, and the lines in order, each kept, added or removed.
    Text {
        /// The older text.
        old: String,
        /// The newer text.
        new: String,
        /// The line diff.
        lines: Vec<Diffed<String>>,
    },
    /// A list changed: its elements in order, each kept, added or removed.
    List {
        /// The element diff.
        elements: Vec<Diffed<Value>>,
    },
}

/// One line of a text, or one element of a list, in a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Diffed<T> {
    /// In both.
    Same(T),
    /// In the newer only.
    Added(T),
    /// In the older only.
    Removed(T),
}

/// The content of a version as one JSON document: what [`diff`] compares. Absent optional parts are
/// left out, so setting one is `Added` and clearing it `Removed`.
fn document(v: &ContentVersion) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("title".into(), Value::String(v.title.clone()));
    if let Some(body) = &v.body {
        doc.insert("body".into(), Value::String(body.clone()));
    }
    if let Some(excerpt) = &v.excerpt {
        doc.insert("excerpt".into(), Value::String(excerpt.clone()));
    }
    doc.insert("fields".into(), Value::Object(v.fields.0.clone()));
    doc.insert(
        "metadata".into(),
        serde_json::to_value(&v.metadata.0).unwrap_or(Value::Null),
    );
    doc.insert("tags".into(), serde_json::json!(v.tags));
    doc.insert("categories".into(), serde_json::json!(v.categories));
    if let Some(t) = v.template_id {
        doc.insert("template_id".into(), Value::String(t.to_string()));
    }
    if let Some(t) = v.template_version {
        doc.insert("template_version".into(), Value::from(t));
    }
    doc
}

/// The structural diff from `old` to `new` (any two versions, in either order).
pub fn diff(old: &ContentVersion, new: &ContentVersion) -> ContentDiff {
    let mut changes = Vec::new();
    diff_objects("", &document(old), &document(new), &mut changes);
    ContentDiff {
        from: old.version,
        to: new.version,
        changes,
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn diff_objects(
    prefix: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    out: &mut Vec<Change>,
) {
    for (key, o) in old {
        let path = join(prefix, key);
        match new.get(key) {
            Some(n) => diff_values(path, o, n, out),
            None => out.push(Change {
                path,
                kind: ChangeKind::Removed { old: o.clone() },
            }),
        }
    }
    for (key, n) in new {
        if !old.contains_key(key) {
            out.push(Change {
                path: join(prefix, key),
                kind: ChangeKind::Added { new: n.clone() },
            });
        }
    }
}

fn diff_values(path: String, old: &Value, new: &Value, out: &mut Vec<Change>) {
    if old == new {
        return;
    }
    let kind = match (old, new) {
        (Value::Object(o), Value::Object(n)) => return diff_objects(&path, o, n, out),
        (Value::String(o), Value::String(n)) => {
            let a: Vec<String> = o.split('\n').map(str::to_owned).collect();
            let b: Vec<String> = n.split('\n').map(str::to_owned).collect();
            ChangeKind::Text {
                old: o.clone(),
                new: n.clone(),
                lines: sequence(&a, &b),
            }
        }
        (Value::Array(o), Value::Array(n)) => ChangeKind::List {
            elements: sequence(o, n),
        },
        _ => ChangeKind::Changed {
            old: old.clone(),
            new: new.clone(),
        },
    };
    out.push(Change { path, kind });
}

/// The most cells the longest-common-subsequence table may have (about 16 MB); past it the middle of
/// the two sequences (after their common start and end) is reported as removed, then added.
const MAX_TABLE_CELLS: usize = 4_000_000;

/// `a` to `b` as kept, removed and added elements in order, through a longest common subsequence.
pub(crate) fn sequence<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<Diffed<T>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out: Vec<Diffed<T>> = a[..prefix].iter().cloned().map(Diffed::Same).collect();
    let (n, m) = (ma.len(), mb.len());
    if n == 0 || m == 0 || n.saturating_mul(m) > MAX_TABLE_CELLS {
        out.extend(ma.iter().cloned().map(Diffed::Removed));
        out.extend(mb.iter().cloned().map(Diffed::Added));
    } else {
        // lcs[i][j]: the longest common subsequence of ma[i..] and mb[j..].
        let width = m + 1;
        let mut lcs = vec![0u32; (n + 1) * width];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * width + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n && j < m {
            if ma[i] == mb[j] {
                out.push(Diffed::Same(ma[i].clone()));
                i += 1;
                j += 1;
            } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
                out.push(Diffed::Removed(ma[i].clone()));
                i += 1;
            } else {
                out.push(Diffed::Added(mb[j].clone()));
                j += 1;
            }
        }
        out.extend(ma[i..].iter().cloned().map(Diffed::Removed));
        out.extend(mb[j..].iter().cloned().map(Diffed::Added));
    }
    out.extend(a[a.len() - suffix..].iter().cloned().map(Diffed::Same));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_insertion_keeps_the_elements_around_it() {
        let ops = sequence(&[1, 2, 3, 4], &[1, 2, 9, 3, 4]);
        assert_eq!(
            ops,
            [
                Diffed::Same(1),
                Diffed::Same(2),
                Diffed::Added(9),
                Diffed::Same(3),
                Diffed::Same(4)
            ]
        );
        let ops = sequence(&["a", "b", "c"], &["c", "a", "b"]);
        assert_eq!(
            ops,
            [
                Diffed::Added("c"),
                Diffed::Same("a"),
                Diffed::Same("b"),
                Diffed::Removed("c")
            ]
        );
    }

    proptest! {
        #[test]
        fn a_sequence_diff_rebuilds_both_sides(a in proptest::collection::vec(0u8..5, 0..30),
                                               b in proptest::collection::vec(0u8..5, 0..30)) {
            let ops = sequence(&a, &b);
            let old: Vec<u8> = ops.iter().filter_map(|o| match o { Diffed::Same(x) | Diffed::Removed(x) => Some(*x), _ => None }).collect();
            let new: Vec<u8> = ops.iter().filter_map(|o| match o { Diffed::Same(x) | Diffed::Added(x) => Some(*x), _ => None }).collect();
            prop_assert_eq!(old, a);
            prop_assert_eq!(new, b);
        }
    }
}
