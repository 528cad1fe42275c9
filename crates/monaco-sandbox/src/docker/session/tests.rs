//! The session's state machine, without Docker: agent frames and input in,
//! actions out.

use monaco_core::protocol::{self, AgentMessage, HostMessage, JobStep};
use monaco_core::{
    CaseReport, ErrorCode, ExecutionEvent, ExecutionId, Limits, OutputChunk, Status, StepKind,
    StepReport, Stream, Verdict,
};

use super::machine::{
    outcome, Action, Ending, Message, PromptTail, Session, AGENT_STDIN_WINDOW, HOST_STDIN_BUFFER,
};
use crate::{InputCommand, SandboxJob};

fn step(limits: monaco_core::StepLimits) -> JobStep {
    JobStep {
        argv: vec!["true".into()],
        env: Vec::new(),
        limits,
    }
}

/// An interpreted job (no compile step), stdin `stdin`, closed after it.
fn job(stdin: &[u8]) -> SandboxJob {
    SandboxJob {
        id: ExecutionId::new(),
        language: "python".into(),
        image: "monaco/python".into(),
        files: Vec::new(),
        compile: None,
        run: step(Limits::default().run),
        tty: false,
        stdin: stdin.to_vec(),
        interactive: false,
        tmp_bytes: 1024 * 1024,
        cases: None,
        expected: None,
        checker: None,
        separate_checker: None,
    }
}

/// A compiled job whose steps have different limits.
fn compiled_job() -> SandboxJob {
    let limits = Limits::default();
    assert_ne!(limits.compile.memory_bytes, limits.run.memory_bytes);
    SandboxJob {
        compile: Some(step(limits.compile)),
        ..job(b"")
    }
}

fn started(job: &SandboxJob) -> Session {
    let (session, first) = Session::start(job, 65534, 65533);
    assert!(matches!(
        first[..],
        [Action::ToAgent(_), Action::Deadline(_)]
    ));
    session
}

fn agent(session: &mut Session, message: &AgentMessage) -> Vec<Action> {
    session.handle(Message::Agent(&protocol::encode_control(message)))
}

fn stdout(session: &mut Session, text: &str) -> Vec<Action> {
    session.handle(Message::Agent(&protocol::encode(
        protocol::TAG_STDOUT,
        text.as_bytes(),
    )))
}

fn report(verdict: Verdict) -> StepReport {
    StepReport {
        verdict: Some(verdict),
        exit_code: Some(0),
        ..Default::default()
    }
}

fn control(message: &HostMessage) -> Vec<u8> {
    protocol::encode_control(message)
}

fn stdin_frame(bytes: &[u8]) -> Vec<u8> {
    protocol::encode(protocol::TAG_STDIN, bytes)
}

#[test]
fn prompt_tail_keeps_the_partial_last_line() {
    let mut t = PromptTail::default();
    t.push(b"hello\nName");
    t.push(b": ");
    assert_eq!(t.text(), "Name: ");
    t.push(b"x\n");
    assert_eq!(t.text(), "");
}

#[test]
fn compile_failure_wins_over_missing_run() {
    let c = StepReport {
        verdict: Some(Verdict::CompileError),
        exit_code: Some(1),
        ..Default::default()
    };
    let o = outcome(Some(c), None, (Vec::new(), 0), Ending::Done);
    assert_eq!(o.verdict, Verdict::CompileError);
    assert_eq!(o.status, Status::Failed);
}

#[test]
fn no_report_is_an_internal_error() {
    let o = outcome(None, None, (Vec::new(), 0), Ending::Done);
    assert_eq!(o.verdict, Verdict::InternalError);
    assert_eq!(o.status, Status::Failed);
}

#[test]
fn cases_missing_at_the_end_are_an_internal_error_that_says_so() {
    let case = |index| CaseReport {
        index,
        report: report(Verdict::Ok),
        checker_message: None,
    };
    let o = outcome(None, None, (vec![case(0), case(2)], 3), Ending::Done);
    assert_eq!(o.verdict, Verdict::InternalError);
    assert_eq!(o.error_code, Some(ErrorCode::SandboxLost));
    assert_eq!(
        o.message.as_deref(),
        Some("the sandbox reported 2 of 3 test cases")
    );
    assert_eq!(o.tests.len(), 2, "the reports it has are kept");
    let o = outcome(
        None,
        None,
        (vec![case(0), case(1), case(2)], 3),
        Ending::Done,
    );
    assert_eq!(o.verdict, Verdict::Ok);
}

#[test]
fn a_timeout_without_a_report_is_a_time_limit() {
    let o = outcome(None, None, (Vec::new(), 0), Ending::TimedOut);
    assert_eq!(o.verdict, Verdict::TimeLimitExceeded);
    let o = outcome(
        None,
        Some(report(Verdict::Ok)),
        (Vec::new(), 0),
        Ending::TimedOut,
    );
    assert_eq!(o.verdict, Verdict::Ok);
}

