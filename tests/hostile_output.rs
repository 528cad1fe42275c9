//! Hostile programs against the output path: floods on either stream or
//! both, one endless line, exactly the cap and one byte more, bytes that are
//! not UTF-8, a closed stdout, a megabyte then `_exit`, and stdin the
//! program never reads. Output is capped at the source with exactly the cap
//! kept, and bytes come back exactly; after each case the invariants of
//! `support::hostile` hold.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::hostile::{assert_run, stream_bytes, Hostile, Program};
use tokio_tungstenite::tungstenite::Message;

/// The suite's output cap per stream (`Program::new`'s).
const CAP: usize = 64 * 1024;

/// Stopped for output: OLE, truncated, and `stream` holds exactly the cap,
/// a prefix of `pattern` repeated.
fn assert_flood(result: &Value, stream: &str, pattern: &[u8]) {
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "output_limit_exceeded", "{result}");
    assert_eq!(
        result["run"]["verdict"], "output_limit_exceeded",
        "{result}"
    );
    assert_eq!(result["truncated"], true, "{result}");
    assert_eq!(result["run"]["truncated"], true, "{result}");
    let bytes = stream_bytes(result, stream);
    assert_eq!(bytes.len(), CAP, "{stream} keeps exactly the cap");
    let expected: Vec<u8> = pattern.iter().copied().cycle().take(CAP).collect();
    assert!(
        bytes == expected,
        "{stream} is the flood's first {CAP} bytes"
    );
}

#[tokio::test]
async fn endless_stdout_in_every_language() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let line = b"flood line\n";
    let floods = [
        (
            "c",
            "#include <stdio.h>\nint main(void) { for (;;) fputs(\"flood line\\n\", stdout); }\n",
        ),
        (
            "cpp",
            "#include <iostream>\nint main() { for (;;) std::cout << \"flood line\\n\"; }\n",
        ),
        (
            "python",
            "import sys\nwhile True:\n    sys.stdout.write('flood line\\n' * 100)\n",
        ),
        (
            "javascript",
            "const s = 'flood line\\n'.repeat(100);\nfunction more() { while (process.stdout.write(s)) {} process.stdout.once('drain', more); }\nmore();\n",
        ),
        (
            "go",
            "package main\n\nimport \"os\"\n\nfunc main() {\n\tfor {\n\t\tos.Stdout.WriteString(\"flood line\\n\")\n\t}\n}\n",
        ),
        (
            "java",
            "public class Main {\n    public static void main(String[] args) {\n        while (true) System.out.print(\"flood line\\n\");\n    }\n}\n",
        ),
    ];
    for (language, code) in floods {
        let r = h
            .run(
                &format!("{language}: endless stdout"),
                &Program::new(language, code),
            )
            .await;
        assert_flood(&r, "stdout", line);
        assert_eq!(r["stderr"], "", "{r}");
    }
    h.stop().await;
}

