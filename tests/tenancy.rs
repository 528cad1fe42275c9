//! API keys, ownership, terminal tokens, quotas and rate limits through the
//! real server binary over real sockets and real Docker: keys made with
//! `monaco-server keygen`, a missing, wrong and revoked key (edit + SIGHUP,
//! with an execution running through it), a bad file kept out, another
//! key's execution hidden on every route, the WebSocket with and without
//! its `terminalToken`, a key past its rate while another goes on,
//! `max_running` and `max_queued`, a key's lower limit maximum, and the
//! per-address rate without keys behind a trusted and an untrusted proxy.
//! All traffic goes to 127.0.0.1.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use support::{
    expect_error, json_body, languages_subset, request, Server, ServerConfig, EXECUTION,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Waits for input and prints it reversed: stays running until typed to.
const WAITS: &str = "print(input()[::-1])";

/// A key made by `monaco-server keygen`: its secret and its table.
struct Key {
    secret: String,
    table: String,
}

/// `monaco-server keygen --id id`, checked: the secret on the first line,
/// then a `[[key]]` table naming `id`.
fn keygen(id: &str, extra: &str) -> Key {
    let out = Command::new(support::server_binary())
        .args(["keygen", "--id", id])
        .output()
        .expect("run monaco-server keygen");
    assert!(out.status.success(), "keygen failed: {out:?}");
    let text = String::from_utf8(out.stdout).expect("keygen prints UTF-8");
    let (secret, table) = text.split_once('\n').expect("a secret, then the table");
    let secret = secret.trim().to_string();
    assert!(secret.len() >= 32, "a long secret: {secret:?}");
    assert!(
        table.contains("[[key]]") && table.contains(&format!("id = \"{id}\"")),
        "{table}"
    );
    assert!(
        !table.contains(&secret),
        "the table holds the digest, not the secret"
    );
    Key {
        secret,
        table: format!("{}{extra}\n", table.trim_start()),
    }
}

/// A keys file of these tables, unique to this call.
fn keys_file(keys: &[&Key]) -> PathBuf {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "keys-{}-{}.toml",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::SeqCst)
    ));
    write_keys(&path, keys);
    path
}

fn write_keys(path: &Path, keys: &[&Key]) {
    let text: String = keys.iter().map(|k| format!("{}\n", k.table)).collect();
    std::fs::write(path, text).expect("write the keys file");
}

/// A python-only server (a light warm pool) with `env` on top.
async fn server(env: &[(&str, String)]) -> Server {
    let mut config = ServerConfig::default()
        .env("MONACO_LANGUAGES", languages_subset(&["python"]).display())
        .env("MONACO_POOL_SIZE", 1);
    for (k, v) in env {
        config = config.env(k, v);
    }
    Server::start_with(config).await
}

async fn keyed_server(file: &Path, env: &[(&str, String)]) -> Server {
    let mut all = vec![("MONACO_API_KEYS_FILE", file.display().to_string())];
    all.extend(env.iter().cloned());
    server(&all).await
}

/// A request with `X-Api-Key`.
fn as_key(server: &Server, method: Method, path: &str, key: &Key) -> RequestBuilder {
    server
        .http()
        .request(method, server.url(path))
        .header("x-api-key", &key.secret)
}

async fn send(builder: RequestBuilder) -> Response {
    builder.send().await.expect("the request is answered")
}

/// `POST /api/submit` as `key`, expecting 202; the id and terminal token.
async fn submit_as(server: &Server, key: &Key, body: &Value) -> (String, String) {
    let r = send(as_key(server, Method::POST, "/api/submit", key).json(body)).await;
    let v = json_body(r, StatusCode::ACCEPTED).await;
    let id = v["id"].as_str().expect("an id").to_string();
    server.track(&id);
    let token = v["terminalToken"]
        .as_str()
        .expect("a terminalToken")
        .to_string();
    assert!(token.len() >= 32, "an unguessable token: {v}");
    (id, token)
}

