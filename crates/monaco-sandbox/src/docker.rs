//! The Docker driver: one fresh, hardened container per job.
//!
//! ```text
//! DockerSandbox::start ──create──attach──start──▶ container (agent = PID 1)
//!        │                                            ▲  │ frames over the
//!        └─ spawns `drive` task ── Job, stdin ────────┘  │ attached stdio
//!               │   ◀── step events, output, prompts ────┘
//!               └─▶ ActiveExecution.events ──▶ caller
//! ```
//!
//! Liveness: the `drive` task owns the container through a [`ContainerGuard`].
//! It ends when the agent says `Done`, when the container's stream ends,
//! when the host-side deadline passes, or when the caller drops the event
//! receiver; on every one of those paths, and on a panic, the guard removes
//! the container (if the engine does not answer, e.g. it is restarting, the
//! removal is retried until it does). The agent enforces the limits
//! precisely; the host deadline is only a backstop for an agent that stops
//! answering.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bollard::container::{
    AttachContainerOptions, Config, CreateContainerOptions, ListContainersOptions, LogOutput,
    RemoveContainerOptions, StartContainerOptions, UpdateContainerOptions,
    UploadToContainerOptions,
};
use bollard::models::{HostConfig, HostConfigLogConfig, Mount, MountTypeEnum, ResourcesUlimits};
use bollard::volume::CreateVolumeOptions;
use bollard::Docker;
use futures_util::StreamExt;
use monaco_core::protocol::{
    self, AgentMessage, Frame, FrameDecoder, HostMessage, Job, JobFile, WORK_DIR,
};
use monaco_core::{
    ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, OutputChunk, Status, StepKind,
    StepLimits, StepReport, Stream, Verdict,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch, OnceCell};

use crate::pool::{ContainerSpec, PoolConfig, Refill, WarmPool};
use crate::{ActiveExecution, InputCommand, InputSender, Sandbox, SandboxError, SandboxJob};

/// Label on every Docker object Monaco creates.
pub const MANAGED_LABEL: &str = "monaco.managed";
/// Label naming the Monaco instance that owns a container.
pub const INSTANCE_LABEL: &str = "monaco.instance";
/// Where the agent volume is mounted in every sandbox.
const AGENT_DIR: &str = "/.monaco";
/// Threads the agent runs beside the program (counted in the pids limit).
const AGENT_THREADS: i64 = 8;
/// How much longer than the job's own limits the host waits for the agent.
const HOST_GRACE: Duration = Duration::from_secs(10);
/// Largest stdin frame sent to the agent.
const STDIN_FRAME: usize = 256 * 1024;

/// How the Docker driver is set up.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The static `monaco-agent` binary on this host.
    pub agent_path: PathBuf,
    /// The uid and gid programs run as inside the sandbox.
    pub sandbox_uid: u32,
    /// CPUs each sandbox may use (fractions allowed).
    pub cpus: f64,
    /// This server's instance name (`MONACO_INSTANCE`, default `default`).
    /// Strays are reaped per instance, so servers sharing an engine under
    /// different names never remove each other's running containers.
    pub instance: String,
    /// The warm pool (off unless `max_per_spec` > 0).
    pub pool: PoolConfig,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            agent_path: locate_agent(),
            sandbox_uid: 65534,
            cpus: 1.0,
            instance: std::env::var("MONACO_INSTANCE").unwrap_or_else(|_| "default".into()),
            pool: PoolConfig {
                max_per_spec: 0,
                ..PoolConfig::default()
            },
        }
    }
}

/// Finds the agent: `MONACO_AGENT`, else beside the current executable, else
/// where `cargo build` for the host target puts it.
pub fn locate_agent() -> PathBuf {
    if let Some(p) = std::env::var_os("MONACO_AGENT") {
        return PathBuf::from(p);
    }
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
    agent: Vec<u8>,
    agent_volume: String,
    volume_ready: OnceCell<()>,
    /// Containers given a job and not yet removed.
    live: Arc<AtomicUsize>,
    /// Containers waiting in (or being started for) the warm pool.
    warm: Arc<AtomicUsize>,
    pool: Arc<WarmPool>,
    /// Containers whose removal failed because the engine did not answer.
    orphans: Orphans,
}

