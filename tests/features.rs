//! Monaco's additions to the original API, end to end: several files,
//! program arguments, byte-exact stdin and EOF over the terminal, and CORS.

mod support;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Server, ServerConfig};

#[tokio::test]
async fn extra_files_are_written_beside_the_main_one() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let python = server
        .execute(&json!({
            "language": "python",
            "code": "from lib.greet import hello\nprint(hello('Ada'))\nprint(open('data/words.txt').read().split())\n",
            "files": [
                {"name": "lib/__init__.py", "content": ""},
                {"name": "lib/greet.py", "content": "def hello(n):\n    return f'Hello, {n}!'\n"},
                {"name": "data/words.txt", "content": "alpha beta\n"}
            ]
        }))
        .await;
    assert_eq!(python["verdict"], "ok", "{python}");
    assert_eq!(
        python["stdout"], "Hello, Ada!\n['alpha', 'beta']\n",
        "{python}"
    );

    let c = server
        .execute(&json!({
            "language": "c",
            "code": "#include <stdio.h>\n#include \"square.h\"\nint main(void){printf(\"%d\\n\", square(7));return 0;}\n",
            "files": [{"name": "square.h", "content": "static int square(int x){return x*x;}\n"}]
        }))
        .await;
    assert_eq!(c["verdict"], "ok", "{c}");
    assert_eq!(c["stdout"], "49\n", "{c}");
    server.stop().await;
}

#[tokio::test]
async fn arguments_reach_the_program_literally() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let args = [
        "plain",
        "two words",
        "; rm -rf /",
        "$(id)",
        "`id`",
        "*",
        "",
        "ünïcødé",
    ];
    for (language, code) in [
        (
            "python",
            "import sys\nfor a in sys.argv[1:]:\n    print(repr(a))\n",
        ),
        (
            "javascript",
            "for (const a of process.argv.slice(2)) console.log(JSON.stringify(a));\n",
        ),
    ] {
        let v = server
            .execute(&json!({"language": language, "code": code, "args": args}))
            .await;
        assert_eq!(v["verdict"], "ok", "{v}");
        let lines: Vec<&str> = v["stdout"].as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), args.len(), "{language}: {v}");
        for (line, arg) in lines.iter().zip(args) {
            let shown = if language == "python" {
                format!("{arg:?}").replace('"', "'")
            } else {
                serde_json::to_string(arg).unwrap()
            };
            assert_eq!(*line, shown, "{language}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn terminal_sends_exact_bytes_and_eof() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    // Echoes stdin's bytes as hex until EOF, then says how many it got.
    let code = "import sys\ndata = sys.stdin.buffer.read()\nprint(data.hex(), len(data))\n";
    let id = server
        .submit(&json!({"language": "python", "code": code, "interactive": true}))
        .await;
    let mut term = server.terminal(&id).await;
    let bytes: Vec<u8> = vec![0, 1, 0xff, b'\r', b'\n', 0x04, b'x'];
    term.send(json!({"type": "stdin", "base64": base64::engine::general_purpose::STANDARD.encode(&bytes)}))
        .await;
    term.send(json!({"type": "stdin", "content": "no newline"}))
        .await;
    term.send(json!({"type": "eof"})).await;
    let transcript = term.finish().await;
    let mut expected = bytes.clone();
    expected.extend_from_slice(b"no newline");
    let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(transcript.stdout(), format!("{hex} {}\n", expected.len()));
    assert_eq!(transcript.final_status()["verdict"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn cors_follows_the_configuration() {
    if !support::docker_or_skip() {
        return;
    }
    let any = Server::start().await;
    let r = any
        .http()
        .get(any.url("/api/languages"))
        .header("Origin", "https://editor.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let allowed = r.headers().get("access-control-allow-origin").cloned();
    assert!(allowed.is_some(), "any origin is allowed by default");
    any.stop().await;

    let strict = Server::start_with(
        ServerConfig::default().env("MONACO_CORS_ORIGINS", "https://editor.example"),
    )
    .await;
    let preflight = |origin: &'static str| {
        strict
            .http()
            .request(Method::OPTIONS, strict.url("/api/submit"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let ok = preflight("https://editor.example").await.unwrap();
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://editor.example")
    );
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "an origin not listed is not allowed"
    );
    strict.stop().await;
}
