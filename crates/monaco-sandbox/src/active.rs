//! The handle of a running job.

use monaco_core::ExecutionEvent;
use tokio::sync::mpsc;

/// Input for a running program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputCommand {
    /// Bytes for stdin, exactly as given.
    Bytes(Vec<u8>),
    /// Close stdin (EOF) once everything sent before is read.
    Close,
    /// Stop the job now; it ends `cancelled`.
    Kill,
}

/// A running job: send it input, receive its events.
///
/// The event stream ends with exactly one
/// [`ExecutionEvent::Finished`]. Dropping the handle (or both of its halves)
/// stops the job: its container is removed on every path.
#[derive(Debug)]
pub struct ActiveExecution {
    /// Input and control for the program.
    pub input: mpsc::Sender<InputCommand>,
    /// Events in the order they happened: step starts, output, input
    /// prompts, and finally `Finished`.
    pub events: mpsc::Receiver<ExecutionEvent>,
}

impl ActiveExecution {
    /// Collects every event until `Finished` (for callers that do not stream).
    pub async fn collect(mut self) -> Vec<ExecutionEvent> {
        let mut all = Vec::new();
        while let Some(e) = self.events.recv().await {
            let end = matches!(e, ExecutionEvent::Finished(_));
            all.push(e);
            if end {
                break;
            }
        }
        all
    }
}
