//! One execution's record: where it is in its life, the input waiting for
//! it, and its event log.
//!
//! The log is an append-only `Vec` behind the record's lock; a `watch`
//! channel only says "something changed". Each subscriber keeps its own
//! cursor into the log and clones one event at a time, so a slow subscriber
//! never blocks the execution or other subscribers, nothing is dropped (no
//! lossy broadcast buffer), and a subscriber that arrives late replays the
//! whole log before following it live.
//!
//! Input typed before the sandbox has started is buffered here and delivered
//! in order by the task that runs the execution; only after the buffer is
//! empty does input go straight to the sandbox, so order is kept across the
//! switch.

use std::mem;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use monaco_core::{ExecutionEvent, ExecutionId, ExecutionOutcome, Status, StepKind, Stream};
use monaco_sandbox::{InputCommand, InputSender};
use tokio::sync::watch;

use crate::error::{CancelError, InputError};
use crate::store::{EventFeed, FinishReport, StoreFuture};

/// Input bytes buffered for an execution that has not started yet (by
/// every store).
pub const MAX_PENDING_INPUT_BYTES: usize = 1 << 20;

/// What the client submitted, echoed back with the result; opaque to the
/// scheduler (serialisable, for a store shared between nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionMeta {
    /// The language as the client named it.
    pub language: String,
    /// The main source file's text.
    pub code: String,
    /// The input given with the submission.
    pub input: String,
    /// The names of the test cases, in order (one entry per case).
    pub test_names: Vec<Option<String>>,
    /// Who submitted it (an API key's id), when the caller is known; the
    /// HTTP layer shows the execution to this caller only.
    pub owner: Option<String>,
}

/// What one test case printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseOutput {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

/// Everything known about an execution at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSnapshot {
    /// The execution.
    pub id: ExecutionId,
    /// What was submitted.
    pub meta: ExecutionMeta,
    /// Where it is in its life.
    pub status: Status,
    /// When it was accepted.
    pub queued_at: SystemTime,
    /// When a worker took it.
    pub started_at: Option<SystemTime>,
    /// When it finished.
    pub completed_at: Option<SystemTime>,
    /// How it ended, once it has.
    pub outcome: Option<ExecutionOutcome>,
    /// What the run step printed on stdout so far.
    pub stdout: Vec<u8>,
    /// What the run step printed on stderr so far.
    pub stderr: Vec<u8>,
    /// What the compile step printed on both streams, in order.
    pub compile_output: Vec<u8>,
    /// What each test case printed so far (its run output is not in
    /// `stdout` and `stderr`), by case index.
    pub cases: Vec<CaseOutput>,
}

