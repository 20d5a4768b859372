//! The tagging service's one error type and its one mapping to gRPC statuses (through
//! `maitre_kit::error`, so every INVALID_ARGUMENT names its field).

use maitre_kit::{db::DbError, error};

#[derive(Debug, thiserror::Error)]
pub enum TaggingError {
    /// Bad input, naming the request field (`tag.rule`, `segment.expression`…).
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// An id unknown in the caller's chain (another chain's ids included).
    #[error("{kind} `{id}` not found")]
    NotFound { kind: &'static str, id: String },
    /// The entity's state forbids the call.
    #[error("{field}: {message}")]
    FailedPrecondition { field: String, message: String },
    /// A tag name already used in the chain.
    #[error("tag name `{name}` is already used in this chain")]
    TagNameTaken { name: String },
    /// A store-scoped caller on a customer known at none of their stores.
    #[error("customer `{customer_id}` has no store in the caller's scope")]
    OutOfScope { customer_id: String },
    /// Tagging has not yet applied every profile event of the chain (a refit would fit
    /// part of the data); retry once `GET /v1/consumers` shows `tagging<-profile` caught up.
    #[error(
        "tagging is {pending_events} profile events behind (oldest {oldest_pending_age_ms} ms old); retry when tagging<-profile has caught up"
    )]
    Lagging {
        pending_events: u64,
        oldest_pending_age_ms: i64,
    },
    /// Profile could not say how far tagging is behind it.
    #[error("tagging's lag behind profile is unknown ({cause}); retry")]
    LagUnknown { cause: String },
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Storage(#[from] DbError),
    /// A status from the kit (authentication, role or store scope, paging).
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
}

impl TaggingError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        TaggingError::InvalidArgument {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: &str) -> Self {
        TaggingError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    pub fn precondition(field: &str, message: impl Into<String>) -> Self {
        TaggingError::FailedPrecondition {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<TaggingError> for tonic::Status {
    fn from(e: TaggingError) -> Self {
        match e {
            TaggingError::InvalidArgument { field, message } => {
                error::invalid_argument(&field, message)
            }
            TaggingError::NotFound { kind, id } => error::not_found(kind, &id),
            TaggingError::FailedPrecondition { field, message } => {
                error::failed_precondition(&field, message)
            }
            TaggingError::TagNameTaken { name } => {
                error::already_exists("tag.name", format!("`{name}` is already used"))
            }
            TaggingError::OutOfScope { customer_id } => tonic::Status::permission_denied(format!(
                "customer `{customer_id}` has no store in the caller's scope"
            )),
            lag @ (TaggingError::Lagging { .. } | TaggingError::LagUnknown { .. }) => {
                tracing::info!(error = %lag, "refit refused");
                tonic::Status::unavailable(lag.to_string())
            }
            TaggingError::Database(e) => error::internal(e),
            TaggingError::Storage(e) => error::internal(e),
            TaggingError::Status(status) => status,
        }
    }
}

pub type Result<T, E = TaggingError> = std::result::Result<T, E>;
