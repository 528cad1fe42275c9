//! Bad input through the real server: every malformed, oversize, out-of-range
//! or ill-typed request gets a 4xx with the JSON body
//! `{"error":{"code","message"}}` and its stable code — never a 5xx, never a
//! hang, never plain text — and the inputs at the edge of what is accepted
//! reach the program exactly.
//!
//! The schemathesis run (`scripts/fuzz-api.sh`) covers the same ground from
//! the OpenAPI document with generated data; this file pins the cases down.

mod support;

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use support::{expect_error, Server};

const MIB: usize = 1024 * 1024;
/// The server's default body limit (`MONACO_MAX_BODY_BYTES`).
const MAX_BODY: usize = 2 * MIB;
/// The executor's default code limit (main file plus extra files).
const MAX_CODE: usize = MIB;
/// The executor's argument limits (`monaco_executor::MAX_ARGS`, `MAX_ARGS_BYTES`).
const MAX_ARGS: usize = 4096;
const MAX_ARGS_BYTES: usize = 128 * 1024;
/// The smallest memory limit (`monaco_executor::MIN_MEMORY_BYTES`).
const MIN_MEMORY: u64 = 8 * MIB as u64;
/// Every field of `limits`: the names of the limits table, which the
/// server's parsing and its OpenAPI document are built from.
const LIMIT_FIELDS: &[&str] = monaco_core::LimitField::NAMES;

/// A plain HTTP client with our own headers (the support client always
/// sends JSON); loopback only.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// One request that must be refused.
struct Refused {
    what: String,
    body: reqwest::Body,
    content_type: Option<&'static str>,
    status: StatusCode,
    code: &'static str,
}

