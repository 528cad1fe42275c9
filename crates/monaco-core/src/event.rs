//! What happens while an execution runs, in the order it happens.

use serde::{Deserialize, Serialize};

use crate::{CaseReport, ExecutionOutcome, Status, StepKind};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The program's standard output.
    Stdout,
    /// The program's standard error.
    Stderr,
}

/// Bytes a step printed, exactly as printed (not necessarily UTF-8, not
/// necessarily whole lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChunk {
    /// The step that printed it.
    pub step: StepKind,
    /// The stream it was printed on.
    pub stream: Stream,
    /// The bytes.
    pub data: Vec<u8>,
    /// The test case that printed it, for an execution with `tests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<u32>,
}

/// One entry of an execution's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExecutionEvent {
    /// The execution's status changed.
    Status {
        /// The new status.
        status: Status,
    },
    /// A step started.
    StepStarted {
        /// Which step.
        step: StepKind,
    },
    /// The program printed something.
    Output(OutputChunk),
    /// The program is blocked reading stdin; `prompt` is the partial line it
    /// printed last (`"Enter your name: "`), possibly empty.
    InputPrompt {
        /// The text after the last newline of stdout.
        prompt: String,
    },
    /// A test case started; output until it finishes belongs to it.
    CaseStarted {
        /// The case's index in the request's `tests`.
        index: u32,
    },
    /// A test case ended (or was skipped).
    CaseFinished(CaseReport),
    /// The execution finished; the last event of every log.
    Finished(Box<ExecutionOutcome>),
}
