//! The wire protocol between the host and the agent inside a sandbox.
//!
//! The host talks to the agent over the container's attached stdin and
//! stdout. Both directions carry frames:
//!
//! ```text
//! +----------------+-----+-------------------+
//! | length: u32 BE | tag | payload           |   length = 1 + payload length
//! +----------------+-----+-------------------+
//! ```
//!
//! Tag [`TAG_CONTROL`] carries a JSON message ([`HostMessage`] or
//! [`AgentMessage`]); the data tags carry raw bytes so that output and input
//! cross unchanged and without an encoding step: [`TAG_STDIN`] from the host,
//! [`TAG_STDOUT`] and [`TAG_STDERR`] from the agent.

use serde::{Deserialize, Serialize};

use crate::{CaseReport, Comparison, StepKind, StepLimits, StepReport, Stream};

/// A JSON control message.
pub const TAG_CONTROL: u8 = 1;
/// Bytes for the program's stdin (host → agent).
pub const TAG_STDIN: u8 = 2;
/// Bytes the program wrote to stdout (agent → host).
pub const TAG_STDOUT: u8 = 3;
/// Bytes the program wrote to stderr (agent → host).
pub const TAG_STDERR: u8 = 4;

/// Frames larger than this are refused as corrupt.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Where the agent writes the job's files and runs its steps.
pub const WORK_DIR: &str = "/work";

/// A file the agent writes into the work directory before the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFile {
    /// Path relative to the work directory, already validated by the host.
    pub path: String,
    /// The file's content.
    pub content: String,
}

/// One command the agent runs, with its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStep {
    /// The program and its arguments (never a shell string).
    pub argv: Vec<String>,
    /// The complete environment of the step.
    pub env: Vec<(String, String)>,
    /// The step's limits.
    pub limits: StepLimits,
}

/// One test case as the agent runs it: the run step's command for it, its
/// whole stdin, and what it should print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCase {
    /// The run command with this case's arguments.
    pub argv: Vec<String>,
    /// The case's stdin; closed after it.
    pub stdin: Vec<u8>,
    /// The expected stdout, when the case is checked.
    pub expected: Option<Vec<u8>>,
}

/// How the agent judges a case's output against its expected output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobChecker {
    /// A built-in comparison.
    Compare {
        /// Which one.
        comparison: Comparison,
    },
    /// A checker program, compiled once before the cases and run after
    /// each as its own uid, out of the program's reach, with the paths of
    /// the case's input, expected output and output as arguments.
    Program {
        /// The checker's files (written where only the checker's uid can
        /// read or write them).
        files: Vec<JobFile>,
        /// The checker's compile step, if its language has one.
        compile: Option<JobStep>,
        /// The checker's run step; the three paths are appended.
        run: JobStep,
        /// The uid and gid the checker runs as (not the program's).
        uid: u32,
    },
}

/// The test cases of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCases {
    /// The cases, in order.
    pub cases: Vec<JobCase>,
    /// Skip the rest once a case does not pass.
    pub stop_on_first_failure: bool,
    /// Wall time of all cases together, milliseconds.
    pub total_wall_ms: u64,
}

/// Everything the agent needs to carry out one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Files to write first.
    pub files: Vec<JobFile>,
    /// The compile step, if the language has one.
    pub compile: Option<JobStep>,
    /// The run step.
    pub run: JobStep,
    /// Give the run step a terminal for stdin and stdout (so that C's stdio
    /// flushes a prompt before reading), instead of pipes.
    pub tty: bool,
    /// Give the run step a terminal for stdin only (stdout and stderr stay
    /// pipes), as an interactive run gets when `tty` is off: a program that
    /// stops reading then ends as it would in a terminal (Node keeps running
    /// while a pipe on its stdin is open, even after `rl.close()`), and what
    /// it prints stays byte for byte what it wrote (on a terminal as stdout,
    /// Node's readline would echo the input and add cursor escapes).
    #[serde(default)]
    pub stdin_tty: bool,
    /// After a successful compile step, wait for [`HostMessage::Continue`]
    /// before running (the host adjusts the sandbox's limits in between).
    pub pause_after_compile: bool,
    /// The uid and gid the steps run as.
    pub uid: u32,
    /// Test cases: when present, the run step is not run as such; each case
    /// runs its own command (`run`'s limits and environment) in turn, the
    /// work directory restored to how the compile step left it and /tmp
    /// emptied before each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<JobCases>,
    /// What a plain run's stdout should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Vec<u8>>,
    /// How outputs with an expected output are judged: the plain run's
    /// (`expected`) and each case's. Absent: nothing is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<JobChecker>,
}

