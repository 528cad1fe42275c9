//! Shared set-up for the sandbox's whole-system tests: a gate that skips
//! (or fails, in CI) when no Docker engine answers, jobs built from
//! `languages.toml` the way the service builds them, and collection of what
//! a run printed and how it ended.
//!
//! Every test owns one [`Harness`] (one driver connection) and ends with
//! [`Harness::finish`], which waits until the driver has removed every
//! container it created and checks with the engine that none is left.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bollard::container::ListContainersOptions;
use monaco_core::protocol::{JobCase, JobCases, JobChecker, JobFile};
use monaco_core::{
    CaseReport, Comparison, ExecutionEvent, ExecutionId, ExecutionOutcome, Limits, LimitsOverride,
    SourceFile, StepKind, StepReport, Stream,
};
use monaco_languages::Registry;
use monaco_sandbox::{
    ActiveExecution, DockerConfig, DockerSandbox, InputCommand, PoolConfig, Sandbox, SandboxError,
    SandboxJob,
};

/// The environment every step starts from (the language may add to it).
pub const BASE_ENV: [(&str, &str); 4] = [
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/tmp"),
    ("LANG", "C.UTF-8"),
    ("TMPDIR", "/tmp"),
];

/// Backstop for any single wait on the sandbox. The driver itself ends
/// every job at its wall limits plus a grace period; this only turns a
/// hang of the driver into a failing test instead of a stuck suite.
const BACKSTOP: Duration = Duration::from_secs(120);

/// The registry from the workspace's `languages.toml`, loaded once.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages.toml");
        Registry::load(&path).unwrap_or_else(|e| panic!("languages.toml: {e}"))
    })
}

/// A program to run: language, source, input, limits.
#[derive(Debug, Clone)]
pub struct Program {
    pub language: &'static str,
    pub code: String,
    pub stdin: Vec<u8>,
    pub interactive: bool,
    pub args: Vec<String>,
    pub limits: LimitsOverride,
    /// Test cases, when the program is run as cases.
    pub cases: Option<Vec<Case>>,
    pub stop_on_first_failure: bool,
    /// What a plain run should print.
    pub expected: Option<Vec<u8>>,
    pub checker: Option<CheckerSpec>,
}

/// One test case of a [`Program`].
#[derive(Debug, Clone, Default)]
pub struct Case {
    pub stdin: Vec<u8>,
    pub expected: Option<Vec<u8>>,
    pub args: Option<Vec<String>>,
}

impl Case {
    /// A case with `stdin` that should print `expected`.
    pub fn new(stdin: impl Into<Vec<u8>>, expected: impl Into<Vec<u8>>) -> Case {
        Case {
            stdin: stdin.into(),
            expected: Some(expected.into()),
            args: None,
        }
    }

    /// A case with `stdin` whose output is not judged.
    pub fn unjudged(stdin: impl Into<Vec<u8>>) -> Case {
        Case {
            stdin: stdin.into(),
            ..Case::default()
        }
    }

    /// Arguments of this case's run command.
    pub fn args(mut self, args: &[&str]) -> Case {
        self.args = Some(args.iter().map(|a| a.to_string()).collect());
        self
    }
}

/// How a [`Program`]'s outputs are judged.
#[derive(Debug, Clone)]
pub enum CheckerSpec {
    /// A built-in comparison.
    Compare(Comparison),
    /// A checker program in a language of `languages.toml`.
    Program {
        language: &'static str,
        code: String,
    },
}

impl Program {
    /// `code` in `language`, no input, stdin closed, the language's limits.
    pub fn new(language: &'static str, code: impl Into<String>) -> Program {
        Program {
            language,
            code: code.into(),
            stdin: Vec::new(),
            interactive: false,
            args: Vec::new(),
            limits: LimitsOverride::default(),
            cases: None,
            stop_on_first_failure: false,
            expected: None,
            checker: None,
        }
    }

    /// Runs the program once per case instead of once.
    pub fn cases(mut self, cases: Vec<Case>) -> Program {
        self.cases = Some(cases);
        self
    }

    /// Skips the cases after the first that does not pass.
    pub fn stop_on_first_failure(mut self) -> Program {
        self.stop_on_first_failure = true;
        self
    }

    /// What a plain run should print.
    pub fn expected(mut self, bytes: impl Into<Vec<u8>>) -> Program {
        self.expected = Some(bytes.into());
        self
    }

    /// Judges outputs with `checker` (the trim comparison otherwise).
    pub fn checker(mut self, checker: CheckerSpec) -> Program {
        self.checker = Some(checker);
        self
    }

