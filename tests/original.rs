//! The original service's flow against the real server and Docker: submit,
//! poll `/api/status`, read `/api/result`, watch the WebSocket. `status` is
//! `failed` for a compile error, a non-zero exit, a signal and every limit,
//! and `completed` only for a program that ran and exited 0; the terminal
//! sends one final status, an `error` frame before it on a limit verdict,
//! and lingers after it, announced by a `system` frame.
//!
//! That an interactive program that stops reading ends by itself, in every
//! language, is `tests/terminal.rs`' interactive sessions.

mod support;

use serde_json::{json, Value};
use support::{Server, ServerConfig};

/// WebSocket close code of a normal closure.
const NORMAL: u16 = 1000;
const MIB: u64 = 1024 * 1024;

/// A program, its limits, and what the original's flow must report.
struct Case {
    what: &'static str,
    language: &'static str,
    code: &'static str,
    limits: Value,
    verdict: &'static str,
    /// `errorType` of the `error` frame before the final status.
    error_type: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "success",
            language: "python",
            code: "print('hi')\n",
            limits: json!({}),
            verdict: "ok",
            error_type: None,
        },
        Case {
            what: "compile error",
            language: "c",
            code: "int main( {\n",
            limits: json!({}),
            verdict: "compile_error",
            error_type: None,
        },
        Case {
            what: "exit 3",
            language: "python",
            code: "import sys\nsys.exit(3)\n",
            limits: json!({}),
            verdict: "runtime_error",
            error_type: None,
        },
        Case {
            what: "a signal",
            language: "c",
            code: "#include <signal.h>\nint main(void) { raise(SIGSEGV); return 0; }\n",
            limits: json!({}),
            verdict: "runtime_error",
            error_type: None,
        },
        Case {
            what: "timeout",
            language: "python",
            code: "while True:\n    pass\n",
            limits: json!({"wall_ms": 1500, "cpu_ms": 1000}),
            verdict: "time_limit_exceeded",
            error_type: Some("timeout"),
        },
        Case {
            what: "memory",
            language: "python",
            code: "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n",
            limits: json!({"memory_bytes": 64 * MIB}),
            verdict: "memory_limit_exceeded",
            error_type: Some("memory_limit"),
        },
        Case {
            what: "output",
            language: "python",
            code: "while True:\n    print('x' * 1000)\n",
            limits: json!({"output_bytes": 4096}),
            verdict: "output_limit_exceeded",
            error_type: Some("output_limit"),
        },
    ]
}

#[tokio::test]
async fn the_original_flow_reports_failed_unless_the_program_succeeded() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    for case in cases() {
        let what = case.what;
        let want = if case.verdict == "ok" {
            "completed"
        } else {
            "failed"
        };
        let body = json!({"language": case.language, "code": case.code, "input": "",
            "limits": case.limits});
        let id = server.submit(&body).await;
        // Watched live, as the original's frontend does.
        let transcript = server.terminal(&id).await.finish().await;
        let status = server.poll_status(&id, support::is_final).await;
        assert_eq!(status, want, "{what}: /api/status");
        let result = server.wait_result(&id).await;
        assert_eq!(result["verdict"], case.verdict, "{what}: {result}");
        assert_eq!(result["status"], want, "{what}: {result}");

        let frames: Vec<&Value> = transcript.json().collect();
        let finals: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f["type"] == "status"
                    && matches!(
                        f["content"]["status"].as_str(),
                        Some("completed" | "failed")
                    )
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(finals.len(), 1, "{what}: one final status: {frames:?}");
        let last = finals[0];
        assert_eq!(last, frames.len() - 1, "{what}: {frames:?}");
        assert_eq!(frames[last]["content"]["status"], want, "{what}");
        assert_eq!(frames[last]["content"]["verdict"], case.verdict, "{what}");
        assert_eq!(transcript.close_code(), Some(NORMAL), "{what}");
        let errors: Vec<&&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
        match case.error_type {
            Some(kind) => {
                assert_eq!(errors.len(), 1, "{what}: {frames:?}");
                let error = frames[last - 1];
                assert_eq!(
                    error["type"], "error",
                    "{what}: before the status: {frames:?}"
                );
                assert_eq!(error["content"]["errorType"], kind, "{what}: {error}");
                let message = error["content"]["message"].as_str().unwrap_or_default();
                assert!(!message.is_empty(), "{what}: {error}");
                if kind == "timeout" {
                    assert!(
                        message.starts_with("Execution timed out after "),
                        "{message}"
                    );
                }
            }
            None => assert!(errors.is_empty(), "{what}: no error frame: {frames:?}"),
        }
        if what == "a signal" {
            assert_eq!(result["signal"], 11, "{result}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_terminal_lingers_after_the_final_status_with_a_system_frame() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(ServerConfig::default().env("MONACO_WS_LINGER", 1)).await;
    let body = json!({"language": "python", "code": "print('hi')\n", "input": ""});
    let id = server.submit(&body).await;
    let transcript = server.terminal(&id).await.finish().await;
    let frames: Vec<&Value> = transcript.json().collect();
    let n = frames.len();
    assert_eq!(
        frames[n - 1],
        &json!({"type": "system", "content": "Connection will close in 1 second"}),
        "{frames:?}"
    );
    assert_eq!(frames[n - 2]["type"], "status", "{frames:?}");
    assert_eq!(
        frames[n - 2]["content"]["status"],
        "completed",
        "{frames:?}"
    );
    assert_eq!(transcript.close_code(), Some(NORMAL));
    server.stop().await;

    // A linger far longer than the terminal's own patience: only a close
    // at once on `kill` lets this session end.
    let server = Server::start_with(ServerConfig::default().env("MONACO_WS_LINGER", 3600)).await;
    let id = server.submit(&body).await;
    let mut term = server.terminal(&id).await;
    term.until("the closing announcement", |v| {
        v["type"] == "system"
            && v["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Connection will close in 3600"))
    })
    .await;
    term.send(json!({"type": "input", "content": "late"})).await;
    let refused = term.until("an error frame", |v| v["type"] == "error").await;
    assert_eq!(
        refused["content"]["errorType"], "execution.finished",
        "{refused}"
    );
    term.send(json!({"type": "kill"})).await;
    let transcript = term.finish().await;
    assert_eq!(transcript.close_code(), Some(NORMAL));
    server.stop().await;
}
