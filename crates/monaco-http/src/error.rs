//! Every failure as JSON with an HTTP status and a stable dotted code:
//! `{"error":{"code":"language.unknown","message":"…"}}`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use monaco_executor::{ErrorCode, ExecutorError};
use serde_json::{json, Value};

/// An API error: status, code, message and optional details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    details: Option<(&'static str, Value)>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
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
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `404` for an unknown execution.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::ExecutionNotFound,
            "Could not find the execution",
        )
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
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
            ExecutorError::CodeTooLarge { .. } | ExecutorError::ArgsTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
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

/// The code of an error response that did not come from a handler.
fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        404 => ErrorCode::RouteNotFound,
        405 => ErrorCode::RouteMethodNotAllowed,
        413 => ErrorCode::RequestTooLarge,
        415 => ErrorCode::RequestUnsupportedMediaType,
        400..=499 => ErrorCode::RequestRejected,
        _ => ErrorCode::ServerError,
    }
}

/// [`crate::json_errors`]' handler: an error response that is not JSON
/// becomes `{"error":{"code","message"}}`, its text (when short) the message.
pub(crate) fn to_json<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    Ok(ErrorHandlerResponse::Future(Box::pin(async move {
        let (req, res) = res.into_parts();
        let status = res.status();
        let mut headers = res.headers().clone();
        let text = actix_web::body::to_bytes_limited(res.into_body(), 1024)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let message = text.unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("The request failed")
                .to_string()
        });
        headers.remove(header::CONTENT_TYPE);
        headers.remove(header::CONTENT_LENGTH);
        let mut json = ApiError::new(status, code_for(status), message).error_response();
        let own: Vec<_> = json.headers().keys().cloned().collect();
        for (name, value) in headers.iter().filter(|(n, _)| !own.contains(n)) {
            json.headers_mut().append(name.clone(), value.clone());
        }
        Ok(ServiceResponse::new(req, json).map_body(|_, body| EitherBody::right(body)))
    })))
}
