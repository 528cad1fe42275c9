//! The HTTP side: one [`Client`] per command, with the server's base URL and
//! the API key, and [`ClientError`], whose variants decide the exit code.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::language::LanguageInfo;

/// How long one HTTP request may take (they all answer at once: none of
/// them waits for an execution).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection is kept for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Something between the client and an answer went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--server` / `MONACO_URL` is not a URL this client can use.
    #[error("{0}")]
    BadUrl(String),
    /// No answer: the server is down, the port closed, the host unknown.
    #[error("cannot reach the Monaco server at {url}: {cause}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// Why, with the underlying causes.
        cause: String,
    },
    /// The server answered with one of its JSON errors.
    #[error("{message} ({code})")]
    Server {
        /// The HTTP status.
        status: StatusCode,
        /// The stable dotted code (`language.unknown`).
        code: String,
        /// For people.
        message: String,
    },
    /// The server answered something that is not Monaco's API.
    #[error("unexpected answer from {url}: {status} {body}")]
    Unexpected {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The terminal's WebSocket failed.
    #[error("the terminal connection failed: {0}")]
    Terminal(String),
}

/// `error`, then each of its causes, joined by `: ` (reqwest's own message
/// alone says only "error sending request").
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// What finally went wrong under `error` ("Connection refused"), for a
/// request that got no answer.
fn root_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".into();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A Monaco server's API.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`, a path prefix
    /// allowed), sending `api_key` as a bearer token when given.
    pub fn new(base: &str, api_key: Option<String>) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if base.starts_with("https://") {
            return Err(ClientError::BadUrl(format!(
                "{base}: this build of monaco speaks plain http:// only (no TLS)"
            )));
        }
        if !base.starts_with("http://") {
            return Err(ClientError::BadUrl(format!(
                "{base} is not an http:// URL (e.g. http://127.0.0.1:8080)"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Below Monaco's keep-alive (5 s): a connection idle while the
            // terminal ran is not reused just as the server closes it.
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build()
            .map_err(|e| ClientError::BadUrl(with_causes(&e)))?;
        Ok(Client {
            http,
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }

    /// The API key, if one is configured.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The terminal's `ws://` URL for execution `id`, with its token.
    pub fn terminal_url(&self, id: &str, token: Option<&str>) -> String {
        let base = self.base.replacen("http://", "ws://", 1);
        let mut url = format!("{base}/api/ws/terminal/{id}");
        if let Some(t) = token {
            url.push_str("?token=");
            url.push_str(&percent_encode(t));
        }
        url
    }

    /// One request; the JSON body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let url = self.url(path);
        let mut request = self.http.request(method, &url);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            cause: root_cause(&e),
        })?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                cause: with_causes(&e),
            })?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            if let Some(v) = json {
                return Ok(v);
            }
        } else if let Some(error) = json.as_ref().and_then(|v| v.get("error")) {
            if let Some(code) = error.get("code").and_then(Value::as_str) {
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                return Err(ClientError::Server {
                    status,
                    code: code.to_string(),
                    message,
                });
            }
        }
        Err(ClientError::Unexpected {
            url,
            status,
            body: text.chars().take(300).collect(),
        })
    }

    /// `GET /api/languages`.
    pub async fn languages(&self) -> Result<Vec<LanguageInfo>, ClientError> {
        let url = self.url("/api/languages");
        let v = self.call(Method::GET, "/api/languages", None).await?;
        serde_json::from_value(v.clone()).map_err(|e| ClientError::Unexpected {
            url,
            status: StatusCode::OK,
            body: format!(
                "({e}) {}",
                v.to_string().chars().take(300).collect::<String>()
            ),
        })
    }

    /// `POST /api/submit`: `{id, status, message}` (and `terminalToken`
    /// where the server gives one).
    pub async fn submit(&self, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, "/api/submit", Some(body)).await
    }

    /// `GET /api/status/{id}`.
    pub async fn status(&self, id: &str) -> Result<Value, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/status/{}", percent_encode(id)),
            None,
        )
        .await
    }

    /// `GET /api/result/{id}`.
    pub async fn result(&self, id: &str) -> Result<Value, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/result/{}", percent_encode(id)),
            None,
        )
        .await
    }

    /// `DELETE /api/executions/{id}`.
    pub async fn cancel(&self, id: &str) -> Result<Value, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/api/executions/{}", percent_encode(id)),
            None,
        )
        .await
    }
}

/// Percent-encodes everything but unreserved characters (an id or a token
/// in a URL).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_base() {
        let c = Client::new("http://127.0.0.1:9/monaco/", None).unwrap();
        assert_eq!(
            c.url("/api/languages"),
            "http://127.0.0.1:9/monaco/api/languages"
        );
        assert_eq!(
            c.terminal_url("abc", Some("t/k+n")),
            "ws://127.0.0.1:9/monaco/api/ws/terminal/abc?token=t%2Fk%2Bn"
        );
        assert_eq!(
            c.terminal_url("abc", None),
            "ws://127.0.0.1:9/monaco/api/ws/terminal/abc"
        );
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        let e = Client::new("https://example.test", None).unwrap_err();
        assert!(e.to_string().contains("plain http://"), "{e}");
        let e = Client::new("127.0.0.1:8080", None).unwrap_err();
        assert!(e.to_string().contains("not an http:// URL"), "{e}");
        assert!(Client::new("http://[::1]:8080", Some(String::new()))
            .unwrap()
            .api_key()
            .is_none());
    }
}
