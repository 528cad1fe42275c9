//! Faults: the Docker engine stopped in the middle of runs and started
//! again, the server killed with SIGKILL mid-run and restarted, WebSocket
//! clients that vanish or never read, and the warm pool on shutdown.
//!
//! The engine is never the machine's shared one: the outage test starts a
//! private `dockerd` (see `monaco_testkit::private_engine`) and stops that. The
//! other tests use the shared engine under an instance name of their own,
//! and remove whatever that instance left if they fail.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use monaco_testkit::private_engine::{
    containers_on, remove_containers, try_containers_on, PrivateEngine,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{request, Server, ServerConfig};

/// The image the private engine gets (the only language it serves).
const PYTHON_IMAGE: &str = "monaco/python:latest";

/// Error codes an execution may end with when its sandbox is lost (the
/// dotted codes the Docker driver and the scheduler give).
const LOST_CODES: &[&str] = &[
    "docker.attach",
    "docker.unavailable",
    "sandbox.lost",
    "sandbox.protocol",
    "sandbox.agent",
];

/// How long the engine stays down (after it has stopped).
const OUTAGE: Duration = Duration::from_secs(6);

/// How long the service gets to come back after the engine does.
const RECOVERY: Duration = Duration::from_secs(90);

/// The languages file these tests use: Python only (the private engine has
/// only its image, and a lighter pool suits the other tests too).
fn python_only_languages() -> PathBuf {
    support::languages_subset(&["python"])
}

/// A unique instance name for a test's server(s).
fn instance(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("faults-{what}-{}-{nanos}", std::process::id())
}

/// Removes every container of an instance when dropped: a failed test
/// leaves nothing behind on the engine.
struct InstanceCleanup {
    host: Option<String>,
    label: String,
}

impl InstanceCleanup {
    fn new(host: Option<String>, instance: &str) -> InstanceCleanup {
        InstanceCleanup {
            host,
            label: format!("monaco.instance={instance}"),
        }
    }

    /// The instance's containers (any state), with more labels if given.
    fn containers(&self, more: &[&str]) -> Vec<String> {
        let mut labels = vec![self.label.as_str(), "monaco.managed=true"];
        labels.extend_from_slice(more);
        containers_on(self.host.as_deref(), &labels)
    }