/// A refusal with a JSON content type.
fn refused(
    what: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Refused {
    Refused {
        what: what.into(),
        body: reqwest::Body::from(body.into()),
        content_type: Some("application/json"),
        status: StatusCode::from_u16(status).expect("a status"),
        code,
    }
}

/// A valid submission with `patch`'s fields added or replaced.
fn submission(patch: Value) -> Vec<u8> {
    let mut v = json!({"language": "python", "code": "print(1)", "input": ""});
    for (k, val) in patch.as_object().expect("a patch object") {
        v[k] = val.clone();
    }
    serde_json::to_vec(&v).expect("serialise")
}

/// A valid submission with `raw` spliced in as the value of `field`
/// (for values `serde_json::Value` cannot hold: 1e400, deep nesting).
fn submission_raw(field: &str, raw: &str) -> Vec<u8> {
    format!(r#"{{"language":"python","code":"print(1)","{field}":{raw}}}"#).into_bytes()
}

async fn send(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    case: Refused,
) -> (String, Response) {
    let mut req = client.post(server.url(path)).body(case.body);
    if let Some(ct) = case.content_type {
        req = req.header("content-type", ct);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {path}: {e}", case.what));
    (case.what, r)
}

/// Every request body that must be refused, with its status and code.
fn refusals() -> Vec<Refused> {
    let mut cases = vec![
        // Size.
        refused(
            "code just under the body limit, over the code limit",
            submission(json!({"code": format!("#{}", "x".repeat(MAX_BODY - 1024))})),
            413,
            "request.code_too_large",
        ),
        refused(
            "code one byte over the code limit",
            submission(json!({"code": format!("#{}", "x".repeat(MAX_CODE))})),
            413,
            "request.code_too_large",
        ),
        refused(
            "code and files together over the code limit",
            submission(json!({
                "code": format!("#{}", "x".repeat(MAX_CODE / 2)),
                "files": [{"name": "data.txt", "content": "y".repeat(MAX_CODE / 2)}]
            })),
            413,
            "request.code_too_large",
        ),
        refused(
            "body over the limit",
            submission(json!({"code": format!("#{}", "x".repeat(MAX_BODY))})),
            413,
            "request.too_large",
        ),
        // Arguments.
        refused(
            "100k arguments",
            submission(json!({"args": vec!["x"; 100_000]})),
            413,
            "request.args_too_large",
        ),
        refused(
            "one 1 MB argument",
            submission(json!({"args": ["x".repeat(1_000_000)]})),
            413,
            "request.args_too_large",
        ),
        refused(
            "one argument over the kernel's per-argument limit",
            submission(json!({"args": ["x".repeat(MAX_ARGS_BYTES)]})),
            413,
            "request.args_too_large",
        ),
        refused(
            "one argument too many",
            submission(json!({"args": vec![""; MAX_ARGS + 1]})),
            413,
            "request.args_too_large",
        ),
        // Not JSON, or not a JSON object.
        refused("an empty body", "", 400, "request.malformed_json"),
        refused("white space only", " \n\t ", 400, "request.malformed_json"),
        refused(
            "JSON cut short",
            r#"{"language":"python","code":"#,
            400,
            "request.malformed_json",
        ),
        refused(
            "trailing characters",
            r#"{"language":"python","code":"print(1)"} x"#,
            400,
            "request.malformed_json",
        ),
        refused("null", "null", 400, "request.invalid"),
        refused("a number", "5", 400, "request.invalid"),
        refused("a string", r#""print(1)""#, 400, "request.invalid"),
        refused("an empty array", "[]", 400, "request.invalid"),
        refused(
            "the fields as an array, in order",
            r#"["python","print(1)",null,null,null,null,null,null,null]"#,
            400,
            "request.invalid",
        ),
        refused(
            "limits as an array",
            submission(json!({"limits": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]})),
            400,
            "request.invalid",
        ),
        refused(
            "a file as an array",
            submission(json!({"files": [["a.txt", "text"]]})),
            400,
            "request.invalid",
        ),
        refused(
            "a field given twice",
            r#"{"language":"python","code":"print(1)","code":"print(2)"}"#,
            400,
            "request.invalid",
        ),
        // Deep nesting: refused by the parser's depth limit, not the stack.
        refused(
            "10k nested arrays in args",
            submission_raw(
                "args",
                &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            ),
            400,
            "request.malformed_json",
        ),
        refused(
            "10k nested arrays as the body",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            400,
            "request.malformed_json",
        ),
        refused(
            "10k nested objects in limits",
            submission_raw(
                "limits",
                &format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)),
            ),
            400,
            "request.malformed_json",
        ),
        refused(
            "10k unclosed arrays",
            "[".repeat(10_000),
            400,
            "request.malformed_json",
        ),
        // Invalid UTF-8 and invalid escapes.
        refused(
            "invalid UTF-8 in a string",
            [&br#"{"language":"python","code":"print(1)\xff"}"#[..]].concat(),
            400,
            "request.malformed_json",
        ),
        refused(
            "a lone continuation byte in code",
            [
                &br#"{"language":"python","code":"print('"#[..],
                &[0x80],
                &br#"')"}"#[..],
            ]
            .concat(),
            400,
            "request.malformed_json",
        ),
        refused(
            "an overlong UTF-8 encoding of '/'",
            [
                &br#"{"language":"python","code":"print(1)","files":[{"name":"a"#[..],
                &[0xc0, 0xaf],
                &br#"b","content":""}]}"#[..],
            ]
            .concat(),
            400,
            "request.malformed_json",
        ),
        refused(
            "invalid UTF-8 outside strings",
            [&b"{\xfe\xff}"[..]].concat(),
            400,
            "request.malformed_json",
        ),
        refused(
            "a lone surrogate escape",
            submission_raw("input", r#""\ud800""#),
            400,
            "request.malformed_json",
        ),
        // Unknown fields, at every level.
        refused(
            "an unknown field",
            submission(json!({"bogus": 1})),
            400,
            "request.invalid",
        ),
        refused(
            "a field in the wrong case",
            submission(json!({"Language": "python"})),
            400,
            "request.invalid",
        ),
        refused(
            "an unknown limit",
            submission(json!({"limits": {"wall_ms": 1000, "gpu": 1}})),
            400,
            "request.invalid",
        ),
        refused(
            "an unknown field in a file",
            submission(json!({"files": [{"name": "a.txt", "content": "", "mode": 493}]})),
            400,
            "request.invalid",
        ),
        // Missing or empty essentials.
        refused(
            "no language",
            r#"{"code":"print(1)"}"#,
            400,
            "request.language_missing",
        ),
        refused(
            "no code",
            r#"{"language":"python"}"#,
            400,
            "request.code_missing",
        ),
        refused(
            "blank code",
            submission(json!({"code": " \n\t\u{a0}\u{3000}"})),
            400,
            "request.code_missing",
        ),
        refused(
            "an empty language",
            submission(json!({"language": ""})),
            400,
            "language.unknown",
        ),
        refused(
            "a language with a NUL",
            submission(json!({"language": "python\u{0}"})),
            400,
            "language.unknown",
        ),
        // NUL bytes where they cannot go.
        refused(
            "a NUL in an argument",
            submission(json!({"args": ["a\u{0}b"]})),
            400,
            "request.invalid_argument",
        ),
        refused(
            "a NUL in a file name",
            submission(json!({"files": [{"name": "a\u{0}.txt", "content": ""}]})),
            400,
            "request.invalid_file",
        ),
        refused(
            "a file name with ..",
            submission(json!({"files": [{"name": "../x", "content": ""}]})),
            400,
            "request.invalid_file",
        ),
        // Input.
        refused(
            "input and inputBase64 together",
            submission(json!({"inputBase64": "eA=="})),
            400,
            "request.invalid_input",
        ),
        refused(
            "inputBase64 that is not base64",
            submission(json!({"input": null, "inputBase64": "not base64!"})),
            400,
            "request.invalid_input",
        ),
        // Memory the sandbox cannot run with.
        refused(
            "memory below the minimum",
            submission(json!({"limits": {"memory_bytes": MIN_MEMORY - 1}})),
            400,
            "limits.below_minimum",
        ),
        refused(
            "compile memory below the minimum",
            submission(json!({"limits": {"compile_memory_bytes": 1}})),
            400,
            "limits.below_minimum",
        ),
        // `timeout` (seconds, the original's knob).
        refused(
            "timeout 0",
            submission(json!({"timeout": 0})),
            400,
            "limits.invalid",
        ),
        refused(
            "timeout -1",
            submission(json!({"timeout": -1})),
            400,
            "limits.invalid",
        ),
        refused(
            "timeout -0.0",
            submission_raw("timeout", "-0.0"),
            400,
            "limits.invalid",
        ),
        refused(
            "timeout 1e30",
            submission(json!({"timeout": 1e30})),
            400,
            "limits.invalid",
        ),
        refused(
            "timeout over a day",
            submission(json!({"timeout": 86_401})),
            400,
            "limits.invalid",
        ),
        refused(
            "timeout over the server's maximum",
            submission(json!({"timeout": 301})),
            400,
            "limits.above_maximum",
        ),
        refused(
            "timeout 1e400",
            submission_raw("timeout", "1e400"),
            400,
            "request.malformed_json",
        ),
        refused(
            "timeout NaN (not JSON)",
            submission_raw("timeout", "NaN"),
            400,
            "request.malformed_json",
        ),
        refused(
            "timeout and limits.wall_ms together",
            submission(json!({"timeout": 1, "limits": {"wall_ms": 1000}})),
            400,
            "limits.invalid",
        ),
    ];
    for s in [r#""NaN""#, r#""Infinity""#, r#""5""#, "true", "[5]", "{}"] {
        cases.push(refused(
            format!("timeout {s}"),
            submission_raw("timeout", s),
            400,
            "request.invalid",
        ));
    }
    // Wrong types.
    for (field, value) in [
        ("language", json!(5)),
        ("language", json!(["python"])),
        ("code", json!(1)),
        ("code", json!({"text": "print(1)"})),
        ("input", json!(5)),
        ("input", json!(["a"])),
        ("inputBase64", json!(5)),
        ("interactive", json!("yes")),
        ("interactive", json!(1)),
        ("args", json!("a b")),
        ("args", json!([1])),
        ("args", json!([null])),
        ("files", json!({"name": "a.txt", "content": ""})),
        ("files", json!([{"name": 1, "content": ""}])),
        ("files", json!([{"name": "a.txt"}])),
        ("files", json!([{"name": "a.txt", "content": null}])),
        ("limits", json!(5)),
        ("limits", json!("fast")),
    ] {
        cases.push(refused(
            format!("{field}: {value}"),
            submission(json!({ field: value })),
            400,
            "request.invalid",
        ));
    }
    // Every limit: zero, negative, fractional, a string, enormous.
    for &field in LIMIT_FIELDS {
        let limit = |v: &str| submission_raw("limits", &format!(r#"{{"{field}":{v}}}"#));
        cases.push(refused(
            format!("{field} 0"),
            limit("0"),
            400,
            "limits.zero",
        ));
        for v in [
            "-1",
            "-9223372036854775808",
            "1.5",
            "1e30",
            "18446744073709551616",
            r#""1""#,
            "true",
        ] {
            cases.push(refused(
                format!("{field} {v}"),
                limit(v),
                400,
                "request.invalid",
            ));
        }
        cases.push(refused(
            format!("{field} u64::MAX"),
            limit(&u64::MAX.to_string()),
            400,
            "limits.above_maximum",
        ));
        cases.push(refused(
            format!("{field} u32::MAX + 1"),
            limit(&(u64::from(u32::MAX) + 1).to_string()),
            400,
            "limits.above_maximum",
        ));
    }
    // Bodies that are not JSON by their content type.
    for ct in [
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "text/xml",
        "application/xml",
        "application/octet-stream",
        "text/html",
        "image/png",
        "not a media type",
        "application/",
    ] {
        cases.push(Refused {
            content_type: Some(ct),
            ..refused(
                format!("Content-Type: {ct}"),
                submission(json!({})),
                415,
                "request.unsupported_media_type",
            )
        });
    }
    cases
}

#[tokio::test]
async fn bad_bodies_get_json_errors_with_codes() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let client = client();
    for path in ["/api/submit", "/api/execute"] {
        for case in refusals() {
            let (status, code) = (case.status, case.code);
            let (what, r) = send(&client, &server, path, case).await;
            assert_eq!(r.status(), status, "{what} on {path}");
            expect_error(r, status, code).await;
        }
    }
    // A body over the limit sent in chunks, without a length, is cut off too.
    let chunk = format!("{:x}\r\n{}\r\n", 128 * 1024, " ".repeat(128 * 1024));
    let (status, body) = raw_http(
        &server,
        "POST /api/submit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        std::iter::repeat_n(chunk.as_bytes(), 24),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    support::check_error_body(
        &serde_json::from_str(&body).expect("JSON"),
        "request.too_large",
    );
    // A declared length over the limit is refused before the body is read.
    let r = client
        .post(server.url("/api/submit"))
        .header("content-type", "application/json")
        .body(vec![b' '; MAX_BODY + 1])
        .send()
        .await
        .expect("a large body");
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "request.too_large").await;

    // Nothing was accepted, so nothing is queued or running, and the server
    // is still well.
    let health = server.get_json("/api/health").await;
    assert_eq!(health["queueDepth"], 0, "{health}");
    assert_eq!(health["running"], 0, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    server.stop().await;
}

/// Sends `head` then `chunks` over a plain connection (not waiting for the
/// server to read them all: it may answer and close first); the status and
/// body of the answer.
async fn raw_http<'a>(
    server: &Server,
    head: &str,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.url("").trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect to the server");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send the head");
    for chunk in chunks {
        if stream.write_all(chunk).await.is_err() {
            break; // the server answered and closed: that is allowed
        }
    }
    // Read the answer up to its declared length: the server may keep the
    // connection open to drain what the client still has to send.
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (head, body) = loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .expect("the answer has a Content-Length");
            if body.len() >= length {
                break (head.to_string(), body[..length].to_string());
            }
        }
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("the server answers within 60 s; so far: {text:?}"))
            .unwrap_or(0);
        assert!(
            n > 0,
            "the connection closed before a whole answer: {text:?}"
        );
        answer.extend_from_slice(&buf[..n]);
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {head:?}"));
    (status, body)
}

