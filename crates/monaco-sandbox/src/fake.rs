//! A sandbox that runs nothing: it plays scripts, for tests of everything
//! above the sandbox (scheduling, the executor, the HTTP and WebSocket API)
//! in milliseconds and without Docker. It is never the proof that code
//! runs: limits and isolation are always tested against the Docker driver.
//!
//! A job plays the [`Script`] registered for its id with
//! [`FakeSandbox::script`]; a job with none plays its main file read as a
//! small program, one command per line (see [`Script::from_program`]), so
//! that a test that only sees the public API can still say what happens:
//!
//! ```text
//! print Hello         stdout "Hello\n"          eprint oops    stderr "oops\n"
//! write Name:\s       stdout without newline    prompt Age:\s  write, input_prompt, read a line
//! read                wait for a line of stdin  echo           stdin to stdout until EOF
//! wait                run until killed          exit 3         end with exit code 3
//! compile_error msg   a failed compile step     lose           end without an outcome
//! fail_start          the sandbox cannot start the job
//! end time_limit_exceeded   end with this verdict of the run step (any verdict's name)
//! ```
//!
//! Text takes the escapes `\n`, `\t`, `\s` (a space, for trailing ones),
//! `\\` and `\xHH` (any byte).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use monaco_core::{
    ErrorCode, ExecutionEvent, ExecutionId, ExecutionOutcome, OutputChunk, StepKind, StepReport,
    Stream, Verdict,
};
use tokio::sync::{mpsc, Notify};

use monaco_core::protocol::{JobCases, JobChecker};
use monaco_core::{CaseReport, Comparison};

use crate::{ActiveExecution, InputCommand, Sandbox, SandboxError, SandboxJob};

/// How the fake answers `start`.
#[derive(Debug, Clone, Default)]
pub enum Start {
    /// The job starts.
    #[default]
    Ok,
    /// `start` fails as if no engine answered.
    Fail,
    /// `start` panics.
    Panic,
}

/// One thing a fake job does, in script order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Reports an event.
    Emit(ExecutionEvent),
    /// Waits for the gate to be opened; a kill meanwhile ends the job cancelled.
    Gate(Arc<Notify>),
    /// Echoes stdin bytes as stdout until stdin is closed; a kill ends the
    /// job cancelled.
    Echo,
    /// Waits until stdin holds a whole line (or is closed) and takes it.
    ReadLine,
    /// Ends with this outcome (instead of the default `ok`).
    Finish(ExecutionOutcome),
    /// Ends the event stream without `Finished`.
    Lose,
}

/// What a fake job does.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// How `start` answers.
    pub start: Start,
    /// What the job does once started.
    pub acts: Vec<Act>,
}

impl Script {
    /// A script that starts and plays `acts`.
    pub fn acts(acts: Vec<Act>) -> Script {
        Script {
            acts,
            ..Script::default()
        }
    }

    /// The script a program in the fake language plays (see the module
    /// docs). An unknown command is a compile error naming it.
    pub fn from_program(code: &str) -> Script {
        let mut script = Script::default();
        let mut acts = vec![Act::Emit(ExecutionEvent::StepStarted {
            step: StepKind::Run,
        })];
        for line in code.lines() {
            let line = line.trim_start();
            let (command, text) = line.split_once(' ').unwrap_or((line, ""));
            let bytes = unescape(text);
            match command {
                "" | "#" => {}
                "print" => acts.push(out(Stream::Stdout, [bytes, b"\n".to_vec()].concat())),
                "eprint" => acts.push(out(Stream::Stderr, [bytes, b"\n".to_vec()].concat())),
                "write" => acts.push(out(Stream::Stdout, bytes)),
                "prompt" => {
                    let prompt = String::from_utf8_lossy(&bytes).into_owned();
                    acts.push(out(Stream::Stdout, bytes));
                    acts.push(Act::Emit(ExecutionEvent::InputPrompt { prompt }));
                    acts.push(Act::ReadLine);
                }
                "read" => acts.push(Act::ReadLine),
                "echo" => acts.push(Act::Echo),
                "wait" => acts.push(Act::Gate(Arc::new(Notify::new()))),
                "exit" => {
                    let code: i32 = text.trim().parse().unwrap_or(1);
                    acts.push(Act::Finish(exited(code)));
                    break;
                }
                "lose" => {
                    acts.push(Act::Lose);
                    break;
                }
                "end" => {
                    let name = serde_json::Value::String(text.trim().to_string());
                    match serde_json::from_value::<Verdict>(name) {
                        Ok(verdict) => acts.push(Act::Finish(ended(verdict))),
                        Err(_) => {
                            return compile_error(
                                format!("unknown fake verdict {:?}", text.trim()).into_bytes(),
                            )
                        }
                    }
                    break;
                }
                "fail_start" => script.start = Start::Fail,
                "compile_error" => return compile_error(bytes),
                other => {
                    return compile_error(format!("unknown fake command {other:?}").into_bytes())
                }
            }
        }
        script.acts = acts;
        script
    }
}

