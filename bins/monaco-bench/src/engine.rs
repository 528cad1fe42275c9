//! The Docker engine, seen from the bench: the engine's own ceiling (an
//! empty container created, started, waited for and removed), the server's
//! containers (to wait until its pool is quiet or full), and the clean-up of
//! anything the bench itself started.
//!
//! Like the sandbox, it talks to the engine through `bollard` and
//! negotiates the API version (Debian's Docker 20.10 speaks 1.41).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::container::{
    Config, CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions, WaitContainerOptions,
};
use bollard::models::HostConfig;
use bollard::Docker;
use futures_util::StreamExt;

/// Label on every container the bench starts itself (its value: the run's
/// instance name), so that the end of the run can remove any left behind.
pub const BENCH_LABEL: &str = "monaco.bench";
/// The server's label naming its instance (`MONACO_INSTANCE`).
const INSTANCE_LABEL: &str = "monaco.instance";
/// How long [`Engine::wait_quiet`] waits at most.
const QUIET_BOUND: Duration = Duration::from_secs(10);
/// How long the containers must stay unchanged to count as quiet.
const QUIET_FOR: Duration = Duration::from_millis(300);

/// A connection to the local engine, for one run.
pub struct Engine {
    docker: Docker,
    /// The run's instance name: the server's `MONACO_INSTANCE`, and the
    /// value of [`BENCH_LABEL`] on the bench's own containers.
    instance: String,
}

/// One of the server's containers, as listed.
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    id: String,
    state: String,
    /// Labelled `monaco.pool=warm`: waiting in the pool, not yet used.
    warm: bool,
}

impl Engine {
    /// Connects to the local engine, negotiating the API version.
    pub async fn connect(instance: &str) -> Result<Engine, String> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| format!("could not connect to Docker: {e}"))?
            .negotiate_version()
            .await
            .map_err(|e| format!("could not negotiate Docker's API version: {e}"))?;
        Ok(Engine {
            docker,
            instance: instance.to_string(),
        })
    }

    /// `20.10.24 (API 1.41)`.
    pub async fn version(&self) -> String {
        match self.docker.version().await {
            Ok(v) => format!(
                "{} (API {})",
                v.version.unwrap_or_default(),
                v.api_version.unwrap_or_default()
            ),
            Err(e) => format!("unknown ({e})"),
        }
    }

    /// Containers running on the engine, anyone's.
    pub async fn running(&self) -> Result<usize, String> {
        self.docker
            .list_containers(None::<ListContainersOptions<String>>)
            .await
            .map(|l| l.len())
            .map_err(|e| format!("could not list containers: {e}"))
    }

    /// Every container with `label` (`key=value`), stopped ones too.
    async fn labelled(&self, label: String) -> Result<Vec<Listed>, String> {
        let options = ListContainersOptions {
            all: true,
            filters: HashMap::from([("label".to_string(), vec![label])]),
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| format!("could not list containers: {e}"))?;
        Ok(list
            .into_iter()
            .map(|c| Listed {
                id: c.id.unwrap_or_default(),
                state: c.state.unwrap_or_default(),
                warm: c
                    .labels
                    .is_some_and(|l| l.get("monaco.pool").is_some_and(|v| v == "warm")),
            })
            .collect())
    }

    /// The server's containers (this run's instance).
    async fn servers_containers(&self) -> Result<Vec<Listed>, String> {
        self.labelled(format!("{INSTANCE_LABEL}={}", self.instance))
            .await
    }

    /// Warm containers of the server that are running.
    pub async fn warm_running(&self) -> Result<usize, String> {
        Ok(self
            .servers_containers()
            .await?
            .iter()
            .filter(|c| c.warm && c.state == "running")
            .count())
    }

    /// Waits (untimed, at most [`QUIET_BOUND`]) until the server's
    /// containers stop changing: the execution containers are gone, every
    /// warm one is running, and the list stays the same for [`QUIET_FOR`].
    /// Measurements start from here, so that one measurement does not pay
    /// for the previous one's background work (the pool's refill, the
    /// removal of a used container). Returns whether it got quiet in time.
    pub async fn wait_quiet(&self) -> bool {
        let deadline = Instant::now() + QUIET_BOUND;
        let mut last: Option<(Vec<Listed>, Instant)> = None;
        while Instant::now() < deadline {
            let Ok(mut now) = self.servers_containers().await else {
                return false;
            };
            now.sort_by(|a, b| a.id.cmp(&b.id));
            let settled = now.iter().all(|c| c.warm && c.state == "running");
            match &last {
                Some((before, since)) if settled && *before == now => {
                    if since.elapsed() >= QUIET_FOR {
                        return true;
                    }
                }
                _ => last = Some((now, Instant::now())),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Waits until the number of warm containers stops growing: the same
    /// for `stable`, at most `bound`. Returns the count.
    pub async fn wait_pool_full(&self, stable: Duration, bound: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + bound;
        let mut count = self.warm_running().await?;
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.warm_running().await?;
            if now != count {
                count = now;
                since = Instant::now();
            } else if count > 0 && since.elapsed() >= stable {
                return Ok(count);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the warm pool did not settle within {bound:?} ({count} warm)"
                ));
            }
        }
    }

    /// One empty container the way `docker run --rm --network none <image>
    /// true` makes it: create, start, wait for its exit, remove. The time
    /// of the whole, or why it failed.
    pub async fn empty_container(&self, image: &str) -> Result<Duration, String> {
        let config = Config {
            image: Some(image.to_string()),
            cmd: Some(vec!["true".to_string()]),
            labels: Some(HashMap::from([(
                BENCH_LABEL.to_string(),
                self.instance.clone(),
            )])),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let started = Instant::now();
        let id = self
            .docker
            .create_container(None::<CreateContainerOptions<String>>, config)
            .await
            .map_err(|e| format!("could not create a container: {e}"))?
            .id;
        let ran = self.start_and_wait(&id).await;
        let removed = self
            .docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| format!("could not remove container {id}: {e}"));
        let elapsed = started.elapsed();
        ran.and(removed).map(|()| elapsed)
    }

    async fn start_and_wait(&self, id: &str) -> Result<(), String> {
        self.docker
            .start_container(id, None::<StartContainerOptions<String>>)
            .await
            .map_err(|e| format!("could not start container {id}: {e}"))?;
        let mut wait = self
            .docker
            .wait_container(id, None::<WaitContainerOptions<String>>);
        match wait.next().await {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(format!("waiting for container {id}: {e}")),
            None => Err(format!("waiting for container {id}: no answer")),
        }
    }

    /// Removes every container the bench started that is still there (a
    /// `docker run` cut short by its timeout) and returns how many; then
    /// says how many of the servers' containers remain (should be none: a
    /// stopped server removes its own).
    pub async fn clean_up(&self) -> Result<(usize, usize), String> {
        let ours = self
            .labelled(format!("{BENCH_LABEL}={}", self.instance))
            .await?;
        for container in &ours {
            let _ = self
                .docker
                .remove_container(
                    &container.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
        let servers = self.servers_containers().await?.len();
        Ok((ours.len(), servers))
    }
}
