//! Monaco's HTTP and WebSocket API.
//!
//! The routes of the original service (`/api/submit`, `/api/status/{id}`,
//! `/api/result/{id}`, `/api/languages`, `/api/health`,
//! `/api/ws/terminal/{id}`) with their JSON shapes, plus `/api/execute`,
//! cancel, batches (`/api/batch`) and `/api/openapi.json`; Piston's and
//! Judge0's APIs as adapters onto the same executor (`compat`); and the
//! playground page at `/` ([`page`]), outside `/api`. This crate owns
//! the wire: DTOs, request parsing, and mapping every failure to a status
//! and a stable dotted code. With API keys ([`tenancy`]) it decides who
//! calls, what they may see and how much they may ask.
//! It must not run anything itself: all work goes through
//! [`monaco_executor::Executor`].

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

mod batch;
mod compat;
mod dto;
mod error;
pub mod frames;
mod metrics;
mod openapi;
mod page;
pub mod tenancy;
mod terminal;
pub mod webhook;

pub use compat::CompatApis;
pub use error::ApiError;
pub use metrics::{count_rejections, Metrics};
pub use page::page;
pub use tenancy::{ApiKey, ApiKeys, Caller, KeysError, Tenancy, TenancyConfig};
pub use webhook::{WebhookConfig, WebhookSecret, Webhooks};

use monaco_executor::ErrorCode;

use std::str::FromStr;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use monaco_executor::{DockerSandbox, ExecutionId, Executor, Sandbox, Status};

use dto::{
    HealthResponse, LanguageDto, ResultResponse, StatusResponse, SubmitRequest, SubmitResponse,
};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, bytes (larger → `413`).
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; `*` allows any (the original's behaviour).
    pub cors_origins: Vec<String>,
    /// Most submissions in one batch, and most ids read at once.
    pub max_batch: usize,
    /// How long a terminal stays open after the final status (announced by
    /// a `system` frame), unless the client closes or sends `kill`; zero
    /// closes at once. The original service kept it open 5 s.
    pub ws_linger: std::time::Duration,
    /// Which compatible APIs (Piston, Judge0) are served.
    pub compat: CompatApis,
    /// Executions that may wait at once (reported by Judge0's
    /// `/config_info`); the scheduler's own setting.
    pub queue_capacity: usize,
    /// Rate limits without keys, and the proxies believed.
    pub tenancy: TenancyConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 2 * 1024 * 1024,
            cors_origins: vec!["*".into()],
            max_batch: 20,
            ws_linger: std::time::Duration::from_secs(5),
            compat: CompatApis::default(),
            queue_capacity: 100,
            tenancy: TenancyConfig::default(),
        }
    }
}

/// What every handler shares: the executor (over any [`Sandbox`]; Docker
/// unless said otherwise) and the HTTP settings.
pub struct AppState<S: Sandbox = DockerSandbox> {
    executor: Executor<S>,
    config: Arc<ApiConfig>,
    /// What Judge0 submissions were asked with.
    judge0: Arc<compat::judge0::Submissions>,
    /// `None` when metrics are off: no `/metrics`, nothing counted.
    metrics: Option<Arc<Metrics>>,
    webhooks: Arc<Webhooks>,
    tenancy: Arc<Tenancy>,
}

impl<S: Sandbox> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            executor: self.executor.clone(),
            config: Arc::clone(&self.config),
            judge0: Arc::clone(&self.judge0),
            metrics: self.metrics.clone(),
            webhooks: Arc::clone(&self.webhooks),
            tenancy: Arc::clone(&self.tenancy),
        }
    }
}

impl<S: Sandbox> AppState<S> {
    /// State for the routes, with an open API (no keys), no metrics, and
    /// webhooks with the default settings (which sign with no secret and
    /// so refuse `callbackUrl`).
    pub fn new(executor: Executor<S>, config: ApiConfig) -> Self {
        let tenancy = Arc::new(Tenancy::new(None, config.tenancy.clone()));
        AppState {
            executor,
            config: Arc::new(config),
            judge0: Arc::default(),
            metrics: None,
            webhooks: Arc::new(Webhooks::new(WebhookConfig::default(), None)),
            tenancy,
        }
    }

    /// The same state with API keys required (see [`tenancy`]).
    pub fn with_keys(mut self, keys: ApiKeys) -> Self {
        self.tenancy = Arc::new(Tenancy::new(Some(keys), self.config.tenancy.clone()));
        self
    }

