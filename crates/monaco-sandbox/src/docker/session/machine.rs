//! What a session decides, apart from what it does: [`Session::handle`]
//! takes the state and one [`Message`] and returns the [`Action`]s to carry
//! out. No I/O happens here, so every rule is tested without Docker.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use monaco_core::protocol::{
    self, AgentMessage, Frame, FrameDecoder, HostMessage, Job, JobChecker, JobFile,
};
use monaco_core::{
    CaseReport, ErrorCode, ExecutionEvent, ExecutionOutcome, OutputChunk, StepKind, StepReport,
    Stream, Verdict,
};

use crate::{InputCommand, SandboxJob};

/// How much longer than the job's own limits the host waits for the agent.
const HOST_GRACE: Duration = Duration::from_secs(10);
/// How long the agent has to report after a kill.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// Largest stdin frame sent to the agent.
const STDIN_FRAME: usize = 256 * 1024;
/// Most stdin bytes given to the agent and not yet written to the program.
pub(super) const AGENT_STDIN_WINDOW: u64 = 1024 * 1024;
/// Most stdin bytes held by the driver before it stops taking input.
pub(super) const HOST_STDIN_BUFFER: usize = 1024 * 1024;

/// How a session ended. Exactly one of these, so the outcome is one `match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The agent reported the end of the job; the steps' reports decide.
    Done,
    /// A kill was asked for.
    Cancelled,
    /// The host's deadline passed before the agent reported the end.
    TimedOut,
    /// Something outside the program failed: the agent, the link or the engine.
    Failed {
        /// What failed, for clients.
        code: ErrorCode,
        /// What happened, for people.
        message: String,
    },
    /// Nobody reads the events any more.
    CallerGone,
}

/// What the session reacts to.
#[derive(Debug)]
pub(crate) enum Message<'a> {
    /// Bytes the agent wrote: frames, split anywhere.
    Agent(&'a [u8]),
    /// The link to the container failed.
    LinkLost(String),
    /// The container's output ended.
    AgentGone,
    /// Input for the program.
    Input(InputCommand),
    /// Stop the job now.
    Kill,
    /// The host's deadline passed.
    Deadline,
    /// The run step's limits were set, or why they could not be.
    RunLimits(Result<(), String>),
}

/// What the driver should do, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    /// Give the caller this event.
    Emit(ExecutionEvent),
    /// Write these bytes (whole frames) to the agent.
    ToAgent(Vec<u8>),
    /// Give the container the run step's limits, then report with
    /// [`Message::RunLimits`].
    SetRunLimits,
    /// End the session this long from now unless it ends before.
    Deadline(Duration),
    /// The session is over.
    End(Ending),
}

/// Where the session is heading, from what happened so far.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Course {
    /// Nothing unusual: the steps' reports decide.
    Running,
    /// The agent said it could not carry out the job: that is how the
    /// session ends when the agent stops, unless a kill comes first.
    AgentFailed(String),
    /// A kill was asked for: however the session ends, it ends cancelled.
    Cancelling,
}

/// One execution's conversation with its agent.
#[derive(Debug)]
pub(crate) struct Session {
    decoder: FrameDecoder,
    /// The step that output belongs to.
    step: StepKind,
    /// The test case that output belongs to, while one runs.
    case: Option<u32>,
    /// The test cases that ended, in order.
    cases: Vec<CaseReport>,
    /// How many test cases the job has.
    case_count: usize,
    tail: PromptTail,
    compile: Option<StepReport>,
    run: Option<StepReport>,
    stdin: StdinFlow,
    /// The agent waits after a successful compile step for the host to
    /// give the container the run step's limits.
    pause_after_compile: bool,
    course: Course,
}

