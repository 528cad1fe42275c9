//! The original service's semantics: `status` is `completed` exactly for
//! verdict `ok` and `failed` otherwise on every surface; the terminal sends
//! one final `status`, an `error` frame before it for a limit verdict, and
//! then lingers, announced by a `system` frame.

use super::terminal::{connect, server, submit, Socket};
use super::*;

use monaco_executor::ExecutionId;

/// Fake programs, the verdict each ends with, and the `errorType` of the
/// `error` frame its terminal gets before the final status.
const PROGRAMS: &[(&str, &str, Option<&str>)] = &[
    ("print hi", "ok", None),
    ("exit 3", "runtime_error", None),
    ("compile_error boom", "compile_error", None),
    ("end runtime_error", "runtime_error", None),
    (
        "end time_limit_exceeded",
        "time_limit_exceeded",
        Some("timeout"),
    ),
    (
        "end memory_limit_exceeded",
        "memory_limit_exceeded",
        Some("memory_limit"),
    ),
    (
        "end output_limit_exceeded",
        "output_limit_exceeded",
        Some("output_limit"),
    ),
    ("end internal_error", "internal_error", None),
];

fn status_of(verdict: &str) -> &'static str {
    if verdict == "ok" {
        "completed"
    } else {
        "failed"
    }
}

/// A test server whose terminals linger for `linger`.
fn lingering(executor: &Executor<Fake>, linger: Duration) -> actix_test::TestServer {
    let config = ApiConfig {
        ws_linger: linger,
        ..ApiConfig::default()
    };
    let state = AppState::new(executor.clone(), config);
    actix_test::start(move || app!(state.clone()))
}

