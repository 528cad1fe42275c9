//! The real `monaco-server` binary as a child process on an ephemeral
//! 127.0.0.1 port, and a small HTTP client for it.
//!
//! A section starts a [`Server`] with the settings it needs, measures, and
//! calls [`Server::stop`]: SIGTERM, and the server drains its pool, removes
//! its containers and exits. On an early return (an error), `Drop` does the
//! same, with SIGKILL after a bound. Sections run one after another, so
//! every server of a run can share one instance name (`bench-<pid>`): the
//! stray reaper a server runs at start only ever sees containers of a
//! server of this run that has already stopped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// How long a server gets to answer `/api/health` after it starts.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a server gets to exit after SIGTERM (its grace is
/// [`SHUTDOWN_GRACE`]; removing containers takes the rest).
const SHUTDOWN: Duration = Duration::from_secs(60);
/// `MONACO_SHUTDOWN_GRACE`: seconds running executions get at the end.
const SHUTDOWN_GRACE: &str = "5";
/// Longest any one request may take: far above any execution measured here.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Which server binary a run uses, and what kind of build it is.
#[derive(Debug, Clone)]
pub struct ServerBinary {
    pub path: PathBuf,
    /// `release`, `debug`, or `given with --server`.
    pub kind: &'static str,
}

impl ServerBinary {
    /// `explicit` (`--server`), else `<target>/release/monaco-server`, else
    /// `<target>/debug/monaco-server`.
    pub fn find(explicit: Option<PathBuf>, root: &Path) -> Result<ServerBinary, String> {
        if let Some(path) = explicit {
            return if path.is_file() {
                Ok(ServerBinary {
                    path,
                    kind: "given with --server",
                })
            } else {
                Err(format!("--server {}: no such file", path.display()))
            };
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        for kind in ["release", "debug"] {
            let path = target.join(kind).join("monaco-server");
            if path.is_file() {
                return Ok(ServerBinary { path, kind });
            }
        }
        Err(format!(
            "no server binary in {}/release or {}/debug: run \
             `cargo build --release -p monaco-server`, or pass --server",
            target.display(),
            target.display()
        ))
    }
}

/// What every server of a run shares.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: ServerBinary,
    /// The workspace root: the server's working directory.
    pub root: PathBuf,
    /// `MONACO_INSTANCE`, also the label the bench looks containers up by.
    pub instance: String,
}

