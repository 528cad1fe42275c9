//! Creating a sandbox container: its hardening, the agent's volume, and
//! create → attach → start.
//!
//! Every option below is part of the isolation: no network, every
//! capability dropped but the five the agent needs, no new privileges, a
//! read-only root with size-limited tmpfs for `/work` and `/tmp`, memory
//! without swap, a pids limit, a CPU share, no core dumps, no log driver, a
//! private IPC namespace. The agent binary comes from a read-only volume.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use bollard::container::{
    AttachContainerOptions, Config, CreateContainerOptions, LogOutput, StartContainerOptions,
    UploadToContainerOptions,
};
use bollard::models::{HostConfig, HostConfigLogConfig, Mount, MountTypeEnum, ResourcesUlimits};
use bollard::volume::CreateVolumeOptions;
use bollard::Docker;
use futures_util::{FutureExt, StreamExt};
use monaco_core::protocol::{AgentMessage, Frame, FrameDecoder, WORK_DIR};
use monaco_core::ExecutionId;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::removal::{remove, ContainerGuard, Remover, INSTANCE_LABEL, MANAGED_LABEL};
use crate::pool::WarmContainer;
use crate::{ContainerSpec, SandboxError};

/// Where the agent volume is mounted in every sandbox.
const AGENT_DIR: &str = "/.monaco";
/// Threads the agent runs beside the program (counted in the pids limit).
pub(super) const AGENT_THREADS: i64 = 8;
/// How long a warm container's agent may take to say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The container's output: frames from the agent on stdout, its own
/// diagnostics on stderr.
pub(super) type ContainerOutput =
    Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
/// The container's stdin: frames for the agent.
pub(super) type ContainerInput = Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

/// A started container with its agent on the other end of the link.
pub(super) struct Prepared {
    /// Removes the container when it is no longer needed.
    pub(super) guard: ContainerGuard,
    /// What the agent writes.
    pub(super) output: ContainerOutput,
    /// What the agent reads.
    pub(super) input: ContainerInput,
}

impl WarmContainer for Prepared {
    /// The agent is still there: its output stream has neither ended nor
    /// said anything since `ready`.
    fn alive(&mut self) -> bool {
        self.output.next().now_or_never().is_none()
    }
}

/// Creates and starts hardened containers with the agent inside.
pub(super) struct Launcher {
    docker: Docker,
    remover: Arc<Remover>,
    agent: Vec<u8>,
    agent_volume: String,
    volume_ready: OnceCell<()>,
    /// Written into the instance label (see `reap_strays`).
    instance: String,
    cpus: f64,
    /// Containers given a job and not yet removed.
    pub(super) live: Arc<AtomicUsize>,
    /// Containers waiting in (or being started for) the warm pool.
    pub(super) warm: Arc<AtomicUsize>,
}