#[test]
fn output_belongs_to_the_step_that_started_last() {
    let mut s = started(&compiled_job());
    agent(
        &mut s,
        &AgentMessage::StepStarted {
            step: StepKind::Compile,
        },
    );
    assert_eq!(
        stdout(&mut s, "warning"),
        vec![Action::Emit(ExecutionEvent::Output(OutputChunk {
            step: StepKind::Compile,
            stream: Stream::Stdout,
            data: b"warning".to_vec(),
            case: None,
        }))]
    );
}

#[test]
fn step_start_resets_the_prompt_tail() {
    let mut s = started(&job(b""));
    stdout(&mut s, "left over");
    agent(
        &mut s,
        &AgentMessage::StepStarted {
            step: StepKind::Run,
        },
    );
    assert_eq!(
        agent(&mut s, &AgentMessage::WaitingForInput),
        vec![Action::Emit(ExecutionEvent::InputPrompt {
            prompt: String::new()
        })]
    );
}

#[test]
fn waiting_for_input_yields_the_partial_line() {
    let mut s = started(&job(b""));
    agent(
        &mut s,
        &AgentMessage::StepStarted {
            step: StepKind::Run,
        },
    );
    stdout(&mut s, "Hello\nName: ");
    assert_eq!(
        agent(&mut s, &AgentMessage::WaitingForInput),
        vec![Action::Emit(ExecutionEvent::InputPrompt {
            prompt: "Name: ".into()
        })]
    );
    // A typed line ends the line on the screen: the next prompt is new.
    s.handle(Message::Input(InputCommand::Bytes(b"Ada\n".to_vec())));
    stdout(&mut s, "Age: ");
    assert_eq!(
        agent(&mut s, &AgentMessage::WaitingForInput),
        vec![Action::Emit(ExecutionEvent::InputPrompt {
            prompt: "Age: ".into()
        })]
    );
}

#[test]
fn compile_ok_with_other_limits_sets_run_limits_then_continues() {
    let mut s = started(&compiled_job());
    let finished = AgentMessage::StepFinished {
        step: StepKind::Compile,
        report: report(Verdict::Ok),
    };
    assert_eq!(agent(&mut s, &finished), vec![Action::SetRunLimits]);
    assert_eq!(
        s.handle(Message::RunLimits(Ok(()))),
        vec![Action::ToAgent(control(&HostMessage::Continue))]
    );
}

#[test]
fn run_limits_that_cannot_be_set_end_the_session() {
    let mut s = started(&compiled_job());
    let actions = s.handle(Message::RunLimits(Err("refused".into())));
    assert!(matches!(
        &actions[..],
        [Action::End(Ending::Failed {
            code: ErrorCode::DockerUpdate,
            ..
        })]
    ));
}

#[test]
fn a_failed_compile_step_does_not_ask_for_run_limits() {
    let mut s = started(&compiled_job());
    let finished = AgentMessage::StepFinished {
        step: StepKind::Compile,
        report: report(Verdict::CompileError),
    };
    assert_eq!(agent(&mut s, &finished), vec![]);
}

#[test]
fn done_ends_with_the_reports() {
    let mut s = started(&job(b""));
    agent(
        &mut s,
        &AgentMessage::StepFinished {
            step: StepKind::Run,
            report: report(Verdict::RuntimeError),
        },
    );
    assert_eq!(
        agent(&mut s, &AgentMessage::Done),
        vec![Action::End(Ending::Done)]
    );
    let o = s.outcome(Ending::Done);
    assert_eq!(o.verdict, Verdict::RuntimeError);
    assert_eq!(o.status, Status::Failed);
    assert!(o.run.is_some());
}

#[test]
fn failed_gives_sandbox_agent() {
    let mut s = started(&job(b""));
    let failed = AgentMessage::Failed {
        message: "cannot write the files".into(),
    };
    assert_eq!(agent(&mut s, &failed), vec![]);
    let expected = Ending::Failed {
        code: ErrorCode::SandboxAgent,
        message: "cannot write the files".into(),
    };
    assert_eq!(
        agent(&mut s, &AgentMessage::Done),
        vec![Action::End(expected.clone())]
    );
    let o = s.outcome(expected);
    assert_eq!(o.error_code, Some(ErrorCode::SandboxAgent));
    assert_eq!(o.verdict, Verdict::InternalError);
}

