//! Monaco's sandbox layer: runs one prepared job in an isolated environment.
//!
//! [`Sandbox`] is the seam the scheduler is generic over. [`DockerSandbox`]
//! is the real implementation: one fresh, hardened container per execution
//! (never reused), with Monaco's agent inside it driving the compile and run
//! steps (see `bins/monaco-agent`). Tests of scheduling logic use a fake
//! sandbox; tests of limits and isolation always use the Docker driver.
//!
//! This crate must not know about HTTP, queues or the language registry: it
//! receives a [`SandboxJob`] whose commands are already argv arrays.

mod active;
mod docker;
#[cfg(feature = "fake")]
pub mod fake;
mod judged;
mod pool;
mod spec;

pub use active::{ActiveExecution, InputCommand, InputSender};
pub use docker::{locate_agent, DockerConfig, DockerSandbox};
pub use judged::Judged;
pub use pool::PoolConfig;
pub use spec::ContainerSpec;

use std::future::Future;

use monaco_core::protocol::JobStep;
use monaco_core::{ErrorCode, ExecutionId, SourceFile};

/// A job ready to run: image, files, commands and limits all resolved.
///
/// Serialisable (JSON fields in camelCase), so that a broker-backed queue
/// can carry it to a worker on another node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxJob {
    /// The execution this job belongs to (used in labels and logs).
    pub id: ExecutionId,
    /// The language id (used to pick a warm container).
    pub language: String,
    /// The container image holding the toolchain.
    pub image: String,
    /// Files written into the work directory.
    pub files: Vec<SourceFile>,
    /// The compile step, for languages that have one.
    pub compile: Option<JobStep>,
    /// The run step.
    pub run: JobStep,
    /// Run with a terminal on stdin/stdout (see [`monaco_core::protocol::Job::tty`]).
    pub tty: bool,
    /// Bytes given to stdin before anything typed.
    pub stdin: Vec<u8>,
    /// Keep stdin open after `stdin` until [`InputCommand::Close`].
    pub interactive: bool,
    /// Size of the work directory and /tmp, bytes.
    pub tmp_bytes: u64,
    /// Test cases to run instead of the plain run step (see
    /// [`monaco_core::protocol::Job::cases`]).
    pub cases: Option<monaco_core::protocol::JobCases>,
    /// What a plain run's stdout should be.
    pub expected: Option<Vec<u8>>,
    /// How outputs are judged against expected ones (the checker program's
    /// uid is the sandbox's to choose).
    pub checker: Option<monaco_core::protocol::JobChecker>,
    /// A checker program whose toolchain is in another image: it judges the
    /// cases after they ran, in a sandbox of its own ([`Judged`]).
    pub separate_checker: Option<SeparateChecker>,
}

/// A checker program that runs in a sandbox of its own (its language's
/// image), after the program's cases, with the paths of each case's input,
/// expected output and output as arguments.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeparateChecker {
    /// The checker's language id.
    pub language: String,
    /// The image with its toolchain.
    pub image: String,
    /// Its source files.
    pub files: Vec<SourceFile>,
    /// Its compile step, if its language has one.
    pub compile: Option<JobStep>,
    /// Its run step; the three paths are appended per case.
    pub run: JobStep,
    /// Size of its work directory and /tmp, bytes.
    pub tmp_bytes: u64,
}

/// The sandbox could not start a job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The container engine did not answer or refused a request.
    #[error("could not {action}: {source}")]
    Engine {
        /// What Monaco asked the engine to do ("create the container").
        action: &'static str,
        /// The engine's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The agent binary could not be found or prepared.
    #[error("the sandbox agent is unavailable: {0}")]
    Agent(String),
    /// The job is malformed (e.g. a file path escapes the work directory).
    #[error("invalid job: {0}")]
    InvalidJob(String),
}

impl SandboxError {
    /// A stable dotted code for clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            SandboxError::Engine { .. } => ErrorCode::DockerUnavailable,
            SandboxError::Agent(_) => ErrorCode::SandboxAgent,
            SandboxError::InvalidJob(_) => ErrorCode::SandboxInvalidJob,
        }
    }

    /// Wraps an engine error from trying to `action` (for `map_err`).
    pub(crate) fn engine<E>(action: &'static str) -> impl FnOnce(E) -> SandboxError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| SandboxError::Engine {
            action,
            source: Box::new(e),
        }
    }
}

