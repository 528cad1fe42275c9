//! Test cases, checkers and their results through the API, over the fake
//! (which plays the program once per case and judges with the job's
//! comparison, as the agent does).

use super::*;

fn execute(body: Value) -> test::TestRequest {
    post("/api/execute", body.to_string())
}

fn cases(expected: [&str; 3]) -> Value {
    json!([
        {"name": "one", "input": "1\n", "expectedOutput": expected[0]},
        {"input": "2\n", "expectedOutput": expected[1]},
        {"name": "three", "input": "3\n", "expectedOutput": expected[2]},
    ])
}

#[actix_web::test]
async fn each_case_is_judged_and_the_first_failure_decides() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (status, r, _) = call!(
        service,
        execute(json!({"language": "c", "code": "echo", "tests": cases(["1", "2 ", "x"])}))
    );
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["verdict"], "wrong_answer", "{r}");
    assert_eq!(
        r["summary"],
        json!({"total": 3, "passed": 2, "failed": 1, "skipped": 0})
    );
    let tests = r["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 3);
    assert_eq!(tests[0]["name"], "one");
    assert_eq!(tests[0]["verdict"], "ok");
    assert_eq!(tests[0]["stdout"], "1\n");
    assert!(tests[1]["name"].is_null());
    assert_eq!(
        tests[1]["verdict"], "ok",
        "trim is the default checker: {r}"
    );
    assert_eq!(tests[2]["verdict"], "wrong_answer");
    assert_eq!(tests[2]["stdout"], "3\n");
    for key in [
        "index",
        "exitCode",
        "signal",
        "wallMs",
        "cpuMs",
        "memoryBytes",
        "truncated",
        "checkerMessage",
        "stderr",
    ] {
        assert!(tests[2].get(key).is_some(), "{key} in {}", tests[2]);
    }
    assert_eq!(r["stdout"], "", "case output is in its case only");

    let (_, exact, _) = call!(
        service,
        execute(
            json!({"language": "c", "code": "echo", "tests": cases(["1", "2 ", "x"]),
                       "checker": {"type": "exact"}})
        )
    );
    assert_eq!(exact["summary"]["passed"], 0, "{exact}");

    let (_, stopped, _) = call!(
        service,
        execute(
            json!({"language": "c", "code": "echo", "tests": cases(["9", "2", "3"]),
                       "stopOnFirstFailure": true})
        )
    );
    assert_eq!(stopped["verdict"], "wrong_answer", "{stopped}");
    assert_eq!(
        stopped["summary"],
        json!({"total": 3, "passed": 0, "failed": 1, "skipped": 2})
    );
    assert_eq!(stopped["tests"][2]["verdict"], "skipped");

    let (_, crashed, _) = call!(
        service,
        execute(json!({"language": "python", "code": "print x\nexit 2",
                       "tests": [{"input": ""}, {"input": ""}]}))
    );
    assert_eq!(crashed["verdict"], "runtime_error", "{crashed}");
    assert_eq!(crashed["tests"][1]["exitCode"], 2, "{crashed}");

    let (_, compile, _) = call!(
        service,
        execute(
            json!({"language": "c", "code": "compile_error nope", "tests": cases(["1", "2", "3"])})
        )
    );
    assert_eq!(compile["verdict"], "compile_error", "{compile}");
    assert_eq!(compile["tests"], json!([]), "{compile}");
    assert_eq!(compile["summary"]["total"], 3);
}

