//! How an execution ended, and what each step measured.

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// Where an execution is in its life (the original service's statuses,
/// with its meaning: `completed` only for a program that ran and succeeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker is running it.
    Running,
    /// It ended with verdict `ok`: it ran, exited 0 and (with an expected
    /// output) printed it.
    Completed,
    /// It ended with any other verdict: a compile error, a non-zero exit, a
    /// signal, a limit, a wrong answer, a cancel or an internal error.
    Failed,
}

impl Status {
    /// Whether no further change can happen.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

/// The outcome of an execution, or of one step of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Ran and exited 0 (and, with an expected output, printed it).
    Ok,
    /// Ran and exited 0, but its output is not the expected one.
    WrongAnswer,
    /// The compile step failed.
    CompileError,
    /// Exited non-zero or was killed by a signal it caused.
    RuntimeError,
    /// Used more wall or CPU time than allowed.
    TimeLimitExceeded,
    /// Used more memory than allowed (the OOM killer acted).
    MemoryLimitExceeded,
    /// Printed more than allowed on a stream.
    OutputLimitExceeded,
    /// Stopped on request.
    Cancelled,
    /// Monaco failed; the program is not to blame.
    InternalError,
    /// A test case that did not run (`stopOnFirstFailure` after a failure,
    /// or the execution's total time ran out).
    Skipped,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: &'static [Verdict] = &[
        Verdict::Ok,
        Verdict::WrongAnswer,
        Verdict::CompileError,
        Verdict::RuntimeError,
        Verdict::TimeLimitExceeded,
        Verdict::MemoryLimitExceeded,
        Verdict::OutputLimitExceeded,
        Verdict::Cancelled,
        Verdict::InternalError,
        Verdict::Skipped,
    ];

    /// The verdict as clients see it (`time_limit_exceeded`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::WrongAnswer => "wrong_answer",
            Verdict::CompileError => "compile_error",
            Verdict::RuntimeError => "runtime_error",
            Verdict::TimeLimitExceeded => "time_limit_exceeded",
            Verdict::MemoryLimitExceeded => "memory_limit_exceeded",
            Verdict::OutputLimitExceeded => "output_limit_exceeded",
            Verdict::Cancelled => "cancelled",
            Verdict::InternalError => "internal_error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Precedence when several apply (higher wins): internal error,
    /// cancelled, output limit, time limit, memory limit, compile error,
    /// runtime error, wrong answer, skipped, ok.
    pub fn precedence(self) -> u8 {
        match self {
            Verdict::InternalError => 10,
            Verdict::Cancelled => 9,
            Verdict::OutputLimitExceeded => 8,
            Verdict::TimeLimitExceeded => 7,
            Verdict::MemoryLimitExceeded => 6,
            Verdict::CompileError => 5,
            Verdict::RuntimeError => 4,
            Verdict::WrongAnswer => 3,
            Verdict::Skipped => 2,
            Verdict::Ok => 1,
        }
    }

    /// The final status of an execution that ended with this verdict: the
    /// one place that decides it, for every surface that reports it.
    /// `completed` exactly when the verdict is `ok`, `failed` otherwise, as
    /// the original service reported it.
    pub fn final_status(self) -> Status {
        match self {
            Verdict::Ok => Status::Completed,
            _ => Status::Failed,
        }
    }

    /// The verdict of an execution whose test cases ended so: the first
    /// case that did not pass decides (`Ok` when every case passed).
    pub fn of_cases(cases: &[CaseReport]) -> Verdict {
        cases
            .iter()
            .filter_map(|c| c.report.verdict)
            .find(|v| !matches!(v, Verdict::Ok | Verdict::Skipped))
            .unwrap_or(Verdict::Ok)
    }

    /// The verdict that wins among `candidates`, `Ok` when there is none.
    pub fn strongest(candidates: impl IntoIterator<Item = Verdict>) -> Verdict {
        candidates
            .into_iter()
            .max_by_key(|v| v.precedence())
            .unwrap_or(Verdict::Ok)
    }
}

/// Which step of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Turning the source into something runnable.
    Compile,
    /// Running the program.
    Run,
}

/// What one step did and measured.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's verdict taken alone.
    pub verdict: Option<Verdict>,
    /// Exit code when the process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the process was killed by a signal.
    pub signal: Option<i32>,
    /// Wall-clock time, milliseconds.
    pub wall_ms: u64,
    /// The same wall-clock time in microseconds, for measurements finer
    /// than a millisecond (a benchmark's split of where the time goes;
    /// `wallUs` in the HTTP API); 0 when not measured.
    #[serde(default)]
    pub wall_us: u64,
    /// CPU time of the process tree (user + system), milliseconds.
    pub cpu_ms: u64,
    /// Peak memory, bytes.
    pub memory_bytes: u64,
    /// Whether output was cut at the output limit.
    pub truncated: bool,
}