    /// Bytes given to stdin before it is closed.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Program {
        self.stdin = bytes.into();
        self
    }

    /// Keeps stdin open for input sent while the program runs.
    pub fn interactive(mut self) -> Program {
        self.interactive = true;
        self
    }

    /// Arguments after the run command.
    pub fn args(mut self, args: &[&str]) -> Program {
        self.args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Replaces the limits that `limits` sets (on top of the language's).
    pub fn limits(mut self, limits: LimitsOverride) -> Program {
        self.limits = limits;
        self
    }

    /// The sandbox job, built the way the service builds it.
    pub fn job(&self) -> SandboxJob {
        let lang = registry()
            .get(self.language)
            .unwrap_or_else(|| panic!("language {:?} is not in languages.toml", self.language));
        let limits = Limits::default().with(lang.limits()).with(&self.limits);
        let file = lang.source_file_name(&self.code);
        let env: Vec<(String, String)> = BASE_ENV
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SandboxJob {
            id: ExecutionId::new(),
            language: lang.id().to_string(),
            image: lang.image().to_string(),
            files: vec![SourceFile {
                name: file.clone(),
                content: self.code.clone(),
            }],
            compile: lang.compile_step(&file, &limits, &env),
            run: lang.run_step(&file, &self.args, &limits, &env),
            tty: lang.tty(),
            stdin: self.stdin.clone(),
            interactive: self.interactive,
            tmp_bytes: limits.tmp_bytes,
            cases: self.cases.as_ref().map(|cases| JobCases {
                cases: cases
                    .iter()
                    .map(|c| JobCase {
                        argv: lang
                            .run_step(&file, c.args.as_ref().unwrap_or(&self.args), &limits, &env)
                            .argv,
                        stdin: c.stdin.clone(),
                        expected: c.expected.clone(),
                    })
                    .collect(),
                stop_on_first_failure: self.stop_on_first_failure,
                total_wall_ms: limits.total_wall_ms,
            }),
            expected: self.expected.clone(),
            checker: self.judged().then(|| self.job_checker(&env)),
            separate_checker: None,
        }
    }

    /// Whether anything has an expected output (as the service decides).
    fn judged(&self) -> bool {
        self.expected.is_some() || self.cases.iter().flatten().any(|c| c.expected.is_some())
    }

    /// The checker as the service builds it: a program gets its language's
    /// own limits.
    fn job_checker(&self, env: &[(String, String)]) -> JobChecker {
        match self.checker.clone() {
            None => JobChecker::Compare {
                comparison: Comparison::Trim,
            },
            Some(CheckerSpec::Compare(comparison)) => JobChecker::Compare { comparison },
            Some(CheckerSpec::Program { language, code }) => {
                let lang = registry().get(language).expect("checker language");
                let limits = Limits::default().with(lang.limits());
                let main = lang.source_file_name(&code);
                JobChecker::Program {
                    compile: lang.compile_step(&main, &limits, env),
                    run: lang.run_step(&main, &[], &limits, env),
                    files: vec![JobFile {
                        path: main,
                        content: code,
                    }],
                    uid: 0,
                }
            }
        }
    }
}

/// Connects to Docker, or decides that this test cannot run here.
///
/// Without an engine the test is skipped with a visible line, unless
/// `MONACO_REQUIRE_DOCKER=1` (set by CI and `scripts/test.sh`), where it
/// fails. Any other set-up problem (the agent binary is missing) fails.
/// Use it as `let Some(h) = docker_or_skip().await else { return };`.
pub async fn docker_or_skip() -> Option<Harness> {
    docker_or_skip_with(suite_config()).await
}

/// The driver [`docker_or_skip`] uses: instance `sandbox-tests`, no warm
/// pool. These tests count the containers of their own jobs; warm ones
/// would be counted too (`tests/pool.rs` turns the pool on).
pub fn suite_config() -> DockerConfig {
    DockerConfig {
        instance: "sandbox-tests".into(),
        pool: PoolConfig {
            max_per_spec: 0,
            ..PoolConfig::default()
        },
        ..config()
    }
}

/// The driver's defaults, with the agent from `MONACO_AGENT` when it is set
/// (the library itself reads no environment).
pub fn config() -> DockerConfig {
    DockerConfig {
        agent_path: std::env::var_os("MONACO_AGENT")
            .map_or_else(monaco_sandbox::locate_agent, PathBuf::from),
        ..DockerConfig::default()
    }
}

/// [`docker_or_skip`] with a driver configured by `config`.
pub async fn docker_or_skip_with(config: DockerConfig) -> Option<Harness> {
    let required = std::env::var("MONACO_REQUIRE_DOCKER").as_deref() == Ok("1");
    let no_engine = match DockerSandbox::connect(config).await {
        Ok(sandbox) if sandbox.healthy().await => {
            return Some(Harness {
                sandbox,
                started: Mutex::new(Vec::new()),
            })
        }
        Ok(_) => "the engine does not answer a ping".to_string(),
        Err(e @ SandboxError::Engine { .. }) => e.to_string(),
        Err(e) => panic!("cannot set up the Docker sandbox: {e}"),
    };
    if required {
        panic!("no Docker engine answers, and MONACO_REQUIRE_DOCKER=1: {no_engine}");
    }
    // Written straight to stderr: the test harness captures print! of
    // passing tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no Docker engine (set MONACO_REQUIRE_DOCKER=1 to fail instead)"
    );
    None
}

