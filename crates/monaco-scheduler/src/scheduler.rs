//! The scheduler: accepts executions, runs them on a bounded worker pool,
//! and keeps their records until they expire.
//!
//! # Liveness: who owns which task
//!
//! ```text
//! Scheduler (cheap clones) ── last clone dropped: close the store, stop its upkeep
//!   └─ Core (Arc) ── store (registry, logs, queue, retention: `dyn ExecutionStore`)
//!        ├─ worker × N     take a job → begin → run it → record the outcome; exits
//!        │   │              once the store is closed and its current job is over
//!        │   └─ execution task (one per running job; spawned so that a panic
//!        │        is caught and recorded; aborted if its worker is dropped)
//!        │        owns the sandbox's `ActiveExecution`: dropping it on any
//!        │        path stops the job and removes its container
//!        └─ upkeep         the store's own: evicts finished executions whose time
//!                           is up (a shared store also ends lost workers' executions)
//! ```
//!
//! Only a worker records the outcome of an execution it began (or, in a
//! shared store, the store itself once that worker's lease ran out, after
//! which the worker is fenced off), so an execution that started is
//! finished exactly once, and `running()` counts exactly the executions
//! between their `running` and `Finished` events.
//!
//! # How cancellation flows
//!
//! A queued execution is finished as cancelled on the spot and its job taken
//! out of the queue (a worker that popped it a moment earlier sees it
//! finished and skips it). A running one is sent [`InputCommand::Kill`]
//! through the same channel as its stdin; the sandbox ends the job with a
//! `cancelled` outcome, which the worker records like any other. Shutdown is
//! the same two steps for everything: close the queue (cancelling what
//! waits), give the running ones a grace period, then kill them and wait for
//! their outcomes.

use std::any::Any;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use monaco_core::observe::SharedObserver;
use monaco_core::{ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, Status, Verdict};
use monaco_sandbox::{ActiveExecution, InputCommand, Sandbox, SandboxJob};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use crate::error::{CancelError, InputError, SubmitError};
use crate::queue::{JobQueue, MemoryQueue};
use crate::store::{Counts, ExecutionStore, FinishReport, Lease, MemoryStore, Unavailable};
use crate::{EventSubscription, ExecutionMeta, ExecutionSnapshot};

/// How many executions run and wait at once, and how long results are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Executions running at once on this node (`CONCURRENT_EXECUTIONS`);
    /// 0 runs none here (a node that only accepts executions for the
    /// workers of other nodes, over a shared store).
    pub workers: usize,
    /// Executions waiting at once, running ones not counted (`QUEUE_CAPACITY`;
    /// every execution passes through the queue, so 0 refuses them all).
    pub queue_capacity: usize,
    /// How long a finished execution stays readable.
    pub finished_ttl: Duration,
    /// How many finished executions are kept at most (oldest forgotten first).
    pub max_finished: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            workers: 5,
            queue_capacity: 100,
            finished_ttl: Duration::from_secs(60 * 60),
            max_finished: 10_000,
        }
    }
}

/// Runs executions on a bounded worker pool over a [`Sandbox`], and keeps
/// their records and event logs in an [`ExecutionStore`]. Cheap to clone;
/// the last clone dropped stops taking jobs (and, in memory, cancels what
/// still waits).
pub struct Scheduler<S: Sandbox> {
    handle: Arc<Handle<S>>,
}

impl<S: Sandbox> Clone for Scheduler<S> {
    fn clone(&self) -> Self {
        Scheduler {
            handle: Arc::clone(&self.handle),
        }
    }
}

/// Shuts the pool down when the last [`Scheduler`] clone goes away.
struct Handle<S: Sandbox> {
    core: Arc<Core<S>>,
    maintainer: JoinHandle<()>,
}

impl<S: Sandbox> Drop for Handle<S> {
    fn drop(&mut self) {
        // Workers finish their current job, then see the closed store and exit.
        self.core.stop_accepting();
        self.maintainer.abort();
    }
}

/// What the workers, the store's upkeep and the handles share.
struct Core<S> {
    sandbox: Arc<S>,
    store: Arc<dyn ExecutionStore>,
    accepting: AtomicBool,
    /// The executions this node's workers are running.
    running_here: Mutex<HashSet<ExecutionId>>,
    /// Workers that have not exited yet.
    workers_alive: watch::Sender<usize>,
    /// Told of every execution that finishes.
    observer: SharedObserver,
}

