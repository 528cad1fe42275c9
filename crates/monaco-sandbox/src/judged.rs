//! Checker programs whose toolchain is in another image than the
//! program's: they judge in a sandbox of their own.
//!
//! A checker that shares the program's image runs inside the program's
//! sandbox, as a uid of its own, right after each case (the agent does it,
//! and each case's result is live). One whose language lives in another
//! image cannot: [`Judged`] wraps any [`Sandbox`] and, for a job with a
//! [`SeparateChecker`], runs the program's cases unjudged, holds back their
//! results while their output streams on, then runs the checker once per
//! case in a second sandbox of the checker's image (the case's input,
//! expected output and output as files, their paths as arguments) and
//! reports the judged cases and the outcome. The program has ended before
//! the checker starts, in another container: it can neither read, write
//! nor signal it.
//!
//! ```text
//! caller ◀── events ── relay task ◀── program's sandbox (cases, unjudged)
//!                          │ after the last case
//!                          └──▶ checker's sandbox (one case per judged case)
//! ```

use std::future::Future;

use monaco_core::protocol::{JobCase, JobCases, JobStep};
use monaco_core::{
    checker_message, testlib_verdict, CaseReport, ExecutionEvent, ExecutionId, ExecutionOutcome,
    SourceFile, StepKind, Stream, Verdict, CHECKER_MESSAGE_BYTES,
};
use tokio::sync::mpsc;

use crate::{ActiveExecution, Sandbox, SandboxError, SandboxJob, SeparateChecker};

/// Where each case's files are in the checker's work directory.
const CASES_DIR: &str = "cases";

/// A sandbox that also runs [`SeparateChecker`]s (see the module docs).
#[derive(Debug, Clone)]
pub struct Judged<S>(pub S);

