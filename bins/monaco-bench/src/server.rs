//! The real `monaco-server` binary as a child process on an ephemeral
//! 127.0.0.1 port (launched by `monaco-testkit`), and a small HTTP client
//! for it.
//!
//! A section starts a [`Server`] with the settings it needs, measures, and
//! calls [`Server::stop`]: SIGTERM, and the server drains its pool, removes
//! its containers and exits. On an early return (an error), `Drop` does the
//! same, with SIGKILL after a bound. Sections run one after another, so
//! every server of a run can share one instance name (`bench-<pid>`): the
//! stray reaper a server runs at start only ever sees containers of a
//! server of this run that has already stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use monaco_testkit::ServerProcess;
use reqwest::StatusCode;
use serde_json::Value;

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
        for kind in ["release", "debug"] {
            if let Some(path) = monaco_testkit::built_server(root, kind) {
                return Ok(ServerBinary { path, kind });
            }
        }
        let target = monaco_testkit::target_dir(root);
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
    /// `None` when the chosen sections start no server.
    pub binary: Option<ServerBinary>,
    /// The workspace root: the server's working directory.
    pub root: PathBuf,
    /// `MONACO_INSTANCE`, also the label the bench looks containers up by.
    pub instance: String,
}

/// A running `monaco-server` child process and an HTTP client for it.
pub struct Server {
    process: ServerProcess,
    http: reqwest::Client,
}

impl Server {
    /// Starts a server with the server's defaults plus `settings` (pairs of
    /// environment variable and value), and waits until it is healthy.
    pub async fn start(launch: &Launch, settings: &[(&str, &str)]) -> Result<Server, String> {
        let binary = launch
            .binary
            .as_ref()
            .ok_or("no monaco-server binary was looked for")?;
        let mut server = monaco_testkit::Launch::new(&binary.path, &launch.root)
            .setting("MONACO_INSTANCE", &launch.instance)
            .setting("MONACO_LANGUAGES", launch.root.join("languages.toml"))
            .setting("MONACO_SHUTDOWN_GRACE", SHUTDOWN_GRACE);
        for (key, value) in settings {
            server = server.setting(key, value);
        }
        let process = ServerProcess::start(&server)
            .await
            .map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            // Below the server's keep-alive (5 s): a connection idle while
            // the bench waited for a quiet engine is not reused just as the
            // server closes it.
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .map_err(|e| format!("could not build an HTTP client: {e}"))?;
        Ok(Server { process, http })
    }

    /// The server's resident set (`VmRSS`), bytes.
    pub fn resident_bytes(&self) -> Result<u64, String> {
        self.process
            .resident_bytes()
            .map_err(|e| format!("could not read the server's resident set: {e}"))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        self.process.ws_url(path)
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

    /// SIGTERM, then waits for the server to exit (SIGKILL after a bound).
    /// A server that does not exit cleanly gets a warning (its log is
    /// kept); the figures taken before stay good, and the end of the run
    /// checks that no container was left behind. On an early return
    /// instead (an error), dropping the server stops it the same way.
    pub async fn stop(self) {
        let stopped = self.process.stop().await;
        if stopped.ending.is_clean() {
            stopped.log.remove();
        } else {
            println!(
                "warning: monaco-server {}; its log: {}",
                stopped.ending,
                stopped.log.path().display()
            );
        }
    }
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

/// `DELETE /api/executions/{id}`, expecting 202 (409: it had already
/// finished, which is fine too).
pub async fn cancel(server: &Server, id: &str) -> Result<(), String> {
    let path = format!("/api/executions/{id}");
    let response = server
        .http()
        .delete(server.url(&path))
        .send()
        .await
        .map_err(|e| format!("DELETE {path}: {e}"))?;
    if response.status() == StatusCode::CONFLICT {
        return Ok(());
    }
    json_body(response, StatusCode::ACCEPTED).await.map(|_| ())
}

/// Polls `/api/health` until `done`, at most `bound`.
pub async fn wait_for(
    server: &Server,
    bound: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + bound;
    loop {
        let health = server.get_json("/api/health").await?;
        if done(&health) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("waited {bound:?} for {what}; health: {health}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Cancels every execution of `ids`, `in_flight` at a time; the first
/// failure, if any.
pub async fn cancel_all(server: &Server, ids: &[String], in_flight: usize) -> Result<(), String> {
    use futures_util::stream::{self, StreamExt};
    let cancels: Vec<Result<(), String>> = stream::iter(ids)
        .map(|id| cancel(server, id))
        .buffer_unordered(in_flight)
        .collect()
        .await;
    match cancels.into_iter().find(Result::is_err) {
        Some(Err(e)) => Err(format!("could not cancel a queued execution: {e}")),
        _ => Ok(()),
    }
}