impl<S: Sandbox> Scheduler<S> {
    /// Starts `config.workers` workers (at least one) over an in-memory
    /// store whose queue holds `config.queue_capacity`. Must be called
    /// inside a tokio runtime.
    pub fn new(sandbox: Arc<S>, config: SchedulerConfig) -> Self {
        let queue = MemoryQueue::new(config.queue_capacity);
        Scheduler::with_queue(sandbox, config, queue)
    }

    /// Like [`Scheduler::new`] over another queue (whose own capacity
    /// applies instead of `config.queue_capacity`).
    pub fn with_queue(sandbox: Arc<S>, config: SchedulerConfig, queue: impl JobQueue) -> Self {
        Scheduler::observed(sandbox, config, queue, monaco_core::observe::no_observer())
    }

    /// Like [`Scheduler::with_queue`], telling `observer` of every
    /// execution that finishes (its language, verdict and phase durations).
    pub fn observed(
        sandbox: Arc<S>,
        mut config: SchedulerConfig,
        queue: impl JobQueue,
        observer: SharedObserver,
    ) -> Self {
        // In memory, nobody else would run what waits.
        config.workers = config.workers.max(1);
        let store = MemoryStore::new(queue, config.finished_ttl, config.max_finished);
        Scheduler::with_store(sandbox, &config, Arc::new(store), observer)
    }

    /// Starts `config.workers` workers (none: this node only accepts) over
    /// `store`, which keeps the executions and the queue (its own retention
    /// and capacity apply; `config`'s are not used).
    pub fn with_store(
        sandbox: Arc<S>,
        config: &SchedulerConfig,
        store: Arc<dyn ExecutionStore>,
        observer: SharedObserver,
    ) -> Self {
        let workers = config.workers;
        let core = Arc::new(Core {
            sandbox,
            store,
            accepting: AtomicBool::new(true),
            running_here: Mutex::new(HashSet::new()),
            workers_alive: watch::Sender::new(workers),
            observer,
        });
        for _ in 0..workers {
            tokio::spawn(work(Arc::clone(&core)));
        }
        let maintainer = {
            let core = Arc::clone(&core);
            tokio::spawn(async move { core.store.maintain().await })
        };
        Scheduler {
            handle: Arc::new(Handle { core, maintainer }),
        }
    }

    fn core(&self) -> &Core<S> {
        &self.handle.core
    }

    /// Queues `job` without waiting for it to run; its `id` becomes the
    /// execution's id.
    pub async fn submit(
        &self,
        job: SandboxJob,
        meta: ExecutionMeta,
    ) -> Result<ExecutionId, SubmitError> {
        let ids = self.submit_all(vec![(job, meta)]).await?;
        Ok(ids[0])
    }

    /// Queues every job, in order, or none of them: when one is refused
    /// (a duplicate id, no room for them all), nothing of the batch is
    /// queued or registered. Returns the ids in the order given.
    pub async fn submit_all(
        &self,
        batch: Vec<(SandboxJob, ExecutionMeta)>,
    ) -> Result<Vec<ExecutionId>, SubmitError> {
        let core = self.core();
        if !core.accepting.load(Ordering::SeqCst) {
            return Err(SubmitError::ShuttingDown);
        }
        let ids: Vec<ExecutionId> = batch.iter().map(|(job, _)| job.id).collect();
        let owner = batch.first().and_then(|(_, meta)| meta.owner.clone());
        core.store.create_all(batch).await?;
        for id in &ids {
            let _span = tracing::info_span!("execution", %id, key = owner.as_deref()).entered();
            debug!("execution queued");
        }
        Ok(ids)
    }

    /// Where the execution is in its life, without collecting its output.
    pub async fn status(&self, id: ExecutionId) -> Result<Option<Status>, Unavailable> {
        self.core().store.status(id).await
    }

    /// Who submitted the execution (`Some(None)`: nobody in particular);
    /// `None` when there is no such execution.
    pub async fn owner(&self, id: ExecutionId) -> Result<Option<Option<String>>, Unavailable> {
        self.core().store.owner(id).await
    }

    /// Everything known about the execution now, output included.
    pub async fn snapshot(
        &self,
        id: ExecutionId,
    ) -> Result<Option<ExecutionSnapshot>, Unavailable> {
        self.core().store.snapshot(id).await
    }