impl Launcher {
    /// A launcher for containers of `instance`, each with `cpus` CPUs and
    /// the agent binary `agent`.
    pub(super) fn new(
        docker: Docker,
        remover: Arc<Remover>,
        agent: Vec<u8>,
        instance: String,
        cpus: f64,
    ) -> Launcher {
        // One volume per agent build, so a new build is never mixed with
        // an old volume.
        let digest = Sha256::digest(&agent);
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Launcher {
            docker,
            remover,
            agent,
            agent_volume: format!("monaco-agent-{hash}"),
            volume_ready: OnceCell::new(),
            instance,
            cpus,
            live: Arc::new(AtomicUsize::new(0)),
            warm: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Creates, attaches to and starts a container: for `job` (a cold
    /// start), or for the warm pool (`None`).
    pub(super) async fn create_started(
        &self,
        spec: &ContainerSpec,
        job: Option<ExecutionId>,
    ) -> Result<Prepared, SandboxError> {
        self.ensure_agent_volume(&spec.image).await?;
        let docker = &self.docker;
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
            .map_err(SandboxError::engine("create the container"))?;
        let count = match job {
            Some(_) => &self.live,
            None => &self.warm,
        };
        let guard = self.remover.guard(created.id, count);
        let attached = docker
            .attach_container(
                guard.id(),
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
            .map_err(SandboxError::engine("attach to the container"))?;
        docker
            .start_container(guard.id(), None::<StartContainerOptions<String>>)
            .await
            .map_err(SandboxError::engine("start the container"))?;
        Ok(Prepared {
            guard,
            output: attached.output,
            input: attached.input,
        })
    }

    /// A warm container: started, and its agent has said `ready`.
    pub(super) async fn create_warm(&self, spec: &ContainerSpec) -> Result<Prepared, SandboxError> {
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
        match tokio::time::timeout(READY_TIMEOUT, wait_ready).await {
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

    /// Puts the agent binary into a labelled volume, once per agent build.
    /// A volume (not a bind mount of a host path) keeps this working when
    /// the server itself runs in a container next to the engine.
    async fn ensure_agent_volume(&self, image: &str) -> Result<(), SandboxError> {
        self.volume_ready
            .get_or_try_init(|| async {
                let docker = &self.docker;
                let marker = format!("{}-ready", self.agent_volume);
                if docker.inspect_volume(&marker).await.is_ok() {
                    return Ok(());
                }
                let labels = HashMap::from([(MANAGED_LABEL, "true")]);
                docker
                    .create_volume(CreateVolumeOptions {
                        name: self.agent_volume.as_str(),
                        labels,
                        ..Default::default()
                    })
                    .await
                    .map_err(SandboxError::engine("create the agent volume"))?;
                // Fill it through a container that is created, never started.
                let filler = docker
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
                                    source: Some(self.agent_volume.clone()),
                                    typ: Some(MountTypeEnum::VOLUME),
                                    ..Default::default()
                                }]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(SandboxError::engine("create the agent's filler container"))?;
                let tar = agent_tar(&self.agent)
                    .map_err(|e| SandboxError::Agent(format!("cannot pack the agent: {e}")))?;
                let uploaded = docker
                    .upload_to_container(
                        &filler.id,
                        Some(UploadToContainerOptions {
                            path: AGENT_DIR,
                            ..Default::default()
                        }),
                        tar.into(),
                    )
                    .await;
                remove(docker, &filler.id).await;
                uploaded.map_err(SandboxError::engine("copy the agent into its volume"))?;
                // An empty marker volume records that the copy finished, so a
                // crash in the middle of it is retried on the next start.
                docker
                    .create_volume(CreateVolumeOptions {
                        name: marker.as_str(),
                        labels: HashMap::from([(MANAGED_LABEL, "true")]),
                        ..Default::default()
                    })
                    .await
                    .map_err(SandboxError::engine("mark the agent volume ready"))?;
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The hardened container for `spec`.
    fn container_config(&self, spec: &ContainerSpec, job: Option<ExecutionId>) -> Config<String> {
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
            (INSTANCE_LABEL.to_string(), self.instance.clone()),
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
                nano_cpus: Some((self.cpus * 1e9) as i64),
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
                    source: Some(self.agent_volume.clone()),
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

/// The agent binary as a tar archive of one file, `agent`, for the upload.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            language: "python".into(),
            image: "monaco/python".into(),
            memory_bytes: 256 * 1024 * 1024,
            processes: 64,
            tmp_bytes: 64 * 1024 * 1024,
        }
    }

    /// The client connects lazily: building a config needs no engine.
    fn launcher() -> Launcher {
        let docker = Docker::connect_with_local_defaults().expect("a client");
        Launcher::new(
            docker.clone(),
            Remover::new(docker),
            b"agent".to_vec(),
            "test".into(),
            1.5,
        )
    }

    #[test]
    fn every_hardening_option_is_set() {
        let id = ExecutionId::new();
        let config = launcher().container_config(&spec(), Some(id));
        assert_eq!(config.network_disabled, Some(true));
        let host = config.host_config.expect("a host config");
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            host.cap_add,
            Some(
                ["SETUID", "SETGID", "CHOWN", "SYS_PTRACE", "KILL"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.readonly_rootfs, Some(true));
        let tmpfs = host.tmpfs.expect("tmpfs mounts");
        assert_eq!(
            tmpfs[WORK_DIR],
            format!("rw,exec,nosuid,nodev,size={},mode=0755", 64 * 1024 * 1024)
        );
        assert!(tmpfs["/tmp"].ends_with("mode=1777"));
        assert_eq!(host.memory, Some(256 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.pids_limit, Some(64 + AGENT_THREADS));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        let ulimits = host.ulimits.expect("ulimits");
        assert!(ulimits
            .iter()
            .any(|u| u.name.as_deref() == Some("core") && u.hard == Some(0)));
        assert_eq!(host.log_config.and_then(|l| l.typ).as_deref(), Some("none"));
        assert_eq!(host.ipc_mode.as_deref(), Some("private"));
        let mounts = host.mounts.expect("the agent mount");
        assert_eq!(mounts[0].read_only, Some(true));
        let labels = config.labels.expect("labels");
        assert_eq!(labels[MANAGED_LABEL], "true");
        assert_eq!(labels[INSTANCE_LABEL], "test");
        assert_eq!(labels["monaco.execution"], id.to_string());
    }

    #[test]
    fn warm_containers_are_labelled_for_the_pool() {
        let config = launcher().container_config(&spec(), None);
        let labels = config.labels.expect("labels");
        assert_eq!(labels["monaco.pool"], "warm");
        assert!(!labels.contains_key("monaco.execution"));
    }
}
