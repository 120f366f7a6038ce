//! The one error shape every JSON endpoint returns:
//! `{"error": {"code": "...", "message": "...", "field": "...", "request_id": "..."}}`.
//! `code` is stable (scripts match on it); `message` says what, where, why
//! and what to do.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use murakumo_app::UseCaseError;
use murakumo_store::StoreError;
use serde::Serialize;

use crate::observe::current_request_id;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `not_found`, `forbidden`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request id, also in the `x-request-id` header and the server log.
    pub request_id: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid", message)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn route_not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "このURLの機能はありません。一覧は /api/v1/openapi.json にあります",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                request_id: current_request_id(),
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::TenantNotFound(_) => ApiError::not_found(e.to_string()),
            StoreError::TenantExists(_)
            | StoreError::Conflict(_)
            | StoreError::LedgerMoved { .. } => ApiError::conflict(e.to_string()),
            StoreError::Chain { .. } | StoreError::Corrupt { .. } => ApiError {
                code: "integrity",
                ..ApiError::internal(e.to_string())
            },
            StoreError::Database(_)
            | StoreError::NotCommitted(_)
            | StoreError::Migration(_)
            | StoreError::DataDir { .. }
            | StoreError::Setup(_)
            | StoreError::PlatformChainMissing
            | StoreError::NoPlatformKey
            | StoreError::PlatformKey { .. } => {
                // Details go to the log, not to the client.
                tracing::error!(error = %e, "storage failure");
                ApiError {
                    code: "storage",
                    ..ApiError::internal(
                        "データベースで処理を完了できませんでした。変更は行われていません。詳細はサーバーのログにあります(基盤運用者に連絡してください)",
                    )
                }
            }
            StoreError::NotPrimary { .. } => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "read_only",
                message: e.to_string(),
                field: None,
                retry_after_secs: None,
            },
            StoreError::Event(_) | StoreError::Entry(_) => ApiError::internal(e.to_string()),
        }
    }
}

/// The one place where a use case's refusal becomes an HTTP answer.
impl From<UseCaseError> for ApiError {
    fn from(e: UseCaseError) -> ApiError {
        match e {
            UseCaseError::Invalid { field, message } => ApiError::invalid(&field, message),
            UseCaseError::BadRequest(m) => ApiError::bad_request(m),
            UseCaseError::Forbidden { message, field } => ApiError {
                field,
                ..ApiError::forbidden(message)
            },
            UseCaseError::NotFound(m) => ApiError::not_found(m),
            UseCaseError::Conflict { message, field } => ApiError {
                field,
                ..ApiError::conflict(message)
            },
            UseCaseError::Unavailable {
                code,
                message,
                retry_after_secs,
            } => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code,
                message,
                field: None,
                retry_after_secs,
            },
            UseCaseError::Store(e) => e.into(),
            UseCaseError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let text = r.body_text();
        match json_data_field(&text) {
            // A value of the wrong type, or none, where the request needs one: name the item.
            Some(field) => ApiError::invalid(
                &field,
                format!(
                    "「{}」を正しい形式で入力してください(空欄にはできません): {text}",
                    crate::ui::field_label(&field)
                ),
            ),
            None => ApiError::bad_request(format!(
                "送信された内容(JSON)がこの機能の形式に合いません: {text}"
            )),
        }
    }
}

/// The request's item that a JSON body's value failed on, from axum's rejection text
/// (`…target type: family_name: invalid type: null…`, `…target type: missing field `x`…`).
fn json_data_field(text: &str) -> Option<String> {
    let rest = text.split_once("into the target type: ")?.1;
    let name = match rest.strip_prefix("missing field `") {
        Some(missing) => missing.split_once('`')?.0,
        None => rest.split_once(": ")?.0,
    };
    let item = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']');
    (!name.is_empty() && name != "." && name.chars().all(item)).then(|| name.to_string())
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        ApiError::bad_request(format!(
            "検索条件(クエリ文字列)が正しくありません: {}",
            r.body_text()
        ))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::bad_request(format!("URLの指定が正しくありません: {}", r.body_text()))
    }
}

/// `Json` whose rejections use our error shape.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Query` whose rejections use our error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections use our error shape.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod json_tests {
    use super::json_data_field;

    #[test]
    fn the_item_a_json_value_failed_on_is_named() {
        let prefix = "Failed to deserialize the JSON body into the target type: ";
        for (detail, field) in [
            (
                "family_name: invalid type: null, expected a string at line 1 column 144",
                Some("family_name"),
            ),
            (
                "members[1].birth_date: premature end of input at line 1 column 9",
                Some("members[1].birth_date"),
            ),
            (
                "missing field `sex_code` at line 1 column 20",
                Some("sex_code"),
            ),
            (
                "invalid type: integer `1`, expected a map at line 1 column 1",
                None,
            ),
        ] {
            assert_eq!(
                json_data_field(&format!("{prefix}{detail}")).as_deref(),
                field,
                "{detail}"
            );
        }
        assert_eq!(
            json_data_field("Expected request with `Content-Type: application/json`"),
            None
        );
    }
}