/// Polls `GET /api/status/{id}` as `key` until `done`.
async fn poll_as(server: &Server, key: &Key, id: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + EXECUTION;
    loop {
        let r = send(as_key(
            server,
            Method::GET,
            &format!("/api/status/{id}"),
            key,
        ))
        .await;
        let v = json_body(r, StatusCode::OK).await;
        let status = v["status"].as_str().expect("a status").to_string();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The WebSocket handshake's status (101 when it opened), with headers.
async fn ws_status(server: &Server, path: &str, header: Option<(&str, &str)>) -> (u16, Value) {
    let mut request = server.ws_url(path).into_client_request().expect("a URL");
    if let Some((name, value)) = header {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut ws, response)) => {
            let _ = ws.close(None).await;
            (response.status().as_u16(), Value::Null)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(e) => panic!("WebSocket {path}: {e}"),
    }
}

/// Cancels as `key`, then waits until the execution has ended.
async fn cancel_as(server: &Server, key: &Key, id: &str) {
    let r = send(as_key(
        server,
        Method::DELETE,
        &format!("/api/executions/{id}"),
        key,
    ))
    .await;
    assert!(r.status().is_success(), "cancel {id}: {}", r.status());
    poll_as(server, key, id, support::is_final).await;
}

/// Keys made by keygen work in either header; none, a wrong one, or a
/// wrong scheme are refused with 401 on every route but health; a bad
/// keys file stops the server at start with a clear message.
#[tokio::test]
async fn keys_are_required_and_checked() {
    if !support::docker_or_skip() {
        return;
    }
    let broken = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("keys-broken-{}.toml", std::process::id()));
    std::fs::write(&broken, "[[key]]\nid = \"a\"\nsha256 = \"nothex\"\n").unwrap();
    let launch = monaco_testkit::Launch::new(support::server_binary(), support::workspace_root())
        .log_dir(env!("CARGO_TARGET_TMPDIR"))
        .setting("MONACO_API_KEYS_FILE", &broken);
    let error = monaco_testkit::ServerProcess::start(&launch)
        .await
        .err()
        .expect("a bad keys file stops the server");
    let message = error.to_string();
    assert!(
        message.contains("MONACO_API_KEYS_FILE") && message.contains("sha256"),
        "{message}"
    );

    let key = keygen("grader", "");
    let logs = [
        ("MONACO_LOG_FORMAT", "json".to_string()),
        ("RUST_LOG", "info,monaco_scheduler=debug".to_string()),
    ];
    let server = keyed_server(&keys_file(&[&key]), &logs).await;
    let health = send(server.http().get(server.url("/api/health"))).await;
    assert_eq!(health.status(), StatusCode::OK, "health stays open");

    let hello = request("python", "print('hi')", None);
    for (method, path) in [
        (Method::POST, "/api/submit"),
        (Method::POST, "/api/execute"),
        (Method::GET, "/api/languages"),
        (Method::GET, "/api/openapi.json"),
        (Method::GET, "/api/batch?ids="),
        (
            Method::GET,
            "/api/status/00000000-0000-4000-8000-000000000000",
        ),
    ] {
        let url = server.url(path);
        let r = send(server.http().request(method.clone(), &url).json(&hello)).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "auth.missing").await;
        let r = send(
            server
                .http()
                .request(method.clone(), &url)
                .header("x-api-key", "mk_wrong")
                .json(&hello),
        )
        .await;
        expect_error(r, StatusCode::UNAUTHORIZED, "auth.invalid").await;
        let r = send(
            server
                .http()
                .request(method.clone(), &url)
                .header("authorization", format!("Basic {}", key.secret))
                .json(&hello),
        )
        .await;
        expect_error(r, StatusCode::UNAUTHORIZED, "auth.invalid").await;
    }

    let r = send(
        server
            .http()
            .post(server.url("/api/execute"))
            .bearer_auth(&key.secret)
            .json(&hello),
    )
    .await;
    let result = json_body(r, StatusCode::OK).await;
    let id = result["id"].as_str().unwrap();
    server.track(id);
    assert_eq!(result["stdout"], "hi\n", "{result}");

    // Every line logged about the execution is JSON in its span, which
    // names the key (and never holds the secret). "finished" is logged
    // once the result is stored, so it may come a moment after the reply.
    let about_it = |log: &str| -> Vec<Value> {
        // The tail's first line may be cut; every other line is JSON.
        log.lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .filter(|l: &Value| l["span"]["id"] == id || l["fields"]["id"] == id)
            .collect()
    };
    let logged_by = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = server.log_tail();
    while about_it(&log).len() < 3 && std::time::Instant::now() < logged_by {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        log = server.log_tail();
    }
    let lines = about_it(&log);
    assert!(
        lines.len() >= 3,
        "queued, started, finished at least:\n{log}"
    );
    for line in &lines {
        assert_eq!(line["span"]["name"], "execution", "{line}");
        assert_eq!(line["span"]["key"], "grader", "{line}");
    }
    assert!(!log.contains(&key.secret), "the secret in the log");
    let r = send(as_key(&server, Method::GET, "/api/languages", &key)).await;
    assert_eq!(r.status(), StatusCode::OK);
    server.stop().await;
}

