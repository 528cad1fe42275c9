//! Monaco as a library: the facade a Rust service embeds to run code.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use monaco_executor::{ExecutionRequest, Executor};
//! let executor = Executor::builder().languages_file("languages.toml").build().await?;
//! let result = executor
//!     .run(ExecutionRequest {
//!         language: "python".into(),
//!         code: "print('hi')".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! assert_eq!(result.stdout, b"hi\n");
//! # Ok(()) }
//! ```
//!
//! This crate owns turning a client's [`ExecutionRequest`] into a sandbox
//! job: the language lookup, file naming, limit merging and checking against
//! the server's maximums, and the environment a program sees. It delegates
//! queueing and event logs to `monaco-scheduler` and running to
//! `monaco-sandbox`. It must not know about HTTP.

mod builder;
mod error;

pub use builder::{default_max_limits, BuildError, ExecutorBuilder};
pub use error::ExecutorError;
pub use monaco_core::{
    ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, ExecutionRequest, Limits,
    LimitsOverride, OutputChunk, SourceFile, Status, StepKind, StepReport, Stream, Verdict,
};
// The limits table, for layers that list limits (the HTTP schema, say).
pub use monaco_core::{
    LimitField, LimitScope, LimitTooWide, LimitUnit, LimitsError, MIN_MEMORY_BYTES,
};
// What the layers report, for metrics.
pub use monaco_core::observe;
// Test cases and how their outputs are judged.
pub use monaco_core::{CaseReport, Checker, Comparison, TestCase};
pub use monaco_languages::{
    Compat, Language, Registry, MAX_FILE_NAME_BYTES, MAX_FILE_NAME_COMPONENTS,
    MAX_FILE_NAME_COMPONENT_BYTES,
};
pub use monaco_sandbox::{DockerConfig, DockerSandbox, InputCommand, PoolConfig, Sandbox};
/// The seam a store shared between nodes implements ([`ExecutorBuilder::store`]).
pub use monaco_scheduler as scheduler;
pub use monaco_scheduler::{
    CaseOutput, EventSubscription, ExecutionMeta, ExecutionSnapshot, SchedulerConfig,
};

use std::sync::Arc;
use std::time::Duration;

use monaco_core::protocol::{JobCase, JobCases, JobChecker, JobFile};
use monaco_sandbox::{Judged, SandboxJob, SeparateChecker};
use monaco_scheduler::Scheduler;

/// Most program arguments one request may give (`request.args_too_large`).
pub const MAX_ARGS: usize = 4096;
/// Most bytes of program arguments one request may give, each argument
/// counted with the NUL that ends it in `execve`. This is also the kernel's
/// limit for a single argument (`MAX_ARG_STRLEN`), and far below its limit
/// for the whole argument list, so an accepted list always reaches the program.
pub const MAX_ARGS_BYTES: usize = 128 * 1024;

/// The most test cases of one execution unless the operator says otherwise.
pub const DEFAULT_MAX_TESTS: usize = 256;

/// Runs code executions: validates, queues, runs in the sandbox, streams.
/// Cheap to clone.
///
/// Generic over the [`Sandbox`] that runs the jobs: Docker in production
/// ([`ExecutorBuilder::build`]); any other, such as the scripted fake of
/// `monaco-sandbox`'s `fake` feature, with [`ExecutorBuilder::build_with`].
pub struct Executor<S: Sandbox = DockerSandbox> {
    inner: Arc<Inner<S>>,
}

impl<S: Sandbox> Clone for Executor<S> {
    fn clone(&self) -> Self {
        Executor {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<S: Sandbox> {
    registry: Registry,
    /// Runs jobs over the sandbox, checker programs of other images included.
    scheduler: Scheduler<Judged<Arc<S>>>,
    sandbox: Arc<S>,
    default_limits: Limits,
    max_limits: Limits,
    max_code_bytes: usize,
    max_tests: usize,
    base_env: Vec<(String, String)>,
    /// Whether the store is shared with other nodes (a broker).
    shared_store: bool,
}

/// What `health` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Whether the sandbox's backend (the Docker engine) answers.
    pub docker: bool,
    /// Whether the cluster's broker answers; `None` on a single node (no broker).
    pub broker: Option<bool>,
    /// Executions waiting for a worker.
    pub queue_depth: usize,
    /// Executions running now.
    pub running: usize,
}

/// Who submits an execution, for a service with many callers: the owner
/// recorded with it (an API key's id) and that caller's own maximums,
/// lower than the server's. [`Submitter::default`] is nobody in
/// particular, with the server's maximums.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitter {
    /// Recorded as the execution's owner ([`Executor::owner`]).
    pub owner: Option<String>,
    /// Maximums of this caller's limits, each applied only where it is
    /// lower than the server's. A request asking more is refused as the
    /// server's maximum refuses it (`limits.above_maximum`); a default
    /// above one is lowered to it.
    pub max_limits: LimitsOverride,
}

impl Executor {
    /// Starts configuring an executor.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }
}

impl<S: Sandbox> Executor<S> {
    /// Validates and queues an execution; returns at once with its id.
    pub async fn submit(&self, request: ExecutionRequest) -> Result<ExecutionId, ExecutorError> {
        self.submit_as(request, &Submitter::default()).await
    }

