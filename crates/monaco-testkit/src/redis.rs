//! A redis-server of the caller's own, for the cluster tests and the
//! benchmark's cluster section: Debian's `redis-server` on a free 127.0.0.1
//! port, in a temporary directory of its own, with the settings a Monaco
//! cluster runs Redis with:
//!
//! ```text
//! redis-server --bind 127.0.0.1 --port <free> --dir <tmp>
//!              --appendonly yes --maxmemory-policy noeviction --save ''
//!              --daemonize no
//! ```
//!
//! [`RedisServer::stop`] stops it (SIGTERM: Redis writes its append-only
//! file out and exits) and [`RedisServer::start_again`] starts it on the
//! same port and directory, so it replays the AOF: what was accepted before
//! the restart is still there after it. `Drop` kills the process by its pid
//! and removes the directory.
//!
//! [`RedisServer::missing`] says whether `redis-server` and `redis-cli` are
//! installed (scripts/setup.sh installs them);
//! [`RedisServer::available_or_skip`] is the tests' gate: without them a
//! test returns early, unless `MONACO_REQUIRE_REDIS=1`, where it panics.
//! [`RedisServer::start`] panics when the server does not start;
//! [`RedisServer::try_start`] says why instead.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long redis-server gets to answer PING after it starts (replaying
/// the AOF included).
const READY: Duration = Duration::from_secs(30);
/// How long redis-server gets to exit after SIGTERM before SIGKILL.
const STOP: Duration = Duration::from_secs(30);
/// Ports tried when the chosen one is taken before redis-server binds it.
const START_ATTEMPTS: usize = 5;

/// A `redis-server` of the caller's own.
pub struct RedisServer {
    dir: PathBuf,
    port: u16,
    /// `None` while stopped.
    child: Option<Child>,
    log: PathBuf,
    /// Times it was started (its log is appended to).
    starts: usize,
}

impl RedisServer {
    /// Why a redis-server cannot run here, if it cannot: `redis-server` or
    /// `redis-cli` is not on the PATH.
    pub fn missing() -> Option<String> {
        let runs = |program: &str| {
            Command::new(program)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let missing: Vec<&str> = ["redis-server", "redis-cli"]
            .into_iter()
            .filter(|p| !runs(p))
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(format!(
            "no {} on the PATH (Debian's redis-server package; scripts/setup.sh installs it)",
            missing.join(" nor ")
        ))
    }

    /// Whether `redis-server` and `redis-cli` can run here. Otherwise prints
    /// a SKIPPED line and returns false, or panics with
    /// `MONACO_REQUIRE_REDIS=1`.
    pub fn available_or_skip() -> bool {
        let Some(why) = RedisServer::missing() else {
            return true;
        };
        if std::env::var("MONACO_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("{why}, and MONACO_REQUIRE_REDIS=1");
        }
        println!("SKIPPED: {why} (set MONACO_REQUIRE_REDIS=1 to fail instead)");
        false
    }

    /// Starts a redis-server on a free port in a new temporary directory,
    /// and waits until it answers PING; panics if it does not.
    pub async fn start() -> RedisServer {
        RedisServer::try_start()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`RedisServer::start`] that says what went wrong instead of
    /// panicking.
    pub async fn try_start() -> Result<RedisServer, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "monaco-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        // From here on, `Drop` removes the directory (and the process).
        let mut server = RedisServer {
            log: dir.join("redis.log"),
            dir,
            port: 0,
            child: None,
            starts: 0,
        };
        for _ in 0..START_ATTEMPTS {
            server.port = crate::free_port()
                .map_err(|e| format!("could not bind 127.0.0.1:0 to find a free port: {e}"))?;
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(_)
                    if server.child.is_none()
                        && server.log_tail().contains("Address already in use") =>
                {
                    continue
                }
                Err(e) => {
                    return Err(format!(
                        "redis-server did not start ({e}); its log:\n{}",
                        server.log_tail()
                    ))
                }
            }
        }
        Err(format!(
            "no free port for redis-server in {START_ATTEMPTS} attempts"
        ))
    }

    /// `redis://127.0.0.1:<port>/`, for `MONACO_BROKER_URL`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts it again on the same port and directory (it replays its AOF),
    /// and waits until it answers PING. Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        let began = Instant::now();
        if let Err(e) = self.launch().await {
            panic!("{e}; its log:\n{}", self.log_tail());
        }
        began.elapsed()
    }

    /// Starts redis-server and waits for PING; on an exit during start-up,
    /// says so (the caller reads the log).
    async fn launch(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "redis-server already runs");
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("could not open {}: {e}", self.log.display()))?;
        self.starts += 1;
        let _ = writeln!(log, "==== start {} on port {} ====", self.starts, self.port);
        let stdout = log
            .try_clone()
            .map_err(|e| format!("could not clone the log's handle: {e}"))?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1"])
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes"])
            .args(["--maxmemory-policy", "noeviction"])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let child = self.child.as_mut().expect("just started");
            let exited = child
                .try_wait()
                .map_err(|e| format!("could not poll redis-server: {e}"))?;
            if let Some(status) = exited {
                self.child = None;
                return Err(format!("redis-server exited at start ({status})"));
            }
            if self.pong() {
                return Ok(());
            }
            if Instant::now() > deadline {
                // Still running: `Drop` kills it.
                return Err(format!("redis-server did not answer PING within {READY:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether it answers PING with PONG now (not while loading its AOF).
    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// The pid of the running redis-server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// SIGTERM (Redis writes its AOF out and exits 0), then waits; SIGKILL
    /// after a bound. Returns how long it took to exit.
    pub async fn stop(&mut self) -> Duration {
        let began = Instant::now();
        let mut child = self.child.take().expect("redis-server is running");
        let _ = crate::signal_child(&child, libc::SIGTERM);
        let deadline = began + STOP;
        loop {
            if let Some(status) = child.try_wait().expect("poll redis-server") {
                assert!(
                    status.success(),
                    "redis-server exited with {status} after SIGTERM; its log:\n{}",
                    self.log_tail()
                );
                return began.elapsed();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server did not exit within {STOP:?} of SIGTERM (killed); its log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `redis-cli` against it with `args` (no shell); returns what it
    /// printed. Panics if it could not run or exited non-zero; an error
    /// reply is in the output (`redis-cli` prints it as `ERR …`,
    /// `NOGROUP …`).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The last part of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(6000)));
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for RedisServer {
    /// Kills the process by its pid (if it runs) and removes the directory.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("redis-server log:\n{}", self.log_tail());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
