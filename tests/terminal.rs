//! `WS /api/ws/terminal/{id}`: an interactive session in every language
//! (prompt → input → answer → the program ends by itself → final status →
//! normal close), replay for a client that connects after the run, and two
//! clients on one execution.

mod support;

use std::io::Write as _;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use serde_json::{json, Value};
use support::language_programs::{language_ids, programs, PromptSeen};
use support::programs::ANSWER;
use support::terminal::Frame;
use support::{request, Server};

/// WebSocket close code of a normal closure.
const NORMAL: u16 = 1000;

async fn interactive(server: &Server, language: &'static str, code: &str, seen: PromptSeen) {
    // No input: `/api/submit` keeps stdin open for the terminal.
    let mut body = request(language, code, None);
    // A compiler on a busy machine must not fail a test of the conversation.
    body["limits"] = json!({"wall_ms": 60_000, "compile_wall_ms": 60_000});
    let id = server.submit(&body).await;
    let mut term = server.terminal(&id).await;

    match seen {
        PromptSeen::Exact => {
            let prompt = term
                .until("an input prompt", |v| v["type"] == "input_prompt")
                .await;
            assert_eq!(
                prompt,
                json!({"type": "input_prompt", "content": "Name: "}),
                "{language}: frames so far: {:?}",
                term.seen
            );
        }
        // Empty prompts while the runtime boots, then the prompt.
        PromptSeen::AfterBoot => {
            term.until("the input prompt", |v| {
                v["type"] == "input_prompt" && v["content"] == "Name: "
            })
            .await;
        }
        // No prompt is reported, but its text shows before the read.
        PromptSeen::Unseen => {
            term.until_printed("the prompt's text", "Name: ").await;
        }
    }
    term.send(json!({"type": "input", "content": "Ada"})).await;
    // Nothing more is sent, not even end of input: the program stops
    // reading and returns, and ends by itself as it would in a terminal
    // (Node too, after `rl.close()`). Were it left waiting, the wall limit
    // would end it as time_limit_exceeded, not ok.
    let transcript = term.finish().await;

    let stdout = transcript.stdout();
    assert!(
        stdout.contains(ANSWER),
        "{language}: {ANSWER:?} in the output {stdout:?}; frames: {:?}",
        transcript.frames
    );
    let status = transcript.final_status();
    let frames = &transcript.frames;
    assert_eq!(status["status"], "completed", "{language}: {frames:?}");
    assert_eq!(status["verdict"], "ok", "{language}: {frames:?}");
    assert_eq!(status["exitCode"], 0, "{language}: {frames:?}");
    assert_eq!(transcript.close_code(), Some(NORMAL));

    // The result agrees with what the terminal showed.
    let result = server.wait_result(&id).await;
    assert_eq!(result["verdict"], "ok", "{language}: {result}");
    assert_eq!(result["stdout"], stdout.as_str(), "{language}: {result}");
}

/// A conversation in every language of `languages.toml` that can hold one
/// (its program from `tests/language_programs.toml`), one after the other on
/// one server; the failure names every language that failed.
#[tokio::test]
async fn interactive_every_language() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let mut failed = Vec::new();
    for language in language_ids() {
        let Some(code) = programs(language).interactive.as_deref() else {
            continue;
        };
        let seen = programs(language).prompt;
        let ran = AssertUnwindSafe(interactive(&server, language, code, seen))
            .catch_unwind()
            .await;
        // Straight to stderr, so that a long run shows its progress.
        let _ = writeln!(
            std::io::stderr(),
            "terminal: {language} {}",
            if ran.is_ok() { "ok" } else { "FAILED" }
        );
        if ran.is_err() {
            failed.push(language);
        }
    }
    server.stop().await;
    assert!(failed.is_empty(), "failed: {failed:?}");
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

/// A flood of short unbuffered lines past the output cap: every byte up to
/// the cap, in order, in few output frames (the agent coalesces chunks that
/// arrive close together), the same frames live and in the replay, and the
/// stderr line printed between the stdout lines in its place.
#[tokio::test]
async fn an_output_flood_arrives_byte_exact_in_few_frames() {
    if !support::docker_or_skip() {
        return;
    }
    const CAP: usize = 1024 * 1024;
    let code = "import sys\n\
                print('begin', file=sys.stderr)\n\
                for i in range(10 ** 7):\n    print(i)\n";
    let server = Server::start().await;
    let id = server.submit(&request("python", code, None)).await;
    let live = server.terminal(&id).await.finish().await;
    let result = server.wait_result(&id).await;
    assert_eq!(result["verdict"], "output_limit_exceeded", "{result}");

    let mut want = String::new();
    let mut i = 0u64;
    while want.len() < CAP {
        want.push_str(&format!("{i}\n"));
        i += 1;
    }
    want.truncate(CAP);
    let stdout = live.outputs(false);
    assert_eq!(stdout.concat().len(), CAP);
    assert!(stdout.concat() == want, "the flood's bytes are not exact");
    assert_eq!(live.outputs(true).concat(), "begin\n");
    // One frame per line (or per pipe read) would be thousands; coalesced
    // output is bounded by the time the program ran and a size cap. The
    // bound is generous for a slow machine: the program runs about a second.
    assert!(
        stdout.len() < 1000,
        "{} stdout frames for 1 MiB of output",
        stdout.len()
    );
    // The event log holds the same chunks: a late client sees the same.
    let replay = server.terminal(&id).await.finish().await;
    assert_eq!(replay.outputs(false), stdout);
    assert_eq!(replay.outputs(true), live.outputs(true));
    server.stop().await;
}
