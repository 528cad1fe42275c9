//! Section 5 (opt-in, `--sections driver`): hello world through the sandbox
//! driver alone, beside the same baselines as the latency section.
//!
//! - **driver**: [`DockerSandbox::start`] up to the `Finished` event, in
//!   this process, with no server, queue or HTTP in between: container
//!   create, attach and start, the agent, writing the file, compile, run,
//!   the measurements. Every hardening option is on, as in production; the
//!   warm pool is off, so every execution pays for a cold container. The
//!   job is built from `languages.toml` as the executor builds it.
//! - **warm pool**: the same with a container ready before the clock
//!   starts, its time outside the steps split by when its events arrive
//!   ([`OutsideSplit`]), and once more with the job interactive (stdin the
//!   agent's terminal instead of a pipe).
//! - **docker-run** and **native**: see [`crate::baseline`].
//!
//! Set beside the latency section's `execute`, it tells what the server
//! adds around the driver (HTTP, the queue, the pool's hand-over) from what
//! the driver itself costs. The modes take turns, one execution each per
//! round; round 0 is a warm-up and is not counted. After each driver
//! execution the bench waits, untimed, until its container is removed
//! (which the driver does after `Finished`), so that a baseline does not
//! pay for that removal.

use std::time::{Duration, Instant};

use monaco_core::{ExecutionEvent, ExecutionId, Limits, SourceFile, StepKind, Stream, Verdict};
use monaco_languages::{Language, Registry};
use monaco_sandbox::{DockerConfig, DockerSandbox, Sandbox, SandboxJob};

use crate::baseline::{self, Baselines, Program};
use crate::exec_baseline::ExecContainer;
use crate::server::REQUEST_TIMEOUT;
use crate::stats::Samples;

/// What one language measured in each mode.
pub struct DriverLatency {
    pub program: Program,
    /// `DockerSandbox::start` to `Finished`.
    pub driver: Samples,
    /// Compile + run wall time the agent measured inside the container.
    pub steps: Samples,
    /// Driver minus steps, per execution: what the driver adds.
    pub outside: Samples,
    /// The same with the run step's limits always set by `docker update`
    /// (`DockerConfig::direct_cgroup_limits` false), in the same rounds:
    /// the driver as it was before it wrote them into the cgroup itself.
    pub engine_limits: Samples,
    /// Its driver minus steps.
    pub engine_limits_outside: Samples,
    /// How the direct driver's run-step limits were set: (straight into
    /// the cgroup, through the engine).
    pub limit_counts: (u64, u64),
    /// The same driver with the warm pool on (one container per language,
    /// ready before the clock starts): the hand-over a server does for a
    /// language in use, without the server.
    pub warm: Samples,
    /// Its driver minus steps.
    pub warm_outside: Samples,
    /// Where the warm driver's time outside the steps went, per execution.
    pub warm_split: SplitSamples,
    /// The warm driver's run step when the job is interactive: stdin is a
    /// terminal (the agent's pty) instead of a pipe, as an editor's runs
    /// are. The one sandbox difference the `docker exec` pair leaves out.
    pub tty_run_step: Samples,
    /// The run step's wall time the (direct) driver's agent measured.
    pub run_step: Samples,
    /// The same argv in the same image with the same limits, timed by bash
    /// inside a running container reached by `docker exec`, in the same
    /// rounds (see [`crate::exec_baseline`]).
    pub exec_run: Samples,
    /// The same by `docker exec` into a container with none of the limits
    /// and hardening options (same image, uid, environment, tmpfs /work).
    pub exec_bare: Samples,
    /// `docker run` and native, in the same rounds.
    pub baselines: Baselines,
}

/// Runs the section for `languages`, `iterations` timed rounds each. The
/// driver's containers carry `instance` as their `monaco.instance`, so
/// that the end of the run finds any left behind.
pub async fn measure(
    instance: &str,
    registry: &Registry,
    languages: &[String],
    iterations: usize,
) -> Result<Vec<DriverLatency>, String> {
    let sandbox = DockerSandbox::connect(config(instance, true))
        .await
        .map_err(|e| format!("could not connect the sandbox driver: {e}"))?;
    let engine_limits = DockerSandbox::connect(config(instance, false))
        .await
        .map_err(|e| format!("could not connect the sandbox driver: {e}"))?;
    let mut warm_config = config(instance, true);
    warm_config.pool.max_per_spec = 1;
    let warm = DockerSandbox::connect(warm_config)
        .await
        .map_err(|e| format!("could not connect the sandbox driver: {e}"))?;
    let mut results = Vec::new();
    for id in languages {
        let language = registry
            .get(id)
            .ok_or(format!("{id} is not in languages.toml"))?;
        eprintln!("driver: {id}, {iterations} rounds after a warm-up…");
        let drivers = [&sandbox, &engine_limits, &warm];
        results.push(measure_language(drivers, language, iterations, instance).await);
    }
    warm.drain_pool().await;
    Ok(results)
}