#[test]
fn a_corrupt_frame_gives_sandbox_protocol() {
    let mut s = started(&job(b""));
    // A zero length prefix is never a frame.
    let actions = s.handle(Message::Agent(&[0, 0, 0, 0]));
    assert!(matches!(
        &actions[..],
        [Action::End(Ending::Failed {
            code: ErrorCode::SandboxProtocol,
            ..
        })]
    ));
    let mut s = started(&job(b""));
    let bad_json = protocol::encode(protocol::TAG_CONTROL, b"{\"type\":\"nonsense\"}");
    let actions = s.handle(Message::Agent(&bad_json));
    assert!(matches!(
        &actions[..],
        [Action::End(Ending::Failed {
            code: ErrorCode::SandboxProtocol,
            ..
        })]
    ));
}

#[test]
fn the_stream_ending_before_done_is_sandbox_lost() {
    let mut s = started(&job(b""));
    assert!(matches!(
        &s.handle(Message::AgentGone)[..],
        [Action::End(Ending::Failed {
            code: ErrorCode::SandboxLost,
            ..
        })]
    ));
}

#[test]
fn kill_then_done_is_cancelled() {
    let mut s = started(&job(b""));
    let actions = s.handle(Message::Kill);
    assert!(actions.contains(&Action::ToAgent(control(&HostMessage::Kill))));
    assert!(actions.iter().any(|a| matches!(a, Action::Deadline(_))));
    assert!(s.cancelling());
    // A second kill sends nothing more.
    assert_eq!(s.handle(Message::Input(InputCommand::Kill)), vec![]);
    assert_eq!(
        agent(&mut s, &AgentMessage::Done),
        vec![Action::End(Ending::Cancelled)]
    );
    assert_eq!(s.outcome(Ending::Cancelled).verdict, Verdict::Cancelled);
}

#[test]
fn a_kill_decides_the_ending_whatever_stops_the_session() {
    let ends = [
        Message::Deadline,
        Message::AgentGone,
        Message::LinkLost("gone".into()),
    ];
    for end in ends {
        let mut s = started(&job(b""));
        s.handle(Message::Kill);
        assert_eq!(s.handle(end), vec![Action::End(Ending::Cancelled)]);
    }
}

#[test]
fn the_deadline_without_a_kill_is_a_timeout() {
    let mut s = started(&job(b""));
    assert_eq!(
        s.handle(Message::Deadline),
        vec![Action::End(Ending::TimedOut)]
    );
}

#[test]
fn stdin_is_held_until_the_run_step_starts() {
    let mut s = started(&compiled_job_with_stdin(b"42\n"));
    assert_eq!(
        agent(
            &mut s,
            &AgentMessage::StepStarted {
                step: StepKind::Compile
            }
        ),
        vec![Action::Emit(ExecutionEvent::StepStarted {
            step: StepKind::Compile
        })]
    );
    let mut frames = stdin_frame(b"42\n");
    frames.extend(control(&HostMessage::CloseStdin));
    assert_eq!(
        agent(
            &mut s,
            &AgentMessage::StepStarted {
                step: StepKind::Run
            }
        ),
        vec![
            Action::Emit(ExecutionEvent::StepStarted {
                step: StepKind::Run
            }),
            Action::ToAgent(frames),
        ]
    );
}

fn compiled_job_with_stdin(stdin: &[u8]) -> SandboxJob {
    SandboxJob {
        stdin: stdin.to_vec(),
        ..compiled_job()
    }
}

#[test]
fn stdin_waits_for_the_agent_window() {
    let mut s = started(&SandboxJob {
        interactive: true,
        ..job(b"")
    });
    agent(
        &mut s,
        &AgentMessage::StepStarted {
            step: StepKind::Run,
        },
    );
    let window = vec![b'x'; AGENT_STDIN_WINDOW as usize];
    let sent = s.handle(Message::Input(InputCommand::Bytes(window)));
    assert!(
        matches!(&sent[..], [Action::ToAgent(frames)] if frames.len() > AGENT_STDIN_WINDOW as usize)
    );
    // The agent has written none of it: more input waits here.
    assert_eq!(
        s.handle(Message::Input(InputCommand::Bytes(b"more".to_vec()))),
        vec![]
    );
    assert_eq!(
        agent(
            &mut s,
            &AgentMessage::StdinWritten {
                total: AGENT_STDIN_WINDOW
            }
        ),
        vec![Action::ToAgent(stdin_frame(b"more"))]
    );
}

#[test]
fn a_full_buffer_takes_no_more_input() {
    let mut s = started(&SandboxJob {
        interactive: true,
        ..job(b"")
    });
    assert!(s.takes_input());
    s.handle(Message::Input(InputCommand::Bytes(vec![
        b'x';
        HOST_STDIN_BUFFER
    ])));
    assert!(!s.takes_input());
    // Once the run step starts, the agent takes the window's worth.
    agent(
        &mut s,
        &AgentMessage::StepStarted {
            step: StepKind::Run,
        },
    );
    assert!(s.takes_input());
}

