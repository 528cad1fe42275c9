//! The hostile-program suite's harness: a server, small limits, and the
//! invariants every case must leave true.
//!
//! A [`Hostile`] owns one `monaco-server` (its own instance name, the warm
//! pool off so that every execution's container is created for it and
//! carries its `monaco.execution=<id>` label) and runs cases one after the
//! other through `POST /api/execute`. After each case, [`Hostile::run`]
//! checks that:
//!
//! - the server's secret (a canary variable in its environment) appears in
//!   nothing the program printed;
//! - no container of this server remains once it settles (polled briefly);
//! - no new host process: no host process running as the sandbox uid
//!   (65534; there is no user namespace) is in a container this server ever
//!   created (they are all gone by then), and none outside every container
//!   is new since the server started — nothing escaped its container,
//!   nothing outlived it. This server's containers are known exactly, from
//!   the engine's `create` events for its instance label, so that other
//!   servers busy on the same engine (whose containers come and go) do not
//!   count;
//! - the host canary files (a temporary directory with a file whose content
//!   and mtime are recorded) are untouched and nothing was added beside it;
//! - a hello world in the same language, right after, gets `ok`, prints
//!   exactly `Hello, World!`, and runs in a normal time.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{Server, ServerConfig};

const MIB: u64 = 1024 * 1024;

/// The uid programs run as, on the host as in the sandbox.
pub const SANDBOX_UID: u32 = 65534;

/// The variable in the server's environment no program may ever see.
pub const CANARY_VAR: &str = "HOSTILE_CANARY_SECRET";

/// How long a finished execution's container may take to disappear.
const SETTLE: Duration = Duration::from_secs(20);

/// How long a sandbox-uid process of this server's containers, or outside
/// any container, may take to go before it counts as escaped.
const STRAY_GRACE: Duration = Duration::from_secs(5);

/// A hello world slower than this is not normal (it takes well under a
/// second here; the bound only catches a sandbox left degraded).
const HELLO_WALL_MS: u64 = 5_000;

/// A program and how to run it: `POST /api/execute`'s body, with small
/// limits so that the suite is quick.
#[derive(Debug, Clone)]
pub struct Program {
    body: Value,
}

impl Program {
    /// `code` in `language`, non-interactive (stdin is empty), with the
    /// suite's small limits: 128 MiB, 32 processes, 64 KiB of output per
    /// stream. Time limits (wall 10 s, CPU 5 s; compiling: wall 10 s, CPU
    /// 5 s) are loose, so that a busy machine cannot turn another verdict
    /// into a time limit; cases about time set tight ones ([`Program::times`]).
    pub fn new(language: &str, code: &str) -> Program {
        Program {
            body: json!({
                "language": language,
                "code": code,
                "interactive": false,
                "limits": {
                    "wall_ms": 10_000,
                    "cpu_ms": 5_000,
                    "memory_bytes": 128 * MIB,
                    "processes": 32,
                    "output_bytes": 64 * 1024,
                    "compile_wall_ms": 10_000,
                    "compile_cpu_ms": 5_000,
                },
            }),
        }
    }

    /// Sets one field of `limits`.
    pub fn limit(mut self, key: &str, value: u64) -> Program {
        self.body["limits"][key] = json!(value);
        self
    }

    /// The run step's CPU and wall-time limits.
    pub fn times(self, cpu_ms: u64, wall_ms: u64) -> Program {
        self.limit("cpu_ms", cpu_ms).limit("wall_ms", wall_ms)
    }

    /// The program's arguments.
    pub fn args(mut self, args: &[&str]) -> Program {
        self.body["args"] = json!(args);
        self
    }

    /// Extra files beside the main one.
    pub fn files(mut self, files: &[(&str, &str)]) -> Program {
        let list: Vec<Value> = files
            .iter()
            .map(|(name, content)| json!({ "name": name, "content": content }))
            .collect();
        self.body["files"] = json!(list);
        self
    }

