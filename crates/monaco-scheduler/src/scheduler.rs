//! The scheduler: accepts executions, runs them on a bounded worker pool,
//! and keeps their records until they expire.
//!
//! # Liveness: who owns which task
//!
//! ```text
//! Scheduler (cheap clones) ── last clone dropped: close the queue, stop the sweeper
//!   └─ Core (Arc) ── store (registry, retention), queue
//!        ├─ worker × N     pop a job → run it → record the outcome; exits once
//!        │   │              the queue is closed and its current job is over
//!        │   └─ execution task (one per running job; spawned so that a panic
//!        │        is caught and recorded; aborted if its worker is dropped)
//!        │        owns the sandbox's `ActiveExecution`: dropping it on any
//!        │        path stops the job and removes its container
//!        └─ sweeper        evicts finished executions whose time is up
//! ```
//!
//! Only a worker records the outcome of an execution it took, so an
//! execution that started is finished exactly once, and `running()` counts
//! exactly the executions between their `running` and `Finished` events.
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use monaco_core::observe::SharedObserver;
use monaco_core::{ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, Status};
use monaco_sandbox::{ActiveExecution, InputCommand, Sandbox, SandboxJob};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use crate::error::{CancelError, InputError, SubmitError};
use crate::execution::{CancelRoute, EventSubscription, Execution, InputRoute};
use crate::queue::{JobQueue, MemoryQueue, PushError};
use crate::store::MemoryStore;
use crate::{ExecutionMeta, ExecutionSnapshot};

/// How many executions run and wait at once, and how long results are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Executions running at once (`CONCURRENT_EXECUTIONS`; at least 1).
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
/// their records and event logs. Cheap to clone; the last clone dropped
/// stops accepting and cancels what still waits.
pub struct Scheduler<S: Sandbox, Q: JobQueue = MemoryQueue> {
    handle: Arc<Handle<S, Q>>,
}

impl<S: Sandbox, Q: JobQueue> Clone for Scheduler<S, Q> {
    fn clone(&self) -> Self {
        Scheduler {
            handle: Arc::clone(&self.handle),
        }
    }
}

/// Shuts the pool down when the last [`Scheduler`] clone goes away.
struct Handle<S: Sandbox, Q: JobQueue> {
    core: Arc<Core<S, Q>>,
    sweeper: JoinHandle<()>,
}

impl<S: Sandbox, Q: JobQueue> Drop for Handle<S, Q> {
    fn drop(&mut self) {
        // Workers finish their current job, then see the closed queue and exit.
        self.core.stop_accepting();
        self.sweeper.abort();
    }
}

/// What the workers, the sweeper and the handles share.
struct Core<S, Q> {
    sandbox: Arc<S>,
    queue: Q,
    store: MemoryStore,
    running: AtomicUsize,
    accepting: AtomicBool,
    /// Workers that have not exited yet.
    workers_alive: watch::Sender<usize>,
    /// Told of every execution that finishes.
    observer: SharedObserver,
}

impl<S: Sandbox> Scheduler<S> {
    /// Starts `config.workers` workers over an in-memory queue of
    /// `config.queue_capacity`. Must be called inside a tokio runtime.
    pub fn new(sandbox: Arc<S>, config: SchedulerConfig) -> Self {
        let queue = MemoryQueue::new(config.queue_capacity);
        Scheduler::with_queue(sandbox, config, queue)
    }
}

impl<S: Sandbox, Q: JobQueue> Scheduler<S, Q> {
    /// Like [`Scheduler::new`] over another queue (whose own capacity
    /// applies instead of `config.queue_capacity`).
    pub fn with_queue(sandbox: Arc<S>, config: SchedulerConfig, queue: Q) -> Self {
        Scheduler::observed(sandbox, config, queue, monaco_core::observe::no_observer())
    }

    /// Like [`Scheduler::with_queue`], telling `observer` of every
    /// execution that finishes (its language, verdict and phase durations).
    pub fn observed(
        sandbox: Arc<S>,
        config: SchedulerConfig,
        queue: Q,
        observer: SharedObserver,
    ) -> Self {
        let workers = config.workers.max(1);
        let core = Arc::new(Core {
            sandbox,
            queue,
            store: MemoryStore::new(config.finished_ttl, config.max_finished),
            running: AtomicUsize::new(0),
            accepting: AtomicBool::new(true),
            workers_alive: watch::Sender::new(workers),
            observer,
        });
        for _ in 0..workers {
            tokio::spawn(work(Arc::clone(&core)));
        }
        let sweeper = {
            let core = Arc::clone(&core);
            tokio::spawn(async move { core.store.sweep().await })
        };
        Scheduler {
            handle: Arc::new(Handle { core, sweeper }),
        }
    }

    fn core(&self) -> &Core<S, Q> {
        &self.handle.core
    }

