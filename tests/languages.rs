//! Every language through the original service's flow (`POST /api/submit`,
//! poll `GET /api/status/{id}`, `GET /api/result/{id}`) and through
//! `POST /api/execute`: its hello world from `GET /api/languages`, and a
//! program that reads a line of input.

mod support;

use serde_json::Value;
use support::programs::{ask_name, ANSWER};
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

async fn run_language(language: &str) {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let hello = server.language(language).await["helloWorld"]
        .as_str()
        .expect("`helloWorld` is a string")
        .to_string();
    let hello_body = request(language, &hello, None);
    let ask_body = request(language, ask_name(language), Some("Ada\n"));
    let ask_stdout = format!("Name: {ANSWER}\n");

    // The original flow: submit both, poll, read the results.
    let hello_id = server.submit(&hello_body).await;
    let ask_id = server.submit(&ask_body).await;
    let (hello_result, ask_result) =
        tokio::join!(server.wait_result(&hello_id), server.wait_result(&ask_id));
    check_result(&hello_result, &hello_id, &hello_body, "Hello, World!\n");
    check_result(&ask_result, &ask_id, &ask_body, &ask_stdout);

    // Run and wait.
    let (hello_result, ask_result) =
        tokio::join!(server.execute(&hello_body), server.execute(&ask_body));
    let id = hello_result["id"].as_str().unwrap().to_string();
    check_result(&hello_result, &id, &hello_body, "Hello, World!\n");
    let id = ask_result["id"].as_str().unwrap().to_string();
    check_result(&ask_result, &id, &ask_body, &ask_stdout);
    // `execute` keeps the result readable like a submitted one.
    assert_eq!(
        server.get_json(&format!("/api/result/{id}")).await["stdout"],
        ask_stdout.as_str()
    );

    server.stop().await;
}

#[tokio::test]
async fn python() {
    run_language("python").await;
}

#[tokio::test]
async fn java() {
    run_language("java").await;
}

#[tokio::test]
async fn c() {
    run_language("c").await;
}

#[tokio::test]
async fn cpp() {
    run_language("cpp").await;
}

#[tokio::test]
async fn javascript() {
    run_language("javascript").await;
}

#[tokio::test]
async fn go() {
    run_language("go").await;
}