    /// Who calls, what they may see, how much they may ask: shared by
    /// every clone of this state, so [`Tenancy::replace_keys`] reaches all.
    pub fn tenancy(&self) -> &Arc<Tenancy> {
        &self.tenancy
    }

    /// 404 unless `caller` may see execution `id`.
    async fn visible(&self, caller: &Caller, id: ExecutionId) -> Result<(), ApiError> {
        if caller.may_see(self.executor.owner(id).await?) {
            Ok(())
        } else {
            Err(ApiError::not_found())
        }
    }

    /// The same state serving `/metrics` from `metrics` (give the executor
    /// the same metrics as its observer) and counting what the HTTP layer sees.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self.webhooks = Arc::new(Webhooks::new(
            self.webhooks.config().clone(),
            self.metrics.clone(),
        ));
        self
    }

    /// The same state delivering webhooks with `config`.
    pub fn with_webhooks(mut self, config: WebhookConfig) -> Self {
        self.webhooks = Arc::new(Webhooks::new(config, self.metrics.clone()));
        self
    }

    /// The metrics, when on: the seam through which other layers (API
    /// keys) count what they see.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Counts `n` executions accepted for `caller`'s key, when metrics are on.
    fn count_key_executions(&self, caller: &Caller, n: usize) {
        if let (Some(metrics), Some(key)) = (&self.metrics, &caller.key) {
            for _ in 0..n {
                metrics.key_execution(&key.id);
            }
        }
    }

    /// The result of execution `id` as `/api/result` shows it.
    fn result_of(&self, snapshot: &monaco_executor::ExecutionSnapshot) -> ResultResponse {
        ResultResponse::from(snapshot).with_callback(self.webhooks.status(snapshot.id))
    }

    /// Checks a submission's `callbackUrl`, signed with the secret the
    /// request's extensions carry ([`WebhookSecret`]) or the configured one.
    async fn callback(
        &self,
        req: &HttpRequest,
        url: Option<String>,
    ) -> Result<Option<webhook::Callback>, ApiError> {
        use actix_web::HttpMessage;
        let secret = req.extensions().get::<WebhookSecret>().cloned();
        self.webhooks.check(url, secret.as_ref()).await
    }
}

/// Registers every route; use with `App::new().configure(monaco_http::routes(state))`,
/// wrapped in [`cors`] and, outside it, [`json_errors`]. A known route
/// answers its other methods with `405` and `Allow`.
pub fn routes<S: Sandbox>(state: AppState<S>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let compat = state.config.compat;
        // Before `/api`, whose scope would otherwise take `/api/v2/…`.
        if compat.piston {
            cfg.service(compat::piston::scope::<S>());
        }
        if compat.judge0 {
            compat::judge0::register::<S>(cfg);
        }
        if let Some(metrics) = &state.metrics {
            cfg.app_data(web::Data::new(metrics::MetricsHandle(Arc::clone(metrics))));
            cfg.service(resource("/metrics", "GET").route(web::get().to(metrics::scrape::<S>)));
        }
        cfg.app_data(Arc::clone(&state.tenancy))
            .app_data(web::Data::new(state))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::new(ErrorCode::RequestInvalidQuery, e.to_string()).into()
            }))
            .service(
                web::scope("/api")
                    .wrap(actix_web::middleware::from_fn(tenancy::require_key))
                    .service(resource("/submit", "POST").route(web::post().to(submit::<S>)))
                    .service(resource("/execute", "POST").route(web::post().to(execute::<S>)))
                    .service(
                        resource("/batch", "GET, POST")
                            .route(web::get().to(batch::results::<S>))
                            .route(web::post().to(batch::submit::<S>)),
                    )
                    .service(resource("/status/{id}", "GET").route(web::get().to(status::<S>)))
                    .service(resource("/result/{id}", "GET").route(web::get().to(result::<S>)))
                    .service(
                        resource("/executions/{id}", "GET, DELETE")
                            .route(web::get().to(result::<S>))
                            .route(web::delete().to(cancel::<S>)),
                    )
                    .service(resource("/languages", "GET").route(web::get().to(languages::<S>)))
                    .service(resource("/health", "GET").route(web::get().to(health::<S>)))
                    .service(resource("/openapi.json", "GET").route(web::get().to(openapi::<S>)))
                    .service(
                        resource("/ws/terminal/{id}", "GET")
                            .route(web::get().to(terminal::terminal::<S>)),
                    ),
            )
            .default_service(web::to(not_found));
    }
}

