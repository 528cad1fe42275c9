//! Every language of `languages.toml` through the original service's flow
//! (`POST /api/submit`, poll `GET /api/status/{id}`, `GET /api/result/{id}`)
//! and through `POST /api/execute`: its hello world from `GET
//! /api/languages`, and a program that reads two lines of input and echoes
//! them (from `tests/language_programs.toml`).

mod support;

use std::io::Write as _;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use serde_json::Value;
use support::language_programs::{language_ids, programs};
use support::{request, Server};

/// The seed's fields and Monaco's additions, for a run that ended `ok`.
fn check_result(result: &Value, id: &str, body: &Value, stdout: &str) {
    assert_eq!(result["id"], id, "{result}");
    assert_eq!(result["code"], body["code"], "{result}");
    assert_eq!(result["language"], body["language"], "{result}");
    assert_eq!(
        result["input"],
        body.get("input").cloned().unwrap_or(Value::from("")),
        "{result}"
    );
    assert_eq!(result["status"], "completed", "{result}");
    assert_eq!(result["verdict"], "ok", "{result}");
    assert_eq!(result["stdout"], stdout, "{result}");
    assert_eq!(result["exitCode"], 0, "{result}");
    let output = result["output"].as_str().expect("`output` is a string");
    assert!(output.contains(stdout), "`output` has stdout: {result}");
    // RFC 3339 UTC with milliseconds, so that text order is time order.
    let times: Vec<&str> = ["queuedAt", "startedAt", "completedAt"]
        .iter()
        .map(|k| {
            let t = result[k]
                .as_str()
                .unwrap_or_else(|| panic!("`{k}` is a string: {result}"));
            assert!(
                t.len() == 24 && t.ends_with('Z') && &t[10..11] == "T",
                "`{k}` = {t:?}"
            );
            t
        })
        .collect();
    assert!(
        times[0] <= times[1] && times[1] <= times[2],
        "queuedAt ≤ startedAt ≤ completedAt: {times:?}"
    );
    assert!(
        result["memory"].as_u64().is_some_and(|m| m > 0),
        "`memory` is the peak in bytes: {result}"
    );
    assert!(result["cpu"].is_u64(), "`cpu` in ms: {result}");
    assert!(
        result["executionTime"].is_u64(),
        "`executionTime` in ms: {result}"
    );
}

/// What the echo program is given and must print.
const ECHO_INPUT: &str = "alpha beta\ngamma\n";
const ECHO_OUTPUT: &str = "first=alpha beta\nsecond=gamma\n";

async fn run_language(server: &Server, language: &'static str) {
    let hello = server.language(language).await["helloWorld"]
        .as_str()
        .expect("`helloWorld` is a string")
        .to_string();
    let hello_body = generous(request(language, &hello, None));
    let echo_body = generous(request(
        language,
        &programs(language).echo,
        Some(ECHO_INPUT),
    ));

    // The original flow: submit both, poll, read the results.
    let hello_id = server.submit(&hello_body).await;
    let echo_id = server.submit(&echo_body).await;
    let (hello_result, echo_result) =
        tokio::join!(server.wait_result(&hello_id), server.wait_result(&echo_id));
    check_result(&hello_result, &hello_id, &hello_body, "Hello, World!\n");
    check_result(&echo_result, &echo_id, &echo_body, ECHO_OUTPUT);

    // Run and wait.
    let (hello_result, echo_result) =
        tokio::join!(server.execute(&hello_body), server.execute(&echo_body));
    let id = hello_result["id"].as_str().unwrap().to_string();
    check_result(&hello_result, &id, &hello_body, "Hello, World!\n");
    let id = echo_result["id"].as_str().unwrap().to_string();
    check_result(&echo_result, &id, &echo_body, ECHO_OUTPUT);
    // `execute` keeps the result readable like a submitted one.
    assert_eq!(
        server.get_json(&format!("/api/result/{id}")).await["stdout"],
        ECHO_OUTPUT
    );
}

/// `body` with the longest wall times a request may have: a compiler on a
/// busy machine must not fail a test of what the program does.
fn generous(mut body: Value) -> Value {
    body["limits"] = serde_json::json!({"wall_ms": 60_000, "compile_wall_ms": 60_000});
    body
}

/// Every language of `languages.toml` (its programs from
/// `tests/language_programs.toml`), one after the other on one server;
/// the failure names every language that failed.
#[tokio::test]
async fn every_language() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let mut failed = Vec::new();
    for language in language_ids() {
        let ran = AssertUnwindSafe(run_language(&server, language))
            .catch_unwind()
            .await;
        // Straight to stderr, so that a long run shows its progress.
        let _ = writeln!(
            std::io::stderr(),
            "languages: {language} {}",
            if ran.is_ok() { "ok" } else { "FAILED" }
        );
        if ran.is_err() {
            failed.push(language);
        }
    }
    server.stop().await;
    assert!(failed.is_empty(), "failed: {failed:?}");
}
