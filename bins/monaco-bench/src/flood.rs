//! Section `flood` (opt-in): output as fast as the program writes it.
//!
//! A Python `print(i)` loop writes short lines past the run step's 1 MiB
//! output cap, watched over `WS /api/ws/terminal/{id}` as a browser
//! watches it. Per execution:
//!
//! - **delivered**: from the `running` system frame (the run step starts)
//!   to the last `output` frame at the client;
//! - **lag**: delivered minus the run step's wall time as the agent
//!   measured it: how long after the program was over the client was still
//!   receiving its output;
//! - **frames**: `output` frames the client received, and that the bytes
//!   are exactly the first 1 MiB of what the program printed;
//! - **first byte**: hello world's submit → first `output` frame, in the
//!   same rounds (coalescing must not delay it).
//!
//! With `MONACO_BENCH_BASELINE_AGENT` naming an agent binary built from an
//! earlier revision (one frame per chunk read), a second server runs with
//! it and the two take turns, one execution each per round, so that both
//! see the same load.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::Program;
use crate::engine::Engine;
use crate::latency;
use crate::server::{Launch, Server, REQUEST_TIMEOUT};
use crate::stats::Samples;
use crate::table::Table;
use crate::tenancy;

/// The run step's default output cap, which the flood hits.
const CAP: usize = 1024 * 1024;
/// The flood: `print(i)` for ever more numbers, one write per line
/// (Python runs unbuffered in Monaco), far past the cap.
const FLOOD: &str = "for i in range(10 ** 7):\n    print(i)\n";

/// What one agent measured.
pub struct FloodRow {
    pub agent: String,
    pub delivered: Samples,
    pub lag: Samples,
    /// Output frames per execution.
    pub frames: Vec<usize>,
    pub first_byte: Samples,
}

impl FloodRow {
    fn new(agent: &str) -> FloodRow {
        FloodRow {
            agent: agent.to_string(),
            delivered: Samples::default(),
            lag: Samples::default(),
            frames: Vec::new(),
            first_byte: Samples::default(),
        }
    }

    /// The median frame count.
    pub fn frames_p50(&self) -> Option<usize> {
        let mut f = self.frames.clone();
        f.sort();
        f.get(f.len().saturating_sub(1) / 2).copied()
    }
}

