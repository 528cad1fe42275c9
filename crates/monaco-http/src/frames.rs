//! The WebSocket terminal's messages, both ways, as types.
//!
//! Server frames are `{"type": …, "content": …}`: `status`, `system`,
//! `output`, `input_prompt` and `error` ([`ServerFrame`]). Client frames in
//! JSON are `{"type": "input" | "stdin" | "eof" | "kill", …}`
//! ([`ClientMessage`]); raw text and binary frames are read by the session.

use base64::Engine;
use monaco_executor::{
    ErrorCode, ExecutionEvent, ExecutionOutcome, OutputChunk, Status, StepKind, Stream, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::dto::{CaseFields, OutcomeFields};

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "content", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The execution's status; the final one carries the outcome.
    Status(StatusContent),
    /// A step began (`compiling`, `running`), or the server announces it
    /// will close the socket (`Connection will close in 5 seconds`).
    System(String),
    /// Bytes the program printed.
    Output(OutputContent),
    /// The program waits for input; the partial line it printed.
    InputPrompt(String),
    /// A test case started (`status: running`) or ended (its result).
    Test(TestContent),
    /// A client message could not be carried out, or the program went over
    /// a limit (sent just before the final `status`).
    Error(ErrorContent),
}

/// The content of a `status` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusContent {
    /// `queued`, `running`, `completed` or `failed`.
    pub status: Status,
    /// Present in the final frame only: the same fields as `/api/result`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeFields>,
}

/// The content of a `test` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestContent {
    /// The case's index in the request's `tests`.
    pub index: u32,
    /// `running`, then `completed` (or `skipped`) with the result.
    pub status: &'static str,
    /// The result, once the case ended.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub result: Option<CaseFields>,
}

/// The content of an `output` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputContent {
    /// The bytes as text (a UTF-8 sequence split across chunks is joined).
    pub text: String,
    /// Whether they came from stderr.
    pub is_error: bool,
    /// The step that printed them.
    pub step: StepKind,
    /// The test case that printed them, in an execution with `tests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<u32>,
    /// The exact bytes, when they are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

/// The content of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorContent {
    /// What kind of error: a stable code.
    pub error_type: ErrorType,
    /// What went wrong, for people.
    pub message: String,
}

/// The `errorType` of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ErrorType {
    /// A client message could not be carried out: its dotted code.
    Code(ErrorCode),
    /// The program went over a limit.
    Limit(LimitError),
}

/// The limit a program went over, as the `errorType` of the `error` frame
/// sent before the final `status` (the original service sent `timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitError {
    /// Verdict `time_limit_exceeded` (wall or CPU time).
    Timeout,
    /// Verdict `memory_limit_exceeded`.
    MemoryLimit,
    /// Verdict `output_limit_exceeded`.
    OutputLimit,
}

impl LimitError {
    /// The limit error of a verdict, for the verdicts that are limits.
    pub fn of(verdict: Verdict) -> Option<LimitError> {
        match verdict {
            Verdict::TimeLimitExceeded => Some(LimitError::Timeout),
            Verdict::MemoryLimitExceeded => Some(LimitError::MemoryLimit),
            Verdict::OutputLimitExceeded => Some(LimitError::OutputLimit),
            _ => None,
        }
    }
}

impl ServerFrame {
    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> ServerFrame {
        ServerFrame::Error(ErrorContent {
            error_type: ErrorType::Code(code),
            message: message.into(),
        })
    }

    /// The `error` frame announcing that the execution went over a limit,
    /// when its verdict is one (sent just before the final `status`).
    pub fn limit_error(outcome: &ExecutionOutcome) -> Option<ServerFrame> {
        let limit = LimitError::of(outcome.verdict)?;
        // The step (or case) that went over it, for its measurements.
        let step = [outcome.run.as_ref(), outcome.compile.as_ref()]
            .into_iter()
            .flatten()
            .chain(outcome.tests.iter().map(|c| &c.report))
            .find(|r| r.verdict == Some(outcome.verdict));
        let seconds = |ms: u64| format!("{:.1}", ms as f64 / 1000.0);
        let message = match (limit, step) {
            (LimitError::Timeout, Some(r)) => format!(
                "Execution timed out after {} seconds ({} seconds of CPU time)",
                seconds(r.wall_ms),
                seconds(r.cpu_ms)
            ),
            (LimitError::Timeout, None) => "Execution timed out".to_string(),
            (LimitError::MemoryLimit, Some(r)) if r.memory_bytes > 0 => format!(
                "Execution ran out of memory (peak {:.1} MiB)",
                r.memory_bytes as f64 / (1024.0 * 1024.0)
            ),
            (LimitError::MemoryLimit, _) => "Execution ran out of memory".to_string(),
            (LimitError::OutputLimit, _) => {
                "Execution printed more output than allowed and was stopped".to_string()
            }
        };
        Some(ServerFrame::Error(ErrorContent {
            error_type: ErrorType::Limit(limit),
            message,
        }))
    }