/// A sandbox that plays a script per execution and records which jobs
/// started, what input each got, and which jobs were asked to be kept warm.
#[derive(Debug)]
pub struct FakeSandbox {
    scripts: Mutex<HashMap<ExecutionId, Script>>,
    started: Mutex<Option<mpsc::UnboundedSender<ExecutionId>>>,
    inputs: Inputs,
    healthy: AtomicBool,
}

type Inputs = Arc<Mutex<HashMap<ExecutionId, Vec<InputCommand>>>>;

impl Default for FakeSandbox {
    fn default() -> Self {
        FakeSandbox {
            scripts: Mutex::default(),
            started: Mutex::default(),
            inputs: Inputs::default(),
            healthy: AtomicBool::new(true),
        }
    }
}

impl FakeSandbox {
    /// A fake that plays each job's main file as a fake program.
    pub fn new() -> FakeSandbox {
        FakeSandbox::default()
    }

    /// A fake, and the ids of the jobs it starts, in start order.
    pub fn with_starts() -> (FakeSandbox, mpsc::UnboundedReceiver<ExecutionId>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fake = FakeSandbox::default();
        *lock(&fake.started) = Some(tx);
        (fake, rx)
    }

    /// The job with this id plays `script` instead of its program.
    pub fn script(&self, id: ExecutionId, script: Script) {
        lock(&self.scripts).insert(id, script);
    }

    /// Every input command the job with this id received, in order.
    pub fn inputs(&self, id: ExecutionId) -> Vec<InputCommand> {
        lock(&self.inputs).get(&id).cloned().unwrap_or_default()
    }

    /// What [`Sandbox::healthy`] answers from now on.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sandbox for FakeSandbox {
    fn start(
        &self,
        job: SandboxJob,
    ) -> impl Future<Output = Result<ActiveExecution, SandboxError>> + Send {
        let registered = lock(&self.scripts).remove(&job.id);
        let scripted = registered.is_some();
        let script = registered.unwrap_or_else(|| {
            Script::from_program(job.files.first().map_or("", |f| f.content.as_str()))
        });
        let started = lock(&self.started).clone();
        let inputs = Arc::clone(&self.inputs);
        async move {
            match script.start {
                Start::Ok => {}
                Start::Fail => {
                    return Err(SandboxError::Engine {
                        action: "start the fake container",
                        source: "no engine answers".into(),
                    })
                }
                Start::Panic => panic!("the fake sandbox broke"),
            }
            if let Some(started) = started {
                let _ = started.send(job.id);
            }
            let (input, input_rx) = mpsc::channel(4);
            let (events_tx, events) = mpsc::channel(4);
            let player = Player {
                id: job.id,
                input: input_rx,
                events: events_tx,
                inputs,
                buffer: job.stdin.clone(),
                eof: !job.interactive,
                case: None,
                printed: Vec::new(),
            };
            match (job.cases, script.start) {
                // Test cases: the program plays once per case (a scripted
                // job plays its script as it is).
                (Some(cases), Start::Ok) if !scripted => {
                    tokio::spawn(player.play_cases(script.acts, cases, job.checker));
                }
                _ => {
                    tokio::spawn(player.play(script.acts));
                }
            }
            Ok(ActiveExecution {
                input: input.into(),
                events,
            })
        }
    }

    async fn healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }
}

