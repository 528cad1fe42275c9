//! A private Docker engine: a `dockerd` of the caller's own, on a socket in
//! a temporary directory, that a fault test may stop and start again, and
//! that a benchmark may give each of several workers, without touching the
//! machine's shared engine (other suites and other people use that one at
//! the same time).
//!
//! ```text
//! dockerd --host unix://<root>/docker.sock --data-root <root>/data
//!         --exec-root <root>/exec --pidfile <root>/docker.pid
//!         --config-file <root>/daemon.json ({} — not /etc/docker's)
//!         --bridge <its own bridge> --iptables=false --ip-masq=false
//!         --ip-forward=false
//! ```
//!
//! Its default bridge is an interface of its own (`ip link add … type
//! bridge`, removed in `Drop`), with a subnet of its own: `--bridge none`
//! would make dockerd delete the host's `docker0` at start, breaking the
//! shared engine's default network. The iptables options keep it off the
//! host's firewall (sandboxes run with network none anyway). Its containerd is
//! its own too (dockerd starts one under `<root>/exec/containerd`). Without
//! `--live-restore`, stopping the engine stops its containers, as on a real
//! host. A server is pointed at it with `DOCKER_HOST=unix://<root>/docker.sock`
//! (bollard's `connect_with_local_defaults` reads `DOCKER_HOST`).
//!
//! `Drop` cleans up whatever happened: removes the containers, stops dockerd
//! (SIGTERM, then SIGKILL), ends any process still using the directory (by
//! pid), unmounts anything left under it, and removes it.
//!
//! Needs root (dockerd does). [`PrivateEngine::unavailable`] says why it
//! cannot run here; [`PrivateEngine::available_or_skip`] is the tests' gate:
//! without root it skips, unless `MONACO_REQUIRE_DOCKER=1`. The `start`,
//! `start_again` and `load_image` of a test panic with the reason; their
//! `try_` forms return it instead.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long dockerd gets to answer after it starts.
const READY: Duration = Duration::from_secs(60);
/// How long dockerd gets to exit after SIGTERM. It stops each running
/// container with SIGTERM and SIGKILLs it 10 s later (the agent, PID 1 in
/// a sandbox, does not handle SIGTERM), in parallel.
const STOP: Duration = Duration::from_secs(60);

/// A `dockerd` of the caller's own.
pub struct PrivateEngine {
    root: PathBuf,
    /// The private engine's own bridge interface.
    bridge: String,
    child: Option<Child>,
    log: PathBuf,
    /// Times dockerd was started (its log is appended to).
    starts: usize,
}

