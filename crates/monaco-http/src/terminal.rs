//! `WS /api/ws/terminal/{id}`: the execution's events, replayed from the
//! start (or `?from=N`) and then live, and the person's typing forwarded to
//! the program.
//!
//! Server frames are `{"type": …, "content": …}` with types `output`
//! (`{text, isError, step}`, plus `base64` when the bytes are not UTF-8),
//! `input_prompt` (the partial line the program printed), `status`, `error`
//! and `system` (see [`crate::frames`]). Exactly one final `status` frame
//! carries the outcome; a limit verdict (time, memory, output) is announced
//! just before it by an `error` frame (`errorType` `timeout`,
//! `memory_limit`, `output_limit`). Then, as the original service did, the
//! socket stays open for the linger ([`crate::ApiConfig::ws_linger`]),
//! announced by a `system` frame (`Connection will close in 5 seconds`),
//! and closes normally (1000) when it is over, or at once when the client
//! closes or sends `kill`. A linger of zero closes at once, with no
//! `system` frame.
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
use monaco_executor::{ErrorCode, ExecutionEvent, ExecutionId, Executor, Sandbox};
use serde::Deserialize;

use crate::error::ApiError;
use crate::frames::{ClientMessage, ServerFrame, Utf8Carry};
use crate::{parse_id, AppState, Caller};

/// Query of the terminal route.
#[derive(Debug, Deserialize)]
pub struct TerminalQuery {
    /// First event index to replay (default 0: everything).
    from: Option<usize>,
    /// The execution's `terminalToken`, for clients that cannot send a key.
    token: Option<String>,
}

pub async fn terminal<S: Sandbox>(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState<S>>,
    id: web::Path<String>,
    query: web::Query<TerminalQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    authorize(&state, &req, id, query.token.as_deref()).await?;
    let events = state
        .executor
        .events(id, query.from.unwrap_or(0))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let (response, mut session, messages) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            ErrorCode::WebsocketHandshake,
            format!("Not a WebSocket request: {e}"),
        )
    })?;
    let executor = state.executor.clone();
    let open = state.metrics.as_ref().map(|m| m.websocket_opened());
    let linger = state.config.ws_linger;
    actix_web::rt::spawn(async move {
        let _open = open;
        let mut messages = messages
            .max_frame_size(4 * 1024 * 1024)
            .aggregate_continuations()
            .max_continuation_size(4 * 1024 * 1024);
        let ended = run_session(&executor, id, events, &mut session, &mut messages).await;
        if ended == Ended::Finished {
            let client_closed = !linger.is_zero()
                && matches!(
                    wait_linger(&executor, id, linger, &mut session, &mut messages).await,
                    Lingered::ClientClosed
                );
            if !client_closed {
                let _ = session
                    .close(Some(CloseReason {
                        code: CloseCode::Normal,
                        description: Some("execution finished".into()),
                    }))
                    .await;
            }
        }
    });
    Ok(response)
}

/// With keys configured, a terminal is opened with the execution's token
/// (`?token=`) or by the key that owns it (checked like every route); the
/// token of another execution, or a wrong one, is `auth.invalid`.
async fn authorize<S: Sandbox>(
    state: &AppState<S>,
    req: &HttpRequest,
    id: ExecutionId,
    token: Option<&str>,
) -> Result<(), ApiError> {
    let tenancy = state.tenancy();
    if !tenancy.has_keys() {
        return Ok(());
    }
    let caller = match token {
        Some(token) => {
            if !tenancy.token_admits(id, token) {
                return Err(ApiError::new(
                    ErrorCode::AuthInvalid,
                    "The terminal token is not this execution's",
                ));
            }
            return state
                .executor
                .status(id)
                .await?
                .map(|_| ())
                .ok_or_else(ApiError::not_found);
        }
        None => Caller {
            key: tenancy.authenticate_headers(req.headers())?,
        },
    };
    state.visible(&caller, id).await
}

/// What the session loop reacts to.
enum Event {
    Log(Option<(usize, ExecutionEvent)>),
    Client(Option<Result<Message, actix_ws::ProtocolError>>),
}

/// How the live part of a session ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The final `status` frame was sent: linger, then close.
    Finished,
    /// The socket is closed or gone: nothing more to send.
    Closed,
}

/// How the linger after the final status ended.
enum Lingered {
    /// The linger ran out, or the client sent `kill`: the server closes.
    Over,
    /// The client closed (or went away) first.
    ClientClosed,
}

