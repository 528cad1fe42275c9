//! The Piston and Judge0 adapters over the fake: their shapes, their
//! mapping of Monaco's verdicts, their errors in their own formats, and
//! `MONACO_COMPAT` turning them off. The real clients against real Docker
//! are `tests/compat/` (scripts/test-compat.sh).

use super::*;
use monaco_http::CompatApis;

fn get(path: &str) -> test::TestRequest {
    test::TestRequest::get().uri(path)
}

/// The app over `fake`, as the server wraps it.
macro_rules! service {
    ($fake:expr) => {{
        let executor = executor($fake, 2, 50).await;
        test::init_service(app!(state(&executor, 1 << 20))).await
    }};
}

#[actix_web::test]
async fn piston_runtimes_list_every_language_with_its_piston_names() {
    let fake = Fake::default();
    let app = service!(&fake);
    let (status, body, _) = call!(app, get("/api/v2/runtimes"));
    assert_eq!(status, StatusCode::OK);
    let list = body.as_array().unwrap();
    let file = include_str!("../../../../languages.toml");
    let languages = file.lines().filter(|l| *l == "[[language]]").count();
    assert_eq!(list.len(), languages, "{body}");
    let cpp = list.iter().find(|r| r["language"] == "c++").expect("c++");
    assert_eq!(cpp["version"], "12.0.0");
    assert_eq!(cpp["runtime"], "gcc");
    assert!(cpp["aliases"].as_array().unwrap().contains(&json!("cpp")));
    let py = list.iter().find(|r| r["language"] == "python").unwrap();
    assert_eq!(py["version"], "3.11.0");
    assert!(py.get("runtime").is_none());
}

#[actix_web::test]
async fn piston_execute_reads_json_text_plain_and_forms() {
    let fake = Fake::default();
    let app = service!(&fake);
    let body = json!({"language": "py", "version": "3.x", "files": [{"content": "print hi\neprint oops"}]});
    for content_type in ["application/json", "text/plain;charset=UTF-8"] {
        let request = test::TestRequest::post()
            .uri("/api/v2/execute")
            .insert_header(("content-type", content_type))
            .set_payload(body.to_string());
        let (status, out, _) = call!(app, request);
        assert_eq!(status, StatusCode::OK, "{content_type}: {out}");
        assert_eq!(out["language"], "python");
        assert_eq!(out["version"], "3.11.0");
        assert_eq!(out["run"]["stdout"], "hi\n");
        assert_eq!(out["run"]["stderr"], "oops\n");
        assert_eq!(out["run"]["output"], "hi\noops\n");
        assert_eq!(out["run"]["code"], 0);
        assert_eq!(out["run"]["signal"], Value::Null);
        assert!(out.get("compile").is_none(), "python does not compile");
    }
    let form = test::TestRequest::post()
        .uri("/api/v2/execute")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload("language=python&version=3.11.0&files=print+formed&stdin=&timeout=10000");
    let (status, out, _) = call!(app, form);
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["run"]["output"], "formed\n");
}

#[actix_web::test]
async fn piston_maps_exit_codes_and_compile_errors() {
    let fake = Fake::default();
    let app = service!(&fake);
    let run = |language: &str, code: &str| {
        post(
            "/api/v2/execute",
            json!({"language": language, "version": "*", "files": [{"content": code}]}).to_string(),
        )
    };
    let (_, out, _) = call!(app, run("javascript", "print x\nexit 3"));
    assert_eq!(out["run"]["code"], 3, "{out}");
    assert_eq!(out["run"]["status"], "RE");
    let (_, out, _) = call!(app, run("c++", "compile_error main.cpp:1: error"));
    assert_eq!(out["language"], "c++");
    assert!(
        out["compile"]["stderr"].as_str().is_some() || out["compile"]["stdout"].as_str().is_some()
    );
    assert_eq!(
        out["run"], out["compile"],
        "run is a copy of a failed compile: {out}"
    );
}

