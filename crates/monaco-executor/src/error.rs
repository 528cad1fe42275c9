//! Why the executor refused or could not do something.

use monaco_core::{ErrorCode, LimitsError};
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
    /// The test cases cannot be run as given.
    #[error("Invalid tests: {0}")]
    InvalidTests(String),
    /// The checker cannot be used as given.
    #[error("Invalid checker: {0}")]
    InvalidChecker(String),
    /// The cluster's broker (the shared store) did not answer.
    #[error("The cluster's broker is unavailable; try again later")]
    BrokerUnavailable,
}

impl ExecutorError {
    /// A stable dotted code clients can switch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecutorError::LanguageUnknown { .. } => ErrorCode::LanguageUnknown,
            ExecutorError::CodeMissing => ErrorCode::RequestCodeMissing,
            ExecutorError::CodeTooLarge { .. } => ErrorCode::RequestCodeTooLarge,
            ExecutorError::InvalidFile(_) => ErrorCode::RequestInvalidFile,
            ExecutorError::InvalidArgument(_) => ErrorCode::RequestInvalidArgument,
            ExecutorError::ArgsTooLarge { .. } => ErrorCode::RequestArgsTooLarge,
            ExecutorError::BelowMinimum { .. } => ErrorCode::LimitsBelowMinimum,
            ExecutorError::Limits(LimitsError::Zero { .. }) => ErrorCode::LimitsZero,
            ExecutorError::Limits(LimitsError::AboveMaximum { .. }) => {
                ErrorCode::LimitsAboveMaximum
            }
            ExecutorError::QueueFull => ErrorCode::QueueFull,
            ExecutorError::ShuttingDown => ErrorCode::ServerShuttingDown,
            ExecutorError::NotFound => ErrorCode::ExecutionNotFound,
            ExecutorError::Finished => ErrorCode::ExecutionFinished,
            ExecutorError::InputBufferFull => ErrorCode::InputBufferFull,
            ExecutorError::InvalidTests(_) => ErrorCode::RequestInvalidTests,
            ExecutorError::InvalidChecker(_) => ErrorCode::RequestInvalidChecker,
            ExecutorError::BrokerUnavailable => ErrorCode::BrokerUnavailable,
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
            SubmitError::Unavailable(_) => ExecutorError::BrokerUnavailable,
        }
    }
}

impl From<InputError> for ExecutorError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::NotFound => ExecutorError::NotFound,
            InputError::Finished => ExecutorError::Finished,
            InputError::BufferFull => ExecutorError::InputBufferFull,
            InputError::Unavailable(_) => ExecutorError::BrokerUnavailable,
        }
    }
}

impl From<CancelError> for ExecutorError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => ExecutorError::NotFound,
            CancelError::Finished => ExecutorError::Finished,
            CancelError::Unavailable(_) => ExecutorError::BrokerUnavailable,
        }
    }
}

impl From<monaco_scheduler::Unavailable> for ExecutorError {
    fn from(_: monaco_scheduler::Unavailable) -> Self {
        ExecutorError::BrokerUnavailable
    }
}