    /// [`Executor::submit`] on behalf of `by`: its owner is recorded, its
    /// maximums apply.
    pub async fn submit_as(
        &self,
        request: ExecutionRequest,
        by: &Submitter,
    ) -> Result<ExecutionId, ExecutorError> {
        let (job, meta) = self.prepare(request, by)?;
        Ok(self.inner.scheduler.submit(job, meta).await?)
    }

    /// Who submitted the execution (`Some(None)`: no owner was given);
    /// `None` when there is no such execution.
    pub async fn owner(&self, id: ExecutionId) -> Result<Option<Option<String>>, ExecutorError> {
        Ok(self.inner.scheduler.owner(id).await?)
    }

    /// Submits an execution and waits for its result.
    pub async fn run(&self, request: ExecutionRequest) -> Result<ExecutionSnapshot, ExecutorError> {
        let id = self.submit(request).await?;
        self.wait(id).await
    }

    /// Waits until the execution has finished and returns its result.
    pub async fn wait(&self, id: ExecutionId) -> Result<ExecutionSnapshot, ExecutorError> {
        self.inner
            .scheduler
            .wait(id)
            .await?
            .ok_or(ExecutorError::NotFound)
    }

    /// The execution's events from index `from`: the log so far, then live.
    pub async fn events(
        &self,
        id: ExecutionId,
        from: usize,
    ) -> Result<Option<EventSubscription>, ExecutorError> {
        Ok(self.inner.scheduler.events(id, from).await?)
    }

    /// Everything known about the execution now.
    pub async fn result(
        &self,
        id: ExecutionId,
    ) -> Result<Option<ExecutionSnapshot>, ExecutorError> {
        Ok(self.inner.scheduler.snapshot(id).await?)
    }

    /// The execution's status now.
    pub async fn status(&self, id: ExecutionId) -> Result<Option<Status>, ExecutorError> {
        Ok(self.inner.scheduler.status(id).await?)
    }

    /// Sends bytes to the program's stdin, exactly as given.
    pub async fn send_input(&self, id: ExecutionId, bytes: Vec<u8>) -> Result<(), ExecutorError> {
        Ok(self
            .inner
            .scheduler
            .send_input(id, InputCommand::Bytes(bytes))
            .await?)
    }

    /// Closes the program's stdin (end of file).
    pub async fn close_input(&self, id: ExecutionId) -> Result<(), ExecutorError> {
        Ok(self
            .inner
            .scheduler
            .send_input(id, InputCommand::Close)
            .await?)
    }

    /// Stops a queued or running execution; it ends `cancelled`.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), ExecutorError> {
        Ok(self.inner.scheduler.cancel(id).await?)
    }

    /// The languages this executor runs, in the registry's order.
    pub fn languages(&self) -> &[Language] {
        self.inner.registry.languages()
    }

    /// The language registry, for lookups by another API's names
    /// ([`Registry::piston`], [`Registry::judge0`]).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The limits a request gets when it asks for none (before language
    /// overrides), and the most it may ask for.
    pub fn limits(&self) -> (Limits, Limits) {
        (self.inner.default_limits, self.inner.max_limits)
    }

    /// The sandbox the jobs run in.
    pub fn sandbox(&self) -> &S {
        &self.inner.sandbox
    }

    /// Warm containers ready for a job now, per language id.
    pub fn warm_by_language(&self) -> Vec<(String, usize)> {
        self.inner.sandbox.warm_by_language()
    }

    /// The largest code (main file plus extra files) accepted, bytes.
    pub fn max_code_bytes(&self) -> usize {
        self.inner.max_code_bytes
    }

    /// The most test cases one execution may have.
    pub fn max_tests(&self) -> usize {
        self.inner.max_tests
    }

    /// Whether Docker answers, and how busy the queue is.
    pub async fn health(&self) -> Health {
        let counts = self.inner.scheduler.counts().await;
        let (queue_depth, running) = counts.as_ref().map_or((0, 0), |c| (c.queued, c.running));
        Health {
            docker: self.inner.scheduler.healthy().await,
            broker: self.inner.shared_store.then_some(counts.is_ok()),
            queue_depth,
            running,
        }
    }