    /// Text given to stdin.
    pub fn input(mut self, text: &str) -> Program {
        self.body["input"] = json!(text);
        self
    }

    /// Keep stdin open (nothing will be typed unless a terminal attaches).
    pub fn interactive(mut self) -> Program {
        self.body["interactive"] = json!(true);
        self
    }

    /// The request body.
    pub fn body(&self) -> &Value {
        &self.body
    }

    fn language(&self) -> &str {
        self.body["language"].as_str().expect("a language")
    }
}

/// A host directory with a file in it that no program may touch.
struct Canary {
    dir: PathBuf,
    file: PathBuf,
    content: String,
    modified: SystemTime,
}

impl Canary {
    fn plant() -> Canary {
        let dir = std::env::temp_dir().join(format!(
            "monaco-hostile-canary-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).expect("create the canary directory");
        let file = dir.join("canary.txt");
        let content = format!("canary {}\n", uuid::Uuid::new_v4());
        fs::write(&file, &content).expect("write the canary file");
        let modified = fs::metadata(&file)
            .and_then(|m| m.modified())
            .expect("the canary's mtime");
        Canary {
            dir,
            file,
            content,
            modified,
        }
    }

    fn check(&self, what: &str) {
        let content = fs::read_to_string(&self.file)
            .unwrap_or_else(|e| panic!("{what}: the canary file is gone: {e}"));
        assert_eq!(content, self.content, "{what}: the canary file changed");
        let modified = fs::metadata(&self.file).and_then(|m| m.modified()).unwrap();
        assert_eq!(
            modified, self.modified,
            "{what}: the canary's mtime changed"
        );
        let names: Vec<_> = fs::read_dir(&self.dir)
            .expect("list the canary directory")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(
            names,
            ["canary.txt"],
            "{what}: files appeared beside the canary"
        );
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A host process running as the sandbox uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SandboxProcess {
    pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: with the pid, it names one process.
    start_time: u64,
    /// The Docker container whose cgroup holds it, if any.
    container: Option<String>,
    cmdline: String,
}

/// Every host process whose real uid is the sandbox uid.
fn sandbox_processes() -> Vec<SandboxProcess> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A process may exit while it is looked at: skip it then.
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if uid != Some(SANDBOX_UID) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses.
        let start_time = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(19))
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        found.push(SandboxProcess {
            pid,
            start_time,
            container: container_of_cgroup(&cgroup),
            cmdline,
        });
    }
    found
}

/// The 64-hex-digit container id in a `/proc/<pid>/cgroup` (cgroupfs:
/// `/docker/<id>`; systemd: `docker-<id>.scope`).
fn container_of_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .split(|c: char| !c.is_ascii_hexdigit())
        .find(|t| t.len() == 64)
        .map(str::to_string)
}

