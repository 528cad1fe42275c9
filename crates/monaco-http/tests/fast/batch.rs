//! Batches: `POST /api/batch` queues all or nothing, `GET /api/batch?ids=`
//! reads many results in order.

use super::*;

use monaco_executor::ExecutionId;

fn batch(items: &[Value]) -> test::TestRequest {
    post("/api/batch", json!({ "submissions": items }).to_string())
}

fn item(code: &str) -> Value {
    json!({"language": "python", "code": code})
}

fn get(path: &str) -> test::TestRequest {
    test::TestRequest::get().uri(path)
}

/// The ids of a `202` batch answer, checking each entry's shape.
fn ids_of(status: StatusCode, body: &Value, count: usize) -> Vec<ExecutionId> {
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let entries = body["submissions"].as_array().expect("a list");
    assert_eq!(entries.len(), count, "{body}");
    entries
        .iter()
        .map(|entry| {
            assert_eq!(entry["status"], "queued", "{body}");
            entry["id"].as_str().unwrap().parse().expect("an id")
        })
        .collect()
}

/// Executions waiting in the queue, as `/api/health` reports them.
macro_rules! queue_depth {
    ($service:expr) => {{
        let (_, health, _) = call!($service, get("/api/health"));
        health["queueDepth"].as_u64().expect("a depth")
    }};
}

#[actix_web::test]
async fn a_batch_is_queued_in_order_and_read_back_in_order() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let items = [
        json!({"language": "python", "code": "print first", "input": ""}),
        json!({"language": "c", "code": "echo", "input": "given"}),
        // No input: interactive, as on `/api/submit`; stdin stays open.
        json!({"language": "javascript", "code": "echo"}),
    ];
    let (status, body, _) = call!(service, batch(&items));
    let ids = ids_of(status, &body, items.len());
    executor
        .send_input(ids[2], b"typed".to_vec())
        .await
        .unwrap();
    executor.close_input(ids[2]).await.unwrap();
    for &id in &ids {
        executor.wait(id).await.unwrap();
    }

    let unknown = uuid_like();
    let query = format!(
        "/api/batch?ids={},{unknown},not-an-id,{},{}",
        ids[0], ids[1], ids[2]
    );
    let (status, read, _) = call!(service, get(&query));
    assert_eq!(status, StatusCode::OK, "{read}");
    let read = read["submissions"].as_array().expect("a list").clone();
    assert_eq!(read.len(), 5, "one entry per id asked for");
    assert!(read[1].is_null() && read[2].is_null(), "{read:?}");
    let results = [&read[0], &read[3], &read[4]];
    for ((result, id), item) in results.iter().zip(&ids).zip(&items) {
        let (_, single, _) = call!(service, get(&format!("/api/result/{id}")));
        assert_eq!(**result, single, "the same as GET /api/result/{id}");
        assert_eq!(result["code"], item["code"], "in the order given");
        assert_eq!(result["language"], item["language"]);
    }
    assert_eq!(results[0]["stdout"], "first\n");
    assert_eq!(results[1]["stdout"], "given");
    assert_eq!(results[2]["stdout"], "typed", "stdin was left open");
}

