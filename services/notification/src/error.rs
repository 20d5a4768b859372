//! The service's one error type and its single mapping to `tonic::Status` (kit::error constructors).

use maitre_kit::{db::DbError, error};
use tonic::Status;

use crate::domain::error::{DomainError, TemplateError};

/// Every failure of the notification service's edge and pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field with a bad value (names the proto field path).
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// A template that cannot be saved or rendered.
    #[error("{field}: {source}")]
    Template {
        field: &'static str,
        source: TemplateError,
    },
    /// Another domain rule refused the value.
    #[error("{field}: {source}")]
    Domain { field: String, source: DomainError },
    /// An id unknown in the caller's chain.
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    /// The entity's state forbids the call.
    #[error("{field}: {message}")]
    Precondition {
        field: &'static str,
        message: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Coordination (Redis) failed.
    #[error("coordination: {0}")]
    Coord(#[from] maitre_kit::coord::CoordError),
    /// An upstream service failed.
    #[error("{what}: {cause}")]
    Upstream { what: &'static str, cause: String },
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Db(DbError::Db(e))
    }
}

impl Error {
    /// An invalid request field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidField { field, message } => error::invalid_argument(&field, message),
            Error::Template { field, source } => {
                error::invalid_argument(&format!("template.{field}"), source.to_string())
            }
            Error::Domain { field, source } => error::invalid_argument(&field, source.to_string()),
            Error::NotFound { kind, id } => error::not_found(kind, &id),
            Error::Precondition { field, message } => error::failed_precondition(field, message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::Db(e) => error::internal(e),
            Error::Coord(e) => error::unavailable("coordination", e),
            Error::Upstream { what, cause } => error::unavailable(what, cause),
        }
    }
}

/// Result of the service's own functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;
