//! `WS /api/ws/terminal/{id}`: an interactive session in every language
//! (prompt → input → answer → the program ends by itself → final status →
//! normal close), replay for a client that connects after the run, and two
//! clients on one execution.

mod support;

use serde_json::{json, Value};
use support::programs::{ask_name, ANSWER};
use support::terminal::Frame;
use support::{request, Server};

/// WebSocket close code of a normal closure.
const NORMAL: u16 = 1000;

async fn interactive(language: &str) {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    // No input: `/api/submit` keeps stdin open for the terminal.
    let mut body = request(language, ask_name(language), None);
    body["limits"] = json!({"wall_ms": 20_000});
    let id = server.submit(&body).await;
    let mut term = server.terminal(&id).await;

    let prompt = term
        .until("an input prompt", |v| v["type"] == "input_prompt")
        .await;
    assert_eq!(
        prompt,
        json!({"type": "input_prompt", "content": "Name: "}),
        "frames so far: {:?}",
        term.seen
    );
    term.send(json!({"type": "input", "content": "Ada"})).await;
    // Nothing more is sent, not even end of input: the program stops
    // reading and returns, and ends by itself as it would in a terminal
    // (Node too, after `rl.close()`). Were it left waiting, the wall limit
    // would end it as time_limit_exceeded, not ok.
    let transcript = term.finish().await;

    let stdout = transcript.stdout();
    assert!(
        stdout.contains(ANSWER),
        "{ANSWER:?} in the output {stdout:?}; frames: {:?}",
        transcript.frames
    );
    let status = transcript.final_status();
    let frames = &transcript.frames;
    assert_eq!(status["status"], "completed", "{frames:?}");
    assert_eq!(status["verdict"], "ok", "{frames:?}");
    assert_eq!(status["exitCode"], 0, "{frames:?}");
    assert_eq!(transcript.close_code(), Some(NORMAL));

    // The result agrees with what the terminal showed.
    let result = server.wait_result(&id).await;
    assert_eq!(result["verdict"], "ok", "{result}");
    assert_eq!(result["stdout"], stdout.as_str(), "{result}");
    server.stop().await;
}

#[tokio::test]
async fn interactive_python() {
    interactive("python").await;
}

#[tokio::test]
async fn interactive_java() {
    interactive("java").await;
}

#[tokio::test]
async fn interactive_c() {
    interactive("c").await;
}

#[tokio::test]
async fn interactive_cpp() {
    interactive("cpp").await;
}

#[tokio::test]
async fn interactive_javascript() {
    interactive("javascript").await;
}

#[tokio::test]
async fn interactive_go() {
    interactive("go").await;
}

/// Prints numbered lines to both streams, each flushed on its own, with
/// short pauses so that a live client sees them arrive one by one.
const CHATTY: &str = r#"import sys, time
for i in range(20):
    print(f"out {i}", flush=True)
    if i % 5 == 0:
        print(f"err {i}", file=sys.stderr, flush=True)
    time.sleep(0.02)
"#;

fn chatty_stdout() -> String {
    (0..20).map(|i| format!("out {i}\n")).collect()
}

fn chatty_stderr() -> String {
    (0..20).step_by(5).map(|i| format!("err {i}\n")).collect()
}

fn check_chatty(transcript: &support::terminal::Transcript, result: &Value) {
    assert_eq!(transcript.outputs(false).concat(), chatty_stdout());
    assert_eq!(transcript.outputs(true).concat(), chatty_stderr());
    assert_eq!(result["stdout"], chatty_stdout().as_str(), "{result}");
    assert_eq!(result["stderr"], chatty_stderr().as_str(), "{result}");
    let status = transcript.final_status();
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["verdict"], "ok", "{status}");
    assert_eq!(transcript.close_code(), Some(NORMAL));
}

#[tokio::test]
async fn late_client_gets_the_whole_replay() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let id = server.submit(&request("python", CHATTY, Some(""))).await;
    let result = server.wait_result(&id).await;
    assert_eq!(result["status"], "completed", "{result}");

    let transcript = server.terminal(&id).await.finish().await;
    check_chatty(&transcript, &result);
    // The replay starts at the beginning: the first frame is a status.
    let first = transcript.json().next().unwrap();
    assert_eq!(first["type"], "status", "{first}");

    // A second late client sees exactly the same frames.
    let again = server.terminal(&id).await.finish().await;
    assert_eq!(again.frames, transcript.frames);
    server.stop().await;
}

#[tokio::test]
async fn two_clients_on_one_execution_both_get_everything() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    // Connect both before the program prints: one may still join late, but
    // both must see the same sequence of frames either way.
    let id = server.submit(&request("python", CHATTY, Some(""))).await;
    let first = server.terminal(&id).await;
    let second = server.terminal(&id).await;
    let (a, b) = tokio::join!(first.finish(), second.finish());
    let result = server.wait_result(&id).await;
    check_chatty(&a, &result);
    check_chatty(&b, &result);
    assert_eq!(a.outputs(false), b.outputs(false));
    assert_eq!(a.outputs(true), b.outputs(true));
    assert_eq!(a.frames, b.frames);
    assert!(
        a.frames
            .iter()
            .all(|f| !matches!(f, Frame::Json(v) if v["type"] == "error")),
        "no error frames: {:?}",
        a.frames
    );
    server.stop().await;
}