/// Key B cannot see key A's execution on any route (the same 404 as an
/// unknown id); the terminal opens with A's key or the execution's token,
/// not without, not with a wrong token or another execution's, not with B's key.
#[tokio::test]
async fn executions_are_private_to_their_key() {
    if !support::docker_or_skip() {
        return;
    }
    let (a, b) = (keygen("a", ""), keygen("b", ""));
    let server = keyed_server(&keys_file(&[&a, &b]), &[]).await;
    let (id, token) = submit_as(&server, &a, &request("python", WAITS, None)).await;
    let (other, other_token) = submit_as(&server, &b, &request("python", WAITS, None)).await;
    let unknown = "00000000-0000-4000-8000-000000000000";

    for path in [
        format!("/api/status/{id}"),
        format!("/api/result/{id}"),
        format!("/api/executions/{id}"),
    ] {
        let theirs = send(as_key(&server, Method::GET, &path, &b)).await;
        let theirs = expect_error(theirs, StatusCode::NOT_FOUND, "execution.not_found").await;
        let missing = path.replace(&id, unknown);
        let none = send(as_key(&server, Method::GET, &missing, &b)).await;
        let none = expect_error(none, StatusCode::NOT_FOUND, "execution.not_found").await;
        assert_eq!(theirs, none, "existence is not leaked");
        let own = send(as_key(&server, Method::GET, &path, &a)).await;
        assert_eq!(own.status(), StatusCode::OK, "{path}");
    }
    let cancel = send(as_key(
        &server,
        Method::DELETE,
        &format!("/api/executions/{id}"),
        &b,
    ))
    .await;
    expect_error(cancel, StatusCode::NOT_FOUND, "execution.not_found").await;
    let batch = send(as_key(
        &server,
        Method::GET,
        &format!("/api/batch?ids={id},{other}"),
        &b,
    ))
    .await;
    let batch = json_body(batch, StatusCode::OK).await;
    assert_eq!(batch["submissions"][0], Value::Null, "{batch}");
    assert_eq!(batch["submissions"][1]["id"], other.as_str(), "{batch}");

    let path = format!("/api/ws/terminal/{id}");
    let (status, body) = ws_status(&server, &path, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("auth.missing")),
        "{body}"
    );
    let (status, body) = ws_status(&server, &format!("{path}?token=00{}", &token[2..]), None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("auth.invalid")),
        "{body}"
    );
    let (status, body) = ws_status(&server, &format!("{path}?token={other_token}"), None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("auth.invalid")),
        "{body}"
    );
    let (status, body) = ws_status(&server, &path, Some(("x-api-key", &b.secret))).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("execution.not_found")),
        "{body}"
    );
    let (status, _) = ws_status(&server, &path, Some(("x-api-key", &a.secret))).await;
    assert_eq!(status, 101, "the owner's key opens it");

    // The token alone opens it, and typing through it reaches the program
    // (the input route of the API).
    let mut terminal =
        support::Terminal::connect(&server.ws_url(&format!("{path}?token={token}"))).await;
    terminal
        .until("the prompt", |f| f["type"] == "input_prompt")
        .await;
    terminal
        .send(json!({"type": "input", "content": "olleh"}))
        .await;
    let transcript = terminal.finish().await;
    assert_eq!(transcript.stdout(), "hello\n");
    cancel_as(&server, &b, &other).await;
    server.stop().await;
}

