//! The Docker driver: one fresh, hardened container per job.
//!
//! ```text
//! DockerSandbox::start ──create──attach──start──▶ container (agent = PID 1)
//!   │        (container.rs)                          ▲  │ frames over the
//!   └─ spawns `drive` task ── Job, stdin ────────────┘  │ attached stdio
//!      (session.rs)  │ ◀── step events, output, prompts ┘
//!                    ├─▶ ActiveExecution.events ──▶ caller
//!                    └─▶ on every exit: ContainerGuard (removal.rs) removes it
//! ```
//!
//! - `container`: the container's hardening, the agent's volume, and
//!   create → attach → start.
//! - `session`: the per-execution task that drives the agent; its decisions
//!   are a state machine (`session/machine.rs`) tested without Docker.
//! - `removal`: the guard that removes a container on every path, the retry
//!   of removals the engine did not answer, and the stray reaper.
//!
//! Liveness: the `drive` task owns the container through a `ContainerGuard`.
//! It ends when the agent says `Done`, when the container's stream ends,
//! when the host-side deadline passes, or when the caller drops the event
//! receiver; on every one of those paths, and on a panic, the guard removes
//! the container (if the engine does not answer, e.g. it is restarting, the
//! removal is retried until it does). The agent enforces the limits
//! precisely; the host deadline is only a backstop for an agent that stops
//! answering. Two background tasks hold the sandbox only weakly and end
//! with it: the warm pool's refill task and the orphan retry.

mod container;
mod limits;
mod removal;
mod session;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bollard::Docker;
use monaco_core::observe::SharedObserver;
use tokio::sync::mpsc;

use self::container::{Launcher, Prepared};
use self::limits::RunLimits;
use self::removal::{Counted, Remover};
use crate::pool::{PoolConfig, Refill, WarmPool};
use crate::{ActiveExecution, ContainerSpec, InputSender, Sandbox, SandboxError, SandboxJob};

/// How the Docker driver is set up. Nothing here is read from the
/// environment: the server reads its settings and passes them in.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The static `monaco-agent` binary on this host.
    pub agent_path: PathBuf,
    /// The uid and gid programs run as inside the sandbox.
    pub sandbox_uid: u32,
    /// The uid and gid checker programs run as: not the program's, so the
    /// program can neither write nor signal its checker.
    pub checker_uid: u32,
    /// CPUs each sandbox may use (fractions allowed).
    pub cpus: f64,
    /// This server's instance name (default `default`). Strays are reaped
    /// per instance, so servers sharing an engine under different names
    /// never remove each other's running containers.
    pub instance: String,
    /// The warm pool (off when `max_per_spec` is 0).
    pub pool: PoolConfig,
    /// Told of every warm-pool take (hit or miss) and container start.
    pub observer: SharedObserver,
    /// Whether the run step's limits may be written straight into the
    /// container's cgroup where this process shares the engine's host and
    /// proves the cgroup is the container's (else, and when false, `docker
    /// update`). Default true; see [`DockerSandbox::run_limit_counts`].
    pub direct_cgroup_limits: bool,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            agent_path: locate_agent(),
            sandbox_uid: 65534,
            checker_uid: 65533,
            cpus: 1.0,
            instance: "default".into(),
            pool: PoolConfig::default(),
            observer: monaco_core::observe::no_observer(),
            direct_cgroup_limits: true,
        }
    }
}

/// Finds the agent beside the current executable (or a directory above
/// it), else where `cargo build` for the host target puts it; else the
/// bare name `monaco-agent`.
pub fn locate_agent() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut candidates = Vec::new();
    let mut dir = exe.parent().map(PathBuf::from);
    while let Some(d) = dir {
        candidates.push(d.join("monaco-agent"));
        for profile in ["release", "debug"] {
            candidates.push(
                d.join(std::env::consts::ARCH.to_string() + "-unknown-linux-gnu")
                    .join(profile)
                    .join("monaco-agent"),
            );
        }
        dir = d.parent().map(PathBuf::from);
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("monaco-agent"))
}

/// Runs jobs in Docker containers.
#[derive(Clone)]
pub struct DockerSandbox {
    inner: Arc<Inner>,
}

struct Inner {
    docker: Docker,
    config: DockerConfig,
    launcher: Launcher,
    remover: Arc<Remover>,
    pool: Arc<WarmPool<Prepared>>,
    run_limits: Arc<RunLimits>,
    executions: Arc<Tally>,
}