/// Full ids of the containers `docker ps -a` lists with these filters.
fn container_ids(filters: &[&str]) -> HashSet<String> {
    let mut cmd = Command::new("docker");
    cmd.args(["ps", "-a", "-q", "--no-trunc"]);
    for f in filters {
        cmd.args(["--filter", f]);
    }
    let out = cmd.output().expect("run `docker ps`");
    assert!(out.status.success(), "`docker ps` failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Every container created with a label, as the engine reports it
/// (`docker events`), from the moment the watch starts.
struct ContainerWatch {
    child: Child,
    created: Arc<Mutex<HashSet<String>>>,
}

impl ContainerWatch {
    fn start(label: &str) -> ContainerWatch {
        // From a second ago: the engine replays what happened since, so
        // nothing created while the subscription is being set up is missed.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            - 1;
        let mut child = Command::new("docker")
            .args(["events", "--since", &since.to_string()])
            .args(["--filter", "type=container", "--filter", "event=create"])
            .args(["--filter", &format!("label={label}")])
            .args(["--format", "{{.Actor.ID}}"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run `docker events`");
        let created = Arc::new(Mutex::new(HashSet::new()));
        let sink = created.clone();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().insert(line.trim().to_string());
            }
        });
        ContainerWatch { child, created }
    }

    fn created(&self) -> HashSet<String> {
        self.created.lock().unwrap().clone()
    }
}

impl Drop for ContainerWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server for hostile programs, and the state the invariants compare with.
pub struct Hostile {
    /// The server (public for the cases that need the terminal or raw
    /// requests).
    pub server: Server,
    instance: String,
    secret: String,
    canary: Canary,
    /// Sandbox-uid host processes outside any container when it started.
    baseline: HashSet<(u32, u64)>,
    /// This server's containers, ever.
    watch: ContainerWatch,
    /// Each language's hello world, from `GET /api/languages`.
    hello: HashMap<String, String>,
}

impl Hostile {
    /// A server (2 workers, no warm pool, a secret in its environment) and
    /// a fresh canary.
    pub async fn start() -> Hostile {
        let instance = format!(
            "hostile-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let secret = format!("canary-secret-{}", uuid::Uuid::new_v4().simple());
        let canary = Canary::plant();
        let baseline = sandbox_processes()
            .into_iter()
            .filter(|p| p.container.is_none())
            .map(|p| (p.pid, p.start_time))
            .collect();
        let watch = ContainerWatch::start(&format!("monaco.instance={instance}"));
        let server = Server::start_with(
            ServerConfig::default()
                .env("MONACO_INSTANCE", &instance)
                .env("MONACO_POOL_SIZE", 0)
                .env(CANARY_VAR, &secret),
        )
        .await;
        let list = server.get_json("/api/languages").await;
        let hello = list
            .as_array()
            .expect("`/api/languages` is an array")
            .iter()
            .map(|l| {
                (
                    l["id"].as_str().expect("an id").to_string(),
                    l["helloWorld"].as_str().expect("a hello world").to_string(),
                )
            })
            .collect();
        Hostile {
            server,
            instance,
            secret,
            canary,
            baseline,
            watch,
            hello,
        }
    }

    /// Where the host canary file is (a path no program can see).
    pub fn canary_path(&self) -> String {
        self.canary.file.display().to_string()
    }

    /// Runs `program` through `POST /api/execute`, checks every invariant
    /// (see the module doc), and returns the result. The result carries the
    /// case's name as `"case"`, so that a failed assertion that prints it
    /// says which case it was.
    pub async fn run(&self, what: &str, program: &Program) -> Value {
        let mut result = self.server.execute(program.body()).await;
        // One line per case (shown with --nocapture): what it got.
        let step = if result["run"].is_null() {
            &result["compile"]
        } else {
            &result["run"]
        };
        println!(
            "case {what:?}: {} exit={} signal={} wall={}ms cpu={}ms memory={}",
            result["verdict"],
            step["exitCode"],
            step["signal"],
            step["wallMs"],
            step["cpuMs"],
            step["memoryBytes"],
        );
        self.after(what, program.language(), &result).await;
        result["case"] = json!(what);
        result
    }

    /// The invariants, after a case whose result is `result`.
    pub async fn after(&self, what: &str, language: &str, result: &Value) {
        self.check_no_secret(what, result);
        self.check_settled(what).await;
        self.check_processes(what).await;
        self.canary.check(what);
        self.check_hello(what, language).await;
    }

    /// The server's secret is in nothing the program printed.
    pub fn check_no_secret(&self, what: &str, result: &Value) {
        for key in ["output", "stdout", "stderr", "compileOutput"] {
            let text = result[key].as_str().unwrap_or_default();
            assert!(
                !text.contains(&self.secret),
                "{what}: `{key}` has the secret"
            );
        }
        for key in ["stdoutBase64", "stderrBase64"] {
            if let Some(b64) = result[key].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("valid base64");
                let needle = self.secret.as_bytes();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{what}: `{key}` has the secret"
                );
            }
        }
    }

    /// No container of this server remains (polled until it settles).
    async fn check_settled(&self, what: &str) {
        let filter = format!("label=monaco.instance={}", self.instance);
        let deadline = Instant::now() + SETTLE;
        loop {
            let left = container_ids(&[&filter]);
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: containers {left:?} remain {SETTLE:?} after the execution ended"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No sandbox-uid process on the host in a container of this server's
    /// (all of them are gone by now), or new and outside every container.
    async fn check_processes(&self, what: &str) {
        // The watch must see this server's containers, or the check below
        // would look for nothing.
        let deadline = Instant::now() + SETTLE;
        while self.watch.created().is_empty() {
            assert!(
                Instant::now() < deadline,
                "{what}: the engine reported no container of this server"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut strays = self.stray_processes();
        // A leak stays; a process caught on its way out does not. Look again
        // for a while, and fail on what is still there.
        let deadline = Instant::now() + STRAY_GRACE;
        while !strays.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let again: HashSet<_> = self.stray_processes().into_iter().collect();
            strays.retain(|p| again.contains(p));
        }
        assert!(
            strays.is_empty(),
            "{what}: host processes of uid {SANDBOX_UID} outlived their execution \
             or escaped its container: {strays:#?}"
        );
    }

    fn stray_processes(&self) -> Vec<SandboxProcess> {
        let procs = sandbox_processes();
        if procs.is_empty() {
            return procs;
        }
        let mut ours = self.watch.created();
        ours.extend(container_ids(&[&format!(
            "label=monaco.instance={}",
            self.instance
        )]));
        procs
            .into_iter()
            .filter(|p| match &p.container {
                None => !self.baseline.contains(&(p.pid, p.start_time)),
                Some(c) => ours.contains(c),
            })
            .collect()
    }

    /// A hello world in `language` right after: `ok`, exact output, a
    /// normal time.
    async fn check_hello(&self, what: &str, language: &str) {
        let code = &self.hello[language];
        let hello = self
            .server
            .execute(&json!({ "language": language, "code": code, "input": "" }))
            .await;
        assert_eq!(
            hello["verdict"], "ok",
            "{what}: the hello world after: {hello}"
        );
        assert_eq!(
            hello["stdout"], "Hello, World!\n",
            "{what}: the hello world after: {hello}"
        );
        let wall = hello["run"]["wallMs"].as_u64().expect("run.wallMs");
        assert!(
            wall < HELLO_WALL_MS,
            "{what}: the hello world after took {wall} ms: {hello}"
        );
        self.check_no_secret(what, &hello);
    }

    /// Stops the server (which checks its executions' containers are gone).
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The result's run step, checked: `verdict`, `exitCode` and `signal` as
/// given (top level and `run` agree).
pub fn assert_run(result: &Value, verdict: &str, exit_code: Option<i64>, signal: Option<i64>) {
    let status = if verdict == "ok" {
        "completed"
    } else {
        "failed"
    };
    assert_eq!(result["status"], status, "{result}");
    assert_eq!(result["verdict"], verdict, "{result}");
    let run = &result["run"];
    assert_eq!(run["verdict"], verdict, "{result}");
    assert_eq!(run["exitCode"].as_i64(), exit_code, "exitCode: {result}");
    assert_eq!(run["signal"].as_i64(), signal, "signal: {result}");
    assert_eq!(result["exitCode"], run["exitCode"], "{result}");
    assert_eq!(result["signal"], run["signal"], "{result}");
}

/// The exact bytes of a stream (`stdout` or `stderr`): base64 when the
/// result carries it (not UTF-8), the text otherwise.
pub fn stream_bytes(result: &Value, stream: &str) -> Vec<u8> {
    match result[format!("{stream}Base64")].as_str() {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("valid base64"),
        None => result[stream]
            .as_str()
            .expect("a stream is a string")
            .as_bytes()
            .to_vec(),
    }
}

/// The lines a probe printed as `<name>` TAB `<outcome>`, by name.
pub fn outcomes(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