/// How one test case ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseReport {
    /// The case's index in the request's `tests`, from 0.
    pub index: u32,
    /// What the case's run did and measured; its verdict is the case's
    /// (`wrong_answer` from the checker, `skipped` when it did not run).
    pub report: StepReport,
    /// The checker's first line of output, when a checker program judged it.
    pub checker_message: Option<String>,
}

impl CaseReport {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.report.verdict == Some(Verdict::Ok)
    }
}

/// The final result of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionOutcome {
    /// `completed` (verdict `ok`) or `failed` (any other verdict).
    pub status: Status,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The compile step, for languages that compile and when it ran.
    pub compile: Option<StepReport>,
    /// The run step, when it ran.
    pub run: Option<StepReport>,
    /// A human-readable reason for `internal_error` or `cancelled`.
    pub message: Option<String>,
    /// A stable dotted code for `internal_error` (`docker.unavailable`)
    /// and `cancelled`.
    pub error_code: Option<ErrorCode>,
    /// Each test case, in order, for an execution with `tests` (then
    /// `run` is `None`: each case has its own run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<CaseReport>,
}

impl ExecutionOutcome {
    /// An execution Monaco could not carry out.
    pub fn internal(code: ErrorCode, message: impl Into<String>) -> Self {
        ExecutionOutcome {
            status: Verdict::InternalError.final_status(),
            verdict: Verdict::InternalError,
            compile: None,
            run: None,
            message: Some(message.into()),
            error_code: Some(code),
            tests: Vec::new(),
        }
    }

    /// An execution whose test cases all ran (or were skipped) after its
    /// compile step, if any, succeeded: the first case that did not pass
    /// decides the verdict; a checker that failed makes it an internal error
    /// with code `checker.failed` and the checker's message.
    pub fn of_cases(compile: Option<StepReport>, tests: Vec<CaseReport>) -> Self {
        let verdict = Verdict::of_cases(&tests);
        let (error_code, message) = if verdict == Verdict::InternalError {
            let why = tests
                .iter()
                .find(|c| c.report.verdict == Some(Verdict::InternalError))
                .and_then(|c| c.checker_message.clone())
                .unwrap_or_else(|| "the checker failed".into());
            (Some(ErrorCode::CheckerFailed), Some(why))
        } else {
            (None, None)
        };
        ExecutionOutcome {
            status: verdict.final_status(),
            verdict,
            compile,
            run: None,
            message,
            error_code,
            tests,
        }
    }

    /// An execution stopped on request before it finished.
    pub fn cancelled() -> Self {
        ExecutionOutcome {
            status: Verdict::Cancelled.final_status(),
            verdict: Verdict::Cancelled,
            compile: None,
            run: None,
            message: Some("the execution was cancelled".into()),
            error_code: Some(ErrorCode::ExecutionCancelled),
            tests: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_are_their_json() {
        for &v in Verdict::ALL {
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", v.as_str())
            );
        }
        assert_eq!(Verdict::ALL.len(), 10);
    }

    #[test]
    fn precedence_matches_design() {
        use Verdict::*;
        assert_eq!(Verdict::strongest([Ok, RuntimeError]), RuntimeError);
        assert_eq!(
            Verdict::strongest([MemoryLimitExceeded, TimeLimitExceeded]),
            TimeLimitExceeded
        );
        assert_eq!(
            Verdict::strongest([TimeLimitExceeded, OutputLimitExceeded]),
            OutputLimitExceeded
        );
        assert_eq!(
            Verdict::strongest([OutputLimitExceeded, InternalError]),
            InternalError
        );
        assert_eq!(Verdict::strongest([]), Ok);
    }

    #[test]
    fn completed_exactly_when_ok() {
        use Verdict::*;
        let all = [
            Ok,
            WrongAnswer,
            CompileError,
            RuntimeError,
            TimeLimitExceeded,
            MemoryLimitExceeded,
            OutputLimitExceeded,
            Cancelled,
            InternalError,
            Skipped,
        ];
        for v in all {
            let want = if v == Ok {
                Status::Completed
            } else {
                Status::Failed
            };
            assert_eq!(v.final_status(), want, "{v:?}");
        }
    }

    #[test]
    fn verdict_serializes_snake_case() {
        assert_eq!(
            serde_json::to_string(&Verdict::TimeLimitExceeded).unwrap(),
            "\"time_limit_exceeded\""
        );
    }
}