impl PrivateEngine {
    /// Why a private engine cannot run here, if it cannot: it needs the
    /// shared engine answering (images come from it), root, and `dockerd`
    /// on the PATH.
    pub fn unavailable() -> Option<&'static str> {
        if !shared_engine_answers() {
            return Some("no Docker engine");
        }
        // SAFETY: geteuid(2) has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            Some("the fault tests start a private dockerd, which needs root")
        } else if !Command::new("dockerd")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            Some("no `dockerd` on the PATH to start a private engine with")
        } else {
            None
        }
    }

    /// Whether a private engine can run here (see
    /// [`PrivateEngine::unavailable`]). Otherwise prints why and returns
    /// false, or panics with `MONACO_REQUIRE_DOCKER=1`.
    pub fn available_or_skip() -> bool {
        let Some(why) = PrivateEngine::unavailable() else {
            return true;
        };
        if std::env::var("MONACO_REQUIRE_DOCKER").as_deref() == Ok("1") {
            if why == "no Docker engine" {
                panic!("no Docker engine answers, and MONACO_REQUIRE_DOCKER=1");
            }
            panic!("{why}, and MONACO_REQUIRE_DOCKER=1");
        }
        println!("SKIPPED: {why} (set MONACO_REQUIRE_DOCKER=1 to fail instead)");
        false
    }

    /// Starts a private engine in a new temporary directory and waits until
    /// it answers; panics if it cannot.
    pub async fn start() -> PrivateEngine {
        PrivateEngine::try_start()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PrivateEngine::start`] that says what went wrong instead of
    /// panicking. What it made before that is removed again.
    pub async fn try_start() -> Result<PrivateEngine, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        // Short: containerd's socket path lives under it and must fit a
        // sockaddr_un (108 bytes).
        let root = std::env::temp_dir().join(format!(
            "monaco-pe-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let n = N.load(Ordering::SeqCst) % 10;
        let bridge = format!("mnpe{}{n}", std::process::id() % 100_000);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("could not create {}: {e}", root.display()))?;
        // From here on, `Drop` removes the directory and the bridge.
        let mut engine = PrivateEngine {
            log: root.join("dockerd.log"),
            bridge,
            root,
            child: None,
            starts: 0,
        };
        let daemon_json = engine.root.join("daemon.json");
        std::fs::write(&daemon_json, "{}\n")
            .map_err(|e| format!("could not write {}: {e}", daemon_json.display()))?;
        let ip = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "ip {args:?} failed (iproute2 is needed for a private engine)"
                ))
            }
        };
        let _ = Command::new("ip")
            .args(["link", "del", &engine.bridge])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", &engine.bridge, "type", "bridge"])?;
        // A subnet no other engine uses by default.
        let subnet = format!("10.213.{}.1/24", (std::process::id() % 200) + n as u32);
        ip(&["addr", "add", &subnet, "dev", &engine.bridge])?;
        engine.try_start_again().await?;
        Ok(engine)
    }

    /// `unix://<root>/docker.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.root.join("docker.sock").display())
    }

    /// Whether dockerd is running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The pid of the running dockerd.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("dockerd is running").id()
    }

    /// Starts dockerd (again) on the same directories, and waits until it
    /// answers; panics if it does not. Returns how long that took.
    pub async fn start_again(&mut self) -> Duration {
        self.try_start_again()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PrivateEngine::start_again`] that says what went wrong instead of
    /// panicking (a dockerd that does not answer in time stays running, for
    /// `Drop` to stop).
    pub async fn try_start_again(&mut self) -> Result<Duration, String> {
        assert!(self.child.is_none(), "the private dockerd already runs");
        let began = Instant::now();
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("could not open {}: {e}", self.log.display()))?;
        self.starts += 1;
        use std::io::Write;
        let _ = writeln!(log, "==== start {} ====", self.starts);
        let path = |p: &str| self.root.join(p).display().to_string();
        let stdout = log
            .try_clone()
            .map_err(|e| format!("could not clone the dockerd log's handle: {e}"))?;
        let child = Command::new("dockerd")
            .args(["--host", &self.host()])
            .args(["--data-root", &path("data")])
            .args(["--exec-root", &path("exec")])
            .args(["--pidfile", &path("docker.pid")])
            .args(["--config-file", &path("daemon.json")])
            .args(["--bridge", &self.bridge])
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("could not start dockerd: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY;
        loop {
            let child = self.child.as_mut().expect("just started");
            let exited = child
                .try_wait()
                .map_err(|e| format!("could not poll dockerd: {e}"))?;
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "the private dockerd exited at start ({status}); its log:\n{}",
                    self.log_tail()
                ));
            }
            let answers = self
                .try_docker(&["version", "--format", "{{.Server.Version}}"])?
                .status
                .success();
            if answers {
                return Ok(began.elapsed());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the private dockerd did not answer within {READY:?}; its log:\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends dockerd SIGTERM (a clean stop: it stops its containers and
    /// unmounts) without waiting; see [`PrivateEngine::wait_stopped`].
    pub fn signal_stop(&self) {
        let child = self.child.as_ref().expect("dockerd is running");
        let _ = crate::signal_child(child, libc::SIGTERM);
    }

    /// Waits until dockerd has exited (after [`PrivateEngine::signal_stop`]);
    /// panics if it does not within a bound. Returns how long it took.
    pub async fn wait_stopped(&mut self) -> Duration {
        let began = Instant::now();
        let deadline = began + STOP;
        let child = self.child.as_mut().expect("dockerd is running");
        loop {
            if let Some(status) = child.try_wait().expect("poll dockerd") {
                self.child = None;
                assert!(
                    status.success(),
                    "the private dockerd exited with {status}; its log:\n{}",
                    self.log_tail()
                );
                return began.elapsed();
            }
            if Instant::now() > deadline {
                panic!(
                    "the private dockerd did not exit within {STOP:?} of SIGTERM; its log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and wait.
    pub async fn stop(&mut self) -> Duration {
        self.signal_stop();
        self.wait_stopped().await
    }

    /// Copies an image from the shared engine into this one
    /// (`docker save <image> | docker -H <ours> load`); panics if it cannot.
    pub fn load_image(&self, image: &str) {
        self.try_load_image(image).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PrivateEngine::load_image`] that says what went wrong instead of
    /// panicking.
    pub fn try_load_image(&self, image: &str) -> Result<(), String> {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run `docker save`: {e}"))?;
        let load = Command::new("docker")
            .args(["-H", &self.host(), "load", "--quiet"])
            .stdin(save.stdout.take().expect("save's stdout is piped"))
            .output();
        let saved = save
            .wait_with_output()
            .map_err(|e| format!("could not wait for `docker save`: {e}"))?;
        let load = load.map_err(|e| format!("could not run `docker load`: {e}"))?;
        if !saved.status.success() {
            return Err(format!(
                "`docker save {image}` failed (is the image built? scripts/setup.sh builds it): {}",
                String::from_utf8_lossy(&saved.stderr)
            ));
        }
        if !load.status.success() {
            return Err(format!(
                "`docker load` into the private engine failed: {}",
                String::from_utf8_lossy(&load.stderr)
            ));
        }
        Ok(())
    }

    /// Runs the docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.try_docker(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`PrivateEngine::docker`], saying when the CLI could not run.
    fn try_docker(&self, args: &[&str]) -> Result<Output, String> {
        Command::new("docker")
            .args(["-H", &self.host()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run the docker CLI: {e}"))
    }

    /// Ids of the containers (all states) that have every one of `labels`
    /// (`key` or `key=value`).
    pub fn containers(&self, labels: &[&str]) -> Vec<String> {
        containers_on(Some(&self.host()), labels)
    }

    /// The last part of dockerd's log, for failure messages.
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

/// Whether the shared engine answers `docker info` (asked once).
fn shared_engine_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Ids of the containers (all states) on an engine (`None`: the shared one)
/// that have every one of `labels`.
pub fn containers_on(host: Option<&str>, labels: &[&str]) -> Vec<String> {
    try_containers_on(host, labels).unwrap_or_else(|e| panic!("{e}"))
}

/// [`containers_on`] that reports a failure instead of panicking (for
/// clean-up in `Drop`, where a panic during a panic aborts).
pub fn try_containers_on(host: Option<&str>, labels: &[&str]) -> Result<Vec<String>, String> {
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    cmd.args(["ps", "-aq", "--no-trunc"]);
    for l in labels {
        cmd.args(["--filter", &format!("label={l}")]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `docker ps`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`docker ps` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Force-removes containers on an engine (`None`: the shared one); errors
/// are ignored (best effort, for clean-up).
pub fn remove_containers(host: Option<&str>, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut cmd = Command::new("docker");
    if let Some(h) = host {
        cmd.args(["-H", h]);
    }
    let _ = cmd
        .args(["rm", "-f"])
        .args(ids)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Removing the containers first makes the stop quick.
            let ids = try_containers_on(Some(&self.host()), &[]).unwrap_or_default();
            remove_containers(Some(&self.host()), &ids);
            let _ = crate::signal_child(&child, libc::SIGTERM);
            let deadline = Instant::now() + STOP;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("private dockerd log:\n{}", self.log_tail());
        }
        // After a clean stop nothing below is left; after a SIGKILL its
        // containerd, shims and containers may be, and mounts.
        kill_processes_under(&self.root);
        unmount_under(&self.root);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!(
                "could not remove the private engine's directory {}: {e}",
                self.root.display()
            );
        }
    }
}

/// SIGKILLs, by pid, every process whose command line names `root`
/// (the engine's containerd and shims), and the processes of its
/// containers (found through their cgroups).
fn kill_processes_under(root: &Path) {
    let root_text = root.display().to_string();
    let container_ids: Vec<String> = std::fs::read_dir(root.join("data").join("containers"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for entry in procs.filter_map(|e| e.ok()) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
            continue;
        };
        if u32::try_from(pid).ok() == Some(me) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
        let ours = cmdline.contains(&root_text)
            || container_ids
                .iter()
                .any(|id| id.len() == 64 && cgroup.contains(id.as_str()));
        if ours {
            // SAFETY: kill(2) by pid of a process this engine started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
}

/// Lazily unmounts every mount point under `root`, deepest first.
fn unmount_under(root: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = root.display().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let Ok(c) = std::ffi::CString::new(p.clone()) else {
            continue;
        };
        // SAFETY: umount2(2) with a valid NUL-terminated path.
        let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        if rc != 0 {
            eprintln!("could not unmount {p}: {}", std::io::Error::last_os_error());
        }
    }
}

/// `/proc/self/mountinfo` escapes space, tab, newline and backslash as
/// octal (`\040`).
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path("/tmp/a\\040b"), "/tmp/a b");
        assert_eq!(unescape_mount_path("/tmp/tab\\011x\\134"), "/tmp/tab\tx\\");
        assert_eq!(unescape_mount_path("/plain/path"), "/plain/path");
        assert_eq!(unescape_mount_path("/cut\\04"), "/cut\\04");
    }
}
