//! Why the scheduler refused a submission, input or a cancel.

use monaco_core::{ErrorCode, ExecutionId};

/// An execution could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// As many executions as the queue holds are already waiting.
    #[error("Too many executions are waiting; try again later")]
    QueueFull,
    /// The scheduler is shutting down and accepts nothing new.
    #[error("The scheduler is shutting down")]
    ShuttingDown,
    /// An execution with this id is already known.
    #[error("An execution with id {0} already exists")]
    DuplicateId(ExecutionId),
    /// The shared store did not answer; nothing was queued.
    #[error("The cluster's broker is unavailable: {0}")]
    Unavailable(String),
}

impl SubmitError {
    /// A stable dotted code for clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            SubmitError::QueueFull => ErrorCode::QueueFull,
            SubmitError::ShuttingDown => ErrorCode::ServerShuttingDown,
            SubmitError::DuplicateId(_) => ErrorCode::ExecutionDuplicateId,
            SubmitError::Unavailable(_) => ErrorCode::BrokerUnavailable,
        }
    }
}

/// Input could not be given to an execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// No such execution (never submitted, or already forgotten).
    #[error("Could not find the execution")]
    NotFound,
    /// The execution is over and takes no more input.
    #[error("The execution has finished")]
    Finished,
    /// Too much input is already waiting for the execution to start.
    #[error("Too much input is waiting for the execution to start")]
    BufferFull,
    /// The shared store did not answer.
    #[error("The cluster's broker is unavailable: {0}")]
    Unavailable(String),
}

impl InputError {
    /// A stable dotted code for clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            InputError::NotFound => ErrorCode::ExecutionNotFound,
            InputError::Finished => ErrorCode::ExecutionFinished,
            InputError::BufferFull => ErrorCode::InputBufferFull,
            InputError::Unavailable(_) => ErrorCode::BrokerUnavailable,
        }
    }
}

/// An execution could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No such execution (never submitted, or already forgotten).
    #[error("Could not find the execution")]
    NotFound,
    /// The execution is already over.
    #[error("The execution has finished")]
    Finished,
    /// The shared store did not answer.
    #[error("The cluster's broker is unavailable: {0}")]
    Unavailable(String),
}

impl CancelError {
    /// A stable dotted code for clients.
    pub fn code(&self) -> ErrorCode {
        match self {
            CancelError::NotFound => ErrorCode::ExecutionNotFound,
            CancelError::Finished => ErrorCode::ExecutionFinished,
            CancelError::Unavailable(_) => ErrorCode::BrokerUnavailable,
        }
    }
}