/// One test's connection to the sandbox, and the executions it started.
pub struct Harness {
    pub sandbox: DockerSandbox,
    started: Mutex<Vec<ExecutionId>>,
}

impl Harness {
    /// Starts `job` and returns its handle.
    pub async fn start(&self, job: SandboxJob) -> ActiveExecution {
        let image = job.image.clone();
        self.started.lock().unwrap().push(job.id);
        self.sandbox.start(job).await.unwrap_or_else(|e| {
            panic!("could not start a job on {image} (is it built? run scripts/setup.sh): {e}")
        })
    }

    /// Runs `program` to its end with its initial input and collects it.
    pub async fn run(&self, program: &Program) -> Collected {
        let job = program.job();
        let id = job.id;
        let session = Session {
            id,
            exec: self.start(job).await,
            events: Vec::new(),
        };
        session.finish().await
    }

    /// Runs `job` (a [`Program::job`] changed by the test) to its end.
    pub async fn run_job(&self, job: SandboxJob) -> Collected {
        self.session_job(job).await.finish().await
    }

    /// Starts `job` for a conversation (see [`Session`]).
    pub async fn session_job(&self, job: SandboxJob) -> Session {
        let id = job.id;
        Session {
            id,
            exec: self.start(job).await,
            events: Vec::new(),
        }
    }

    /// Starts `program` for a conversation (see [`Session`]).
    pub async fn session(&self, program: &Program) -> Session {
        let job = program.job();
        let id = job.id;
        Session {
            id,
            exec: self.start(job).await,
            events: Vec::new(),
        }
    }

    /// Waits until the driver has removed every container it created, then
    /// checks with the engine that no container of this test's executions
    /// exists any more. Every test ends with this.
    pub async fn finish(self) {
        tokio::time::timeout(BACKSTOP, self.sandbox.settle())
            .await
            .expect("the driver did not remove its containers");
        assert_eq!(self.sandbox.live_containers(), 0);
        let ids: Vec<ExecutionId> = self.started.lock().unwrap().clone();
        for id in ids {
            let left = self.containers_of(id).await;
            assert!(left.is_empty(), "containers of {id} left behind: {left:?}");
        }
    }

    /// Containers (running or not) labelled with execution `id`.
    pub async fn containers_of(&self, id: ExecutionId) -> Vec<String> {
        let label = format!("monaco.execution={id}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        self.sandbox
            .docker()
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .expect("list containers")
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    }
}

impl Drop for Harness {
    /// A failing test may unwind before the driver's guards have removed its
    /// containers (the runtime that would run their removal is going away),
    /// so remove them here, synchronously, with the Docker CLI.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let ids = self.started.lock().map(|v| v.clone()).unwrap_or_default();
        for id in ids {
            let listed = std::process::Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=monaco.execution={id}"),
                ])
                .output();
            let Ok(listed) = listed else { continue };
            for container in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", container])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
}

/// A running program one talks to: wait for prompts, send input, finish.
pub struct Session {
    pub id: ExecutionId,
    exec: ActiveExecution,
    events: Vec<ExecutionEvent>,
}

