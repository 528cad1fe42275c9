//! Monaco's HTTP and WebSocket API.
//!
//! The routes of the original service (`/api/submit`, `/api/status/{id}`,
//! `/api/result/{id}`, `/api/languages`, `/api/health`,
//! `/api/ws/terminal/{id}`) with their JSON shapes, plus `/api/execute`,
//! cancel, and `/api/openapi.json`. This crate owns the wire: DTOs, request
//! parsing, and mapping every failure to a status and a stable dotted code.
//! It must not run anything itself: all work goes through
//! [`monaco_executor::Executor`].

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

mod dto;
mod error;
mod openapi;
mod terminal;

pub use error::ApiError;

use std::str::FromStr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use monaco_executor::{ExecutionId, Executor, Status};

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 2 * 1024 * 1024,
            cors_origins: vec!["*".into()],
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    executor: Executor,
    config: Arc<ApiConfig>,
}

impl AppState {
    /// State for the routes.
    pub fn new(executor: Executor, config: ApiConfig) -> Self {
        AppState {
            executor,
            config: Arc::new(config),
        }
    }
}

/// Registers every route; use with `App::new().configure(monaco_http::routes(state))`.
pub fn routes(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request("request.invalid_query", e.to_string()).into()
            }))
            .service(
                web::scope("/api")
                    .route("/submit", web::post().to(submit))
                    .route("/execute", web::post().to(execute))
                    .route("/status/{id}", web::get().to(status))
                    .route("/result/{id}", web::get().to(result))
                    .route("/executions/{id}", web::get().to(result))
                    .route("/executions/{id}", web::delete().to(cancel))
                    .route("/languages", web::get().to(languages))
                    .route("/health", web::get().to(health))
                    .route("/openapi.json", web::get().to(openapi))
                    .route("/ws/terminal/{id}", web::get().to(terminal::terminal)),
            )
            .default_service(web::to(not_found));
    }
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
        StatusCode::NOT_FOUND,
        "route.not_found",
        format!("No route for {} {}", req.method(), req.path()),
    ))
}

/// Reads the body up to the limit and parses it.
async fn read_submit(
    state: &AppState,
    mut payload: web::Payload,
) -> Result<SubmitRequest, ApiError> {
    let max = state.config.max_body_bytes;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "request.body_unreadable",
                format!("Could not read the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request.too_large",
                format!("The request body is larger than {max} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<SubmitRequest>(&body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                ApiError::bad_request("request.invalid", format!("Invalid request: {e}"))
            }
            _ => ApiError::bad_request("request.malformed_json", format!("Malformed JSON: {e}")),
        }
    })
}

fn parse_id(raw: &str) -> Result<ExecutionId, ApiError> {
    ExecutionId::from_str(raw).map_err(|_| ApiError::not_found())
}

async fn submit(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request = read_submit(&state, payload).await?.into_request(true)?;
    let id = state.executor.submit(request)?;
    Ok(HttpResponse::Accepted().json(SubmitResponse {
        id: id.to_string(),
        status: Status::Queued,
        message: "Code submission accepted",
    }))
}

async fn execute(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request = read_submit(&state, payload).await?.into_request(false)?;
    let snapshot = state.executor.run(request).await?;
    Ok(HttpResponse::Ok().json(ResultResponse::from(&snapshot)))
}

async fn status(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let status = state.executor.status(id).ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(StatusResponse {
        id: id.to_string(),
        status,
    }))
}

async fn result(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let snapshot = state.executor.result(id).ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(ResultResponse::from(&snapshot)))
}

async fn cancel(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    state.executor.cancel(id).await?;
    let status = state.executor.status(id).ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Accepted().json(StatusResponse {
        id: id.to_string(),
        status,
    }))
}

async fn languages(state: web::Data<AppState>) -> HttpResponse {
    let list: Vec<LanguageDto> = state
        .executor
        .languages()
        .iter()
        .map(LanguageDto::from)
        .collect();
    HttpResponse::Ok().json(list)
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    let h = state.executor.health().await;
    let body = HealthResponse {
        status: if h.docker { "ok" } else { "degraded" },
        docker: h.docker,
        queue_depth: h.queue_depth,
        running: h.running,
    };
    if h.docker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}
