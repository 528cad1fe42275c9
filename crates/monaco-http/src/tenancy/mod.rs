//! Tenancy: who is calling, what they may see, and how much they may ask.
//!
//! - **Keys.** With a keys file ([`ApiKeys`]) every `/api` route but
//!   `/api/health` needs a key: `Authorization: Bearer <secret>` or
//!   `X-Api-Key: <secret>`. [`Tenancy::authenticate`] is the one function
//!   that turns a presented secret into the caller; the middleware on the
//!   `/api` scope ([`require_key`]) calls it and answers 401, and the
//!   [`Caller`] extractor hands its answer to handlers. Other route
//!   families feed it their own header.
//! - **Ownership.** An execution records the key that created it; any other
//!   key gets the same 404 as for an unknown id ([`Caller::may_see`]).
//! - **Terminal tokens.** Browsers cannot set headers on a WebSocket, so a
//!   submission answers a `terminalToken`: an HMAC-SHA256 of the execution
//!   id under a secret drawn at start, good for that one execution's
//!   terminal (`?token=`), compared in constant time.
//! - **Quotas.** Per key: `rate_per_minute` (a token bucket from
//!   `governor`, one per key), `max_running` (executions in flight),
//!   `max_queued` (of those, waiting); without keys, an optional rate per
//!   client address ([`address`]). Over a limit: 429 with `Retry-After`.
//!   Each key is counted on its own, so a key at its limit never slows
//!   another.
//!
//! Nothing here logs a secret.

pub mod address;
pub mod keys;

use std::future::{ready, Ready};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError};
use dashmap::DashMap;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use ipnet::IpNet;
use monaco_executor::{ErrorCode, ExecutionId, Executor, Sandbox, Status, Submitter};
use sha2::Sha256;

use crate::ApiError;
pub use keys::{ApiKey, ApiKeys, KeysError};

/// Addresses tracked by the per-address limiter before the idle ones are
/// dropped.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// The tenancy settings of the HTTP layer (part of [`crate::ApiConfig`]).
#[derive(Debug, Clone, Default)]
pub struct TenancyConfig {
    /// Without keys: submissions per minute per client address (none: no
    /// limit).
    pub rate_per_minute: Option<NonZeroU32>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The secret terminal tokens are derived from, shared by every API
    /// node of a cluster so that a token from one opens the terminal on
    /// another (`MONACO_TERMINAL_SECRET`); none: a random one per process.
    pub terminal_secret: Option<String>,
}

/// Tenancy's shared state: the keys (replaced on reload), the rate
/// limiters, each key's executions in flight, the terminal-token secret.
pub struct Tenancy {
    /// `None`: the API is open (no keys file).
    keys: Option<RwLock<Arc<ApiKeys>>>,
    config: TenancyConfig,
    token_secret: [u8; 32],
    /// One keyed bucket per distinct rate, keyed by key id.
    key_rates: DashMap<NonZeroU32, Arc<DefaultKeyedRateLimiter<String>>>,
    address_rate: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Each key's executions not known to be finished.
    in_flight: DashMap<String, Arc<tokio::sync::Mutex<Vec<ExecutionId>>>>,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("keys", &self.keys.as_ref().map(|k| read(k).len()))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn read(keys: &RwLock<Arc<ApiKeys>>) -> Arc<ApiKeys> {
    Arc::clone(&keys.read().unwrap_or_else(PoisonError::into_inner))
}

impl Tenancy {
    /// Tenancy with `keys` (`None`: an open API) and `config`.
    pub fn new(keys: Option<ApiKeys>, config: TenancyConfig) -> Tenancy {
        let mut token_secret = [0u8; 32];
        match &config.terminal_secret {
            Some(secret) => {
                let mut derive = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes a key of any length");
                derive.update(b"monaco-terminal-secret");
                token_secret.copy_from_slice(&derive.finalize().into_bytes());
            }
            None => getrandom::getrandom(&mut token_secret)
                .expect("the operating system gives random bytes for terminal tokens"),
        }
        let address_rate = config
            .rate_per_minute
            .filter(|_| keys.is_none())
            .map(|rate| RateLimiter::keyed(Quota::per_minute(rate)));
        Tenancy {
            keys: keys.map(|k| RwLock::new(Arc::new(k))),
            config,
            token_secret,
            key_rates: DashMap::new(),
            address_rate,
            in_flight: DashMap::new(),
        }
    }

    /// Whether keys are configured (every `/api` route but health needs one).
    pub fn has_keys(&self) -> bool {
        self.keys.is_some()
    }