/// The routes of a node that only runs jobs for a cluster: its health and
/// (when on) its metrics; every other path is `route.not_found`.
pub fn worker_routes<S: Sandbox>(state: AppState<S>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if let Some(metrics) = &state.metrics {
            cfg.app_data(web::Data::new(metrics::MetricsHandle(Arc::clone(metrics))));
            cfg.service(resource("/metrics", "GET").route(web::get().to(metrics::scrape::<S>)));
        }
        cfg.app_data(web::Data::new(state))
            .service(resource("/api/health", "GET").route(web::get().to(health::<S>)))
            .default_service(web::to(not_found));
    }
}

/// A route whose other methods get `405` with `Allow` (and a plain
/// `OPTIONS`, not a CORS preflight, gets `204` with `Allow`).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        other_method(&req, allow)
    }))
}

fn other_method(req: &HttpRequest, allow: &'static str) -> HttpResponse {
    if req.method() == actix_web::http::Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header(("Allow", format!("{allow}, OPTIONS")))
            .finish();
    }
    let mut response = actix_web::ResponseError::error_response(&ApiError::new(
        ErrorCode::RouteMethodNotAllowed,
        format!(
            "{} {} is not supported; use {allow}",
            req.method(),
            req.path()
        ),
    ));
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    response
}

/// Middleware that gives every error response made outside Monaco's
/// handlers (actix-web's own, CORS refusals) the same JSON shape:
/// `{"error":{"code","message"}}`, keeping the status and headers. Wrap it
/// outside [`cors`].
pub fn json_errors<B: actix_web::body::MessageBody + 'static>(
) -> actix_web::middleware::ErrorHandlers<B> {
    actix_web::middleware::ErrorHandlers::new().default_handler(error::to_json)
}

/// CORS as configured: any origin for `*`, else exactly the listed ones.
pub fn cors(config: &ApiConfig) -> actix_cors::Cors {
    let cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "DELETE", "OPTIONS"])
        .allow_any_header()
        .max_age(3600);
    if config.cors_origins.iter().any(|o| o == "*") {
        cors.allow_any_origin()
    } else {
        config
            .cors_origins
            .iter()
            .fold(cors, |c, origin| c.allowed_origin(origin))
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::new(
        ErrorCode::RouteNotFound,
        format!("No route for {} {}", req.method(), req.path()),
    ))
}

