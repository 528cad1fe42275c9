//! What a client asks Monaco to run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Checker, LimitsOverride};

/// Identifies one execution for its whole life (queued, running, finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutionId(pub Uuid);

impl ExecutionId {
    /// A new random id.
    pub fn new() -> Self {
        ExecutionId(Uuid::new_v4())
    }
}

impl Default for ExecutionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ExecutionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(ExecutionId)
    }
}

/// An extra source file sent beside the main program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// A plain file name relative to the work directory (`util.py`,
    /// `lib/helper.h`); no `..`, no absolute path.
    pub name: String,
    /// The file's text.
    pub content: String,
}

/// One test case: its input, what the program should print, its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TestCase {
    /// A name to report it by.
    pub name: Option<String>,
    /// The case's stdin (closed after it).
    pub stdin: Vec<u8>,
    /// What the program should print on stdout, compared by the checker.
    pub expected_output: Option<Vec<u8>>,
    /// Arguments for this case instead of the request's.
    pub args: Option<Vec<String>>,
}

/// One program to run: the language, its source, its input and its limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutionRequest {
    /// A language id or alias from the registry (`python`, `golang`, `c++`).
    pub language: String,
    /// The main source file's text.
    pub code: String,
    /// Further files written beside the main one.
    pub files: Vec<SourceFile>,
    /// Bytes given to the program's stdin before any typed input.
    pub stdin: Vec<u8>,
    /// Whether stdin stays open after `stdin` for input typed while the
    /// program runs (closed with an explicit EOF). When false, stdin is closed
    /// right after `stdin`.
    pub interactive: bool,
    /// Arguments passed to the program after its run command.
    pub args: Vec<String>,
    /// Adjustments to the language's limits, within the server's maximums.
    pub limits: LimitsOverride,
    /// Test cases: compiled once, each case run in turn in the same sandbox
    /// with the run step's limits, nothing carried over between them.
    pub tests: Vec<TestCase>,
    /// What a plain execution (without `tests`) should print on stdout.
    pub expected_output: Option<Vec<u8>>,
    /// How outputs are compared with expected outputs (default: trim).
    pub checker: Option<Checker>,
    /// Skip the remaining cases once one fails.
    pub stop_on_first_failure: bool,
}