#[actix_web::test]
async fn piston_errors_are_its_own_messages() {
    let fake = Fake::default();
    let app = service!(&fake);
    let cases = [
        (
            json!({"files": [{"content": "x"}]}),
            "language is required as a string",
        ),
        (
            json!({"language": "python", "version": 3, "files": []}),
            "version is required as a string",
        ),
        (
            json!({"language": "python", "version": "*"}),
            "files is required as an array",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"name": "a"}]}),
            "files[0].content is required as a string",
        ),
        (
            json!({"language": "cobol", "version": "*", "files": [{"content": "x"}]}),
            "cobol-* runtime is unknown",
        ),
        (
            json!({"language": "python", "version": "2.7.0", "files": [{"content": "x"}]}),
            "python-2.7.0 runtime is unknown",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 900000000}),
            "run_timeout cannot exceed the configured limit of 300000",
        ),
    ];
    for (body, message) in cases {
        let (status, out, _) = call!(app, post("/api/v2/execute", body.to_string()));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {out}");
        assert_eq!(out, json!({ "message": message }), "{body}");
    }
    // -1 (piston-client's default) is the default limit.
    let body = json!({"language": "python", "version": "*", "files": [{"content": "print ok"}],
        "run_memory_limit": -1, "compile_memory_limit": -1, "run_timeout": 3000, "args": ["1", "2", "3"]});
    let (status, out, _) = call!(app, post("/api/v2/execute", body.to_string()));
    assert_eq!(status, StatusCode::OK, "{out}");
    let (status, out, _) = call!(app, get("/api/v2/execute"));
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(out["message"].is_string(), "{out}");
}

/// A client WebSocket to `/api/v2/connect`.
async fn piston_socket(srv: &mut actix_test::TestServer) -> impl terminal::Socket {
    terminal::connect(srv, "/api/v2/connect").await
}

/// Frames until the server closes; the close code last.
async fn frames_and_close(socket: &mut impl terminal::Socket) -> (Vec<Value>, Option<u16>) {
    let mut frames = Vec::new();
    while let Some(frame) = socket.next().await {
        match frame.expect("no protocol error") {
            ws::Frame::Text(t) => frames.push(serde_json::from_slice(&t).unwrap()),
            ws::Frame::Close(reason) => return (frames, reason.map(|r| u16::from(r.code))),
            _ => {}
        }
    }
    (frames, None)
}

fn text(v: Value) -> ws::Message {
    ws::Message::Text(v.to_string().into())
}

#[actix_web::test]
async fn piston_connect_streams_stdin_and_stages() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let mut srv = terminal::server(&executor);
    let mut socket = piston_socket(&mut srv).await;
    socket
        .send(text(
            json!({"type": "init", "language": "python", "version": "*",
            "files": [{"content": "read\nprint got it"}]}),
        ))
        .await
        .unwrap();
    socket
        .send(text(
            json!({"type": "data", "stream": "stdin", "data": "line\n"}),
        ))
        .await
        .unwrap();
    let (frames, close) = frames_and_close(&mut socket).await;
    assert_eq!(close, Some(4999), "{frames:?}");
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["runtime", "stage", "data", "exit"], "{frames:?}");
    assert_eq!(
        frames[0],
        json!({"type": "runtime", "language": "python", "version": "3.11.0"})
    );
    assert_eq!(frames[1], json!({"type": "stage", "stage": "run"}));
    assert_eq!(
        frames[2],
        json!({"type": "data", "stream": "stdout", "data": "got it\n"})
    );
    assert_eq!(
        frames[3],
        json!({"type": "exit", "stage": "run", "code": 0, "signal": null})
    );
}

#[actix_web::test]
async fn piston_connect_signal_kills_and_close_codes_follow_piston() {
    let fake = Fake::default();
    let executor = executor(&fake, 2, 10).await;
    let mut srv = terminal::server(&executor);
    let init = json!({"type": "init", "language": "python", "version": "*", "files": [{"content": "wait"}]});

    let mut s = piston_socket(&mut srv).await;
    s.send(text(init.clone())).await.unwrap();
    s.send(text(json!({"type": "signal", "signal": "SIGKILL"})))
        .await
        .unwrap();
    let (frames, close) = frames_and_close(&mut s).await;
    assert_eq!(close, Some(4999), "{frames:?}");
    let exit = frames.last().unwrap();
    assert_eq!(
        (&exit["type"], &exit["code"], &exit["signal"]),
        (&json!("exit"), &Value::Null, &json!("SIGKILL"))
    );

    let cases: Vec<(Vec<Value>, u16)> = vec![
        (vec![init.clone(), init.clone()], 4000),
        (
            vec![json!({"type": "init", "language": "cobol", "version": "*", "files": []})],
            4002,
        ),
        (
            vec![json!({"type": "data", "stream": "stdin", "data": "x"})],
            4003,
        ),
        (vec![json!({"type": "signal", "signal": "SIGKILL"})], 4003),
        (
            vec![
                init.clone(),
                json!({"type": "data", "stream": "stdout", "data": "x"}),
            ],
            4004,
        ),
        (
            vec![init.clone(), json!({"type": "signal", "signal": "SIGNOPE"})],
            4005,
        ),
        (vec![], 4001),
    ];
    for (sent, want) in cases {
        let mut s = piston_socket(&mut srv).await;
        for frame in &sent {
            s.send(text(frame.clone())).await.unwrap();
        }
        let (frames, close) = frames_and_close(&mut s).await;
        assert_eq!(close, Some(want), "{sent:?} → {frames:?}");
        if want == 4002 {
            assert_eq!(frames.last().unwrap()["type"], "error", "{frames:?}");
        }
    }
}

