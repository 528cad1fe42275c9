//! Metrics and webhooks through the real server and Docker.
//!
//! `/metrics` is parsed with a Prometheus text parser and its counters move
//! by exactly the executions run, per language and verdict; the token
//! guards it when set. Webhooks go only to loopback receivers this test
//! starts (with `MONACO_WEBHOOK_ALLOW=127.0.0.0/8,::1/128`): the signature
//! verifies; 500, 500, 200 is three attempts and delivered; 404 is one
//! attempt and failed; a receiver that never answers times out and is
//! retried; without the allow list `localhost`, `127.0.0.1` and `[::1]` are
//! refused at submit time, and bad `callbackUrl`s get JSON errors.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use support::{expect_error, json_body, request, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "whsec-test-3f9a";

/// A scrape parsed: every sample's value by name and labels, and the text.
struct Scrape(Vec<prometheus_parse::Sample>, String);

impl Scrape {
    /// The value of the sample `name` whose labels include all of `labels`
    /// (summed over the others); 0 when none matches.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    }
}

async fn scrape_with(server: &Server, token: Option<&str>) -> reqwest::Response {
    let mut r = server.http().get(server.url("/metrics"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.expect("GET /metrics")
}

async fn scrape(server: &Server) -> Scrape {
    parse(scrape_with(server, None).await).await
}

async fn parse(r: reqwest::Response) -> Scrape {
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.contains("openmetrics-text"), "{content_type}");
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    assert!(!parsed.samples.is_empty(), "{text}");
    Scrape(parsed.samples, text)
}

fn metrics_server() -> ServerConfig {
    ServerConfig::default().env(
        "MONACO_LANGUAGES",
        support::languages_subset(&["python", "c"]).display(),
    )
}

#[tokio::test]
async fn counters_move_by_exactly_the_executions_run() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(metrics_server()).await;
    let before = scrape(&server).await;
    // Every family is declared, samples or not yet.
    for (name, kind) in [
        ("monaco_executions", "counter"),
        ("monaco_execution_duration_seconds", "histogram"),
        ("monaco_queue_depth", "gauge"),
        ("monaco_executions_running", "gauge"),
        ("monaco_rejections", "counter"),
        ("monaco_pool_containers", "gauge"),
        ("monaco_pool_takes", "counter"),
        ("monaco_container_start_seconds", "histogram"),
        ("monaco_websocket_connections", "gauge"),
        ("monaco_webhook_deliveries", "counter"),
        ("monaco_docker_up", "gauge"),
    ] {
        let declared = format!("# TYPE {name} {kind}");
        assert!(
            before.1.lines().any(|l| l == declared),
            "{declared} in {}",
            before.1
        );
    }
    // No keys configured: the per-key family stays empty.
    assert!(!before.1.contains("monaco_key_executions"), "{}", before.1);
    assert_eq!(before.value("monaco_docker_up", &[]), 1.0);
    assert_eq!(before.value("monaco_queue_depth", &[]), 0.0);
    assert_eq!(before.value("monaco_executions_running", &[]), 0.0);

    let ok = server.execute(&request("python", "print(1)", None)).await;
    assert_eq!(ok["verdict"], "ok", "{ok}");
    let ok = server.execute(&request("python", "print(2)", None)).await;
    assert_eq!(ok["verdict"], "ok", "{ok}");
    let crash = server
        .execute(&request("python", "raise SystemExit(3)", None))
        .await;
    assert_eq!(crash["verdict"], "runtime_error", "{crash}");
    let broken = server
        .execute(&request("c", "int main( { return 0; }", None))
        .await;
    assert_eq!(broken["verdict"], "compile_error", "{broken}");
    // Refusals, each counted by its code.
    let unknown = server
        .request(
            Method::POST,
            "/api/execute",
            Some(&request("cobol", "x", None)),
        )
        .await;
    expect_error(unknown, StatusCode::BAD_REQUEST, "language.unknown").await;
    let nowhere = server.request(Method::GET, "/api/nowhere", None).await;
    expect_error(nowhere, StatusCode::NOT_FOUND, "route.not_found").await;

    let after = scrape(&server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let executions = "monaco_executions_total";
    assert_eq!(
        delta(executions, &[("language", "python"), ("verdict", "ok")]),
        2.0
    );
    assert_eq!(
        delta(
            executions,
            &[("language", "python"), ("verdict", "runtime_error")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            executions,
            &[("language", "c"), ("verdict", "compile_error")]
        ),
        1.0
    );
    assert_eq!(delta(executions, &[]), 4.0, "nothing else was counted");
    // No label value comes from the request.
    assert!(after
        .0
        .iter()
        .all(|s| s.labels.get("language") != Some("cobol")));

    // Histograms: one observation per execution and phase that happened.
    let durations = "monaco_execution_duration_seconds_count";
    let phase = |language, phase| delta(durations, &[("language", language), ("phase", phase)]);
    assert_eq!(phase("python", "total"), 3.0);
    assert_eq!(phase("python", "queue"), 3.0);
    assert_eq!(phase("python", "run"), 3.0);
    assert_eq!(
        phase("python", "compile"),
        0.0,
        "python has no compile step"
    );
    assert_eq!(phase("c", "compile"), 1.0);
    assert_eq!(phase("c", "run"), 0.0, "a compile error never runs");
    assert!(
        after.value(
            "monaco_execution_duration_seconds_sum",
            &[("phase", "total")]
        ) > 0.0
    );
    // Every job looked in the warm pool once.
    assert_eq!(delta("monaco_pool_takes_total", &[]), 4.0);
    assert!(after.value("monaco_container_start_seconds_count", &[]) >= 1.0);
    assert!(
        after
            .0
            .iter()
            .any(|s| s.metric == "monaco_container_start_seconds"
                && matches!(&s.value, prometheus_parse::Value::Histogram(b) if b.len() > 10)),
        "container start seconds as a histogram with buckets"
    );
    for language in ["python", "c"] {
        assert!(
            after.0.iter().any(|s| s.metric == "monaco_pool_containers"
                && s.labels.get("language") == Some(language)),
            "a pool gauge for {language}"
        );
    }
    assert_eq!(
        delta("monaco_rejections_total", &[("code", "language.unknown")]),
        1.0
    );
    assert_eq!(
        delta("monaco_rejections_total", &[("code", "route.not_found")]),
        1.0
    );
    assert_eq!(delta("monaco_rejections_total", &[]), 2.0);

    // An open terminal is counted while it is open.
    let id = server
        .submit(&request("python", "print(input())", None))
        .await;
    let terminal = server.terminal(&id).await;
    assert_eq!(
        scrape(&server)
            .await
            .value("monaco_websocket_connections", &[]),
        1.0
    );
    drop(terminal);
    server
        .request(Method::DELETE, &format!("/api/executions/{id}"), None)
        .await;
    server.wait_result(&id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while scrape(&server)
        .await
        .value("monaco_websocket_connections", &[])
        != 0.0
    {
        assert!(
            Instant::now() < deadline,
            "the closed terminal is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = scrape(&server).await;
    assert_eq!(
        last.value(
            executions,
            &[("language", "python"), ("verdict", "cancelled")]
        ) - before.value(
            executions,
            &[("language", "python"), ("verdict", "cancelled")]
        ),
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn the_token_guards_the_metrics_and_they_can_be_turned_off() {
    if !support::docker_or_skip() {
        return;
    }
    let token = "m3trics-t0ken";
    let server = Server::start_with(
        metrics_server()
            .env("MONACO_METRICS_TOKEN", token)
            .env("MONACO_POOL_SIZE", 0),
    )
    .await;
    let none = scrape_with(&server, None).await;
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    expect_error(none, StatusCode::UNAUTHORIZED, "metrics.unauthorized").await;
    let wrong = scrape_with(&server, Some("m3trics-t0kem")).await;
    expect_error(wrong, StatusCode::UNAUTHORIZED, "metrics.unauthorized").await;
    let longer = scrape_with(&server, Some("m3trics-t0ken2")).await;
    expect_error(longer, StatusCode::UNAUTHORIZED, "metrics.unauthorized").await;
    let right = parse(scrape_with(&server, Some(token)).await).await;
    assert_eq!(
        right.value(
            "monaco_rejections_total",
            &[("code", "metrics.unauthorized")]
        ),
        3.0
    );
    // The API itself is not behind the metrics token.
    let languages = server.request(Method::GET, "/api/languages", None).await;
    json_body(languages, StatusCode::OK).await;
    server.stop().await;

    let off = Server::start_with(
        metrics_server()
            .env("MONACO_METRICS", "false")
            .env("MONACO_POOL_SIZE", 0),
    )
    .await;
    let r = scrape_with(&off, None).await;
    expect_error(r, StatusCode::NOT_FOUND, "route.not_found").await;
    off.stop().await;
}

/// What a receiver does with one connection.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Read the request, never answer.
    Hang,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A loopback HTTP receiver answering its connections in turn with
/// `replies` (the last one repeated), recording every request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Delivery>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(host: &str, replies: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind((host, 0)).await.expect("bind a receiver");
        let addr = listener.local_addr().unwrap();
        let url = match addr {
            std::net::SocketAddr::V4(a) => format!("http://127.0.0.1:{}/hook", a.port()),
            std::net::SocketAddr::V6(a) => format!("http://[::1]:{}/hook", a.port()),
        };
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&got);
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            let mut held = Vec::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies[n.min(replies.len() - 1)];
                n += 1;
                let Some(delivery) = read_request(&mut stream).await else {
                    continue;
                };
                record.lock().unwrap().push(delivery);
                match reply {
                    Reply::Status(code) => {
                        let response = format!(
                            "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        );
                        let _ = stream.write_all(response.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    }
                    // Kept open, unanswered, until the receiver stops.
                    Reply::Hang => held.push(stream),
                }
            }
        });
        Receiver { url, got, task }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request with a `content-length` body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Delivery> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    assert!(request_line.starts_with("POST /hook "), "{request_line}");
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Delivery {
        headers,
        body: buf[head_end..head_end + length].to_vec(),
    })
}

/// Checks `X-Monaco-Signature: t=…,v1=…` against the body, as a receiver
/// would; returns the body as JSON.
fn verified(d: &Delivery) -> Value {
    let header = d
        .headers
        .get("x-monaco-signature")
        .unwrap_or_else(|| panic!("no signature in {:?}", d.headers));
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature {header:?}"));
    let t: u64 = t.parse().expect("t is unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t <= now && now - t < 600, "t={t} is not recent");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&d.body);
    mac.verify_slice(&hex::decode(v1).expect("v1 is hex"))
        .expect("the signature verifies");
    // Any other secret does not verify it.
    let mut other = Hmac::<Sha256>::new_from_slice(b"another secret").unwrap();
    other.update(format!("{t}.").as_bytes());
    other.update(&d.body);
    assert!(other.verify_slice(&hex::decode(v1).unwrap()).is_err());
    assert_eq!(d.headers["content-type"], "application/json");
    serde_json::from_slice(&d.body).expect("the body is JSON")
}

fn webhook_server() -> ServerConfig {
    ServerConfig::default()
        .env(
            "MONACO_LANGUAGES",
            support::languages_subset(&["python"]).display(),
        )
        .env("MONACO_WEBHOOK_SECRET", SECRET)
        .env("MONACO_WEBHOOK_ALLOW", "127.0.0.0/8,::1/128")
        .env("MONACO_WEBHOOK_BACKOFF_MS", 50)
        .env("MONACO_WEBHOOK_TIMEOUT_MS", 400)
        .env("MONACO_WEBHOOK_ATTEMPTS", 3)
}

/// Polls `/api/result/{id}` until its callback is no longer pending.
async fn callback_settled(server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = server.wait_result(id).await;
        let callback = result["callback"].clone();
        assert!(callback.is_object(), "a callback state: {result}");
        if callback["state"] != "pending" {
            return result;
        }
        assert!(Instant::now() < deadline, "still pending: {result}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn with_callback(mut body: Value, url: &str) -> Value {
    body["callbackUrl"] = json!(url);
    body
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_reported() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(webhook_server()).await;

    // 500, 500, 200: three attempts, delivered; the body is the result.
    let flaky = Receiver::start(
        "127.0.0.1",
        vec![Reply::Status(500), Reply::Status(500), Reply::Status(200)],
    )
    .await;
    let id = server
        .submit(&with_callback(
            request("python", "print('hooked')", Some("")),
            &flaky.url,
        ))
        .await;
    let result = callback_settled(&server, &id).await;
    assert_eq!(
        result["callback"],
        json!({"state": "delivered", "attempts": 3, "lastStatus": 200, "lastError": null}),
        "{result}"
    );
    let deliveries = flaky.deliveries();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    for d in &deliveries {
        let body = verified(d);
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["status"], "completed");
        assert_eq!(body["stdout"], "hooked\n");
        assert_eq!(body["verdict"], "ok");
    }

    // 404: one attempt, failed, never retried.
    let gone = Receiver::start("127.0.0.1", vec![Reply::Status(404)]).await;
    let id = server
        .submit(&with_callback(
            request("python", "print(1)", Some("")),
            &gone.url,
        ))
        .await;
    let result = callback_settled(&server, &id).await;
    assert_eq!(result["callback"]["state"], "failed", "{result}");
    assert_eq!(result["callback"]["attempts"], 1, "{result}");
    assert_eq!(result["callback"]["lastStatus"], 404, "{result}");
    assert_eq!(gone.deliveries().len(), 1);

    // 429 is retried like a 5xx; over IPv6 loopback this time.
    let busy = Receiver::start("::1", vec![Reply::Status(429), Reply::Status(204)]).await;
    let id = server
        .submit(&with_callback(
            request("python", "print(1)", Some("")),
            &busy.url,
        ))
        .await;
    let result = callback_settled(&server, &id).await;
    assert_eq!(result["callback"]["state"], "delivered", "{result}");
    assert_eq!(result["callback"]["attempts"], 2, "{result}");
    assert_eq!(result["callback"]["lastStatus"], 204, "{result}");

    // Never answers: each attempt times out, all three are made.
    let silent = Receiver::start("127.0.0.1", vec![Reply::Hang]).await;
    let id = server
        .submit(&with_callback(
            request("python", "print(1)", Some("")),
            &silent.url,
        ))
        .await;
    let result = callback_settled(&server, &id).await;
    let callback = &result["callback"];
    assert_eq!(callback["state"], "failed", "{result}");
    assert_eq!(callback["attempts"], 3, "{result}");
    assert_eq!(callback["lastStatus"], Value::Null, "{result}");
    assert!(
        callback["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{result}"
    );
    assert_eq!(silent.deliveries().len(), 3);

    // Nobody listens: connection refused is retried too.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/hook")
    };
    let id = server
        .submit(&with_callback(
            request("python", "print(1)", Some("")),
            &closed,
        ))
        .await;
    let result = callback_settled(&server, &id).await;
    assert_eq!(result["callback"]["state"], "failed", "{result}");
    assert_eq!(result["callback"]["attempts"], 3, "{result}");

    // /api/execute, a batch's entries and an execution with tests call back too.
    let ok = Receiver::start("127.0.0.1", vec![Reply::Status(200)]).await;
    let executed = server
        .execute(&with_callback(request("python", "print(7)", None), &ok.url))
        .await;
    // Answered when the execution ends; the delivery runs beside it.
    let state = &executed["callback"]["state"];
    assert!(state == "pending" || state == "delivered", "{executed}");
    let graded = with_callback(
        json!({"language": "python", "code": "print(int(input())*2)",
               "tests": [{"input": "2", "expectedOutput": "4"}, {"input": "3", "expectedOutput": "7"}]}),
        &ok.url,
    );
    let batch = json!({"submissions": [
        with_callback(request("python", "print('a')", Some("")), &ok.url),
        graded,
    ]});
    let r = server
        .request(Method::POST, "/api/batch", Some(&batch))
        .await;
    let queued = json_body(r, StatusCode::ACCEPTED).await;
    let mut ids = vec![executed["id"].as_str().unwrap().to_string()];
    for entry in queued["submissions"].as_array().unwrap() {
        let id = entry["id"].as_str().unwrap().to_string();
        server.track(&id);
        ids.push(id);
    }
    for id in &ids {
        let result = callback_settled(&server, id).await;
        assert_eq!(result["callback"]["state"], "delivered", "{result}");
    }
    let bodies: HashMap<String, Value> = ok
        .deliveries()
        .iter()
        .map(verified)
        .map(|b| (b["id"].as_str().unwrap().to_string(), b))
        .collect();
    assert_eq!(bodies.len(), 3, "one delivery per execution");
    assert_eq!(bodies[&ids[0]]["stdout"], "7\n");
    assert_eq!(bodies[&ids[1]]["stdout"], "a\n");
    let tests = &bodies[&ids[2]];
    assert_eq!(tests["verdict"], "wrong_answer", "{tests}");
    assert_eq!(tests["summary"]["passed"], 1, "{tests}");

    // Counted: delivered 1 + 1 + 3, failed 1 + 1 + 1.
    let metrics = scrape(&server).await;
    let deliveries = "monaco_webhook_deliveries_total";
    assert_eq!(metrics.value(deliveries, &[("result", "delivered")]), 5.0);
    assert_eq!(metrics.value(deliveries, &[("result", "failed")]), 3.0);
    server.stop().await;
}

#[tokio::test]
async fn loopback_and_bad_callback_urls_are_refused() {
    if !support::docker_or_skip() {
        return;
    }
    // No allow list: loopback is as forbidden as any private range.
    let server = Server::start_with(
        ServerConfig::default()
            .env(
                "MONACO_LANGUAGES",
                support::languages_subset(&["python"]).display(),
            )
            .env("MONACO_WEBHOOK_SECRET", SECRET)
            .env("MONACO_POOL_SIZE", 0),
    )
    .await;
    // A receiver that must never be reached.
    let trap = Receiver::start("127.0.0.1", vec![Reply::Status(200)]).await;
    let port = trap
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook");
    let submit = |url: String| {
        let body = with_callback(request("python", "print(1)", Some("")), &url);
        let server = &server;
        async move { server.submit_raw(&body).await }
    };
    for url in [
        trap.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.1/hook".to_string(),
        "http://100.64.0.1/hook".to_string(),
        "https://[fd00::1]/hook".to_string(),
        "http://0.0.0.0/hook".to_string(),
    ] {
        let body = expect_error(
            submit(url.clone()).await,
            StatusCode::BAD_REQUEST,
            "callback.forbidden_address",
        )
        .await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("MONACO_WEBHOOK_ALLOW"), "{url}: {message}");
    }
    for url in [
        "not a url".to_string(),
        "ftp://example.com/hook".to_string(),
        "file:///etc/passwd".to_string(),
        "http://user:pass@example.com/hook".to_string(),
        format!("https://example.com/{}", "a".repeat(2100)),
        "//example.com/hook".to_string(),
    ] {
        expect_error(
            submit(url).await,
            StatusCode::BAD_REQUEST,
            "callback.invalid_url",
        )
        .await;
    }
    let wrong_type = json!({"language": "python", "code": "print(1)", "callbackUrl": 7});
    expect_error(
        server.submit_raw(&wrong_type).await,
        StatusCode::BAD_REQUEST,
        "request.invalid",
    )
    .await;
    // In a batch, the item is named.
    let batch = json!({"submissions": [
        request("python", "print(1)", Some("")),
        with_callback(request("python", "print(1)", Some("")), &trap.url),
    ]});
    let r = server
        .request(Method::POST, "/api/batch", Some(&batch))
        .await;
    let body = expect_error(r, StatusCode::BAD_REQUEST, "request.invalid").await;
    assert_eq!(body["error"]["index"], 1, "{body}");
    assert_eq!(
        body["error"]["itemCode"], "callback.forbidden_address",
        "{body}"
    );
    assert!(trap.deliveries().is_empty(), "nothing reached loopback");
    assert_eq!(server.get_json("/api/health").await["queueDepth"], 0);
    server.stop().await;

    // No secret anywhere: a callback is refused rather than sent unsigned.
    let unsigned = Server::start_with(
        ServerConfig::default()
            .env(
                "MONACO_LANGUAGES",
                support::languages_subset(&["python"]).display(),
            )
            .env("MONACO_WEBHOOK_ALLOW", "127.0.0.0/8")
            .env("MONACO_POOL_SIZE", 0),
    )
    .await;
    let body = with_callback(request("python", "print(1)", Some("")), &trap.url);
    expect_error(
        unsigned.submit_raw(&body).await,
        StatusCode::BAD_REQUEST,
        "callback.unsigned",
    )
    .await;
    assert!(trap.deliveries().is_empty());
    unsigned.stop().await;
}
