//! Every failure as JSON with an HTTP status and a stable dotted code:
//! `{"error":{"code":"language.unknown","message":"…"}}`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use monaco_executor::{BatchError, ErrorCode, ExecutorError};
use serde_json::{json, Value};

/// An API error: status, code, message and optional details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    details: Vec<(&'static str, Value)>,
    /// Seconds for `Retry-After` (a 503 gets 1 unless said otherwise).
    retry_after: Option<u64>,
}

/// The HTTP status every error code is answered with. Codes that only
/// appear in a result's `error` (how an execution ended, not a refused
/// request) would be a 500 if they ever were one.
pub fn http_status(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        LanguageUnknown
        | RequestMalformedJson
        | RequestInvalid
        | RequestLanguageMissing
        | RequestCodeMissing
        | RequestInvalidArgument
        | RequestInvalidFile
        | RequestInvalidInput
        | RequestInvalidTests
        | RequestInvalidChecker
        | RequestInvalidQuery
        | RequestBodyUnreadable
        | RequestRejected
        | LimitsZero
        | LimitsBelowMinimum
        | LimitsAboveMaximum
        | LimitsInvalid
        | WebsocketInvalidMessage
        | WebsocketHandshake
        | CallbackInvalidUrl
        | CallbackForbiddenAddress
        | CallbackUnsigned => StatusCode::BAD_REQUEST,
        MetricsUnauthorized => StatusCode::UNAUTHORIZED,
        RequestCodeTooLarge | RequestTooLarge | RequestArgsTooLarge => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        RequestUnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ExecutionNotFound | RouteNotFound => StatusCode::NOT_FOUND,
        RouteMethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ExecutionFinished => StatusCode::CONFLICT,
        AuthMissing | AuthInvalid => StatusCode::UNAUTHORIZED,
        InputBufferFull | RateLimited | QuotaRunning | QuotaQueued => StatusCode::TOO_MANY_REQUESTS,
        QueueFull | ServerShuttingDown | BrokerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ExecutionCancelled
        | ExecutionDuplicateId
        | ServerError
        | DockerUnavailable
        | DockerAttach
        | DockerUpdate
        | SandboxLost
        | SandboxAgent
        | SandboxProtocol
        | SandboxInvalidJob
        | SchedulerPanic
        | SchedulerAborted
        | CheckerFailed
        | WorkerLost
        | WorkerRedeliveryExhausted => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ApiError {
    /// An error with a code and a message; the status is the code's.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: http_status(code),
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// The same error telling the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same error with another status (for responses refused before
    /// Monaco's handlers, which keep the status they were given).
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same error with one more field in its body.
    pub fn with(mut self, key: &'static str, value: Value) -> Self {
        self.details.push((key, value));
        self
    }

    /// This error, met in item `index` of a batch, as the refusal of the
    /// whole batch: `request.invalid` naming the item (`index`), with the
    /// item's own code as `itemCode` and its message and fields kept.
    pub(crate) fn in_item(self, index: usize) -> Self {
        let mut batch = ApiError::new(
            ErrorCode::RequestInvalid,
            format!("Submission {index}: {}", self.message),
        )
        .with("index", json!(index))
        .with("itemCode", json!(self.code));
        batch.details.extend(self.details);
        batch
    }

    /// `404` for an unknown execution.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::ExecutionNotFound, "Could not find the execution")
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
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
        for (key, value) in &self.details {
            error[*key] = value.clone();
        }
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header(("Retry-After", seconds.to_string()));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "1"));
        }
        if self.code == ErrorCode::MetricsUnauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.json(json!({ "error": error }));
        // For the metrics' count of refusals by code.
        response.extensions_mut().insert(self.code);
        response
    }
}

impl From<ExecutorError> for ApiError {
    fn from(e: ExecutorError) -> Self {
        let err = ApiError::new(e.code(), e.to_string());
        match &e {
            ExecutorError::LanguageUnknown { known, .. } => err.with("known", json!(known)),
            _ => err,
        }
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Invalid { index, source } => ApiError::from(source).in_item(index),
            BatchError::Refused(source) => source.into(),
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
        let mut json = ApiError::new(code_for(status), message)
            .with_status(status)
            .error_response();
        let own: Vec<_> = json.headers().keys().cloned().collect();
        for (name, value) in headers.iter().filter(|(n, _)| !own.contains(n)) {
            json.headers_mut().append(name.clone(), value.clone());
        }
        Ok(ServiceResponse::new(req, json).map_body(|_, body| EitherBody::right(body)))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's tables of error codes list every code, each with the
    /// status it is answered with (`—` for codes only seen in results'
    /// `error`, never as a response's status).
    #[test]
    fn the_readme_lists_every_code_with_its_status() {
        let readme = include_str!("../../../README.md");
        let mut listed = std::collections::BTreeMap::new();
        for line in readme.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, code, status, ..] = cells[..] else {
                continue;
            };
            let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`')) else {
                continue;
            };
            let Ok(code) = code.parse::<ErrorCode>() else {
                continue;
            };
            assert!(listed.insert(code, status).is_none(), "{code} twice");
        }
        for &code in ErrorCode::ALL {
            let status = listed
                .get(&code)
                .unwrap_or_else(|| panic!("README.md does not list {code}"));
            let want = http_status(code);
            if want == StatusCode::INTERNAL_SERVER_ERROR && code != ErrorCode::ServerError {
                assert_eq!(
                    *status, "—",
                    "{code} is reported in results, not as a status"
                );
            } else {
                assert_eq!(*status, want.as_str(), "README's status of {code}");
            }
        }
    }
}
