//! Errors as RFC 9457 problem details (`application/problem+json`) with a stable `code`:
//! the one place where a tool's [`ErrorKind`] becomes an HTTP status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mnemo_engine::tools::{ErrorKind, ToolError};
use schemars::JsonSchema;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` plus `code` here).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the status.
    pub title: String,
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable and machine-readable: `invalid_value`, `not_found`, `unauthorized`, ...
    pub code: String,
}

/// An error a handler returns.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds to send as `Retry-After` (a 429 or 503 a client should retry).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same error, telling the client when to retry.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }
}

impl From<ToolError> for ApiError {
    fn from(e: ToolError) -> Self {
        let status = match e.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::ModelUnavailable => StatusCode::BAD_GATEWAY,
            ErrorKind::ModelRejected => StatusCode::BAD_REQUEST,
            ErrorKind::ModelMisconfigured => StatusCode::BAD_GATEWAY,
            ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = ApiError::new(status, e.code, e.message);
        // The database is busy or down for a moment: say when to try again.
        if e.kind == ErrorKind::Busy {
            error.retry_after(1)
        } else {
            error
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("about:blank#{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mnemo\""),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnemo_core::{Error, ModelErrorKind};

    fn status_and_code(kind: ModelErrorKind) -> (StatusCode, &'static str) {
        let e = ApiError::from(ToolError::from(Error::ModelCall {
            kind,
            message: "provider said no".into(),
        }));
        (e.status, e.code)
    }

    #[test]
    fn a_rate_limited_model_answers_429() {
        assert_eq!(
            status_and_code(ModelErrorKind::RateLimited),
            (StatusCode::TOO_MANY_REQUESTS, "model_rate_limited")
        );
    }

    #[test]
    fn an_unreachable_database_answers_503_with_retry_after() {
        let e = ApiError::from(ToolError::from(mnemo_core::Error::Unavailable(
            "cannot connect".into(),
        )));
        assert_eq!(
            (e.status, e.code, e.retry_after),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                Some(1)
            )
        );
        let res = e.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn an_unavailable_model_answers_502() {
        assert_eq!(
            status_and_code(ModelErrorKind::Unavailable),
            (StatusCode::BAD_GATEWAY, "model_unavailable")
        );
    }

    #[test]
    fn a_request_the_model_rejected_answers_400() {
        assert_eq!(
            status_and_code(ModelErrorKind::BadRequest),
            (StatusCode::BAD_REQUEST, "model_bad_request")
        );
    }

    #[test]
    fn auth_and_config_answer_502_with_their_own_codes() {
        assert_eq!(
            status_and_code(ModelErrorKind::Auth),
            (StatusCode::BAD_GATEWAY, "model_auth")
        );
        assert_eq!(
            status_and_code(ModelErrorKind::Config),
            (StatusCode::BAD_GATEWAY, "model_config")
        );
    }
}