/// The driver as the server configures it by default, with the pool off;
/// `direct` false: the run step's limits always through `docker update`.
fn config(instance: &str, direct: bool) -> DockerConfig {
    let mut config = DockerConfig {
        direct_cgroup_limits: direct,
        ..DockerConfig::default()
    };
    if let Some(path) = std::env::var_os("MONACO_AGENT") {
        config.agent_path = path.into();
    }
    // Cold containers: the figure is the driver's own cost, not the pool's.
    config.pool.max_per_spec = 0;
    config.instance = instance.to_string();
    config
}

async fn measure_language(
    [sandbox, engine_limits, warm]: [&DockerSandbox; 3],
    language: &Language,
    iterations: usize,
    label: &str,
) -> DriverLatency {
    let program = Program::new(language, language.hello().to_string());
    let before = sandbox.run_limit_counts();
    let mut row = DriverLatency {
        driver: Samples::default(),
        steps: Samples::default(),
        outside: Samples::default(),
        engine_limits: Samples::default(),
        engine_limits_outside: Samples::default(),
        limit_counts: (0, 0),
        run_step: Samples::default(),
        exec_run: Samples::default(),
        warm: Samples::default(),
        warm_outside: Samples::default(),
        warm_split: SplitSamples::default(),
        tty_run_step: Samples::default(),
        exec_bare: Samples::default(),
        baselines: Baselines::new(&program),
        program,
    };
    let job = sandbox_job(language, &row.program);
    let exec_container = |bare| {
        ExecContainer::start(
            &row.program,
            &job.run.limits,
            job.compile.as_ref().map_or(0, |c| c.limits.memory_bytes),
            DockerConfig::default().cpus,
            job.tmp_bytes,
            bare,
            label,
        )
    };
    let exec = exec_container(false).await;
    let bare = exec_container(true).await;
    // The warm driver keeps one container of this language ready, so that
    // its clock starts with one there, as a server's does for a language
    // in use.
    warm.prewarm(&job);
    for round in 0..=iterations {
        let counted = round > 0;
        let driver = driver_once(sandbox, language, &row.program).await;
        sandbox.settle().await;
        let engine = driver_once(engine_limits, language, &row.program).await;
        engine_limits.settle().await;
        let warm_run = match wait_warm(warm).await {
            Ok(()) => driver_once(warm, language, &row.program).await,
            Err(e) => Err(e),
        };
        warm.settle().await;
        let tty_run = match wait_warm(warm).await {
            Ok(()) => driver_once_as(warm, language, &row.program, true).await,
            Err(e) => Err(e),
        };
        warm.settle().await;
        row.baselines
            .measure_round(&row.program, label, counted)
            .await;
        let mut exec_runs = Vec::new();
        for container in [&exec, &bare] {
            exec_runs.push(match container {
                Ok(container) => container.run_once(&row.program).await,
                Err(e) => Err(format!("the docker exec container: {e}")),
            });
        }
        if !counted {
            continue;
        }
        let mut exec_runs = exec_runs.into_iter();
        row.exec_run.record(exec_runs.next().expect("two"));
        row.exec_bare.record(exec_runs.next().expect("two"));
        match driver {
            Ok(d) => {
                row.driver.record(Ok(d.total));
                row.steps.record(Ok(d.steps));
                row.outside.record(Ok(d.total.saturating_sub(d.steps)));
                row.run_step.record(Ok(d.run));
            }
            Err(e) => row.driver.record(Err(e)),
        }
        match warm_run {
            Ok(d) => {
                row.warm.record(Ok(d.total));
                row.warm_outside.record(Ok(d.total.saturating_sub(d.steps)));
                row.warm_split.record(&d.split);
            }
            Err(e) => row.warm.record(Err(e)),
        }
        row.tty_run_step.record(tty_run.map(|d| d.run));
        match engine {
            Ok(d) => {
                row.engine_limits.record(Ok(d.total));
                row.engine_limits_outside
                    .record(Ok(d.total.saturating_sub(d.steps)));
            }
            Err(e) => row.engine_limits.record(Err(e)),
        }
    }
    for container in [&exec, &bare].into_iter().flatten() {
        container.remove().await;
    }
    let after = sandbox.run_limit_counts();
    row.limit_counts = (after.0 - before.0, after.1 - before.1);
    row
}

