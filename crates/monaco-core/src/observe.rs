//! What the layers report as they work, for whoever measures them.
//!
//! The scheduler and the sandbox call an [`Observer`] where the facts are
//! (an execution finished, a warm container was taken or missed, a
//! container started); the HTTP layer implements it over Prometheus
//! metrics. Every method has a no-op default, and [`NoObserver`] is what a
//! layer gets when nobody measures it, so an embedder who configures
//! nothing pays nothing.
//!
//! Labels a measurer may derive from these calls are bounded: languages
//! are the registry's ids (never what a client typed), verdicts the
//! [`Verdict`] enum.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Verdict;

/// How long one finished execution spent in each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedExecution<'a> {
    /// The language's registry id.
    pub language: &'a str,
    /// How it ended.
    pub verdict: Verdict,
    /// From submission until a worker took it; `None` when it never
    /// left the queue (cancelled while waiting).
    pub queue: Option<Duration>,
    /// The compile step's wall time, when it ran.
    pub compile: Option<Duration>,
    /// The run step's wall time (every test case's together), when it ran.
    pub run: Option<Duration>,
    /// From submission until it finished.
    pub total: Duration,
}

/// Receives what the layers report. Implementations must be cheap and must
/// never block: they are called on the execution's path.
pub trait Observer: Send + Sync + fmt::Debug + 'static {
    /// An execution finished (ran to its end, failed or was cancelled);
    /// called exactly once per execution.
    fn execution_finished(&self, execution: &FinishedExecution<'_>) {
        let _ = execution;
    }

    /// A job of `language` looked for a warm container: `hit` when it got one.
    fn pool_take(&self, language: &str, hit: bool) {
        let _ = (language, hit);
    }

    /// A container for `language` was created and started (its agent ready)
    /// in `took`, for a job or for the warm pool.
    fn container_started(&self, language: &str, took: Duration) {
        let _ = (language, took);
    }
}

/// Observes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// A shared observer, as the layers hold it.
pub type SharedObserver = Arc<dyn Observer>;

/// The observer of a layer nobody measures.
pub fn no_observer() -> SharedObserver {
    Arc::new(NoObserver)
}
