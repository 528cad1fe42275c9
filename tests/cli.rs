//! The `monaco` command-line client (`bins/monaco-cli`), the built binary
//! run as a user would, against the real server and real Docker: hello
//! world in every language detected from its extension, stdin from a file,
//! from `-` and from a pipe, arguments after `--`, stdout and stderr kept
//! apart, exit codes mirrored, an interactive program played at a
//! pseudo-terminal, `languages`, the submit/status/result/watch flow, and
//! clear errors for an unknown extension, a bad `--limit`, a refused
//! request and an unreachable server.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use rexpect::process::wait::WaitStatus;
use serde_json::Value;
use support::language_programs::programs;
use support::programs::{ANSWER, LANGUAGES};
use support::{Server, EXECUTION};
use tokio::io::AsyncWriteExt;

/// The client binary: `MONACO_CLI_BIN`, else `target/debug/monaco`.
fn cli_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MONACO_CLI_BIN") {
        return PathBuf::from(p);
    }
    let path = monaco_testkit::target_dir(&support::workspace_root())
        .join("debug")
        .join("monaco");
    assert!(
        path.is_file(),
        "the client binary {} is missing: run `cargo build -p monaco-cli` first \
         (scripts/test.sh does), or set MONACO_CLI_BIN",
        path.display()
    );
    path
}

/// A fresh directory for one test's source files.
fn scratch() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Writes `code` to `dir/name`; its path.
fn source(dir: &Path, name: &str, code: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, code).expect("write a source file");
    path
}

/// The client as a command for `url`, with none of the caller's settings.
fn command(url: &str) -> std::process::Command {
    let mut c = std::process::Command::new(cli_binary());
    c.env("MONACO_URL", url)
        .env_remove("MONACO_API_KEY")
        .env("NO_COLOR", "1");
    c
}

/// Runs the client with `args` against `url`, `stdin` piped in (and closed)
/// or empty; what it printed and how it exited.
async fn monaco_at(url: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = tokio::process::Command::from(command(url));
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = c.spawn().expect("start monaco");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).await.expect("write monaco's stdin");
    }
    drop(pipe);
    tokio::time::timeout(EXECUTION, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("monaco {args:?} did not end within {EXECUTION:?}"))
        .expect("wait for monaco")
}

/// [`monaco_at`] the test's server.
async fn monaco(server: &Server, args: &[&str], stdin: Option<&[u8]>) -> Output {
    monaco_at(&server.url(""), args, stdin).await
}

/// Checks the exit code; `(stdout, stderr)` as text.
fn expect_exit(out: &Output, code: i32) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stdout {stdout:?}; stderr {stderr:?}"
    );
    (stdout, stderr)
}