    /// The instance's running warm containers.
    fn running_warm(&self) -> Vec<String> {
        let mut cmd = std::process::Command::new("docker");
        if let Some(h) = &self.host {
            cmd.args(["-H", h]);
        }
        let out = cmd
            .args(["ps", "-q", "--no-trunc", "--filter", "status=running"])
            .args(["--filter", &format!("label={}", self.label)])
            .args(["--filter", "label=monaco.pool=warm"])
            .output()
            .expect("run `docker ps`");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Waits until the instance has at least `n` running warm containers.
    async fn wait_warm(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let warm = self.running_warm();
            if warm.len() >= n {
                return warm;
            }
            assert!(
                Instant::now() < deadline,
                "fewer than {n} warm containers after {within:?}: {warm:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for InstanceCleanup {
    fn drop(&mut self) {
        // Never panics (a panic while unwinding aborts): an engine that is
        // down has nothing to remove now.
        let left = try_containers_on(self.host.as_deref(), &[self.label.as_str()]);
        remove_containers(self.host.as_deref(), &left.unwrap_or_default());
    }
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// An HTTP client whose every request has a short deadline: nothing the
/// fault tests ask may hang.
fn quick_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client")
}

/// Checks a `failed`/`internal_error` result with an error code among
/// `codes` and a message; returns the code.
fn assert_internal_error(result: &Value, codes: &[&str]) -> String {
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "internal_error", "{result}");
    let code = result["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error code: {result}"));
    assert!(
        codes.contains(&code),
        "code {code} not in {codes:?}: {result}"
    );
    assert!(
        result["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error message: {result}"
    );
    code.to_string()
}

/// Submits during the outage: `202` then a clean `failed`/`internal_error`
/// with `docker.unavailable`, or a `503` with a JSON error. Never a hang,
/// never another 5xx. Returns what happened, for the report.
async fn submit_during_outage(server: &Server, http: &reqwest::Client) -> String {
    let body = request("python", "print('hello')\n", Some(""));
    let began = Instant::now();
    let r = http
        .post(server.url("/api/submit"))
        .json(&body)
        .send()
        .await
        .expect("POST /api/submit answers during the outage");
    let status = r.status();
    let text = r.text().await.expect("read the body");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    match status {
        StatusCode::ACCEPTED => {
            let id = v["id"].as_str().expect("an id").to_string();
            server.track(&id);
            let deadline = Instant::now() + Duration::from_secs(60);
            let result = loop {
                let r = http
                    .get(server.url(&format!("/api/result/{id}")))
                    .send()
                    .await
                    .expect("GET /api/result answers during the outage");
                assert_eq!(r.status(), StatusCode::OK);
                let result: Value = r.json().await.expect("JSON");
                if support::is_final(result["status"].as_str().unwrap_or_default()) {
                    break result;
                }
                assert!(
                    Instant::now() < deadline,
                    "a submission during the outage is still {} after 60 s",
                    result["status"]
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let code = assert_internal_error(&result, &["docker.unavailable"]);
            format!(
                "202, then failed/internal_error/{code} after {} ms",
                began.elapsed().as_millis()
            )
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            let code = v["error"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("a JSON error: {v}"));
            format!("503 {code}")
        }
        other => panic!("POST /api/submit during the outage: {other} {v}"),
    }
}

#[tokio::test]
async fn engine_stopped_mid_run_then_back() {
    if !PrivateEngine::available_or_skip() {
        return;
    }
    let t0 = Instant::now();
    let mut engine = PrivateEngine::start().await;
    engine.load_image(PYTHON_IMAGE);
    println!("private engine up, image loaded in {:?}", t0.elapsed());
    let name = instance("engine");
    let cleanup = InstanceCleanup::new(Some(engine.host()), &name);
    let server = Server::start_with(
        ServerConfig::default()
            .env("DOCKER_HOST", engine.host())
            .env("MONACO_INSTANCE", &name)
            .env("MONACO_LANGUAGES", python_only_languages().display())
            .env("CONCURRENT_EXECUTIONS", 4),
    )
    .await;
    let http = quick_client();
    let warm = cleanup.wait_warm(1, Duration::from_secs(60)).await;
    println!(
        "warm pool on the private engine: {} container(s)",
        warm.len()
    );

    // Long runs: one spinning, two sleeping; each says it has started.
    let programs = [
        "print('started', flush=True)\nwhile True:\n    pass\n",
        "import time\nprint('started', flush=True)\ntime.sleep(600)\n",
        "import time\nprint('started', flush=True)\ntime.sleep(600)\n",
    ];
    let mut ids = Vec::new();
    let mut terminals = Vec::new();
    for code in programs {
        let mut body = request("python", code, Some(""));
        body["limits"] = json!({"wall_ms": 30_000, "cpu_ms": 30_000});
        let id = server.submit(&body).await;
        let mut term = server.terminal(&id).await;
        term.until_printed("the program's first line", "started")
            .await;
        ids.push(id);
        terminals.push(term);
    }
    // The pool replaces what the runs took once they end or a moment later
    // (it waits for running executions before it starts containers).
    let refilled = Instant::now() + Duration::from_secs(60);
    while cleanup.containers(&[]).len() <= ids.len() && Instant::now() < refilled {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Everything of this instance now: the runs' containers and the pool's.
    let before: HashSet<String> = cleanup.containers(&[]).into_iter().collect();
    assert!(
        before.len() > ids.len(),
        "the runs' containers and warm ones: {before:?}"
    );

    // Stop the engine. Its containers are stopped with it (no live
    // restore), so the runs lose their sandboxes.
    let stop_began = Instant::now();
    engine.signal_stop();
    let sessions = join_all(terminals.into_iter().map(|t| async move {
        let transcript = t.finish().await;
        (transcript, stop_began.elapsed())
    }));
    let (stopped_after, sessions) = tokio::join!(engine.wait_stopped(), sessions);
    println!("private engine stopped {stopped_after:?} after SIGTERM");
    for (id, (transcript, after)) in ids.iter().zip(&sessions) {
        let status = transcript.final_status();
        assert_eq!(status["status"], "failed", "{status}");
        assert_eq!(status["verdict"], "internal_error", "{status}");
        assert_eq!(transcript.close_code(), Some(1000));
        let result = server.wait_result(id).await;
        let code = assert_internal_error(&result, LOST_CODES);
        println!(
            "run {id}: failed/internal_error/{code} ({:?}), terminal closed {after:?} after the stop",
            result["error"]["message"].as_str().unwrap_or_default()
        );
    }

    // The outage: the server answers, says Docker is down, fails new work
    // cleanly.
    let r = http
        .get(server.url("/api/health"))
        .send()
        .await
        .expect("health answers during the outage");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = r.json().await.expect("JSON health");
    assert_eq!(health["docker"], false, "{health}");
    println!("/api/health during the outage: 503 {health}");
    for _ in 0..3 {
        let what = submit_during_outage(&server, &http).await;
        println!("submission during the outage: {what}");
    }
    let r = http
        .get(server.url("/api/languages"))
        .send()
        .await
        .expect("languages answer during the outage");
    assert_eq!(r.status(), StatusCode::OK);
    // A real outage lasts: long enough that every removal the server tried
    // while the engine was down has failed for good.
    let down_since = stop_began + stopped_after;
    while down_since.elapsed() < OUTAGE {
        let r = http
            .get(server.url("/api/health"))
            .send()
            .await
            .expect("health answers during the outage");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The engine comes back; so does the service, by itself.
    let restart = engine.start_again().await;
    let back = Instant::now();
    println!("private engine restarted in {restart:?}");
    let deadline = back + RECOVERY;
    loop {
        let r = http.get(server.url("/api/health")).send().await;
        if r.is_ok_and(|r| r.status() == StatusCode::OK) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/api/health not ok {RECOVERY:?} after the engine came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healthy_after = back.elapsed();
    let hello = request("python", "print('Hello, World!')\n", Some(""));
    let ok_after = loop {
        let r = http
            .post(server.url("/api/execute"))
            .json(&hello)
            .send()
            .await
            .expect("POST /api/execute answers");
        assert_eq!(r.status(), StatusCode::OK);
        let result: Value = r.json().await.expect("JSON result");
        server.track(result["id"].as_str().expect("an id"));
        if result["verdict"] == "ok" {
            assert_eq!(result["stdout"], "Hello, World!\n", "{result}");
            break back.elapsed();
        }
        assert_internal_error(&result, LOST_CODES);
        assert!(
            Instant::now() < deadline,
            "no ok hello world {RECOVERY:?} after the engine came back: {result}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("after the restart: health ok in {healthy_after:?}, hello world ok in {ok_after:?}");

    // The warm pool is rebuilt, and nothing from before the outage stays.
    let rebuilt = cleanup.wait_warm(1, RECOVERY).await;
    assert!(
        rebuilt.iter().all(|c| !before.contains(c)),
        "warm containers are new ones"
    );
    println!(
        "warm pool rebuilt {:?} after the restart ({} container(s))",
        back.elapsed(),
        rebuilt.len()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now: HashSet<String> = cleanup.containers(&[]).into_iter().collect();
        let stale: Vec<&String> = before.intersection(&now).collect();
        if stale.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "containers from before the outage are still on the engine {:?} after it \
             came back: {stale:?}",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let retried = server
        .log_tail()
        .matches("removed a container left while the engine was down")
        .count();
    println!(
        "every container from before the outage removed {:?} after the restart \
         ({retried} by the server's retry of removals that failed during the outage, \
         as far as its log's tail shows)",
        back.elapsed()
    );

    server.stop().await;
    let left = cleanup.containers(&[]);
    assert!(left.is_empty(), "containers left after SIGTERM: {left:?}");
    drop(cleanup);
    let stop = engine.stop().await;
    println!(
        "private engine stopped in {stop:?}; the whole case took {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn server_killed_mid_run_then_restarted_reaps_its_containers() {
    if !support::docker_or_skip() {
        return;
    }
    let name = instance("kill");
    let cleanup = InstanceCleanup::new(None, &name);
    // Every language of languages.toml, so every language's warm
    // containers are there to be left behind.
    let config = ServerConfig::default().env("MONACO_INSTANCE", &name);
    let server = Server::start_with(config.clone()).await;
    cleanup.wait_warm(2, Duration::from_secs(90)).await;
    let mut body = request(
        "python",
        "import time\nprint('started', flush=True)\ntime.sleep(600)\n",
        Some(""),
    );
    body["limits"] = json!({"wall_ms": 120_000});
    let id = server.submit(&body).await;
    let mut term = server.terminal(&id).await;
    term.until("the program's first line", |v| v["type"] == "output")
        .await;
    let before: HashSet<String> = cleanup.containers(&[]).into_iter().collect();
    let warm_before = cleanup.running_warm().len();

    server.kill().await;
    drop(term);
    // Left behind, as after a crash.
    let stray: Vec<String> = cleanup
        .containers(&[])
        .into_iter()
        .filter(|c| before.contains(c))
        .collect();
    assert_eq!(
        stray.len(),
        before.len(),
        "a SIGKILLed server removes nothing"
    );
    println!(
        "after SIGKILL: {} container(s) of the instance left (the run's and {warm_before} warm)",
        stray.len()
    );

    let began = Instant::now();
    let server = Server::start_with(config).await;
    let started_in = began.elapsed();
    let now: HashSet<String> = cleanup.containers(&[]).into_iter().collect();
    let remaining: Vec<&String> = before.intersection(&now).collect();
    assert!(
        remaining.is_empty(),
        "the restarted server reaped the old containers at start: {remaining:?} remain"
    );
    println!("restarted server healthy in {started_in:?}; every old container reaped");
    let result = server
        .execute(&request("python", "print('Hello, World!')\n", Some("")))
        .await;
    assert_eq!(result["verdict"], "ok", "{result}");
    server.stop().await;
    let left = cleanup.containers(&[]);
    assert!(left.is_empty(), "containers left after SIGTERM: {left:?}");
}

#[tokio::test]
async fn websocket_client_gone_mid_run_the_execution_completes() {
    if !support::docker_or_skip() {
        return;
    }
    let name = instance("wsgone");
    let _cleanup = InstanceCleanup::new(None, &name);
    let server = Server::start_with(
        ServerConfig::default()
            .env("MONACO_INSTANCE", &name)
            .env("MONACO_LANGUAGES", python_only_languages().display()),
    )
    .await;
    let code = "import time\nfor i in range(20):\n    print(f'line {i}')\n    time.sleep(0.1)\n";
    let expected: String = (0..20).map(|i| format!("line {i}\n")).collect();
    let id = server.submit(&request("python", code, Some(""))).await;
    let mut term = server.terminal(&id).await;
    term.until("the first line", |v| v["type"] == "output")
        .await;
    // Gone without a close frame: the TCP connection just ends.
    drop(term);
    // And one that says goodbye properly, mid-run, too.
    let mut polite = server.terminal(&id).await;
    polite
        .until("a replayed line", |v| v["type"] == "output")
        .await;
    drop(polite);

    let result = server.wait_result(&id).await;
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["verdict"], "ok", "{result}");
    assert_eq!(result["stdout"], expected.as_str(), "{result}");
    println!("execution completed ok with all 20 lines after its terminals went away mid-run");
    // A terminal that comes later still gets all of it replayed.
    let late = server.terminal(&id).await.finish().await;
    assert_eq!(late.stdout(), expected);
    server.stop().await;
}

/// A WebSocket that has done its handshake and then never reads, with a
/// small receive buffer so that the server's writes back up quickly.
fn non_reading_websocket(server: &Server, id: &str) -> TcpStream {
    let addr = server
        .url("")
        .strip_prefix("http://")
        .expect("an http URL")
        .to_string();
    let stream = TcpStream::connect(&addr).expect("connect to the server");
    let small: libc::c_int = 4096;
    // SAFETY: setsockopt(2) on an open socket with a valid int option.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::addr_of!(small).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = &stream;
    write!(
        s,
        "GET /api/ws/terminal/{id} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("send the handshake");
    // Read the response headers only, one byte at a time, so that no frame
    // after them is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read the handshake response");
        assert_eq!(n, 1, "the server closed during the handshake: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

#[tokio::test]
async fn websocket_clients_that_read_nothing_during_a_flood() {
    if !support::docker_or_skip() {
        return;
    }
    const MIB: u64 = 1024 * 1024;
    const READERS: usize = 8;
    let name = instance("flood");
    let _cleanup = InstanceCleanup::new(None, &name);
    let server = Server::start_with(
        ServerConfig::default()
            .env("MONACO_INSTANCE", &name)
            .env("MONACO_LANGUAGES", python_only_languages().display()),
    )
    .await;
    let pid = server.pid();
    let idle_rss = proc_kib(pid, "VmRSS");
    // Both streams as fast as Python writes, until the 1 MiB caps stop it.
    let code = "import sys\nline = 'x' * 1023 + '\\n'\nwhile True:\n    sys.stdout.write(line)\n    sys.stderr.write(line)\n";
    let mut body = request("python", code, Some(""));
    body["limits"] = json!({"output_bytes": MIB, "wall_ms": 20_000});
    let id = server.submit(&body).await;
    let sockets: Vec<TcpStream> = (0..READERS)
        .map(|_| non_reading_websocket(&server, &id))
        .collect();
    let began = Instant::now();
    let mut peak_rss = idle_rss;
    let deadline = began + support::EXECUTION;
    let status = loop {
        peak_rss = peak_rss.max(proc_kib(pid, "VmRSS"));
        let status = server.status(&id).await;
        if support::is_final(&status) {
            break status;
        }
        assert!(Instant::now() < deadline, "the flood is still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = began.elapsed();
    let result = server.wait_result(&id).await;
    assert_eq!(status, "failed", "{result}");
    assert_eq!(result["verdict"], "output_limit_exceeded", "{result}");
    assert_eq!(result["truncated"], true, "{result}");
    let stdout = result["stdout"].as_str().expect("stdout");
    assert_eq!(stdout.len() as u64, MIB, "exactly the cap is kept");

    // Meanwhile, and still with those sockets stuck, the server serves.
    let hello = server
        .execute(&request("python", "print('Hello, World!')\n", Some("")))
        .await;
    assert_eq!(hello["verdict"], "ok", "{hello}");
    peak_rss = peak_rss.max(proc_kib(pid, "VmRSS"));
    let hwm = proc_kib(pid, "VmHWM");
    println!(
        "flood with {READERS} WebSockets reading nothing: completed/output_limit_exceeded in \
         {took:?}; server VmRSS idle {} MiB, peak seen {} MiB, VmHWM {} MiB",
        idle_rss / 1024,
        peak_rss / 1024,
        hwm / 1024
    );
    assert!(
        hwm < 200 * 1024,
        "the server's peak resident memory {} MiB is not bounded",
        hwm / 1024
    );
    drop(sockets);
    server.stop().await;
}

#[tokio::test]
async fn warm_pool_drains_on_shutdown() {
    if !support::docker_or_skip() {
        return;
    }
    let name = instance("drain");
    let cleanup = InstanceCleanup::new(None, &name);
    let server = Server::start_with(
        ServerConfig::default()
            .env("MONACO_INSTANCE", &name)
            .env("MONACO_LANGUAGES", python_only_languages().display()),
    )
    .await;
    // Some demand grows the pool to its per-language maximum (2).
    for _ in 0..2 {
        let r = server
            .execute(&request("python", "print('Hello, World!')\n", Some("")))
            .await;
        assert_eq!(r["verdict"], "ok", "{r}");
    }
    let warm = cleanup.wait_warm(2, Duration::from_secs(60)).await;
    let began = Instant::now();
    server.stop().await;
    let left = cleanup.containers(&[]);
    assert!(
        left.is_empty(),
        "containers of the instance left after SIGTERM: {left:?}"
    );
    println!(
        "{} warm container(s) before SIGTERM, none after; the server exited in {:?}",
        warm.len(),
        began.elapsed()
    );
}
