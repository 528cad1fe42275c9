//! A WebSocket client for `WS /api/ws/terminal/{id}` that reads the
//! server's JSON frames and records everything it saw.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::EXECUTION;

/// One thing the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A JSON text frame (`{"type","content"}`).
    Json(Value),
    /// A close frame with its code (`None`: closed without a code).
    Close(Option<u16>),
}

/// An open terminal session.
pub struct Terminal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every frame received so far, in order.
    pub seen: Vec<Frame>,
}

impl Terminal {
    /// Connects; panics if the handshake fails.
    pub async fn connect(url: &str) -> Terminal {
        let (ws, response) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("WebSocket {url}: {e}"));
        assert_eq!(response.status().as_u16(), 101, "{url}");
        Terminal {
            ws,
            seen: Vec::new(),
        }
    }

    /// The next frame; `None` once the connection has ended. Panics if
    /// nothing comes within the execution deadline or the frame is not
    /// JSON.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            let msg = tokio::time::timeout(EXECUTION, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no WebSocket frame within {EXECUTION:?}; seen so far: {:?}",
                        self.seen
                    )
                });
            let frame = match msg {
                None => return None,
                // The server may drop the TCP connection right after its
                // close frame; that is the end too.
                Some(Err(_)) if self.closed() => return None,
                Some(Err(e)) => panic!("WebSocket error: {e}; seen so far: {:?}", self.seen),
                Some(Ok(Message::Text(t))) => Frame::Json(
                    serde_json::from_str(&t)
                        .unwrap_or_else(|e| panic!("a frame that is not JSON ({e}): {t}")),
                ),
                Some(Ok(Message::Close(c))) => Frame::Close(c.map(|c| u16::from(c.code))),
                Some(Ok(Message::Binary(b))) => panic!("unexpected binary frame {b:?}"),
                Some(Ok(_)) => continue, // ping, pong, raw frame
            };
            self.seen.push(frame.clone());
            return Some(frame);
        }
    }

    fn closed(&self) -> bool {
        matches!(self.seen.last(), Some(Frame::Close(_)))
    }

    /// Reads until a JSON frame satisfies `want`; returns it.
    pub async fn until(&mut self, what: &str, mut want: impl FnMut(&Value) -> bool) -> Value {
        loop {
            match self.next().await {
                Some(Frame::Json(v)) if want(&v) => return v,
                Some(Frame::Json(_)) => {}
                other => panic!(
                    "the session ended ({other:?}) before {what}; seen: {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Reads until the program's output so far (both streams) contains
    /// `text`.
    pub async fn until_printed(&mut self, what: &str, text: &str) {
        let mut printed = String::new();
        self.until(what, |v| {
            if v["type"] == "output" {
                printed.push_str(v["content"]["text"].as_str().unwrap_or_default());
            }
            printed.contains(text)
        })
        .await;
    }

    /// Sends a JSON text frame.
    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string()))
            .await
            .expect("send a WebSocket frame");
    }

    /// Reads everything until the server closes; returns all that was seen.
    pub async fn finish(mut self) -> Transcript {
        while self.next().await.is_some() {
            if self.closed() {
                // Let the closing handshake complete, but do not wait on a
                // server that keeps the TCP connection open.
                let _ = tokio::time::timeout(Duration::from_secs(5), self.ws.next()).await;
                break;
            }
        }
        Transcript { frames: self.seen }
    }
}

/// Everything one session received.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// The frames in order, the close last.
    pub frames: Vec<Frame>,
}

impl Transcript {
    /// The JSON frames.
    pub fn json(&self) -> impl Iterator<Item = &Value> {
        self.frames.iter().filter_map(|f| match f {
            Frame::Json(v) => Some(v),
            Frame::Close(_) => None,
        })
    }

    /// The `output` frames' texts in order (`stderr`: which stream).
    pub fn outputs(&self, stderr: bool) -> Vec<String> {
        self.json()
            .filter(|v| v["type"] == "output" && v["content"]["isError"] == stderr)
            .map(|v| {
                v["content"]["text"]
                    .as_str()
                    .expect("output text is a string")
                    .to_string()
            })
            .collect()
    }

    /// The `output` frames' texts of the run step's stdout, joined.
    pub fn stdout(&self) -> String {
        self.json()
            .filter(|v| {
                v["type"] == "output"
                    && v["content"]["isError"] == false
                    && v["content"]["step"] == "run"
            })
            .map(|v| v["content"]["text"].as_str().unwrap_or_default())
            .collect()
    }

    /// The final `status` frame (the one with a verdict); panics if there
    /// is none, or if it is not the last JSON frame.
    pub fn final_status(&self) -> &Value {
        let last = self
            .json()
            .last()
            .unwrap_or_else(|| panic!("no frames: {:?}", self.frames));
        assert_eq!(last["type"], "status", "the last frame: {:?}", self.frames);
        assert!(
            last["content"].get("verdict").is_some(),
            "the last status has a verdict: {:?}",
            self.frames
        );
        &last["content"]
    }

    /// The close code; panics if the session did not end with a close frame.
    pub fn close_code(&self) -> Option<u16> {
        match self.frames.last() {
            Some(Frame::Close(code)) => *code,
            _ => panic!("the session did not end with a close: {:?}", self.frames),
        }
    }
}
