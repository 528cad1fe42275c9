//! What every whole-system test shares: the real `monaco-server` binary as a
//! child process on an ephemeral port (started by `monaco-testkit`), an HTTP
//! client and a WebSocket client for it, the Docker gate, and the programs
//! the tests run.
//!
//! A test starts a [`Server`], talks to it, then calls [`Server::stop`]: the
//! server gets SIGTERM and must exit 0, and no container labelled with one of
//! the test's execution ids may remain. If the test panics first, `Drop`
//! still stops the server (SIGTERM, then SIGKILL after a bound).
//!
//! All traffic goes to 127.0.0.1 (the client ignores proxy settings).

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod hostile;
pub mod language_programs;
pub mod programs;
pub mod terminal;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use monaco_testkit::{Ending, Launch, ServerProcess};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub use terminal::Terminal;

/// How long an execution may take to reach a final status. Generous: the
/// suite runs several servers at once on a small machine.
pub const EXECUTION: Duration = Duration::from_secs(180);

/// The workspace root (this package lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The server binary: `MONACO_SERVER_BIN`, else `target/debug/monaco-server`.
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MONACO_SERVER_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "MONACO_SERVER_BIN={} is not a file",
            p.display()
        );
        return p;
    }
    monaco_testkit::built_server(&workspace_root(), "debug").unwrap_or_else(|| {
        panic!(
            "the server binary {}/debug/monaco-server is missing: run \
             `cargo build -p monaco-server` first (scripts/test.sh does), or set \
             MONACO_SERVER_BIN",
            monaco_testkit::target_dir(&workspace_root()).display()
        )
    })
}

/// Whether a Docker engine answers. Without one, a test returns early
/// (prints SKIPPED), unless `MONACO_REQUIRE_DOCKER=1`, where it panics.
pub fn docker_or_skip() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    let answers = *ANSWERS.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if answers {
        return true;
    }
    if std::env::var("MONACO_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("no Docker engine answers, and MONACO_REQUIRE_DOCKER=1");
    }
    println!("SKIPPED: no Docker engine (set MONACO_REQUIRE_DOCKER=1 to fail instead)");
    false
}

/// Execution ids of the given ones that still have a container.
pub fn containers_left(ids: &HashSet<String>) -> Vec<String> {
    containers_left_on(None, ids)
}

/// Execution ids of the given ones that still have a container on the
/// engine at `host` (a `DOCKER_HOST` value; `None`: the default engine).
pub fn containers_left_on(host: Option<&str>, ids: &HashSet<String>) -> Vec<String> {
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .args([
            "ps",
            "-a",
            "--filter",
            "label=monaco.execution",
            "--format",
            "{{.Label \"monaco.execution\"}}",
        ])
        .output()
        .expect("run `docker ps`");
    assert!(out.status.success(), "`docker ps` failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|id| ids.contains(*id))
        .map(String::from)
        .collect()
}

/// Per-server settings beyond the defaults the tests use.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    env: Vec<(String, String)>,
}

impl ServerConfig {
    /// Adds an environment variable for the server.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running `monaco-server` child process.
pub struct Server {
    /// `None` once stopped or killed.
    process: Option<ServerProcess>,
    http: reqwest::Client,
    /// Every execution id this test created, checked for containers at stop.
    ids: Mutex<HashSet<String>>,
    /// The engine the server uses, when not the default (its `DOCKER_HOST`).
    docker_host: Option<String>,
    /// The server's `MONACO_INSTANCE`: its containers carry this label.
    instance: String,
}

impl Server {
    /// A server with the tests' defaults (2 workers).
    pub async fn start() -> Server {
        Server::start_with(ServerConfig::default()).await
    }

    /// A server with `config` on top of the tests' defaults.
    pub async fn start_with(config: ServerConfig) -> Server {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::SeqCst);
        let setting = |key: &str| {
            config
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let instance = setting("MONACO_INSTANCE")
            .unwrap_or_else(|| format!("test-{}-{n}", std::process::id()));
        let mut launch = Launch::new(server_binary(), workspace_root())
            .log_dir(env!("CARGO_TARGET_TMPDIR"))
            .setting("MONACO_LANGUAGES", workspace_root().join("languages.toml"))
            .setting("CONCURRENT_EXECUTIONS", "2")
            // Several servers share this engine: each is its own instance,
            // so the stray reaper at start (left on, as in production) only
            // removes containers of its own name.
            .setting("MONACO_INSTANCE", &instance)
            .setting("MONACO_SHUTDOWN_GRACE", "5");
        for (k, v) in &config.env {
            launch = launch.setting(k, v);
        }
        let process = ServerProcess::start(&launch)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Server {
            process: Some(process),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(EXECUTION)
                // Below the server's keep-alive (actix's 5 s): a connection
                // left idle while a test watches a terminal is never reused
                // just as the server closes it ("error sending request").
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
            ids: Mutex::new(HashSet::new()),
            docker_host: setting("DOCKER_HOST"),
            instance,
        }
    }