    /// Stops accepting, lets running executions finish within `grace`, then
    /// cancels them; returns once every sandbox container is removed.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.scheduler.shutdown(grace).await;
        self.inner.sandbox.settle().await;
        self.inner.sandbox.drain().await;
    }

    /// Asks the warm pool (when on) to keep a container ready for each
    /// language's default limits.
    fn prewarm(&self) {
        for language in self.inner.registry.languages() {
            let hello = ExecutionRequest {
                language: language.id().to_string(),
                code: language.hello().to_string(),
                ..Default::default()
            };
            if let Ok((job, _)) = self.prepare(hello, &Submitter::default()) {
                self.inner.sandbox.prewarm(&job);
            }
        }
    }

    /// Turns a request into a sandbox job, or says what is wrong with it.
    fn prepare(
        &self,
        req: ExecutionRequest,
        by: &Submitter,
    ) -> Result<(SandboxJob, ExecutionMeta), ExecutorError> {
        let inner = &self.inner;
        let language =
            inner
                .registry
                .get(&req.language)
                .ok_or_else(|| ExecutorError::LanguageUnknown {
                    given: req.language.clone(),
                    known: inner.registry.ids().iter().map(|s| s.to_string()).collect(),
                })?;
        if req.code.trim().is_empty() {
            return Err(ExecutorError::CodeMissing);
        }
        let total = req.code.len() + req.files.iter().map(|f| f.content.len()).sum::<usize>();
        if total > inner.max_code_bytes {
            return Err(ExecutorError::CodeTooLarge {
                size: total,
                max: inner.max_code_bytes,
            });
        }
        let main = language.source_file_name(&req.code);
        monaco_languages::validate_files(&main, &req.files).map_err(ExecutorError::InvalidFile)?;
        check_args(&req.args)?;
        let (max, own) = caller_maximums(&inner.max_limits, &by.max_limits);
        let defaults = inner.default_limits.with(language.limits());
        let limits = defaults
            .with(&defaults_within(&defaults, &own, &req.limits))
            .with(&req.limits);
        limits.check_within(&max)?;
        if let Some((field, value)) = limits.below_minimum() {
            return Err(ExecutorError::BelowMinimum {
                field: field.name,
                value,
                min: field.min,
            });
        }

        let cases = self.cases(&req, language, &main, &limits)?;
        let (checker, separate_checker) = self.checker(&req, language)?;

        let mut files = Vec::with_capacity(req.files.len() + 1);
        files.push(SourceFile {
            name: main.clone(),
            content: req.code.clone(),
        });
        files.extend(req.files);
        let id = monaco_core::ExecutionId::new();
        let job = SandboxJob {
            id,
            language: language.id().to_string(),
            image: language.image().to_string(),
            files,
            compile: language.compile_step(&main, &limits, &inner.base_env),
            run: language.run_step(&main, &req.args, &limits, &inner.base_env),
            // Cases have their whole input up front: pipes, exact bytes.
            tty: language.tty() && cases.is_none(),
            stdin: req.stdin.clone(),
            interactive: req.interactive,
            tmp_bytes: limits.tmp_bytes,
            cases,
            expected: req.expected_output.clone(),
            checker,
            separate_checker,
        };
        let meta = ExecutionMeta {
            language: req.language,
            code: req.code,
            input: String::from_utf8_lossy(&req.stdin).into_owned(),
            test_names: req.tests.iter().map(|c| c.name.clone()).collect(),
            owner: by.owner.clone(),
        };
        Ok((job, meta))
    }
}

impl<S: Sandbox> Executor<S> {
    /// The test cases as the sandbox runs them, or why they cannot run.
    fn cases(
        &self,
        req: &ExecutionRequest,
        language: &Language,
        main: &str,
        limits: &Limits,
    ) -> Result<Option<JobCases>, ExecutorError> {
        if req.tests.is_empty() {
            return Ok(None);
        }
        let invalid = |message: String| Err(ExecutorError::InvalidTests(message));
        if req.tests.len() > self.inner.max_tests {
            return invalid(format!(
                "{} test cases; at most {} are accepted",
                req.tests.len(),
                self.inner.max_tests
            ));
        }
        if req.interactive {
            return invalid(
                "an execution with `tests` cannot be interactive: each case has its own input"
                    .into(),
            );
        }
        if !req.stdin.is_empty() || req.expected_output.is_some() {
            return invalid(
                "with `tests`, give each case its `input` and `expectedOutput` instead".into(),
            );
        }
        let mut cases = Vec::with_capacity(req.tests.len());
        for (index, case) in req.tests.iter().enumerate() {
            let args = case.args.as_ref().unwrap_or(&req.args);
            check_args(args)
                .map_err(|e| ExecutorError::InvalidTests(format!("case {index}: {e}")))?;
            let run = language.run_step(main, args, limits, &self.inner.base_env);
            cases.push(JobCase {
                argv: run.argv,
                stdin: case.stdin.clone(),
                expected: case.expected_output.clone(),
            });
        }
        Ok(Some(JobCases {
            cases,
            stop_on_first_failure: req.stop_on_first_failure,
            total_wall_ms: limits.total_wall_ms,
        }))
    }

