//! The one mapping from domain failures to gRPC statuses.
//!
//! Each service has its own `thiserror` enum; its `From<Error> for tonic::Status` goes
//! through these constructors so that every `INVALID_ARGUMENT` names its field in a
//! `google.rpc.BadRequest` detail (the gateway turns it into `{code, message, field}`).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `field: message`, unless the message already starts with the field (callers that list
/// several field errors write each with its own field), so no answer repeats the field.
fn prefixed(field: &str, message: &str) -> String {
    let already = message
        .strip_prefix(field)
        .is_some_and(|rest| rest.starts_with(": "));
    if already || field.is_empty() {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    }
}

/// `INVALID_ARGUMENT` naming the offending field (proto field path, e.g. `event.amount`).
pub fn invalid_argument(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let details = ErrorDetails::with_bad_request_violation(field, message.clone());
    Status::with_error_details(Code::InvalidArgument, prefixed(field, &message), details)
}

/// `NOT_FOUND` for an entity of a kind (`customer`, `manager`…) with its id.
pub fn not_found(kind: &str, id: &str) -> Status {
    Status::not_found(format!("{kind} `{id}` not found"))
}

/// `FAILED_PRECONDITION` naming the field whose state prevents the call.
pub fn failed_precondition(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    let details =
        ErrorDetails::with_precondition_failure_violation("STATE", field, message.clone());
    Status::with_error_details(Code::FailedPrecondition, prefixed(field, &message), details)
}

/// `ALREADY_EXISTS` for a unique value.
pub fn already_exists(field: &str, message: impl Into<String>) -> Status {
    Status::already_exists(prefixed(field, &message.into()))
}

/// `INTERNAL` for failures of our own; the cause is logged, not shown to the caller.
pub fn internal(cause: impl std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error")
}

/// `UNAVAILABLE` when a dependency (database, another service) cannot be reached.
pub fn unavailable(what: &str, cause: impl std::fmt::Display) -> Status {
    tracing::warn!(error = %cause, "{what} unavailable");
    Status::unavailable(format!("{what} unavailable"))
}

/// The field a status names, if it carries a BadRequest or PreconditionFailure detail.
pub fn field_of(status: &Status) -> Option<String> {
    let details = status.get_error_details();
    if let Some(v) = details
        .bad_request()
        .and_then(|bad| bad.field_violations.first())
    {
        return Some(v.field.clone());
    }
    details
        .precondition_failure()
        .and_then(|p| p.violations.first())
        .map(|v| v.subject.clone())
}

impl From<crate::db::DbError> for Status {
    fn from(e: crate::db::DbError) -> Self {
        internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_the_field_for_the_gateway() {
        let s = invalid_argument("event.amount", "must not be negative");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "event.amount: must not be negative");
        assert_eq!(field_of(&s).as_deref(), Some("event.amount"));
    }

    #[test]
    fn a_message_that_starts_with_its_field_is_not_prefixed_again() {
        let s = invalid_argument(
            "event.party_size",
            "event.party_size: 0 is outside 1..=500; event.amount: must not be negative",
        );
        assert_eq!(
            s.message(),
            "event.party_size: 0 is outside 1..=500; event.amount: must not be negative"
        );
        assert_eq!(field_of(&s).as_deref(), Some("event.party_size"));
        // A field that merely starts the same way is still named.
        let s = invalid_argument("event.amount", "event.amount_fen: odd");
        assert_eq!(s.message(), "event.amount: event.amount_fen: odd");
        let s = failed_precondition("history", "history: too short");
        assert_eq!(s.message(), "history: too short");
        assert_eq!(
            already_exists("name", "name: taken").message(),
            "name: taken"
        );
    }

    #[test]
    fn precondition_names_the_field_too() {
        let s = failed_precondition("history", "at least 100 customers with visits are needed");
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(field_of(&s).as_deref(), Some("history"));
        assert_eq!(field_of(&not_found("customer", "c1")), None);
    }
}