/// Plays one fake job.
struct Player {
    id: ExecutionId,
    input: mpsc::Receiver<InputCommand>,
    events: mpsc::Sender<ExecutionEvent>,
    inputs: Inputs,
    /// Stdin received and not yet read.
    buffer: Vec<u8>,
    /// Stdin is closed once `buffer` is read.
    eof: bool,
    /// The test case playing now: its output is tagged with it.
    case: Option<u32>,
    /// What the current case printed on stdout, for its judgement.
    printed: Vec<u8>,
}

/// Why a job stopped before the end of its script.
enum Stop {
    Killed,
    /// The caller dropped the events or the input (the job is abandoned).
    Gone,
    /// The script ends the stream without an outcome ([`Act::Lose`]).
    Lost,
}

impl Player {
    /// Plays `acts` to their outcome: `ok` unless they finish otherwise.
    async fn play_acts(&mut self, acts: &[Act]) -> Result<ExecutionOutcome, Stop> {
        let mut end = ok();
        for act in acts {
            match act.clone() {
                Act::Emit(event) => self.emit(event).await?,
                Act::Gate(gate) => self.gate(&gate).await?,
                Act::Echo => self.echo().await?,
                Act::ReadLine => self.read_line().await?,
                Act::Finish(outcome) => end = outcome,
                Act::Lose => return Err(Stop::Lost),
            }
        }
        Ok(end)
    }

    /// Sends the job's last event, as `acts` ended.
    async fn finish(&self, played: Result<ExecutionOutcome, Stop>) {
        let end = match played {
            Ok(outcome) => outcome,
            Err(Stop::Killed) => ExecutionOutcome::cancelled(),
            Err(Stop::Gone | Stop::Lost) => return,
        };
        let _ = self.events.send(finished(end)).await;
    }

    async fn play(mut self, acts: Vec<Act>) {
        let played = self.play_acts(&acts).await;
        self.finish(played).await;
    }

    /// Plays the program once per test case, as the agent runs cases: each
    /// with its own stdin (closed after it), its output tagged with the
    /// case, judged against its expected output by the job's comparison
    /// (a checker program is judged as an exact comparison here).
    async fn play_cases(mut self, acts: Vec<Act>, cases: JobCases, checker: Option<JobChecker>) {
        let comparison = match checker {
            Some(JobChecker::Compare { comparison }) => comparison,
            _ => Comparison::Exact,
        };
        let (start, program) = match acts.split_first() {
            Some((
                first @ Act::Emit(ExecutionEvent::StepStarted {
                    step: StepKind::Run,
                }),
                rest,
            )) => (Some(first.clone()), rest.to_vec()),
            _ => (None, acts),
        };
        if let Some(Act::Emit(event)) = start {
            if self.emit(event).await.is_err() {
                return;
            }
        }
        // A compile error (no run step) ends before any case.
        if program
            .iter()
            .any(|a| matches!(a, Act::Finish(o) if o.compile.is_some()))
        {
            return self.play(program).await;
        }
        let mut reports = Vec::new();
        let mut failed = false;
        for (index, case) in cases.cases.iter().enumerate() {
            let index = index as u32;
            let report = if failed && cases.stop_on_first_failure {
                CaseReport {
                    index,
                    report: StepReport {
                        verdict: Some(Verdict::Skipped),
                        ..StepReport::default()
                    },
                    checker_message: None,
                }
            } else {
                if self
                    .emit(ExecutionEvent::CaseStarted { index })
                    .await
                    .is_err()
                {
                    return;
                }
                self.buffer = case.stdin.clone();
                self.eof = true;
                self.case = Some(index);
                self.printed.clear();
                let end = match self.play_acts(&program).await {
                    Ok(end) => end,
                    stopped => return self.finish(stopped).await,
                };
                self.case = None;
                let mut report = end.run.unwrap_or_default();
                let wrong = case
                    .expected
                    .as_ref()
                    .is_some_and(|expected| !comparison.accepts(expected, &self.printed));
                if report.verdict == Some(Verdict::Ok) && wrong {
                    report.verdict = Some(Verdict::WrongAnswer);
                }
                failed |= report.verdict != Some(Verdict::Ok);
                CaseReport {
                    index,
                    report,
                    checker_message: None,
                }
            };
            if self
                .emit(ExecutionEvent::CaseFinished(report.clone()))
                .await
                .is_err()
            {
                return;
            }
            reports.push(report);
        }
        let outcome = ExecutionOutcome::of_cases(None, reports);
        let _ = self.events.send(finished(outcome)).await;
    }

