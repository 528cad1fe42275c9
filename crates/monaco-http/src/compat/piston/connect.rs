//! `WS /api/v2/connect`: Piston's interactive protocol.
//!
//! The client sends `init` (the fields of `/execute`; its `stdin` is
//! ignored), then `{"type":"data","stream":"stdin","data":…}` (bytes for
//! the program's stdin, exactly as sent) and `{"type":"signal","signal":…}`
//! (any signal stops the program, as a cancel). The server answers
//! `runtime` after `init`, `stage` as each stage starts, `data` with what
//! the program prints, `exit` once per stage, then closes with 4999.
//!
//! Close codes: 4000 a second `init`, 4001 no `init` within a second, 4002
//! after an `error` frame (an invalid `init` or frame), 4003 `data` or
//! `signal` before `init`, 4004 a stream other than stdin, 4005 an unknown
//! signal, 4999 the job completed. A client that goes away stops the job.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage as Message, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use monaco_executor::{
    EventSubscription, ExecutionEvent, ExecutionId, Executor, Sandbox, StepKind, Stream,
};
use serde_json::{json, Value};

use super::{ending, job_of, PistonError};
use crate::compat::signal;
use crate::frames::Utf8Carry;
use crate::AppState;

/// How long a client has to send `init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn connect<S: Sandbox>(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState<S>>,
    caller: crate::Caller,
) -> Result<HttpResponse, PistonError> {
    let (response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|e| PistonError::bad(format!("Not a WebSocket request: {e}")))?;
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let messages = messages
            .max_frame_size(4 * 1024 * 1024)
            .aggregate_continuations()
            .max_continuation_size(4 * 1024 * 1024);
        Connection {
            executor: state.executor.clone(),
            state: std::sync::Arc::clone(&state),
            caller,
            req,
            session,
            job: None,
        }
        .run(messages)
        .await;
    });
    Ok(response)
}

/// The job once `init` was accepted.
struct Running {
    id: ExecutionId,
    events: EventSubscription,
    /// Whether the language has a compile stage.
    compiles: bool,
    /// The stage whose `exit` is still owed.
    stage: Option<StepKind>,
    text: [Utf8Carry; 2],
}

struct Connection<S: Sandbox> {
    executor: Executor<S>,
    /// For the caller's quotas when `init` submits.
    state: std::sync::Arc<AppState<S>>,
    caller: crate::Caller,
    req: HttpRequest,
    session: Session,
    job: Option<Running>,
}

/// What the loop reacts to.
enum Event {
    InitTimeout,
    Log(Option<(usize, ExecutionEvent)>),
    Client(Option<Result<Message, actix_ws::ProtocolError>>),
}

/// How the loop goes on after an event.
enum Next {
    Continue,
    Close(u16, &'static str),
    /// The connection is gone (or closed by the client).
    Gone,
}

impl<S: Sandbox> Connection<S> {
    async fn run(mut self, mut messages: actix_ws::AggregatedMessageStream) {
        let deadline = tokio::time::sleep(INIT_TIMEOUT);
        tokio::pin!(deadline);
        let next = loop {
            let event = tokio::select! {
                () = &mut deadline, if self.job.is_none() => Event::InitTimeout,
                e = next_event(&mut self.job) => Event::Log(e),
                m = messages.next() => Event::Client(m),
            };
            let next = match event {
                Event::InitTimeout => Next::Close(4001, "Initialization Timeout"),
                Event::Log(Some((_, event))) => self.log(event).await,
                Event::Log(None) => Next::Close(4999, "Job Completed"),
                Event::Client(Some(Ok(Message::Text(text)))) => self.client(&text).await,
                Event::Client(Some(Ok(Message::Binary(bytes)))) => {
                    self.client(&String::from_utf8_lossy(&bytes)).await
                }
                Event::Client(Some(Ok(Message::Ping(p)))) => {
                    let _ = self.session.pong(&p).await;
                    Next::Continue
                }
                Event::Client(Some(Ok(Message::Pong(_)))) => Next::Continue,
                Event::Client(_) => Next::Gone,
            };
            match next {
                Next::Continue => continue,
                other => break other,
            }
        };
        match next {
            Next::Close(code, why) => {
                self.stop().await;
                let _ = self
                    .session
                    .close(Some(CloseReason {
                        code: CloseCode::Other(code),
                        description: Some(why.into()),
                    }))
                    .await;
            }
            _ => self.stop().await,
        }
    }

    /// Stops the job if it is still running (the client left, or broke
    /// the protocol).
    async fn stop(&mut self) {
        if let Some(job) = &self.job {
            let _ = self.executor.cancel(job.id).await;
        }
    }

    async fn send(&mut self, frame: Value) -> bool {
        self.session.text(frame.to_string()).await.is_ok()
    }

