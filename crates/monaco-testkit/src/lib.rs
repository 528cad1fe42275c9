//! Monaco's test kit: the real `monaco-server` binary as a child process on
//! an ephemeral 127.0.0.1 port, shared by the whole-system tests (`tests/`)
//! and the benchmark (`bins/monaco-bench`), so that both start, watch and
//! stop a server the same way.
//!
//! [`ServerProcess::start`] picks a free port, starts the binary with the
//! server's own settings cleared from the inherited environment plus the
//! caller's ([`Launch::setting`]), and waits until `/api/health` answers.
//! [`ServerProcess::stop`] sends SIGTERM and waits, with SIGKILL after
//! [`SHUTDOWN`]. Dropping a process that was not stopped does the same, so
//! that a failed assertion or an early return still lets the server remove
//! its containers. The server's output goes to a log file that stays until
//! the caller removes it ([`ServerLog::remove`]): a failure can quote it.
//!
//! What a cluster runs beside the servers comes from here too, for the
//! cluster and fault tests and the benchmark's cluster section:
//! [`redis::RedisServer`], a `redis-server` of the caller's own on a free
//! 127.0.0.1 port, and [`private_engine::PrivateEngine`], a `dockerd` of the
//! caller's own on a socket in a temporary directory (a server is pointed
//! at it with `DOCKER_HOST`). Both are stopped by their pid.
//!
//! This crate knows the server only as a program with environment settings
//! and a health endpoint: it links no Monaco crate, and it talks to nothing
//! but 127.0.0.1.

pub mod private_engine;
pub mod redis;

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a server gets to answer `/api/health` after it starts.
pub const STARTUP: Duration = Duration::from_secs(60);
/// How long a server gets to exit after SIGTERM before it is killed.
pub const SHUTDOWN: Duration = Duration::from_secs(60);
/// Ports tried before giving up, when another process takes the chosen one
/// between choosing it and the server binding it.
const START_ATTEMPTS: usize = 5;
/// How much of the end of a log [`ServerLog::tail`] reads.
const LOG_TAIL_BYTES: u64 = 8000;
/// How often a starting or stopping server is looked at: a child process's
/// exit and a server's readiness have no event to await here.
const POLL: Duration = Duration::from_millis(50);

/// Where cargo writes build output: `CARGO_TARGET_DIR`, else
/// `<workspace_root>/target`.
pub fn target_dir(workspace_root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("target"))
}

/// `<target>/<profile>/monaco-server`, if that build exists.
pub fn built_server(workspace_root: &Path, profile: &str) -> Option<PathBuf> {
    let path = target_dir(workspace_root)
        .join(profile)
        .join("monaco-server");
    path.is_file().then_some(path)
}

/// How to start a server: the binary, its working directory, where its log
/// goes, and its settings.
#[derive(Debug, Clone)]
pub struct Launch {
    binary: PathBuf,
    dir: PathBuf,
    log_dir: PathBuf,
    settings: Vec<(String, OsString)>,
}

impl Launch {
    /// `binary`, run in `dir`, logging into the system's temporary directory.
    ///
    /// Terminals close as soon as the execution ends (`MONACO_WS_LINGER=0`
    /// instead of the server's 5 s), so that a suite that opens many does
    /// not wait for each; a test of the linger sets it again.
    pub fn new(binary: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Launch {
        Launch {
            binary: binary.into(),
            dir: dir.into(),
            log_dir: std::env::temp_dir(),
            settings: vec![("MONACO_WS_LINGER".to_string(), "0".into())],
        }
    }

    /// Writes the server's logs into `dir` instead.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Launch {
        self.log_dir = dir.into();
        self
    }

    /// Adds an environment variable; a later one of the same name wins.
    /// `PORT` and `MONACO_HOST` are the launcher's own and always win.
    pub fn setting(mut self, key: &str, value: impl Into<OsString>) -> Launch {
        self.settings.push((key.to_string(), value.into()));
        self
    }

    /// The server binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn command(&self, port: u16, log: &File) -> io::Result<Command> {
        let mut command = Command::new(&self.binary);
        clear_settings(&mut command);
        for (key, value) in &self.settings {
            command.env(key, value);
        }
        command
            .env("PORT", port.to_string())
            .env("MONACO_HOST", "127.0.0.1")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?);
        Ok(command)
    }
}

/// Removes the server's own settings from the inherited environment, so a
/// server runs with its defaults plus what the caller sets, whatever the
/// caller's shell holds. `MONACO_AGENT` (where the agent is) stays.
fn clear_settings(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let ours = key.starts_with("MONACO_") && key != "MONACO_AGENT";
        // The names the original service read, which the server still reads.
        let original = matches!(
            key.as_str(),
            "PORT" | "CONCURRENT_EXECUTIONS" | "QUEUE_CAPACITY" | "DEFAULT_TIMEOUT"
        );
        if ours || original {
            command.env_remove(&key);
        }
    }
}