/// `POST /api/execute` with our own content type; the result.
async fn execute_as(
    client: &reqwest::Client,
    server: &Server,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Value {
    let mut req = client.post(server.url("/api/execute")).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let r = req.send().await.expect("POST /api/execute");
    let v = support::json_body(r, StatusCode::OK).await;
    server.track(v["id"].as_str().expect("an id"));
    v
}

/// Prints the argument count and a SHA-256 of the arguments' exact bytes,
/// each followed by a NUL.
const ARGS_PROGRAM: &str = "import hashlib, os, sys\n\
    h = hashlib.sha256()\n\
    for a in sys.argv[1:]:\n    h.update(os.fsencode(a) + b'\\0')\n\
    print(len(sys.argv) - 1, h.hexdigest())\n";

/// `s` padded with `p` to exactly `n` bytes.
fn padded(s: &str, n: usize) -> String {
    let mut s = s.to_string();
    while s.len() < n {
        s.push('p');
    }
    assert_eq!(s.len(), n, "{s:?}");
    s
}

fn args_digest(args: &[String]) -> String {
    let bytes: Vec<u8> = args
        .iter()
        .flat_map(|a| a.bytes().chain(std::iter::once(0)))
        .collect();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(&bytes)?;
            c.wait_with_output()
        })
        .expect("python3 on the host computes the digest");
    String::from_utf8(out.stdout)
        .expect("hex")
        .trim()
        .to_string()
}

