//! Every failure a client can cause, with its HTTP status and stable code,
//! and always the JSON body `{"error":{"code","message"}}`.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::programs::LANGUAGES;
use support::{expect_error, request, Server, ServerConfig};
use tokio_tungstenite::tungstenite;

/// The body limit of the validation server: small, so that a large body is
/// cheap to send, yet larger than every valid body here.
const MAX_BODY: usize = 4096;

#[tokio::test]
async fn invalid_submissions() {
    if !support::docker_or_skip() {
        return;
    }
    let server =
        Server::start_with(ServerConfig::default().env("MONACO_MAX_BODY_BYTES", MAX_BODY)).await;
    let ok = "print(1)";
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "unknown language",
            request("cobol", ok, None).to_string(),
            StatusCode::BAD_REQUEST,
            "language.unknown",
        ),
        (
            "malformed JSON",
            r#"{"language": "python", "code": "#.to_string(),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "not JSON at all",
            "print(1)".to_string(),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "missing code",
            json!({"language": "python"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.code_missing",
        ),
        (
            "unknown field",
            json!({"language": "python", "code": ok, "bogus": 1}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "body over the limit",
            request("python", &format!("# {}\n{ok}", "x".repeat(MAX_BODY)), None).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
        ),
        (
            "a limit above the maximum",
            json!({"language": "python", "code": ok, "limits": {"wall_ms": 10_000_000u64}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.above_maximum",
        ),
        (
            "memory above the maximum",
            json!({"language": "python", "code": ok, "limits": {"memory_bytes": 1u64 << 40}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.above_maximum",
        ),
        (
            "a zero limit",
            json!({"language": "python", "code": ok, "limits": {"memory_bytes": 0}}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.zero",
        ),
    ];
    for path in ["/api/submit", "/api/execute"] {
        for (what, body, status, code) in &cases {
            let r = server.post_raw(path, body.clone()).await;
            let got = r.status();
            assert_eq!(got, *status, "{what} on {path}");
            let v = expect_error(r, *status, code).await;
            if *code == "language.unknown" {
                let known: Vec<&str> = v["error"]["known"]
                    .as_array()
                    .unwrap_or_else(|| panic!("the known ids are listed: {v}"))
                    .iter()
                    .map(|k| k.as_str().expect("an id"))
                    .collect();
                for id in LANGUAGES {
                    assert!(known.contains(&id), "{id} in {known:?}");
                }
            }
        }
    }
    // Nothing was accepted, so nothing is queued or running.
    let health = server.get_json("/api/health").await;
    assert_eq!(health["queueDepth"], 0, "{health}");
    assert_eq!(health["running"], 0, "{health}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_executions_and_routes() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for path in [
        format!("/api/status/{unknown}"),
        format!("/api/result/{unknown}"),
        format!("/api/executions/{unknown}"),
        "/api/status/not-a-uuid".to_string(),
        "/api/result/not-a-uuid".to_string(),
    ] {
        let r = server.request(Method::GET, &path, None).await;
        expect_error(r, StatusCode::NOT_FOUND, "execution.not_found").await;
    }
    for path in [
        format!("/api/executions/{unknown}"),
        "/api/executions/not-a-uuid".to_string(),
    ] {
        let r = server.request(Method::DELETE, &path, None).await;
        expect_error(r, StatusCode::NOT_FOUND, "execution.not_found").await;
    }
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::GET, "/nowhere"),
        (Method::GET, "/assets/missing.js"),
        (Method::POST, "/api/status"),
    ] {
        let r = server.request(method, path, None).await;
        expect_error(r, StatusCode::NOT_FOUND, "route.not_found").await;
    }
    // `/` is the playground page (or, not built, how to build it): HTML.
    let r = server.request(Method::GET, "/", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let r = server.request(Method::DELETE, "/", None).await;
    expect_error(
        r,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
    )
    .await;

    // The terminal refuses the handshake with the same error.
    for id in [unknown.as_str(), "not-a-uuid"] {
        let url = server.ws_url(&format!("/api/ws/terminal/{id}"));
        match tokio_tungstenite::connect_async(&url).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 404, "{url}");
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap_or(b""))
                    .unwrap_or_else(|e| panic!("{url}: a JSON body ({e}): {response:?}"));
                support::check_error_body(&body, "execution.not_found");
            }
            Ok(_) => panic!("{url}: the handshake succeeded"),
            Err(e) => panic!("{url}: {e}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn full_queue_gets_503_with_retry_after() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(
        ServerConfig::default()
            .env("CONCURRENT_EXECUTIONS", 1)
            .env("QUEUE_CAPACITY", 1),
    )
    .await;
    let sleeper = request("python", "import time\ntime.sleep(120)\n", Some(""));
    let running = server.submit(&sleeper).await;
    server.poll_status(&running, |s| s == "running").await;
    let queued = server.submit(&sleeper).await;
    assert_eq!(server.status(&queued).await, "queued");

    let r = server.submit_raw(&sleeper).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    assert!(
        retry.is_some_and(|s| s >= 1),
        "Retry-After: {:?}",
        r.headers()
    );
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "queue.full").await;
    // `execute` goes through the same queue.
    let r = server
        .request(Method::POST, "/api/execute", Some(&sleeper))
        .await;
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "queue.full").await;

    // Cancelling a queued execution works too; both end `cancelled`.
    for id in [&queued, &running] {
        let r = server
            .request(Method::DELETE, &format!("/api/executions/{id}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    for id in [&queued, &running] {
        let result = server.wait_result(id).await;
        assert_eq!(result["status"], "failed", "{result}");
        assert_eq!(result["verdict"], "cancelled", "{result}");
    }
    server.stop().await;
}