/// A server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No HTTP client for the health check.
    #[error("could not build an HTTP client")]
    Client(#[source] reqwest::Error),
    /// No port to give it.
    #[error("could not bind 127.0.0.1:0 to find a free port")]
    Port(#[source] io::Error),
    /// Its log file could not be made.
    #[error("could not create the server log {}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The binary would not run.
    #[error("could not start {}", binary.display())]
    Spawn {
        /// The server binary.
        binary: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// It exited before it was healthy.
    #[error("monaco-server exited during start-up ({status}); its log:\n{log}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// It did not answer `/api/health` within [`STARTUP`].
    #[error("monaco-server did not become healthy within {STARTUP:?}; its log:\n{log}")]
    NotHealthy {
        /// The end of its log.
        log: String,
    },
    /// Every port tried was taken by the time the server bound it.
    #[error("could not find a free port for monaco-server in {START_ATTEMPTS} attempts")]
    NoFreePort,
}

/// A running `monaco-server` child process.
pub struct ServerProcess {
    /// `None` once stopped or killed.
    child: Option<Child>,
    port: u16,
    log: ServerLog,
}

impl ServerProcess {
    /// Starts a server as `launch` says on a free 127.0.0.1 port and waits
    /// until it is healthy. Retries with another port when the chosen one
    /// was taken in between.
    pub async fn start(launch: &Launch) -> Result<ServerProcess, StartError> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(StartError::Client)?;
        for _attempt in 0..START_ATTEMPTS {
            let port = free_port().map_err(StartError::Port)?;
            let n = STARTED.fetch_add(1, Ordering::SeqCst);
            let path = launch.log_dir.join(format!(
                "monaco-server-{}-{n}-{port}.log",
                std::process::id()
            ));
            let log_error = |source| StartError::Log {
                path: path.clone(),
                source,
            };
            let file = File::create(&path).map_err(log_error)?;
            let log = ServerLog { path: path.clone() };
            let spawned = launch
                .command(port, &file)
                .map_err(log_error)
                .and_then(|mut c| {
                    c.spawn().map_err(|source| StartError::Spawn {
                        binary: launch.binary.clone(),
                        source,
                    })
                });
            let child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    // Nothing ran, so the log is empty: do not leave it.
                    log.remove();
                    return Err(e);
                }
            };
            let mut server = ServerProcess {
                child: Some(child),
                port,
                log,
            };
            match server.wait_healthy(&http).await {
                Ok(()) => return Ok(server),
                Err(Unhealthy::Exited(status)) => {
                    server.child = None;
                    let log = server.log.tail();
                    if log.contains("Address already in use") {
                        server.log.clone().remove();
                        continue;
                    }
                    return Err(StartError::Exited { status, log });
                }
                // Dropping `server` stops it.
                Err(Unhealthy::TooSlow) => {
                    return Err(StartError::NotHealthy {
                        log: server.log.tail(),
                    })
                }
            }
        }
        Err(StartError::NoFreePort)
    }

    /// Waits for `/api/health` to answer 200.
    async fn wait_healthy(&mut self, http: &reqwest::Client) -> Result<(), Unhealthy> {
        let deadline = Instant::now() + STARTUP;
        let url = self.url("/api/health");
        loop {
            let child = self.child.as_mut().expect("the server is running");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Unhealthy::Exited(status));
            }
            let answer = http.get(&url).send().await;
            if answer.is_ok_and(|r| r.status() == reqwest::StatusCode::OK) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Unhealthy::TooSlow);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// Sends SIGHUP (the server re-reads its keys file).
    pub fn hangup(&self) -> io::Result<()> {
        signal_child(
            self.child.as_ref().expect("the server is running"),
            libc::SIGHUP,
        )
    }

    /// The server's resident set (`VmRSS` of `/proc/<pid>/status`), bytes.
    pub fn resident_bytes(&self) -> io::Result<u64> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path)?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("no VmRSS in {path}"))
            })
    }

    /// The server's log.
    pub fn log(&self) -> &ServerLog {
        &self.log
    }

    /// SIGTERM, then waits for the server to exit (SIGKILL after
    /// [`SHUTDOWN`]). The log stays for the caller to read or remove.
    pub async fn stop(self) -> Stopped {
        tokio::task::spawn_blocking(move || self.stop_blocking())
            .await
            .expect("stopping the server does not panic")
    }

    /// [`ServerProcess::stop`] for where no runtime is at hand (a `Drop`).
    pub fn stop_blocking(mut self) -> Stopped {
        let child = self.child.take().expect("the server is running");
        Stopped {
            ending: terminate_and_wait(child),
            log: self.log.clone(),
        }
    }

    /// SIGKILL now, as a crash: no shutdown, so containers it started stay
    /// behind. Returns its log.
    pub fn kill(mut self) -> ServerLog {
        let mut child = self.child.take().expect("the server is running");
        let _ = child.kill();
        let _ = child.wait();
        self.log.clone()
    }
}