    /// Reports an event; output belongs to the case playing now.
    async fn emit(&mut self, mut event: ExecutionEvent) -> Result<(), Stop> {
        if let ExecutionEvent::Output(chunk) = &mut event {
            chunk.case = self.case;
            if self.case.is_some() && chunk.stream == Stream::Stdout {
                self.printed.extend_from_slice(&chunk.data);
            }
        }
        self.events.send(event).await.map_err(|_| Stop::Gone)
    }

    /// The next input command, recorded; `None` once the sender is gone.
    async fn next_input(&mut self) -> Option<InputCommand> {
        let cmd = self.input.recv().await?;
        lock(&self.inputs)
            .entry(self.id)
            .or_default()
            .push(cmd.clone());
        Some(cmd)
    }

    /// Takes one input command into the buffer.
    async fn receive(&mut self) -> Result<(), Stop> {
        match self.next_input().await {
            Some(InputCommand::Bytes(data)) => self.buffer.extend(data),
            Some(InputCommand::Close) => self.eof = true,
            Some(InputCommand::Kill) => return Err(Stop::Killed),
            None => return Err(Stop::Gone),
        }
        Ok(())
    }

    async fn gate(&mut self, gate: &Notify) -> Result<(), Stop> {
        loop {
            tokio::select! {
                () = gate.notified() => return Ok(()),
                cmd = self.next_input() => match cmd {
                    Some(InputCommand::Kill) => return Err(Stop::Killed),
                    Some(_) => {}
                    // Nobody can open the gate or kill: wait for the caller to go.
                    None => { gate.notified().await; return Ok(()) }
                },
            }
        }
    }

    async fn echo(&mut self) -> Result<(), Stop> {
        loop {
            if !self.buffer.is_empty() {
                let data = std::mem::take(&mut self.buffer);
                self.emit(out_event(Stream::Stdout, data)).await?;
            }
            if self.eof {
                return Ok(());
            }
            self.receive().await?;
        }
    }

    async fn read_line(&mut self) -> Result<(), Stop> {
        loop {
            if let Some(i) = self.buffer.iter().position(|&b| b == b'\n') {
                self.buffer.drain(..=i);
                return Ok(());
            }
            if self.eof {
                self.buffer.clear();
                return Ok(());
            }
            self.receive().await?;
        }
    }
}

fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b's') => out.push(b' '),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let value = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                out.extend(value.map_or(hex, |v| vec![v]));
            }
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

fn out(stream: Stream, data: Vec<u8>) -> Act {
    Act::Emit(out_event(stream, data))
}

fn out_event(stream: Stream, data: Vec<u8>) -> ExecutionEvent {
    ExecutionEvent::Output(OutputChunk {
        step: StepKind::Run,
        stream,
        data,
        case: None,
    })
}

fn finished(outcome: ExecutionOutcome) -> ExecutionEvent {
    ExecutionEvent::Finished(Box::new(outcome))
}

/// A program that ran and exited 0.
pub fn ok() -> ExecutionOutcome {
    exited(0)
}

/// A program that ran and exited with `code`.
pub fn exited(code: i32) -> ExecutionOutcome {
    let verdict = if code == 0 {
        Verdict::Ok
    } else {
        Verdict::RuntimeError
    };
    ExecutionOutcome {
        status: verdict.final_status(),
        verdict,
        compile: None,
        run: Some(StepReport {
            verdict: Some(verdict),
            exit_code: Some(code),
            ..StepReport::default()
        }),
        message: None,
        error_code: None,
        tests: Vec::new(),
    }
}

/// A run step that ended with `verdict` (a limit's, say), having used
/// some time and memory, as a real one would report it.
pub fn ended(verdict: Verdict) -> ExecutionOutcome {
    let signal = matches!(
        verdict,
        Verdict::TimeLimitExceeded | Verdict::MemoryLimitExceeded | Verdict::OutputLimitExceeded
    );
    ExecutionOutcome {
        status: verdict.final_status(),
        verdict,
        compile: None,
        run: Some(StepReport {
            verdict: Some(verdict),
            exit_code: (!signal).then_some(0),
            signal: signal.then_some(9),
            wall_ms: 1000,
            wall_us: 1_000_000,
            cpu_ms: 1000,
            memory_bytes: 8 * 1024 * 1024,
            truncated: verdict == Verdict::OutputLimitExceeded,
        }),
        message: None,
        error_code: None,
        tests: Vec::new(),
    }
}

