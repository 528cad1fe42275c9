//! The terminal: `WS /api/ws/terminal/{id}` attached to this process's
//! stdio.
//!
//! The run step's stdout goes to stdout and its stderr to stderr, byte for
//! byte, as the frames arrive; what the compiler prints goes to stderr.
//! When input is forwarded, what this process reads from its stdin is sent
//! as binary frames (exact bytes) and its end as `eof`. Ctrl-C sends
//! `kill` (a second one leaves at once).
//!
//! Why the local terminal stays in its ordinary (cooked) mode rather than
//! raw: the program's side has no line discipline to offer — a pipe for
//! most languages, and for C and C++ a pseudo-terminal the agent keeps raw
//! (no echo, no line editing). Left cooked, the local terminal echoes what
//! is typed, edits the line (backspace, Ctrl-U, Ctrl-W), hands over a line
//! on Enter, turns Ctrl-D into end of input and Ctrl-C into SIGINT — just
//! what the program would see running locally on this terminal. Raw mode
//! would leave the person typing blind, or this client re-implementing a
//! line editor.
//!
//! The session ends on the final `status` frame (it carries the verdict):
//! the client closes the socket itself rather than waiting for the server.
//!
//! ```text
//! stdin thread ──bytes/EOF──┐
//! Ctrl-C (SIGINT) ──────────┼─▶ select! → Event → one match ─▶ WS frames out
//! WS frames in ─────────────┘                              └─▶ stdout / stderr
//! ```

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{with_causes, Client, ClientError};
use crate::outcome::Outcome;

/// What to do with this process's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Send nothing (the execution has its input already, or is only watched).
    None,
    /// Forward it: bytes as they are read, then `eof` at its end.
    Forward,
}

/// How the terminal shows things.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// No verdict line, no spinner.
    pub quiet: bool,
}

/// What the session loop reacts to.
enum Event {
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    Input(Option<Vec<u8>>),
    Interrupt,
}

/// Where output goes, remembering whether the terminal's cursor is at the
/// start of a line (so the verdict line starts on its own line).
struct Screen {
    spinner: Option<ProgressBar>,
    stdout_tty: bool,
    stderr_tty: bool,
    /// The last byte written to a terminal was not a newline.
    mid_line: bool,
}

impl Screen {
    fn new(view: View) -> Screen {
        let stderr_tty = std::io::stderr().is_terminal();
        let spinner = (stderr_tty && !view.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("connecting");
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Screen {
            spinner,
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty,
            mid_line: false,
        }
    }

    /// The spinner says `message` (while queued or compiling).
    fn waiting(&self, message: &str) {
        if let Some(s) = &self.spinner {
            s.set_message(message.to_string());
        }
    }

    /// The spinner goes for good (the program runs, or prints).
    fn stop_waiting(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }

    fn write(&mut self, to_stdout: bool, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.stop_waiting();
        let tty = if to_stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
            self.stdout_tty
        } else {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(bytes);
            let _ = err.flush();
            self.stderr_tty
        };
        if tty {
            self.mid_line = bytes.last() != Some(&b'\n');
        }
    }

    /// A line of the client's own on stderr, on a line of its own.
    fn say(&mut self, line: &str) {
        self.stop_waiting();
        let mut err = std::io::stderr().lock();
        if self.mid_line && self.stderr_tty {
            let _ = err.write_all(b"\n");
        }
        let _ = writeln!(err, "{line}");
        self.mid_line = false;
    }
}

impl Drop for Screen {
    /// On every way out (an error too), no spinner is left on the screen.
    fn drop(&mut self) {
        self.stop_waiting();
    }
}