/// Ids of containers whose removal failed (the engine was stopped or
/// restarting). Without a retry they would stay on the engine, stopped,
/// once it is back: nothing else removes them until the server restarts.
type Orphans = Arc<std::sync::Mutex<HashSet<String>>>;

/// How often removals that failed are retried (when the engine answers).
const ORPHAN_RETRY: Duration = Duration::from_secs(2);

impl DockerSandbox {
    /// Connects to the local Docker engine, negotiating the API version.
    pub async fn connect(config: DockerConfig) -> Result<DockerSandbox, SandboxError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(engine("connect to the engine"))?
            .negotiate_version()
            .await
            .map_err(engine("negotiate the API version"))?;
        let agent = tokio::fs::read(&config.agent_path).await.map_err(|e| {
            SandboxError::Agent(format!(
                "cannot read {} (build it with scripts/build-agent.sh or set MONACO_AGENT): {e}",
                config.agent_path.display()
            ))
        })?;
        let digest = Sha256::digest(&agent);
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let sandbox = DockerSandbox {
            inner: Arc::new(Inner {
                docker,
                agent,
                agent_volume: format!("monaco-agent-{hash}"),
                volume_ready: OnceCell::new(),
                live: Arc::new(AtomicUsize::new(0)),
                warm: Arc::new(AtomicUsize::new(0)),
                pool: WarmPool::new(config.pool.clone()),
                orphans: Orphans::default(),
                config,
            }),
        };
        if sandbox.inner.pool.enabled() {
            tokio::spawn(refill(Arc::downgrade(&sandbox.inner)));
        }
        tokio::spawn(remove_orphans_later(Arc::downgrade(&sandbox.inner)));
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
        let instance = format!("{INSTANCE_LABEL}={}", self.inner.config.instance);
        let managed = format!("{MANAGED_LABEL}=true");
        let filters = HashMap::from([("label", vec![managed.as_str(), instance.as_str()])]);
        let list = self
            .inner
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .map_err(engine("list containers"))?;
        let mut removed = 0;
        for c in list {
            if let Some(id) = c.id {
                if remove(&self.inner.docker, &id).await == Removal::Removed {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Containers given a job that are not removed yet.
    pub fn live_containers(&self) -> usize {
        self.inner.live.load(Ordering::SeqCst)
    }

    /// Containers waiting in the warm pool, or being started for it.
    pub fn warm_containers(&self) -> usize {
        self.inner.warm.load(Ordering::SeqCst)
    }

    /// Warm containers whose agent is ready for a job now.
    pub fn warm_ready(&self) -> usize {
        self.inner.pool.ready()
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
        self.inner.remove_orphans().await;
    }

    /// Puts the agent binary into a labelled volume, once per agent build.
    /// A volume (not a bind mount of a host path) keeps this working when
    /// the server itself runs in a container next to the engine.
    async fn ensure_agent_volume(&self, image: &str) -> Result<(), SandboxError> {
        let inner = &self.inner;
        inner
            .volume_ready
            .get_or_try_init(|| async {
                let docker = &inner.docker;
                let marker = format!("{}-ready", inner.agent_volume);
                if docker.inspect_volume(&marker).await.is_ok() {
                    return Ok(());
                }
                let labels = HashMap::from([(MANAGED_LABEL, "true")]);
                docker
                    .create_volume(CreateVolumeOptions {
                        name: inner.agent_volume.as_str(),
                        labels,
                        ..Default::default()
                    })
                    .await
                    .map_err(engine("create the agent volume"))?;
                // Fill it through a container that is created, never started.
                let helper = docker
                    .create_container(
                        None::<CreateContainerOptions<String>>,
                        Config {
                            image: Some(image.to_string()),
                            entrypoint: Some(vec!["/.monaco/agent".into()]),
                            labels: Some(HashMap::from([(
                                MANAGED_LABEL.to_string(),
                                "true".to_string(),
                            )])),
                            network_disabled: Some(true),
                            host_config: Some(HostConfig {
                                network_mode: Some("none".into()),
                                mounts: Some(vec![Mount {
                                    target: Some(AGENT_DIR.into()),
                                    source: Some(inner.agent_volume.clone()),
                                    typ: Some(MountTypeEnum::VOLUME),
                                    ..Default::default()
                                }]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(engine("create the agent helper container"))?;
                let tar = agent_tar(&inner.agent)
                    .map_err(|e| SandboxError::Agent(format!("cannot pack the agent: {e}")))?;
                let uploaded = docker
                    .upload_to_container(
                        &helper.id,
                        Some(UploadToContainerOptions {
                            path: AGENT_DIR,
                            ..Default::default()
                        }),
                        tar.into(),
                    )
                    .await;
                remove(docker, &helper.id).await;
                uploaded.map_err(engine("copy the agent into its volume"))?;
                // An empty marker volume records that the copy finished, so a
                // crash in the middle of it is retried on the next start.
                docker
                    .create_volume(CreateVolumeOptions {
                        name: marker.as_str(),
                        labels: HashMap::from([(MANAGED_LABEL, "true")]),
                        ..Default::default()
                    })
                    .await
                    .map_err(engine("mark the agent volume ready"))?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn container_config(&self, spec: &ContainerSpec, job: Option<ExecutionId>) -> Config<String> {
        let cfg = &self.inner.config;
        let memory = spec.memory_bytes as i64;
        let processes = i64::from(spec.processes);
        let tmpfs = |mode: &str| {
            format!(
                "rw,exec,nosuid,nodev,size={},mode={mode}",
                spec.tmp_bytes.max(1024 * 1024)
            )
        };
        let mut labels = HashMap::from([
            (MANAGED_LABEL.to_string(), "true".to_string()),
            (INSTANCE_LABEL.to_string(), cfg.instance.clone()),
            ("monaco.language".to_string(), spec.language.clone()),
        ]);
        match job {
            Some(id) => labels.insert("monaco.execution".to_string(), id.to_string()),
            None => labels.insert("monaco.pool".to_string(), "warm".to_string()),
        };
        Config {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec![format!("{AGENT_DIR}/agent")]),
            cmd: Some(vec![]),
            user: Some("0:0".into()),
            working_dir: Some(WORK_DIR.into()),
            env: Some(vec![]),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(false),
            tty: Some(false),
            network_disabled: Some(true),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                cap_drop: Some(vec!["ALL".into()]),
                // Kept by the agent only: to switch to the sandbox user, hand
                // it the work directory, read its threads' wchan and fdinfo
                // (input prompts), and kill everything when a step ends.
                cap_add: Some(
                    ["SETUID", "SETGID", "CHOWN", "SYS_PTRACE", "KILL"]
                        .map(String::from)
                        .to_vec(),
                ),
                security_opt: Some(vec!["no-new-privileges".into()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([
                    (WORK_DIR.to_string(), tmpfs("0755")),
                    ("/tmp".to_string(), tmpfs("1777")),
                ])),
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(processes + AGENT_THREADS),
                nano_cpus: Some((cfg.cpus * 1e9) as i64),
                ulimits: Some(vec![
                    ResourcesUlimits {
                        name: Some("core".into()),
                        soft: Some(0),
                        hard: Some(0),
                    },
                    ResourcesUlimits {
                        name: Some("nofile".into()),
                        soft: Some(1024),
                        hard: Some(1024),
                    },
                ]),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("none".into()),
                    config: None,
                }),
                ipc_mode: Some("private".into()),
                init: Some(false),
                mounts: Some(vec![Mount {
                    target: Some(AGENT_DIR.into()),
                    source: Some(self.inner.agent_volume.clone()),
                    typ: Some(MountTypeEnum::VOLUME),
                    read_only: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A started container with its agent on the other end of the link.
pub(crate) struct Prepared {
    guard: ContainerGuard,
    output:
        Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

impl Prepared {
    pub(crate) fn output_mut(
        &mut self,
    ) -> &mut Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    > {
        &mut self.output
    }
}

impl ContainerSpec {
    /// The container a job needs.
    pub fn of(job: &SandboxJob) -> ContainerSpec {
        let run = &job.run.limits;
        let compile = job.compile.as_ref().map(|c| c.limits);
        ContainerSpec {
            language: job.language.clone(),
            image: job.image.clone(),
            memory_bytes: compile
                .map_or(run.memory_bytes, |c| c.memory_bytes.max(run.memory_bytes)),
            processes: compile.map_or(run.processes, |c| c.processes.max(run.processes)),
            tmp_bytes: job.tmp_bytes,
        }
    }
}

impl DockerSandbox {
    /// Creates, attaches to and starts a container: for `job` (a cold
    /// start), or for the warm pool (`None`).
    async fn create_started(
        &self,
        spec: &ContainerSpec,
        job: Option<ExecutionId>,
    ) -> Result<Prepared, SandboxError> {
        self.ensure_agent_volume(&spec.image).await?;
        let docker = self.inner.docker.clone();
        let name = match job {
            Some(id) => format!("monaco-{id}"),
            None => format!("monaco-warm-{}", ExecutionId::new()),
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name,
                    platform: None,
                }),
                self.container_config(spec, job),
            )
            .await
            .map_err(engine("create the container"))?;
        let counter = match job {
            Some(_) => &self.inner.live,
            None => &self.inner.warm,
        };
        let guard = ContainerGuard::new(
            docker.clone(),
            created.id,
            counter.clone(),
            self.inner.orphans.clone(),
        );
        let attached = docker
            .attach_container(
                &guard.id,
                Some(AttachContainerOptions::<String> {
                    stdin: Some(true),
                    stdout: Some(true),
                    stderr: Some(true),
                    stream: Some(true),
                    logs: Some(false),
                    detach_keys: None,
                }),
            )
            .await
            .map_err(engine("attach to the container"))?;
        docker
            .start_container(&guard.id, None::<StartContainerOptions<String>>)
            .await
            .map_err(engine("start the container"))?;
        Ok(Prepared {
            guard,
            output: attached.output,
            input: attached.input,
        })
    }

    /// A warm container: started, and its agent has said `ready`.
    async fn create_warm(&self, spec: &ContainerSpec) -> Result<Prepared, SandboxError> {
        let mut p = self.create_started(spec, None).await?;
        let mut decoder = FrameDecoder::new();
        let wait_ready = async {
            while let Some(item) = p.output.next().await {
                if let Ok(LogOutput::StdOut { message }) = item {
                    decoder.push(&message);
                    if let Some(Ok(Frame::Control(json))) = decoder.next_frame() {
                        if let Ok(AgentMessage::Ready { .. }) = serde_json::from_slice(&json) {
                            return true;
                        }
                    }
                }
            }
            false
        };
        match tokio::time::timeout(Duration::from_secs(30), wait_ready).await {
            // The agent says nothing after `ready` until it has a job, so
            // the job's driver starts on a clean link.
            Ok(true) => Ok(p),
            _ => {
                p.guard.remove().await;
                Err(SandboxError::Agent(
                    "a warm container's agent never said ready".into(),
                ))
            }
        }
    }
}

/// One in a count for as long as it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps the warm pool filled; see the `pool` module for the policy.
async fn refill(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let sandbox = DockerSandbox { inner: strong };
        let pool = sandbox.inner.pool.clone();
        for action in pool.plan() {
            match action {
                Refill::Start(spec) => {
                    let sandbox = sandbox.clone();
                    // Counted from before the create request: a container the
                    // engine creates after a shutdown stopped waiting would be
                    // left behind, created and never started.
                    let counted = Counted::new(&sandbox.inner.warm);
                    tokio::spawn(async move {
                        let _counted = counted;
                        let made = sandbox.create_warm(&spec).await;
                        if let Err(e) = &made {
                            tracing::warn!(language = %spec.language, error = %e, "could not warm a container");
                        }
                        if let Some(unwanted) = sandbox.inner.pool.filled(&spec, made.ok()) {
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
        drop(sandbox);
        pool.wait().await;
    }
}

impl Sandbox for DockerSandbox {
    async fn start(&self, job: SandboxJob) -> Result<ActiveExecution, SandboxError> {
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
        let spec = ContainerSpec::of(&job);
        let (warm, dead) = self.inner.pool.take(&spec);
        for d in dead {
            tokio::spawn(d.guard.remove());
        }
        let prepared = match warm {
            Some(mut p) => {
                p.guard.hand_over(&self.inner.live);
                p
            }
            None => self.create_started(&spec, Some(job.id)).await?,
        };
        let (input_tx, input_rx) = mpsc::channel(64);
        let (input, killed) = InputSender::new(input_tx);
        let (events_tx, events_rx) = mpsc::channel(1024);
        tokio::spawn(drive(
            job,
            prepared,
            input_rx,
            killed,
            events_tx,
            self.inner.config.sandbox_uid,
        ));
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

    async fn settle(&self) {
        DockerSandbox::settle(self).await;
    }

    async fn drain(&self) {
        self.drain_pool().await;
    }
}

/// Removes the container when dropped, unless removal already happened.
/// A removal the engine did not answer is left to `remove_orphans_later`.
struct ContainerGuard {
    docker: Docker,
    id: String,
    live: Arc<AtomicUsize>,
    orphans: Orphans,
    removed: bool,
}

impl ContainerGuard {
    fn new(docker: Docker, id: String, live: Arc<AtomicUsize>, orphans: Orphans) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        ContainerGuard {
            docker,
            id,
            live,
            orphans,
            removed: false,
        }
    }

    async fn remove(mut self) {
        remove_or_orphan(&self.docker, &self.id, &self.orphans).await;
        self.removed = true;
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Moves this container from one count to another (warm → live).
    fn hand_over(&mut self, to: &Arc<AtomicUsize>) {
        to.fetch_add(1, Ordering::SeqCst);
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.live = to.clone();
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let docker = self.docker.clone();
        let id = std::mem::take(&mut self.id);
        let live = self.live.clone();
        let orphans = self.orphans.clone();
        // Drop cannot await; removal finishes on the runtime. If there is no
        // runtime any more, the next start's reaper removes it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                remove_or_orphan(&docker, &id, &orphans).await;
                live.fetch_sub(1, Ordering::SeqCst);
            });
        } else {
            live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// How a removal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    Removed,
    /// There was no such container.
    Gone,
    /// The engine did not answer, or refused, every attempt.
    Failed,
}

/// Removes a container; if the engine does not answer, records it so that
/// it is removed once the engine is back.
async fn remove_or_orphan(docker: &Docker, id: &str, orphans: &Orphans) {
    if remove(docker, id).await == Removal::Failed {
        tracing::warn!(
            container = id,
            "the engine did not answer; removing the container later"
        );
        orphans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
    }
}

/// Removes the containers whose removal failed, once the engine answers
/// again. (Found by the fault tests: with the engine stopped mid-run, the
/// runs' containers and the warm ones could not be removed, and stayed on
/// the engine, stopped, after it restarted, until the server restarted.)
/// Holds the sandbox only weakly, and ends with it.
async fn remove_orphans_later(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(ORPHAN_RETRY).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.remove_orphans().await;
    }
}

impl Inner {
    /// One try at removing the containers whose removal failed, if the
    /// engine answers.
    async fn remove_orphans(&self) {
        let ids: Vec<String> = {
            let orphans = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
            orphans.iter().cloned().collect()
        };
        if ids.is_empty() || self.docker.ping().await.is_err() {
            return;
        }
        for id in ids {
            if remove(&self.docker, &id).await != Removal::Failed {
                tracing::info!(container = %id, "removed a container left while the engine was down");
                self.orphans
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
            }
        }
    }
}

async fn remove(docker: &Docker, id: &str) -> Removal {
    for attempt in 0..5 {
        match docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    link: false,
                }),
            )
            .await
        {
            Ok(()) => return Removal::Removed,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Removal::Gone,
            Err(e) => {
                tracing::warn!(container = id, attempt, error = %e, "could not remove container");
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    Removal::Failed
}

fn engine(what: &'static str) -> impl Fn(bollard::errors::Error) -> SandboxError {
    move |e| SandboxError::Engine {
        action: what,
        source: Box::new(e),
    }
}

fn agent_tar(agent: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(agent.len() as u64);
    header.set_mode(0o555);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    builder.append_data(&mut header, "agent", agent)?;
    builder.into_inner()
}

/// What the drive loop reacts to.
enum Event {
    Container(Option<Result<LogOutput, bollard::errors::Error>>),
    Input(Option<InputCommand>),
    Deadline,
    CallerGone,
}

/// Tracks the partial last line of stdout, for input prompts.
#[derive(Default)]
struct PromptTail {
    tail: Vec<u8>,
}

impl PromptTail {
    const MAX: usize = 1024;

    fn push(&mut self, data: &[u8]) {
        match data.iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                self.tail.clear();
                self.tail.extend_from_slice(&data[i + 1..]);
            }
            None => self.tail.extend_from_slice(data),
        }
        if self.tail.len() > Self::MAX {
            self.tail.drain(..self.tail.len() - Self::MAX);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }
}

async fn drive(
    job: SandboxJob,
    prepared: Prepared,
    mut input_rx: mpsc::Receiver<InputCommand>,
    mut killed: watch::Receiver<bool>,
    events: mpsc::Sender<ExecutionEvent>,
    uid: u32,
) {
    let Prepared {
        guard,
        output: mut container_out,
        input: mut container_in,
    } = prepared;
    // The container was created with the larger of both steps' memory and
    // pids limits; the run step gets its own before it starts. (Updating the
    // memory alone let a compiled program's run step have the compile
    // step's pids limit: `processes: 8` allowed 67 processes.)
    let needs_pause = job.compile.as_ref().is_some_and(|c| {
        c.limits.memory_bytes != job.run.limits.memory_bytes
            || c.limits.processes != job.run.limits.processes
    });
    let agent_job = Job {
        files: job
            .files
            .iter()
            .map(|f| JobFile {
                path: f.name.clone(),
                content: f.content.clone(),
            })
            .collect(),
        compile: job.compile.clone(),
        run: job.run.clone(),
        tty: job.tty,
        pause_after_compile: needs_pause,
        uid,
    };
    let opening = protocol::encode_control(&HostMessage::Job(Box::new(agent_job)));
    // Writes to the agent happen in a task of their own: once the agent has
    // exited, a write to its stdin can block until the container is removed,
    // and the loop below must still see `done`, a kill or the deadline. The
    // channel needs no bound: stdin flow control keeps what it holds small.
    let (to_agent, mut to_agent_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(buf) = to_agent_rx.recv().await {
            if container_in.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let _ = to_agent.send(opening);
    let mut stdin = StdinFlow::default();
    stdin.push(InputCommand::Bytes(job.stdin.clone()));
    if !job.interactive {
        stdin.push(InputCommand::Close);
    }

    let budget = Duration::from_millis(
        job.compile.as_ref().map_or(0, |c| c.limits.wall_ms) + job.run.limits.wall_ms,
    ) + HOST_GRACE;
    let deadline = tokio::time::sleep(budget);
    tokio::pin!(deadline);

    let mut decoder = FrameDecoder::new();
    let mut step = StepKind::Run;
    let mut tail = PromptTail::default();
    let mut compile: Option<StepReport> = None;
    let mut run: Option<StepReport> = None;
    let mut failure: Option<(ErrorCode, String)> = None;
    let mut cancelled = false;
    let mut timed_out = false;
    let mut done = false;
    let mut input_open = true;

    'outer: while !done {
        let ready = stdin.ready_frames();
        if !ready.is_empty() {
            let _ = to_agent.send(ready);
        }
        let event = tokio::select! {
            out = container_out.next() => Event::Container(out),
            cmd = input_rx.recv(), if input_open && stdin.wants_more() => Event::Input(cmd),
            _ = killed.changed(), if !cancelled => Event::Input(Some(InputCommand::Kill)),
            _ = &mut deadline => Event::Deadline,
            _ = events.closed() => Event::CallerGone,
        };
        match event {
            Event::Container(Some(Ok(LogOutput::StdOut { message }))) => {
                decoder.push(&message);
                while let Some(frame) = decoder.next_frame() {
                    let sent = match frame {
                        Ok(Frame::Output(stream, data)) => {
                            if stream == Stream::Stdout {
                                tail.push(&data);
                            }
                            events
                                .send(ExecutionEvent::Output(OutputChunk { step, stream, data }))
                                .await
                        }
                        Ok(Frame::Control(json)) => {
                            match serde_json::from_slice::<AgentMessage>(&json) {
                                Ok(AgentMessage::Ready { .. }) => Ok(()),
                                Ok(AgentMessage::StepStarted { step: s }) => {
                                    step = s;
                                    stdin.run_started |= s == StepKind::Run;
                                    tail = PromptTail::default();
                                    events.send(ExecutionEvent::StepStarted { step: s }).await
                                }
                                Ok(AgentMessage::WaitingForInput) => {
                                    events
                                        .send(ExecutionEvent::InputPrompt {
                                            prompt: tail.text(),
                                        })
                                        .await
                                }
                                Ok(AgentMessage::StepFinished { step: s, report }) => {
                                    let go_on = s == StepKind::Compile
                                        && report.verdict == Some(Verdict::Ok)
                                        && needs_pause;
                                    match s {
                                        StepKind::Compile => compile = Some(report),
                                        StepKind::Run => run = Some(report),
                                    }
                                    if go_on {
                                        let limited = set_run_limits(
                                            &guard.docker,
                                            &guard.id,
                                            &job.run.limits,
                                        )
                                        .await;
                                        if let Err(e) = limited {
                                            failure = Some((ErrorCode::DockerUpdate, e));
                                            break 'outer;
                                        }
                                        let _ = to_agent
                                            .send(protocol::encode_control(&HostMessage::Continue));
                                    }
                                    Ok(())
                                }
                                Ok(AgentMessage::StdinWritten { total }) => {
                                    stdin.acked = total;
                                    Ok(())
                                }
                                Ok(AgentMessage::Done) => {
                                    done = true;
                                    Ok(())
                                }
                                Ok(AgentMessage::Failed { message }) => {
                                    failure = Some((ErrorCode::SandboxAgent, message));
                                    Ok(())
                                }
                                Err(e) => {
                                    failure = Some((
                                        ErrorCode::SandboxProtocol,
                                        format!("bad message from the agent: {e}"),
                                    ));
                                    break 'outer;
                                }
                            }
                        }
                        Ok(Frame::Stdin(_)) | Err(_) => {
                            failure = Some((
                                ErrorCode::SandboxProtocol,
                                "corrupt frame from the agent".into(),
                            ));
                            break 'outer;
                        }
                    };
                    if sent.is_err() {
                        // The caller dropped the receiver: stop everything.
                        break 'outer;
                    }
                }
            }
            Event::Container(Some(Ok(LogOutput::StdErr { message }))) => {
                tracing::warn!(execution = %job.id, agent_stderr = %String::from_utf8_lossy(&message));
            }
            Event::Container(Some(Ok(_))) => {}
            Event::Container(Some(Err(e))) => {
                failure = Some((ErrorCode::DockerAttach, format!("lost the container: {e}")));
                break;
            }
            Event::Container(None) => {
                if failure.is_none() && !cancelled {
                    failure = Some((
                        ErrorCode::SandboxLost,
                        "the sandbox stopped before reporting a result".into(),
                    ));
                }
                break;
            }
            Event::Input(None) => input_open = false,
            Event::Input(Some(InputCommand::Kill)) => {
                if !cancelled {
                    cancelled = true;
                    // The agent stops the program and reports; if it cannot
                    // (it is not reading), the container goes with the guard.
                    deadline
                        .as_mut()
                        .reset(tokio::time::Instant::now() + Duration::from_secs(3));
                    let _ = to_agent.send(protocol::encode_control(&HostMessage::Kill));
                }
            }
            Event::Input(Some(cmd)) => {
                // Typed input that ends a line ends the line on the client's
                // screen too (a terminal echoes it), so the next prompt is
                // what follows it: "Age: ", not "Name: Age: " (the program
                // itself never echoes).
                if matches!(&cmd, InputCommand::Bytes(b) if b.contains(&b'\n')) {
                    tail = PromptTail::default();
                }
                stdin.push(cmd);
            }
            Event::Deadline => {
                if !cancelled {
                    timed_out = true;
                }
                break;
            }
            Event::CallerGone => break,
        }
    }
    writer.abort();
    drop(container_out);
    let outcome = outcome(compile, run, failure, cancelled, timed_out);
    // The result first: removing the container takes tens of milliseconds
    // nobody should wait for. It still happens before this task ends, and
    // `settle` waits for it.
    let _ = events
        .send(ExecutionEvent::Finished(Box::new(outcome)))
        .await;
    guard.remove().await;
}

/// Input on its way to the program, with flow control.
///
/// Input is held here until the run step starts (the compile step reads no
/// input), then sent while the agent has less than [`AGENT_STDIN_WINDOW`]
/// bytes not yet written to the program (it reports progress with
/// `stdin_written`). While more than [`HOST_STDIN_BUFFER`] bytes wait here,
/// the driver takes no more input, and whoever sends it waits: a program
/// that never reads its stdin cannot make anyone hold unbounded input, and
/// the sandbox's memory is not charged for it.
#[derive(Default)]
struct StdinFlow {
    pending: VecDeque<InputCommand>,
    pending_bytes: usize,
    sent: u64,
    acked: u64,
    run_started: bool,
}

/// Most stdin bytes given to the agent and not yet written to the program.
const AGENT_STDIN_WINDOW: u64 = 1024 * 1024;
/// Most stdin bytes held by the driver before it stops taking input.
const HOST_STDIN_BUFFER: usize = 1024 * 1024;

impl StdinFlow {
    fn push(&mut self, cmd: InputCommand) {
        match &cmd {
            InputCommand::Bytes(b) if b.is_empty() => return,
            InputCommand::Bytes(b) => self.pending_bytes += b.len(),
            _ => {}
        }
        self.pending.push_back(cmd);
    }

    fn wants_more(&self) -> bool {
        self.pending_bytes < HOST_STDIN_BUFFER
    }

    /// Frames that may go to the agent now, in order.
    fn ready_frames(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.run_started {
            match self.pending.front() {
                Some(InputCommand::Bytes(b)) => {
                    if self.sent - self.acked.min(self.sent) >= AGENT_STDIN_WINDOW {
                        break;
                    }
                    for chunk in b.chunks(STDIN_FRAME) {
                        out.extend(protocol::encode(protocol::TAG_STDIN, chunk));
                    }
                    self.sent += b.len() as u64;
                    self.pending_bytes -= b.len();
                }
                Some(InputCommand::Close) => {
                    out.extend(protocol::encode_control(&HostMessage::CloseStdin));
                }
                // A kill never queues here (see the drive loop).
                Some(InputCommand::Kill) | None => {
                    if self.pending.is_empty() {
                        break;
                    }
                }
            }
            self.pending.pop_front();
        }
        out
    }
}

/// Gives the container the run step's memory and pids limits (it was
/// created with the larger of both steps').
async fn set_run_limits(docker: &Docker, id: &str, limits: &StepLimits) -> Result<(), String> {
    let memory = limits.memory_bytes as i64;
    docker
        .update_container(
            id,
            UpdateContainerOptions::<String> {
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(i64::from(limits.processes) + AGENT_THREADS),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("could not set the run step's limits: {e}"))
}

/// The execution's outcome from what each step reported.
fn outcome(
    compile: Option<StepReport>,
    run: Option<StepReport>,
    failure: Option<(ErrorCode, String)>,
    cancelled: bool,
    timed_out: bool,
) -> ExecutionOutcome {
    if cancelled {
        return ExecutionOutcome {
            compile,
            run,
            ..ExecutionOutcome::cancelled()
        };
    }
    if let Some((code, message)) = failure {
        return ExecutionOutcome {
            compile,
            run,
            ..ExecutionOutcome::internal(code, message)
        };
    }
    let step_verdict = |r: &Option<StepReport>| r.as_ref().and_then(|r| r.verdict);
    let verdict = match (step_verdict(&compile), step_verdict(&run)) {
        (Some(v), _) if v != Verdict::Ok => v,
        (_, Some(v)) => v,
        _ if timed_out => Verdict::TimeLimitExceeded,
        _ => {
            return ExecutionOutcome {
                compile,
                run,
                ..ExecutionOutcome::internal(
                    ErrorCode::SandboxLost,
                    "the sandbox reported no result",
                )
            }
        }
    };
    let status = match verdict {
        Verdict::InternalError | Verdict::Cancelled => Status::Failed,
        _ => Status::Completed,
    };
    ExecutionOutcome {
        status,
        verdict,
        compile,
        run,
        message: None,
        error_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tail_keeps_the_partial_last_line() {
        let mut t = PromptTail::default();
        t.push(b"hello\nName");
        t.push(b": ");
        assert_eq!(t.text(), "Name: ");
        t.push(b"x\n");
        assert_eq!(t.text(), "");
    }

    #[test]
    fn compile_failure_wins_over_missing_run() {
        let c = StepReport {
            verdict: Some(Verdict::CompileError),
            exit_code: Some(1),
            ..Default::default()
        };
        let o = outcome(Some(c), None, None, false, false);
        assert_eq!(o.verdict, Verdict::CompileError);
        assert_eq!(o.status, Status::Completed);
    }

    #[test]
    fn no_report_is_an_internal_error() {
        let o = outcome(None, None, None, false, false);
        assert_eq!(o.verdict, Verdict::InternalError);
        assert_eq!(o.status, Status::Failed);
    }
}
