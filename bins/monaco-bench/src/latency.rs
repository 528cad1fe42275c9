//! Section 1 and 2: hello world, one execution at a time, four ways.
//!
//! - **execute**: `POST /api/execute` up to the parsed result, as a client
//!   that waits for the whole answer sees it.
//! - **first byte**: `POST /api/submit` (no input: an interactive session,
//!   as an editor's "Run" makes it), then `WS /api/ws/terminal/{id}` at
//!   once; from the start of the submit request to the first `output`
//!   frame. What a person watching the terminal feels.
//! - **docker-run** and **native**: see [`crate::baseline`].
//!
//! The result of each `execute` also carries the compile and run wall time
//! the agent measured inside the container (printed apart too); `execute` minus that is what
//! Monaco adds around the program, and shows whether a gap to native is
//! Monaco's own or the toolchain's, running in the sandbox (one CPU, a
//! cgroup).
//!
//! The modes take turns, one execution each per round, so that load that
//! drifts during the run (other work on a shared machine) is shared evenly;
//! round 0 is a warm-up and is not counted. Before each timed execution the
//! bench waits, untimed, until the server's containers stop changing (see
//! [`crate::engine::Engine::wait_quiet`]): the pool has refilled after the
//! previous execution and its container is gone, as when a person presses
//! "Run" again a few seconds later, and a baseline does not pay for the
//! server's background work. The server runs with its defaults (warm pool
//! on).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use monaco_languages::Registry;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::{self, Baselines, Program};
use crate::engine::Engine;
use crate::server::{Launch, Server, REQUEST_TIMEOUT};
use crate::stats::Samples;

/// What one language measured in each mode.
pub struct LanguageLatency {
    pub program: Program,
    pub execute: Samples,
    /// Compile + run wall time the agent measured inside the container.
    pub steps: Samples,
    /// The compile step's wall time alone (languages with one).
    pub compile: Samples,
    /// The run step's wall time alone.
    pub run: Samples,
    /// Per execution, `execute` minus `steps`: what Monaco adds around the
    /// program (HTTP, queue, container hand-over, agent protocol, result).
    pub outside_steps: Samples,
    pub first_byte: Samples,
    /// `docker run` and native, in the same rounds.
    pub baselines: Baselines,
    /// Rounds whose wait for a quiet engine ran out (measured anyway).
    pub noisy_waits: usize,
}

/// Runs the section for `languages`, `iterations` timed rounds each.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    registry: &Registry,
    languages: &[String],
    iterations: usize,
) -> Result<Vec<LanguageLatency>, String> {
    let server = Server::start(launch, &[]).await?;
    let hellos = server.hello_worlds().await?;
    let mut results = Vec::new();
    for id in languages {
        let language = registry
            .get(id)
            .ok_or(format!("{id} is not in languages.toml"))?;
        let source = hellos
            .iter()
            .find(|(l, _)| l == language.id())
            .map(|(_, hello)| hello.clone())
            .ok_or(format!("GET /api/languages has no {id}"))?;
        let program = Program::new(language, source);
        eprintln!("latency: {id}, {iterations} rounds after a warm-up…");
        results
            .push(measure_language(&server, engine, program, iterations, &launch.instance).await);
    }
    server.stop().await;
    Ok(results)
}

async fn measure_language(
    server: &Server,
    engine: &Engine,
    program: Program,
    iterations: usize,
    label: &str,
) -> LanguageLatency {
    let mut row = LanguageLatency {
        execute: Samples::default(),
        steps: Samples::default(),
        compile: Samples::default(),
        run: Samples::default(),
        outside_steps: Samples::default(),
        first_byte: Samples::default(),
        baselines: Baselines::new(&program),
        noisy_waits: 0,
        program,
    };
    for round in 0..=iterations {
        let counted = round > 0;
        let mut noisy = usize::from(!engine.wait_quiet().await);
        let execute = execute_once(server, &row.program).await;
        noisy += usize::from(!engine.wait_quiet().await);
        let first_byte = first_byte_once(server, &row.program).await;
        noisy += usize::from(!engine.wait_quiet().await);
        row.baselines
            .measure_round(&row.program, label, counted)
            .await;
        if !counted {
            continue;
        }
        row.noisy_waits += noisy;
        match execute {
            Ok((total, (compile, run))) => {
                let steps = compile.unwrap_or_default() + run;
                row.execute.record(Ok(total));
                row.steps.record(Ok(steps));
                if let Some(compile) = compile {
                    row.compile.record(Ok(compile));
                }
                row.run.record(Ok(run));
                row.outside_steps.record(Ok(total.saturating_sub(steps)));
            }
            Err(e) => row.execute.record(Err(e)),
        }
        row.first_byte.record(first_byte);
    }
    row
}