    /// How outputs are judged: the request's checker (trim by default)
    /// when anything has an expected output. A checker program whose
    /// toolchain shares the program's image runs in the program's sandbox
    /// (as a uid of its own, judging each case as it ends); one whose
    /// language lives in another image judges in a sandbox of its own,
    /// after the cases ([`monaco_sandbox::Judged`]).
    fn checker(
        &self,
        req: &ExecutionRequest,
        program: &Language,
    ) -> Result<(Option<JobChecker>, Option<SeparateChecker>), ExecutorError> {
        let expects =
            req.expected_output.is_some() || req.tests.iter().any(|c| c.expected_output.is_some());
        let checker = req.checker.clone().unwrap_or_default();
        if let Some(why) = checker.invalid() {
            return Err(ExecutorError::InvalidChecker(why));
        }
        if !expects {
            return Ok((None, None));
        }
        if let Some(comparison) = checker.comparison() {
            return Ok((Some(JobChecker::Compare { comparison }), None));
        }
        let Checker::Program { language, code } = checker else {
            unreachable!("every checker but a program is a comparison");
        };
        let inner = &self.inner;
        let lang = inner.registry.get(&language).ok_or_else(|| {
            ExecutorError::InvalidChecker(format!(
                "unknown checker language {language:?}; known languages: {}",
                inner.registry.ids().join(", ")
            ))
        })?;
        // The checker is the grader's: it gets the language's own limits,
        // not the request's.
        let limits = inner.default_limits.with(lang.limits());
        let main = lang.source_file_name(&code);
        let compile = lang.compile_step(&main, &limits, &inner.base_env);
        let run = lang.run_step(&main, &[], &limits, &inner.base_env);
        if lang.image() == program.image() {
            return Ok((
                Some(JobChecker::Program {
                    compile,
                    run,
                    files: vec![JobFile {
                        path: main,
                        content: code,
                    }],
                    // The sandbox sets the checker's own uid.
                    uid: 0,
                }),
                None,
            ));
        }
        if req.expected_output.is_some() {
            return Err(ExecutorError::InvalidChecker(format!(
                "a {} checker cannot judge a plain {} run (their toolchains are in different \
                 images): give the input and expected output as a case in `tests`",
                lang.id(),
                program.id()
            )));
        }
        Ok((
            None,
            Some(SeparateChecker {
                language: lang.id().to_string(),
                image: lang.image().to_string(),
                files: vec![SourceFile {
                    name: main,
                    content: code,
                }],
                compile,
                run,
                tmp_bytes: limits.tmp_bytes,
            }),
        ))
    }

    /// Validates every request, then queues them all, in order, or none:
    /// an invalid request or a queue without room for them all refuses the
    /// whole batch. Returns the ids in the order given.
    pub async fn submit_batch(
        &self,
        requests: Vec<ExecutionRequest>,
    ) -> Result<Vec<ExecutionId>, BatchError> {
        self.submit_batch_as(requests, &Submitter::default()).await
    }