#[tokio::test]
async fn endless_stderr_both_streams_and_one_endless_line() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let py = "import sys\nwhile True:\n    sys.stderr.write('e' * 4096)\n";
    let r = h
        .run("Python: endless stderr", &Program::new("python", py))
        .await;
    assert_flood(&r, "stderr", b"e");
    assert_eq!(r["stdout"], "", "{r}");

    let go = "package main\n\nimport \"os\"\n\nfunc main() {\n\tb := make([]byte, 4096)\n\tfor i := range b {\n\t\tb[i] = 'z'\n\t}\n\tfor {\n\t\tos.Stderr.Write(b)\n\t}\n}\n";
    let r = h.run("Go: endless stderr", &Program::new("go", go)).await;
    assert_flood(&r, "stderr", b"z");
    assert_eq!(r["stdout"], "", "{r}");

    // Both at once: whichever overflows first stops the program; each keeps
    // at most the cap, the overflowing one exactly the cap.
    let both = "import sys\nwhile True:\n    sys.stdout.write('o' * 99 + '\\n')\n    sys.stderr.write('e' * 99 + '\\n')\n";
    let r = h
        .run("Python: both streams", &Program::new("python", both))
        .await;
    assert_eq!(r["verdict"], "output_limit_exceeded", "{r}");
    assert_eq!(r["truncated"], true, "{r}");
    let out = stream_bytes(&r, "stdout");
    let err = stream_bytes(&r, "stderr");
    assert!(out.len() <= CAP && err.len() <= CAP, "{r}");
    assert!(out.len() == CAP || err.len() == CAP, "{r}");
    let o: Vec<u8> = [[b'o'; 99].as_slice(), b"\n"].concat();
    let e: Vec<u8> = [[b'e'; 99].as_slice(), b"\n"].concat();
    assert!(
        out == o
            .iter()
            .copied()
            .cycle()
            .take(out.len())
            .collect::<Vec<_>>()
    );
    assert!(
        err == e
            .iter()
            .copied()
            .cycle()
            .take(err.len())
            .collect::<Vec<_>>()
    );

    // One line without end, through a pipe and through a terminal.
    let js = "const s = 'y'.repeat(4096);\nfunction more() { while (process.stdout.write(s)) {} process.stdout.once('drain', more); }\nmore();\n";
    let r = h
        .run(
            "JavaScript: one endless line",
            &Program::new("javascript", js),
        )
        .await;
    assert_flood(&r, "stdout", b"y");

    let c = "#include <stdio.h>\nint main(void) { for (;;) putchar('y'); }\n";
    let r = h.run("C: one endless line", &Program::new("c", c)).await;
    assert_flood(&r, "stdout", b"y");
    h.stop().await;
}

#[tokio::test]
async fn exactly_the_cap_and_one_byte_more() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    for (language, template) in [
        (
            "c",
            "#include <stdio.h>\nint main(void) { for (int i = 0; i < N; i++) putchar('x'); return 0; }\n",
        ),
        ("python", "import sys\nsys.stdout.write('x' * N)\n"),
    ] {
        let at = template.replace('N', &CAP.to_string());
        let r = h
            .run(
                &format!("{language}: exactly the cap"),
                &Program::new(language, &at),
            )
            .await;
        assert_run(&r, "ok", Some(0), None);
        assert_eq!(r["truncated"], false, "{r}");
        assert_eq!(r["stdout"].as_str().unwrap(), "x".repeat(CAP));

        let over = template.replace('N', &(CAP + 1).to_string());
        let r = h
            .run(
                &format!("{language}: the cap + 1"),
                &Program::new(language, &over),
            )
            .await;
        assert_flood(&r, "stdout", b"x");
        // The program may have finished before the agent stopped it.
        let run = &r["run"];
        let exited = run["exitCode"] == 0 && run["signal"].is_null();
        let killed = run["exitCode"].is_null() && run["signal"] == 9;
        assert!(exited || killed, "{r}");
    }
    h.stop().await;
}

#[tokio::test]
async fn bytes_come_back_exactly() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let mut expected_out: Vec<u8> = (0..=255u8).collect();
    expected_out.extend_from_slice(b"\xff\xfe\x00end");
    let expected_err = b"\x00\xc3\x28".to_vec();

    // Through pipes (Python) and through a raw terminal (C).
    let py = "import sys\nsys.stdout.buffer.write(bytes(range(256)) + b'\\xff\\xfe\\x00end')\nsys.stderr.buffer.write(b'\\x00\\xc3\\x28')\n";
    let c = r#"
#include <unistd.h>

