//! Runs a Python hello world through Monaco from a plain tokio program,
//! then grades a C program against three test cases (compiled once):
//! `cargo run -p monaco-executor --example embed`.

use monaco_executor::{DockerConfig, ExecutionRequest, Executor, TestCase};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let languages = concat!(env!("CARGO_MANIFEST_DIR"), "/../../languages.toml");
    // The library reads no environment; an application passes what it reads.
    let mut docker = DockerConfig::default();
    if let Some(agent) = std::env::var_os("MONACO_AGENT") {
        docker.agent_path = agent.into();
    }
    let executor = Executor::builder()
        .languages_file(languages)
        .docker(docker)
        .workers(1)
        // A one-shot program has no strays of its own to clean up, and must
        // not remove those of a server sharing the engine under the same
        // instance name.
        .reap_strays(false)
        .build()
        .await?;
    let result = executor
        .run(ExecutionRequest {
            language: "python".into(),
            code: "print('Hello from an embedded Monaco!')".into(),
            ..Default::default()
        })
        .await?;
    let outcome = result.outcome.expect("a finished execution has an outcome");
    print!("{}", String::from_utf8_lossy(&result.stdout));
    println!("verdict: {:?}", outcome.verdict);

    // A grader: the program is compiled once, then each case runs in turn
    // in the same sandbox, nothing carried over between them.
    let case = |input: &str, expected: &str| TestCase {
        stdin: input.into(),
        expected_output: Some(expected.into()),
        ..Default::default()
    };
    let graded = executor
        .run(ExecutionRequest {
            language: "c".into(),
            code: r#"#include <stdio.h>
int main(void) { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\n", a + b); }"#
                .into(),
            tests: vec![case("1 2", "3"), case("20 22", "42"), case("2 2", "5")],
            ..Default::default()
        })
        .await?;
    let outcome = graded.outcome.expect("a finished execution has an outcome");
    for case in &outcome.tests {
        let verdict = case.report.verdict.expect("a case that ran has a verdict");
        println!("case {}: {verdict:?}", case.index);
    }
    println!("graded: {:?}", outcome.verdict);
    executor.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