const SDK_CONFIG_KEYS: [&str; 39] = [
    "allow_enable_network",
    "allow_enable_per_process_and_thread_memory_limit",
    "allow_enable_per_process_and_thread_time_limit",
    "allowed_languages_for_compile_options",
    "callbacks_max_tries",
    "callbacks_timeout",
    "cpu_extra_time",
    "cpu_time_limit",
    "enable_additional_files",
    "enable_batched_submissions",
    "enable_callbacks",
    "enable_command_line_arguments",
    "enable_compiler_options",
    "enable_network",
    "enable_per_process_and_thread_memory_limit",
    "enable_per_process_and_thread_time_limit",
    "enable_submission_delete",
    "enable_wait_result",
    "maintenance_mode",
    "max_cpu_extra_time",
    "max_cpu_time_limit",
    "max_extract_size",
    "max_file_size",
    "max_max_file_size",
    "max_max_processes_and_or_threads",
    "max_memory_limit",
    "max_number_of_runs",
    "max_processes_and_or_threads",
    "max_queue_size",
    "max_stack_limit",
    "max_submission_batch_size",
    "max_wall_time_limit",
    "memory_limit",
    "number_of_runs",
    "redirect_stderr_to_stdout",
    "stack_limit",
    "submission_cache_duration",
    "use_docs_as_homepage",
    "wall_time_limit",
];

#[actix_web::test]
async fn judge0_info_routes_have_judge0s_shapes() {
    let fake = Fake::default();
    let app = service!(&fake);
    let (status, langs, _) = call!(app, get("/languages"));
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<u64> = langs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_u64().unwrap())
        .collect();
    for id in [71, 62, 50, 48, 49, 52, 53, 54, 63, 60] {
        assert!(ids.contains(&id), "{id} in {langs}");
    }
    let (status, one, _) = call!(app, get("/languages/52/"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["source_file"], "main.cpp");
    assert!(one["compile_cmd"].as_str().unwrap().starts_with("g++"));
    assert_eq!(one["is_archived"], false);
    let (status, missing, _) = call!(app, get("/languages/43"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"].is_string());

    let (_, config, _) = call!(app, get("/config_info"));
    let mut keys: Vec<&str> = config
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys, SDK_CONFIG_KEYS,
        "every key of the SDK's Config, nothing else"
    );
    assert!(config["cpu_time_limit"].is_f64() && config["memory_limit"].is_u64());
    assert_eq!(config["enable_network"], false);
    assert_eq!(config["enable_batched_submissions"], true);

    let (_, statuses, _) = call!(app, get("/statuses"));
    assert_eq!(statuses.as_array().unwrap().len(), 14);
    assert_eq!(
        statuses[10],
        json!({"id": 11, "description": "Runtime Error (NZEC)"})
    );
    let (_, about, _) = call!(app, get("/about/"));
    assert_eq!(about["version"], "1.13.1");
    let (status, _, _) = call!(
        app,
        test::TestRequest::post().uri("/authenticate?X-Auth-Token=anything")
    );
    assert_eq!(status, StatusCode::OK);
    let (_, doc, _) = call!(app, get("/api/openapi.json"));
    for path in [
        "/api/v2/execute",
        "/api/v2/connect",
        "/submissions",
        "/submissions/batch",
        "/config_info",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} in the OpenAPI document"
        );
    }
    // Root routes leave other paths to Monaco's JSON 404.
    let (status, body, _) = call!(app, get("/nothing/here"));
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "route.not_found",
        "unknown root path",
    );
}

/// Posts a submission; the status and the JSON body.
macro_rules! judge0_run {
    ($app:expr, $query:expr, $body:expr) => {{
        let (status, out, _) = call!(
            $app,
            post(&format!("/submissions/{}", $query), $body.to_string())
        );
        (status, out)
    }};
}

