//! The profile service's one error type and its single mapping to `tonic::Status`.
//!
//! Handlers and storage return [`Error`]; only `From<Error> for Status` below turns it into
//! a gRPC status, through the kit's constructors so every `INVALID_ARGUMENT` names its field.

use maitre_kit::{coord::CoordError, db::DbError, error as status};
use sea_orm::DbErr;
use tonic::Status;

use crate::domain::error::{FieldError, FieldErrors};

/// Every way a profile call can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Caller input broke a rule; `field` is the API path (`event.amount`).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// An id unknown in the caller's chain (another chain's ids too).
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    /// The caller's role or store scope does not allow the call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The state of `field` prevents the call.
    #[error("{field}: {message}")]
    FailedPrecondition { field: String, message: String },
    /// A unique value is taken.
    #[error("{field}: {message}")]
    AlreadyExists { field: String, message: String },
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Coordination (locks, leases) failed.
    #[error("coordination: {0}")]
    Coord(#[from] CoordError),
    /// A status from the kit (authentication, pagination) passed through unchanged.
    #[error("{0}")]
    Status(#[from] Status),
}

/// Results of the profile service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// `INVALID_ARGUMENT` naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `NOT_FOUND` for an entity of `kind`.
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// A domain field error, its field put under the API path `prefix` (e.g. `event.`).
    pub fn field(prefix: &str, error: &FieldError) -> Self {
        let field = format!("{prefix}{}", error.field());
        let message = error.to_string();
        // The domain message starts with its own field name; keep only the reason.
        let reason = message
            .split_once(": ")
            .map(|(_, reason)| reason.to_owned())
            .unwrap_or(message);
        Self::invalid(field, reason)
    }

    /// The first of several domain field errors (the message lists them all).
    pub fn fields(prefix: &str, errors: &FieldErrors) -> Self {
        match errors.0.first() {
            Some(first) => {
                let field = format!("{prefix}{}", first.field());
                Self::invalid(field, errors.to_string())
            }
            None => Self::invalid(prefix.trim_end_matches('.'), "invalid"),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        Self::Db(DbError::Db(error))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument { field, message } => status::invalid_argument(&field, message),
            Error::NotFound { kind, id } => status::not_found(kind, &id),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition { field, message } => {
                status::failed_precondition(&field, message)
            }
            Error::AlreadyExists { field, message } => status::already_exists(&field, message),
            Error::Db(e) => status::internal(e),
            Error::Coord(e) => status::unavailable("coordination", e),
            Error::Status(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_fields_are_put_under_the_api_path() {
        let e = Error::field(
            "event.",
            &FieldError::NegativeAmount {
                field: "amount".into(),
                amount_fen: -1,
            },
        );
        let s = Status::from(e);
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            maitre_kit::error::field_of(&s).as_deref(),
            Some("event.amount")
        );
        assert!(
            s.message().contains("must not be negative"),
            "{}",
            s.message()
        );
    }
}
