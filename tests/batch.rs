//! Batches through the real server and Docker: twenty submissions in six
//! languages queued at once all complete with their output, read back in
//! order with `GET /api/batch`; a batch with an invalid item, or one the
//! queue has no room for, is refused and queues nothing.

mod support;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::programs::LANGUAGES;
use support::{expect_error, json_body, request, Server, ServerConfig};

/// `POST /api/batch` with these submissions.
async fn post_batch(server: &Server, items: &[Value]) -> reqwest::Response {
    let body = json!({ "submissions": items });
    server
        .request(Method::POST, "/api/batch", Some(&body))
        .await
}

/// The ids of an accepted batch, in order, tracked for the clean-up check.
async fn accepted(server: &Server, r: reqwest::Response, count: usize) -> Vec<String> {
    let body = json_body(r, StatusCode::ACCEPTED).await;
    let entries = body["submissions"].as_array().expect("a list");
    assert_eq!(entries.len(), count, "{body}");
    entries
        .iter()
        .map(|entry| {
            assert_eq!(entry["status"], "queued", "{body}");
            let id = entry["id"].as_str().expect("an id").to_string();
            server.track(&id);
            id
        })
        .collect()
}

/// `/api/health`'s queue depth and running count.
async fn load(server: &Server) -> (u64, u64) {
    let health = server.get_json("/api/health").await;
    (
        health["queueDepth"].as_u64().expect("queueDepth"),
        health["running"].as_u64().expect("running"),
    )
}

/// A server with one worker, kept busy by a sleeping program, and room
/// for `queue` waiting executions: whatever is queued stays queued.
async fn busy_server(queue: usize) -> (Server, String) {
    let server = Server::start_with(
        ServerConfig::default()
            .env("CONCURRENT_EXECUTIONS", 1)
            .env("QUEUE_CAPACITY", queue),
    )
    .await;
    let sleeper = request("python", "import time\ntime.sleep(120)\n", Some(""));
    let running = server.submit(&sleeper).await;
    server.poll_status(&running, |s| s == "running").await;
    assert_eq!(load(&server).await, (0, 1));
    (server, running)
}

/// Cancels the executions and waits until each has ended cancelled.
async fn cancel_all(server: &Server, ids: &[String]) {
    for id in ids {
        let r = server
            .request(Method::DELETE, &format!("/api/executions/{id}"), None)
            .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "cancel {id}");
    }
    for id in ids {
        let result = server.wait_result(id).await;
        assert_eq!(result["verdict"], "cancelled", "{result}");
    }
}

#[tokio::test]
async fn twenty_submissions_in_six_languages_all_complete_in_order() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(ServerConfig::default().env("CONCURRENT_EXECUTIONS", 3)).await;
    let mut hello = Vec::new();
    for language in LANGUAGES {
        let program = server.language(language).await["helloWorld"]
            .as_str()
            .expect("`helloWorld` is a string")
            .to_string();
        hello.push(program);
    }
    let items: Vec<Value> = (0..20)
        .map(|i| {
            let at = i % LANGUAGES.len();
            request(LANGUAGES[at], &hello[at], None)
        })
        .collect();
    let r = post_batch(&server, &items).await;
    let ids = accepted(&server, r, items.len()).await;

    let results = join_all(ids.iter().map(|id| server.wait_result(id))).await;
    for ((result, id), item) in results.iter().zip(&ids).zip(&items) {
        assert_eq!(result["id"], id.as_str(), "{result}");
        assert_eq!(result["language"], item["language"], "in order: {result}");
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(result["verdict"], "ok", "{result}");
        assert_eq!(result["stdout"], "Hello, World!\n", "{result}");
    }

    // Read back at once, in order, with nulls where the id is unknown.
    let unknown = uuid::Uuid::new_v4().to_string();
    let query: Vec<&str> = ids
        .iter()
        .take(19)
        .map(String::as_str)
        .chain([unknown.as_str()])
        .collect();
    let read = server
        .get_json(&format!("/api/batch?ids={}", query.join(",")))
        .await;
    let read = read["submissions"].as_array().expect("a list");
    assert_eq!(read.len(), 20);
    for (entry, result) in read.iter().zip(&results).take(19) {
        assert_eq!(entry, result, "the same as GET /api/result/{{id}}");
    }
    assert!(read[19].is_null(), "{}", read[19]);
    server.stop().await;
}

#[tokio::test]
async fn a_batch_with_an_invalid_item_queues_nothing() {
    if !support::docker_or_skip() {
        return;
    }
    let (server, running) = busy_server(10).await;
    let hello = request("python", "print('hi')\n", None);
    let items = [
        hello.clone(),
        hello.clone(),
        request("cobol", "DISPLAY 'HI'.", None),
    ];
    let r = post_batch(&server, &items).await;
    let body = expect_error(r, StatusCode::BAD_REQUEST, "request.invalid").await;
    assert_eq!(body["error"]["index"], 2, "{body}");
    assert_eq!(body["error"]["itemCode"], "language.unknown", "{body}");
    assert_eq!(load(&server).await, (0, 1), "nothing was queued");

    let r = post_batch(&server, &items[..2]).await;
    let queued = accepted(&server, r, 2).await;
    assert_eq!(load(&server).await, (2, 1));
    cancel_all(&server, &[queued, vec![running]].concat()).await;
    server.stop().await;
}

#[tokio::test]
async fn a_batch_the_queue_has_no_room_for_queues_nothing() {
    if !support::docker_or_skip() {
        return;
    }
    let (server, running) = busy_server(2).await;
    let items = vec![request("python", "print('hi')\n", None); 3];
    let r = post_batch(&server, &items).await;
    assert!(
        r.headers().contains_key("retry-after"),
        "Retry-After: {:?}",
        r.headers()
    );
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "queue.full").await;
    assert_eq!(load(&server).await, (0, 1), "nothing was queued");

    let r = post_batch(&server, &items[..2]).await;
    let queued = accepted(&server, r, 2).await;
    assert_eq!(load(&server).await, (2, 1));
    let read = server
        .get_json(&format!("/api/batch?ids={}", queued.join(",")))
        .await;
    for entry in read["submissions"].as_array().expect("a list") {
        assert_eq!(entry["status"], "queued", "{entry}");
    }
    cancel_all(&server, &[queued, vec![running]].concat()).await;
    server.stop().await;
}