/// Executions begun and not yet over, and how many have ended: what the
/// warm pool's refill waits on.
#[derive(Default)]
struct Tally {
    running: AtomicUsize,
    ended: AtomicU64,
    /// Told of every end.
    an_end: tokio::sync::Notify,
}

/// One execution in a [`Tally`], from before it takes a container until
/// its session is over.
struct Running(Arc<Tally>);

impl Running {
    fn new(tally: &Arc<Tally>) -> Running {
        tally.running.fetch_add(1, Ordering::SeqCst);
        Running(tally.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Ended first: a refill that reads `running` after this sees the
        // end counted.
        self.0.ended.fetch_add(1, Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.an_end.notify_waiters();
    }
}

impl DockerSandbox {
    /// Connects to the local Docker engine, negotiating the API version.
    pub async fn connect(config: DockerConfig) -> Result<DockerSandbox, SandboxError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(SandboxError::engine("connect to the engine"))?
            .negotiate_version()
            .await
            .map_err(SandboxError::engine("negotiate the API version"))?;
        let agent = tokio::fs::read(&config.agent_path).await.map_err(|e| {
            SandboxError::Agent(format!(
                "cannot read {} (build it with scripts/build-agent.sh): {e}",
                config.agent_path.display()
            ))
        })?;
        let remover = Remover::new(docker.clone());
        let launcher = Launcher::new(
            docker.clone(),
            remover.clone(),
            agent,
            config.instance.clone(),
            config.cpus,
        );
        let sandbox = DockerSandbox {
            inner: Arc::new(Inner {
                run_limits: Arc::new(RunLimits::new(docker.clone(), config.direct_cgroup_limits)),
                docker,
                launcher,
                pool: WarmPool::new(config.pool.clone()),
                remover,
                config,
                executions: Arc::default(),
            }),
        };
        if sandbox.inner.pool.enabled() {
            tokio::spawn(refill(Arc::downgrade(&sandbox.inner)));
        }
        tokio::spawn(removal::retry_orphans(Arc::downgrade(
            &sandbox.inner.remover,
        )));
        Ok(sandbox)
    }

    /// The Docker client, for callers that need the engine directly.
    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    /// Removes every container of this instance (labels `monaco.managed=true`
    /// and `monaco.instance=<name>`): strays from a run of this server that
    /// crashed. Call it before starting any job. Returns how many it removed.
    pub async fn reap_strays(&self) -> Result<usize, SandboxError> {
        self.inner
            .remover
            .reap_strays(&self.inner.config.instance)
            .await
    }

    /// Whether the engine has `image` (a cluster worker runs only the
    /// languages whose images it has).
    pub async fn has_image(&self, image: &str) -> bool {
        self.inner.docker.inspect_image(image).await.is_ok()
    }

    /// How many compiled executions got their run step's limits written
    /// straight into their cgroup, and how many through `docker update`.
    pub fn run_limit_counts(&self) -> (u64, u64) {
        self.inner.run_limits.counts()
    }

    /// Containers given a job that are not removed yet.
    pub fn live_containers(&self) -> usize {
        self.inner.launcher.live.load(Ordering::SeqCst)
    }

    /// Containers waiting in the warm pool, or being started for it.
    pub fn warm_containers(&self) -> usize {
        self.inner.launcher.warm.load(Ordering::SeqCst)
    }

    /// Warm containers whose agent is ready for a job now.
    pub fn warm_ready(&self) -> usize {
        self.inner.pool.ready()
    }

    /// Warm containers ready for a job now, per language id.
    pub fn warm_by_language(&self) -> Vec<(String, usize)> {
        self.inner.pool.ready_by_language()
    }

    /// Waits until every container that was given a job is removed (warm
    /// containers still waiting for one are not counted: see `drain_pool`).
    pub async fn settle(&self) {
        while self.live_containers() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Keeps containers for jobs like `job` warm (while they are in demand).
    pub fn prewarm(&self, job: &SandboxJob) {
        self.inner.pool.register(ContainerSpec::of(job));
    }

    /// Closes the warm pool and waits until its containers are removed;
    /// then tries once more to remove containers whose removal failed
    /// earlier (the engine was down), if the engine answers now.
    pub async fn drain_pool(&self) {
        self.inner.pool.close();
        while self.warm_containers() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.remover.remove_orphans().await;
    }
}

/// Keeps the warm pool filled; see the `pool` module for the policy.
async fn refill(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let pool = strong.pool.clone();
        for action in pool.plan() {
            match action {
                Refill::Start(spec) => {
                    let inner = strong.clone();
                    // Counted from before the create request: a container the
                    // engine creates after a shutdown stopped waiting would be
                    // left behind, created and never started.
                    let counted = Counted::new(&inner.launcher.warm);
                    tokio::spawn(async move {
                        let _counted = counted;
                        let began = std::time::Instant::now();
                        let made = inner.launcher.create_warm(&spec).await;
                        if made.is_ok() {
                            inner
                                .config
                                .observer
                                .container_started(&spec.language, began.elapsed());
                        }
                        if let Err(e) = &made {
                            tracing::warn!(language = %spec.language, error = %e, "could not warm a container");
                        }
                        if let Some(unwanted) = inner.pool.filled(&spec, made.ok()) {
                            unwanted.guard.remove().await;
                        }
                    });
                }
                Refill::Discard(list) => {
                    for p in list {
                        tokio::spawn(p.guard.remove());
                    }
                }
            }
        }
        if pool.is_closed() && pool.size() == 0 {
            return;
        }
        let executions = strong.executions.clone();
        drop(strong);
        pool.wait().await;
        // A container taken is replaced once the executions running when it
        // was taken (the one that took it among them) are over, at most
        // REFILL_DEFER later: starting one means runc, a shim and an agent
        // booting, which on a small machine took CPU from the program the
        // user is waiting for (JavaScript's hello world ran 94 ms with a
        // cold container and 126 ms with a warm one whose replacement
        // started beside it, on two cores; Java's run step, which starts
        // about 300 ms in, 60 ms against 45). Executions that begin later
        // do not hold it back: a client that submits one program after
        // another finds the pool refilled each time.
        if !pool.is_closed() {
            let until = tokio::time::Instant::now() + REFILL_DEFER;
            let ended = executions.ended.load(Ordering::SeqCst);
            let waited_for = executions.running.load(Ordering::SeqCst) as u64;
            loop {
                // Registered before the check, so an end between the two
                // is not missed; no timer ticks while a program runs.
                let an_end = executions.an_end.notified();
                if executions.ended.load(Ordering::SeqCst) - ended >= waited_for {
                    break;
                }
                if tokio::time::timeout_at(until, an_end).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The longest the warm pool waits for the executions running to end
/// before it replaces the containers they took.
const REFILL_DEFER: Duration = Duration::from_millis(1000);

/// Refuses a job whose file names could leave the work directory.
fn check_files(job: &SandboxJob) -> Result<(), SandboxError> {
    for f in &job.files {
        if f.name.is_empty()
            || f.name.starts_with('/')
            || f.name
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty())
        {
            return Err(SandboxError::InvalidJob(format!(
                "file name {:?} is not a plain relative path",
                f.name
            )));
        }
    }
    Ok(())
}

impl Sandbox for DockerSandbox {
    async fn start(&self, job: SandboxJob) -> Result<ActiveExecution, SandboxError> {
        check_files(&job)?;
        let inner = &self.inner;
        let spec = ContainerSpec::of(&job);
        // Counted before the take, which wakes the refill.
        let running = Running::new(&inner.executions);
        let (warm, dead) = inner.pool.take(&spec);
        for d in dead {
            tokio::spawn(d.guard.remove());
        }
        let observer = &inner.config.observer;
        observer.pool_take(&spec.language, warm.is_some());
        let prepared = match warm {
            Some(mut p) => {
                p.guard.hand_over(&inner.launcher.live);
                p
            }
            None => {
                let began = std::time::Instant::now();
                let p = inner.launcher.create_started(&spec, Some(job.id)).await?;
                observer.container_started(&spec.language, began.elapsed());
                p
            }
        };
        let (input_tx, input_rx) = mpsc::channel(64);
        let (input, killed) = InputSender::new(input_tx);
        let (events_tx, events_rx) = mpsc::channel(1024);
        // The session logs under the caller's span (the execution's).
        let session = session::drive(
            inner.run_limits.clone(),
            job,
            prepared,
            input_rx,
            killed,
            events_tx,
            (inner.config.sandbox_uid, inner.config.checker_uid),
        );
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            session.await;
            drop(running);
        }));
        Ok(ActiveExecution {
            input,
            events: events_rx,
        })
    }

    async fn healthy(&self) -> bool {
        self.inner.docker.ping().await.is_ok()
    }

    fn prewarm(&self, job: &SandboxJob) {
        DockerSandbox::prewarm(self, job);
    }

    fn warm_by_language(&self) -> Vec<(String, usize)> {
        DockerSandbox::warm_by_language(self)
    }

    async fn settle(&self) {
        DockerSandbox::settle(self).await;
    }

    async fn drain(&self) {
        self.drain_pool().await;
    }
}