/// The file name a language's program is saved under.
fn file_name(language: &str) -> &'static str {
    match language {
        "python" => "hello.py",
        "java" => "Hello.java",
        "c" => "hello.c",
        "cpp" => "hello.cpp",
        "javascript" => "hello.js",
        "go" => "hello.go",
        other => panic!("no file name for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_world_in_every_language_from_its_extension() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let dir = scratch();
    let runs = LANGUAGES.iter().map(|&language| {
        let server = &server;
        let dir = &dir;
        async move {
            let hello = server.language(language).await["helloWorld"]
                .as_str()
                .expect("`helloWorld` is a string")
                .to_string();
            let file = source(dir, file_name(language), &hello);
            let out = monaco(server, &["run", file.to_str().unwrap()], None).await;
            (language, out)
        }
    });
    for (language, out) in futures_util::future::join_all(runs).await {
        let (stdout, stderr) = expect_exit(&out, 0);
        assert_eq!(stdout, "Hello, World!\n", "{language}: stderr {stderr}");
        assert!(
            stderr.contains("[ok · exit 0 · wall "),
            "{language}: {stderr}"
        );
        assert!(stderr.contains(" · memory "), "{language}: {stderr}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn input_arguments_streams_and_exit_codes() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let dir = scratch();

    // stdin: from a file, from `-`, and forwarded from a pipe to its end.
    let echo = source(
        &dir,
        "echo.py",
        "import sys\ndata = sys.stdin.read()\nprint(len(data), data.upper(), end='')\n",
    );
    let echo = echo.to_str().unwrap();
    let input = source(&dir, "input.txt", "first line\nsecond\n");
    let out = monaco(
        &server,
        &["run", echo, "--stdin", input.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(expect_exit(&out, 0).0, "18 FIRST LINE\nSECOND\n");
    let out = monaco(
        &server,
        &["run", "--quiet", echo, "--stdin", "-"],
        Some(b"from dash\n"),
    )
    .await;
    let (stdout, stderr) = expect_exit(&out, 0);
    assert_eq!(stdout, "10 FROM DASH\n");
    assert_eq!(stderr, "", "--quiet prints no verdict");
    let out = monaco(&server, &["run", echo], Some(b"piped, no newline")).await;
    assert_eq!(expect_exit(&out, 0).0, "17 PIPED, NO NEWLINE");

    // Arguments after `--` arrive as they are; stdout and stderr stay apart.
    let args = source(
        &dir,
        "args.py",
        "import sys\nprint(sys.argv[1:])\nprint('to stderr', file=sys.stderr)\n",
    );
    let out = monaco(
        &server,
        &[
            "run",
            args.to_str().unwrap(),
            "--",
            "two words",
            "--flag",
            "",
            "-l",
        ],
        None,
    )
    .await;
    let (stdout, stderr) = expect_exit(&out, 0);
    assert_eq!(stdout, "['two words', '--flag', '', '-l']\n");
    assert!(stderr.starts_with("to stderr\n"), "{stderr}");

    // The program's exit code, a signal as 128 + N, a time limit as 124.
    let three = source(&dir, "three.py", "import sys\nprint('bye')\nsys.exit(3)\n");
    let out = monaco(&server, &["run", three.to_str().unwrap()], None).await;
    let (stdout, stderr) = expect_exit(&out, 3);
    assert_eq!(stdout, "bye\n");
    assert!(stderr.contains("[runtime_error · exit 3 "), "{stderr}");
    let abort = source(
        &dir,
        "abort.c",
        "#include <stdlib.h>\nint main(void) { abort(); }\n",
    );
    let out = monaco(&server, &["run", abort.to_str().unwrap()], None).await;
    let (_, stderr) = expect_exit(&out, 128 + 6);
    assert!(stderr.contains("signal 6 (SIGABRT)"), "{stderr}");
    let forever = source(&dir, "forever.py", "while True:\n    pass\n");
    let out = monaco(
        &server,
        &[
            "run",
            forever.to_str().unwrap(),
            "--limit",
            "wall=1s,cpu=5s",
        ],
        None,
    )
    .await;
    let (_, stderr) = expect_exit(&out, 124);
    assert!(stderr.contains("[time_limit_exceeded"), "{stderr}");

    // A compile error: the compiler's message on stderr, exit 123.
    let broken = source(&dir, "broken.c", "int main(void) { return 0 }\n");
    let out = monaco(&server, &["run", broken.to_str().unwrap()], None).await;
    let (stdout, stderr) = expect_exit(&out, 123);
    assert_eq!(stdout, "", "compiler output is not the program's stdout");
    assert!(
        stderr.contains("main.c:1:") && stderr.contains("error: expected"),
        "{stderr}"
    );
    assert!(stderr.contains("[compile_error"), "{stderr}");

    // `-l` wins over the extension.
    let py_in_txt = source(&dir, "script.txt", "print(6 * 7)\n");
    let out = monaco(
        &server,
        &["run", "-l", "py", py_in_txt.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(expect_exit(&out, 0).0, "42\n");
    server.stop().await;
}

/// The client at a pseudo-terminal with echo on, as a person's terminal
/// is (rexpect turns echo off; `stty` turns it back on before the client
/// starts).
fn at_terminal(url: &str, args: &[&str]) -> rexpect::session::PtySession {
    let mut c = command(url);
    let program = c.get_program().to_owned();
    let mut shell = std::process::Command::new("sh");
    shell
        .arg("-c")
        .arg("stty echo && exec \"$0\" \"$@\"")
        .arg(program)
        .args(args);
    for (key, value) in c.get_envs() {
        match value {
            Some(v) => shell.env(key, v),
            None => shell.env_remove(key),
        };
    }
    c = shell;
    let timeout = EXECUTION.as_millis() as u64;
    rexpect::session::spawn_command(c, Some(timeout)).expect("start monaco at a terminal")
}

/// How the process at the terminal ended.
fn exit_of(session: &rexpect::session::PtySession) -> i32 {
    match session.process.wait().expect("wait for monaco") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("monaco ended as {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interactive_program_at_a_terminal() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let url = server.url("");
    let dir = scratch();
    // Python reads a pipe; C reads the sandbox's raw terminal.
    for (language, name) in [("python", "ask.py"), ("c", "ask.c")] {
        let program = programs(language).interactive.as_deref();
        let file = source(&dir, name, program.expect("an interactive program"));
        let file = file.to_str().unwrap().to_string();
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut p = at_terminal(&url, &["run", &file]);
            // The prompt arrives before the program blocks on input.
            p.exp_string("Name: ")
                .unwrap_or_else(|e| panic!("{language}: no prompt: {e}"));
            p.send_line("Ada").unwrap();
            let between = p
                .exp_string(ANSWER)
                .unwrap_or_else(|e| panic!("{language}: no greeting: {e}"));
            // Echoed once, by this terminal, as a local program's input is.
            assert_eq!(between.matches("Ada").count(), 1, "{language}: {between:?}");
            // (rexpect reads bytes as Latin-1: the needles stay ASCII.)
            p.exp_string("[ok")
                .unwrap_or_else(|e| panic!("{language}: no verdict: {e}"));
            assert_eq!(exit_of(&p), 0, "{language}");
        })
        .await
        .unwrap();
    }

    // Lines until Ctrl-D, then Ctrl-C stops what runs on.
    let lines = source(
        &dir,
        "lines.py",
        "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n\
         print('eof seen', flush=True)\nwhile True:\n    pass\n",
    );
    let lines = lines.to_str().unwrap().to_string();
    tokio::task::spawn_blocking(move || {
        let mut p = at_terminal(&url, &["run", &lines]);
        p.send_line("shout").unwrap();
        p.exp_string("SHOUT").expect("the line arrives");
        p.send_control('d').unwrap();
        p.exp_string("eof seen").expect("Ctrl-D ends the input");
        p.send_control('c').unwrap();
        p.exp_string("[cancelled").expect("Ctrl-C cancels");
        assert_eq!(exit_of(&p), 130);
    })
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn languages_and_the_asynchronous_flow() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let dir = scratch();

    let out = monaco(&server, &["languages"], None).await;
    let (table, _) = expect_exit(&out, 0);
    assert!(table.starts_with("id "), "{table}");
    for id in LANGUAGES {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("{id} "))),
            "{id} in {table}"
        );
    }
    assert!(table.contains(".py"), "extensions are listed: {table}");
    let out = monaco(&server, &["languages", "--json"], None).await;
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let file = include_str!("../languages.toml");
    let languages = file.lines().filter(|l| *l == "[[language]]").count();
    assert_eq!(listed.as_array().map(Vec::len), Some(languages));

    // submit → id; watch replays it to the end; status and result agree.
    let slow = source(
        &dir,
        "slow.py",
        "import sys, time\nprint(sys.stdin.read().strip(), flush=True)\ntime.sleep(1)\n\
         print('done', file=sys.stderr)\nsys.exit(5)\n",
    );
    let out = monaco(
        &server,
        &["submit", slow.to_str().unwrap(), "--stdin", "-"],
        Some(b"queued input"),
    )
    .await;
    let (id, _) = expect_exit(&out, 0);
    let id = id.trim().to_string();
    server.track(&id);
    let out = monaco(&server, &["status", &id], None).await;
    let (status, _) = expect_exit(&out, 0);
    assert!(
        ["queued", "running", "completed", "failed"].contains(&status.trim()),
        "{status}"
    );
    let out = monaco(&server, &["watch", &id], None).await;
    let (stdout, stderr) = expect_exit(&out, 5);
    assert_eq!(stdout, "queued input\n");
    assert!(stderr.contains("done\n"), "{stderr}");
    assert!(stderr.contains("[runtime_error · exit 5"), "{stderr}");
    let out = monaco(&server, &["status", &id], None).await;
    let (status, _) = expect_exit(&out, 0);
    assert_eq!(status.trim(), server.status(&id).await);
    let out = monaco(&server, &["result", &id], None).await;
    let (stdout, stderr) = expect_exit(&out, 5);
    assert_eq!(stdout, "queued input\n");
    assert!(stderr.contains("[runtime_error · exit 5"), "{stderr}");
    let out = monaco(&server, &["result", "--json", &id], None).await;
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["id"], id.as_str());
    assert_eq!(result["exitCode"], 5);

    // submit --json gives the server's answer; cancel stops it.
    let forever = source(&dir, "forever.py", "while True:\n    pass\n");
    let out = monaco(
        &server,
        &["submit", "--json", forever.to_str().unwrap()],
        None,
    )
    .await;
    let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = answer["id"].as_str().expect("an id").to_string();
    server.track(&id);
    assert_eq!(answer["status"], "queued");
    let out = monaco(&server, &["cancel", &id], None).await;
    expect_exit(&out, 0);
    let out = monaco(&server, &["watch", "--quiet", &id], None).await;
    expect_exit(&out, 130);
    assert_eq!(server.wait_result(&id).await["verdict"], "cancelled");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_clear_and_exit_non_zero() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let dir = scratch();
    let hello = source(&dir, "hello.py", "print('hi')\n");
    let hello = hello.to_str().unwrap();

    let unknown = source(&dir, "notes.xyz", "hello\n");
    let out = monaco(&server, &["run", unknown.to_str().unwrap()], None).await;
    let (stdout, stderr) = expect_exit(&out, 2);
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("no language of the server uses the extension .xyz")
            && stderr.contains("-l LANG")
            && stderr.contains("python"),
        "{stderr}"
    );
    let out = monaco(&server, &["run", "-l", "cobol", hello], None).await;
    let (_, stderr) = expect_exit(&out, 65);
    assert!(stderr.contains("(language.unknown)"), "{stderr}");
    let out = monaco(&server, &["run", hello, "--limit", "memory=1M"], None).await;
    let (_, stderr) = expect_exit(&out, 65);
    assert!(stderr.contains("(limits.below_minimum)"), "{stderr}");
    let out = monaco(&server, &["run", hello, "--limit", "wall=2"], None).await;
    let (_, stderr) = expect_exit(&out, 2);
    assert!(stderr.contains("needs a unit"), "{stderr}");
    let out = monaco(&server, &["run", hello, "--limit", "speed=9"], None).await;
    let (_, stderr) = expect_exit(&out, 2);
    assert!(stderr.contains("unknown limit `speed`"), "{stderr}");
    let missing = dir.join("missing.py");
    let out = monaco(&server, &["run", missing.to_str().unwrap()], None).await;
    let (_, stderr) = expect_exit(&out, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
    let out = monaco(&server, &["status", "not-an-id"], None).await;
    let (_, stderr) = expect_exit(&out, 65);
    assert!(stderr.contains("(execution.not_found)"), "{stderr}");
    server.stop().await;

    // A loopback port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}");
    for args in [vec!["run", hello], vec!["languages"], vec!["status", "x"]] {
        let out = monaco_at(&url, &args, None).await;
        let (_, stderr) = expect_exit(&out, 69);
        assert!(
            stderr.contains(&format!("cannot reach the Monaco server at {url}"))
                && stderr.contains("refused"),
            "{args:?}: {stderr}"
        );
    }
}

/// An HTTP server on loopback that answers one request per connection,
/// in turn with each `(status, JSON body)` of `answers`, and records each
/// request's head; the heads, once every answer was given.
async fn answer(
    answers: Vec<(&'static str, String)>,
) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut heads = Vec::new();
        for (status, body) in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before its request ended");
                head.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            heads.push(String::from_utf8_lossy(&head).to_ascii_lowercase());
        }
        heads
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_is_a_bearer_token_and_never_printed() {
    let refusal = r#"{"error":{"code":"auth.invalid_key","message":"The API key is not valid"}}"#;
    let (url, heads) = answer(vec![("401 Unauthorized", refusal.to_string())]).await;
    let mut c = tokio::process::Command::from(command(&url));
    let out = c
        .env("MONACO_API_KEY", "s3cret-key")
        .arg("languages")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run monaco");
    let head = &heads.await.unwrap()[0];
    assert!(head.starts_with("get /api/languages "), "{head}");
    assert!(
        head.contains("\r\nauthorization: bearer s3cret-key\r\n"),
        "{head}"
    );
    let (stdout, stderr) = expect_exit(&out, 65);
    assert_eq!(
        stderr, "monaco: The API key is not valid (auth.invalid_key)\n",
        "the server's message and code"
    );
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_terminal_token_of_the_submit_answer_goes_to_the_terminal() {
    let accepted = r#"{"id":"e1","status":"queued","message":"queued","terminalToken":"t/k+1"}"#;
    let refusal =
        r#"{"error":{"code":"auth.invalid_token","message":"The terminal token is not valid"}}"#;
    let (url, heads) = answer(vec![
        ("202 Accepted", accepted.to_string()),
        ("403 Forbidden", refusal.to_string()),
    ])
    .await;
    let dir = scratch();
    let file = source(&dir, "hello.py", "print('hi')\n");
    let mut c = tokio::process::Command::from(command(&url));
    let out = c
        .env("MONACO_API_KEY", "k3y")
        .args(["run", "-l", "python", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run monaco");
    let heads = heads.await.unwrap();
    assert!(heads[0].starts_with("post /api/submit "), "{}", heads[0]);
    assert!(
        heads[1].starts_with("get /api/ws/terminal/e1?token=t%2fk%2b1 "),
        "{}",
        heads[1]
    );
    assert!(
        heads[1].contains("\r\nupgrade: websocket\r\n"),
        "{}",
        heads[1]
    );
    assert!(
        heads[1].contains("\r\nauthorization: bearer k3y\r\n"),
        "{}",
        heads[1]
    );
    let (_, stderr) = expect_exit(&out, 65);
    assert!(
        stderr.contains("The terminal token is not valid (auth.invalid_token)"),
        "{stderr}"
    );
}