/// Reads stdin on a thread of its own (a blocking read cannot be
/// cancelled; the process exits without waiting for it).
fn read_stdin() -> mpsc::UnboundedReceiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(n) => {
                    if tx.send(Some(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Attaches to execution `id` until it ends; its outcome.
pub async fn attach(
    client: &Client,
    id: &str,
    token: Option<&str>,
    input: Input,
    view: View,
) -> Result<Outcome, ClientError> {
    let mut screen = Screen::new(view);
    let url = client.terminal_url(id, token);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::Terminal(with_causes(&e)))?;
    if let Some(key) = client.api_key() {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            ClientError::BadUrl("MONACO_API_KEY is not a valid header value".into())
        })?;
        request.headers_mut().insert("authorization", value);
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                server_error(response.status().as_u16(), &body).unwrap_or_else(|| {
                    ClientError::Terminal(format!("{url}: {}", response.status()))
                })
            }
            e => ClientError::Unreachable {
                url: url.clone(),
                cause: with_causes(&e),
            },
        })?;
    screen.waiting("waiting");
    let (mut sink, mut frames) = socket.split();
    let mut stdin = (input == Input::Forward).then(read_stdin);
    let mut interrupted = false;
    loop {
        let event = tokio::select! {
            f = frames.next() => Event::Frame(f),
            i = async { stdin.as_mut()?.recv().await }, if stdin.is_some() => Event::Input(i.flatten()),
            _ = tokio::signal::ctrl_c() => Event::Interrupt,
        };
        match event {
            Event::Frame(Some(Ok(Message::Text(t)))) => {
                let Ok(frame) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if let Some(outcome) = on_frame(&frame, &mut screen) {
                    let _ = sink.send(Message::Close(None)).await;
                    if !view.quiet {
                        screen.say(&format!("[{}]", outcome.summary()));
                    } else {
                        screen.stop_waiting();
                    }
                    return Ok(outcome);
                }
            }
            Event::Frame(Some(Ok(Message::Close(_)))) | Event::Frame(None) => {
                // Closed before the final frame: ask for the result instead.
                screen.stop_waiting();
                let result = client.result(id).await?;
                let outcome = Outcome::of(&result);
                if !outcome.is_final() {
                    return Err(ClientError::Terminal(
                        "the server closed the terminal before the execution ended".into(),
                    ));
                }
                if !view.quiet {
                    screen.say(&format!("[{}]", outcome.summary()));
                }
                return Ok(outcome);
            }
            Event::Frame(Some(Ok(_))) => {}
            Event::Frame(Some(Err(e))) => {
                screen.stop_waiting();
                return Err(ClientError::Terminal(with_causes(&e)));
            }
            Event::Input(Some(bytes)) => {
                if sink.send(Message::Binary(bytes)).await.is_err() {
                    stdin = None;
                }
            }
            Event::Input(None) => {
                let _ = sink
                    .send(Message::Text(json!({"type": "eof"}).to_string()))
                    .await;
                stdin = None;
            }
            Event::Interrupt if interrupted => {
                screen.say(
                    "monaco: interrupted again; leaving (the execution may still be cancelling)",
                );
                std::process::exit(crate::outcome::EXIT_CANCELLED);
            }
            Event::Interrupt => {
                interrupted = true;
                screen.say("monaco: cancelling (Ctrl-C again to leave at once)");
                let _ = sink
                    .send(Message::Text(json!({"type": "kill"}).to_string()))
                    .await;
            }
        }
    }
}

/// A server's JSON error in an HTTP answer, if the body is one.
fn server_error(status: u16, body: &str) -> Option<ClientError> {
    let v: Value = serde_json::from_str(body).ok()?;
    let error = v.get("error")?;
    Some(ClientError::Server {
        status: reqwest::StatusCode::from_u16(status).ok()?,
        code: error.get("code")?.as_str()?.to_string(),
        message: error
            .get("message")?
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Shows one server frame; the outcome when it is the final `status`.
/// (The server joins UTF-8 sequences split between chunks, and sends
/// bytes that are not UTF-8 exactly, in `base64`.)
fn on_frame(frame: &Value, screen: &mut Screen) -> Option<Outcome> {
    let content = frame.get("content").unwrap_or(&Value::Null);
    match frame.get("type").and_then(Value::as_str)? {
        "status" => {
            let outcome = Outcome::of(content);
            if outcome.is_final() {
                return Some(outcome);
            }
            match outcome.status.as_str() {
                "queued" => screen.waiting("queued"),
                "running" => screen.waiting("starting"),
                _ => {}
            }
        }
        "system" => match content.as_str() {
            Some("compiling") => screen.waiting("compiling"),
            Some("running") => screen.stop_waiting(),
            _ => {}
        },
        "output" => {
            let bytes = match content.get("base64").and_then(Value::as_str) {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default(),
                None => content
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .as_bytes()
                    .to_vec(),
            };
            let is_error = content.get("isError").and_then(Value::as_bool) == Some(true);
            let of_run = content.get("step").and_then(Value::as_str) != Some("compile");
            screen.write(of_run && !is_error, &bytes);
        }
        "input_prompt" => screen.stop_waiting(),
        "error" => {
            let code = content
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("");
            // Input for a program that has already ended, as a pipe whose
            // reader is gone: nothing to tell.
            if code != "execution.finished" {
                let message = content.get("message").and_then(Value::as_str).unwrap_or("");
                screen.say(&format!("monaco: {message} ({code})"));
            }
        }
        // `test` frames and types added later: nothing to show here.
        _ => {}
    }
    None
}