#[actix_web::test]
async fn judge0_submissions_map_verdicts_to_statuses() {
    let fake = Fake::default();
    let app = service!(&fake);
    let (status, out) = judge0_run!(
        app,
        "?wait=true",
        json!({"language_id": 71, "source_code": "print hi"})
    );
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["stdout"], "hi\n");
    assert_eq!(out["status"], json!({"id": 3, "description": "Accepted"}));
    assert!(
        out["time"].as_str().is_some_and(|t| t.contains('.')),
        "{out}"
    );
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "the default fields: {out}");

    let (_, out) = judge0_run!(
        app,
        "?wait=true&base64_encoded=true",
        json!({"language_id": 71, "source_code": "cHJpbnQgaGk=", "expected_output": "aGkK"})
    );
    assert_eq!(out["stdout"], "aGkK", "{out}");
    assert_eq!(out["status"]["id"], 3);
    // Wrong Answer (4) needs the real agent's comparison: the fake judges only
    // test cases. tests/compat checks it with the SDK against Docker.
    let (_, out) = judge0_run!(
        app,
        "?wait=true&fields=status,exit_code,message",
        json!({"language_id": 63, "source_code": "exit 3"})
    );
    assert_eq!(
        out,
        json!({"status": {"id": 11, "description": "Runtime Error (NZEC)"},
        "exit_code": 3, "message": "Exited with error status 3"})
    );
    let (_, out) = judge0_run!(
        app,
        "?wait=true&fields=status,compile_output,time,memory,stdout,exit_code",
        json!({"language_id": 54, "source_code": "compile_error main.cpp:1:1: error: nope"})
    );
    assert_eq!(out["status"]["id"], 6, "{out}");
    assert!(
        out["compile_output"]
            .as_str()
            .is_some_and(|c| c.contains("nope")),
        "{out}"
    );
    for null in ["time", "memory", "stdout", "exit_code"] {
        assert_eq!(out[null], Value::Null, "{null}: {out}");
    }
    // Not UTF-8: only in base64.
    let (status, out) = judge0_run!(
        app,
        "?wait=true&fields=token,status",
        json!({"language_id": 71, "source_code": "print \\xff"})
    );
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["status"]["id"], 3, "{out}");
    let token = out["token"].as_str().unwrap().to_string();
    let sub = |q: &str| get(&format!("/submissions/{token}/{q}"));
    let (status, out, _) = call!(app, sub("?base64_encoded=true"));
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["stdout"], "/wo=", "{out}");
    let (status, out, _) = call!(app, sub(""));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert!(out["error"]
        .as_str()
        .unwrap()
        .contains("base64_encoded=true"));
}