/// Something that can run a [`SandboxJob`] in isolation.
pub trait Sandbox: Send + Sync + 'static {
    /// Starts the job. The returned handle streams its events and ends with
    /// [`monaco_core::ExecutionEvent::Finished`]; dropping the handle stops the
    /// job and releases everything it held.
    fn start(
        &self,
        job: SandboxJob,
    ) -> impl Future<Output = Result<ActiveExecution, SandboxError>> + Send;

    /// Whether the sandbox's backend answers (for health checks).
    fn healthy(&self) -> impl Future<Output = bool> + Send;

    /// Asks the sandbox to have what jobs like `job` need ready ahead of
    /// demand (a warm container). A hint: the default does nothing.
    fn prewarm(&self, job: &SandboxJob) {
        let _ = job;
    }

    /// Containers ready ahead of demand, per language id (for metrics).
    /// The default holds none.
    fn warm_by_language(&self) -> Vec<(String, usize)> {
        Vec::new()
    }

    /// Waits until everything started jobs held is released (containers
    /// removed). The default has nothing to wait for.
    fn settle(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Releases what was prepared ahead of demand and waits until it is
    /// gone (shutdown). The default has nothing to release.
    fn drain(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A shared sandbox is a sandbox: tests keep a handle on the fake they give
/// an executor.
impl<S: Sandbox> Sandbox for std::sync::Arc<S> {
    fn start(
        &self,
        job: SandboxJob,
    ) -> impl Future<Output = Result<ActiveExecution, SandboxError>> + Send {
        S::start(self, job)
    }

    fn healthy(&self) -> impl Future<Output = bool> + Send {
        S::healthy(self)
    }

    fn prewarm(&self, job: &SandboxJob) {
        S::prewarm(self, job);
    }

    fn warm_by_language(&self) -> Vec<(String, usize)> {
        S::warm_by_language(self)
    }

    fn settle(&self) -> impl Future<Output = ()> + Send {
        S::settle(self)
    }

    fn drain(&self) -> impl Future<Output = ()> + Send {
        S::drain(self)
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;
    use monaco_core::StepLimits;

    fn step(argv: &[&str]) -> JobStep {
        JobStep {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin".into())],
            limits: StepLimits {
                wall_ms: 1_000,
                cpu_ms: 900,
                memory_bytes: 1 << 20,
                processes: 8,
                output_bytes: 4096,
                file_size_bytes: 4096,
                open_files: 32,
            },
        }
    }

    /// A job survives the trip through JSON that a broker queue makes.
    #[test]
    fn a_job_round_trips_through_json() {
        let job = SandboxJob {
            id: ExecutionId::new(),
            language: "c".into(),
            image: "monaco/c".into(),
            files: vec![SourceFile {
                name: "main.c".into(),
                content: "int main(){}".into(),
            }],
            compile: Some(step(&["cc", "main.c"])),
            run: step(&["./a.out"]),
            tty: true,
            stdin: b"1 2\n".to_vec(),
            interactive: true,
            tmp_bytes: 1 << 16,
            cases: None,
            expected: Some(b"3\n".to_vec()),
            checker: None,
            separate_checker: Some(SeparateChecker {
                language: "python".into(),
                image: "monaco/python".into(),
                files: vec![],
                compile: None,
                run: step(&["python3", "check.py"]),
                tmp_bytes: 1 << 16,
            }),
        };
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["tmpBytes"], 1 << 16, "fields are camelCase: {json}");
        assert!(json.get("separateChecker").is_some(), "{json}");
        let back: SandboxJob = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.id, job.id);
        assert_eq!(back.run, job.run);
        assert_eq!(back.compile, job.compile);
        assert_eq!(back.stdin, job.stdin);
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
    }

    /// Input and control commands keep their meaning through JSON.
    #[test]
    fn input_commands_round_trip_through_json() {
        for command in [
            InputCommand::Bytes(vec![0, 10, 255]),
            InputCommand::Close,
            InputCommand::Kill,
        ] {
            let text = serde_json::to_string(&command).unwrap();
            let back: InputCommand = serde_json::from_str(&text).unwrap();
            assert_eq!(back, command, "{text}");
        }
        assert_eq!(
            serde_json::to_string(&InputCommand::Kill).unwrap(),
            r#"{"type":"kill"}"#
        );
    }
}