impl Session {
    /// A session for `job`, run as `uid`, and what to do first.
    pub(crate) fn start(job: &SandboxJob, uid: u32, checker_uid: u32) -> (Session, Vec<Action>) {
        // The container was created with the larger of both steps' memory
        // and pids limits; the run step gets its own before it starts.
        // (Updating the memory alone let a compiled program's run step have
        // the compile step's pids limit: `processes: 8` allowed 67 processes.)
        let pause_after_compile = job.compile.as_ref().is_some_and(|c| {
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
            // Typing reaches an interactive run through a terminal, as it
            // would outside a sandbox (cases and given input stay pipes).
            stdin_tty: !job.tty && job.interactive && job.cases.is_none(),
            pause_after_compile,
            uid,
            cases: job.cases.clone(),
            expected: job.expected.clone(),
            checker: job.checker.clone().map(|c| match c {
                // The checker runs as a uid of its own, never the program's.
                JobChecker::Program {
                    files,
                    compile,
                    run,
                    ..
                } => JobChecker::Program {
                    files,
                    compile,
                    run,
                    uid: checker_uid,
                },
                compare => compare,
            }),
        };
        let mut stdin = StdinFlow::default();
        stdin.push(InputCommand::Bytes(job.stdin.clone()));
        if !job.interactive {
            stdin.push(InputCommand::Close);
        }
        // The agent enforces the limits precisely; this is only a backstop
        // for an agent that stops answering.
        let compile_ms = job.compile.as_ref().map_or(0, |c| c.limits.wall_ms);
        let run_ms = match &job.cases {
            // A checker program compiles once and runs after each case,
            // within the cases' total (the agent counts its time there).
            Some(cases) => cases.total_wall_ms,
            None => job.run.limits.wall_ms,
        };
        let checker_ms = match &job.checker {
            Some(JobChecker::Program { compile, run, .. }) => {
                compile.as_ref().map_or(0, |c| c.limits.wall_ms) + run.limits.wall_ms
            }
            _ => 0,
        };
        let budget = Duration::from_millis(compile_ms + run_ms + checker_ms) + HOST_GRACE;
        let session = Session {
            decoder: FrameDecoder::new(),
            step: StepKind::Run,
            case: None,
            cases: Vec::new(),
            case_count: job.cases.as_ref().map_or(0, |c| c.cases.len()),
            tail: PromptTail::default(),
            compile: None,
            run: None,
            stdin,
            pause_after_compile,
            course: Course::Running,
        };
        let first = vec![
            Action::ToAgent(protocol::encode_control(&HostMessage::Job(Box::new(
                agent_job,
            )))),
            Action::Deadline(budget),
        ];
        (session, first)
    }

    /// Whether the session takes more input now (flow control: while too
    /// much waits here, whoever sends input waits).
    pub(crate) fn takes_input(&self) -> bool {
        self.stdin.wants_more()
    }

    /// Whether a kill was asked for already.
    pub(crate) fn cancelling(&self) -> bool {
        self.course == Course::Cancelling
    }

    /// What `message` changes, and what to do about it.
    pub(crate) fn handle(&mut self, message: Message<'_>) -> Vec<Action> {
        let mut actions = Vec::new();
        let flow = match message {
            Message::Agent(bytes) => self.on_agent_bytes(bytes, &mut actions),
            Message::LinkLost(e) => ControlFlow::Break(Ending::Failed {
                code: ErrorCode::DockerAttach,
                message: format!("lost the container: {e}"),
            }),
            Message::AgentGone => ControlFlow::Break(self.agent_stopped(Ending::Failed {
                code: ErrorCode::SandboxLost,
                message: "the sandbox stopped before reporting a result".into(),
            })),
            Message::Input(InputCommand::Kill) | Message::Kill => {
                self.on_kill(&mut actions);
                ControlFlow::Continue(())
            }
            Message::Input(cmd) => {
                // Typed input that ends a line ends the line on the client's
                // screen too (a terminal echoes it), so the next prompt is
                // what follows it: "Age: ", not "Name: Age: " (the program
                // itself never echoes).
                if matches!(&cmd, InputCommand::Bytes(b) if b.contains(&b'\n')) {
                    self.tail = PromptTail::default();
                }
                self.stdin.push(cmd);
                ControlFlow::Continue(())
            }
            Message::Deadline => ControlFlow::Break(self.agent_stopped(Ending::TimedOut)),
            Message::RunLimits(Ok(())) => {
                actions.push(Action::ToAgent(protocol::encode_control(
                    &HostMessage::Continue,
                )));
                ControlFlow::Continue(())
            }
            Message::RunLimits(Err(message)) => ControlFlow::Break(Ending::Failed {
                code: ErrorCode::DockerUpdate,
                message,
            }),
        };
        match flow {
            ControlFlow::Continue(()) => {
                let frames = self.stdin.ready_frames();
                if !frames.is_empty() {
                    actions.push(Action::ToAgent(frames));
                }
            }
            // A kill asked for decides the ending, whatever stopped it.
            ControlFlow::Break(_) if self.cancelling() => {
                actions.push(Action::End(Ending::Cancelled));
            }
            ControlFlow::Break(ending) => actions.push(Action::End(ending)),
        }
        actions
    }

    /// The execution's outcome, once the session ended with `ending`.
    pub(crate) fn outcome(self, ending: Ending) -> ExecutionOutcome {
        outcome(
            self.compile,
            self.run,
            (self.cases, self.case_count),
            ending,
        )
    }

    fn on_agent_bytes(&mut self, bytes: &[u8], actions: &mut Vec<Action>) -> ControlFlow<Ending> {
        self.decoder.push(bytes);
        while let Some(frame) = self.decoder.next_frame() {
            match frame {
                Ok(Frame::Output(stream, data)) => {
                    if stream == Stream::Stdout {
                        self.tail.push(&data);
                    }
                    let step = self.step;
                    actions.push(Action::Emit(ExecutionEvent::Output(OutputChunk {
                        step,
                        stream,
                        data,
                        case: self.case,
                    })));
                }
                Ok(Frame::Control(json)) => match serde_json::from_slice(&json) {
                    Ok(message) => self.on_agent_message(message, actions)?,
                    Err(e) => {
                        return ControlFlow::Break(Ending::Failed {
                            code: ErrorCode::SandboxProtocol,
                            message: format!("bad message from the agent: {e}"),
                        })
                    }
                },
                Ok(Frame::Stdin(_)) | Err(_) => {
                    return ControlFlow::Break(Ending::Failed {
                        code: ErrorCode::SandboxProtocol,
                        message: "corrupt frame from the agent".into(),
                    })
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn on_agent_message(
        &mut self,
        message: AgentMessage,
        actions: &mut Vec<Action>,
    ) -> ControlFlow<Ending> {
        match message {
            AgentMessage::Ready { .. } => {}
            AgentMessage::StepStarted { step } => {
                self.step = step;
                self.stdin.run_started |= step == StepKind::Run;
                self.tail = PromptTail::default();
                actions.push(Action::Emit(ExecutionEvent::StepStarted { step }));
            }
            AgentMessage::WaitingForInput => {
                actions.push(Action::Emit(ExecutionEvent::InputPrompt {
                    prompt: self.tail.text(),
                }));
            }
            AgentMessage::StepFinished { step, report } => {
                let paused = step == StepKind::Compile
                    && report.verdict == Some(Verdict::Ok)
                    && self.pause_after_compile;
                match step {
                    StepKind::Compile => self.compile = Some(report),
                    StepKind::Run => self.run = Some(report),
                }
                if paused {
                    actions.push(Action::SetRunLimits);
                }
            }
            AgentMessage::CaseStarted { index } => {
                self.case = Some(index);
                self.tail = PromptTail::default();
                actions.push(Action::Emit(ExecutionEvent::CaseStarted { index }));
            }
            AgentMessage::CaseFinished(report) => {
                self.case = None;
                self.cases.push(report.clone());
                actions.push(Action::Emit(ExecutionEvent::CaseFinished(report)));
            }
            AgentMessage::StdinWritten { total } => self.stdin.acked = total,
            AgentMessage::Done => return ControlFlow::Break(self.agent_stopped(Ending::Done)),
            AgentMessage::Failed { message } => {
                if !self.cancelling() {
                    self.course = Course::AgentFailed(message);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn on_kill(&mut self, actions: &mut Vec<Action>) {
        if self.cancelling() {
            return;
        }
        self.course = Course::Cancelling;
        // The agent stops the program and reports; if it cannot (it is not
        // reading), the shortened deadline ends the session and the
        // container goes with it.
        actions.push(Action::Deadline(KILL_GRACE));
        actions.push(Action::ToAgent(protocol::encode_control(
            &HostMessage::Kill,
        )));
    }

    /// How the session ends when the agent stops (it said `done`, went
    /// away, or ran out of time): as the agent's own failure, if it
    /// reported one, explains it best.
    fn agent_stopped(&self, ending: Ending) -> Ending {
        match &self.course {
            Course::AgentFailed(message) => Ending::Failed {
                code: ErrorCode::SandboxAgent,
                message: message.clone(),
            },
            _ => ending,
        }
    }
}

/// The execution's outcome from what each step reported and how the
/// session ended.
pub(crate) fn outcome(
    compile: Option<StepReport>,
    run: Option<StepReport>,
    (tests, case_count): (Vec<CaseReport>, usize),
    ending: Ending,
) -> ExecutionOutcome {
    let step_verdict = |r: &Option<StepReport>| r.as_ref().and_then(|r| r.verdict);
    let compiled = step_verdict(&compile).is_none_or(|v| v == Verdict::Ok);
    // Every test case reported: they decide (a failed checker included).
    if case_count > 0 && compiled && ending == Ending::Done {
        if tests.len() == case_count {
            return ExecutionOutcome::of_cases(compile, tests);
        }
        // The agent said it was done with cases unreported: a report was
        // lost on the way, and the cases it has cannot stand for the rest.
        let message = format!(
            "the sandbox reported {} of {case_count} test cases",
            tests.len()
        );
        return ExecutionOutcome {
            compile,
            tests,
            ..ExecutionOutcome::internal(ErrorCode::SandboxLost, message)
        };
    }
    let reported = match (step_verdict(&compile), step_verdict(&run)) {
        (Some(v), _) if v != Verdict::Ok => Some(v),
        (_, Some(v)) => Some(v),
        _ => None,
    };
    let base = match (ending, reported) {
        // A caller that is gone dropped its handle, which stops the job
        // like a kill; nobody reads this outcome.
        (Ending::Cancelled | Ending::CallerGone, _) => ExecutionOutcome::cancelled(),
        (Ending::Failed { code, message }, _) => ExecutionOutcome::internal(code, message),
        (Ending::Done | Ending::TimedOut, Some(verdict)) => reported_outcome(verdict),
        (Ending::TimedOut, None) => reported_outcome(Verdict::TimeLimitExceeded),
        (Ending::Done, None) => {
            ExecutionOutcome::internal(ErrorCode::SandboxLost, "the sandbox reported no result")
        }
    };
    ExecutionOutcome {
        compile,
        run,
        tests,
        ..base
    }
}

/// The outcome of an execution whose steps ended with `verdict`.
fn reported_outcome(verdict: Verdict) -> ExecutionOutcome {
    ExecutionOutcome {
        status: verdict.final_status(),
        verdict,
        compile: None,
        run: None,
        message: None,
        error_code: None,
        tests: Vec::new(),
    }
}

/// Tracks the partial last line of stdout, for input prompts.
#[derive(Debug, Default)]
pub(crate) struct PromptTail {
    tail: Vec<u8>,
}

impl PromptTail {
    const MAX: usize = 1024;

    /// Adds what the program printed.
    pub(crate) fn push(&mut self, data: &[u8]) {
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

    /// The text after the last newline.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.tail).into_owned()
    }
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
#[derive(Debug, Default)]
struct StdinFlow {
    pending: VecDeque<InputCommand>,
    pending_bytes: usize,
    sent: u64,
    acked: u64,
    run_started: bool,
}

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
                // A kill never queues here (the session handles it at once).
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