    /// Replaces the keys (a reloaded file). A key removed stops working at
    /// once; executions keep running. Returns false, changing nothing,
    /// when the server started without keys.
    pub fn replace_keys(&self, new: ApiKeys) -> bool {
        let Some(keys) = &self.keys else {
            return false;
        };
        *keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        true
    }

    /// The caller presenting `secret`: `Ok(None)` when the API is open (no
    /// keys configured; a presented secret is then ignored), `Ok(Some(key))`
    /// for a valid key, else 401 `auth.missing` or `auth.invalid`.
    pub fn authenticate(&self, secret: Option<&str>) -> Result<Option<Arc<ApiKey>>, ApiError> {
        let Some(keys) = &self.keys else {
            return Ok(None);
        };
        let Some(secret) = secret else {
            return Err(ApiError::new(
                ErrorCode::AuthMissing,
                "An API key is required: send `Authorization: Bearer <key>` or `X-Api-Key: <key>`",
            ));
        };
        read(keys)
            .find(secret)
            .map(Some)
            .ok_or_else(|| ApiError::new(ErrorCode::AuthInvalid, "The API key is not valid"))
    }

    /// [`Tenancy::authenticate`] with the secret a request's headers present.
    pub fn authenticate_headers(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<ApiKey>>, ApiError> {
        if !self.has_keys() {
            return Ok(None);
        }
        let secret = presented_secret(headers).map_err(|why| {
            ApiError::new(
                ErrorCode::AuthInvalid,
                format!("The API key is not valid: {why}"),
            )
        })?;
        self.authenticate(secret)
    }

    /// The terminal token of execution `id`: hex HMAC-SHA256 of the id.
    pub fn terminal_token(&self, id: ExecutionId) -> String {
        hex::encode(self.token_mac(id).finalize().into_bytes())
    }

    /// Whether `token` is execution `id`'s terminal token (constant time).
    pub fn token_admits(&self, id: ExecutionId, token: &str) -> bool {
        let Ok(bytes) = hex::decode(token) else {
            return false;
        };
        self.token_mac(id).verify_slice(&bytes).is_ok()
    }

    fn token_mac(&self, id: ExecutionId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.token_secret)
            .expect("HMAC takes a key of any length");
        mac.update(b"monaco-terminal:");
        mac.update(id.to_string().as_bytes());
        mac
    }

    /// Admits `count` submissions of `caller` (from `peer`'s request) and
    /// submits them with `submit` while the caller's count is held, so two
    /// requests at once cannot both take the last place. Refuses with 429
    /// `quota.running`, `quota.queued` or `rate.limited`.
    pub async fn admit<S: Sandbox, T>(
        &self,
        executor: &Executor<S>,
        caller: &Caller,
        request: &HttpRequest,
        count: usize,
        submit: impl AsyncFnOnce(&Submitter) -> Result<(T, Vec<ExecutionId>), ApiError>,
    ) -> Result<T, ApiError> {
        let Some(key) = &caller.key else {
            self.check_address(request, count)?;
            return submit(&Submitter::default()).await.map(|(t, _)| t);
        };
        let slot = self
            .in_flight
            .entry(key.id.clone())
            .or_default()
            .value()
            .clone();
        // Held across the submit: the key's next request waits for it.
        let mut ids = slot.lock().await;
        let (mut queued, mut running) = (0, 0);
        let mut still = Vec::with_capacity(ids.len());
        for &id in ids.iter() {
            match executor.status(id).await? {
                Some(Status::Queued) => queued += 1,
                Some(Status::Running) => running += 1,
                _ => continue,
            }
            still.push(id);
        }
        *ids = still;
        if let Some(max) = key.max_running {
            if queued + running + count > max {
                return Err(ApiError::new(
                    ErrorCode::QuotaRunning,
                    format!(
                        "Key `{}` may have {max} executions in flight; it has {} and asks {count} more",
                        key.id,
                        queued + running
                    ),
                )
                .retry_after(1));
            }
        }
        if let Some(max) = key.max_queued {
            if queued + count > max {
                return Err(ApiError::new(
                    ErrorCode::QuotaQueued,
                    format!(
                        "Key `{}` may have {max} executions waiting; it has {queued} and asks {count} more",
                        key.id
                    ),
                )
                .retry_after(1));
            }
        }
        if let Some(rate) = key.rate_per_minute {
            let limiter = self
                .key_rates
                .entry(rate)
                .or_insert_with(|| Arc::new(RateLimiter::keyed(Quota::per_minute(rate))))
                .value()
                .clone();
            let clock = limiter.clock().clone();
            rate_check(
                limiter.check_key_n(&key.id, n(count)),
                &clock,
                rate,
                &format!("Key `{}`", key.id),
            )?;
        }
        let (answer, new) = submit(&key.submitter()).await?;
        ids.extend(new);
        Ok(answer)
    }