    async fn error(&mut self, message: &str) -> Next {
        self.send(json!({ "type": "error", "message": message }))
            .await;
        Next::Close(4002, "Notified Error")
    }

    async fn client(&mut self, text: &str) -> Next {
        let frame = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(frame)) => frame,
            Ok(_) => return self.error("a frame must be a JSON object").await,
            Err(e) => return self.error(&format!("Malformed JSON: {e}")).await,
        };
        match frame.get("type").and_then(Value::as_str) {
            Some("init") => {
                if self.job.is_some() {
                    return Next::Close(4000, "Already Initialized");
                }
                let (_, max) = self.executor.limits();
                let job = match job_of(&frame, self.executor.registry(), &max, true) {
                    Ok(job) => job,
                    Err(e) => return self.error(e.message()).await,
                };
                let runtime =
                    json!({ "type": "runtime", "language": job.language, "version": job.version });
                let compiles = job.compiles;
                let id = match crate::submit_one(&self.state, &self.caller, &self.req, job.request)
                    .await
                {
                    Ok(id) => id,
                    Err(e) => return self.error(&e.to_string()).await,
                };
                let Ok(Some(events)) = self.executor.events(id, 0).await else {
                    return self.error("the job was lost").await;
                };
                self.job = Some(Running {
                    id,
                    events,
                    compiles,
                    stage: None,
                    text: Default::default(),
                });
                if !self.send(runtime).await {
                    return Next::Gone;
                }
                Next::Continue
            }
            Some("data") => {
                let Some(job) = &self.job else {
                    return Next::Close(4003, "Not yet initialized");
                };
                if frame.get("stream").and_then(Value::as_str) != Some("stdin") {
                    return Next::Close(4004, "Can only write to stdin");
                }
                let data = frame
                    .get("data")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let id = job.id;
                // Input after the program ended has nowhere to go.
                let _ = self.executor.send_input(id, data.as_bytes().to_vec()).await;
                Next::Continue
            }
            Some("signal") => {
                let Some(job) = &self.job else {
                    return Next::Close(4003, "Not yet initialized");
                };
                let name = frame
                    .get("signal")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !signal::is_known(name) {
                    return Next::Close(4005, "Invalid signal");
                }
                let id = job.id;
                let _ = self.executor.cancel(id).await;
                Next::Continue
            }
            other => {
                let what = other.map_or("a frame without a type".to_string(), |t| {
                    format!("unknown frame type {t:?}")
                });
                self.error(&what).await
            }
        }
    }

    /// One event of the job's log, as Piston frames.
    async fn log(&mut self, event: ExecutionEvent) -> Next {
        let Some(job) = self.job.as_mut() else {
            return Next::Continue;
        };
        let frames = match event {
            ExecutionEvent::StepStarted { step } => {
                let mut frames = Vec::new();
                // The run stage starts only after compiling exited 0.
                if step == StepKind::Run && job.stage == Some(StepKind::Compile) {
                    frames.push(exit(StepKind::Compile, Some(0), None));
                }
                job.stage = Some(step);
                frames.push(json!({ "type": "stage", "stage": stage_name(step) }));
                frames
            }
            ExecutionEvent::Output(chunk) => {
                let slot = usize::from(chunk.stream == Stream::Stderr);
                let (text, _) = job.text[slot].push(&chunk.data);
                if text.is_empty() {
                    return Next::Continue;
                }
                let stream = match chunk.stream {
                    Stream::Stdout => "stdout",
                    Stream::Stderr => "stderr",
                };
                vec![json!({ "type": "data", "stream": stream, "data": text })]
            }
            ExecutionEvent::Finished(outcome) => {
                let (stage, report) = match (&outcome.run, &outcome.compile) {
                    (None, Some(compile)) if job.compiles => (StepKind::Compile, Some(compile)),
                    (run, _) => (job.stage.unwrap_or(StepKind::Run), run.as_ref()),
                };
                let end = ending(report, &outcome);
                let frame = exit(stage, end.code, end.signal);
                self.send(frame).await;
                return Next::Close(4999, "Job Completed");
            }
            _ => return Next::Continue,
        };
        for frame in frames {
            if !self.send(frame).await {
                return Next::Gone;
            }
        }
        Next::Continue
    }
}

/// The next event of the job's log; pending while there is no job.
async fn next_event(job: &mut Option<Running>) -> Option<(usize, ExecutionEvent)> {
    match job {
        Some(job) => job.events.next().await,
        None => std::future::pending().await,
    }
}

fn stage_name(step: StepKind) -> &'static str {
    match step {
        StepKind::Compile => "compile",
        StepKind::Run => "run",
    }
}

fn exit(step: StepKind, code: Option<i32>, signal: Option<&str>) -> Value {
    json!({ "type": "exit", "stage": stage_name(step), "code": code, "signal": signal })
}
