//! Where executions are kept: the registry of queued, running and recently
//! finished executions, their event logs, the jobs waiting for a worker,
//! the routing of input and cancels, and the retention that forgets
//! finished executions.
//!
//! [`ExecutionStore`] is the seam. [`MemoryStore`] keeps everything in this
//! process (one node, no broker: the default); a store shared between nodes
//! (`monaco-redis`) implements the same operations, so that the API of one
//! node and the workers of another see one set of executions.
//!
//! The scheduler is the store's only caller, in two roles: the API side
//! (create, status, snapshot, subscribe, send input, cancel) and the worker
//! side (take a job, begin it, feed it its input, append its events, finish
//! it). A worker's changes carry the [`Lease`] that `begin` gave it: a store
//! shared between nodes refuses the changes of a worker whose lease another
//! node has since ended ([`Fenced`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use monaco_core::observe::FinishedExecution;
use monaco_core::{ExecutionEvent, ExecutionId, ExecutionOutcome, Status, Verdict};
use monaco_sandbox::{InputCommand, InputSender, SandboxJob};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info};

use crate::error::{CancelError, InputError, SubmitError};
use crate::execution::{CancelRoute, Execution, InputRoute};
use crate::queue::{JobQueue, PushError};
use crate::retention::Retention;
use crate::{EventSubscription, ExecutionMeta, ExecutionSnapshot};

/// A boxed future, so that a store can be used behind `dyn`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The store could not be reached (a broker is down); nothing was changed
/// that the caller can count on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The execution store is unavailable: {0}")]
pub struct Unavailable(pub String);

/// A worker's change was refused: another node has ended the execution or
/// taken it over since this worker began it. The worker must stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the execution is no longer this worker's")]
pub struct Fenced;

/// A job handed to one of this node's workers, not begun yet.
#[derive(Debug)]
pub struct Taken {
    /// The job.
    pub job: SandboxJob,
    /// Where the store keeps it (a stream entry, say); opaque to the scheduler.
    pub token: String,
}

/// A worker's hold on an execution it began; its appends and its finish
/// carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The execution.
    pub id: ExecutionId,
    /// Which begin this is: a store that hands an execution to another
    /// worker bumps it, and refuses the older holder.
    pub epoch: u64,
    /// Who submitted it (an API key's id), for the logs of its run.
    pub owner: Option<String>,
}

/// How many executions wait and run, as the store counts them (cluster-wide
/// for a shared store).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for a worker.
    pub queued: usize,
    /// Between their `running` and `finished` events.
    pub running: usize,
}

/// A finished execution, as observers are told of it (owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishReport {
    /// The language's registry id.
    pub language: String,
    /// How it ended.
    pub verdict: Verdict,
    /// From submission until a worker took it.
    pub queue: Option<Duration>,
    /// The compile step's wall time.
    pub compile: Option<Duration>,
    /// The run step's wall time (every case's together).
    pub run: Option<Duration>,
    /// From submission until it finished.
    pub total: Duration,
}

impl FinishReport {
    /// The borrowed form observers take.
    pub fn as_finished(&self) -> FinishedExecution<'_> {
        FinishedExecution {
            language: &self.language,
            verdict: self.verdict,
            queue: self.queue,
            compile: self.compile,
            run: self.run,
            total: self.total,
        }
    }

    /// The report of `outcome`, with the phases' times.
    pub fn new(
        language: String,
        outcome: &ExecutionOutcome,
        queue: Option<Duration>,
        total: Duration,
    ) -> Self {
        let ms = Duration::from_millis;
        let run = match (&outcome.run, outcome.tests.is_empty()) {
            (Some(run), _) => Some(ms(run.wall_ms)),
            (None, false) => Some(ms(outcome.tests.iter().map(|c| c.report.wall_ms).sum())),
            (None, true) => None,
        };
        FinishReport {
            language,
            verdict: outcome.verdict,
            queue,
            compile: outcome.compile.as_ref().map(|c| ms(c.wall_ms)),
            run,
            total,
        }
    }
}

/// Follows one execution's event log (see [`EventSubscription`]).
pub trait EventFeed: Send + 'static {
    /// The next event and its index; `None` after `Finished`, or once the
    /// execution is forgotten.
    fn next(&mut self) -> StoreFuture<'_, Option<(usize, ExecutionEvent)>>;
}

