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

fn state(executor: &Executor<Fake>, max_body_bytes: usize) -> AppState<Fake> {
    let config = ApiConfig {
        max_body_bytes,
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

#[actix_web::test]
async fn invalid_submissions_get_their_codes_and_nothing_is_queued() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(state(&executor, 4096))).await;
    let ok = "print 1";
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "unknown language",
            json!({"language": "cobol", "code": ok}).to_string(),
            StatusCode::BAD_REQUEST,
            "language.unknown",
        ),
        (
            "malformed JSON",
            r#"{"language": "python", "code": "#.into(),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "too deep",
            format!("{}{}", "[".repeat(40), "]".repeat(40)),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "an array, not an object",
            json!(["python", ok]).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "missing language",
            json!({"code": ok}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.language_missing",
        ),
        (
            "missing code",
            json!({"language": "python"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.code_missing",
        ),
        (
            "blank code",
            json!({"language": "python", "code": "  \n"}).to_string(),
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
            "input twice",
            json!({"language": "python", "code": ok, "input": "a", "inputBase64": "YQ=="})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_input",
        ),
        (
            "bad base64",
            json!({"language": "python", "code": ok, "inputBase64": "!!"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_input",
        ),
        (
            "NUL in an argument",
            json!({"language": "python", "code": ok, "args": ["a\u{0}b"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_argument",
        ),
        (
            "file escaping the work directory",
            json!({"language": "python", "code": ok, "files": [{"name": "../x", "content": ""}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_file",
        ),
        (
            "body over the limit",
            json!({"language": "python", "code": "x".repeat(5000)}).to_string(),
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
            "a u32 limit beyond u32",
            json!({"language": "python", "code": ok, "limits": {"processes": 1u64 << 40}})
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
        (
            "memory below the minimum",
            json!({"language": "python", "code": ok, "limits": {"memory_bytes": 1024}}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.below_minimum",
        ),
        (
            "timeout not positive",
            json!({"language": "python", "code": ok, "timeout": -1}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.invalid",
        ),
        (
            "timeout and wall_ms",
            json!({"language": "python", "code": ok, "timeout": 1, "limits": {"wall_ms": 1000}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.invalid",
        ),
    ];
    for path in ["/api/submit", "/api/execute"] {
        for (what, body, want, code) in &cases {
            let (status, body, _) = call!(service, post(path, body.clone()));
            assert_error(status, &body, *want, code, &format!("{what} on {path}"));
            if *code == "language.unknown" {
                let known = body["error"]["known"].as_array().expect("known ids");
                assert!(known.contains(&json!("python")), "{body}");
            }
        }
        let (status, body, _) = call!(
            service,
            post(path, "{}").insert_header(("content-type", "application/xml"))
        );
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            path,
        );
    }
    let (status, health, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["queueDepth"], 0, "{health}");
    assert_eq!(health["running"], 0, "{health}");
}

#[actix_web::test]
async fn routes_ids_and_methods() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let unknown = uuid_like();
    for path in [
        format!("/api/status/{unknown}"),
        format!("/api/result/{unknown}"),
        format!("/api/executions/{unknown}"),
        "/api/status/not-an-id".to_string(),
        format!("/api/ws/terminal/{unknown}"),
    ] {
        let (status, body, _) = call!(service, test::TestRequest::get().uri(&path));
        assert_error(
            status,
            &body,
            StatusCode::NOT_FOUND,
            "execution.not_found",
            &path,
        );
    }
    let (status, body, _) = call!(
        service,
        test::TestRequest::delete().uri(&format!("/api/executions/{unknown}"))
    );
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "execution.not_found",
        "cancel",
    );
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/nowhere"));
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "route.not_found",
        "route",
    );
    let (status, body, headers) = call!(service, test::TestRequest::get().uri("/api/submit"));
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "method",
    );
    assert_eq!(headers.get("allow").unwrap(), "POST");
    let (status, body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/ws/terminal/{unknown}?from=x"))
    );
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "request.invalid_query",
        "query",
    );
    // The WebSocket route without a handshake, for a known execution.
    let (_, submitted, _) = call!(
        service,
        post(
            "/api/submit",
            json!({"language": "python", "code": "print x"}).to_string()
        )
    );
    let id = submitted["id"].as_str().unwrap();
    let (status, body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/ws/terminal/{id}"))
    );
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "websocket.handshake",
        "no handshake",
    );
    let (status, languages, _) = call!(service, test::TestRequest::get().uri("/api/languages"));
    assert_eq!(status, StatusCode::OK);
    assert!(languages
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == "python" && l["helloWorld"].is_string()));
    let (status, doc, _) = call!(service, test::TestRequest::get().uri("/api/openapi.json"));
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/submit"].is_object(), "{doc}");
}

#[actix_web::test]
async fn results_report_the_program_outcome() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let run = |code: &str, input: Option<&str>| {
        let mut body = json!({"language": "python", "code": code});
        if let Some(i) = input {
            body["input"] = json!(i);
        }
        post("/api/execute", body.to_string())
    };
    let (status, ok, _) = call!(service, run("print hello\neprint warn", None));
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["status"], "completed", "{ok}");
    assert_eq!(ok["verdict"], "ok", "{ok}");
    assert_eq!(ok["stdout"], "hello\n", "{ok}");
    assert_eq!(ok["stderr"], "warn\n", "{ok}");
    assert_eq!(ok["exitCode"], 0, "{ok}");
    assert_eq!(ok["truncated"], false, "{ok}");
    assert!(ok.get("error").is_none(), "{ok}");

    let (_, echoed, _) = call!(service, run("echo", Some("typed")));
    assert_eq!(echoed["stdout"], "typed", "{echoed}");
    assert_eq!(echoed["input"], "typed", "{echoed}");

    let (_, failed, _) = call!(service, run("print a\nexit 3", None));
    assert_eq!(failed["verdict"], "runtime_error", "{failed}");
    assert_eq!(failed["exitCode"], 3, "{failed}");

    let (_, compile, _) = call!(service, run("compile_error bad\\ssyntax", None));
    assert_eq!(compile["verdict"], "compile_error", "{compile}");
    assert_eq!(compile["compileOutput"], "bad syntax\n", "{compile}");
    assert!(compile["run"].is_null(), "{compile}");

    let (_, binary, _) = call!(service, run("write \\xff\\x00", None));
    assert_eq!(binary["stdoutBase64"], "/wA=", "{binary}");

    let (_, lost, _) = call!(service, run("lose", None));
    assert_eq!(lost["status"], "failed", "{lost}");
    assert_eq!(lost["verdict"], "internal_error", "{lost}");
    assert_eq!(lost["error"]["code"], "sandbox.lost", "{lost}");

    let (_, unstarted, _) = call!(service, run("fail_start", None));
    assert_eq!(
        unstarted["error"]["code"], "docker.unavailable",
        "{unstarted}"
    );

    // The polling flow: 202, then the same result by id.
    let (status, submitted, _) = call!(
        service,
        post(
            "/api/submit",
            json!({"language": "python", "code": "print polled", "input": ""}).to_string()
        )
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    assert_eq!(submitted["status"], "queued");
    let id = submitted["id"].as_str().unwrap().to_string();
    let result = loop {
        let (_, result, _) = call!(
            service,
            test::TestRequest::get().uri(&format!("/api/result/{id}"))
        );
        if result["verdict"].is_string() {
            break result;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(result["stdout"], "polled\n", "{result}");
    let (_, status_body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/status/{id}"))
    );
    assert_eq!(status_body, json!({"id": id, "status": "completed"}));
}

#[actix_web::test]
async fn a_full_queue_is_503_and_cancel_ends_cancelled() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 1).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let wait = || {
        post(
            "/api/submit",
            json!({"language": "c", "code": "wait"}).to_string(),
        )
    };
    let (_, running, _) = call!(service, wait());
    let running = running["id"].as_str().unwrap().to_string();
    // The first one is taken by the only worker before the second is queued.
    while executor.status(running.parse().unwrap()) != Some(monaco_executor::Status::Running) {
        actix_web::rt::task::yield_now().await;
    }
    let (_, queued, _) = call!(service, wait());
    let queued = queued["id"].as_str().unwrap().to_string();
    let (status, body, headers) = call!(service, wait());
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "queue.full",
        "full",
    );
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    for id in [&queued, &running] {
        let (status, body, _) = call!(
            service,
            test::TestRequest::delete().uri(&format!("/api/executions/{id}"))
        );
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let done = executor.wait(id.parse().unwrap()).await.unwrap();
        assert_eq!(done.status, monaco_executor::Status::Failed);
        let (_, result, _) = call!(
            service,
            test::TestRequest::get().uri(&format!("/api/result/{id}"))
        );
        assert_eq!(result["verdict"], "cancelled", "{result}");
        assert_eq!(result["error"]["code"], "execution.cancelled", "{result}");
        let (status, body, _) = call!(
            service,
            test::TestRequest::delete().uri(&format!("/api/executions/{id}"))
        );
        assert_error(
            status,
            &body,
            StatusCode::CONFLICT,
            "execution.finished",
            "twice",
        );
    }
}

#[actix_web::test]
async fn health_follows_the_sandbox() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    fake.set_healthy(false);
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["docker"], false);
}

// ---- the WebSocket terminal, over a real loopback socket ----

/// Either end of the client's WebSocket.
trait Socket:
    futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
    + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<T> Socket for T where
    T: futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

async fn submit(server: &actix_test::TestServer, body: Value) -> String {
    let mut response = server.post("/api/submit").send_json(&body).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let v: Value = response.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

async fn connect(server: &mut actix_test::TestServer, path: &str) -> impl Socket {
    server.ws_at(path).await.expect("the handshake succeeds")
}

/// The next text frame as JSON; `None` once the server closed.
async fn next(socket: &mut impl Socket) -> Option<Value> {
    loop {
        match socket.next().await? {
            Ok(ws::Frame::Text(t)) => return Some(serde_json::from_slice(&t).unwrap()),
            Ok(ws::Frame::Close(reason)) => {
                let code = reason.map(|r| r.code);
                assert_eq!(code, Some(ws::CloseCode::Normal), "closes normally");
                return None;
            }
            Ok(_) => continue,
            Err(e) => panic!("protocol error: {e}"),
        }
    }
}

/// Every frame until the server closes.
async fn rest(socket: &mut impl Socket) -> Vec<Value> {
    let mut all = Vec::new();
    while let Some(frame) = next(socket).await {
        all.push(frame);
    }
    all
}

/// Frames until one of type `kind` (returned last).
async fn until(socket: &mut impl Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next(socket)
            .await
            .unwrap_or_else(|| panic!("closed before a {kind} frame: {seen:?}"));
        let done = frame["type"] == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

fn server(executor: &Executor<Fake>) -> actix_test::TestServer {
    let state = state(executor, 1 << 20);
    actix_test::start(move || app!(state.clone()))
}

#[actix_web::test]
async fn the_terminal_streams_prompts_and_takes_a_line() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = server(&executor);
    let id = submit(
        &srv,
        json!({"language": "c", "code": "prompt Name:\\s\nprint done"}),
    )
    .await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let before = until(&mut socket, "input_prompt").await;
    assert_eq!(
        before[0],
        json!({"type": "status", "content": {"status": "queued"}})
    );
    assert!(before.contains(&json!({"type": "system", "content": "running"})));
    assert!(before.contains(
        &json!({"type": "output", "content": {"text": "Name: ", "isError": false, "step": "run"}})
    ));
    assert_eq!(
        before.last().unwrap(),
        &json!({"type": "input_prompt", "content": "Name: "})
    );
    socket.send(ws::Message::Text("Ada".into())).await.unwrap();
    let after = rest(&mut socket).await;
    let last = after.last().unwrap();
    assert_eq!(last["type"], "status", "{after:?}");
    assert_eq!(last["content"]["status"], "completed");
    assert_eq!(last["content"]["verdict"], "ok");
    assert_eq!(last["content"]["exitCode"], 0);
    assert_eq!(last["content"]["truncated"], false);
    assert!(after.contains(
        &json!({"type": "output", "content": {"text": "done\n", "isError": false, "step": "run"}})
    ));
    // The line typed reached the program with its newline.
    let typed = fake.inputs(id.parse().unwrap());
    assert!(typed.contains(&monaco_executor::InputCommand::Bytes(b"Ada\n".to_vec())));
}

#[actix_web::test]
async fn a_late_terminal_gets_the_log_replayed_from_any_index() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = server(&executor);
    let id = submit(
        &srv,
        json!({"language": "python", "code": "print one\nprint two\nexit 1", "input": ""}),
    )
    .await;
    executor.wait(id.parse().unwrap()).await.unwrap();
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let all = rest(&mut socket).await;
    assert_eq!(all.first().unwrap()["content"]["status"], "queued");
    assert_eq!(all.last().unwrap()["content"]["verdict"], "runtime_error");
    assert_eq!(all.last().unwrap()["content"]["status"], "completed");
    for from in 1..all.len() {
        let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}?from={from}")).await;
        assert_eq!(rest(&mut socket).await, all[from..], "from={from}");
    }
}

#[actix_web::test]
async fn client_frames_bytes_eof_errors_and_kill() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let mut srv = server(&executor);
    let id = submit(&srv, json!({"language": "python", "code": "echo"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let bad = [
        r#"{"type":"bogus"}"#,
        r#"{"type":"stdin","base64":"!!"}"#,
        r#"{"type":"stdin","content":"a","base64":"YQ=="}"#,
    ];
    for frame in bad {
        socket.send(ws::Message::Text(frame.into())).await.unwrap();
        let reply = until(&mut socket, "error").await;
        assert_eq!(
            reply.last().unwrap()["content"]["errorType"],
            "websocket.invalid_message",
            "{frame}"
        );
    }
    let text = r#"{"type":"stdin","content":"ab"}"#;
    socket.send(ws::Message::Text(text.into())).await.unwrap();
    socket
        .send(ws::Message::Binary(vec![0xff, b'\n'].into()))
        .await
        .unwrap();
    socket
        .send(ws::Message::Text(r#"{"type":"eof"}"#.into()))
        .await
        .unwrap();
    let frames = rest(&mut socket).await;
    let printed: Vec<&Value> = frames.iter().filter(|f| f["type"] == "output").collect();
    assert_eq!(printed[0]["content"]["text"], "ab", "{frames:?}");
    assert_eq!(printed[1]["content"]["base64"], "/wo=", "{frames:?}");
    assert_eq!(frames.last().unwrap()["content"]["verdict"], "ok");

    let id = submit(&srv, json!({"language": "python", "code": "wait"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    until(&mut socket, "system").await;
    socket
        .send(ws::Message::Text(r#"{"type":"kill"}"#.into()))
        .await
        .unwrap();
    let frames = rest(&mut socket).await;
    let last = &frames.last().unwrap()["content"];
    assert_eq!(last["status"], "failed", "{frames:?}");
    assert_eq!(last["verdict"], "cancelled", "{frames:?}");
    assert_eq!(last["error"]["code"], "execution.cancelled", "{frames:?}");
}

/// A well-formed execution id nobody submitted.
fn uuid_like() -> String {
    monaco_executor::ExecutionId::new().to_string()
}