/// A running `monaco-server` child process.
pub struct Server {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

impl Server {
    /// Starts a server with the server's defaults plus `settings` (pairs of
    /// environment variable and value), and waits until it is healthy.
    /// Retries on a port taken between choosing it and the server binding it.
    pub async fn start(launch: &Launch, settings: &[(&str, &str)]) -> Result<Server, String> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("could not build an HTTP client: {e}"))?;
        for _attempt in 0..5 {
            let port = free_port()?;
            let n = STARTED.fetch_add(1, Ordering::SeqCst);
            let log = std::env::temp_dir().join(format!("{}-{n}.log", launch.instance));
            let out = File::create(&log)
                .map_err(|e| format!("could not create the log {}: {e}", log.display()))?;
            let err = out
                .try_clone()
                .map_err(|e| format!("could not share the log handle: {e}"))?;
            let mut command = Command::new(&launch.binary.path);
            clear_settings(&mut command);
            command
                .env("PORT", port.to_string())
                .env("MONACO_HOST", "127.0.0.1")
                .env("MONACO_INSTANCE", &launch.instance)
                .env("MONACO_LANGUAGES", launch.root.join("languages.toml"))
                .env("MONACO_SHUTDOWN_GRACE", SHUTDOWN_GRACE);
            for (key, value) in settings {
                command.env(key, value);
            }
            let child = command
                .current_dir(&launch.root)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("could not start {}: {e}", launch.binary.path.display()))?;
            let mut server = Server {
                child: Some(child),
                port,
                log,
                http: http.clone(),
            };
            match server.wait_healthy().await {
                Ok(()) => return Ok(server),
                Err(Exit::Exited(status)) => {
                    let log = server.log_tail();
                    server.child = None;
                    if log.contains("Address already in use") {
                        continue;
                    }
                    return Err(format!(
                        "monaco-server exited during start-up ({status}); its log:\n{log}"
                    ));
                }
                Err(Exit::TooSlow) => {
                    return Err(format!(
                        "monaco-server did not become healthy within {STARTUP:?}; its log:\n{}",
                        server.log_tail()
                    ))
                }
            }
        }
        Err("could not find a free port for monaco-server in 5 attempts".into())
    }

    /// Waits for `/api/health` to answer 200.
    async fn wait_healthy(&mut self) -> Result<(), Exit> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child_mut().try_wait().ok().flatten() {
                return Err(Exit::Exited(status));
            }
            let answer = self
                .http
                .get(self.url("/api/health"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Exit::TooSlow);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("the server is running")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// The server's resident set (`VmRSS` of `/proc/<pid>/status`), bytes.
    pub fn resident_bytes(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).map_err(|e| format!("could not read {path}: {e}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or(format!("no VmRSS line in {path}"))
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// The HTTP client (no proxy, [`REQUEST_TIMEOUT`]).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET path`, expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        json_body(response, StatusCode::OK).await
    }

    /// `POST path` with a JSON body, expecting `want` and JSON back.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        want: StatusCode,
    ) -> Result<Value, String> {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        json_body(response, want).await
    }

    /// Each language's hello world, from `GET /api/languages`.
    pub async fn hello_worlds(&self) -> Result<Vec<(String, String)>, String> {
        let list = self.get_json("/api/languages").await?;
        let list = list.as_array().ok_or("GET /api/languages: not an array")?;
        Ok(list
            .iter()
            .filter_map(|l| {
                Some((
                    l["id"].as_str()?.to_string(),
                    l["helloWorld"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// The last part of the server's log, for error messages.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(4000)));
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// SIGTERM, then waits for the server to exit (SIGKILL after
    /// [`SHUTDOWN`]). A server that does not exit cleanly gets a warning
    /// (its log is kept); the figures taken before stay good, and the end
    /// of the run checks that no container was left behind.
    pub async fn stop(self) {
        if let Err(e) = self.terminate_and_wait().await {
            println!("warning: {e}");
        }
    }

    async fn terminate_and_wait(mut self) -> Result<(), String> {
        let mut child = self.child.take().expect("the server is running");
        terminate(&child);
        let deadline = Instant::now() + SHUTDOWN;
        let status = loop {
            if let Some(status) = child.try_wait().ok().flatten() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "monaco-server did not exit within {SHUTDOWN:?} of SIGTERM (killed); \
                     its log: {}",
                    self.log.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !status.success() {
            return Err(format!(
                "monaco-server exited with {status} after SIGTERM; its log: {}",
                self.log.display()
            ));
        }
        let _ = std::fs::remove_file(&self.log);
        Ok(())
    }
}

impl Drop for Server {
    /// Only on an early return: stop the server anyway so that it removes
    /// its containers; SIGKILL if it does not go in time.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        terminate(&child);
        let deadline = Instant::now() + SHUTDOWN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// How a start-up went wrong.
enum Exit {
    Exited(ExitStatus),
    TooSlow,
}

/// Removes the server's own settings from the inherited environment, so a
/// run measures the server's defaults plus what a section sets, whatever
/// the caller's shell holds. `MONACO_AGENT` (where the agent is) stays.
fn clear_settings(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let ours = key.starts_with("MONACO_") && key != "MONACO_AGENT";
        let original = matches!(
            key.as_str(),
            "PORT" | "CONCURRENT_EXECUTIONS" | "QUEUE_CAPACITY" | "DEFAULT_TIMEOUT"
        );
        if ours || original {
            command.env_remove(&key);
        }
    }
}

fn terminate(child: &Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// A port that was free a moment ago (the caller retries if it is taken).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("could not bind 127.0.0.1:0: {e}"))
}

/// The body as JSON, after checking the status.
pub async fn json_body(response: reqwest::Response, want: StatusCode) -> Result<Value, String> {
    let status = response.status();
    let url = response.url().path().to_string();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{url}: could not read the body: {e}"))?;
    if status != want {
        return Err(format!("{url}: {status} (wanted {want}): {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON ({e}): {text}"))
}