    fn check_address(&self, request: &HttpRequest, count: usize) -> Result<(), ApiError> {
        let (Some(limiter), Some(rate)) = (&self.address_rate, self.config.rate_per_minute) else {
            return Ok(());
        };
        let address = self.client_address(request);
        if limiter.len() > MAX_TRACKED_ADDRESSES {
            limiter.retain_recent();
        }
        rate_check(
            limiter.check_key_n(&address, n(count)),
            limiter.clock(),
            rate,
            "This address",
        )
    }

    /// The client's address as [`address::client_address`] decides it.
    pub fn client_address(&self, request: &HttpRequest) -> IpAddr {
        let peer = request
            .peer_addr()
            .map(|a| address::normal(a.ip()))
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok());
        address::client_address(peer, forwarded, &self.config.trusted_proxies)
    }
}

fn n(count: usize) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(count).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// A token bucket's answer as 429 `rate.limited` with `Retry-After`.
fn rate_check<P: governor::clock::Reference>(
    outcome: Result<Result<(), governor::NotUntil<P>>, governor::InsufficientCapacity>,
    clock: &impl Clock<Instant = P>,
    rate: NonZeroU32,
    who: &str,
) -> Result<(), ApiError> {
    let wait = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(not_until)) => not_until.wait_time_from(clock.now()),
        // More at once than the bucket ever holds.
        Err(_) => Duration::from_secs(60),
    };
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Err(ApiError::new(
        ErrorCode::RateLimited,
        format!("{who} may submit {rate} executions a minute; try again in {seconds} s"),
    )
    .retry_after(seconds.max(1)))
}

/// The secret a request presents: `Authorization: Bearer <secret>`, else
/// `X-Api-Key: <secret>`; `Ok(None)` when neither is there, `Err` (why)
/// when one is there but cannot be a key.
pub fn presented_secret(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| "unreadable `Authorization`")?;
        let (scheme, secret) = value
            .trim()
            .split_once(' ')
            .ok_or("`Authorization` must be `Bearer <key>`")?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err("`Authorization` must be `Bearer <key>`");
        }
        let secret = secret.trim();
        if secret.is_empty() {
            return Err("empty key");
        }
        return Ok(Some(secret));
    }
    match headers.get("x-api-key") {
        None => Ok(None),
        Some(value) => {
            let secret = value.to_str().map_err(|_| "unreadable `X-Api-Key`")?.trim();
            if secret.is_empty() {
                Err("empty key")
            } else {
                Ok(Some(secret))
            }
        }
    }
}

/// Who made a request, as the middleware (or, off the `/api` scope, the
/// extractor itself) authenticated it: `key` is `None` when the API is
/// open.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The caller's key.
    pub key: Option<Arc<ApiKey>>,
}

impl Caller {
    /// Whether this caller may see an execution owned by `owner` (as
    /// [`Executor::owner`] answers): an open API shows everything, a key
    /// only its own.
    pub fn may_see(&self, owner: Option<Option<String>>) -> bool {
        match (&self.key, owner) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(key), Some(owner)) => owner.as_deref() == Some(key.id.as_str()),
        }
    }

    /// The key id for logs (`None` without keys).
    pub fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.id.as_str())
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        if let Some(caller) = req.extensions().get::<Caller>() {
            return ready(Ok(caller.clone()));
        }
        ready(match req.app_data::<Arc<Tenancy>>() {
            Some(tenancy) => tenancy
                .authenticate_headers(req.headers())
                .map(|key| Caller { key }),
            None => Ok(Caller::default()),
        })
    }
}

