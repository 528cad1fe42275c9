//! Signed webhooks: a request's `callbackUrl` gets a `POST` of the same
//! JSON as `/api/result` when the execution ends.
//!
//! ```text
//! submit ── check_url (scheme, credentials, length; a literal or resolved
//!   │        host checked against address.rs) ── 400 callback.* when refused
//!   └─ watch(id) spawns one task per callback:
//!        wait for Finished ─▶ body = /api/result JSON
//!        attempt 1..=attempts:
//!          resolve the host once, check every address, connect only to
//!          those (reqwest's resolve override; no second lookup), no redirects,
//!          POST with X-Monaco-Signature: t=<unix>,v1=<hex HMAC-SHA256("<t>.<body>")>
//!          2xx → delivered · 429, 5xx, connection error, timeout → back off
//!          (backoff × 2^(n-1)) and retry · anything else → failed
//! ```
//!
//! The delivery state (`callback: {state, attempts, lastStatus}`) lives in
//! memory beside the results and is forgotten with them; a delivery still
//! pending when the server stops is lost with it (the README says so).

mod address;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use monaco_executor::{ErrorCode, ExecutionId, Executor, Sandbox};
use serde::Serialize;
use sha2::Sha256;
use url::{Host, Url};

use crate::ApiError;

/// The longest callback URL accepted, bytes.
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Monaco-Signature";

/// The webhook secret the caller's API key gives, put into the request's
/// extensions by whatever authenticated it; without one, the configured
/// [`WebhookConfig::secret`] signs.
#[derive(Clone)]
pub struct WebhookSecret(pub String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// How webhooks are signed and delivered.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Signs callbacks whose request brings no secret of its own
    /// (`MONACO_WEBHOOK_SECRET`). Without any secret a `callbackUrl` is
    /// refused (`callback.unsigned`): Monaco never sends unsigned webhooks.
    pub secret: Option<String>,
    /// Attempts per delivery at most (`MONACO_WEBHOOK_ATTEMPTS`, default 5).
    pub attempts: u32,
    /// Time one attempt may take (`MONACO_WEBHOOK_TIMEOUT_MS`, default 10 s).
    pub timeout: Duration,
    /// Wait before the second attempt, doubled before each later one
    /// (`MONACO_WEBHOOK_BACKOFF_MS`, default 1 s).
    pub backoff: Duration,
    /// Addresses allowed although not public (`MONACO_WEBHOOK_ALLOW`).
    pub allow: Vec<IpNet>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout)
            .field("backoff", &self.backoff)
            .field("allow", &self.allow)
            .finish()
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            secret: None,
            attempts: 5,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
            allow: Vec::new(),
        }
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: the execution runs, or attempts are left.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: a refusal that is not retried, or every attempt failed.
    Failed,
}

/// `callback` in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackStatus {
    /// Where the delivery is.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, when it did.
    pub last_error: Option<String>,
}

/// A checked callback: where to send, and the secret to sign with.
pub(crate) struct Callback {
    url: Url,
    secret: String,
}

/// The webhooks of one server: settings and every delivery's state.
pub struct Webhooks {
    config: WebhookConfig,
    states: Mutex<HashMap<ExecutionId, CallbackStatus>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Webhooks {
    /// Webhooks with these settings; deliveries are counted in `metrics`.
    pub fn new(config: WebhookConfig, metrics: Option<Arc<crate::metrics::Metrics>>) -> Self {
        Webhooks {
            config,
            states: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, CallbackStatus>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The delivery state of the execution's callback, if it has one.
    pub fn status(&self, id: ExecutionId) -> Option<CallbackStatus> {
        self.states().get(&id).cloned()
    }

    /// Checks a request's `callbackUrl` and picks its secret (the caller's
    /// key's, else the configured one): `None` without a URL.
    pub(crate) async fn check(
        &self,
        url: Option<String>,
        secret: Option<&WebhookSecret>,
    ) -> Result<Option<Callback>, ApiError> {
        let Some(url) = url else {
            return Ok(None);
        };
        let url = parse_url(&url)?;
        let secret = secret
            .map(|s| s.0.clone())
            .or_else(|| self.config.secret.clone())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::CallbackUnsigned,
                    "A `callbackUrl` needs a webhook secret to sign with, and none is configured \
                     (MONACO_WEBHOOK_SECRET)",
                )
            })?;
        // A literal address, or the addresses the name has now; a name that
        // does not resolve yet is checked again at delivery.
        match resolve(&url).await {
            Ok(addrs) => self.check_addrs(&addrs)?,
            Err(Unresolved::Lookup(_)) => {}
            Err(Unresolved::NoHost) => return Err(invalid_url("it has no host")),
        }
        Ok(Some(Callback { url, secret }))
    }