impl ExecutionSnapshot {
    /// The snapshot of an execution whose log is `log`: its output
    /// collected by step, stream and case, its status and outcome from the
    /// log's last status and `Finished` (the times after queueing are left
    /// for the store to fill in).
    pub fn from_log(
        id: ExecutionId,
        meta: ExecutionMeta,
        queued_at: SystemTime,
        log: &[ExecutionEvent],
    ) -> Self {
        let (mut stdout, mut stderr, mut compile_output) = (Vec::new(), Vec::new(), Vec::new());
        let mut cases: Vec<CaseOutput> = Vec::new();
        let mut status = Status::Queued;
        let mut outcome = None;
        for event in log {
            match event {
                ExecutionEvent::Status { status: s } => status = *s,
                ExecutionEvent::Finished(o) => outcome = Some((**o).clone()),
                _ => {}
            }
            if let ExecutionEvent::Output(chunk) = event {
                let sink = match (chunk.step, chunk.case, chunk.stream) {
                    (StepKind::Compile, _, _) => &mut compile_output,
                    (StepKind::Run, Some(i), stream) => {
                        let i = i as usize;
                        if cases.len() <= i {
                            cases.resize_with(i + 1, CaseOutput::default);
                        }
                        match stream {
                            Stream::Stdout => &mut cases[i].stdout,
                            Stream::Stderr => &mut cases[i].stderr,
                        }
                    }
                    (StepKind::Run, None, Stream::Stdout) => &mut stdout,
                    (StepKind::Run, None, Stream::Stderr) => &mut stderr,
                };
                sink.extend_from_slice(&chunk.data);
            }
        }
        ExecutionSnapshot {
            id,
            meta,
            status,
            queued_at,
            started_at: None,
            completed_at: None,
            outcome,
            stdout,
            stderr,
            compile_output,
            cases,
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Waiting in the queue; input is buffered.
    Queued,
    /// A worker took it; input is buffered until the sandbox has started and
    /// the buffer has been delivered.
    Starting,
    /// Input goes straight to the sandbox.
    Running(InputSender),
    /// Over; the log ends with `Finished`.
    Finished,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    started_at: Option<SystemTime>,
    completed_at: Option<SystemTime>,
    outcome: Option<ExecutionOutcome>,
    log: Vec<ExecutionEvent>,
    pending: Vec<InputCommand>,
    pending_bytes: usize,
    /// Forgotten by the registry; the log was freed.
    evicted: bool,
}

/// Where a piece of input has to go.
pub(crate) enum InputRoute {
    /// Kept until the sandbox has started.
    Buffered,
    /// To be sent to the running sandbox.
    Forward(InputSender, InputCommand),
}

/// What cancelling takes.
pub(crate) enum CancelRoute {
    /// It was still queued and is now finished as cancelled.
    Dequeued,
    /// A kill is buffered until the sandbox has started.
    Buffered,
    /// A kill has to be sent to the running sandbox.
    Forward(InputSender),
}

/// The shared record of one execution.
#[derive(Debug)]
pub(crate) struct Execution {
    pub(crate) id: ExecutionId,
    /// The language's registry id (the job's), for bounded metric labels.
    pub(crate) language: String,
    meta: ExecutionMeta,
    queued_at: SystemTime,
    state: Mutex<State>,
    changed: watch::Sender<()>,
}

impl Execution {
    /// A queued execution whose log holds its `queued` status.
    /// Who submitted it, if known.
    pub(crate) fn owner(&self) -> Option<&str> {
        self.meta.owner.as_deref()
    }

    pub(crate) fn new(id: ExecutionId, language: String, meta: ExecutionMeta) -> Arc<Self> {
        Arc::new(Execution {
            id,
            language,
            meta,
            queued_at: SystemTime::now(),
            state: Mutex::new(State {
                phase: Phase::Queued,
                started_at: None,
                completed_at: None,
                outcome: None,
                log: vec![ExecutionEvent::Status {
                    status: Status::Queued,
                }],
                pending: Vec::new(),
                pending_bytes: 0,
                evicted: false,
            }),
            changed: watch::Sender::new(()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; recover rather than spread
        // a poison if that ever changes.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every subscriber; call after releasing the lock.
    fn wake(&self) {
        self.changed.send_replace(());
    }

    /// Where it is in its life.
    pub(crate) fn status(&self) -> Status {
        status_of(&self.state())
    }

    /// A worker takes it: `queued` → `running`, counted in `running`. False
    /// when it was cancelled while it waited.
    pub(crate) fn begin(&self, running: &AtomicUsize) -> bool {
        {
            let mut st = self.state();
            if !matches!(st.phase, Phase::Queued) {
                return false;
            }
            // Counted under the lock, before the log says so.
            running.fetch_add(1, Ordering::SeqCst);
            st.phase = Phase::Starting;
            st.started_at = Some(SystemTime::now());
            st.log.push(ExecutionEvent::Status {
                status: Status::Running,
            });
        }
        self.wake();
        true
    }

    /// Appends an event from the sandbox (never `Finished`: see [`Self::finish`]).
    pub(crate) fn append(&self, event: ExecutionEvent) {
        {
            let mut st = self.state();
            if matches!(st.phase, Phase::Finished) {
                return;
            }
            st.log.push(event);
        }
        self.wake();
    }

    /// Records how it ended and closes the log with the final status and
    /// `Finished`; uncounts it from `running` if it had begun. False if it
    /// had already finished.
    pub(crate) fn finish(&self, outcome: ExecutionOutcome, running: &AtomicUsize) -> bool {
        {
            let mut st = self.state();
            match st.phase {
                Phase::Finished => return false,
                Phase::Queued => {}
                Phase::Starting | Phase::Running(_) => {
                    running.fetch_sub(1, Ordering::SeqCst);
                }
            }
            finish_locked(&mut st, outcome);
        }
        self.wake();
        true
    }

    /// Decides where `cmd` goes: buffered, to the sandbox, or nowhere.
    pub(crate) fn route_input(&self, cmd: InputCommand) -> Result<InputRoute, InputError> {
        let mut st = self.state();
        match &st.phase {
            Phase::Finished => Err(InputError::Finished),
            Phase::Running(tx) => Ok(InputRoute::Forward(tx.clone(), cmd)),
            Phase::Queued | Phase::Starting => {
                let size = cmd.byte_len();
                if st.pending_bytes + size > MAX_PENDING_INPUT_BYTES {
                    return Err(InputError::BufferFull);
                }
                st.pending_bytes += size;
                st.pending.push(cmd);
                Ok(InputRoute::Buffered)
            }
        }
    }

    /// Cancels it if still queued; otherwise says where the kill must go.
    pub(crate) fn cancel(&self) -> Result<CancelRoute, CancelError> {
        let route = {
            let mut st = self.state();
            match &st.phase {
                Phase::Finished => return Err(CancelError::Finished),
                Phase::Running(tx) => return Ok(CancelRoute::Forward(tx.clone())),
                Phase::Starting => {
                    if !st.pending.contains(&InputCommand::Kill) {
                        st.pending.push(InputCommand::Kill);
                    }
                    return Ok(CancelRoute::Buffered);
                }
                Phase::Queued => {
                    finish_locked(&mut st, ExecutionOutcome::cancelled());
                    CancelRoute::Dequeued
                }
            }
        };
        self.wake();
        Ok(route)
    }

    /// Sends the input buffered before the start to the sandbox, in order,
    /// then lets further input go straight there.
    pub(crate) async fn deliver_pending(&self, input: InputSender) {
        loop {
            let batch = {
                let mut st = self.state();
                if !matches!(st.phase, Phase::Starting) {
                    return;
                }
                if st.pending.is_empty() {
                    st.phase = Phase::Running(input);
                    return;
                }
                st.pending_bytes = 0;
                mem::take(&mut st.pending)
            };
            for cmd in batch {
                if input.send(cmd).await.is_err() {
                    // The sandbox takes no more input: it is ending. Later
                    // input is refused by the closed channel.
                    let mut st = self.state();
                    if matches!(st.phase, Phase::Starting) {
                        st.phase = Phase::Running(input);
                        st.pending.clear();
                    }
                    return;
                }
            }
        }
    }

    /// Forgets the log (the registry has dropped the execution) and ends
    /// every subscription.
    pub(crate) fn evict(&self) {
        {
            let mut st = self.state();
            st.evicted = true;
            st.log = Vec::new();
            st.pending = Vec::new();
        }
        self.wake();
    }

    /// How it went, once it has finished (`None` before), for observers.
    pub(crate) fn report(&self) -> Option<FinishReport> {
        let st = self.state();
        let (Some(completed), Some(outcome)) = (st.completed_at, &st.outcome) else {
            return None;
        };
        let since = |from: SystemTime, to: SystemTime| to.duration_since(from).unwrap_or_default();
        Some(FinishReport::new(
            self.language.clone(),
            outcome,
            st.started_at.map(|s| since(self.queued_at, s)),
            since(self.queued_at, completed),
        ))
    }

    /// Everything known now, with the output collected from the log.
    pub(crate) fn snapshot(&self) -> ExecutionSnapshot {
        let st = self.state();
        let mut snapshot =
            ExecutionSnapshot::from_log(self.id, self.meta.clone(), self.queued_at, &st.log);
        snapshot.status = status_of(&st);
        snapshot.started_at = st.started_at;
        snapshot.completed_at = st.completed_at;
        snapshot.outcome = st.outcome.clone();
        snapshot
    }

    /// A subscription to the log from index `from` on.
    pub(crate) fn subscribe(self: &Arc<Self>, from: usize) -> MemoryFeed {
        MemoryFeed {
            execution: Arc::clone(self),
            changed: self.changed.subscribe(),
            cursor: from,
            done: false,
        }
    }
}

fn status_of(st: &State) -> Status {
    match st.phase {
        Phase::Queued => Status::Queued,
        Phase::Starting | Phase::Running(_) => Status::Running,
        Phase::Finished => st.outcome.as_ref().map_or(Status::Failed, |o| o.status),
    }
}

fn finish_locked(st: &mut State, outcome: ExecutionOutcome) {
    st.phase = Phase::Finished;
    st.pending = Vec::new();
    st.pending_bytes = 0;
    st.completed_at = Some(SystemTime::now());
    st.log.push(ExecutionEvent::Status {
        status: outcome.status,
    });
    st.log
        .push(ExecutionEvent::Finished(Box::new(outcome.clone())));
    st.outcome = Some(outcome);
}

/// Follows one execution's event log: first the events already logged, then
/// new ones as they are appended, ending after `Finished`. Whatever the
/// store, every subscriber gets every event, in order, with its index.
pub struct EventSubscription {
    feed: Box<dyn EventFeed>,
}

impl std::fmt::Debug for EventSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSubscription").finish_non_exhaustive()
    }
}

impl EventSubscription {
    /// A subscription over a store's feed.
    pub fn new(feed: impl EventFeed) -> Self {
        EventSubscription {
            feed: Box::new(feed),
        }
    }

    /// The next event and its index in the log; `None` after `Finished`, or
    /// once the execution has been forgotten.
    pub async fn next(&mut self) -> Option<(usize, ExecutionEvent)> {
        self.feed.next().await
    }
}

/// An in-memory log's subscriber: its own cursor into the log, woken by
/// the record's `watch` channel.
#[derive(Debug)]
pub(crate) struct MemoryFeed {
    execution: Arc<Execution>,
    changed: watch::Receiver<()>,
    cursor: usize,
    done: bool,
}

impl EventFeed for MemoryFeed {
    fn next(&mut self) -> StoreFuture<'_, Option<(usize, ExecutionEvent)>> {
        Box::pin(self.next_event())
    }
}

impl MemoryFeed {
    async fn next_event(&mut self) -> Option<(usize, ExecutionEvent)> {
        loop {
            if self.done {
                return None;
            }
            // Mark the current version seen before looking, so that an
            // append after the look wakes the wait below.
            self.changed.borrow_and_update();
            {
                let st = self.execution.state();
                if st.evicted {
                    self.done = true;
                    return None;
                }
                if let Some(event) = st.log.get(self.cursor) {
                    let index = self.cursor;
                    self.cursor += 1;
                    self.done = matches!(event, ExecutionEvent::Finished(_));
                    return Some((index, event.clone()));
                }
                if matches!(st.phase, Phase::Finished) {
                    // Asked to start beyond the end of a closed log.
                    self.done = true;
                    return None;
                }
            }
            if self.changed.changed().await.is_err() {
                // Unreachable while we hold the execution, which owns the sender.
                self.done = true;
                return None;
            }
        }
    }
}