async fn run_session<S: Sandbox>(
    executor: &Executor<S>,
    id: ExecutionId,
    mut events: monaco_executor::EventSubscription,
    session: &mut Session,
    messages: &mut actix_ws::AggregatedMessageStream,
) -> Ended {
    let mut text = [Utf8Carry::default(), Utf8Carry::default()];
    loop {
        let event = tokio::select! {
            e = events.next() => Event::Log(e),
            m = messages.next() => Event::Client(m),
        };
        match event {
            Event::Log(Some((_, event))) => {
                let mut frames = Vec::with_capacity(2);
                if let ExecutionEvent::Finished(outcome) = &event {
                    frames.extend(ServerFrame::limit_error(outcome));
                }
                frames.extend(ServerFrame::of_event(&event, &mut text));
                for frame in frames {
                    if session.text(frame.to_text()).await.is_err() {
                        return Ended::Closed;
                    }
                }
                if matches!(event, ExecutionEvent::Finished(_)) {
                    return Ended::Finished;
                }
            }
            Event::Log(None) => {
                // The execution was forgotten (retention) before it ended.
                let _ = session.clone().close(Some(CloseCode::Away.into())).await;
                return Ended::Closed;
            }
            Event::Client(Some(Ok(msg))) => {
                let reply = match msg {
                    Message::Text(t) => client_text(executor, id, &t).await,
                    Message::Binary(b) => input(executor, id, b.to_vec()).await,
                    Message::Ping(p) => {
                        let _ = session.pong(&p).await;
                        None
                    }
                    Message::Close(_) => return Ended::Closed,
                    _ => None,
                };
                if let Some(frame) = reply {
                    if session.text(frame.to_text()).await.is_err() {
                        return Ended::Closed;
                    }
                }
            }
            // The client went away; nothing else to do. The execution runs on.
            Event::Client(Some(Err(_))) | Event::Client(None) => return Ended::Closed,
        }
    }
}

/// Keeps the socket open for `linger` after the final status, as the
/// original service did, announced by a `system` frame; ends early when
/// the client closes or sends `kill`.
async fn wait_linger<S: Sandbox>(
    executor: &Executor<S>,
    id: ExecutionId,
    linger: std::time::Duration,
    session: &mut Session,
    messages: &mut actix_ws::AggregatedMessageStream,
) -> Lingered {
    if session
        .text(ServerFrame::closing(linger).to_text())
        .await
        .is_err()
    {
        return Lingered::ClientClosed;
    }
    let over = tokio::time::sleep(linger);
    tokio::pin!(over);
    loop {
        let msg = tokio::select! {
            () = &mut over => return Lingered::Over,
            m = messages.next() => m,
        };
        let reply = match msg {
            Some(Ok(Message::Text(t))) if is_kill(&t) => return Lingered::Over,
            Some(Ok(Message::Text(t))) => client_text(executor, id, &t).await,
            Some(Ok(Message::Binary(b))) => input(executor, id, b.to_vec()).await,
            Some(Ok(Message::Ping(p))) => {
                let _ = session.pong(&p).await;
                None
            }
            Some(Ok(Message::Close(_))) => {
                // Answer the client's close, then stop.
                let _ = session.clone().close(Some(CloseCode::Normal.into())).await;
                return Lingered::ClientClosed;
            }
            Some(Ok(_)) => None,
            Some(Err(_)) | None => return Lingered::ClientClosed,
        };
        if let Some(frame) = reply {
            if session.text(frame.to_text()).await.is_err() {
                return Lingered::ClientClosed;
            }
        }
    }
}

/// Whether a client text frame is `{"type":"kill"}`.
fn is_kill(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && matches!(
            serde_json::from_str::<ClientMessage>(text),
            Ok(ClientMessage::Kill)
        )
}

async fn client_text<S: Sandbox>(
    executor: &Executor<S>,
    id: ExecutionId,
    text: &str,
) -> Option<ServerFrame> {
    let invalid = |message: String| ServerFrame::error(ErrorCode::WebsocketInvalidMessage, message);
    let parsed = if text.trim_start().starts_with('{') {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(m) => m,
            Err(e) => return Some(invalid(e.to_string())),
        }
    } else {
        // Raw text is a line, as the original service took it.
        ClientMessage::Input {
            content: text.to_string(),
        }
    };
    let result = match parsed {
        ClientMessage::Input { content } => {
            let mut bytes = content.into_bytes();
            bytes.push(b'\n');
            executor.send_input(id, bytes).await
        }
        ClientMessage::Stdin { content, base64 } => {
            let bytes = match (content, base64) {
                (Some(c), None) => c.into_bytes(),
                (None, Some(b)) => match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) => bytes,
                    Err(e) => return Some(invalid(e.to_string())),
                },
                _ => {
                    return Some(invalid(
                        "`stdin` takes exactly one of `content` and `base64`".into(),
                    ))
                }
            };
            executor.send_input(id, bytes).await
        }
        ClientMessage::Eof => executor.close_input(id).await,
        ClientMessage::Kill => executor.cancel(id).await,
    };
    result
        .err()
        .map(|e| ServerFrame::error(e.code(), e.to_string()))
}

async fn input<S: Sandbox>(
    executor: &Executor<S>,
    id: ExecutionId,
    bytes: Vec<u8>,
) -> Option<ServerFrame> {
    executor
        .send_input(id, bytes)
        .await
        .err()
        .map(|e| ServerFrame::error(e.code(), e.to_string()))
}
