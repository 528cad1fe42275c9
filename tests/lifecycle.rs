//! An execution's life under pressure: cancelled mid-run, and a burst larger
//! than the queue.

mod support;

use std::collections::HashSet;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use support::{expect_error, request, Server, ServerConfig};

#[tokio::test]
async fn cancel_mid_run() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let id = server
        .submit(&request("python", "while True:\n    pass\n", Some("")))
        .await;
    // Mid-run: the run step has started (the terminal says so).
    let mut term = server.terminal(&id).await;
    term.until("the run step", |v| {
        v["type"] == "system" && v["content"] == "running"
    })
    .await;
    // The check `stop` makes at the end sees this execution's container.
    let ids = HashSet::from([id.clone()]);
    assert_eq!(support::containers_left(&ids), vec![id.clone()]);

    let path = format!("/api/executions/{id}");
    let r = server.request(Method::DELETE, &path, None).await;
    let v = support::json_body(r, StatusCode::ACCEPTED).await;
    assert_eq!(v["id"], id.as_str(), "{v}");

    // The terminal sees the end, then a normal close.
    let transcript = term.finish().await;
    let status = transcript.final_status();
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["verdict"], "cancelled", "{status}");
    assert_eq!(transcript.close_code(), Some(1000));

    let result = server.wait_result(&id).await;
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "cancelled", "{result}");

    let again = server.request(Method::DELETE, &path, None).await;
    expect_error(again, StatusCode::CONFLICT, "execution.finished").await;
    server.stop().await;
}

#[tokio::test]
async fn burst_beyond_the_queue_gets_503_and_the_rest_completes() {
    if !support::docker_or_skip() {
        return;
    }
    const BURST: usize = 12;
    const QUEUE: usize = 3;
    let server = Server::start_with(
        ServerConfig::default()
            .env("CONCURRENT_EXECUTIONS", 1)
            .env("QUEUE_CAPACITY", QUEUE),
    )
    .await;
    let code = "import time\ntime.sleep(0.3)\nprint('done')\n";
    let body = request("python", code, Some(""));
    let responses = join_all((0..BURST).map(|_| server.submit_raw(&body))).await;

    let mut accepted = Vec::new();
    let mut rejected = 0;
    for r in responses {
        match r.status() {
            StatusCode::ACCEPTED => {
                let v = support::json_body(r, StatusCode::ACCEPTED).await;
                let id = v["id"].as_str().expect("an id").to_string();
                server.track(&id);
                accepted.push(id);
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                support::expect_retry_later(r, StatusCode::SERVICE_UNAVAILABLE, "queue.full").await;
                rejected += 1;
            }
            other => panic!("unexpected {other}: {:?}", r.text().await),
        }
    }
    // A full queue plus the one the worker took (unless it had not taken
    // it yet when the burst ended).
    assert!(
        accepted.len() >= QUEUE && accepted.len() <= QUEUE + 1,
        "accepted {} of {BURST}",
        accepted.len()
    );
    assert_eq!(accepted.len() + rejected, BURST);

    for id in &accepted {
        let result = server.wait_result(id).await;
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(result["verdict"], "ok", "{result}");
        assert_eq!(result["stdout"], "done\n", "{result}");
    }
    server.stop().await;
}