impl Drop for ServerProcess {
    /// Only when not stopped (a panic, an early return): stop the server
    /// anyway so that it removes its containers.
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate_and_wait(child);
        }
    }
}

/// How a start-up went wrong.
enum Unhealthy {
    Exited(ExitStatus),
    TooSlow,
}

/// SIGTERM, then up to [`SHUTDOWN`] for the child to exit, then SIGKILL.
fn terminate_and_wait(mut child: Child) -> Ending {
    let _ = signal_child(&child, libc::SIGTERM);
    let deadline = Instant::now() + SHUTDOWN;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Ending::Exited(status);
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    Ending::Killed
}

/// A port that was free a moment ago (the caller retries if it is taken).
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends `signal` to our own child (a server, redis-server, dockerd).
pub(crate) fn signal_child(child: &Child, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill(2) on our own child's pid, not reaped yet (so not
    // reused); no memory is shared.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A stopped server: how it ended, and its log.
#[derive(Debug)]
pub struct Stopped {
    /// How it ended.
    pub ending: Ending,
    /// Its log, kept until removed.
    pub log: ServerLog,
}

/// How a server ended after SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited by itself, with this status.
    Exited(ExitStatus),
    /// It did not exit within [`SHUTDOWN`] and was killed.
    Killed,
}

impl Ending {
    /// Exited with status 0: it drained and removed its containers.
    pub fn is_clean(&self) -> bool {
        matches!(self, Ending::Exited(status) if status.success())
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Exited(status) => write!(f, "exited with {status} after SIGTERM"),
            Ending::Killed => write!(f, "did not exit within {SHUTDOWN:?} of SIGTERM (killed)"),
        }
    }
}

/// A server's log file (its stdout and stderr).
#[derive(Debug, Clone)]
pub struct ServerLog {
    path: PathBuf,
}

impl ServerLog {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its last few kilobytes, for error messages; empty if unreadable.
    pub fn tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Deletes it (when nothing went wrong).
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_a_spawn_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir();
        let launch = Launch::new(dir.join("no-such-monaco-server"), &dir);
        let error = runtime
            .block_on(ServerProcess::start(&launch))
            .err()
            .expect("no binary, no server");
        assert!(matches!(error, StartError::Spawn { .. }), "{error}");
        let logs = std::fs::read_dir(&dir).unwrap().filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.starts_with(&format!("monaco-server-{}-", std::process::id()))
                .then_some(name)
        });
        assert_eq!(logs.count(), 0, "the empty log is removed");
    }

    #[test]
    fn a_server_that_exits_at_once_is_reported_with_its_log() {
        use std::os::unix::fs::PermissionsExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("monaco-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Prints what it was given and exits: a server that refused its settings.
        let script = dir.join("server.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"given $MONACO_GREETING on $MONACO_HOST:$PORT\" >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let launch = Launch::new(&script, &dir)
            .log_dir(&dir)
            .setting("MONACO_GREETING", "hello")
            .setting("PORT", "1");
        let error = runtime
            .block_on(ServerProcess::start(&launch))
            .err()
            .expect("the script is not a server");
        let _ = std::fs::remove_dir_all(&dir);
        let StartError::Exited { status, log } = &error else {
            panic!("{error}");
        };
        assert_eq!(status.code(), Some(3));
        assert!(log.starts_with("given hello on 127.0.0.1:"), "{log}");
        assert!(!log.contains(":1\n"), "the launcher's port wins: {log}");
    }

    #[test]
    fn a_healthy_server_is_measured_and_stopped() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::ExitStatusExt;
        if Command::new("python3").arg("--version").output().is_err() {
            println!("SKIPPED: no python3 to stand in for a server");
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("monaco-testkit-up-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("api")).unwrap();
        std::fs::write(dir.join("api/health"), "ok").unwrap();
        // A static file server stands in: it answers /api/health from `dir`
        // and, unlike monaco-server, dies of SIGTERM instead of exiting 0.
        let script = dir.join("server.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nexec python3 -m http.server \"$PORT\" --bind \"$MONACO_HOST\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let launch = Launch::new(&script, &dir).log_dir(&dir);
        let stopped = runtime.block_on(async {
            let server = ServerProcess::start(&launch).await.expect("it starts");
            assert_eq!(
                server.url("/api/health"),
                format!("http://127.0.0.1:{}/api/health", server.port())
            );
            assert!(server.resident_bytes().unwrap() > 0);
            server.stop().await
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            stopped.ending,
            Ending::Exited(ExitStatus::from_raw(libc::SIGTERM))
        );
        assert!(!stopped.ending.is_clean());
    }

    #[test]
    fn only_a_zero_exit_is_clean() {
        use std::os::unix::process::ExitStatusExt;
        assert!(Ending::Exited(ExitStatus::from_raw(0)).is_clean());
        assert!(!Ending::Exited(ExitStatus::from_raw(3 << 8)).is_clean());
        assert!(!Ending::Killed.is_clean());
        assert!(Ending::Killed.to_string().contains("killed"));
    }
}