#[tokio::test]
async fn inputs_at_the_edge_are_accepted_and_reach_the_program() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let client = client();
    let ok = |v: &Value, what: &str| {
        assert_eq!(v["status"], "completed", "{what}: {v}");
        assert_eq!(v["verdict"], "ok", "{what}: {v}");
    };

    // Code of exactly the largest size.
    let code = format!("print(1)\n#{}", "x".repeat(MAX_CODE - 10));
    assert_eq!(code.len(), MAX_CODE);
    let v = server
        .execute(&json!({"language": "python", "code": code, "input": ""}))
        .await;
    ok(&v, "code at the limit");
    assert_eq!(v["stdout"], "1\n");

    // As many arguments as allowed, as many bytes as allowed (each 31 bytes
    // and its NUL), one of them full of shell syntax; and one argument as
    // long as the kernel allows. Each arrives byte for byte.
    let mut many: Vec<String> = (0..MAX_ARGS).map(|i| format!("{i:031}")).collect();
    many[1] = padded("$(id);`id`|&>../x\n'\"\\ \t\u{e9}\u{1f980}", 31);
    assert_eq!(
        many.iter().map(|a| a.len() + 1).sum::<usize>(),
        MAX_ARGS_BYTES
    );
    let long = vec!["y".repeat(MAX_ARGS_BYTES - 1)];
    for args in [many, long] {
        let v = server
            .execute(
                &json!({"language": "python", "code": ARGS_PROGRAM, "args": args, "input": ""}),
            )
            .await;
        ok(&v, "arguments at the limit");
        assert_eq!(
            v["stdout"],
            format!("{} {}\n", args.len(), args_digest(&args)),
            "the program got every argument exactly"
        );
    }

    // NUL bytes in code, input and a file's content arrive exactly.
    let v = server
        .execute(&json!({
            "language": "javascript",
            "code": "const s = \"a\u{0}b\"; // \u{0}\nconsole.log(s.length, s.charCodeAt(1));",
            "input": ""
        }))
        .await;
    ok(&v, "a NUL in JavaScript code");
    assert_eq!(v["stdout"], "3 0\n");
    assert_eq!(v["code"].as_str().map(|c| c.matches('\0').count()), Some(2));
    let v = server
        .execute(&json!({
            "language": "python",
            "code": "import sys\nprint(sys.stdin.buffer.read().hex(), open('d.bin','rb').read().hex())",
            "input": "x\u{0}y",
            "files": [{"name": "d.bin", "content": "\u{0}a\u{0}"}]
        }))
        .await;
    ok(&v, "NULs in input and a file");
    assert_eq!(v["stdout"], "780079 006100\n");

    // A huge number of files, as many as fit in the body: all written.
    let files: Vec<Value> = (0..50_000)
        .map(|i| json!({"name": format!("f{i}"), "content": ""}))
        .collect();
    let v = server
        .execute(&json!({
            "language": "python",
            "code": "import os\nprint(len(os.listdir('.')))",
            "files": files,
            "input": ""
        }))
        .await;
    ok(&v, "50k files");
    assert_eq!(v["stdout"], "50001\n");

    // The smallest memory limit runs (whatever the program's fate, the
    // sandbox starts: no internal error); every limit at its maximum too.
    // Both come from the served document, which must agree with the server.
    let doc = server.get_json("/api/openapi.json").await;
    let request = &doc["components"]["schemas"]["SubmitRequest"]["properties"];
    assert_eq!(request["args"]["maxItems"], MAX_ARGS, "{}", request["args"]);
    assert_eq!(
        request["code"]["maxLength"], MAX_CODE,
        "{}",
        request["code"]
    );
    let limits = request["limits"]["properties"]
        .as_object()
        .expect("the limits' properties");
    assert_eq!(limits.len(), LIMIT_FIELDS.len());
    assert_eq!(limits["memory_bytes"]["minimum"], MIN_MEMORY);
    let max: serde_json::Map<String, Value> = limits
        .iter()
        .map(|(k, v)| (k.clone(), v["maximum"].clone()))
        .collect();
    let v = server
        .execute(
            &json!({"language": "python", "code": "print(1)", "input": "",
            "limits": {"memory_bytes": MIN_MEMORY}}),
        )
        .await;
    assert_eq!(v["status"], "completed", "the smallest memory: {v}");
    let v = server
        .execute(
            &json!({"language": "c", "code": "#include <stdio.h>\nint main(){puts(\"hi\");}",
            "input": "", "limits": max}),
        )
        .await;
    ok(&v, "every limit at its maximum");
    assert_eq!(v["stdout"], "hi\n");

    // Content types taken as JSON, nulls taken as absent, any letter case
    // for the language, and a tiny timeout that still is a timeout.
    let body = submission(json!({"language": "PyThOn", "timeout": null, "args": null,
        "files": null, "limits": null, "interactive": null, "inputBase64": null}));
    for ct in [
        None,
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/vnd.monaco+json"),
        Some("text/plain;charset=UTF-8"),
    ] {
        let v = execute_as(&client, &server, ct, body.clone()).await;
        ok(&v, &format!("Content-Type {ct:?}"));
        assert_eq!(v["stdout"], "1\n");
    }
    let v = execute_as(
        &client,
        &server,
        None,
        submission(json!({"code": "import time\ntime.sleep(5)", "timeout": 5e-324})),
    )
    .await;
    assert_eq!(v["verdict"], "time_limit_exceeded", "{v}");
    server.stop().await;
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let client = client();
    let id = uuid::Uuid::new_v4();
    let routes: Vec<(String, &str)> = vec![
        ("/api/submit".into(), "POST"),
        ("/api/execute".into(), "POST"),
        (format!("/api/status/{id}"), "GET"),
        (format!("/api/result/{id}"), "GET"),
        (format!("/api/executions/{id}"), "GET, DELETE"),
        ("/api/languages".into(), "GET"),
        ("/api/health".into(), "GET"),
        ("/api/openapi.json".into(), "GET"),
        (format!("/api/ws/terminal/{id}"), "GET"),
    ];
    for (path, allow) in &routes {
        let allowed: Vec<&str> = allow.split(", ").collect();
        for method in [
            "GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "HEAD", "FOO",
        ] {
            if allowed.contains(&method) {
                continue;
            }
            let m = Method::from_bytes(method.as_bytes()).expect("a method");
            let r = client
                .request(m, server.url(path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let header = r.headers().get("allow").and_then(|v| v.to_str().ok());
            assert_eq!(header, Some(*allow), "{method} {path}: Allow");
            if method == "HEAD" {
                // No body in an answer to HEAD.
                assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "HEAD {path}");
                continue;
            }
            expect_error(
                r,
                StatusCode::METHOD_NOT_ALLOWED,
                "route.method_not_allowed",
            )
            .await;
        }
        // A plain OPTIONS (not a CORS preflight) says what is allowed.
        let r = client
            .request(Method::OPTIONS, server.url(path))
            .send()
            .await
            .expect("OPTIONS");
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "OPTIONS {path}");
        let header = r.headers().get("allow").and_then(|v| v.to_str().ok());
        assert_eq!(
            header,
            Some(format!("{allow}, OPTIONS").as_str()),
            "OPTIONS {path}"
        );
    }
    // Bad query and path parameters.
    for query in ["from=-1", "from=x", "from=99999999999999999999999"] {
        let r = server
            .request(Method::GET, &format!("/api/ws/terminal/{id}?{query}"), None)
            .await;
        expect_error(r, StatusCode::BAD_REQUEST, "request.invalid_query").await;
    }
    for path in [
        "/api/status/%ff%fe",
        "/api/result/..%2F..%2Fetc%2Fpasswd",
        "/api/status/%00",
    ] {
        let r = server.request(Method::GET, path, None).await;
        expect_error(r, StatusCode::NOT_FOUND, "execution.not_found").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn cors_refusals_are_json_too() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start_with(
        support::ServerConfig::default().env("MONACO_CORS_ORIGINS", "http://editor.test"),
    )
    .await;
    let client = client();
    // A preflight from an origin not allowed.
    let r = client
        .request(Method::OPTIONS, server.url("/api/submit"))
        .header("origin", "http://other.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("a preflight");
    assert!(r.status().is_client_error(), "{}", r.status());
    let status = r.status();
    expect_error(r, status, "request.rejected").await;
    // The allowed origin gets through.
    let r = client
        .request(Method::OPTIONS, server.url("/api/submit"))
        .header("origin", "http://editor.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("a preflight");
    assert!(r.status().is_success(), "{}", r.status());
    server.stop().await;
}