/// Middleware of the `/api` scope: every route but `/api/health` needs a
/// key when keys are configured, except a terminal request that presents
/// a `?token=` (its handler checks the token). The caller is left in the
/// request's extensions for [`Caller`].
pub async fn require_key<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let exempt = req.path() == "/api/health"
        || (req.path().starts_with("/api/ws/terminal/") && has_token(req.query_string()));
    if let Some(tenancy) = req.app_data::<Arc<Tenancy>>().cloned() {
        if tenancy.has_keys() && !exempt {
            match tenancy.authenticate_headers(req.headers()) {
                Ok(key) => {
                    // The key's own webhook secret signs its callbacks.
                    if let Some(secret) = key.as_ref().and_then(|k| k.webhook_secret.clone()) {
                        req.extensions_mut().insert(crate::WebhookSecret(secret));
                    }
                    req.extensions_mut().insert(Caller { key });
                }
                // A response, not an error: the layers outside (CORS) see it.
                Err(refusal) => {
                    return Ok(req
                        .into_response(ResponseError::error_response(&refusal))
                        .map_into_right_body())
                }
            }
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Whether a query string has a `token` parameter.
fn has_token(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair == "token" || pair.starts_with("token="))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn secrets_come_from_bearer_or_x_api_key() {
        assert_eq!(presented_secret(&headers(&[])), Ok(None));
        assert_eq!(
            presented_secret(&headers(&[("authorization", "Bearer abc")])),
            Ok(Some("abc"))
        );
        assert_eq!(
            presented_secret(&headers(&[("authorization", "bearer  abc ")])),
            Ok(Some("abc"))
        );
        assert_eq!(
            presented_secret(&headers(&[("x-api-key", "xyz")])),
            Ok(Some("xyz"))
        );
        // Authorization wins over X-Api-Key.
        assert_eq!(
            presented_secret(&headers(&[
                ("authorization", "Bearer a"),
                ("x-api-key", "b")
            ])),
            Ok(Some("a"))
        );
        assert!(presented_secret(&headers(&[("authorization", "Basic dXNlcjpwdw==")])).is_err());
        assert!(presented_secret(&headers(&[("authorization", "Bearer")])).is_err());
        assert!(presented_secret(&headers(&[("authorization", "Bearer   ")])).is_err());
        assert!(presented_secret(&headers(&[("x-api-key", "")])).is_err());
    }

    #[test]
    fn token_parameters_are_found_exactly() {
        assert!(has_token("token=abc"));
        assert!(has_token("from=3&token=abc"));
        assert!(has_token("token"));
        assert!(!has_token("tokens=1"));
        assert!(!has_token("from=3"));
        assert!(!has_token(""));
    }

    fn tenancy_with(text: &str) -> Tenancy {
        Tenancy::new(
            Some(ApiKeys::parse(text).unwrap()),
            TenancyConfig::default(),
        )
    }

    #[test]
    fn terminal_tokens_admit_their_execution_only() {
        let tenancy = Tenancy::new(None, TenancyConfig::default());
        let (a, b) = (ExecutionId::new(), ExecutionId::new());
        let token = tenancy.terminal_token(a);
        assert_eq!(token.len(), 64);
        assert!(tenancy.token_admits(a, &token));
        assert!(!tenancy.token_admits(b, &token));
        assert!(!tenancy.token_admits(a, &token[..62]));
        assert!(!tenancy.token_admits(a, "zz"));
        assert!(!tenancy.token_admits(a, ""));
        // Another server (another secret) makes other tokens.
        let other = Tenancy::new(None, TenancyConfig::default());
        assert!(!other.token_admits(a, &token));
    }

    #[test]
    fn authentication_without_keys_is_open_and_with_keys_is_checked() {
        let open = Tenancy::new(None, TenancyConfig::default());
        assert!(open.authenticate(None).unwrap().is_none());
        assert!(open.authenticate(Some("anything")).unwrap().is_none());
        let table = format!(
            "[[key]]\nid = \"a\"\nsha256 = \"{}\"\n",
            hex::encode(keys::digest("s"))
        );
        let closed = tenancy_with(&table);
        assert_eq!(
            closed.authenticate(None).unwrap_err().code(),
            ErrorCode::AuthMissing
        );
        assert_eq!(
            closed.authenticate(Some("t")).unwrap_err().code(),
            ErrorCode::AuthInvalid
        );
        assert_eq!(closed.authenticate(Some("s")).unwrap().unwrap().id, "a");
        assert!(closed.replace_keys(ApiKeys::default()));
        assert_eq!(
            closed.authenticate(Some("s")).unwrap_err().code(),
            ErrorCode::AuthInvalid
        );
        assert!(!open.replace_keys(ApiKeys::default()));
    }

    #[test]
    fn callers_see_their_own_executions_only() {
        let open = Caller::default();
        assert!(open.may_see(Some(None)));
        assert!(open.may_see(Some(Some("a".into()))));
        assert!(!open.may_see(None));
        let table = format!(
            "[[key]]\nid = \"a\"\nsha256 = \"{}\"\n",
            hex::encode(keys::digest("s"))
        );
        let a = Caller {
            key: ApiKeys::parse(&table).unwrap().find("s"),
        };
        assert!(a.may_see(Some(Some("a".into()))));
        assert!(!a.may_see(Some(Some("b".into()))));
        assert!(!a.may_see(Some(None)));
        assert!(!a.may_see(None));
    }
}