    /// Queues `job` without waiting; its `id` becomes the execution's id.
    pub fn submit(&self, job: SandboxJob, meta: ExecutionMeta) -> Result<ExecutionId, SubmitError> {
        let ids = self.submit_all(vec![(job, meta)])?;
        Ok(ids[0])
    }

    /// Queues every job, in order, or none of them: when one is refused
    /// (a duplicate id, no room for them all), nothing of the batch is
    /// queued or registered. Returns the ids in the order given.
    pub fn submit_all(
        &self,
        batch: Vec<(SandboxJob, ExecutionMeta)>,
    ) -> Result<Vec<ExecutionId>, SubmitError> {
        let core = self.core();
        if !core.accepting.load(Ordering::SeqCst) {
            return Err(SubmitError::ShuttingDown);
        }
        let mut registered = Vec::with_capacity(batch.len());
        let mut jobs = Vec::with_capacity(batch.len());
        for (job, meta) in batch {
            registered.push(Execution::new(job.id, job.language.clone(), meta));
            jobs.push(job);
        }
        core.store
            .create_all(&registered)
            .map_err(SubmitError::DuplicateId)?;
        // Registered before they are queued, so that a worker always finds them.
        if let Err(err) = core.queue.push_all(jobs) {
            core.store.forget_all(&registered);
            return Err(match err {
                PushError::Full => SubmitError::QueueFull,
                PushError::Closed => SubmitError::ShuttingDown,
            });
        }
        for execution in &registered {
            let _span = execution_span(execution).entered();
            debug!("execution queued");
        }
        Ok(registered.iter().map(|e| e.id).collect())
    }

    /// Where the execution is in its life, without collecting its output.
    pub fn status(&self, id: ExecutionId) -> Option<Status> {
        self.core().lookup(id).map(|e| e.status())
    }

    /// Who submitted the execution (`Some(None)`: nobody in particular);
    /// `None` when there is no such execution.
    pub fn owner(&self, id: ExecutionId) -> Option<Option<String>> {
        self.core()
            .lookup(id)
            .map(|e| e.owner().map(str::to_string))
    }

    /// Everything known about the execution now, output included.
    pub fn snapshot(&self, id: ExecutionId) -> Option<ExecutionSnapshot> {
        self.core().lookup(id).map(|e| e.snapshot())
    }

    /// Follows the execution's event log from index `from` (0: everything).
    pub fn events(&self, id: ExecutionId, from: usize) -> Option<EventSubscription> {
        self.core().lookup(id).map(|e| e.subscribe(from))
    }

    /// Gives the program input: forwarded if it runs, buffered (in order)
    /// if it has not started yet. Waits while the sandbox's input buffer is full.
    pub async fn send_input(
        &self,
        id: ExecutionId,
        command: InputCommand,
    ) -> Result<(), InputError> {
        let execution = self.core().lookup(id).ok_or(InputError::NotFound)?;
        match execution.route_input(command)? {
            InputRoute::Buffered => Ok(()),
            InputRoute::Forward(input, command) => {
                input.send(command).await.map_err(|_| InputError::Finished)
            }
        }
    }

    /// Cancels the execution: a queued one ends at once, a running one is
    /// killed and ends when the sandbox reports it.
    pub async fn cancel(&self, id: ExecutionId) -> Result<(), CancelError> {
        let execution = self.core().lookup(id).ok_or(CancelError::NotFound)?;
        self.core().cancel(&execution).await
    }

    /// How many executions wait in the queue.
    pub fn queue_depth(&self) -> usize {
        self.core().queue.len()
    }

    /// How many executions a worker is running.
    pub fn running(&self) -> usize {
        self.core().running.load(Ordering::SeqCst)
    }

    /// Whether the sandbox's backend answers.
    pub async fn healthy(&self) -> bool {
        self.core().sandbox.healthy().await
    }

    /// Stops accepting, cancels what waits, lets running executions finish
    /// within `grace`, then kills the rest; returns once every worker has
    /// recorded its last outcome and exited.
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
        let active = core.store.running();
        info!(
            count = active.len(),
            "grace period over; killing running executions"
        );
        for execution in &active {
            // `Finished` means it ended on its own meanwhile.
            let _ = core.cancel(execution).await;
        }
        // The sender lives in `core`, so this only returns once all exited.
        let _ = alive.wait_for(all_exited).await;
        info!("scheduler shut down");
    }
}

impl<S: Sandbox, Q: JobQueue> Core<S, Q> {
    fn lookup(&self, id: ExecutionId) -> Option<Arc<Execution>> {
        self.store.lookup(id)
    }