    fn process(&self) -> &ServerProcess {
        self.process.as_ref().expect("the server is running")
    }

    /// The last part of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process().log().tail()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.process().url(path)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        self.process().ws_url(path)
    }

    /// The server process's id (e.g. for its `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.process().pid()
    }

    /// SIGHUP: the server re-reads its keys file.
    pub fn hangup(&self) {
        self.process()
            .hangup()
            .unwrap_or_else(|e| panic!("SIGHUP to the server: {e}"));
    }

    /// SIGKILL, as a crash: no shutdown, no check; containers it started
    /// stay behind (a server of the same `MONACO_INSTANCE` reaps them).
    pub async fn kill(mut self) {
        let process = self.process.take().expect("the server is running");
        process.kill().remove();
    }

    /// Remembers an execution id, so that `stop` checks its container is gone.
    pub fn track(&self, id: &str) {
        self.ids.lock().unwrap().insert(id.to_string());
    }

    /// The HTTP client, for requests the helpers here do not cover.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Any request; the response as it came.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e} ({e:?})"))
    }

    /// A request with a raw body sent as JSON content.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `GET path`, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.request(Method::GET, path, None).await;
        json_body(r, StatusCode::OK).await
    }

    /// `POST /api/submit` as it came; the caller tracks an accepted id.
    pub async fn submit_raw(&self, body: &Value) -> Response {
        self.request(Method::POST, "/api/submit", Some(body)).await
    }

    /// `POST /api/submit`, expecting `202 {id, status:"queued", message}`.
    pub async fn submit(&self, body: &Value) -> String {
        let r = self.request(Method::POST, "/api/submit", Some(body)).await;
        let v = json_body(r, StatusCode::ACCEPTED).await;
        let id = v["id"].as_str().expect("`id` is a string").to_string();
        self.track(&id);
        assert_eq!(v["status"], "queued", "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        id
    }

    /// `POST /api/execute`, expecting 200 and the result.
    pub async fn execute(&self, body: &Value) -> Value {
        let r = self.request(Method::POST, "/api/execute", Some(body)).await;
        let v = json_body(r, StatusCode::OK).await;
        self.track(v["id"].as_str().expect("`id` is a string"));
        v
    }

    /// `GET /api/status/{id}`'s status.
    pub async fn status(&self, id: &str) -> String {
        let v = self.get_json(&format!("/api/status/{id}")).await;
        assert_eq!(v["id"], id, "{v}");
        v["status"]
            .as_str()
            .expect("`status` is a string")
            .to_string()
    }

    /// Polls `GET /api/status/{id}` until `done(status)`; returns the status.
    pub async fn poll_status(&self, id: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + EXECUTION;
        loop {
            let status = self.status(id).await;
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "execution {id} still {status} after {EXECUTION:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until `completed` or `failed`; returns `GET /api/result/{id}`.
    pub async fn wait_result(&self, id: &str) -> Value {
        let status = self.poll_status(id, is_final).await;
        let result = self.get_json(&format!("/api/result/{id}")).await;
        assert_eq!(result["status"], status.as_str(), "{result}");
        result
    }

    /// `GET /api/languages`' entry for `id`.
    pub async fn language(&self, id: &str) -> Value {
        let list = self.get_json("/api/languages").await;
        list.as_array()
            .expect("`/api/languages` is an array")
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("language {id} not in {list}"))
            .clone()
    }

    /// Opens `WS /api/ws/terminal/{id}`.
    pub async fn terminal(&self, id: &str) -> Terminal {
        Terminal::connect(&self.ws_url(&format!("/api/ws/terminal/{id}"))).await
    }

    /// SIGTERM; the server must exit 0 in time, and no container of this
    /// test's executions may remain.
    pub async fn stop(mut self) {
        let process = self.process.take().expect("the server is running");
        let stopped = process.stop().await;
        assert!(
            stopped.ending.is_clean(),
            "monaco-server {}; its log:\n{}",
            stopped.ending,
            stopped.log.tail()
        );
        let ids = self.ids.lock().unwrap().clone();
        let left = containers_left_on(self.docker_host.as_deref(), &ids);
        assert!(
            left.is_empty(),
            "containers of executions {left:?} remain after the server stopped"
        );
        // Nor any other container of this instance (its warm pool).
        let mut cmd = Command::new("docker");
        if let Some(h) = &self.docker_host {
            cmd.args(["-H", h]);
        }
        let filter = format!("label=monaco.instance={}", self.instance);
        let out = cmd
            .args(["ps", "-aq", "--filter", &filter])
            .output()
            .expect("run `docker ps`");
        let rest = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            rest.is_empty(),
            "containers of instance {} remain after the server stopped: {rest}",
            self.instance
        );
        // Kept only when something went wrong.
        stopped.log.remove();
    }
}