#[actix_web::test]
async fn judge0_polling_fields_and_errors() {
    let fake = Fake::default();
    let app = service!(&fake);
    let (status, out) = judge0_run!(
        app,
        "",
        json!({"language_id": 71, "source_code": "print later", "stdin": "in"})
    );
    assert_eq!(status, StatusCode::CREATED);
    let token = out["token"].as_str().unwrap().to_string();
    assert_eq!(out.as_object().unwrap().len(), 1, "{out}");
    let mut all = Value::Null;
    for _ in 0..200 {
        let (status, out, _) = call!(app, get(&format!("/submissions/{token}?fields=*")));
        assert_eq!(status, StatusCode::OK, "{out}");
        if out["status"]["id"].as_u64().unwrap() > 2 {
            all = out;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(all.as_object().unwrap().len(), 36, "{all}");
    assert_eq!(all["stdin"], "in");
    assert_eq!(all["language_id"], 71);
    assert_eq!(all["language"]["id"], 71);
    assert_eq!(all["token"], token.as_str());
    let (status, out, _) = call!(
        app,
        get(&format!("/submissions/{token}?fields=stdout,queue_host"))
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(out["error"].as_str().unwrap().contains("queue_host"));
    let (status, out, _) = call!(app, get(&format!("/submissions/{}", uuid_like())));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(out["error"].is_string());

    let invalid = [
        (json!({}), vec!["source_code", "language_id"]),
        (
            json!({"language_id": 9999, "source_code": "x"}),
            vec!["language_id"],
        ),
        (
            json!({"language_id": 71, "source_code": "x", "enable_network": true}),
            vec!["enable_network"],
        ),
        (
            json!({"language_id": 71, "source_code": "x", "cpu_time_limit": 1000}),
            vec!["cpu_time_limit"],
        ),
        (
            json!({"language_id": 71, "source_code": "x", "number_of_runs": 3}),
            vec!["number_of_runs"],
        ),
        (
            json!({"language_id": 71, "source_code": "x", "callback_url": "http://127.0.0.1:1/"}),
            vec!["callback_url"],
        ),
    ];
    for (body, fields) in invalid {
        let (status, out) = judge0_run!(app, "", body.clone());
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {out}");
        let mut keys: Vec<&str> = out
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut want = fields.clone();
        want.sort_unstable();
        assert_eq!(keys, want, "{body}: {out}");
        assert!(out[fields[0]][0].is_string(), "{out}");
    }
}

#[actix_web::test]
async fn judge0_batches_answer_each_item_in_place() {
    let fake = Fake::default();
    let app = service!(&fake);
    let body = json!({"submissions": [
        {"language_id": 71, "source_code": "print a"},
        {"language_id": 9999, "source_code": "print b"},
        {"language_id": 60, "source_code": "print c"},
    ]});
    let (status, out, _) = call!(app, post("/submissions/batch", body.to_string()));
    assert_eq!(status, StatusCode::CREATED, "{out}");
    let list = out.as_array().unwrap();
    assert!(
        list[0]["token"].is_string() && list[2]["token"].is_string(),
        "{out}"
    );
    assert!(list[1]["language_id"].is_array(), "{out}");
    let tokens = format!(
        "{},{},{}",
        list[0]["token"].as_str().unwrap(),
        uuid_like(),
        list[2]["token"].as_str().unwrap()
    );
    let (status, got, _) = call!(
        app,
        get(&format!(
            "/submissions/batch?tokens={tokens}&fields=token,status"
        ))
    );
    assert_eq!(status, StatusCode::OK, "{got}");
    let subs = got["submissions"].as_array().unwrap();
    assert_eq!(subs.len(), 3);
    assert_eq!(subs[0]["token"], list[0]["token"]);
    assert_eq!(subs[1], Value::Null);
}

#[actix_web::test]
async fn compat_apis_can_be_switched_off() {
    let fake = Fake::default();
    let executor = executor(&fake, 1, 10).await;
    let config = ApiConfig {
        compat: CompatApis::NONE,
        ..ApiConfig::default()
    };
    let app = test::init_service(app!(AppState::new(executor, config))).await;
    for path in ["/languages", "/config_info", "/api/v2/runtimes"] {
        let (status, body, _) = call!(app, get(path));
        assert_error(
            status,
            &body,
            StatusCode::NOT_FOUND,
            "route.not_found",
            path,
        );
    }
    let (status, _, _) = call!(app, get("/api/languages"));
    assert_eq!(status, StatusCode::OK);
    let (_, doc, _) = call!(app, get("/api/openapi.json"));
    assert!(doc["paths"]["/api/v2/execute"].is_null() && doc["paths"]["/submissions"].is_null());
    assert!(doc["paths"]["/api/submit"].is_object());
}

#[actix_web::test]
async fn a_language_added_to_the_file_appears_in_both_apis() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages.toml");
    let added = "\n[[language]]\nid = \"cobol\"\nname = \"COBOL\"\nversion = \"3.1\"\n\
                 aliases = [\"cob\"]\nimage = \"monaco/cobol:latest\"\nsource = \"main.cob\"\n\
                 run = [\"cobc\", \"{source}\", \"{args}\"]\nhello = 'DISPLAY \"Hello, World!\"'\n\
                 [language.compat]\njudge0 = [77]\n";
    let file = std::env::temp_dir().join(format!("monaco-compat-{}.toml", std::process::id()));
    std::fs::write(&file, std::fs::read_to_string(real).unwrap() + added).unwrap();
    let fake = Fake::default();
    let executor = Executor::builder()
        .languages_file(&file)
        .build_with(Arc::clone(&fake))
        .await
        .expect("the executor starts with the added language");
    std::fs::remove_file(&file).unwrap();
    let app = test::init_service(app!(state(&executor, 1 << 20))).await;
    let (_, runtimes, _) = call!(app, get("/api/v2/runtimes"));
    let cobol = runtimes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "cobol")
        .unwrap_or_else(|| panic!("cobol in {runtimes}"));
    assert_eq!(cobol["version"], "3.1.0");
    assert_eq!(cobol["aliases"], json!(["cob"]));
    let (_, languages, _) = call!(app, get("/languages"));
    assert!(
        languages
            .as_array()
            .unwrap()
            .contains(&json!({"id": 77, "name": "COBOL (3.1)"})),
        "{languages}"
    );
    let body =
        json!({"language": "cob", "version": "3", "files": [{"content": "print via piston"}]});
    let (status, out, _) = call!(app, post("/api/v2/execute", body.to_string()));
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["run"]["stdout"], "via piston\n");
    let (status, out) = judge0_run!(
        app,
        "?wait=true",
        json!({"language_id": 77, "source_code": "print via judge0"})
    );
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["stdout"], "via judge0\n");
}
