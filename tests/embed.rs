//! The embedding example (`crates/monaco-executor/examples/embed.rs`) builds
//! and runs hello world from a plain `#[tokio::main]`.

mod support;

use std::time::Duration;

use tokio::process::Command;

#[tokio::test]
async fn embed_example_runs_hello_world() {
    if !support::docker_or_skip() {
        return;
    }
    // `cargo run` rather than a prebuilt binary, which may be stale; after
    // `cargo test --workspace` the example is built already and this is quick.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args("run --quiet -p monaco-executor --example embed".split(' '))
        .current_dir(support::workspace_root())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("the example finishes within 10 minutes")
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the example failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("Hello from an embedded Monaco!"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l == "verdict: Ok"),
        "stdout:\n{stdout}"
    );
    // The grader part: two cases pass, the third's expected output is wrong.
    for line in [
        "case 0: Ok",
        "case 1: Ok",
        "case 2: WrongAnswer",
        "graded: WrongAnswer",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in:\n{stdout}");
    }
}