impl Drop for Server {
    /// Only on an early exit (a failed assertion): stop the server anyway so
    /// that it removes its containers; SIGKILL if it does not go in time.
    fn drop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        let stopped = process.stop_blocking();
        if stopped.ending == Ending::Killed {
            // It had no chance to remove its containers (its warm pool, or
            // ones being created): remove them here, by its instance label.
            self.remove_instance_containers();
        }
        if std::thread::panicking() {
            eprintln!(
                "monaco-server log ({}):\n{}",
                stopped.log.path().display(),
                stopped.log.tail()
            );
        }
    }
}

impl Server {
    /// Removes every container labelled with this server's instance, with
    /// the Docker CLI (this runs in `Drop`, outside any runtime).
    fn remove_instance_containers(&self) {
        let docker = |args: &[&str]| {
            let mut cmd = std::process::Command::new("docker");
            if let Some(host) = &self.docker_host {
                cmd.env("DOCKER_HOST", host);
            }
            cmd.args(args).stderr(Stdio::null()).output()
        };
        let filter = format!("label=monaco.instance={}", self.instance);
        if let Ok(out) = docker(&["ps", "-aq", "--filter", &filter]) {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
    }
}

/// `completed` and `failed` are final.
pub fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "failed")
}

/// The body as JSON, after checking the status.
pub async fn json_body(r: Response, want: StatusCode) -> Value {
    let status = r.status();
    let url = r.url().clone();
    let text = r.text().await.expect("read the body");
    assert_eq!(status, want, "{url}: body {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// Checks an error response: its status, JSON content type, and a body of
/// exactly `{"error":{"code","message",…}}` with `code`. Returns the body.
/// A checked error answer that tells the client when to retry: `status`
/// with `code`, and a `Retry-After` in whole seconds.
pub async fn expect_retry_later(r: Response, status: StatusCode, code: &str) -> Value {
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(
        retry.as_deref().is_some_and(|s| s.parse::<u64>().is_ok()),
        "{code}: a Retry-After in seconds: {retry:?}"
    );
    expect_error(r, status, code).await
}

pub async fn expect_error(r: Response, status: StatusCode, code: &str) -> Value {
    let url = r.url().clone();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = json_body(r, status).await;
    assert!(
        content_type.starts_with("application/json"),
        "{url}: content-type {content_type:?}"
    );
    check_error_body(&body, code);
    body
}

/// `{"error":{"code":code,"message":non-empty,…}}` and nothing else at the top.
pub fn check_error_body(body: &Value, code: &str) {
    let top = body.as_object().expect("an error body is an object");
    assert_eq!(top.len(), 1, "only `error` at the top: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "a message: {body}"
    );
}

/// A submission body.
pub fn request(language: &str, code: &str, input: Option<&str>) -> Value {
    let mut v = json!({ "language": language, "code": code });
    if let Some(i) = input {
        v["input"] = json!(i);
    }
    v
}

/// A languages file with only the given languages of `languages.toml` (their
/// tables copied as they are), in the target's temporary directory: a lighter
/// warm pool, or a Docker engine that has only some of the images.
pub fn languages_subset(ids: &[&str]) -> PathBuf {
    let all = std::fs::read_to_string(workspace_root().join("languages.toml"))
        .expect("read languages.toml");
    let mut tables = all.split("[[language]]\n");
    let mut out = tables.next().unwrap_or_default().to_string();
    for table in tables {
        let id = table
            .lines()
            .find_map(|l| l.strip_prefix("id = "))
            .map(|v| v.trim().trim_matches('"'));
        if id.is_some_and(|id| ids.contains(&id)) {
            out.push_str("[[language]]\n");
            out.push_str(table);
        }
    }
    // One file per call: tests running at once never rewrite a file that
    // a server is reading.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "languages-{}-{}-{}.toml",
        ids.join("-"),
        std::process::id(),
        CALLS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, out).expect("write the languages file");
    path
}