#[actix_web::test]
async fn unusable_tests_and_checkers_are_refused() {
    let fake = Fake::default();
    let languages = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages.toml");
    let executor = Executor::builder()
        .languages_file(languages)
        .max_tests(4)
        .build_with(Arc::clone(&fake))
        .await
        .unwrap();
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    let one = json!([{"input": "1"}]);
    let refused = [
        (
            "interactive",
            json!({"language": "c", "code": "echo", "tests": one, "interactive": true}),
            "request.invalid_tests",
        ),
        (
            "too many",
            json!({"language": "c", "code": "echo", "tests": [{}, {}, {}, {}, {}]}),
            "request.invalid_tests",
        ),
        (
            "top-level input",
            json!({"language": "c", "code": "echo", "tests": one, "input": "x"}),
            "request.invalid_tests",
        ),
        (
            "input twice",
            json!({"language": "c", "code": "echo", "tests": [{"input": "a", "inputBase64": "YQ=="}]}),
            "request.invalid_tests",
        ),
        (
            "bad case base64",
            json!({"language": "c", "code": "echo", "tests": [{"inputBase64": "!"}]}),
            "request.invalid_tests",
        ),
        (
            "unknown case field",
            json!({"language": "c", "code": "echo", "tests": [{"stdin": "a"}]}),
            "request.invalid",
        ),
        (
            "NUL in case args",
            json!({"language": "c", "code": "echo", "tests": [{"args": ["a\u{0}"]}]}),
            "request.invalid_tests",
        ),
        (
            "negative tolerance",
            json!({"language": "c", "code": "echo", "tests": one,
            "checker": {"type": "float", "absTolerance": -1}}),
            "request.invalid_checker",
        ),
        (
            "unknown checker type",
            json!({"language": "c", "code": "echo", "tests": one,
            "checker": {"type": "fuzzy"}}),
            "request.invalid",
        ),
        (
            "unknown checker language",
            json!({"language": "c", "code": "echo",
            "tests": [{"expectedOutput": "1"}],
            "checker": {"type": "program", "language": "cobol", "code": "x"}}),
            "request.invalid_checker",
        ),
        (
            "empty checker program",
            json!({"language": "c", "code": "echo", "tests": one,
            "checker": {"type": "program", "language": "python", "code": " "}}),
            "request.invalid_checker",
        ),
        (
            "a total wall of zero",
            json!({"language": "c", "code": "echo", "tests": one,
            "limits": {"total_wall_ms": 0}}),
            "limits.zero",
        ),
    ];
    for (what, body, code) in refused {
        for path in ["/api/submit", "/api/execute"] {
            let (status, body, _) = call!(service, post(path, body.to_string()));
            assert_error(status, &body, StatusCode::BAD_REQUEST, code, what);
        }
    }
    // A submission with tests is not interactive by default.
    let (status, ok, _) = call!(
        service,
        post(
            "/api/submit",
            json!({"language": "c", "code": "echo", "tests": one}).to_string()
        )
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{ok}");
}

#[actix_web::test]
async fn the_terminal_shows_each_case_start_result_and_output() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let mut srv = super::terminal::server(&executor);
    let id = super::terminal::submit(
        &srv,
        json!({"language": "c", "code": "echo", "tests": cases(["1", "0", "3"])}),
    )
    .await;
    executor.wait(id.parse().unwrap()).await.unwrap();
    let mut socket = super::terminal::connect(&mut srv, &format!("/api/ws/terminal/{id}")).await;
    let frames = super::terminal::rest(&mut socket).await;
    let tests: Vec<&Value> = frames.iter().filter(|f| f["type"] == "test").collect();
    assert_eq!(tests.len(), 6, "{frames:?}");
    assert_eq!(
        tests[0]["content"],
        json!({"index": 0, "status": "running"})
    );
    assert_eq!(tests[1]["content"]["status"], "completed");
    assert_eq!(tests[1]["content"]["verdict"], "ok");
    assert_eq!(tests[3]["content"]["index"], 1);
    assert_eq!(tests[3]["content"]["verdict"], "wrong_answer");
    let outputs: Vec<&Value> = frames.iter().filter(|f| f["type"] == "output").collect();
    assert_eq!(outputs[1]["content"]["test"], 1, "{frames:?}");
    assert_eq!(outputs[1]["content"]["text"], "2\n");
    let last = frames.last().unwrap();
    assert_eq!(last["content"]["verdict"], "wrong_answer", "{last}");
}

#[actix_web::test]
async fn a_checker_of_another_image_judges_in_a_sandbox_of_its_own() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let service = test::init_service(app!(state(&executor, 1 << 20))).await;
    // The fake plays the checker's source as a program too, once per case.
    let judged = |checker: &str| {
        execute(json!({"language": "python", "code": "echo",
            "tests": [{"input": "1", "expectedOutput": "1"}, {"input": "2"}],
            "checker": {"type": "program", "language": "cpp", "code": checker}}))
    };
    let (_, rejected, _) = call!(service, judged("print judged\\sby cpp\nexit 1"));
    assert_eq!(rejected["verdict"], "wrong_answer", "{rejected}");
    assert_eq!(
        rejected["tests"][0]["checkerMessage"], "judged by cpp",
        "{rejected}"
    );
    assert_eq!(
        rejected["tests"][1]["verdict"], "ok",
        "a case without an expected output is not judged"
    );
    let (_, accepted, _) = call!(service, judged("print fine"));
    assert_eq!(accepted["verdict"], "ok", "{accepted}");
    let (_, failed, _) = call!(service, judged("exit 3"));
    assert_eq!(failed["verdict"], "internal_error", "{failed}");
    assert_eq!(failed["error"]["code"], "checker.failed", "{failed}");
    let (status, plain, _) = call!(
        service,
        execute(
            json!({"language": "python", "code": "echo", "input": "1", "expectedOutput": "1",
            "checker": {"type": "program", "language": "cpp", "code": "print x"}})
        )
    );
    assert_error(
        status,
        &plain,
        StatusCode::BAD_REQUEST,
        "request.invalid_checker",
        "a plain run with a checker of another image",
    );
}