    /// Waits until the execution has finished and returns its result;
    /// `None` when there is no such execution.
    pub async fn wait(&self, id: ExecutionId) -> Result<Option<ExecutionSnapshot>, Unavailable> {
        self.core().store.wait_finished(id).await
    }

    /// Follows the execution's event log from index `from` (0: everything).
    pub async fn events(
        &self,
        id: ExecutionId,
        from: usize,
    ) -> Result<Option<EventSubscription>, Unavailable> {
        self.core().store.subscribe(id, from).await
    }

    /// Gives the program input: forwarded if it runs, buffered (in order)
    /// if it has not started yet. Waits while the sandbox's input buffer is full.
    pub async fn send_input(
        &self,
        id: ExecutionId,
        command: InputCommand,
    ) -> Result<(), InputError> {
        self.core().store.send_input(id, command).await
    }

    /// Cancels the execution: a queued one ends at once, a running one is
    /// killed and ends when the sandbox reports it.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), CancelError> {
        self.core().cancel(id).await
    }

    /// How many executions wait and run (cluster-wide over a shared store).
    pub async fn counts(&self) -> Result<Counts, Unavailable> {
        self.core().store.counts().await
    }

    /// How many executions wait in the queue (0 when the store is unreachable).
    pub async fn queue_depth(&self) -> usize {
        self.counts().await.map_or(0, |c| c.queued)
    }

    /// How many executions a worker is running (0 when the store is unreachable).
    pub async fn running(&self) -> usize {
        self.counts().await.map_or(0, |c| c.running)
    }

    /// Whether the sandbox's backend answers.
    pub async fn healthy(&self) -> bool {
        self.core().sandbox.healthy().await
    }

    /// Whether the store answers (always, in memory).
    pub async fn store_healthy(&self) -> bool {
        self.core().store.healthy().await
    }

    /// Stops accepting, cancels what waits (in memory), lets running
    /// executions finish within `grace`, then kills the rest; returns once
    /// every worker has recorded its last outcome and exited.
    pub async fn shutdown(&self, grace: Duration) {
        let core = self.core();
        core.stop_accepting();
        let mut alive = core.workers_alive.subscribe();
        let all_exited = |n: &usize| *n == 0;
        if tokio::time::timeout(grace, alive.wait_for(all_exited))
            .await
            .is_ok()
        {
            info!("scheduler shut down");
            return;
        }
        let active: Vec<ExecutionId> = core.running_here().iter().copied().collect();
        info!(
            count = active.len(),
            "grace period over; killing running executions"
        );
        for id in active {
            // `Finished` means it ended on its own meanwhile.
            let _ = core.cancel(id).await;
        }
        // The sender lives in `core`, so this only returns once all exited.
        let _ = alive.wait_for(all_exited).await;
        info!("scheduler shut down");
    }
}

impl<S: Sandbox> Core<S> {
    fn running_here(&self) -> std::sync::MutexGuard<'_, HashSet<ExecutionId>> {
        self.running_here
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn cancel(&self, id: ExecutionId) -> Result<(), CancelError> {
        if let Some(report) = self.store.cancel(id).await? {
            self.report(&report);
        }
        Ok(())
    }

    /// Refuses new executions and stops taking jobs (in memory, cancelling
    /// the waiting ones).
    fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        for report in self.store.close() {
            self.report(&report);
        }
    }

    /// Records the outcome of an execution a worker ran.
    async fn finish(&self, lease: &Lease, mut outcome: ExecutionOutcome) {
        if !outcome.status.is_final() {
            // A sandbox bug; clients poll until the status is final, so make it final.
            warn!(id = %lease.id, status = ?outcome.status, "outcome with a non-final status");
            outcome.status = Status::Failed;
        }
        let (status, verdict) = (outcome.status, outcome.verdict);
        // Why Monaco could not run it, when it could not: the log is where
        // an operator (or a red test) looks first.
        let failure = (verdict == Verdict::InternalError)
            .then(|| (outcome.error_code, outcome.message.clone()));
        let Some(report) = self.store.finish(lease, outcome).await else {
            return;
        };
        match failure {
            Some((code, message)) => warn!(
                id = %lease.id, ?status, ?verdict, ?code, message = message.as_deref().unwrap_or(""),
                "execution finished"
            ),
            None => info!(id = %lease.id, ?status, ?verdict, "execution finished"),
        }
        self.report(&report);
    }

    /// Tells the observer of a finished execution (every path that
    /// finishes one on this node comes here once).
    fn report(&self, report: &FinishReport) {
        self.observer.execution_finished(&report.as_finished());
    }
}

