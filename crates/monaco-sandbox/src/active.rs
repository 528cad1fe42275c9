//! The handle of a running job.

use monaco_core::ExecutionEvent;
use tokio::sync::{mpsc, watch};

/// Input for a running program.
///
/// Serialisable (`{"type":"bytes","data":[..]}`, `{"type":"close"}`,
/// `{"type":"kill"}`), so that input and control can travel through a
/// broker to the node running the job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum InputCommand {
    /// Bytes for stdin, exactly as given.
    Bytes(Vec<u8>),
    /// Close stdin (EOF) once everything sent before is read.
    Close,
    /// Stop the job now; it ends `cancelled`.
    Kill,
}

impl InputCommand {
    /// The stdin bytes it carries (what counts against an input buffer).
    pub fn byte_len(&self) -> usize {
        match self {
            InputCommand::Bytes(bytes) => bytes.len(),
            InputCommand::Close | InputCommand::Kill => 0,
        }
    }
}

/// Sends input to a running job.
///
/// Input is a bounded, ordered channel: a program that does not read its
/// stdin makes `send` wait (backpressure all the way to the client). A
/// kill must never wait behind input, so [`InputCommand::Kill`] does not
/// queue: it trips a switch the sandbox watches.
#[derive(Debug, Clone)]
pub struct InputSender {
    tx: mpsc::Sender<InputCommand>,
    kill: std::sync::Arc<watch::Sender<bool>>,
}

impl InputSender {
    /// A sender over `tx`, with a kill switch whose other end is returned.
    pub fn new(tx: mpsc::Sender<InputCommand>) -> (InputSender, watch::Receiver<bool>) {
        let (kill, killed) = watch::channel(false);
        (
            InputSender {
                tx,
                kill: std::sync::Arc::new(kill),
            },
            killed,
        )
    }

    /// Sends a command; waits while the program is behind on its input.
    /// Fails once the job no longer takes input (it is ending).
    pub async fn send(
        &self,
        cmd: InputCommand,
    ) -> Result<(), mpsc::error::SendError<InputCommand>> {
        if cmd == InputCommand::Kill {
            if self.tx.is_closed() {
                return Err(mpsc::error::SendError(cmd));
            }
            self.kill.send_replace(true);
            // Also in order, for sandboxes that only read the channel; if it
            // is full the switch alone does it.
            let _ = self.tx.try_send(InputCommand::Kill);
            return Ok(());
        }
        self.tx.send(cmd).await
    }
}

impl From<mpsc::Sender<InputCommand>> for InputSender {
    fn from(tx: mpsc::Sender<InputCommand>) -> Self {
        InputSender::new(tx).0
    }
}

/// A running job: send it input, receive its events.
///
/// The event stream ends with exactly one
/// [`ExecutionEvent::Finished`]. Dropping the handle (or both of its halves)
/// stops the job: its container is removed on every path.
#[derive(Debug)]
pub struct ActiveExecution {
    /// Input and control for the program.
    pub input: InputSender,
    /// Events in the order they happened: step starts, output, input
    /// prompts, and finally `Finished`.
    pub events: mpsc::Receiver<ExecutionEvent>,
}

impl ActiveExecution {
    /// Collects every event until `Finished` (for callers that do not stream).
    pub async fn collect(self) -> Vec<ExecutionEvent> {
        self.collect_observing(|_| {}).await
    }

    /// [`collect`](Self::collect), showing each event to `observe` as it
    /// arrives (a benchmark notes when).
    pub async fn collect_observing(
        mut self,
        mut observe: impl FnMut(&ExecutionEvent),
    ) -> Vec<ExecutionEvent> {
        let mut all = Vec::new();
        while let Some(e) = self.events.recv().await {
            observe(&e);
            let end = matches!(e, ExecutionEvent::Finished(_));
            all.push(e);
            if end {
                break;
            }
        }
        all
    }
}
