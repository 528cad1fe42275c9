//! Every failure as JSON with an HTTP status and a stable dotted code:
//! `{"error":{"code":"language.unknown","message":"…"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use monaco_executor::ExecutorError;
use serde_json::{json, Value};

/// An API error: status, code, message and optional details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<(&'static str, Value)>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The same error with one more field in its body.
    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.details = Some((key, value));
        self
    }

    /// `400` for a request body that is not acceptable.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404` for an unknown execution.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "execution.not_found",
            "Could not find the execution",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some((key, value)) = &self.details {
            error[*key] = value.clone();
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "1"));
        }
        response.json(json!({ "error": error }))
    }
}

impl From<ExecutorError> for ApiError {
    fn from(e: ExecutorError) -> Self {
        let status = match &e {
            ExecutorError::QueueFull | ExecutorError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ExecutorError::NotFound => StatusCode::NOT_FOUND,
            ExecutorError::Finished => StatusCode::CONFLICT,
            ExecutorError::CodeTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ExecutorError::InputBufferFull => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        let known = match &e {
            ExecutorError::LanguageUnknown { known, .. } => Some(json!(known)),
            _ => None,
        };
        let err = ApiError::new(status, e.code(), e.to_string());
        match known {
            Some(k) => err.with("known", k),
            None => err,
        }
    }
}