/// A worker: runs one execution at a time until the store closes.
async fn work<S: Sandbox>(core: Arc<Core<S>>) {
    let _alive = WorkerAlive(&core.workers_alive);
    while let Some(taken) = core.store.take().await {
        // `None` when it was cancelled while it waited.
        let Some((lease, job)) = core.store.begin(taken).await else {
            continue;
        };
        core.running_here().insert(lease.id);
        // Every line logged while it runs (the sandbox's included) names it.
        let span = tracing::info_span!("execution", id = %lease.id, key = lease.owner.as_deref());
        async {
            debug!("execution started");
            match run_caught(Arc::clone(&core), lease.clone(), job).await {
                Some(outcome) => core.finish(&lease, outcome).await,
                None => warn!("the execution is no longer this node's: its sandbox was stopped"),
            }
        }
        .instrument(span)
        .await;
        core.running_here().remove(&lease.id);
    }
}

/// Counts a worker out when it exits, even by a panic.
struct WorkerAlive<'a>(&'a watch::Sender<usize>);

impl Drop for WorkerAlive<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Aborts a task when the handle is dropped (the task is not detached).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the execution in its own task, so that a panic becomes an
/// `internal_error` outcome instead of a lost execution and a dead worker.
/// `None` when the store fenced this worker off.
async fn run_caught<S: Sandbox>(
    core: Arc<Core<S>>,
    lease: Lease,
    job: SandboxJob,
) -> Option<ExecutionOutcome> {
    let id = lease.id;
    let mut task = AbortOnDrop(tokio::spawn(run(core, lease, job).in_current_span()));
    match (&mut task.0).await {
        Ok(outcome) => outcome,
        Err(err) if err.is_panic() => {
            let reason = panic_message(err.into_panic());
            warn!(%id, %reason, "execution task panicked");
            Some(ExecutionOutcome::internal(
                ErrorCode::SchedulerPanic,
                format!("The scheduler failed while running the execution: {reason}"),
            ))
        }
        Err(_) => Some(ExecutionOutcome::internal(
            ErrorCode::SchedulerAborted,
            "The execution's task was stopped before it finished",
        )),
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "unknown panic".to_string(), |s| s.to_string()),
    }
}

/// What woke the execution loop.
enum Step {
    /// Input buffered before the start has all been handed to the sandbox.
    Delivered,
    /// The sandbox reported an event, or `None`: its stream ended.
    Event(Option<ExecutionEvent>),
}

/// Starts the job, logs its events, and returns how it ended (`None`:
/// the store fenced this worker off). The `ActiveExecution` is dropped on
/// return, which stops the job and removes its container whatever happened.
async fn run<S: Sandbox>(
    core: Arc<Core<S>>,
    lease: Lease,
    job: SandboxJob,
) -> Option<ExecutionOutcome> {
    let id = lease.id;
    let ActiveExecution { input, mut events } = match core.sandbox.start(job).await {
        Ok(active) => active,
        Err(err) => {
            warn!(%id, code = %err.code(), error = %err, "could not start the execution");
            return Some(ExecutionOutcome::internal(err.code(), err.to_string()));
        }
    };
    // Input is delivered while events are drained, so that neither
    // direction can stall the other on a full channel.
    let deliver = core.store.feed_input(lease.clone(), input);
    tokio::pin!(deliver);
    let mut delivering = true;
    loop {
        let step = tokio::select! {
            () = &mut deliver, if delivering => Step::Delivered,
            event = events.recv() => Step::Event(event),
        };
        match step {
            Step::Delivered => delivering = false,
            Step::Event(Some(ExecutionEvent::Finished(outcome))) => return Some(*outcome),
            Step::Event(Some(event)) => core.store.append(&lease, event).await.ok()?,
            Step::Event(None) => {
                warn!(%id, "the sandbox's event stream ended without an outcome");
                return Some(ExecutionOutcome::internal(
                    ErrorCode::SandboxLost,
                    "The sandbox stopped without reporting how the execution ended",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