    /// The `system` frame that announces the server will close the socket
    /// after `linger` (`Connection will close in 5 seconds`).
    pub fn closing(linger: std::time::Duration) -> ServerFrame {
        let amount = if linger.subsec_millis() == 0 {
            let s = linger.as_secs();
            format!("{s} second{}", if s == 1 { "" } else { "s" })
        } else {
            format!("{:.1} seconds", linger.as_secs_f64())
        };
        ServerFrame::System(format!("Connection will close in {amount}"))
    }

    /// The final `status` frame of an execution.
    pub fn finished(outcome: &ExecutionOutcome) -> ServerFrame {
        ServerFrame::Status(StatusContent {
            status: outcome.status,
            outcome: Some(OutcomeFields::of(Some(outcome))),
        })
    }

    /// The frame one log event becomes, if any (`text` carries partial
    /// UTF-8 sequences between output events, per stream).
    ///
    /// The log records the final status twice over: a bare `Status` event,
    /// then `Finished` with the outcome. The terminal sends one final
    /// `status` frame, the one with the outcome, so the bare final status
    /// becomes no frame.
    pub fn of_event(event: &ExecutionEvent, text: &mut [Utf8Carry; 2]) -> Option<ServerFrame> {
        Some(match event {
            ExecutionEvent::Status { status } if status.is_final() => return None,
            ExecutionEvent::Status { status } => ServerFrame::Status(StatusContent {
                status: *status,
                outcome: None,
            }),
            ExecutionEvent::StepStarted { step } => ServerFrame::System(
                match step {
                    StepKind::Compile => "compiling",
                    StepKind::Run => "running",
                }
                .to_string(),
            ),
            ExecutionEvent::Output(OutputChunk {
                step,
                stream,
                data,
                case,
            }) => {
                let slot = match stream {
                    Stream::Stdout => 0,
                    Stream::Stderr => 1,
                };
                let (text, exact) = text[slot].push(data);
                if text.is_empty() && exact.is_none() {
                    return None;
                }
                ServerFrame::Output(OutputContent {
                    text,
                    is_error: *stream == Stream::Stderr,
                    step: *step,
                    test: *case,
                    base64: exact.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                })
            }
            ExecutionEvent::InputPrompt { prompt } => ServerFrame::InputPrompt(prompt.clone()),
            ExecutionEvent::CaseStarted { index } => ServerFrame::Test(TestContent {
                index: *index,
                status: "running",
                result: None,
            }),
            ExecutionEvent::CaseFinished(report) => ServerFrame::Test(TestContent {
                index: report.index,
                status: if report.report.verdict == Some(Verdict::Skipped) {
                    "skipped"
                } else {
                    "completed"
                },
                result: Some(CaseFields::of(report)),
            }),
            ExecutionEvent::Finished(outcome) => ServerFrame::finished(outcome),
        })
    }