/// Key A past its `rate_per_minute` gets 429 `rate.limited` with
/// `Retry-After`, for a single submission and for a batch, while key B's
/// submissions all succeed.
#[tokio::test]
async fn a_key_past_its_rate_is_refused_while_another_goes_on() {
    if !support::docker_or_skip() {
        return;
    }
    let (a, b) = (keygen("a", "rate_per_minute = 3"), keygen("b", ""));
    let server = keyed_server(&keys_file(&[&a, &b]), &[]).await;
    let hello = request("python", "print('hi')", None);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push((submit_as(&server, &a, &hello).await.0, true));
    }
    let r = send(as_key(&server, Method::POST, "/api/submit", &a).json(&hello)).await;
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate.limited").await;
    let batch = json!({"submissions": [hello, hello]});
    let r = send(as_key(&server, Method::POST, "/api/batch", &a).json(&batch)).await;
    assert!(r.headers().contains_key("retry-after"));
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate.limited").await;
    for _ in 0..5 {
        ids.push((submit_as(&server, &b, &hello).await.0, false));
    }
    let r = send(as_key(&server, Method::POST, "/api/batch", &b).json(&batch)).await;
    let body = json_body(r, StatusCode::ACCEPTED).await;
    for entry in body["submissions"].as_array().unwrap() {
        assert!(entry["terminalToken"].is_string(), "{body}");
        ids.push((entry["id"].as_str().unwrap().to_string(), false));
        server.track(entry["id"].as_str().unwrap());
    }
    for (id, of_a) in &ids {
        let key = if *of_a { &a } else { &b };
        let status = poll_as(&server, key, id, support::is_final).await;
        assert_eq!(status, "completed", "{id}");
    }
    server.stop().await;
}

/// `max_running` caps a key's executions in flight and `max_queued` those
/// waiting (a batch counts as its size), each key on its own; a key's lower
/// limit maximum refuses more as the server's maximum does.
#[tokio::test]
async fn max_running_max_queued_and_a_keys_lower_maximum() {
    if !support::docker_or_skip() {
        return;
    }
    let r = keygen("r", "max_running = 1");
    let q = keygen("q", "max_queued = 1");
    let l = keygen("l", "max_limits = { wall_ms = 2000 }");
    let server = keyed_server(
        &keys_file(&[&r, &q, &l]),
        &[("CONCURRENT_EXECUTIONS", "1".to_string())],
    )
    .await;
    let waits = request("python", WAITS, None);

    let (first, _) = submit_as(&server, &r, &waits).await;
    poll_as(&server, &r, &first, |s| s == "running").await;
    let refused = send(as_key(&server, Method::POST, "/api/submit", &r).json(&waits)).await;
    assert!(refused.headers().contains_key("retry-after"));
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "quota.running").await;

    // The one worker is busy with r's: q's first waits, its second is refused.
    let (queued, _) = submit_as(&server, &q, &waits).await;
    let refused = send(as_key(&server, Method::POST, "/api/submit", &q).json(&waits)).await;
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "quota.queued").await;
    // Another key is not held back by q's quota.
    let (other, _) = submit_as(&server, &l, &waits).await;

    // Once r's execution ends, r may submit again.
    cancel_as(&server, &r, &first).await;
    cancel_as(&server, &q, &queued).await;
    cancel_as(&server, &l, &other).await;
    let (again, _) = submit_as(&server, &r, &waits).await;
    cancel_as(&server, &r, &again).await;
    let batch = json!({"submissions": [waits, waits]});
    let refused = send(as_key(&server, Method::POST, "/api/batch", &q).json(&batch)).await;
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "quota.queued").await;

    // l may ask at most 2 s of wall time; the server allows far more.
    let mut long = request("python", "print('hi')", None);
    long["limits"] = json!({"wall_ms": 3000});
    let refused = send(as_key(&server, Method::POST, "/api/submit", &l).json(&long)).await;
    let body = expect_error(refused, StatusCode::BAD_REQUEST, "limits.above_maximum").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("2000"),
        "{body}"
    );
    let r_long = send(as_key(&server, Method::POST, "/api/execute", &r).json(&long)).await;
    let done = json_body(r_long, StatusCode::OK).await;
    server.track(done["id"].as_str().unwrap());
    long["limits"] = json!({"wall_ms": 1500});
    let (fits, _) = submit_as(&server, &l, &long).await;
    assert_eq!(
        poll_as(&server, &l, &fits, support::is_final).await,
        "completed"
    );
    server.stop().await;
}