int main(void) {
    unsigned char b[256];
    for (int i = 0; i < 256; i++) b[i] = (unsigned char)i;
    write(1, b, 256);
    write(1, "\xff\xfe\0end", 6);
    write(2, "\0\xc3\x28", 3);
    return 0;
}
"#;
    for (language, code) in [("python", py), ("c", c)] {
        let r = h
            .run(
                &format!("{language}: invalid UTF-8 and NUL bytes"),
                &Program::new(language, code),
            )
            .await;
        assert_run(&r, "ok", Some(0), None);
        assert!(r["stdoutBase64"].is_string(), "not UTF-8: base64: {r}");
        assert!(r["stderrBase64"].is_string(), "not UTF-8: base64: {r}");
        assert!(stream_bytes(&r, "stdout") == expected_out, "{r}");
        assert!(stream_bytes(&r, "stderr") == expected_err, "{r}");
    }

    // Valid UTF-8 with NUL bytes: plain text, NULs kept, no base64.
    let nul = "import sys\nsys.stdout.write('a\\0b\\0\\u00e9\\n')\n";
    let r = h
        .run("Python: NUL bytes in UTF-8", &Program::new("python", nul))
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "a\u{0}b\u{0}\u{e9}\n", "{r}");
    assert!(r.get("stdoutBase64").is_none(), "{r}");
    h.stop().await;
}

#[tokio::test]
async fn closing_stdout_then_running_on() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let py = r#"
import os, sys, time
print("before", flush=True)
os.close(1)
sys.stderr.write("stdout closed\n")
time.sleep(0.5)
sys.stderr.write("done\n")
"#;
    let r = h
        .run(
            "Python closes stdout, goes on, exits",
            &Program::new("python", py),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "before\n", "{r}");
    assert_eq!(r["stderr"], "stdout closed\ndone\n", "{r}");

    let c = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    puts("before");
    fflush(stdout);
    close(1);
    close(2);
    volatile unsigned long n = 0;
    for (;;) n++;
}
"#;
    let r = h
        .run(
            "C closes stdout and stderr, spins",
            &Program::new("c", c).limit("cpu_ms", 1_000),
        )
        .await;
    assert_run(&r, "time_limit_exceeded", None, Some(9));
    assert_eq!(r["stdout"], "before\n", "{r}");
    h.stop().await;
}

/// 1 000 000 bytes: 125 000 numbered lines of 8 bytes.
fn megabyte() -> String {
    (0..125_000).map(|i| format!("{i:07}\n")).collect()
}

#[tokio::test]
async fn a_megabyte_then_exit() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let c = r#"
#include <stdio.h>
#include <unistd.h>

static char buf[1000000];

int main(void) {
    for (int i = 0; i < 125000; i++) snprintf(buf + 8 * i, 9, "%07d\n", i);
    for (size_t done = 0; done < sizeof buf;) {
        ssize_t n = write(1, buf + done, sizeof buf - done);
        if (n <= 0) return 1;
        done += (size_t)n;
    }
    _exit(0);
}
"#;
    let py = r#"
import os, sys
sys.stdout.write("".join(f"{i:07d}\n" for i in range(125000)))
sys.stdout.flush()
os._exit(0)
"#;
    let go = r#"package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	var b strings.Builder
	for i := 0; i < 125000; i++ {
		fmt.Fprintf(&b, "%07d\n", i)
	}
	os.Stdout.WriteString(b.String())
	os.Exit(0)
}
"#;
    let expected = megabyte();
    for (language, code) in [("c", c), ("python", py), ("go", go)] {
        let program = Program::new(language, code).limit("output_bytes", 2 * 1024 * 1024);
        let r = h
            .run(&format!("{language}: 1 MB then _exit"), &program)
            .await;
        assert_run(&r, "ok", Some(0), None);
        let out = r["stdout"].as_str().unwrap();
        assert_eq!(out.len(), expected.len(), "{language}: every byte arrives");
        assert!(out == expected, "{language}: the bytes in order");
    }
    h.stop().await;
}

/// Stdin the program never reads, within the request body: 1.9 MB of
/// `input` (the body limit is 2 MiB).
#[tokio::test]
async fn input_the_program_never_reads() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let code = "import time\ntime.sleep(1.5)\nprint('done')\n";
    let input = "x".repeat(1_900_000);
    let r = h
        .run(
            "1.9 MB of input never read",
            &Program::new("python", code).input(&input),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "done\n", "{r}");
    h.stop().await;
}