    /// The frame as the text of a WebSocket message.
    pub fn to_text(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A client message in JSON form.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// A line: a newline is appended (as the original service did).
    Input {
        /// The line's text.
        content: String,
    },
    /// Bytes exactly: text in `content` or base64 in `base64`.
    Stdin {
        /// The bytes as text.
        content: Option<String>,
        /// The bytes in base64.
        base64: Option<String>,
    },
    /// Close stdin.
    Eof,
    /// Cancel the execution.
    Kill,
}

/// Turns a byte stream cut at arbitrary points into text: a UTF-8 sequence
/// split across chunks is carried to the next chunk, and bytes that are not
/// UTF-8 at all are also sent exactly, in base64.
#[derive(Debug, Default)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The text of `data` after what was carried, and the exact bytes when
    /// they are not UTF-8.
    pub fn push(&mut self, data: &[u8]) -> (String, Option<Vec<u8>>) {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(data);
        match std::str::from_utf8(&bytes) {
            Ok(s) => (s.to_string(), None),
            Err(e) if e.error_len().is_none() => {
                // Only an incomplete sequence at the end: keep it for later.
                let valid = e.valid_up_to();
                self.pending = bytes.split_off(valid);
                (String::from_utf8(bytes).unwrap_or_default(), None)
            }
            Err(_) => (String::from_utf8_lossy(&bytes).into_owned(), Some(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monaco_executor::{StepReport, Verdict};
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn split_sequences_are_joined() {
        let mut c = Utf8Carry::default();
        let euro = "€".as_bytes();
        assert_eq!(c.push(&euro[..1]), (String::new(), None));
        assert_eq!(c.push(&euro[1..]), ("€".to_string(), None));
    }

    #[test]
    fn invalid_bytes_come_with_base64() {
        let mut c = Utf8Carry::default();
        let (text, exact) = c.push(&[b'a', 0xff, b'b']);
        assert_eq!(text, "a\u{fffd}b");
        assert_eq!(exact, Some(vec![b'a', 0xff, b'b']));
    }

    #[test]
    fn frames_have_the_documented_shapes() {
        let mut text = [Utf8Carry::default(), Utf8Carry::default()];
        let json_of = |e: &ExecutionEvent, t: &mut [Utf8Carry; 2]| {
            serde_json::to_value(ServerFrame::of_event(e, t).unwrap()).unwrap()
        };
        assert_eq!(
            json_of(
                &ExecutionEvent::Status {
                    status: Status::Queued
                },
                &mut text
            ),
            json!({"type":"status","content":{"status":"queued"}})
        );
        assert_eq!(
            json_of(
                &ExecutionEvent::StepStarted {
                    step: StepKind::Compile
                },
                &mut text
            ),
            json!({"type":"system","content":"compiling"})
        );
        let chunk = ExecutionEvent::Output(OutputChunk {
            step: StepKind::Run,
            stream: Stream::Stderr,
            data: b"oops".to_vec(),
            case: None,
        });
        assert_eq!(
            json_of(&chunk, &mut text),
            json!({"type":"output","content":{"text":"oops","isError":true,"step":"run"}})
        );
        assert_eq!(
            json_of(
                &ExecutionEvent::InputPrompt {
                    prompt: "Name: ".into()
                },
                &mut text
            ),
            json!({"type":"input_prompt","content":"Name: "})
        );
        assert_eq!(
            serde_json::to_value(ServerFrame::error(ErrorCode::ExecutionFinished, "over")).unwrap(),
            json!({"type":"error","content":{"errorType":"execution.finished","message":"over"}})
        );
    }

    #[test]
    fn the_bare_final_status_is_no_frame() {
        let mut text = [Utf8Carry::default(), Utf8Carry::default()];
        for status in [Status::Completed, Status::Failed] {
            assert_eq!(
                ServerFrame::of_event(&ExecutionEvent::Status { status }, &mut text),
                None
            );
        }
        let running = ExecutionEvent::Status {
            status: Status::Running,
        };
        assert!(ServerFrame::of_event(&running, &mut text).is_some());
    }

    #[test]
    fn limit_verdicts_get_an_error_frame_and_others_none() {
        let with = |verdict: Verdict| ExecutionOutcome {
            status: verdict.final_status(),
            verdict,
            compile: None,
            run: Some(StepReport {
                verdict: Some(verdict),
                wall_ms: 2000,
                cpu_ms: 1500,
                memory_bytes: 64 * 1024 * 1024,
                ..StepReport::default()
            }),
            message: None,
            error_code: None,
            tests: Vec::new(),
        };
        let frame =
            |v| ServerFrame::limit_error(&with(v)).map(|f| serde_json::to_value(f).unwrap());
        assert_eq!(
            frame(Verdict::TimeLimitExceeded),
            Some(json!({"type":"error","content":{"errorType":"timeout",
                "message":"Execution timed out after 2.0 seconds (1.5 seconds of CPU time)"}}))
        );
        assert_eq!(
            frame(Verdict::MemoryLimitExceeded).unwrap()["content"]["errorType"],
            "memory_limit"
        );
        assert_eq!(
            frame(Verdict::OutputLimitExceeded).unwrap()["content"]["errorType"],
            "output_limit"
        );
        for v in [
            Verdict::Ok,
            Verdict::RuntimeError,
            Verdict::CompileError,
            Verdict::WrongAnswer,
            Verdict::Cancelled,
            Verdict::InternalError,
        ] {
            assert_eq!(frame(v), None, "{v:?}");
        }
    }

    #[test]
    fn the_closing_frame_says_when() {
        let text =
            |ms| serde_json::to_value(ServerFrame::closing(Duration::from_millis(ms))).unwrap();
        assert_eq!(
            text(5000),
            json!({"type":"system","content":"Connection will close in 5 seconds"})
        );
        assert_eq!(text(1000)["content"], "Connection will close in 1 second");
        assert_eq!(text(300)["content"], "Connection will close in 0.3 seconds");
    }

    #[test]
    fn the_final_status_counts_truncation_of_either_step() {
        let outcome = ExecutionOutcome {
            status: Verdict::CompileError.final_status(),
            verdict: Verdict::CompileError,
            compile: Some(StepReport {
                verdict: Some(Verdict::CompileError),
                exit_code: Some(1),
                truncated: true,
                ..StepReport::default()
            }),
            run: None,
            message: None,
            error_code: None,
            tests: Vec::new(),
        };
        let frame = serde_json::to_value(ServerFrame::finished(&outcome)).unwrap();
        assert_eq!(
            frame,
            json!({"type":"status","content":{
                "status":"failed","verdict":"compile_error","exitCode":null,"signal":null,
                "executionTime":null,"cpu":null,"memory":null,"truncated":true}})
        );
        let cancelled =
            serde_json::to_value(ServerFrame::finished(&ExecutionOutcome::cancelled())).unwrap();
        assert_eq!(
            cancelled["content"]["error"]["code"],
            json!("execution.cancelled")
        );
    }
}
