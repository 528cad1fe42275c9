//! Why the executor refused or could not do something.

use monaco_core::LimitsError;
use monaco_scheduler::{CancelError, InputError, SubmitError};

/// An executor operation failed; every variant has a stable dotted code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorError {
    /// The language is not in the registry.
    #[error("Unknown language {given:?}; known languages: {}", known.join(", "))]
    LanguageUnknown {
        /// What the client asked for.
        given: String,
        /// The ids the registry knows.
        known: Vec<String>,
    },
    /// The request has no code.
    #[error("The request has no code to run")]
    CodeMissing,
    /// The code (with its extra files) is larger than allowed.
    #[error("The code is {size} bytes; at most {max} are accepted")]
    CodeTooLarge {
        /// Bytes sent.
        size: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// An extra file's name is not acceptable.
    #[error("Invalid file: {0}")]
    InvalidFile(String),
    /// A program argument is not acceptable.
    #[error("Invalid argument: {0}")]
    InvalidArgument(String),
    /// The program arguments are too many or too long to start a program.
    #[error(
        "The program arguments ({count}, {bytes} bytes with their terminating NULs) \
         exceed the limits of {max_args} arguments and {max_bytes} bytes",
        max_args = crate::MAX_ARGS,
        max_bytes = crate::MAX_ARGS_BYTES
    )]
    ArgsTooLarge {
        /// Arguments given.
        count: usize,
        /// Their bytes, each with one more for its NUL.
        bytes: usize,
    },
    /// A limit is below the smallest value the sandbox can run with.
    #[error("limit `{field}` = {value} is below the minimum of {min}")]
    BelowMinimum {
        /// The field's name as the client spells it.
        field: &'static str,
        /// What was asked for.
        value: u64,
        /// The smallest value accepted.
        min: u64,
    },
    /// A requested limit is zero or above the server's maximum.
    #[error("{0}")]
    Limits(#[from] LimitsError),
    /// The queue is full.
    #[error("Too many executions are waiting; try again later")]
    QueueFull,
    /// The executor is shutting down.
    #[error("The server is shutting down")]
    ShuttingDown,
    /// No such execution.
    #[error("Could not find the execution")]
    NotFound,
    /// The execution is over.
    #[error("The execution has finished")]
    Finished,
    /// Too much input is waiting for the execution to start.
    #[error("Too much input is waiting for the execution to start")]
    InputBufferFull,
}

impl ExecutorError {
    /// A stable dotted code clients can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ExecutorError::LanguageUnknown { .. } => "language.unknown",
            ExecutorError::CodeMissing => "request.code_missing",
            ExecutorError::CodeTooLarge { .. } => "request.code_too_large",
            ExecutorError::InvalidFile(_) => "request.invalid_file",
            ExecutorError::InvalidArgument(_) => "request.invalid_argument",
            ExecutorError::ArgsTooLarge { .. } => "request.args_too_large",
            ExecutorError::BelowMinimum { .. } => "limits.below_minimum",
            ExecutorError::Limits(LimitsError::Zero { .. }) => "limits.zero",
            ExecutorError::Limits(LimitsError::AboveMaximum { .. }) => "limits.above_maximum",
            ExecutorError::QueueFull => "queue.full",
            ExecutorError::ShuttingDown => "server.shutting_down",
            ExecutorError::NotFound => "execution.not_found",
            ExecutorError::Finished => "execution.finished",
            ExecutorError::InputBufferFull => "input.buffer_full",
        }
    }
}

impl From<SubmitError> for ExecutorError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::QueueFull => ExecutorError::QueueFull,
            // Ids are fresh UUIDs; a clash is treated like a full queue.
            SubmitError::ShuttingDown => ExecutorError::ShuttingDown,
            SubmitError::DuplicateId(_) => ExecutorError::QueueFull,
        }
    }
}

impl From<InputError> for ExecutorError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::NotFound => ExecutorError::NotFound,
            InputError::Finished => ExecutorError::Finished,
            InputError::BufferFull => ExecutorError::InputBufferFull,
        }
    }
}

impl From<CancelError> for ExecutorError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => ExecutorError::NotFound,
            CancelError::Finished => ExecutorError::Finished,
        }
    }
}