/// A job with `n` test cases, judged by comparison.
fn cases_job(n: usize) -> SandboxJob {
    SandboxJob {
        cases: Some(protocol::JobCases {
            cases: (0..n)
                .map(|i| protocol::JobCase {
                    argv: vec!["run".into(), i.to_string()],
                    stdin: Vec::new(),
                    expected: Some(b"3\n".to_vec()),
                })
                .collect(),
            stop_on_first_failure: false,
            total_wall_ms: 1000,
        }),
        checker: Some(protocol::JobChecker::Compare {
            comparison: monaco_core::Comparison::Trim,
        }),
        ..job(b"")
    }
}

fn case(index: u32, verdict: Verdict, checker_message: Option<&str>) -> monaco_core::CaseReport {
    monaco_core::CaseReport {
        index,
        report: report(verdict),
        checker_message: checker_message.map(String::from),
    }
}

#[test]
fn case_output_is_tagged_and_the_first_failing_case_decides() {
    let mut s = started(&cases_job(3));
    assert_eq!(
        agent(&mut s, &AgentMessage::CaseStarted { index: 0 }),
        vec![Action::Emit(ExecutionEvent::CaseStarted { index: 0 })]
    );
    assert_eq!(
        stdout(&mut s, "3\n"),
        vec![Action::Emit(ExecutionEvent::Output(OutputChunk {
            step: StepKind::Run,
            stream: Stream::Stdout,
            data: b"3\n".to_vec(),
            case: Some(0),
        }))]
    );
    let first = case(0, Verdict::Ok, None);
    assert_eq!(
        agent(&mut s, &AgentMessage::CaseFinished(first.clone())),
        vec![Action::Emit(ExecutionEvent::CaseFinished(first))]
    );
    agent(&mut s, &AgentMessage::CaseStarted { index: 1 });
    agent(
        &mut s,
        &AgentMessage::CaseFinished(case(1, Verdict::WrongAnswer, None)),
    );
    agent(&mut s, &AgentMessage::CaseStarted { index: 2 });
    agent(
        &mut s,
        &AgentMessage::CaseFinished(case(2, Verdict::RuntimeError, None)),
    );
    agent(&mut s, &AgentMessage::Done);
    let o = s.outcome(Ending::Done);
    assert_eq!(o.verdict, Verdict::WrongAnswer);
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.tests.len(), 3);
    assert!(o.run.is_none());
}

#[test]
fn a_failed_checker_is_checker_failed_and_missing_cases_are_lost() {
    let mut s = started(&cases_job(1));
    agent(
        &mut s,
        &AgentMessage::CaseFinished(case(0, Verdict::InternalError, Some("checker crashed"))),
    );
    let o = s.outcome(Ending::Done);
    assert_eq!(o.verdict, Verdict::InternalError);
    assert_eq!(o.error_code, Some(ErrorCode::CheckerFailed));
    assert_eq!(o.message.as_deref(), Some("checker crashed"));

    let mut s = started(&cases_job(2));
    agent(
        &mut s,
        &AgentMessage::CaseFinished(case(0, Verdict::Ok, None)),
    );
    let o = s.outcome(Ending::Done);
    assert_eq!(o.error_code, Some(ErrorCode::SandboxLost), "{o:?}");
    assert_eq!(o.tests.len(), 1, "the cases that ran are kept");
}

/// The job the agent is sent first.
fn agent_job(job: &SandboxJob) -> protocol::Job {
    let (_, first) = Session::start(job, 65534, 65533);
    let Some(Action::ToAgent(bytes)) = first.first() else {
        panic!("the job goes to the agent first: {first:?}");
    };
    let mut decoder = protocol::FrameDecoder::new();
    decoder.push(bytes);
    let Some(Ok(protocol::Frame::Control(json))) = decoder.next_frame() else {
        panic!("a control frame");
    };
    match serde_json::from_slice(&json).expect("a host message") {
        HostMessage::Job(job) => *job,
        other => panic!("not a job: {other:?}"),
    }
}

#[test]
fn only_an_interactive_run_without_a_full_terminal_reads_a_terminal_stdin() {
    let interactive = SandboxJob {
        interactive: true,
        ..job(b"")
    };
    let sent = agent_job(&interactive);
    assert!(sent.stdin_tty && !sent.tty);
    // Given input, with stdin closed after it: a pipe, as before.
    assert!(!agent_job(&job(b"input")).stdin_tty);
    // A language with a full terminal keeps it, and only it.
    let full = agent_job(&SandboxJob {
        tty: true,
        ..interactive.clone()
    });
    assert!(full.tty && !full.stdin_tty);
}