    /// [`Executor::submit_batch`] on behalf of `by` (see [`Executor::submit_as`]).
    pub async fn submit_batch_as(
        &self,
        requests: Vec<ExecutionRequest>,
        by: &Submitter,
    ) -> Result<Vec<ExecutionId>, BatchError> {
        let prepared = requests
            .into_iter()
            .enumerate()
            .map(|(index, request)| {
                self.prepare(request, by)
                    .map_err(|source| BatchError::Invalid { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.inner
            .scheduler
            .submit_all(prepared)
            .await
            .map_err(|e| BatchError::Refused(e.into()))
    }
}

/// Why [`Executor::submit_batch`] refused a batch; nothing of it was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The request at `index` is invalid.
    #[error("Submission {index}: {source}")]
    Invalid {
        /// Where the request is in the batch, from 0.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: ExecutorError,
    },
    /// The requests are valid but cannot all be queued (the queue is full,
    /// the server is shutting down).
    #[error("{0}")]
    Refused(#[source] ExecutorError),
}

/// The maximums of a caller whose own maximums are `own`, each counting
/// only where it is lower than the server's `max`; and those own maximums,
/// so lowered.
fn caller_maximums(max: &Limits, own: &LimitsOverride) -> (Limits, LimitsOverride) {
    let mut lower = LimitsOverride::default();
    for (field, value) in own.fields() {
        // Fits: the value came from a field of the same type.
        let _ = field.set(&mut lower, value.min(field.of(max)));
    }
    (max.with(&lower), lower)
}

/// The defaults lowered to the caller's maximums `own` where they are
/// above them, for the limits the request (`asked`) leaves out: a caller
/// asking nothing runs within its maximums rather than being refused.
fn defaults_within(
    defaults: &Limits,
    own: &LimitsOverride,
    asked: &LimitsOverride,
) -> LimitsOverride {
    let mut lowered = LimitsOverride::default();
    for (field, value) in own.fields() {
        if field.get(asked).is_none() && field.of(defaults) > value {
            let _ = field.set(&mut lowered, value);
        }
    }
    lowered
}

/// Refuses arguments that `execve` would refuse (the program would never
/// start) or that contain NUL (they cannot be passed at all).
fn check_args(args: &[String]) -> Result<(), ExecutorError> {
    if args.iter().any(|a| a.contains('\0')) {
        return Err(ExecutorError::InvalidArgument(
            "program arguments cannot contain NUL bytes".into(),
        ));
    }
    let bytes = args.iter().map(|a| a.len() + 1).sum::<usize>();
    if args.len() > MAX_ARGS || bytes > MAX_ARGS_BYTES {
        return Err(ExecutorError::ArgsTooLarge {
            count: args.len(),
            bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_maximums_only_lower_the_servers() {
        let server = default_max_limits();
        let own = LimitsOverride {
            wall_ms: Some(5_000),
            // Above the server's maximum: the server's stands.
            memory_bytes: Some(server.run.memory_bytes * 2),
            ..Default::default()
        };
        let (max, lower) = caller_maximums(&server, &own);
        assert_eq!(max.run.wall_ms, 5_000);
        assert_eq!(max.run.memory_bytes, server.run.memory_bytes);
        assert_eq!(max.run.cpu_ms, server.run.cpu_ms);
        assert_eq!(lower.wall_ms, Some(5_000));
        // A request asking more than the caller's maximum is refused as
        // the server's maximum refuses it.
        let asked = Limits::default().with(&LimitsOverride {
            wall_ms: Some(6_000),
            ..Default::default()
        });
        assert!(matches!(
            asked.check_within(&max),
            Err(monaco_core::LimitsError::AboveMaximum {
                field: "wall_ms",
                ..
            })
        ));
    }

    #[test]
    fn defaults_above_a_callers_maximum_are_lowered_unless_asked() {
        let defaults = Limits::default();
        let own = LimitsOverride {
            wall_ms: Some(5_000),
            cpu_ms: Some(defaults.run.cpu_ms * 2),
            ..Default::default()
        };
        let lowered = defaults_within(&defaults, &own, &LimitsOverride::default());
        assert_eq!(lowered.wall_ms, Some(5_000));
        // A default already below the maximum stays.
        assert_eq!(lowered.cpu_ms, None);
        let asked = LimitsOverride {
            wall_ms: Some(9_000),
            ..Default::default()
        };
        assert_eq!(defaults_within(&defaults, &own, &asked).wall_ms, None);
    }

    #[test]
    fn args_within_the_limits_pass() {
        assert_eq!(check_args(&[]), Ok(()));
        let one = vec!["x".repeat(MAX_ARGS_BYTES - 1)];
        assert_eq!(check_args(&one), Ok(()));
        let many = vec![String::new(); MAX_ARGS];
        assert_eq!(check_args(&many), Ok(()));
    }

    #[test]
    fn too_many_or_too_large_args_are_refused() {
        let long = vec!["x".repeat(MAX_ARGS_BYTES)];
        assert!(matches!(
            check_args(&long),
            Err(ExecutorError::ArgsTooLarge { count: 1, .. })
        ));
        let many = vec![String::new(); MAX_ARGS + 1];
        assert!(matches!(
            check_args(&many),
            Err(ExecutorError::ArgsTooLarge { .. })
        ));
        let nul = vec!["a\0b".to_string()];
        assert_eq!(
            check_args(&nul).map_err(|e| e.code()),
            Err(monaco_core::ErrorCode::RequestInvalidArgument)
        );
    }
}
