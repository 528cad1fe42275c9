//! `WS /api/ws/terminal/{id}`: the execution's events, replayed from the
//! start (or `?from=N`) and then live, and the person's typing forwarded to
//! the program.
//!
//! Server frames are `{"type": …, "content": …}` with types `output`
//! (`{text, isError, step}`, plus `base64` when the bytes are not UTF-8),
//! `input_prompt` (the partial line the program printed), `status`, `error`
//! and `system`. After the final `status` the server closes normally.
//!
//! Client frames: raw text or `{"type":"input","content":…}` send a line
//! (newline appended, as the original did); `{"type":"stdin","content":…}`
//! or `{"type":"stdin","base64":…}` and binary frames send bytes exactly;
//! `{"type":"eof"}` closes stdin; `{"type":"kill"}` cancels.
//!
//! The session only reads the execution's log: a client that disconnects,
//! or reads slowly, never affects the execution itself.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage as Message, CloseCode, CloseReason, Session};
use base64::Engine;
use futures_util::StreamExt;
use monaco_executor::{
    ExecutionEvent, ExecutionId, ExecutionOutcome, Executor, OutputChunk, StepKind, Stream,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::{parse_id, AppState};
use monaco_executor::ErrorCode;

/// Query of the terminal route.
#[derive(Debug, Deserialize)]
pub struct TerminalQuery {
    /// First event index to replay (default 0: everything).
    from: Option<usize>,
}

pub async fn terminal(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<TerminalQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let events = state
        .executor
        .events(id, query.from.unwrap_or(0))
        .ok_or_else(ApiError::not_found)?;
    let (response, session, messages) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::WebsocketHandshake,
            format!("Not a WebSocket request: {e}"),
        )
    })?;
    let executor = state.executor.clone();
    actix_web::rt::spawn(async move {
        let messages = messages
            .max_frame_size(4 * 1024 * 1024)
            .aggregate_continuations()
            .max_continuation_size(4 * 1024 * 1024);
        run_session(executor, id, events, session, messages).await;
    });
    Ok(response)
}

/// What the session loop reacts to.
enum Event {
    Log(Option<(usize, ExecutionEvent)>),
    Client(Option<Result<Message, actix_ws::ProtocolError>>),
}

async fn run_session(
    executor: Executor,
    id: ExecutionId,
    mut events: monaco_executor::EventSubscription,
    mut session: Session,
    mut messages: actix_ws::AggregatedMessageStream,
) {
    let mut text = [Utf8Carry::default(), Utf8Carry::default()];
    loop {
        let event = tokio::select! {
            e = events.next() => Event::Log(e),
            m = messages.next() => Event::Client(m),
        };
        match event {
            Event::Log(Some((_, event))) => {
                let finished = matches!(event, ExecutionEvent::Finished(_));
                for frame in frames(&event, &mut text) {
                    if session.text(frame.to_string()).await.is_err() {
                        return;
                    }
                }
                if finished {
                    let _ = session
                        .close(Some(CloseReason {
                            code: CloseCode::Normal,
                            description: Some("execution finished".into()),
                        }))
                        .await;
                    return;
                }
            }
            Event::Log(None) => {
                // The execution was forgotten (retention) before it ended.
                let _ = session.close(Some(CloseCode::Away.into())).await;
                return;
            }
            Event::Client(Some(Ok(msg))) => {
                let reply = match msg {
                    Message::Text(t) => client_text(&executor, id, &t).await,
                    Message::Binary(b) => input(&executor, id, b.to_vec()).await,
                    Message::Ping(p) => {
                        let _ = session.pong(&p).await;
                        None
                    }
                    Message::Close(_) => return,
                    _ => None,
                };
                if let Some(frame) = reply {
                    if session.text(frame.to_string()).await.is_err() {
                        return;
                    }
                }
            }
            // The client went away; nothing else to do. The execution runs on.
            Event::Client(Some(Err(_))) | Event::Client(None) => return,
        }
    }
}

/// A client message in JSON form.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Input {
        content: String,
    },
    Stdin {
        content: Option<String>,
        base64: Option<String>,
    },
    Eof,
    Kill,
}