impl<S: Sandbox + Clone> Sandbox for Judged<S> {
    fn start(
        &self,
        mut job: SandboxJob,
    ) -> impl Future<Output = Result<ActiveExecution, SandboxError>> + Send {
        let inner = self.0.clone();
        async move {
            let Some(checker) = job.separate_checker.take() else {
                return inner.start(job).await;
            };
            let cases: Vec<(Vec<u8>, Option<Vec<u8>>)> = job
                .cases
                .as_ref()
                .map(|c| {
                    c.cases
                        .iter()
                        .map(|c| (c.stdin.clone(), c.expected.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let program = inner.start(job).await?;
            let (events, caller) = mpsc::channel(1024);
            let relay = Relay {
                inner,
                checker,
                cases,
                events,
            };
            let input = program.input.clone();
            tokio::spawn(tracing::Instrument::in_current_span(relay.run(program)));
            Ok(ActiveExecution {
                input,
                events: caller,
            })
        }
    }

    fn healthy(&self) -> impl Future<Output = bool> + Send {
        self.0.healthy()
    }

    fn prewarm(&self, job: &SandboxJob) {
        self.0.prewarm(job);
    }

    fn warm_by_language(&self) -> Vec<(String, usize)> {
        self.0.warm_by_language()
    }

    fn settle(&self) -> impl Future<Output = ()> + Send {
        self.0.settle()
    }

    fn drain(&self) -> impl Future<Output = ()> + Send {
        self.0.drain()
    }
}

/// Forwards the program's events, and judges its cases at the end.
struct Relay<S> {
    inner: S,
    checker: SeparateChecker,
    /// Each case's stdin and expected output, by index.
    cases: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    events: mpsc::Sender<ExecutionEvent>,
}

/// A case that ran, waiting for its judgement.
struct Held {
    report: CaseReport,
    stdout: Vec<u8>,
}

impl<S: Sandbox> Relay<S> {
    async fn run(self, mut program: ActiveExecution) {
        let mut outputs: Vec<Vec<u8>> = vec![Vec::new(); self.cases.len()];
        let mut held: Vec<CaseReport> = Vec::new();
        let outcome = loop {
            let Some(event) = program.events.recv().await else {
                // The program's sandbox ended without an outcome: so does this.
                return;
            };
            match event {
                ExecutionEvent::Finished(outcome) => break *outcome,
                ExecutionEvent::CaseFinished(report) => held.push(report),
                ExecutionEvent::Output(chunk) => {
                    if let (Some(i), Stream::Stdout, StepKind::Run) =
                        (chunk.case, chunk.stream, chunk.step)
                    {
                        if let Some(out) = outputs.get_mut(i as usize) {
                            out.extend_from_slice(&chunk.data);
                        }
                    }
                    if self
                        .events
                        .send(ExecutionEvent::Output(chunk))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                other => {
                    if self.events.send(other).await.is_err() {
                        return;
                    }
                }
            }
        };
        // Stops the program's sandbox (it has ended) before the checker's.
        drop(program);
        let outcome = if outcome.tests.is_empty() || outcome.tests.len() != held.len() {
            // Compile error, cancel, a failure: nothing to judge.
            ExecutionOutcome {
                tests: held,
                ..outcome
            }
        } else {
            let held = held
                .into_iter()
                .map(|report| {
                    let i = report.index as usize;
                    Held {
                        stdout: outputs.get_mut(i).map(std::mem::take).unwrap_or_default(),
                        report,
                    }
                })
                .collect();
            let judged = self.judge(held).await;
            ExecutionOutcome::of_cases(outcome.compile, judged)
        };
        for case in &outcome.tests {
            let event = ExecutionEvent::CaseFinished(case.clone());
            if self.events.send(event).await.is_err() {
                return;
            }
        }
        let _ = self
            .events
            .send(ExecutionEvent::Finished(Box::new(outcome)))
            .await;
    }

    /// Runs the checker once per case that ran `ok` and has an expected
    /// output; the others keep their reports.
    async fn judge(&self, mut held: Vec<Held>) -> Vec<CaseReport> {
        let judged: Vec<usize> = held
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.report.report.verdict == Some(Verdict::Ok)
                    && self
                        .cases
                        .get(h.report.index as usize)
                        .is_some_and(|(_, expected)| expected.is_some())
            })
            .map(|(at, _)| at)
            .collect();
        if judged.is_empty() {
            return held.into_iter().map(|h| h.report).collect();
        }
        let verdicts = match self.run_checker(&held, &judged).await {
            Ok(v) => v,
            Err(why) => vec![(Verdict::InternalError, Some(why)); judged.len()],
        };
        for (&at, (verdict, message)) in judged.iter().zip(verdicts) {
            held[at].report.report.verdict = Some(verdict);
            held[at].report.checker_message = message;
        }
        held.into_iter().map(|h| h.report).collect()
    }

    /// The checker's verdict and message for each of `judged`, in order.
    async fn run_checker(
        &self,
        held: &[Held],
        judged: &[usize],
    ) -> Result<Vec<(Verdict, Option<String>)>, String> {
        let c = &self.checker;
        let mut files = c.files.clone();
        let mut cases = Vec::with_capacity(judged.len());
        for &at in judged {
            let h = &held[at];
            let i = h.report.index as usize;
            let dir = format!("{CASES_DIR}/{i}");
            let (stdin, expected) = &self.cases[i];
            let expected = expected.as_deref().unwrap_or_default();
            for (name, bytes) in [
                ("input", &stdin[..]),
                ("expected", expected),
                ("output", &h.stdout[..]),
            ] {
                files.push(SourceFile {
                    name: format!("{dir}/{name}"),
                    content: String::from_utf8_lossy(bytes).into_owned(),
                });
            }
            let mut argv = c.run.argv.clone();
            argv.extend(["input", "expected", "output"].map(|n| format!("{dir}/{n}")));
            cases.push(JobCase {
                argv,
                stdin: Vec::new(),
                expected: None,
            });
        }
        let job = SandboxJob {
            id: ExecutionId::new(),
            language: c.language.clone(),
            image: c.image.clone(),
            files,
            compile: c.compile.clone(),
            run: JobStep {
                argv: c.run.argv.clone(),
                env: c.run.env.clone(),
                limits: c.run.limits,
            },
            tty: false,
            stdin: Vec::new(),
            interactive: false,
            tmp_bytes: c.tmp_bytes,
            cases: Some(JobCases {
                cases,
                stop_on_first_failure: false,
                total_wall_ms: c.run.limits.wall_ms.saturating_mul(judged.len() as u64),
            }),
            expected: None,
            checker: None,
            separate_checker: None,
        };
        let mut checker = self
            .inner
            .start(job)
            .await
            .map_err(|e| format!("the checker could not start: {e}"))?;
        let mut first_lines: Vec<Vec<u8>> = vec![Vec::new(); judged.len()];
        let mut compile_output = Vec::new();
        let outcome = loop {
            match checker.events.recv().await {
                None => return Err("the checker's sandbox stopped before it finished".into()),
                Some(ExecutionEvent::Finished(o)) => break *o,
                Some(ExecutionEvent::Output(chunk)) => match (chunk.step, chunk.case) {
                    (StepKind::Compile, _) => compile_output.extend_from_slice(&chunk.data),
                    (StepKind::Run, Some(k)) if chunk.stream == Stream::Stdout => {
                        if let Some(line) = first_lines.get_mut(k as usize) {
                            if line.len() < CHECKER_MESSAGE_BYTES && !line.contains(&b'\n') {
                                line.extend_from_slice(&chunk.data);
                            }
                        }
                    }
                    _ => {}
                },
                Some(_) => {}
            }
        };
        if outcome.verdict == Verdict::CompileError {
            return Err(format!(
                "the checker did not compile: {}",
                checker_message(&compile_output).unwrap_or_default()
            ));
        }
        if outcome.tests.len() != judged.len() {
            return Err(outcome
                .message
                .unwrap_or_else(|| "the checker did not judge every case".into()));
        }
        Ok(outcome
            .tests
            .iter()
            .map(|t| {
                let message = checker_message(&first_lines[t.index as usize]);
                // A checker that failed, or was stopped, judged nothing.
                let verdict = match testlib_verdict(&t.report) {
                    Some(Verdict::Cancelled) | None => Verdict::InternalError,
                    Some(verdict) => verdict,
                };
                (verdict, message)
            })
            .collect())
    }
}
