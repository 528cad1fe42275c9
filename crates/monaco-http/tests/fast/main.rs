//! The fast tier: the whole HTTP and WebSocket API in-process, over a
//! scripted fake sandbox (`monaco_sandbox::fake`), in milliseconds and
//! without Docker. It pins down parsing, error codes and statuses, the
//! WebSocket protocol and replay. Whether code really runs, and runs
//! confined, is proved by the Docker tiers (`tests/`, `monaco-sandbox`'s
//! tests), never here.
//!
//! The fake runs each submission's code as a tiny script (`print hi`,
//! `prompt Name:\s`, `echo`, `wait`, `exit 3`; see the fake's docs), so the
//! language given is only looked up, never run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{test, App};
use awc::ws;
use futures_util::{SinkExt, StreamExt};
use monaco_executor::Executor;
use monaco_http::{ApiConfig, AppState};
use monaco_sandbox::fake::FakeSandbox;
use serde_json::{json, Value};

type Fake = Arc<FakeSandbox>;

/// An executor over `fake` with the workspace's real language registry.
async fn executor(fake: &Fake, workers: usize, queue: usize) -> Executor<Fake> {
    let languages = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages.toml");
    Executor::builder()
        .languages_file(languages)
        .workers(workers)
        .queue_capacity(queue)
        .build_with(Arc::clone(fake))
        .await
        .expect("the executor starts over the fake")
}

/// The routes' state; terminals close as soon as the execution ends (the
/// linger has tests of its own, in `original`).
fn state(executor: &Executor<Fake>, max_body_bytes: usize) -> AppState<Fake> {
    let config = ApiConfig {
        max_body_bytes,
        ws_linger: Duration::ZERO,
        ..ApiConfig::default()
    };
    AppState::new(executor.clone(), config)
}

/// The app exactly as `monaco-server` wraps it.
macro_rules! app {
    ($state:expr) => {{
        let state = $state;
        let config = ApiConfig::default();
        App::new()
            .wrap(monaco_http::cors(&config))
            .wrap(monaco_http::json_errors())
            .configure(monaco_http::routes(state))
    }};
}

/// Sends a request to the in-process service; the status and the JSON body.
macro_rules! call {
    ($service:expr, $request:expr) => {{
        let response = test::call_service(&$service, $request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = test::read_body(response).await;
        let json: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}) with status {status}: {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        (status, json, headers)
    }};
}

fn post(path: &str, body: impl Into<String>) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/json"))
        .set_payload(body.into())
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str, what: &str) {
    assert_eq!(status, want, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message for people: {body}"
    );
}

/// A well-formed execution id nobody submitted.
fn uuid_like() -> String {
    monaco_executor::ExecutionId::new().to_string()
}

// After the macros above, which the test modules use.
mod batch;
mod compat;
mod graders;
mod http;
mod original;
mod page;
mod tenancy;
mod terminal;
