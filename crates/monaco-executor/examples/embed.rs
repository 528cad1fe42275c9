//! Runs a Python hello world through Monaco from a plain tokio program:
//! `cargo run -p monaco-executor --example embed`.

use monaco_executor::{ExecutionRequest, Executor};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let languages = concat!(env!("CARGO_MANIFEST_DIR"), "/../../languages.toml");
    let executor = Executor::builder()
        .languages_file(languages)
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
    executor.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