/// 100 MB of stdin the program never reads, beyond any request body:
/// streamed over the WebSocket while it runs. The sandbox has 64 MiB of
/// memory, less than the input, so input held anywhere inside the sandbox
/// would end the program with a memory limit it never reached itself. The
/// program sleeps until the wall limit, so its verdict is that, whatever
/// the input does: the execution must not hang, the verdict must not
/// change, and the stream must be held back (or refused) rather than
/// stored.
#[tokio::test]
async fn stdin_streamed_the_program_never_reads() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let wall_ms = 15_000;
    let code = "import time\nprint('sleeping', flush=True)\ntime.sleep(3600)\n";
    let program = Program::new("python", code)
        .interactive()
        .limit("wall_ms", wall_ms)
        .limit("memory_bytes", 64 * 1024 * 1024);
    let id = h.server.submit(program.body()).await;
    let url = h.server.ws_url(&format!("/api/ws/terminal/{id}"));
    let (ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("open the terminal");
    // 100 MB in 64 KiB binary frames, then EOF, once the program runs (input
    // sent before is held by the server up to a bound, then refused with an
    // error frame). A reader drains the server's frames meanwhile, so that
    // neither side waits on the other.
    let (mut sink, mut stream) = ws.split();
    let (running_tx, running_rx) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut running = Some(running_tx);
        let mut frames: Vec<Value> = Vec::new();
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(t) => {
                    let frame: Value = serde_json::from_str(&t).expect("JSON");
                    if frame["type"] == "output" {
                        if let Some(tx) = running.take() {
                            let _ = tx.send(());
                        }
                    }
                    frames.push(frame);
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        frames
    });
    tokio::time::timeout(support::EXECUTION, running_rx)
        .await
        .expect("the program starts")
        .expect("the program prints before the terminal ends");
    let chunk = vec![b'i'; 64 * 1024];
    let total: usize = 100 * 1000 * 1000;
    let mut sent = 0;
    let mut refused = false;
    while sent < total {
        let n = chunk.len().min(total - sent);
        let send = sink.send(Message::Binary(chunk[..n].to_vec()));
        match tokio::time::timeout(Duration::from_secs(60), send).await {
            Ok(Ok(())) => sent += n,
            // The execution ended and the server closed the terminal.
            Ok(Err(_)) => {
                refused = true;
                break;
            }
            Err(_) => panic!("sending stdin hung after {sent} bytes"),
        }
    }
    if !refused {
        let _ = sink
            .send(Message::Text(json!({"type": "eof"}).to_string()))
            .await;
    }
    let frames = tokio::time::timeout(support::EXECUTION, reader)
        .await
        .expect("the terminal ends")
        .expect("the reader task");
    let last = frames
        .iter()
        .rev()
        .find(|f| f["type"] == "status" && f["content"].get("verdict").is_some())
        .unwrap_or_else(|| panic!("no final status among {} frames", frames.len()));
    let r = h.server.wait_result(&id).await;
    assert_eq!(last["content"]["verdict"], r["verdict"], "{last}");
    let errors: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
    println!(
        "streamed {sent} bytes of stdin (refused: {refused}, error frames: {})",
        errors.len()
    );
    assert_run(&r, "time_limit_exceeded", None, Some(9));
    assert!(r["run"]["wallMs"].as_u64().unwrap() >= wall_ms, "{r}");
    assert_eq!(r["stdout"], "sleeping\n", "{r}");
    // Input is flow-controlled: the server takes about 2 MiB ahead of a
    // program that does not read, then the client's sends wait. Frames
    // still on their way when the run ended are refused, each with a clear
    // error, never silently dropped; nothing else is refused. The one other
    // error frame says the time limit ended it.
    let timeouts = errors
        .iter()
        .filter(|e| e["content"]["errorType"] == "timeout")
        .count();
    assert_eq!(timeouts, 1, "{errors:?}");
    assert!(
        errors.iter().all(|e| {
            e["content"]["errorType"] == "execution.finished"
                || e["content"]["errorType"] == "timeout"
        }),
        "{errors:?}"
    );
    assert!(sent < total, "backpressure held the client back");
    h.after(
        "100 MB of stdin over the WebSocket, never read",
        "python",
        &r,
    )
    .await;
    h.stop().await;
}
