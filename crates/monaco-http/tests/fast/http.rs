//! The HTTP routes: parsing, error codes and statuses, results.

use super::*;

#[actix_web::test]
async fn invalid_submissions_get_their_codes_and_nothing_is_queued() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(state(&executor, 4096))).await;
    let ok = "print 1";
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "unknown language",
            json!({"language": "cobol", "code": ok}).to_string(),
            StatusCode::BAD_REQUEST,
            "language.unknown",
        ),
        (
            "malformed JSON",
            r#"{"language": "python", "code": "#.into(),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "too deep",
            format!("{}{}", "[".repeat(40), "]".repeat(40)),
            StatusCode::BAD_REQUEST,
            "request.malformed_json",
        ),
        (
            "an array, not an object",
            json!(["python", ok]).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "missing language",
            json!({"code": ok}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.language_missing",
        ),
        (
            "missing code",
            json!({"language": "python"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.code_missing",
        ),
        (
            "blank code",
            json!({"language": "python", "code": "  \n"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.code_missing",
        ),
        (
            "unknown field",
            json!({"language": "python", "code": ok, "bogus": 1}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            "input twice",
            json!({"language": "python", "code": ok, "input": "a", "inputBase64": "YQ=="})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_input",
        ),
        (
            "bad base64",
            json!({"language": "python", "code": ok, "inputBase64": "!!"}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_input",
        ),
        (
            "NUL in an argument",
            json!({"language": "python", "code": ok, "args": ["a\u{0}b"]}).to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_argument",
        ),
        (
            "file escaping the work directory",
            json!({"language": "python", "code": ok, "files": [{"name": "../x", "content": ""}]})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "request.invalid_file",
        ),
        (
            "body over the limit",
            json!({"language": "python", "code": "x".repeat(5000)}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
        ),
        (
            "a limit above the maximum",
            json!({"language": "python", "code": ok, "limits": {"wall_ms": 10_000_000u64}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.above_maximum",
        ),
        (
            "a u32 limit beyond u32",
            json!({"language": "python", "code": ok, "limits": {"processes": 1u64 << 40}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.above_maximum",
        ),
        (
            "a zero limit",
            json!({"language": "python", "code": ok, "limits": {"memory_bytes": 0}}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.zero",
        ),
        (
            "memory below the minimum",
            json!({"language": "python", "code": ok, "limits": {"memory_bytes": 1024}}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.below_minimum",
        ),
        (
            "timeout not positive",
            json!({"language": "python", "code": ok, "timeout": -1}).to_string(),
            StatusCode::BAD_REQUEST,
            "limits.invalid",
        ),
        (
            "timeout and wall_ms",
            json!({"language": "python", "code": ok, "timeout": 1, "limits": {"wall_ms": 1000}})
                .to_string(),
            StatusCode::BAD_REQUEST,
            "limits.invalid",
        ),
    ];
    for path in ["/api/submit", "/api/execute"] {
        for (what, body, want, code) in &cases {
            let (status, body, _) = call!(service, post(path, body.clone()));
            assert_error(status, &body, *want, code, &format!("{what} on {path}"));
            if *code == "language.unknown" {
                let known = body["error"]["known"].as_array().expect("known ids");
                assert!(known.contains(&json!("python")), "{body}");
            }
        }
        let (status, body, _) = call!(
            service,
            post(path, "{}").insert_header(("content-type", "application/xml"))
        );
        assert_error(
            status,
            &body,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            path,
        );
    }
    let (status, health, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["queueDepth"], 0, "{health}");
    assert_eq!(health["running"], 0, "{health}");
}

#[actix_web::test]
async fn routes_ids_and_methods() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let unknown = uuid_like();
    for path in [
        format!("/api/status/{unknown}"),
        format!("/api/result/{unknown}"),
        format!("/api/executions/{unknown}"),
        "/api/status/not-an-id".to_string(),
        format!("/api/ws/terminal/{unknown}"),
    ] {
        let (status, body, _) = call!(service, test::TestRequest::get().uri(&path));
        assert_error(
            status,
            &body,
            StatusCode::NOT_FOUND,
            "execution.not_found",
            &path,
        );
    }
    let (status, body, _) = call!(
        service,
        test::TestRequest::delete().uri(&format!("/api/executions/{unknown}"))
    );
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "execution.not_found",
        "cancel",
    );
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/nowhere"));
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "route.not_found",
        "route",
    );
    let (status, body, headers) = call!(service, test::TestRequest::get().uri("/api/submit"));
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "method",
    );
    assert_eq!(headers.get("allow").unwrap(), "POST");
    let (status, body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/ws/terminal/{unknown}?from=x"))
    );
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "request.invalid_query",
        "query",
    );
    // The WebSocket route without a handshake, for a known execution.
    let (_, submitted, _) = call!(
        service,
        post(
            "/api/submit",
            json!({"language": "python", "code": "print x"}).to_string()
        )
    );
    let id = submitted["id"].as_str().unwrap();
    let (status, body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/ws/terminal/{id}"))
    );
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "websocket.handshake",
        "no handshake",
    );
    let (status, languages, _) = call!(service, test::TestRequest::get().uri("/api/languages"));
    assert_eq!(status, StatusCode::OK);
    assert!(languages
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == "python" && l["helloWorld"].is_string()));
    let (status, doc, _) = call!(service, test::TestRequest::get().uri("/api/openapi.json"));
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/submit"].is_object(), "{doc}");
}

#[actix_web::test]
async fn results_report_the_program_outcome() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let run = |code: &str, input: Option<&str>| {
        let mut body = json!({"language": "python", "code": code});
        if let Some(i) = input {
            body["input"] = json!(i);
        }
        post("/api/execute", body.to_string())
    };
    let (status, ok, _) = call!(service, run("print hello\neprint warn", None));
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["status"], "completed", "{ok}");
    assert_eq!(ok["verdict"], "ok", "{ok}");
    assert_eq!(ok["stdout"], "hello\n", "{ok}");
    assert_eq!(ok["stderr"], "warn\n", "{ok}");
    assert_eq!(ok["exitCode"], 0, "{ok}");
    assert_eq!(ok["truncated"], false, "{ok}");
    assert!(ok.get("error").is_none(), "{ok}");

    let (_, echoed, _) = call!(service, run("echo", Some("typed")));
    assert_eq!(echoed["stdout"], "typed", "{echoed}");
    assert_eq!(echoed["input"], "typed", "{echoed}");

    let (_, failed, _) = call!(service, run("print a\nexit 3", None));
    assert_eq!(failed["verdict"], "runtime_error", "{failed}");
    assert_eq!(failed["exitCode"], 3, "{failed}");

    let (_, compile, _) = call!(service, run("compile_error bad\\ssyntax", None));
    assert_eq!(compile["verdict"], "compile_error", "{compile}");
    assert_eq!(compile["compileOutput"], "bad syntax\n", "{compile}");
    assert!(compile["run"].is_null(), "{compile}");

    let (_, binary, _) = call!(service, run("write \\xff\\x00", None));
    assert_eq!(binary["stdoutBase64"], "/wA=", "{binary}");

    let (_, lost, _) = call!(service, run("lose", None));
    assert_eq!(lost["status"], "failed", "{lost}");
    assert_eq!(lost["verdict"], "internal_error", "{lost}");
    assert_eq!(lost["error"]["code"], "sandbox.lost", "{lost}");

    let (_, unstarted, _) = call!(service, run("fail_start", None));
    assert_eq!(
        unstarted["error"]["code"], "docker.unavailable",
        "{unstarted}"
    );

    // The polling flow: 202, then the same result by id.
    let (status, submitted, _) = call!(
        service,
        post(
            "/api/submit",
            json!({"language": "python", "code": "print polled", "input": ""}).to_string()
        )
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{submitted}");
    assert_eq!(submitted["status"], "queued");
    let id = submitted["id"].as_str().unwrap().to_string();
    let result = loop {
        let (_, result, _) = call!(
            service,
            test::TestRequest::get().uri(&format!("/api/result/{id}"))
        );
        if result["verdict"].is_string() {
            break result;
        }
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(result["stdout"], "polled\n", "{result}");
    let (_, status_body, _) = call!(
        service,
        test::TestRequest::get().uri(&format!("/api/status/{id}"))
    );
    assert_eq!(status_body, json!({"id": id, "status": "completed"}));
}

#[actix_web::test]
async fn a_full_queue_is_503_and_cancel_ends_cancelled() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 1).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let wait = || {
        post(
            "/api/submit",
            json!({"language": "c", "code": "wait"}).to_string(),
        )
    };
    let (_, running, _) = call!(service, wait());
    let running = running["id"].as_str().unwrap().to_string();
    // The first one is taken by the only worker before the second is queued.
    while executor.status(running.parse().unwrap()).await.unwrap()
        != Some(monaco_executor::Status::Running)
    {
        actix_web::rt::task::yield_now().await;
    }
    let (_, queued, _) = call!(service, wait());
    let queued = queued["id"].as_str().unwrap().to_string();
    let (status, body, headers) = call!(service, wait());
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "queue.full",
        "full",
    );
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    for id in [&queued, &running] {
        let (status, body, _) = call!(
            service,
            test::TestRequest::delete().uri(&format!("/api/executions/{id}"))
        );
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let done = executor.wait(id.parse().unwrap()).await.unwrap();
        assert_eq!(done.status, monaco_executor::Status::Failed);
        let (_, result, _) = call!(
            service,
            test::TestRequest::get().uri(&format!("/api/result/{id}"))
        );
        assert_eq!(result["verdict"], "cancelled", "{result}");
        assert_eq!(result["error"]["code"], "execution.cancelled", "{result}");
        let (status, body, _) = call!(
            service,
            test::TestRequest::delete().uri(&format!("/api/executions/{id}"))
        );
        assert_error(
            status,
            &body,
            StatusCode::CONFLICT,
            "execution.finished",
            "twice",
        );
    }
}

#[actix_web::test]
async fn health_follows_the_sandbox() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    fake.set_healthy(false);
    let (status, body, _) = call!(service, test::TestRequest::get().uri("/api/health"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["docker"], false);
}
