//! Why a use case refused or failed. The faces turn it into what their user reads: the
//! server into an HTTP status and the JSON error shape (in one place, `error.rs` there),
//! the CLI into a message and a non-zero exit. Messages are for a clerk or an operator:
//! what, where, why and what to do (in Japanese where a clerk reads them).

use murakumo_store::StoreError;

pub type Result<T, E = UseCaseError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    /// An input is wrong; `field` names it (a form marks it).
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The request as a whole cannot be done (no one field is at fault).
    #[error("{0}")]
    BadRequest(String),
    /// The actor may not do this (a missing role, four eyes, 支援措置).
    #[error("{message}")]
    Forbidden {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    /// The data does not allow it now (already decided, already registered, in use).
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    /// Not on this node, or not now: `code` is stable (`use_primary`, `rebuilding`, …).
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after_secs: Option<u64>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of the platform, not of the request.
    #[error("{0}")]
    Internal(String),
}

impl UseCaseError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        UseCaseError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        UseCaseError::Forbidden {
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        UseCaseError::NotFound(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        UseCaseError::Conflict {
            message: message.into(),
            field: None,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        UseCaseError::Internal(message.into())
    }

    /// The same error said to be about `field` (a form marks it).
    pub fn at(self, field: &str) -> Self {
        match self {
            UseCaseError::Forbidden { message, .. } => UseCaseError::Forbidden {
                message,
                field: Some(field.to_string()),
            },
            UseCaseError::Conflict { message, .. } => UseCaseError::Conflict {
                message,
                field: Some(field.to_string()),
            },
            UseCaseError::Invalid { message, .. } => UseCaseError::invalid(field, message),
            other => other,
        }
    }

    /// The field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            UseCaseError::Invalid { field, .. } => Some(field),
            UseCaseError::Forbidden { field, .. } | UseCaseError::Conflict { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }
}

impl From<murakumo_resident::ResidentError> for UseCaseError {
    fn from(e: murakumo_resident::ResidentError) -> Self {
        use murakumo_resident::ResidentError;
        match e {
            ResidentError::Invalid { field, reason } => UseCaseError::invalid(field, reason),
            ResidentError::NotFound(_) => UseCaseError::not_found(e.to_string()),
            ResidentError::AlreadyRegistered(_) | ResidentError::Removed { .. } => {
                UseCaseError::conflict(e.to_string())
            }
        }
    }
}

impl From<murakumo_seal::SealError> for UseCaseError {
    fn from(e: murakumo_seal::SealError) -> Self {
        use murakumo_seal::SealError;
        match e {
            SealError::Invalid { field, reason } => UseCaseError::invalid(field, reason),
            SealError::NotFound(_) => UseCaseError::not_found(e.to_string()),
            SealError::Conflict(m) => UseCaseError::conflict(m),
        }
    }
}