/// Reads the body up to the limit and parses it as a JSON object.
async fn read_json<S: Sandbox, T: serde::de::DeserializeOwned>(
    state: &AppState<S>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    check_content_type(req)?;
    let body = read_body(state, req, payload).await?;
    if too_deep(&body) {
        return Err(ApiError::new(
            ErrorCode::RequestMalformedJson,
            format!("Malformed JSON: nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    serde_json::from_slice::<dto::Object<T>>(&body)
        .map(|dto::Object(request)| request)
        .map_err(json_error)
}

/// Reads the body, refusing one over the configured limit (`413`).
pub(crate) async fn read_body<S: Sandbox>(
    state: &AppState<S>,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, ApiError> {
    let max = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            ErrorCode::RequestTooLarge,
            format!("The request body is larger than {max} bytes"),
        )
    };
    // A declared length over the limit is refused before reading anything.
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::RequestBodyUnreadable,
                format!("Could not read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A body that is not JSON is malformed; JSON of the wrong shape is invalid.
fn json_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => ApiError::new(ErrorCode::RequestInvalid, format!("Invalid request: {e}")),
        _ => ApiError::new(
            ErrorCode::RequestMalformedJson,
            format!("Malformed JSON: {e}"),
        ),
    }
}

/// Deepest nesting of arrays and objects accepted in a body; a submission
/// needs three (the body, `files`, a file).
const MAX_DEPTH: usize = 32;

/// Whether `body` nests arrays or objects deeper than [`MAX_DEPTH`]. One
/// pass over the bytes, so that deep input is refused the same way wherever
/// it is, before any parser recurses into it.
pub(crate) fn too_deep(body: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The body must be JSON. A missing `Content-Type` is taken as JSON, and so
/// is `text/plain`, which a browser's `fetch` sends for a string body.
pub(crate) fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    use actix_web::HttpMessage;
    let unsupported = |what: String| {
        ApiError::new(
            ErrorCode::RequestUnsupportedMediaType,
            format!("{what}; send the request as `Content-Type: application/json`"),
        )
    };
    let Some(header) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let Ok(Some(mime)) = req.mime_type() else {
        return Err(unsupported(format!(
            "Unreadable Content-Type {:?}",
            String::from_utf8_lossy(header.as_bytes())
        )));
    };
    let json = match (mime.type_().as_str(), mime.subtype().as_str()) {
        ("application", "json") | ("text", "plain") => true,
        ("application", _) => mime.suffix().is_some_and(|s| s.as_str() == "json"),
        _ => false,
    };
    if json {
        Ok(())
    } else {
        Err(unsupported(format!(
            "The body cannot be {}",
            mime.essence_str()
        )))
    }
}

fn parse_id(raw: &str) -> Result<ExecutionId, ApiError> {
    ExecutionId::from_str(raw).map_err(|_| ApiError::not_found())
}

/// Admits and queues one request for `caller` (its quotas, its maximums).
async fn submit_one<S: Sandbox>(
    state: &AppState<S>,
    caller: &Caller,
    req: &HttpRequest,
    request: monaco_executor::ExecutionRequest,
) -> Result<ExecutionId, ApiError> {
    let id = state
        .tenancy
        .admit(&state.executor, caller, req, 1, async |by| {
            let id = state.executor.submit_as(request, by).await?;
            Ok((id, vec![id]))
        })
        .await?;
    state.count_key_executions(caller, 1);
    Ok(id)
}

async fn submit<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = read_json::<S, SubmitRequest>(&state, &req, payload).await?;
    let callback = body.callback_url.take();
    let request = body.into_request(true)?;
    let callback = state.callback(&req, callback).await?;
    let id = submit_one(&state, &caller, &req, request).await?;
    if let Some(callback) = callback {
        state.webhooks.watch(state.executor.clone(), id, callback);
    }
    Ok(HttpResponse::Accepted().json(SubmitResponse {
        id: id.to_string(),
        status: Status::Queued,
        message: "Code submission accepted",
        terminal_token: state.tenancy.terminal_token(id),
    }))
}

async fn execute<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = read_json::<S, SubmitRequest>(&state, &req, payload).await?;
    let callback = body.callback_url.take();
    let request = body.into_request(false)?;
    let callback = state.callback(&req, callback).await?;
    let id = submit_one(&state, &caller, &req, request).await?;
    if let Some(callback) = callback {
        state.webhooks.watch(state.executor.clone(), id, callback);
    }
    let snapshot = state.executor.wait(id).await?;
    Ok(HttpResponse::Ok().json(state.result_of(&snapshot)))
}

async fn status<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state.visible(&caller, id).await?;
    let status = state
        .executor
        .status(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(StatusResponse {
        id: id.to_string(),
        status,
    }))
}

async fn result<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state.visible(&caller, id).await?;
    let snapshot = state
        .executor
        .result(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(state.result_of(&snapshot)))
}

async fn cancel<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state.visible(&caller, id).await?;
    state.executor.cancel(id).await?;
    let status = state
        .executor
        .status(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Accepted().json(StatusResponse {
        id: id.to_string(),
        status,
    }))
}

async fn languages<S: Sandbox>(state: web::Data<AppState<S>>) -> HttpResponse {
    let list: Vec<LanguageDto> = state
        .executor
        .languages()
        .iter()
        .map(LanguageDto::from)
        .collect();
    HttpResponse::Ok().json(list)
}

async fn health<S: Sandbox>(state: web::Data<AppState<S>>) -> HttpResponse {
    let h = state.executor.health().await;
    let ok = h.docker && h.broker != Some(false);
    let body = HealthResponse {
        status: if ok { "ok" } else { "degraded" },
        docker: h.docker,
        broker: h.broker,
        queue_depth: h.queue_depth,
        running: h.running,
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn openapi<S: Sandbox>(state: web::Data<AppState<S>>) -> HttpResponse {
    HttpResponse::Ok().json(openapi::document(
        &state.executor,
        &state.config,
        state.tenancy.has_keys(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_nesting_outside_strings_only() {
        assert!(!too_deep(
            br#"{"files":[{"name":"a","content":"[[[[{{{{"}]}"#
        ));
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(too_deep(deep.as_bytes()));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(!too_deep(ok.as_bytes()));
        // An escaped quote does not end the string.
        let hidden = format!(r#"{{"code":"\"{}"}}"#, "[".repeat(100));
        assert!(!too_deep(hidden.as_bytes()));
        assert!(too_deep("{".repeat(10_000).as_bytes()));
    }
}
