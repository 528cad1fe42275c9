//! Removing Monaco's containers: on every path, including the engine being
//! away when a container should go.
//!
//! A [`ContainerGuard`] removes its container when dropped (or when
//! [`ContainerGuard::remove`] is awaited). A removal the engine does not
//! answer is recorded as an orphan and retried by [`retry_orphans`] until the
//! engine is back. [`Remover::reap_strays`] removes what an earlier run of
//! this instance left behind, found by the labels every container carries.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bollard::container::{ListContainersOptions, RemoveContainerOptions};
use bollard::Docker;

use crate::SandboxError;

/// Label on every Docker object Monaco creates.
pub(super) const MANAGED_LABEL: &str = "monaco.managed";
/// Label naming the Monaco instance that owns a container.
pub(super) const INSTANCE_LABEL: &str = "monaco.instance";

/// How often removals that failed are retried (when the engine answers).
const ORPHAN_RETRY: Duration = Duration::from_secs(2);

/// Removes containers, and remembers the ones the engine did not let it.
pub(super) struct Remover {
    docker: Docker,
    /// Ids of containers whose removal failed (the engine was stopped or
    /// restarting). Without a retry they would stay on the engine, stopped,
    /// once it is back: nothing else removes them until the server restarts.
    orphans: Mutex<HashSet<String>>,
}

impl Remover {
    /// A remover for containers of `docker`.
    pub(super) fn new(docker: Docker) -> Arc<Remover> {
        Arc::new(Remover {
            docker,
            orphans: Mutex::default(),
        })
    }

    /// A guard for container `id`, counted in `count` until it is removed.
    pub(super) fn guard(self: &Arc<Self>, id: String, count: &Arc<AtomicUsize>) -> ContainerGuard {
        count.fetch_add(1, Ordering::SeqCst);
        ContainerGuard {
            remover: self.clone(),
            id,
            count: count.clone(),
            removed: false,
        }
    }

    /// Removes every container labelled `monaco.managed=true` and
    /// `monaco.instance=<instance>`. Returns how many it removed.
    pub(super) async fn reap_strays(&self, instance: &str) -> Result<usize, SandboxError> {
        let instance = format!("{INSTANCE_LABEL}={instance}");
        let managed = format!("{MANAGED_LABEL}=true");
        let filters = HashMap::from([("label", vec![managed.as_str(), instance.as_str()])]);
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .map_err(SandboxError::engine("list containers"))?;
        let mut removed = 0;
        for c in list {
            if let Some(id) = c.id {
                if remove(&self.docker, &id).await == Removal::Removed {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// One try at removing the containers whose removal failed, if the
    /// engine answers.
    pub(super) async fn remove_orphans(&self) {
        let ids: Vec<String> = self.orphans().iter().cloned().collect();
        if ids.is_empty() || self.docker.ping().await.is_err() {
            return;
        }
        for id in ids {
            if remove(&self.docker, &id).await != Removal::Failed {
                tracing::info!(container = %id, "removed a container left while the engine was down");
                self.orphans().remove(&id);
            }
        }
    }

    /// Removes a container; if the engine does not answer, records it so
    /// that it is removed once the engine is back.
    async fn remove_or_orphan(&self, id: &str) {
        if remove(&self.docker, id).await == Removal::Failed {
            tracing::warn!(
                container = id,
                "the engine did not answer; removing the container later"
            );
            self.orphans().insert(id.to_string());
        }
    }

    fn orphans(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.orphans.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Retries the removals that failed, once the engine answers again. (Found
/// by the fault tests: with the engine stopped mid-run, the runs' containers
/// and the warm ones could not be removed, and stayed on the engine,
/// stopped, after it restarted, until the server restarted.) Holds the
/// remover only weakly, and ends with it.
pub(super) async fn retry_orphans(remover: Weak<Remover>) {
    loop {
        tokio::time::sleep(ORPHAN_RETRY).await;
        let Some(remover) = remover.upgrade() else {
            return;
        };
        remover.remove_orphans().await;
    }
}

/// Removes the container when dropped, unless removal already happened.
/// A removal the engine did not answer is left to [`retry_orphans`].
pub(super) struct ContainerGuard {
    remover: Arc<Remover>,
    id: String,
    /// The count this container is in (live or warm).
    count: Arc<AtomicUsize>,
    removed: bool,
}

impl ContainerGuard {
    /// The container's id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Removes the container now.
    pub(super) async fn remove(mut self) {
        self.remover.remove_or_orphan(&self.id).await;
        self.removed = true;
        self.count.fetch_sub(1, Ordering::SeqCst);
    }

    /// Moves this container from one count to another (warm → live).
    pub(super) fn hand_over(&mut self, to: &Arc<AtomicUsize>) {
        to.fetch_add(1, Ordering::SeqCst);
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.count = to.clone();
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let remover = self.remover.clone();
        let id = std::mem::take(&mut self.id);
        let count = self.count.clone();
        // Drop cannot await; removal finishes on the runtime. If there is no
        // runtime any more, the next start's reaper removes it.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                remover.remove_or_orphan(&id).await;
                count.fetch_sub(1, Ordering::SeqCst);
            });
        } else {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One in a count for as long as it lives.
pub(super) struct Counted(Arc<AtomicUsize>);

impl Counted {
    /// Adds one to `count` until dropped.
    pub(super) fn new(count: &Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a removal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    Removed,
    /// There was no such container.
    Gone,
    /// The engine did not answer, or refused, every attempt.
    Failed,
}

/// Removes a container (and its anonymous volumes), retrying with backoff
/// while the engine does not answer.
pub(super) async fn remove(docker: &Docker, id: &str) -> Removal {
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