/// The executions, their logs and the jobs waiting for a worker.
///
/// Every method is safe to call from many tasks at once. Futures are boxed
/// so that the scheduler holds any store as `Arc<dyn ExecutionStore>`.
pub trait ExecutionStore: Send + Sync + 'static {
    /// Registers every execution as `queued` (its log holding that status
    /// at index 0) and queues its job, all or none: on a duplicate id or
    /// when there is no room for them all, nothing is registered or queued.
    fn create_all(
        &self,
        batch: Vec<(SandboxJob, ExecutionMeta)>,
    ) -> StoreFuture<'_, Result<(), SubmitError>>;

    /// Waits for a job for one of this node's workers; `None` once the
    /// store is closed.
    fn take(&self) -> StoreFuture<'_, Option<Taken>>;

    /// `queued` → `running` for the worker that took it; `None` when it no
    /// longer waits (cancelled meanwhile) or is unknown.
    fn begin(&self, taken: Taken) -> StoreFuture<'_, Option<(Lease, SandboxJob)>>;

    /// Hands the running sandbox the input given for the execution, in
    /// order: what was buffered before it began, then what comes later
    /// (for a shared store, until the execution ends). The scheduler polls
    /// it beside the sandbox's events and drops it when the execution is over.
    fn feed_input(&self, lease: Lease, input: InputSender) -> StoreFuture<'_, ()>;

    /// Appends an event of the sandbox (never `Finished`: see `finish`).
    fn append(&self, lease: &Lease, event: ExecutionEvent) -> StoreFuture<'_, Result<(), Fenced>>;

    /// Records how it ended: the log closes with the final status and
    /// `Finished`, the retention clock starts. `None` if it had already
    /// finished or is no longer this worker's.
    fn finish(
        &self,
        lease: &Lease,
        outcome: ExecutionOutcome,
    ) -> StoreFuture<'_, Option<FinishReport>>;

    /// Cancels it: a queued one finishes `cancelled` at once (its report
    /// returned), a running one is sent a kill and ends when its sandbox
    /// reports it.
    fn cancel(&self, id: ExecutionId)
        -> StoreFuture<'_, Result<Option<FinishReport>, CancelError>>;

    /// Gives the program input: buffered (in order) until it runs, then
    /// forwarded.
    fn send_input(
        &self,
        id: ExecutionId,
        command: InputCommand,
    ) -> StoreFuture<'_, Result<(), InputError>>;

    /// Where it is in its life.
    fn status(&self, id: ExecutionId) -> StoreFuture<'_, Result<Option<Status>, Unavailable>>;

    /// Who submitted it (`Some(None)`: nobody in particular).
    fn owner(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<Option<String>>, Unavailable>>;

    /// Everything known about it now, output included.
    fn snapshot(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<ExecutionSnapshot>, Unavailable>>;

    /// Waits until it has finished and returns everything known about it
    /// then (as [`snapshot`](Self::snapshot) would); `None` when there is
    /// no such execution, or it was forgotten meanwhile. The default
    /// follows the log to `Finished` and then reads the snapshot; a shared
    /// store does it in fewer round trips.
    fn wait_finished(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<ExecutionSnapshot>, Unavailable>> {
        Box::pin(wait_through_log(self, id))
    }

    /// Its log from index `from`: replayed, then followed live.
    fn subscribe(
        &self,
        id: ExecutionId,
        from: usize,
    ) -> StoreFuture<'_, Result<Option<EventSubscription>, Unavailable>>;

    /// How many wait and run.
    fn counts(&self) -> StoreFuture<'_, Result<Counts, Unavailable>>;

    /// Whether the store answers (always, in memory).
    fn healthy(&self) -> StoreFuture<'_, bool>;

    /// Stops handing out jobs: every `take` ends. An in-memory store also
    /// cancels what still waits (nobody else would run it) and returns
    /// their reports; a shared one leaves it for other workers.
    fn close(&self) -> Vec<FinishReport>;

    /// The store's own upkeep (forgetting expired results; for a shared
    /// store, ending executions whose worker was lost); runs until the task
    /// running it is aborted.
    fn maintain(&self) -> StoreFuture<'_, ()>;
}

/// [`ExecutionStore::wait_finished`] by the store's own `subscribe` and
/// `snapshot`: follows the log to `Finished`, then reads the snapshot. The
/// default, and a shared store's way when its faster path fails.
pub async fn wait_through_log<S: ExecutionStore + ?Sized>(
    store: &S,
    id: ExecutionId,
) -> Result<Option<ExecutionSnapshot>, Unavailable> {
    let Some(mut events) = store.subscribe(id, 0).await? else {
        return Ok(None);
    };
    while let Some((_, event)) = events.next().await {
        if matches!(event, ExecutionEvent::Finished(_)) {
            break;
        }
    }
    store.snapshot(id).await
}

/// The executions of one node, in memory, over a [`JobQueue`].
pub struct MemoryStore<Q: JobQueue> {
    queue: Q,
    registry: DashMap<ExecutionId, Arc<Execution>>,
    retention: Mutex<Retention<Arc<Execution>>>,
    /// Wakes the sweeper when an execution finished.
    retention_changed: Notify,
    /// Executions between `begin` and `finish`.
    running: AtomicUsize,
}

impl<Q: JobQueue> MemoryStore<Q> {
    /// Keeps finished executions for `ttl`, at most `max` of them; jobs
    /// wait in `queue`.
    pub fn new(queue: Q, ttl: Duration, max: usize) -> Self {
        MemoryStore {
            queue,
            registry: DashMap::new(),
            retention: Mutex::new(Retention::new(ttl, max)),
            retention_changed: Notify::new(),
            running: AtomicUsize::new(0),
        }
    }

    fn retention(&self) -> MutexGuard<'_, Retention<Arc<Execution>>> {
        self.retention
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, id: ExecutionId) -> Option<Arc<Execution>> {
        self.registry.get(&id).map(|e| Arc::clone(e.value()))
    }

    /// Registers every execution or none: on an id already registered,
    /// the ones registered by this call are forgotten again and that id is
    /// returned.
    fn register_all(&self, executions: &[Arc<Execution>]) -> Result<(), ExecutionId> {
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

    /// Starts the retention clock of a finished execution (every path that
    /// finishes one comes here once); forgets the oldest finished ones
    /// beyond the maximum. Returns its report.
    fn retain(&self, execution: Arc<Execution>) -> Option<FinishReport> {
        let report = execution.report();
        let overflow = self.retention().finished(execution, Instant::now());
        for old in overflow {
            self.forget(&old);
        }
        self.retention_changed.notify_one();
        report
    }

    /// Removes the execution from the registry (if it is still the one
    /// registered under its id) and frees its log.
    fn forget(&self, execution: &Arc<Execution>) {
        self.registry
            .remove_if(&execution.id, |_, e| Arc::ptr_eq(e, execution));
        execution.evict();
        debug!(id = %execution.id, "execution forgotten");
    }

    /// Forgets executions registered for a submission that was refused.
    fn forget_all(&self, executions: &[Arc<Execution>]) {
        for execution in executions {
            self.forget(execution);
        }
    }

    /// Forgets finished executions once their time is up; runs until the
    /// task running it is aborted.
    async fn sweep(&self) {
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

impl<Q: JobQueue> ExecutionStore for MemoryStore<Q> {
    fn create_all(
        &self,
        batch: Vec<(SandboxJob, ExecutionMeta)>,
    ) -> StoreFuture<'_, Result<(), SubmitError>> {
        let mut registered = Vec::with_capacity(batch.len());
        let mut jobs = Vec::with_capacity(batch.len());
        for (job, meta) in batch {
            registered.push(Execution::new(job.id, job.language.clone(), meta));
            jobs.push(job);
        }
        let result = self
            .register_all(&registered)
            .map_err(SubmitError::DuplicateId)
            .and_then(|()| {
                // Registered before they are queued, so that a worker always finds them.
                self.queue.push_all(jobs).map_err(|err| {
                    self.forget_all(&registered);
                    match err {
                        PushError::Full => SubmitError::QueueFull,
                        PushError::Closed => SubmitError::ShuttingDown,
                    }
                })
            });
        Box::pin(std::future::ready(result))
    }

    fn take(&self) -> StoreFuture<'_, Option<Taken>> {
        Box::pin(async move {
            let job = self.queue.pop().await?;
            Some(Taken {
                job,
                token: String::new(),
            })
        })
    }

    fn begin(&self, taken: Taken) -> StoreFuture<'_, Option<(Lease, SandboxJob)>> {
        // Absent when its submission was refused a moment after the push;
        // false when it was cancelled while it waited.
        let begun = self
            .lookup(taken.job.id)
            .filter(|e| e.begin(&self.running))
            .map(|e| {
                let lease = Lease {
                    id: taken.job.id,
                    epoch: 1,
                    owner: e.owner().map(str::to_string),
                };
                (lease, taken.job)
            });
        Box::pin(std::future::ready(begun))
    }

    fn feed_input(&self, lease: Lease, input: InputSender) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if let Some(execution) = self.lookup(lease.id) {
                execution.deliver_pending(input).await;
            }
        })
    }

    fn append(&self, lease: &Lease, event: ExecutionEvent) -> StoreFuture<'_, Result<(), Fenced>> {
        if let Some(execution) = self.lookup(lease.id) {
            execution.append(event);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn finish(
        &self,
        lease: &Lease,
        outcome: ExecutionOutcome,
    ) -> StoreFuture<'_, Option<FinishReport>> {
        let report = self.lookup(lease.id).and_then(|execution| {
            if execution.finish(outcome, &self.running) {
                self.retain(execution)
            } else {
                None
            }
        });
        Box::pin(std::future::ready(report))
    }

    fn cancel(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<FinishReport>, CancelError>> {
        Box::pin(async move {
            let execution = self.lookup(id).ok_or(CancelError::NotFound)?;
            match execution.cancel()? {
                CancelRoute::Dequeued => {
                    self.queue.remove(id);
                    info!(%id, "queued execution cancelled");
                    Ok(self.retain(execution))
                }
                CancelRoute::Buffered => Ok(None),
                CancelRoute::Forward(input) => input
                    .send(InputCommand::Kill)
                    .await
                    .map(|()| None)
                    .map_err(|_| CancelError::Finished),
            }
        })
    }

    fn send_input(
        &self,
        id: ExecutionId,
        command: InputCommand,
    ) -> StoreFuture<'_, Result<(), InputError>> {
        Box::pin(async move {
            let execution = self.lookup(id).ok_or(InputError::NotFound)?;
            match execution.route_input(command)? {
                InputRoute::Buffered => Ok(()),
                InputRoute::Forward(input, command) => {
                    input.send(command).await.map_err(|_| InputError::Finished)
                }
            }
        })
    }

    fn status(&self, id: ExecutionId) -> StoreFuture<'_, Result<Option<Status>, Unavailable>> {
        let status = self.lookup(id).map(|e| e.status());
        Box::pin(std::future::ready(Ok(status)))
    }

    fn owner(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<Option<String>>, Unavailable>> {
        let owner = self.lookup(id).map(|e| e.owner().map(str::to_string));
        Box::pin(std::future::ready(Ok(owner)))
    }

    fn snapshot(
        &self,
        id: ExecutionId,
    ) -> StoreFuture<'_, Result<Option<ExecutionSnapshot>, Unavailable>> {
        let snapshot = self.lookup(id).map(|e| e.snapshot());
        Box::pin(std::future::ready(Ok(snapshot)))
    }

    fn subscribe(
        &self,
        id: ExecutionId,
        from: usize,
    ) -> StoreFuture<'_, Result<Option<EventSubscription>, Unavailable>> {
        let sub = self
            .lookup(id)
            .map(|e| EventSubscription::new(e.subscribe(from)));
        Box::pin(std::future::ready(Ok(sub)))
    }

    fn counts(&self) -> StoreFuture<'_, Result<Counts, Unavailable>> {
        let counts = Counts {
            queued: self.queue.len(),
            running: self.running.load(Ordering::SeqCst),
        };
        Box::pin(std::future::ready(Ok(counts)))
    }

    fn healthy(&self) -> StoreFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }

    fn close(&self) -> Vec<FinishReport> {
        let mut reports = Vec::new();
        for job in self.queue.close() {
            if let Some(execution) = self.lookup(job.id) {
                if let Ok(CancelRoute::Dequeued) = execution.cancel() {
                    reports.extend(self.retain(execution));
                }
            }
        }
        reports
    }

    fn maintain(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.sweep())
    }
}
