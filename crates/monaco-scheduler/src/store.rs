//! Where executions are kept: the registry of queued, running and recently
//! finished executions, and the retention that forgets finished ones.
//!
//! [`MemoryStore`] is the single-node store (everything in this process).
//! The scheduler reaches the registry only through it, so that a store
//! shared between nodes can take its place behind the same operations.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use monaco_core::{ExecutionId, Status};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

use crate::execution::Execution;
use crate::retention::Retention;

/// The executions of one node, in memory.
pub(crate) struct MemoryStore {
    registry: DashMap<ExecutionId, Arc<Execution>>,
    retention: Mutex<Retention<Arc<Execution>>>,
    /// Wakes the sweeper when an execution finished.
    retention_changed: Notify,
}

impl MemoryStore {
    /// Keeps finished executions for `ttl`, at most `max` of them.
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        MemoryStore {
            registry: DashMap::new(),
            retention: Mutex::new(Retention::new(ttl, max)),
            retention_changed: Notify::new(),
        }
    }

    fn retention(&self) -> MutexGuard<'_, Retention<Arc<Execution>>> {
        self.retention
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers every execution or none: on an id already registered,
    /// the ones registered by this call are forgotten again and that id is
    /// returned.
    pub(crate) fn create_all(&self, executions: &[Arc<Execution>]) -> Result<(), ExecutionId> {
        for (done, execution) in executions.iter().enumerate() {
            // The entry locks its shard; it is dropped before `forget`.
            let clash = match self.registry.entry(execution.id) {
                Entry::Occupied(_) => true,
                Entry::Vacant(slot) => {
                    slot.insert(Arc::clone(execution));
                    false
                }
            };
            if clash {
                self.forget_all(&executions[..done]);
                return Err(execution.id);
            }
        }
        Ok(())
    }

    /// The execution registered under `id`.
    pub(crate) fn lookup(&self, id: ExecutionId) -> Option<Arc<Execution>> {
        self.registry.get(&id).map(|e| Arc::clone(e.value()))
    }

    /// The executions a worker is running now.
    pub(crate) fn running(&self) -> Vec<Arc<Execution>> {
        self.registry
            .iter()
            .map(|entry| Arc::clone(entry.value()))
            .filter(|e| e.status() == Status::Running)
            .collect()
    }

    /// Starts the retention clock of a finished execution; forgets the
    /// oldest finished ones beyond the maximum.
    pub(crate) fn retain(&self, execution: Arc<Execution>) {
        let overflow = self.retention().finished(execution, Instant::now());
        for old in overflow {
            self.forget(&old);
        }
        self.retention_changed.notify_one();
    }

    /// Removes the execution from the registry (if it is still the one
    /// registered under its id) and frees its log.
    pub(crate) fn forget(&self, execution: &Arc<Execution>) {
        self.registry
            .remove_if(&execution.id, |_, e| Arc::ptr_eq(e, execution));
        execution.evict();
        debug!(id = %execution.id, "execution forgotten");
    }

    /// Forgets executions registered for a submission that was refused.
    pub(crate) fn forget_all(&self, executions: &[Arc<Execution>]) {
        for execution in executions {
            self.forget(execution);
        }
    }

    /// Forgets finished executions once their time is up; runs until the
    /// task running it is aborted.
    pub(crate) async fn sweep(&self) {
        loop {
            // `notify_one` leaves a permit when nobody waits, so a finish
            // between the look and the wait is not missed.
            let changed = self.retention_changed.notified();
            let (expired, next) = {
                let mut retention = self.retention();
                (retention.expired(Instant::now()), retention.next_expiry())
            };
            for execution in &expired {
                self.forget(execution);
            }
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}