/// A control message from the host to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage {
    /// Run this job (sent once).
    Job(Box<Job>),
    /// Carry on with the run step (after `pause_after_compile`).
    Continue,
    /// Close the program's stdin once the bytes sent so far are read.
    CloseStdin,
    /// Stop everything now; the verdict is `cancelled`.
    Kill,
}

/// A control message from the agent to the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// The agent is up and waiting for its job.
    Ready {
        /// The agent's protocol version.
        version: u32,
    },
    /// A step started; output frames that follow belong to it.
    StepStarted {
        /// Which step.
        step: StepKind,
    },
    /// The program is blocked reading stdin with nothing to read.
    WaitingForInput,
    /// Stdin bytes written to the program (or discarded after it closed its
    /// stdin) so far, in all; the host sends more only as these go.
    StdinWritten {
        /// Running total of bytes.
        total: u64,
    },
    /// A step ended.
    StepFinished {
        /// Which step.
        step: StepKind,
        /// What it did.
        report: StepReport,
    },
    /// A test case started; output frames until it finishes belong to it.
    CaseStarted {
        /// The case's index.
        index: u32,
    },
    /// A test case ended, or was skipped.
    CaseFinished(CaseReport),
    /// The job is over; the agent exits after this.
    Done,
    /// The agent could not carry out the job.
    Failed {
        /// Why.
        message: String,
    },
}

/// The protocol version the agent announces in [`AgentMessage::Ready`].
pub const VERSION: u32 = 1;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A control message, still JSON.
    Control(Vec<u8>),
    /// Input bytes.
    Stdin(Vec<u8>),
    /// Output bytes on a stream.
    Output(Stream, Vec<u8>),
}

/// A frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is zero or above [`MAX_FRAME`].
    #[error("frame length {0} is out of range")]
    BadLength(usize),
    /// The tag is not one of the known ones.
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
}

/// Encodes a frame with `tag` and `payload`.
pub fn encode(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
    out.push(tag);
    out.extend_from_slice(payload);
    out
}

/// Encodes a control message.
pub fn encode_control<M: Serialize>(msg: &M) -> Vec<u8> {
    // Serializing these plain enums cannot fail.
    let json = serde_json::to_vec(msg).expect("control messages serialize");
    encode(TAG_CONTROL, &json)
}

/// Accumulates bytes and yields whole frames.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let avail = &self.buf[self.start..];
        if avail.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize;
        if len == 0 || len > MAX_FRAME {
            return Some(Err(FrameError::BadLength(len)));
        }
        if avail.len() < 4 + len {
            return None;
        }
        let tag = avail[4];
        let payload = avail[5..4 + len].to_vec();
        self.start += 4 + len;
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some(match tag {
            TAG_CONTROL => Ok(Frame::Control(payload)),
            TAG_STDIN => Ok(Frame::Stdin(payload)),
            TAG_STDOUT => Ok(Frame::Output(Stream::Stdout, payload)),
            TAG_STDERR => Ok(Frame::Output(Stream::Stderr, payload)),
            other => Err(FrameError::UnknownTag(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_when_split_anywhere() {
        let mut wire = encode(TAG_STDOUT, b"hello\n");
        wire.extend(encode_control(&AgentMessage::WaitingForInput));
        wire.extend(encode(TAG_STDERR, &[0, 255, 10]));
        for split in 0..wire.len() {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            d.push(&wire[..split]);
            while let Some(f) = d.next_frame() {
                got.push(f.unwrap());
            }
            d.push(&wire[split..]);
            while let Some(f) = d.next_frame() {
                got.push(f.unwrap());
            }
            assert_eq!(got.len(), 3, "split at {split}");
            assert_eq!(got[0], Frame::Output(Stream::Stdout, b"hello\n".to_vec()));
            let Frame::Control(json) = &got[1] else {
                panic!("expected control")
            };
            let msg: AgentMessage = serde_json::from_slice(json).unwrap();
            assert_eq!(msg, AgentMessage::WaitingForInput);
            assert_eq!(got[2], Frame::Output(Stream::Stderr, vec![0, 255, 10]));
        }
    }

    #[test]
    fn corrupt_length_is_an_error() {
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 0, 1]);
        assert_eq!(d.next_frame(), Some(Err(FrameError::BadLength(0))));
        let mut d = FrameDecoder::new();
        d.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::BadLength(_)))
        ));
    }

    #[test]
    fn unknown_tag_is_an_error() {
        let mut d = FrameDecoder::new();
        d.push(&encode(9, b"x"));
        assert_eq!(d.next_frame(), Some(Err(FrameError::UnknownTag(9))));
    }
}