impl Session {
    /// The next event; panics when the stream ends without `Finished` or
    /// the backstop passes.
    async fn next_event(&mut self) -> ExecutionEvent {
        let event = tokio::time::timeout(BACKSTOP, self.exec.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event within {BACKSTOP:?}; so far: {:?}", self.events))
            .unwrap_or_else(|| panic!("event stream ended without Finished: {:?}", self.events));
        self.events.push(event.clone());
        event
    }

    /// Waits for the program to wait for input; returns the prompt.
    pub async fn prompt(&mut self) -> String {
        loop {
            match self.next_event().await {
                ExecutionEvent::InputPrompt { prompt } => return prompt,
                ExecutionEvent::Finished(o) => {
                    panic!(
                        "finished ({o:?}) before asking for input: {:?}",
                        self.events
                    )
                }
                _ => {}
            }
        }
    }

    /// Waits until the run step's stdout contains `needle`.
    pub async fn stdout_contains(&mut self, needle: &str) {
        while !String::from_utf8_lossy(&self.stdout()).contains(needle) {
            if let ExecutionEvent::Finished(o) = self.next_event().await {
                panic!(
                    "finished ({o:?}) before printing {needle:?}: {:?}",
                    self.events
                );
            }
        }
    }

    /// The run step's stdout received so far.
    pub fn stdout(&self) -> Vec<u8> {
        output_of(&self.events, StepKind::Run, Some(Stream::Stdout))
    }

    /// The input prompts received so far.
    pub fn prompts(&self) -> Vec<String> {
        prompts_of(&self.events)
    }

    /// Sends bytes to the program's stdin.
    pub async fn send(&self, bytes: &[u8]) {
        self.exec
            .input
            .send(InputCommand::Bytes(bytes.to_vec()))
            .await
            .expect("the execution stopped taking input");
    }

    /// Sends a control command; a job that already ended ignores it.
    pub async fn command(&self, command: InputCommand) {
        let _ = self.exec.input.send(command).await;
    }

    /// Reads the remaining events and collects the whole run.
    pub async fn finish(mut self) -> Collected {
        loop {
            if let ExecutionEvent::Finished(outcome) = self.next_event().await {
                return Collected::new(self.id, self.events, *outcome);
            }
        }
    }
}

/// Everything an execution produced.
#[derive(Debug)]
pub struct Collected {
    pub id: ExecutionId,
    pub events: Vec<ExecutionEvent>,
    /// The run step's stdout.
    pub stdout: Vec<u8>,
    /// The run step's stderr.
    pub stderr: Vec<u8>,
    /// The compile step's stdout and stderr, in arrival order.
    pub compile_output: Vec<u8>,
    /// Every input prompt, in order.
    pub prompts: Vec<String>,
    pub outcome: ExecutionOutcome,
}

impl Collected {
    fn new(id: ExecutionId, events: Vec<ExecutionEvent>, outcome: ExecutionOutcome) -> Self {
        Collected {
            id,
            stdout: output_of(&events, StepKind::Run, Some(Stream::Stdout)),
            stderr: output_of(&events, StepKind::Run, Some(Stream::Stderr)),
            compile_output: output_of(&events, StepKind::Compile, None),
            prompts: prompts_of(&events),
            events,
            outcome,
        }
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn compile_text(&self) -> String {
        String::from_utf8_lossy(&self.compile_output).into_owned()
    }

    /// The run step's report; panics (showing everything) when it did not run.
    pub fn run(&self) -> &StepReport {
        self.outcome
            .run
            .as_ref()
            .unwrap_or_else(|| panic!("no run step report: {self:#?}"))
    }

    /// What test case `index` printed on stdout.
    pub fn case_stdout(&self, index: u32) -> String {
        let bytes: Vec<u8> = self
            .events
            .iter()
            .filter_map(|e| match e {
                ExecutionEvent::Output(c)
                    if c.case == Some(index) && c.stream == Stream::Stdout =>
                {
                    Some(c.data.as_slice())
                }
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The report of test case `index`; panics (showing everything) when
    /// there is none.
    pub fn case(&self, index: u32) -> &CaseReport {
        self.outcome
            .tests
            .iter()
            .find(|c| c.index == index)
            .unwrap_or_else(|| panic!("no report of case {index}: {self:#?}"))
    }

    /// Each case's verdict, in order.
    pub fn case_verdicts(&self) -> Vec<Option<monaco_core::Verdict>> {
        self.outcome
            .tests
            .iter()
            .map(|c| c.report.verdict)
            .collect()
    }

    /// Whether a step of this kind started.
    pub fn started(&self, step: StepKind) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, ExecutionEvent::StepStarted { step: s } if *s == step))
    }
}

fn prompts_of(events: &[ExecutionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ExecutionEvent::InputPrompt { prompt } => Some(prompt.clone()),
            _ => None,
        })
        .collect()
}

/// The bytes `step` printed on `stream` (both streams when `None`).
fn output_of(events: &[ExecutionEvent], step: StepKind, stream: Option<Stream>) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            ExecutionEvent::Output(c)
                if c.step == step && (stream.is_none() || stream == Some(c.stream)) =>
            {
                Some(c.data.as_slice())
            }
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}