async fn get_json(srv: &actix_test::TestServer, path: &str) -> Value {
    let mut response = srv.get(path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// Every frame until the server closes, and the close code.
async fn frames_and_close(socket: &mut impl Socket) -> (Vec<Value>, Option<ws::CloseCode>) {
    let mut frames = Vec::new();
    loop {
        match socket.next().await {
            Some(Ok(ws::Frame::Text(t))) => frames.push(serde_json::from_slice(&t).unwrap()),
            Some(Ok(ws::Frame::Close(reason))) => return (frames, reason.map(|r| r.code)),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("protocol error: {e}; after {frames:?}"),
            None => return (frames, None),
        }
    }
}

/// The next text frame, as JSON.
async fn next_text(socket: &mut impl Socket) -> Value {
    loop {
        match socket.next().await {
            Some(Ok(ws::Frame::Text(t))) => return serde_json::from_slice(&t).unwrap(),
            Some(Ok(ws::Frame::Ping(_) | ws::Frame::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Frames up to and including the `system` frame that announces the close.
async fn until_closing(socket: &mut impl Socket) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next_text(socket).await;
        let closing = frame["type"] == "system"
            && frame["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("Connection will close"));
        seen.push(frame);
        if closing {
            return seen;
        }
    }
}

#[actix_web::test]
async fn status_is_completed_exactly_for_ok_on_every_surface() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 50).await;
    let mut srv = server(&executor);
    let mut ids = Vec::new();
    for &(code, verdict, _) in PROGRAMS {
        let want = status_of(verdict);
        // /api/execute
        let mut response = srv
            .post("/api/execute")
            .send_json(&json!({"language": "python", "code": code, "input": ""}))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{code}");
        let executed: Value = response.json().await.unwrap();
        assert_eq!(executed["verdict"], verdict, "{code}: {executed}");
        assert_eq!(executed["status"], want, "{code}: {executed}");

        // The original's flow: submit, then status and result by id.
        let id = submit(
            &srv,
            json!({"language": "python", "code": code, "input": ""}),
        )
        .await;
        executor.wait(id.parse().unwrap()).await.unwrap();
        let status = get_json(&srv, &format!("/api/status/{id}")).await;
        assert_eq!(status, json!({"id": id, "status": want}), "{code}");
        let result = get_json(&srv, &format!("/api/result/{id}")).await;
        assert_eq!(result["verdict"], verdict, "{code}: {result}");
        assert_eq!(result["status"], want, "{code}: {result}");

        // The terminal's final status frame.
        let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
        let (frames, _) = frames_and_close(&mut socket).await;
        let last = frames.last().unwrap();
        assert_eq!(last["type"], "status", "{code}: {frames:?}");
        assert_eq!(last["content"]["status"], want, "{code}: {frames:?}");
        assert_eq!(last["content"]["verdict"], verdict, "{code}: {frames:?}");
        ids.push(id);
    }

    // Batches: each item's status, in order.
    let items: Vec<Value> = PROGRAMS
        .iter()
        .map(|(code, _, _)| json!({"language": "python", "code": code, "input": ""}))
        .collect();
    let mut response = srv
        .post("/api/batch")
        .send_json(&json!({ "submissions": items }))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    let batch: Vec<String> = accepted["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    for id in &batch {
        executor.wait(id.parse().unwrap()).await.unwrap();
    }
    let read = get_json(&srv, &format!("/api/batch?ids={}", batch.join(","))).await;
    for ((code, verdict, _), result) in PROGRAMS.iter().zip(read["submissions"].as_array().unwrap())
    {
        assert_eq!(result["verdict"], *verdict, "{code}: {result}");
        assert_eq!(result["status"], status_of(verdict), "{code}: {result}");
    }

    // Cancelled, and a wrong answer, are failed too.
    let id = submit(&srv, json!({"language": "python", "code": "wait"})).await;
    let parsed: ExecutionId = id.parse().unwrap();
    executor.cancel(parsed).await.unwrap();
    executor.wait(parsed).await.unwrap();
    let status = get_json(&srv, &format!("/api/status/{id}")).await;
    assert_eq!(status["status"], "failed", "{status}");
    let mut response = srv
        .post("/api/execute")
        .send_json(&json!({"language": "python", "code": "print 4",
            "tests": [{"input": "", "expectedOutput": "5"}]}))
        .await
        .unwrap();
    let wrong: Value = response.json().await.unwrap();
    assert_eq!(wrong["verdict"], "wrong_answer", "{wrong}");
    assert_eq!(wrong["status"], "failed", "{wrong}");
}

#[actix_web::test]
async fn one_final_status_and_an_error_frame_for_each_limit() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 50).await;
    let mut srv = server(&executor);
    for &(code, verdict, error_type) in PROGRAMS {
        let id = submit(&srv, json!({"language": "python", "code": code})).await;
        let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
        let (frames, close) = frames_and_close(&mut socket).await;
        assert_eq!(close, Some(ws::CloseCode::Normal), "{code}");
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
        assert_eq!(finals.len(), 1, "{code}: one final status: {frames:?}");
        let last = finals[0];
        assert_eq!(last, frames.len() - 1, "{code}: the last frame: {frames:?}");
        assert_eq!(frames[last]["content"]["verdict"], verdict, "{code}");
        let errors: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
        match error_type {
            Some(kind) => {
                assert_eq!(errors.len(), 1, "{code}: {frames:?}");
                assert_eq!(
                    frames[last - 1]["type"],
                    "error",
                    "{code}: just before the status: {frames:?}"
                );
                assert_eq!(frames[last - 1]["content"]["errorType"], kind, "{code}");
                let message = frames[last - 1]["content"]["message"].as_str().unwrap();
                assert!(!message.is_empty(), "{code}");
                if kind == "timeout" {
                    assert!(
                        message.starts_with("Execution timed out after "),
                        "{message}"
                    );
                }
            }
            None => assert!(errors.is_empty(), "{code}: no error frame: {frames:?}"),
        }
    }
}

#[actix_web::test]
async fn the_terminal_lingers_after_the_final_status_then_closes() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = lingering(&executor, Duration::from_millis(300));
    let id = submit(&srv, json!({"language": "python", "code": "print hi"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let (frames, close) = frames_and_close(&mut socket).await;
    assert_eq!(close, Some(ws::CloseCode::Normal), "{frames:?}");
    let n = frames.len();
    assert_eq!(frames[n - 2]["type"], "status", "{frames:?}");
    assert_eq!(frames[n - 2]["content"]["status"], "completed");
    assert_eq!(
        frames[n - 1],
        json!({"type": "system", "content": "Connection will close in 0.3 seconds"})
    );
}

#[actix_web::test]
async fn the_linger_is_announced_in_seconds_and_the_socket_still_answers() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    // Long enough that only a close on request ends these sockets.
    let mut srv = lingering(&executor, Duration::from_secs(600));
    let id = submit(&srv, json!({"language": "python", "code": "exit 3"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let frames = until_closing(&mut socket).await;
    assert_eq!(
        frames.last().unwrap(),
        &json!({"type": "system", "content": "Connection will close in 600 seconds"})
    );
    // Still open: input now is answered, and refused as too late.
    socket
        .send(ws::Message::Text(
            r#"{"type":"input","content":"x"}"#.into(),
        ))
        .await
        .unwrap();
    let reply = next_text(&mut socket).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(
        reply["content"]["errorType"], "execution.finished",
        "{reply}"
    );
    socket
        .send(ws::Message::Text(r#"{"type":"kill"}"#.into()))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), frames_and_close(&mut socket)).await;
    let (rest, close) = ended.expect("kill during the linger closes at once");
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(close, Some(ws::CloseCode::Normal));
}

#[actix_web::test]
async fn a_client_that_closes_during_the_linger_is_answered_at_once() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = lingering(&executor, Duration::from_secs(600));
    let id = submit(&srv, json!({"language": "python", "code": "print hi"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    until_closing(&mut socket).await;
    socket
        .send(ws::Message::Close(Some(ws::CloseCode::Normal.into())))
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(60), frames_and_close(&mut socket)).await;
    let (rest, close) = ended.expect("the server answers the close at once");
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(close, Some(ws::CloseCode::Normal));
}

#[actix_web::test]
async fn a_linger_of_zero_closes_at_once_without_the_system_frame() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = lingering(&executor, Duration::ZERO);
    let id = submit(&srv, json!({"language": "python", "code": "print hi"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let (frames, close) = frames_and_close(&mut socket).await;
    assert_eq!(close, Some(ws::CloseCode::Normal));
    assert_eq!(frames.last().unwrap()["type"], "status", "{frames:?}");
    assert!(
        !frames
            .iter()
            .any(|f| f["type"] == "system"
                && f["content"].as_str().unwrap().starts_with("Connection")),
        "{frames:?}"
    );
}