async fn client_text(executor: &Executor, id: ExecutionId, text: &str) -> Option<Value> {
    let parsed = if text.trim_start().starts_with('{') {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                return Some(error_frame(
                    ErrorCode::WebsocketInvalidMessage,
                    &e.to_string(),
                ));
            }
        }
    } else {
        // Raw text is a line, as the original service took it.
        ClientMessage::Input {
            content: text.to_string(),
        }
    };
    match parsed {
        ClientMessage::Input { content } => {
            let mut bytes = content.into_bytes();
            bytes.push(b'\n');
            input(executor, id, bytes).await
        }
        ClientMessage::Stdin { content, base64 } => {
            let bytes = match (content, base64) {
                (Some(c), None) => c.into_bytes(),
                (None, Some(b)) => match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        return Some(error_frame(
                            ErrorCode::WebsocketInvalidMessage,
                            &e.to_string(),
                        ))
                    }
                },
                _ => {
                    return Some(error_frame(
                        ErrorCode::WebsocketInvalidMessage,
                        "`stdin` takes exactly one of `content` and `base64`",
                    ))
                }
            };
            input(executor, id, bytes).await
        }
        ClientMessage::Eof => executor
            .close_input(id)
            .await
            .err()
            .map(|e| error_frame(e.code(), &e.to_string())),
        ClientMessage::Kill => executor
            .cancel(id)
            .await
            .err()
            .map(|e| error_frame(e.code(), &e.to_string())),
    }
}

async fn input(executor: &Executor, id: ExecutionId, bytes: Vec<u8>) -> Option<Value> {
    executor
        .send_input(id, bytes)
        .await
        .err()
        .map(|e| error_frame(e.code(), &e.to_string()))
}

fn error_frame(code: ErrorCode, message: &str) -> Value {
    json!({"type": "error", "content": {"errorType": code, "message": message}})
}

/// The frames one log event becomes.
fn frames(event: &ExecutionEvent, text: &mut [Utf8Carry; 2]) -> Vec<Value> {
    match event {
        ExecutionEvent::Status { status } => {
            vec![json!({"type": "status", "content": {"status": status}})]
        }
        ExecutionEvent::StepStarted { step } => {
            let what = match step {
                StepKind::Compile => "compiling",
                StepKind::Run => "running",
            };
            vec![json!({"type": "system", "content": what})]
        }
        ExecutionEvent::Output(OutputChunk { step, stream, data }) => {
            let slot = match stream {
                Stream::Stdout => 0,
                Stream::Stderr => 1,
            };
            let (s, exact) = text[slot].push(data);
            let mut content = json!({
                "text": s,
                "isError": *stream == Stream::Stderr,
                "step": step,
            });
            if let Some(bytes) = exact {
                content["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
            if s.is_empty() && content.get("base64").is_none() {
                return vec![];
            }
            vec![json!({"type": "output", "content": content})]
        }
        ExecutionEvent::InputPrompt { prompt } => {
            vec![json!({"type": "input_prompt", "content": prompt})]
        }
        ExecutionEvent::Finished(outcome) => vec![final_status(outcome)],
    }
}

fn final_status(o: &ExecutionOutcome) -> Value {
    let run = o.run.as_ref();
    let mut content = json!({
        "status": o.status,
        "verdict": o.verdict,
        "exitCode": run.and_then(|r| r.exit_code),
        "signal": run.and_then(|r| r.signal),
        "executionTime": run.map(|r| r.wall_ms),
        "cpu": run.map(|r| r.cpu_ms),
        "memory": run.map(|r| r.memory_bytes),
        "truncated": run.is_some_and(|r| r.truncated),
    });
    if let Some(code) = &o.error_code {
        content["error"] = json!({"code": code, "message": o.message});
    }
    json!({"type": "status", "content": content})
}

/// Turns a byte stream cut at arbitrary points into text: a UTF-8 sequence
/// split across chunks is carried to the next chunk, and bytes that are not
/// UTF-8 at all are also sent exactly, in base64.
#[derive(Default)]
struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    fn push(&mut self, data: &[u8]) -> (String, Option<Vec<u8>>) {
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
    use super::Utf8Carry;

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
}