/// Waits (untimed, at most 30 s) until `sandbox` has a warm container
/// ready for a job.
async fn wait_warm(sandbox: &DockerSandbox) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sandbox.warm_ready() == 0 {
        if Instant::now() >= deadline {
            return Err("no warm container was ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// One execution through the driver, timed from outside and split by when
/// its events arrived.
struct DriverRun {
    /// `DockerSandbox::start` to `Finished`.
    total: Duration,
    /// Compile + run wall time the agent measured (microseconds exact).
    steps: Duration,
    /// The run step's wall time alone.
    run: Duration,
    /// Where the time outside the steps went.
    split: OutsideSplit,
}

/// The time outside the agent's steps, in three parts told apart by when
/// the driver's events arrived (each `StepStarted` is sent by the agent
/// just before it starts the step's process, so each part also holds one
/// hop from the agent to this process).
#[derive(Debug, Clone, Copy, Default)]
pub struct OutsideSplit {
    /// Start to the first step's `StepStarted`: taking (or creating) the
    /// container, the job to the agent, its files written.
    pub before: Duration,
    /// The compile step's end to the run step's `StepStarted`: the compile
    /// step's clean-up, its report, the run step's limits, the go-ahead,
    /// the run step's set-up. Zero without a compile step.
    pub between: Duration,
    /// The run step's end to `Finished`: its clean-up, its report, the
    /// agent's exit and the driver's outcome.
    pub after: Duration,
}

/// [`OutsideSplit`]s of many executions.
#[derive(Default)]
pub struct SplitSamples {
    pub before: Samples,
    pub between: Samples,
    pub after: Samples,
}

impl SplitSamples {
    fn record(&mut self, split: &OutsideSplit) {
        self.before.record(Ok(split.before));
        self.between.record(Ok(split.between));
        self.after.record(Ok(split.after));
    }
}

async fn driver_once(
    sandbox: &DockerSandbox,
    language: &Language,
    program: &Program,
) -> Result<DriverRun, String> {
    driver_once_as(sandbox, language, program, false).await
}

/// [`driver_once`], `interactive` or not (stdin a terminal, or a pipe).
async fn driver_once_as(
    sandbox: &DockerSandbox,
    language: &Language,
    program: &Program,
    interactive: bool,
) -> Result<DriverRun, String> {
    let mut job = sandbox_job(language, program);
    job.interactive = interactive;
    let started = Instant::now();
    let mut step_started: Vec<(StepKind, Duration)> = Vec::new();
    let run = async {
        let execution = sandbox.start(job).await.map_err(|e| e.to_string())?;
        let events = execution
            .collect_observing(|event| {
                if let ExecutionEvent::StepStarted { step } = event {
                    step_started.push((*step, started.elapsed()));
                }
            })
            .await;
        Ok::<_, String>(events)
    };
    let events = tokio::time::timeout(REQUEST_TIMEOUT, run)
        .await
        .map_err(|_| format!("the execution took longer than {REQUEST_TIMEOUT:?}"))??;
    let elapsed = started.elapsed();

    let mut stdout = Vec::new();
    let mut outcome = None;
    for event in events {
        match event {
            ExecutionEvent::Output(chunk)
                if chunk.step == StepKind::Run && chunk.stream == Stream::Stdout =>
            {
                stdout.extend_from_slice(&chunk.data)
            }
            ExecutionEvent::Finished(o) => outcome = Some(o),
            _ => {}
        }
    }
    let outcome = outcome.ok_or("no Finished event")?;
    if outcome.verdict != Verdict::Ok {
        return Err(format!(
            "verdict {:?}: {}",
            outcome.verdict,
            outcome.message.as_deref().unwrap_or("")
        ));
    }
    baseline::check_output(&stdout)?;
    let wall = |report: &monaco_core::StepReport| Duration::from_micros(report.wall_us);
    let compile = outcome.compile.as_ref().map(wall);
    let run = outcome.run.as_ref().map(wall).unwrap_or_default();
    let at = |kind| {
        step_started
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| *t)
    };
    let run_at = at(StepKind::Run).ok_or("no StepStarted for the run step")?;
    let compiled = compile.zip(at(StepKind::Compile));
    let split = OutsideSplit {
        before: compiled.map_or(run_at, |(_, compile_at)| compile_at),
        between: compiled.map_or(Duration::ZERO, |(compile, compile_at)| {
            run_at.saturating_sub(compile_at + compile)
        }),
        after: elapsed.saturating_sub(run_at + run),
    };
    Ok(DriverRun {
        total: elapsed,
        steps: compile.unwrap_or_default() + run,
        run,
        split,
    })
}

/// The job the executor builds for `program`: the language's default
/// limits, the base environment, no input.
fn sandbox_job(language: &Language, program: &Program) -> SandboxJob {
    let limits = Limits::default().with(language.limits());
    let env = monaco_languages::base_env();
    SandboxJob {
        id: ExecutionId::new(),
        language: program.id.clone(),
        image: program.image.clone(),
        files: vec![SourceFile {
            name: program.file.clone(),
            content: program.source.clone(),
        }],
        compile: language.compile_step(&program.file, &limits, &env),
        run: language.run_step(&program.file, &[], &limits, &env),
        tty: language.tty(),
        stdin: Vec::new(),
        interactive: false,
        tmp_bytes: limits.tmp_bytes,
        cases: None,
        expected: None,
        checker: None,
        separate_checker: None,
    }
}
