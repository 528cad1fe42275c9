//! A job's life on real Docker: input crosses byte for byte, a job can be
//! cancelled or abandoned at any moment, and its container goes every time.

mod support;

use monaco_core::{Status, Verdict};
use monaco_sandbox::InputCommand;
use support::{docker_or_skip, Program};

/// Every byte value, initial and streamed, reaches the program unchanged,
/// and the end of input arrives after the last of them.
async fn stdin_is_byte_exact(language: &'static str, code: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let initial = b"\x00\xffinitial\r\n".to_vec();
    let streamed: Vec<u8> = (0..=255u8).collect();
    let program = Program::new(language, code)
        .stdin(initial.clone())
        .interactive();
    let s = h.session(&program).await;
    s.send(&streamed).await;
    s.command(InputCommand::Close).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let expected: String = initial
        .iter()
        .chain(&streamed)
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.stdout_text(), format!("{expected}\n"));
    h.finish().await;
}

#[tokio::test]
async fn stdin_is_byte_exact_pipe() {
    let code = "import sys\nprint(sys.stdin.buffer.read().hex())\n";
    stdin_is_byte_exact("python", code).await
}

/// C reads from a terminal: control characters (^C, ^D, ^Z, DEL, CR) are
/// data, not signals or line editing; only the close is an end of input.
#[tokio::test]
async fn stdin_is_byte_exact_terminal() {
    let code = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    unsigned char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++) printf("%02x", buf[i]);
    printf("\n");
    return n < 0;
}
"#;
    stdin_is_byte_exact("c", code).await
}

const SLEEPER: &str = "import time\nprint('started', flush=True)\ntime.sleep(60)\n";

/// A kill request stops a running program: verdict `cancelled`, container
/// gone.
#[tokio::test]
async fn kill_cancels_a_running_job() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut s = h.session(&Program::new("python", SLEEPER)).await;
    s.stdout_contains("started\n").await;
    s.command(InputCommand::Kill).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Cancelled, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    h.finish().await;
}

/// A kill request during the compile step stops it too, and nothing runs.
#[tokio::test]
async fn kill_during_compile() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let lang = support::registry().get("java").unwrap();
    let s = h.session(&Program::new("java", lang.hello())).await;
    s.command(InputCommand::Kill).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Cancelled, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    h.finish().await;
}

/// Dropping the handle of a running job (a client that went away) stops
/// it and removes its container.
#[tokio::test]
async fn dropping_the_handle_removes_the_container() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut s = h.session(&Program::new("python", SLEEPER)).await;
    s.stdout_contains("started\n").await;
    let id = s.id;
    assert_eq!(h.containers_of(id).await.len(), 1);
    drop(s);
    h.sandbox.settle().await;
    assert!(h.containers_of(id).await.is_empty());
    h.finish().await;
}

/// Several jobs at once do not mix their input or output.
#[tokio::test]
async fn concurrent_jobs_stay_apart() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "import sys\nprint(sys.stdin.read().upper(), end='')\n";
    let programs: Vec<Program> = (0..4)
        .map(|i| Program::new("python", code).stdin(format!("job {i}\n")))
        .collect();
    let results = futures_util::future::join_all(programs.iter().map(|p| h.run(p))).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
        assert_eq!(r.stdout_text(), format!("JOB {i}\n"));
    }
    h.finish().await;
}
