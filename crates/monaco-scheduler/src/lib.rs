//! Monaco's scheduler: decides when each execution runs and remembers what
//! happened to it.
//!
//! It owns the worker pool (at most [`SchedulerConfig::workers`] executions
//! run at once on this node) and reaches everything else through an
//! [`ExecutionStore`]: the bounded queue, the registry of executions
//! (queued, running and recently finished) and each execution's
//! append-only event log, which any number of subscribers replay and follow
//! ([`EventSubscription`]). [`MemoryStore`] over a [`MemoryQueue`] is the
//! single-node store; a store shared by many nodes implements the same trait.
//!
//! It must not know about HTTP or Docker: it is generic over
//! [`monaco_sandbox::Sandbox`], so its logic is tested with a fake sandbox in
//! milliseconds, and it receives jobs whose commands are already resolved.
//!
//! Start reading at [`Scheduler`].

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod error;
mod execution;
mod queue;
mod retention;
mod scheduler;
mod store;

pub use error::{CancelError, InputError, SubmitError};
pub use execution::{
    CaseOutput, EventSubscription, ExecutionMeta, ExecutionSnapshot, MAX_PENDING_INPUT_BYTES,
};
pub use queue::{JobQueue, MemoryQueue, PushError};
pub use scheduler::{Scheduler, SchedulerConfig};
pub use store::{
    wait_through_log, Counts, EventFeed, ExecutionStore, Fenced, FinishReport, Lease, MemoryStore,
    StoreFuture, Taken, Unavailable,
};