    fn check_addrs(&self, addrs: &[SocketAddr]) -> Result<(), ApiError> {
        for addr in addrs {
            let ip = addr.ip();
            if !address::permitted(ip, &self.config.allow) {
                let why = address::forbidden_reason(ip).unwrap_or("not allowed");
                return Err(ApiError::new(
                    ErrorCode::CallbackForbiddenAddress,
                    format!(
                        "The callback's host is {ip}, {why}: webhooks go only to public \
                         addresses unless MONACO_WEBHOOK_ALLOW lists it"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Delivers the callback of execution `id` once it ends, in a task of
    /// its own; its state reads `pending` from now on.
    pub(crate) fn watch<S: Sandbox>(
        self: &Arc<Self>,
        executor: Executor<S>,
        id: ExecutionId,
        callback: Callback,
    ) {
        let prune = {
            let mut states = self.states();
            // Forget the states of executions whose results are gone.
            let prune: Vec<ExecutionId> = if states.len() >= 1024 && states.len().is_power_of_two()
            {
                states
                    .iter()
                    .filter(|(_, s)| s.state != DeliveryState::Pending)
                    .map(|(id, _)| *id)
                    .collect()
            } else {
                Vec::new()
            };
            states.insert(
                id,
                CallbackStatus {
                    state: DeliveryState::Pending,
                    attempts: 0,
                    last_status: None,
                    last_error: None,
                },
            );
            prune
        };
        let webhooks = Arc::clone(self);
        tokio::spawn(async move {
            for old in prune {
                // Kept when the store cannot say (a broker down).
                if let Ok(None) = executor.status(old).await {
                    webhooks.states().remove(&old);
                }
            }
            let Ok(snapshot) = executor.wait(id).await else {
                webhooks.set(id, |s| {
                    s.state = DeliveryState::Failed;
                    s.last_error = Some("the execution was forgotten before it ended".into());
                });
                return;
            };
            let body =
                crate::dto::ResultResponse::from(&snapshot).with_callback(webhooks.status(id));
            let body = match serde_json::to_vec(&body) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(%id, error = %e, "could not serialise a webhook body");
                    return;
                }
            };
            webhooks.deliver(id, &callback, &body).await;
        });
    }

    fn set(&self, id: ExecutionId, change: impl FnOnce(&mut CallbackStatus)) {
        if let Some(s) = self.states().get_mut(&id) {
            change(s);
        }
    }

    async fn deliver(&self, id: ExecutionId, callback: &Callback, body: &[u8]) {
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            let result = self.attempt(callback, body).await;
            let (status, error) = match &result {
                Attempt::Answered(code) => (Some(*code), None),
                Attempt::Unreachable(e) | Attempt::Refused(e) => (None, Some(e.clone())),
            };
            let state = match result {
                Attempt::Answered(code) if (200..300).contains(&code) => DeliveryState::Delivered,
                Attempt::Answered(code) if code == 429 || code >= 500 => DeliveryState::Pending,
                Attempt::Unreachable(_) => DeliveryState::Pending,
                Attempt::Answered(_) | Attempt::Refused(_) => DeliveryState::Failed,
            };
            let state = if state == DeliveryState::Pending && attempt == attempts {
                DeliveryState::Failed
            } else {
                state
            };
            self.set(id, |s| {
                s.attempts = attempt;
                s.last_status = status;
                s.last_error = error.clone();
                s.state = state;
            });
            tracing::info!(%id, attempt, ?status, error = error.as_deref(), ?state, "webhook attempt");
            if state != DeliveryState::Pending {
                if let Some(m) = &self.metrics {
                    m.webhook_delivery(state == DeliveryState::Delivered);
                }
                return;
            }
            let wait = self
                .config
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16));
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: resolve once, check, connect to what was checked.
    async fn attempt(&self, callback: &Callback, body: &[u8]) -> Attempt {
        let addrs = match resolve(&callback.url).await {
            Ok(a) => a,
            Err(Unresolved::Lookup(e)) => return Attempt::Unreachable(e),
            Err(Unresolved::NoHost) => return Attempt::Refused("no host".into()),
        };
        if let Err(e) = self.check_addrs(&addrs) {
            return Attempt::Refused(e.to_string());
        }
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.config.timeout)
            .no_proxy()
            .user_agent("Monaco-Webhook/1");
        if let Some(Host::Domain(name)) = callback.url.host() {
            // The only addresses reqwest may use for this name: the checked ones.
            client = client.resolve_to_addrs(name, &addrs);
        }
        let client = match client.build() {
            Ok(c) => c,
            Err(e) => return Attempt::Unreachable(format!("could not set up the client: {e}")),
        };
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let signature = format!("t={t},v1={}", sign(&callback.secret, t, body));
        let sent = client
            .post(callback.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => Attempt::Answered(response.status().as_u16()),
            Err(e) if e.is_timeout() => Attempt::Unreachable("timed out".into()),
            Err(e) => Attempt::Unreachable(error_chain(&e)),
        }
    }
}

enum Attempt {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer (connection refused, timeout, no address): retried.
    Unreachable(String),
    /// Not sent: the address is forbidden now. Not retried.
    Refused(String),
}

enum Unresolved {
    NoHost,
    Lookup(String),
}

/// The URL's addresses: its literal address, or its name resolved once.
async fn resolve(url: &Url) -> Result<Vec<SocketAddr>, Unresolved> {
    let port = url.port_or_known_default().unwrap_or(80);
    match url.host() {
        None => Err(Unresolved::NoHost),
        Some(Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(Host::Domain(name)) => {
            let lookup = tokio::net::lookup_host((name, port));
            match tokio::time::timeout(Duration::from_secs(5), lookup).await {
                Ok(Ok(addrs)) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    if addrs.is_empty() {
                        Err(Unresolved::Lookup(format!("{name} has no address")))
                    } else {
                        Ok(addrs)
                    }
                }
                Ok(Err(e)) => Err(Unresolved::Lookup(format!("could not resolve {name}: {e}"))),
                Err(_) => Err(Unresolved::Lookup(format!("resolving {name} timed out"))),
            }
        }
    }
}

fn invalid_url(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::CallbackInvalidUrl,
        format!("`callbackUrl` cannot be used: {why}"),
    )
}

/// An absolute http or https URL with a host, no credentials, not too long.
fn parse_url(raw: &str) -> Result<Url, ApiError> {
    if raw.len() > MAX_CALLBACK_URL_BYTES {
        return Err(invalid_url(&format!(
            "it is longer than {MAX_CALLBACK_URL_BYTES} bytes"
        )));
    }
    let url = Url::parse(raw).map_err(|e| invalid_url(&format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid_url(&format!(
            "the scheme is {:?}; use http or https",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid_url("it holds credentials; put none in the URL"));
    }
    if url.host().is_none() {
        return Err(invalid_url("it has no host"));
    }
    Ok(url)
}

/// Hex HMAC-SHA256 of `"<t>.<body>"` with `secret`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Compares secrets without leaking where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2 ("Jefe"), with the message split as t.body.
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        // "what do ya want for nothing?" = "what do ya want for nothing" + "?"
        // cannot be split at a '.', so check the framing against a plain HMAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac.finalize().into_bytes()), want);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        assert_eq!(
            sign("k", 1_700_000_000, b"{\"a\":1}"),
            hex::encode(mac.finalize().into_bytes())
        );
        assert_ne!(sign("k", 1, b"x"), sign("k", 2, b"x"));
        assert_ne!(sign("k", 1, b"x"), sign("l", 1, b"x"));
    }

    #[test]
    fn callback_urls_are_checked() {
        assert!(parse_url("https://example.com/hook?x=1").is_ok());
        assert!(parse_url("http://127.0.0.1:9/x").is_ok());
        for (bad, what) in [
            ("not a url", "not a URL"),
            ("ftp://example.com/x", "scheme"),
            ("file:///etc/passwd", "scheme"),
            ("javascript:alert(1)", "scheme"),
            ("https://user:pw@example.com/", "credentials"),
            ("https://user@example.com/", "credentials"),
            ("/relative/path", "not a URL"),
        ] {
            let err = parse_url(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(err.code(), ErrorCode::CallbackInvalidUrl);
            assert!(err.to_string().contains(what), "{bad}: {err}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_CALLBACK_URL_BYTES));
        assert_eq!(
            parse_url(&long).err().map(|e| e.code()),
            Some(ErrorCode::CallbackInvalidUrl)
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
