//! The one error type of the assignment service and its single mapping to gRPC statuses
//! (through `maitre_kit::error`, so INVALID_ARGUMENT and FAILED_PRECONDITION name a field).

use maitre_kit::{coord::CoordError, db::DbError, error as status};
use tonic::Status;

use crate::domain::AssignmentError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the domain refused; `field` is the request field it concerns.
    #[error("{field}: {source}")]
    Rule {
        field: &'static str,
        source: AssignmentError,
    },
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{field}: {message}")]
    FailedPrecondition {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    PermissionDenied(String),
    /// Another replica changed the customer between our read and our conditional update;
    /// the caller retries the whole decision.
    #[error("customer {customer_id} changed concurrently")]
    Conflict { customer_id: String },
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Kit(#[from] DbError),
    #[error("coordination: {0}")]
    Coord(#[from] CoordError),
    #[error("corrupt stored {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// A status built by the kit (pagination), passed through as is.
    #[error("{}", .0.message())]
    Status(Box<Status>),
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    pub fn precondition(field: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            field,
            message: message.into(),
        }
    }

    /// A domain refusal about the request field `field`.
    pub fn rule(field: &'static str) -> impl FnOnce(AssignmentError) -> Self {
        move |source| Self::Rule { field, source }
    }
}

/// The proto field path of a policy field the domain names.
fn policy_field(domain_field: &str) -> String {
    match domain_field {
        "spend_window_days" => "policy.value_window_days".to_owned(),
        other => format!("policy.{other}"),
    }
}

fn rule_status(field: &str, source: &AssignmentError) -> Status {
    let message = source.to_string();
    match source {
        AssignmentError::NonPositiveThreshold { field, .. }
        | AssignmentError::ZeroNotAllowed { field }
        | AssignmentError::UnknownTimeZone { field, .. } => {
            status::invalid_argument(&policy_field(field), message)
        }
        AssignmentError::UnknownManager { manager_id } => {
            status::not_found("manager", manager_id.as_str())
        }
        AssignmentError::DuplicateManager { .. }
        | AssignmentError::TransferToSameManager { .. }
        | AssignmentError::NoTransferTargets { .. } => status::invalid_argument(field, message),
        AssignmentError::ManagerLeft { .. }
        | AssignmentError::ManagerAtCapacity { .. }
        | AssignmentError::InsufficientCapacity { .. }
        | AssignmentError::NoEligibleManagers { .. } => status::failed_precondition(field, message),
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match &error {
            Error::Rule { field, source } => rule_status(field, source),
            Error::InvalidArgument { field, message } => status::invalid_argument(field, message),
            Error::NotFound { kind, id } => status::not_found(kind, id),
            Error::FailedPrecondition { field, message } => {
                status::failed_precondition(field, message.clone())
            }
            Error::PermissionDenied(message) => Status::permission_denied(message.clone()),
            Error::Conflict { .. } => Status::aborted(error.to_string()),
            Error::Coord(cause) => status::unavailable("coordination", cause),
            Error::Status(status) => status.as_ref().clone(),
            Error::Db(_) | Error::Kit(_) | Error::Corrupt { .. } => status::internal(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maitre_kit::error::field_of;
    use tonic::Code;

    #[test]
    fn threshold_errors_name_the_policy_field() {
        let status = Status::from(Error::Rule {
            field: "policy",
            source: AssignmentError::NonPositiveThreshold {
                field: "value_lock_threshold_fen",
                value_fen: 0,
            },
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            field_of(&status).as_deref(),
            Some("policy.value_lock_threshold_fen")
        );
        let status = Status::from(Error::Rule {
            field: "policy",
            source: AssignmentError::ZeroNotAllowed {
                field: "spend_window_days",
            },
        });
        assert_eq!(
            field_of(&status).as_deref(),
            Some("policy.value_window_days")
        );
    }

    #[test]
    fn transfer_refusals_name_the_target_field() {
        let status = Status::from(Error::Rule {
            field: "to_manager_id",
            source: AssignmentError::ManagerLeft {
                manager_id: "wang".into(),
            },
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(field_of(&status).as_deref(), Some("to_manager_id"));
        let status = Status::from(Error::Rule {
            field: "to_manager_id",
            source: AssignmentError::UnknownManager {
                manager_id: "ghost".into(),
            },
        });
        assert_eq!(status.code(), Code::NotFound);
    }
}
