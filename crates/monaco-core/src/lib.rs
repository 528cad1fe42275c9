//! Monaco's domain types, shared by every other crate.
//!
//! This crate owns the vocabulary: execution ids, what a client asks to run
//! ([`ExecutionRequest`]), the limits it runs under ([`Limits`]), what happens
//! while it runs ([`ExecutionEvent`]), how it ended ([`Verdict`],
//! [`StepReport`], [`ExecutionOutcome`]) and the framed wire protocol between
//! the host and the agent inside each sandbox ([`protocol`]).
//!
//! It must not do I/O: no files, no sockets, no clocks, no Docker. Everything
//! here is plain data and pure functions, so that every layer can depend on
//! it and the agent can be linked statically without an async runtime.

mod checker;
mod error_code;
mod event;
mod limits;
pub mod observe;
pub mod protocol;
mod request;
mod verdict;

pub use checker::{
    checker_message, testlib_verdict, Checker, Comparison, CHECKER_MESSAGE_BYTES,
    DEFAULT_ABS_TOLERANCE,
};
pub use error_code::{ErrorCode, UnknownErrorCode};
pub use event::{ExecutionEvent, OutputChunk, Stream};
pub use limits::{
    LimitField, LimitScope, LimitTooWide, LimitUnit, Limits, LimitsError, LimitsOverride,
    StepLimits, MIN_MEMORY_BYTES,
};
pub use request::{ExecutionId, ExecutionRequest, SourceFile, TestCase};
pub use verdict::{CaseReport, ExecutionOutcome, Status, StepKind, StepReport, Verdict};
