//! The WebSocket terminal, over a real loopback socket: frames, prompts,
//! input, replay and kill.

use super::*;

/// Either end of the client's WebSocket.
pub(crate) trait Socket:
    futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
    + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<T> Socket for T where
    T: futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

pub(crate) async fn submit(server: &actix_test::TestServer, body: Value) -> String {
    let mut response = server.post("/api/submit").send_json(&body).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let v: Value = response.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

pub(crate) async fn connect(server: &mut actix_test::TestServer, path: &str) -> impl Socket {
    server.ws_at(path).await.expect("the handshake succeeds")
}

/// The next text frame as JSON; `None` once the server closed.
async fn next(socket: &mut impl Socket) -> Option<Value> {
    loop {
        match socket.next().await? {
            Ok(ws::Frame::Text(t)) => return Some(serde_json::from_slice(&t).unwrap()),
            Ok(ws::Frame::Close(reason)) => {
                let code = reason.map(|r| r.code);
                assert_eq!(code, Some(ws::CloseCode::Normal), "closes normally");
                return None;
            }
            Ok(_) => continue,
            Err(e) => panic!("protocol error: {e}"),
        }
    }
}

/// Every frame until the server closes.
pub(crate) async fn rest(socket: &mut impl Socket) -> Vec<Value> {
    let mut all = Vec::new();
    while let Some(frame) = next(socket).await {
        all.push(frame);
    }
    all
}

/// Frames until one of type `kind` (returned last).
async fn until(socket: &mut impl Socket, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next(socket)
            .await
            .unwrap_or_else(|| panic!("closed before a {kind} frame: {seen:?}"));
        let done = frame["type"] == kind;
        seen.push(frame);
        if done {
            return seen;
        }
    }
}

pub(crate) fn server(executor: &Executor<Fake>) -> actix_test::TestServer {
    let state = state(executor, 1 << 20);
    actix_test::start(move || app!(state.clone()))
}

#[actix_web::test]
async fn the_terminal_streams_prompts_and_takes_a_line() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = server(&executor);
    let id = submit(
        &srv,
        json!({"language": "c", "code": "prompt Name:\\s\nprint done"}),
    )
    .await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let before = until(&mut socket, "input_prompt").await;
    assert_eq!(
        before[0],
        json!({"type": "status", "content": {"status": "queued"}})
    );
    assert!(before.contains(&json!({"type": "system", "content": "running"})));
    assert!(before.contains(
        &json!({"type": "output", "content": {"text": "Name: ", "isError": false, "step": "run"}})
    ));
    assert_eq!(
        before.last().unwrap(),
        &json!({"type": "input_prompt", "content": "Name: "})
    );
    socket.send(ws::Message::Text("Ada".into())).await.unwrap();
    let after = rest(&mut socket).await;
    let last = after.last().unwrap();
    assert_eq!(last["type"], "status", "{after:?}");
    assert_eq!(last["content"]["status"], "completed");
    assert_eq!(last["content"]["verdict"], "ok");
    assert_eq!(last["content"]["exitCode"], 0);
    assert_eq!(last["content"]["truncated"], false);
    assert!(after.contains(
        &json!({"type": "output", "content": {"text": "done\n", "isError": false, "step": "run"}})
    ));
    // The line typed reached the program with its newline.
    let typed = fake.inputs(id.parse().unwrap());
    assert!(typed.contains(&monaco_executor::InputCommand::Bytes(b"Ada\n".to_vec())));
}

#[actix_web::test]
async fn a_late_terminal_gets_the_log_replayed_from_any_index() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = server(&executor);
    let id = submit(
        &srv,
        json!({"language": "python", "code": "print one\nprint two\nexit 1", "input": ""}),
    )
    .await;
    executor.wait(id.parse().unwrap()).await.unwrap();
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let all = rest(&mut socket).await;
    assert_eq!(all.first().unwrap()["content"]["status"], "queued");
    assert_eq!(all.last().unwrap()["content"]["verdict"], "runtime_error");
    assert_eq!(all.last().unwrap()["content"]["status"], "failed");
    for from in 1..all.len() {
        let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}?from={from}")).await;
        assert_eq!(rest(&mut socket).await, all[from..], "from={from}");
    }
}

#[actix_web::test]
async fn client_frames_bytes_eof_errors_and_kill() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let mut srv = server(&executor);
    let id = submit(&srv, json!({"language": "python", "code": "echo"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let bad = [
        r#"{"type":"bogus"}"#,
        r#"{"type":"stdin","base64":"!!"}"#,
        r#"{"type":"stdin","content":"a","base64":"YQ=="}"#,
    ];
    for frame in bad {
        socket.send(ws::Message::Text(frame.into())).await.unwrap();
        let reply = until(&mut socket, "error").await;
        assert_eq!(
            reply.last().unwrap()["content"]["errorType"],
            "websocket.invalid_message",
            "{frame}"
        );
    }
    let text = r#"{"type":"stdin","content":"ab"}"#;
    socket.send(ws::Message::Text(text.into())).await.unwrap();
    socket
        .send(ws::Message::Binary(vec![0xff, b'\n'].into()))
        .await
        .unwrap();
    socket
        .send(ws::Message::Text(r#"{"type":"eof"}"#.into()))
        .await
        .unwrap();
    let frames = rest(&mut socket).await;
    let printed: Vec<&Value> = frames.iter().filter(|f| f["type"] == "output").collect();
    assert_eq!(printed[0]["content"]["text"], "ab", "{frames:?}");
    assert_eq!(printed[1]["content"]["base64"], "/wo=", "{frames:?}");
    assert_eq!(frames.last().unwrap()["content"]["verdict"], "ok");

    let id = submit(&srv, json!({"language": "python", "code": "wait"})).await;
    let mut socket = connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    until(&mut socket, "system").await;
    socket
        .send(ws::Message::Text(r#"{"type":"kill"}"#.into()))
        .await
        .unwrap();
    let frames = rest(&mut socket).await;
    let last = &frames.last().unwrap()["content"];
    assert_eq!(last["status"], "failed", "{frames:?}");
    assert_eq!(last["verdict"], "cancelled", "{frames:?}");
    assert_eq!(last["error"]["code"], "execution.cancelled", "{frames:?}");
}
