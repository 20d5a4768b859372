//! Field-named validation errors shared by every domain module.
//!
//! Each variant names the failing field by its API path (`visit.amount_fen`,
//! `dishes[2].category`) so the service edge can turn it into a gRPC
//! `BadRequest` field violation without guessing. This module owns only the
//! error shapes; the rules that raise them live with the data they check.

use std::fmt;

/// One rule broken by one field of caller input or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("{field}: is required")]
    Missing { field: String },

    #[error("{field}: not a valid phone number ({reason})")]
    InvalidPhone { field: String, reason: String },

    #[error("{field}: not a valid identifier ({reason})")]
    InvalidIdentifier { field: String, reason: String },

    #[error("{field}: store {store_id:?} is not a store of this chain")]
    UnknownStore { field: String, store_id: String },

    #[error("{field}: amount must not be negative (got {amount_fen} fen)")]
    NegativeAmount { field: String, amount_fen: i64 },

    #[error("{field}: amount {amount_fen} fen is over the limit of {max_fen} fen")]
    AmountOverLimit {
        field: String,
        amount_fen: i64,
        max_fen: i64,
    },

    #[error("{field}: lies {ahead_ms} ms in the future (tolerance {tolerance_ms} ms)")]
    InFuture {
        field: String,
        ahead_ms: i64,
        tolerance_ms: i64,
    },

    #[error("{field}: {len_chars} characters is over the limit of {max_chars}")]
    TooLong {
        field: String,
        len_chars: usize,
        max_chars: usize,
    },

    #[error("{field}: {value} is outside {min}..={max}")]
    OutOfRange {
        field: String,
        value: i64,
        min: i64,
        max: i64,
    },

    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },

    #[error("update_mask: unknown field path {path:?}")]
    UnknownPath { path: String },
}

impl FieldError {
    /// The API path of the field this error is about.
    pub fn field(&self) -> &str {
        match self {
            FieldError::Missing { field }
            | FieldError::InvalidPhone { field, .. }
            | FieldError::InvalidIdentifier { field, .. }
            | FieldError::UnknownStore { field, .. }
            | FieldError::NegativeAmount { field, .. }
            | FieldError::AmountOverLimit { field, .. }
            | FieldError::InFuture { field, .. }
            | FieldError::TooLong { field, .. }
            | FieldError::OutOfRange { field, .. }
            | FieldError::Invalid { field, .. } => field,
            FieldError::UnknownPath { .. } => "update_mask",
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Every rule an input broke, so a caller can fix them all in one round trip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for error in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl FieldErrors {
    /// The fields named by the errors, in order.
    pub fn fields(&self) -> Vec<&str> {
        self.0.iter().map(FieldError::field).collect()
    }
}

/// [`check_max_chars`] for the service layer (fields outside the domain types).
pub fn check_max_chars_public(field: &str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    check_max_chars(field, text, max_chars)
}

/// Checks that `text` has at most `max_chars` characters (Unicode scalar
/// values, so a Chinese character counts as one).
pub(crate) fn check_max_chars(field: &str, text: &str, max_chars: usize) -> Result<(), FieldError> {
    let len_chars = text.chars().count();
    if len_chars > max_chars {
        return Err(FieldError::TooLong {
            field: field.to_owned(),
            len_chars,
            max_chars,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field() {
        let error = FieldError::NegativeAmount {
            field: "visit.amount_fen".into(),
            amount_fen: -5,
        };
        assert_eq!(error.field(), "visit.amount_fen");
        assert!(error.to_string().starts_with("visit.amount_fen:"));
    }

    #[test]
    fn errors_join_all_messages() {
        let errors = FieldErrors(vec![
            FieldError::Missing { field: "a".into() },
            FieldError::UnknownPath { path: "b.c".into() },
        ]);
        assert_eq!(errors.fields(), vec!["a", "update_mask"]);
        assert_eq!(
            errors.to_string(),
            "a: is required; update_mask: unknown field path \"b.c\""
        );
    }

    #[test]
    fn chinese_characters_count_once() {
        assert!(check_max_chars("notes", "不吃香菜", 4).is_ok());
        let error = check_max_chars("notes", "不吃香菜!", 4).unwrap_err();
        assert_eq!(
            error,
            FieldError::TooLong {
                field: "notes".into(),
                len_chars: 5,
                max_chars: 4
            }
        );
    }
}