/// A compile step that failed, printing `message` on stderr.
fn compile_error(message: Vec<u8>) -> Script {
    let report = StepReport {
        verdict: Some(Verdict::CompileError),
        exit_code: Some(1),
        ..StepReport::default()
    };
    Script::acts(vec![
        Act::Emit(ExecutionEvent::StepStarted {
            step: StepKind::Compile,
        }),
        Act::Emit(ExecutionEvent::Output(OutputChunk {
            step: StepKind::Compile,
            stream: Stream::Stderr,
            data: [message, b"\n".to_vec()].concat(),
            case: None,
        })),
        Act::Finish(ExecutionOutcome {
            status: Verdict::CompileError.final_status(),
            verdict: Verdict::CompileError,
            compile: Some(report),
            run: None,
            message: None,
            error_code: None,
            tests: Vec::new(),
        }),
    ])
}

/// An outcome Monaco could not produce (for scripts that need one).
pub fn internal(code: ErrorCode) -> ExecutionOutcome {
    ExecutionOutcome::internal(code, "the fake sandbox was told to fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(code: &str, stdin: &[u8], interactive: bool) -> SandboxJob {
        SandboxJob {
            id: ExecutionId::new(),
            language: "fake".into(),
            image: "fake".into(),
            files: vec![monaco_core::SourceFile {
                name: "main".into(),
                content: code.into(),
            }],
            compile: None,
            run: monaco_core::protocol::JobStep {
                argv: vec!["run".into()],
                env: Vec::new(),
                limits: monaco_core::Limits::default().run,
            },
            tty: false,
            stdin: stdin.to_vec(),
            interactive,
            tmp_bytes: 1024,
            cases: None,
            expected: None,
            checker: None,
            separate_checker: None,
        }
    }

    fn stdout(events: &[ExecutionEvent]) -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e {
                ExecutionEvent::Output(c) if c.stream == Stream::Stdout => Some(c.data.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[tokio::test]
    async fn a_program_prints_prompts_and_reads() {
        let fake = FakeSandbox::new();
        let active = fake
            .start(job("prompt Name:\\s\nprint hi\\x21\nexit 3", b"", true))
            .await
            .unwrap();
        active
            .input
            .send(InputCommand::Bytes(b"Ada\n".to_vec()))
            .await
            .unwrap();
        let events = active.collect().await;
        assert_eq!(stdout(&events), b"Name: hi!\n");
        assert!(events
            .iter()
            .any(|e| matches!(e, ExecutionEvent::InputPrompt { prompt } if prompt == "Name: ")));
        match events.last() {
            Some(ExecutionEvent::Finished(o)) => {
                assert_eq!(o.verdict, Verdict::RuntimeError);
                assert_eq!(o.run.as_ref().and_then(|r| r.exit_code), Some(3));
            }
            other => panic!("ends with {other:?}"),
        }
    }

    #[tokio::test]
    async fn echo_gives_back_the_initial_stdin_then_ends_at_eof() {
        let fake = FakeSandbox::new();
        let events = fake
            .start(job("echo", b"abc", false))
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(stdout(&events), b"abc");
    }

    #[tokio::test]
    async fn unknown_commands_are_compile_errors_and_kill_cancels() {
        let fake = FakeSandbox::new();
        let events = fake
            .start(job("frobnicate", b"", false))
            .await
            .unwrap()
            .collect()
            .await;
        assert!(
            matches!(events.last(), Some(ExecutionEvent::Finished(o)) if o.verdict == Verdict::CompileError)
        );

        let active = fake.start(job("wait", b"", true)).await.unwrap();
        active.input.send(InputCommand::Kill).await.unwrap();
        let events = active.collect().await;
        assert!(
            matches!(events.last(), Some(ExecutionEvent::Finished(o)) if o.verdict == Verdict::Cancelled)
        );
    }
}
