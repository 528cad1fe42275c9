//! Every stable error code Monaco reports, in one place.
//!
//! Clients switch on these dotted strings (`language.unknown`,
//! `sandbox.lost`); people read the message beside them. A code is never
//! renamed once it has shipped. The enum is exhaustive on purpose: a new
//! code does not compile until the HTTP layer gives it a status and the
//! README lists it. The HTTP status each code gets lives with
//! the HTTP layer; this table only says what the code means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, )+) => {
        /// A stable dotted error code, serialised as its string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            /// Every code, in the order of this table.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            /// The dotted string clients see.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $code, )+
                }
            }
        }
    };
}

error_codes! {
    /// The language is not in the registry.
    LanguageUnknown = "language.unknown",
    /// The body is not JSON, not UTF-8, or nested too deep.
    RequestMalformedJson = "request.malformed_json",
    /// The body is JSON of the wrong shape (a wrong type, an unknown field).
    RequestInvalid = "request.invalid",
    /// `language` is missing.
    RequestLanguageMissing = "request.language_missing",
    /// `code` is missing or empty.
    RequestCodeMissing = "request.code_missing",
    /// The code and its files are larger than allowed.
    RequestCodeTooLarge = "request.code_too_large",
    /// The body is larger than allowed.
    RequestTooLarge = "request.too_large",
    /// Too many program arguments, or too many bytes of them.
    RequestArgsTooLarge = "request.args_too_large",
    /// A program argument cannot be passed (it holds a NUL).
    RequestInvalidArgument = "request.invalid_argument",
    /// An extra file's name is not acceptable.
    RequestInvalidFile = "request.invalid_file",
    /// `input` and `inputBase64` together, or bad base64.
    RequestInvalidInput = "request.invalid_input",
    /// `tests` that cannot be run: too many, interactive, or a bad case.
    RequestInvalidTests = "request.invalid_tests",
    /// A `checker` that cannot be used (bad tolerance, no code).
    RequestInvalidChecker = "request.invalid_checker",
    /// The query string cannot be read.
    RequestInvalidQuery = "request.invalid_query",
    /// The body's `Content-Type` is not JSON.
    RequestUnsupportedMediaType = "request.unsupported_media_type",
    /// The body could not be read from the connection.
    RequestBodyUnreadable = "request.body_unreadable",
    /// Refused before Monaco's handlers (a CORS refusal, say).
    RequestRejected = "request.rejected",
    /// A limit is zero.
    LimitsZero = "limits.zero",
    /// A limit is below the smallest value the sandbox can run with.
    LimitsBelowMinimum = "limits.below_minimum",
    /// A limit is above the server's maximum.
    LimitsAboveMaximum = "limits.above_maximum",
    /// `timeout` is not a positive number of seconds, or clashes with `limits.wall_ms`.
    LimitsInvalid = "limits.invalid",
    /// No such execution (or it was forgotten).
    ExecutionNotFound = "execution.not_found",
    /// The execution has finished; it takes no more input or cancels.
    ExecutionFinished = "execution.finished",
    /// The execution was cancelled on request.
    ExecutionCancelled = "execution.cancelled",
    /// An execution id was submitted twice.
    ExecutionDuplicateId = "execution.duplicate_id",
    /// Too much input is waiting for the execution to start.
    InputBufferFull = "input.buffer_full",
    /// The queue is full; try again later.
    QueueFull = "queue.full",
    /// API keys are configured and the request presented none.
    AuthMissing = "auth.missing",
    /// The presented API key (or terminal token) is not a valid one.
    AuthInvalid = "auth.invalid",
    /// The caller submitted faster than its rate allows; try again later.
    RateLimited = "rate.limited",
    /// The caller's key has as many executions in flight as it may.
    QuotaRunning = "quota.running",
    /// The caller's key has as many executions waiting as it may.
    QuotaQueued = "quota.queued",
    /// The server is shutting down.
    ServerShuttingDown = "server.shutting_down",
    /// An unexpected server error outside Monaco's handlers.
    ServerError = "server.error",
    /// No route for this path.
    RouteNotFound = "route.not_found",
    /// The route exists, the method does not.
    RouteMethodNotAllowed = "route.method_not_allowed",
    /// A WebSocket client message that cannot be read.
    WebsocketInvalidMessage = "websocket.invalid_message",
    /// A request to the terminal route that is not a WebSocket handshake.
    WebsocketHandshake = "websocket.handshake",
    /// The Docker engine did not answer or refused a request.
    DockerUnavailable = "docker.unavailable",
    /// The stream attached to the container failed.
    DockerAttach = "docker.attach",
    /// The engine refused to set the run step's limits.
    DockerUpdate = "docker.update",
    /// The sandbox ended before reporting a result.
    SandboxLost = "sandbox.lost",
    /// The agent in the sandbox reported a failure of its own.
    SandboxAgent = "sandbox.agent",
    /// The agent sent something that is not the protocol.
    SandboxProtocol = "sandbox.protocol",
    /// The job given to the sandbox is malformed.
    SandboxInvalidJob = "sandbox.invalid_job",
    /// A checker program failed (an exit code other than 0, 1 or 2, or it
    /// did not compile).
    CheckerFailed = "checker.failed",
    /// A worker panicked while running the execution.
    SchedulerPanic = "scheduler.panic",
    /// The worker running the execution was stopped.
    SchedulerAborted = "scheduler.aborted",
    /// The shared store of a cluster (Redis) did not answer.
    BrokerUnavailable = "broker.unavailable",
    /// The worker node running the execution stopped renewing its lease
    /// (it died or was cut off); the execution was ended without it.
    WorkerLost = "worker.lost",
    /// The job was taken by workers that died before starting it, three
    /// times; it is not handed out again.
    WorkerRedeliveryExhausted = "worker.redelivery_exhausted",
    /// `callbackUrl` is not an http(s) URL with a host, holds credentials,
    /// or is too long.
    CallbackInvalidUrl = "callback.invalid_url",
    /// `callbackUrl`'s host is (or resolves to) an address webhooks may not
    /// go to: loopback, private, link-local, unique-local, CGNAT, multicast,
    /// unspecified or reserved.
    CallbackForbiddenAddress = "callback.forbidden_address",
    /// A `callbackUrl` was given but no webhook secret is configured to sign it.
    CallbackUnsigned = "callback.unsigned",
    /// `/metrics` without the configured bearer token, or with another one.
    MetricsUnauthorized = "metrics.unauthorized",
}

impl ErrorCode {
    /// The code whose string is `s`.
    pub fn from_code(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of Monaco's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::from_code(s).ok_or_else(|| UnknownErrorCode(s.to_string()))
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_dotted_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} is listed twice");
            let (area, name) = s.split_once('.').expect("dotted");
            assert!(!area.is_empty() && !name.is_empty() && !name.contains('.'));
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), c);
        }
        assert!("no.such_code".parse::<ErrorCode>().is_err());
    }
}