/// A step's wall time from the result: `wallUs` (a server before it had
/// the field: `wallMs`, which is rounded down and so makes the time outside
/// the steps look up to a millisecond longer per step).
fn step_wall(step: &Value) -> Option<Duration> {
    step["wallUs"]
        .as_u64()
        .map(Duration::from_micros)
        .or_else(|| step["wallMs"].as_u64().map(Duration::from_millis))
}

/// The compile step's wall time (if there is one) and the run step's.
type StepTimes = (Option<Duration>, Duration);

/// One `POST /api/execute`: (request start → result parsed, compile and run
/// wall time the agent reported).
async fn execute_once(server: &Server, program: &Program) -> Result<(Duration, StepTimes), String> {
    let body = json!({ "language": program.id, "code": program.source });
    let started = Instant::now();
    let result = server
        .post_json("/api/execute", &body, StatusCode::OK)
        .await?;
    let elapsed = started.elapsed();
    check_result(&result)?;
    let compile = step_wall(&result["compile"]);
    let run = step_wall(&result["run"]).ok_or("no run step wall time in the result")?;
    Ok((elapsed, (compile, run)))
}

/// Verdict `ok` and exactly hello world on stdout.
pub fn check_result(result: &Value) -> Result<(), String> {
    if result["verdict"] != "ok" {
        return Err(format!(
            "verdict {} (status {}): {}",
            result["verdict"], result["status"], result["output"]
        ));
    }
    baseline::check_output(result["stdout"].as_str().unwrap_or_default().as_bytes())
}

/// One submission watched over the WebSocket: request start → the first
/// `output` frame. Reads on to the final status, and checks it and the
/// output, so that a failed execution is not counted as fast.
pub async fn first_byte_once(server: &Server, program: &Program) -> Result<Duration, String> {
    let body = json!({ "language": program.id, "code": program.source });
    let started = Instant::now();
    let id = server
        .post_json("/api/submit", &body, StatusCode::ACCEPTED)
        .await?["id"]
        .as_str()
        .ok_or("POST /api/submit: no id")?
        .to_string();
    let session = async {
        let url = server.ws_url(&format!("/api/ws/terminal/{id}"));
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .map_err(|e| format!("WebSocket {url}: {e}"))?;
        let mut first = None;
        let mut stdout = String::new();
        while let Some(message) = ws.next().await {
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) => break,
                Ok(_) => continue,
                Err(e) => return Err(format!("WebSocket {url}: {e}")),
            };
            let frame: Value = serde_json::from_str(&text)
                .map_err(|e| format!("a frame that is not JSON ({e})"))?;
            match frame["type"].as_str() {
                Some("output") => {
                    first.get_or_insert_with(|| started.elapsed());
                    let content = &frame["content"];
                    if content["step"] == "run" && content["isError"] == false {
                        stdout.push_str(content["text"].as_str().unwrap_or_default());
                    }
                }
                Some("status") if frame["content"].get("verdict").is_some() => {
                    let verdict = &frame["content"]["verdict"];
                    if verdict != "ok" {
                        return Err(format!("verdict {verdict}: {}", frame["content"]));
                    }
                    baseline::check_output(stdout.as_bytes())?;
                    let _ = ws.close(None).await;
                    return first.ok_or("no output frame before the final status".to_string());
                }
                Some("error") => return Err(format!("error frame {}", frame["content"])),
                _ => {}
            }
        }
        Err("the session ended before the final status".to_string())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, session)
        .await
        .map_err(|_| format!("execution {id} took longer than {REQUEST_TIMEOUT:?}"))?
}