#[actix_web::test]
async fn an_invalid_item_refuses_the_whole_batch() {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    // The only worker is busy, so that whatever is queued stays in the queue.
    let (_, busy, _) = call!(service, post("/api/submit", item("wait").to_string()));
    let busy: ExecutionId = busy["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(starts.recv().await, Some(busy));

    let ok = item("print 1");
    let cases: Vec<(&str, Vec<Value>, usize, &str)> = vec![
        (
            "unknown language",
            vec![
                ok.clone(),
                ok.clone(),
                json!({"language": "cobol", "code": "x"}),
            ],
            2,
            "language.unknown",
        ),
        (
            "unknown field",
            vec![
                ok.clone(),
                json!({"language": "python", "code": "x", "bogus": 1}),
            ],
            1,
            "request.invalid",
        ),
        (
            "an array, not an object",
            vec![json!(["python", "print 1"]), ok.clone()],
            0,
            "request.invalid",
        ),
        (
            "missing code",
            vec![ok.clone(), json!({"language": "python"})],
            1,
            "request.code_missing",
        ),
        (
            "a limit above the maximum",
            vec![
                ok.clone(),
                json!({"language": "python", "code": "x", "limits": {"wall_ms": 10_000_000u64}}),
            ],
            1,
            "limits.above_maximum",
        ),
    ];
    for (what, items, index, item_code) in &cases {
        let (status, body, _) = call!(service, batch(items));
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "request.invalid",
            what,
        );
        assert_eq!(body["error"]["index"], *index, "{what}: {body}");
        assert_eq!(body["error"]["itemCode"], *item_code, "{what}: {body}");
        assert_eq!(queue_depth!(service), 0, "{what}: nothing is queued");
    }
    let (_, body, _) = call!(service, batch(&cases[0].1));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cobol"), "the item's message: {body}");
    assert!(body["error"]["known"]
        .as_array()
        .is_some_and(|k| k.contains(&json!("python"))));

    // The same batch without its invalid item is taken whole.
    let (status, body, _) = call!(service, batch(&cases[0].1[..2]));
    ids_of(status, &body, 2);
    assert_eq!(queue_depth!(service), 2);
    executor.cancel(busy).await.unwrap();
}

#[actix_web::test]
async fn a_batch_that_does_not_fit_the_queue_is_refused_whole() {
    let (fake, mut starts) = FakeSandbox::with_starts();
    let fake = Arc::new(fake);
    let executor = executor(&fake, 1, 3).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (_, busy, _) = call!(service, post("/api/submit", item("wait").to_string()));
    let busy: ExecutionId = busy["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(starts.recv().await, Some(busy));
    let (status, waiting, _) = call!(service, post("/api/submit", item("print 1").to_string()));
    assert_eq!(status, StatusCode::ACCEPTED, "{waiting}");
    assert_eq!(queue_depth!(service), 1);

    let three = vec![item("print 1"); 3];
    let (status, body, headers) = call!(service, batch(&three));
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "queue.full",
        "three for two places",
    );
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(queue_depth!(service), 1, "nothing of it is queued");

    let (status, body, _) = call!(service, batch(&three[..2]));
    ids_of(status, &body, 2);
    assert_eq!(queue_depth!(service), 3);
    executor.cancel(busy).await.unwrap();
}

#[actix_web::test]
async fn batches_are_limited_in_count_and_size() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 100).await;
    let config = ApiConfig {
        max_batch: 4,
        max_body_bytes: 4096,
        ..ApiConfig::default()
    };
    let service = test::init_service(app!(AppState::new(executor.clone(), config))).await;
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "empty",
            json!({"submissions": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "over the maximum",
            json!({ "submissions": vec![item("print 1"); 5] }).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "no list",
            json!({"submissions": {}}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "no submissions",
            json!({}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "an unknown field",
            json!({"submissions": [item("print 1")], "bogus": 1}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "malformed JSON",
            r#"{"submissions": ["#.into(),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "the body over the limit, each item within it",
            json!({ "submissions": vec![item(&"x".repeat(1500)); 3] }).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
        ),
    ];
    for (what, body, want, code) in &cases {
        let (status, body, _) = call!(service, post("/api/batch", body.clone()));
        assert_error(status, &body, *want, code, what);
    }
    let (_, health, _) = call!(service, get("/api/health"));
    assert_eq!(
        (health["queueDepth"].as_u64(), health["running"].as_u64()),
        (Some(0), Some(0))
    );

    let four: Vec<String> = (0..4).map(|_| uuid_like()).collect();
    let (status, body, _) = call!(service, get(&format!("/api/batch?ids={}", four.join(","))));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"submissions": [null, null, null, null]}));
    let (status, body, _) = call!(service, get("/api/batch?ids="));
    assert_eq!((status, body), (StatusCode::OK, json!({"submissions": []})));
    let five = format!("/api/batch?ids={},{}", four.join(","), uuid_like());
    for (what, path) in [("five ids", five.as_str()), ("no ids", "/api/batch")] {
        let (status, body, _) = call!(service, get(path));
        assert_error(
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "request.invalid_query",
            what,
        );
    }
    let (status, body, headers) = call!(service, test::TestRequest::delete().uri("/api/batch"));
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "DELETE",
    );
    assert_eq!(headers.get("allow").unwrap(), "GET, POST");
}