    async fn cancel(&self, execution: &Arc<Execution>) -> Result<(), CancelError> {
        match execution.cancel()? {
            CancelRoute::Dequeued => {
                self.queue.remove(execution.id);
                self.retain(Arc::clone(execution));
                info!(id = %execution.id, "queued execution cancelled");
            }
            CancelRoute::Buffered => {}
            CancelRoute::Forward(input) => input
                .send(InputCommand::Kill)
                .await
                .map_err(|_| CancelError::Finished)?,
        }
        Ok(())
    }

    /// Refuses new executions and cancels the waiting ones.
    fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        for job in self.queue.close() {
            if let Some(execution) = self.lookup(job.id) {
                if let Ok(CancelRoute::Dequeued) = execution.cancel() {
                    self.retain(execution);
                }
            }
        }
    }

    /// Records the outcome of an execution a worker ran.
    fn finish(&self, execution: &Arc<Execution>, mut outcome: ExecutionOutcome) {
        if !outcome.status.is_final() {
            // A sandbox bug; clients poll until the status is final, so make it final.
            warn!(id = %execution.id, status = ?outcome.status, "outcome with a non-final status");
            outcome.status = Status::Failed;
        }
        let (status, verdict) = (outcome.status, outcome.verdict);
        if !execution.finish(outcome, &self.running) {
            return;
        }
        info!(id = %execution.id, ?status, ?verdict, "execution finished");
        self.retain(Arc::clone(execution));
    }

    /// Starts the retention clock of a finished execution (every path that
    /// finishes one comes here once), and reports it.
    fn retain(&self, execution: Arc<Execution>) {
        execution.report_finished(self.observer.as_ref());
        self.store.retain(execution);
    }
}

/// A worker: runs one execution at a time until the queue closes.
async fn work<S: Sandbox, Q: JobQueue>(core: Arc<Core<S, Q>>) {
    let _alive = WorkerAlive(&core.workers_alive);
    while let Some(job) = core.queue.pop().await {
        // Absent when its submission was refused a moment after the push.
        let Some(execution) = core.lookup(job.id) else {
            continue;
        };
        // False when it was cancelled while it waited.
        if !execution.begin(&core.running) {
            continue;
        }
        // Every line logged while it runs (the sandbox's included) names it.
        async {
            debug!("execution started");
            let outcome = run_caught(Arc::clone(&core.sandbox), Arc::clone(&execution), job).await;
            core.finish(&execution, outcome);
        }
        .instrument(execution_span(&execution))
        .await;
    }
}

/// The span of everything logged about one execution: its id and, when
/// known, the key that submitted it (never a secret).
fn execution_span(execution: &Execution) -> tracing::Span {
    tracing::info_span!("execution", id = %execution.id, key = execution.owner())
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
async fn run_caught<S: Sandbox>(
    sandbox: Arc<S>,
    execution: Arc<Execution>,
    job: SandboxJob,
) -> ExecutionOutcome {
    let id = execution.id;
    let mut task = AbortOnDrop(tokio::spawn(run(sandbox, execution, job).in_current_span()));
    match (&mut task.0).await {
        Ok(outcome) => outcome,
        Err(err) if err.is_panic() => {
            let reason = panic_message(err.into_panic());
            warn!(%id, %reason, "execution task panicked");
            ExecutionOutcome::internal(
                ErrorCode::SchedulerPanic,
                format!("The scheduler failed while running the execution: {reason}"),
            )
        }
        Err(_) => ExecutionOutcome::internal(
            ErrorCode::SchedulerAborted,
            "The execution's task was stopped before it finished",
        ),
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

/// Starts the job, logs its events, and returns how it ended. The
/// `ActiveExecution` is dropped on return, which stops the job and removes
/// its container whatever happened.
async fn run<S: Sandbox>(
    sandbox: Arc<S>,
    execution: Arc<Execution>,
    job: SandboxJob,
) -> ExecutionOutcome {
    let id = execution.id;
    let ActiveExecution { input, mut events } = match sandbox.start(job).await {
        Ok(active) => active,
        Err(err) => {
            warn!(%id, code = %err.code(), error = %err, "could not start the execution");
            return ExecutionOutcome::internal(err.code(), err.to_string());
        }
    };
    // Buffered input is delivered while events are drained, so that neither
    // direction can stall the other on a full channel.
    let deliver = execution.deliver_pending(input);
    tokio::pin!(deliver);
    let mut delivering = true;
    loop {
        let step = tokio::select! {
            () = &mut deliver, if delivering => Step::Delivered,
            event = events.recv() => Step::Event(event),
        };
        match step {
            Step::Delivered => delivering = false,
            Step::Event(Some(ExecutionEvent::Finished(outcome))) => return *outcome,
            Step::Event(Some(event)) => execution.append(event),
            Step::Event(None) => {
                warn!(%id, "the sandbox's event stream ended without an outcome");
                return ExecutionOutcome::internal(
                    ErrorCode::SandboxLost,
                    "The sandbox stopped without reporting how the execution ended",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
