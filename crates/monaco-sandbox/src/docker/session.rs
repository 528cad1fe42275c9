//! One execution's session: the task that drives the agent in its container.
//!
//! The decisions live in [`machine`] (state and message in, actions out);
//! this file carries the actions out. The `select!` below only turns what
//! happened into an [`Event`]; one `match` hands it to the session, and
//! [`Effects::perform`] does what the session asks until it ends.

mod machine;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use futures_util::StreamExt;
use monaco_core::{ExecutionEvent, StepLimits};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Sleep};

use self::machine::{Action, Ending, Message, Session};
use super::container::{ContainerInput, Prepared};
use super::limits::RunLimits;
use crate::{ContainerSpec, InputCommand, SandboxJob};

/// What the session loop reacts to.
enum Event {
    Container(Option<Result<LogOutput, bollard::errors::Error>>),
    Input(Option<InputCommand>),
    Killed,
    Deadline,
    CallerGone,
}

/// How long after the outcome is sent the container's removal starts. The
/// removal costs the engine (dockerd, containerd, runc) tens of
/// milliseconds of CPU; started at once, it competes for the cores with
/// delivering the result (the scheduler recording it, the HTTP response,
/// in a cluster the broker and the api node). On a 2-core machine a
/// python hello world's result reached its client about 0.9 ms sooner with
/// the removal 5 ms later, on one node and through a cluster. Nothing
/// waits for the removal: the worker is free once the outcome is sent.
const REMOVAL_GRACE: Duration = Duration::from_millis(5);

/// Runs `job` in the started container `prepared` until it ends, sends its
/// outcome, and removes the container.
pub(super) async fn drive(
    run_limits: Arc<RunLimits>,
    job: SandboxJob,
    prepared: Prepared,
    mut input: mpsc::Receiver<InputCommand>,
    mut killed: watch::Receiver<bool>,
    events: mpsc::Sender<ExecutionEvent>,
    (uid, checker_uid): (u32, u32),
) {
    let Prepared {
        guard,
        mut output,
        input: container_in,
    } = prepared;
    let (to_agent, writer) = spawn_writer(container_in);
    let mut effects = Effects {
        run_limits,
        created_memory: ContainerSpec::of(&job).memory_bytes,
        container: guard.id().to_string(),
        step_limits: job.run.limits,
        to_agent,
        events,
        // Armed by the session's first actions.
        deadline: Box::pin(tokio::time::sleep_until(Instant::now())),
    };
    let (mut session, mut actions) = Session::start(&job, uid, checker_uid);
    let mut input_open = true;
    let ending = loop {
        if let Some(ending) = effects.perform(&mut session, actions).await {
            break ending;
        }
        let event = tokio::select! {
            out = output.next() => Event::Container(out),
            cmd = input.recv(), if input_open && session.takes_input() => Event::Input(cmd),
            _ = killed.changed(), if !session.cancelling() => Event::Killed,
            _ = &mut effects.deadline => Event::Deadline,
            _ = effects.events.closed() => Event::CallerGone,
        };
        actions = match event {
            Event::Container(Some(Ok(LogOutput::StdOut { message }))) => {
                session.handle(Message::Agent(&message))
            }
            Event::Container(Some(Ok(LogOutput::StdErr { message }))) => {
                tracing::warn!(execution = %job.id, agent_stderr = %String::from_utf8_lossy(&message));
                Vec::new()
            }
            Event::Container(Some(Ok(_))) => Vec::new(),
            Event::Container(Some(Err(e))) => session.handle(Message::LinkLost(e.to_string())),
            Event::Container(None) => session.handle(Message::AgentGone),
            Event::Input(None) => {
                input_open = false;
                Vec::new()
            }
            Event::Input(Some(cmd)) => session.handle(Message::Input(cmd)),
            Event::Killed => session.handle(Message::Kill),
            Event::Deadline => session.handle(Message::Deadline),
            Event::CallerGone => vec![Action::End(Ending::CallerGone)],
        };
    };
    writer.abort();
    drop(output);
    let outcome = session.outcome(ending);
    // The result first: removing the container takes tens of milliseconds
    // nobody should wait for. It still happens before this task ends, and
    // `settle` waits for it.
    let _ = effects
        .events
        .send(ExecutionEvent::Finished(Box::new(outcome)))
        .await;
    // And only once the result is on its way: see REMOVAL_GRACE.
    tokio::time::sleep(REMOVAL_GRACE).await;
    guard.remove().await;
}

/// Writes to the agent from a task of its own: once the agent has exited, a
/// write to its stdin can block until the container is removed, and the
/// session must still see `done`, a kill or the deadline. The channel needs
/// no bound: stdin flow control keeps what it holds small.
fn spawn_writer(
    mut container_in: ContainerInput,
) -> (mpsc::UnboundedSender<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (to_agent, mut to_agent_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(buf) = to_agent_rx.recv().await {
            if container_in.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    (to_agent, writer)
}

/// What the session's actions act on.
struct Effects {
    run_limits: Arc<RunLimits>,
    /// The memory limit the container was created with.
    created_memory: u64,
    container: String,
    step_limits: StepLimits,
    to_agent: mpsc::UnboundedSender<Vec<u8>>,
    events: mpsc::Sender<ExecutionEvent>,
    deadline: Pin<Box<Sleep>>,
}

impl Effects {
    /// Carries out `actions` in order; returns how the session ended, if
    /// one of them ended it.
    async fn perform(&mut self, session: &mut Session, actions: Vec<Action>) -> Option<Ending> {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Emit(event) => {
                    if self.events.send(event).await.is_err() {
                        return Some(Ending::CallerGone);
                    }
                }
                // A write that fails means the agent is gone; its output
                // stream ending says so.
                Action::ToAgent(bytes) => {
                    let _ = self.to_agent.send(bytes);
                }
                Action::SetRunLimits => {
                    let set = self
                        .run_limits
                        .set(&self.container, self.created_memory, &self.step_limits)
                        .await;
                    // What follows from it comes before the rest.
                    for next in session.handle(Message::RunLimits(set)).into_iter().rev() {
                        queue.push_front(next);
                    }
                }
                Action::Deadline(after) => self.deadline.as_mut().reset(Instant::now() + after),
                Action::End(ending) => return Some(ending),
            }
        }
        None
    }
}