/// Runs the section: the current agent, and the baseline agent if named.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    registry: &monaco_languages::Registry,
    iterations: usize,
) -> Result<Vec<FloodRow>, String> {
    let python = registry
        .get("python")
        .ok_or("languages.toml has no python")?;
    let hello = Program::new(python, python.hello().to_string());
    // Python-only servers: two servers warming every language would
    // compete with the measurement.
    let dir = std::env::temp_dir().join(format!("monaco-bench-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = match tenancy::python_only(&launch.root, &dir) {
        Ok(languages) => {
            let languages = languages.display().to_string();
            measure_with(launch, engine, &hello, &languages, iterations).await
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_with(
    launch: &Launch,
    engine: &Engine,
    hello: &Program,
    languages: &str,
    iterations: usize,
) -> Result<Vec<FloodRow>, String> {
    let first = Server::start(launch, &[("MONACO_LANGUAGES", languages)]).await?;
    let mut servers = vec![("this build".to_string(), first)];
    if let Ok(path) = std::env::var("MONACO_BENCH_BASELINE_AGENT") {
        let settings = [
            ("MONACO_LANGUAGES", languages),
            ("MONACO_AGENT", path.as_str()),
            // The first server's warm containers share the instance name.
            ("MONACO_REAP_STRAYS", "false"),
        ];
        let server = Server::start(launch, &settings).await?;
        servers.push(("baseline agent".to_string(), server));
    }
    let mut rows: Vec<FloodRow> = servers
        .iter()
        .map(|(name, _)| FloodRow::new(name))
        .collect();
    for round in 0..=iterations {
        for ((_, server), row) in servers.iter().zip(rows.iter_mut()) {
            engine.wait_quiet().await;
            let flood = flood_once(server).await;
            engine.wait_quiet().await;
            let first = latency::first_byte_once(server, hello).await;
            if round == 0 {
                continue;
            }
            match flood {
                Ok((delivered, lag, frames)) => {
                    row.delivered.record(Ok(delivered));
                    row.lag.record(Ok(lag));
                    row.frames.push(frames);
                }
                Err(e) => row.delivered.record(Err(e)),
            }
            row.first_byte.record(first);
        }
    }
    for (_, server) in servers {
        server.stop().await;
    }
    Ok(rows)
}

/// One flood watched over the WebSocket: (running → last output frame,
/// that minus the run step's wall time, output frames).
async fn flood_once(server: &Server) -> Result<(Duration, Duration, usize), String> {
    let body = json!({ "language": "python", "code": FLOOD });
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
        let mut running = None;
        let mut last = None;
        let mut frames = 0usize;
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
                Some("system") if frame["content"] == "running" => {
                    running = Some(Instant::now());
                }
                Some("output") => {
                    frames += 1;
                    last = Some(Instant::now());
                    stdout.push_str(frame["content"]["text"].as_str().unwrap_or_default());
                }
                Some("status") if frame["content"].get("verdict").is_some() => {
                    let content = &frame["content"];
                    if content["verdict"] != "output_limit_exceeded" {
                        return Err(format!("verdict {}: {content}", content["verdict"]));
                    }
                    check_flood(&stdout)?;
                    let _ = ws.close(None).await;
                    let (running, last) = running
                        .zip(last)
                        .ok_or("no running frame or no output before the final status")?;
                    let delivered = last.saturating_duration_since(running);
                    let wall = server
                        .get_json(&format!("/api/result/{id}"))
                        .await
                        .ok()
                        .and_then(|s| s["run"]["wallMs"].as_u64())
                        .or_else(|| content["run"]["wallMs"].as_u64())
                        .ok_or("no run step wall time in the result")?;
                    let lag = delivered.saturating_sub(Duration::from_millis(wall));
                    return Ok((delivered, lag, frames));
                }
                // The cap the flood is meant to hit.
                Some("error") if frame["content"]["errorType"] == "output_limit" => {}
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

/// Exactly the first [`CAP`] bytes of the lines the program printed.
fn check_flood(stdout: &str) -> Result<(), String> {
    if stdout.len() != CAP {
        return Err(format!("{} bytes delivered, not {CAP}", stdout.len()));
    }
    let mut want = String::with_capacity(CAP + 16);
    let mut i = 0u64;
    while want.len() < CAP {
        want.push_str(&i.to_string());
        want.push('\n');
        i += 1;
    }
    if stdout.as_bytes() != &want.as_bytes()[..CAP] {
        return Err("the delivered bytes are not the lines printed, in order".into());
    }
    Ok(())
}

/// Prints the section's table.
pub fn print(rows: &[FloodRow]) {
    println!();
    println!("## Output flood: python print loop to the 1 MiB cap, over the WebSocket");
    let mut table = Table::new(&[
        "agent",
        "delivered p50 ms",
        "lag after the program p50 ms",
        "frames p50",
        "hello first byte p50 ms",
        "failures",
    ]);
    for row in rows {
        let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        table.push(vec![
            row.agent.clone(),
            fmt(row.delivered.p50()),
            fmt(row.lag.p50()),
            row.frames_p50().map_or("-".into(), |f| f.to_string()),
            fmt(row.first_byte.p50()),
            (row.delivered.failures.len() + row.first_byte.failures.len()).to_string(),
        ]);
    }
    table.print();
    for row in rows {
        for failure in row
            .delivered
            .failures
            .iter()
            .chain(&row.first_byte.failures)
        {
            println!("  {}: {failure}", row.agent);
        }
    }
}