/// Editing the file and sending SIGHUP revokes a key at once while its
/// running execution goes on (and finishes through its terminal token); a
/// bad file is refused, logged without secrets, and the keys in force stay.
#[tokio::test]
async fn sighup_reloads_the_keys_and_a_bad_file_keeps_them() {
    if !support::docker_or_skip() {
        return;
    }
    let (a, b) = (
        keygen("a", "webhook_secret = \"whsec-never-logged\""),
        keygen("b", ""),
    );
    let file = keys_file(&[&a, &b]);
    let server = keyed_server(&file, &[]).await;
    let (id, token) = submit_as(&server, &a, &request("python", WAITS, None)).await;
    poll_as(&server, &a, &id, |s| s == "running").await;

    write_keys(&file, &[&b]);
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = send(as_key(&server, Method::GET, "/api/languages", &a)).await;
        if r.status() == StatusCode::UNAUTHORIZED {
            expect_error(r, StatusCode::UNAUTHORIZED, "auth.invalid").await;
            break;
        }
        assert!(Instant::now() < deadline, "key a still works after SIGHUP");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = send(as_key(&server, Method::GET, "/api/languages", &b)).await;
    assert_eq!(r.status(), StatusCode::OK);

    // A bad file: refused, and b (and only b) still works.
    std::fs::write(&file, "[[key]]\nid = \"b\"\nsha256 = \"not hex\"\n").unwrap();
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log_tail().contains("keys file refused") {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = send(as_key(&server, Method::GET, "/api/languages", &b)).await;
    assert_eq!(r.status(), StatusCode::OK, "the keys in force stay");
    let r = send(as_key(&server, Method::GET, "/api/languages", &a)).await;
    expect_error(r, StatusCode::UNAUTHORIZED, "auth.invalid").await;

    // a's execution was not dropped: its terminal token still reaches it.
    let path = format!("/api/ws/terminal/{id}?token={token}");
    let mut terminal = support::Terminal::connect(&server.ws_url(&path)).await;
    terminal
        .send(json!({"type": "input", "content": "olleh"}))
        .await;
    let transcript = terminal.finish().await;
    assert_eq!(transcript.stdout(), "hello\n");
    assert_eq!(transcript.final_status()["status"], "completed");

    let log = server.log_tail();
    for secret in [&a.secret, &b.secret, "whsec-never-logged", token.as_str()] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
    server.stop().await;
}

/// `POST /api/submit` with an `X-Forwarded-For`.
async fn submit_from(server: &Server, forwarded: &str) -> Response {
    send(
        server
            .http()
            .post(server.url("/api/submit"))
            .header("x-forwarded-for", forwarded)
            .json(&request("python", "print('hi')", None)),
    )
    .await
}

/// Without keys, `MONACO_RATE_PER_MINUTE` limits each client address: behind
/// a trusted proxy (loopback here) each forwarded client has its own
/// bucket; from an untrusted peer, what it forwards is ignored.
#[tokio::test]
async fn per_address_rate_without_keys() {
    if !support::docker_or_skip() {
        return;
    }
    let rate = ("MONACO_RATE_PER_MINUTE", "2".to_string());
    let trusted = server(&[
        rate.clone(),
        ("MONACO_TRUSTED_PROXIES", "127.0.0.1/32".into()),
    ])
    .await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            let v = json_body(submit_from(&trusted, client).await, StatusCode::ACCEPTED).await;
            trusted.track(v["id"].as_str().unwrap());
        }
        let r = submit_from(&trusted, &format!("203.0.113.5, {client}")).await;
        assert!(r.headers().contains_key("retry-after"));
        expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate.limited").await;
    }
    trusted.stop().await;

    let untrusted = server(&[rate, ("MONACO_TRUSTED_PROXIES", "10.0.0.0/8".into())]).await;
    for client in ["198.51.100.1", "198.51.100.2"] {
        let v = json_body(submit_from(&untrusted, client).await, StatusCode::ACCEPTED).await;
        untrusted.track(v["id"].as_str().unwrap());
    }
    let r = submit_from(&untrusted, "198.51.100.3").await;
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, "rate.limited").await;
    // Other routes are not rate limited.
    let r = untrusted.request(Method::GET, "/api/languages", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    untrusted.stop().await;
}
