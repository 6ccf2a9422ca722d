//! What a reviewer hands in: a decision ([`NewDecision`]), checked before any round trip.

use serde::{Deserialize, Serialize};

use super::model::Verdict;
use crate::ValidationErrors;
use crate::types::{no_nul, non_blank};

/// The longest comment a decision takes, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// A decision on a step: the verdict and its comment. Built with the constructors, which check it
/// ([`Error::Invalid`](crate::Error::Invalid) on `comment`): a rejection and a request for changes
/// need a non-blank comment; any comment is at most [`MAX_COMMENT_CHARS`] characters, without NUL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDecision {
    verdict: Verdict,
    comment: Option<String>,
}

impl NewDecision {
    /// A decision, checked.
    pub fn new(verdict: Verdict, comment: Option<String>) -> Result<Self, ValidationErrors> {
        let decision = Self { verdict, comment };
        decision.check()?;
        Ok(decision)
    }

    /// Approve, without a comment.
    pub fn approve() -> Self {
        Self {
            verdict: Verdict::Approve,
            comment: None,
        }
    }

    /// Approve, with a comment.
    pub fn approve_with(comment: impl Into<String>) -> Result<Self, ValidationErrors> {
        Self::new(Verdict::Approve, Some(comment.into()))
    }

    /// Reject: the run ends, the item returns to draft. The comment says why (required).
    pub fn reject(comment: impl Into<String>) -> Result<Self, ValidationErrors> {
        Self::new(Verdict::Reject, Some(comment.into()))
    }

    /// Ask for changes: the run waits for an edit. The comment says which (required).
    pub fn request_changes(comment: impl Into<String>) -> Result<Self, ValidationErrors> {
        Self::new(Verdict::RequestChanges, Some(comment.into()))
    }

    /// Skip the step (where it allows skipping).
    pub fn skip() -> Self {
        Self {
            verdict: Verdict::Skip,
            comment: None,
        }
    }

    /// The verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The comment.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// Every problem of the decision (also one deserialised from JSON).
    pub fn check(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let needs_comment = matches!(self.verdict, Verdict::Reject | Verdict::RequestChanges);
        match &self.comment {
            Some(c) if needs_comment => {
                errors.check("comment", non_blank(c, MAX_COMMENT_CHARS));
            }
            Some(c) => {
                if c.chars().count() > MAX_COMMENT_CHARS {
                    errors.push(
                        "comment",
                        format!("is longer than {MAX_COMMENT_CHARS} characters"),
                    );
                }
                errors.check("comment", no_nul(c));
            }
            None if needs_comment => {
                errors.push("comment", "a rejection or a request for changes says why");
            }
            None => {}
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_and_a_request_for_changes_need_a_comment() {
        for err in [
            NewDecision::reject("  ").unwrap_err(),
            NewDecision::request_changes("").unwrap_err(),
            NewDecision::new(Verdict::Reject, None).unwrap_err(),
        ] {
            assert!(err.get("comment").is_some(), "{err}");
        }
        assert!(NewDecision::reject("Claims unsupported").is_ok());
        assert!(NewDecision::new(Verdict::Approve, None).is_ok());
        assert_eq!(NewDecision::skip().verdict(), Verdict::Skip);
    }

    #[test]
    fn a_comment_is_bounded_and_has_no_nul() {
        assert!(NewDecision::approve_with("a\0b").is_err());
        assert!(NewDecision::approve_with("x".repeat(MAX_COMMENT_CHARS + 1)).is_err());
        assert!(NewDecision::approve_with("fine").is_ok());
    }

    #[test]
    fn a_decision_deserialised_from_json_is_checked_too() {
        let d: NewDecision =
            serde_json::from_str(r#"{"verdict": "request_changes", "comment": null}"#).unwrap();
        assert!(d.check().is_err());
        assert!(serde_json::from_str::<NewDecision>(r#"{"verdict": "approve", "x": 1}"#).is_err());
    }
}
