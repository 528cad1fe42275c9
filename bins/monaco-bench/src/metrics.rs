//! The opt-in `metrics` section: what Prometheus metrics cost.
//!
//! 1. `GET /metrics` scrape time (p50/p99) with no results held and with
//!    10,000 held, beside `GET /api/health` in the same rounds (both ask
//!    the Docker engine whether it answers, so health is the floor a
//!    scrape cannot go under). The 10,000 results are executions queued
//!    behind one long-running program and cancelled: finished results the
//!    server keeps like any other, without running 10,000 containers.
//! 2. Python hello world through `POST /api/execute` (p50/p99) on a server
//!    with metrics on and one with `MONACO_METRICS=false`, taking turns in
//!    each round, so that drifting load is shared evenly.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::latency::check_result;
use crate::server::{cancel, cancel_all, wait_for, Launch, Server};
use crate::stats::Samples;

/// Results held for the second scrape reading.
pub const HELD: usize = 10_000;
const BATCH: usize = 500;
const SCRAPES: usize = 200;
const IN_FLIGHT: usize = 16;
const WAIT_BOUND: Duration = Duration::from_secs(120);

/// The section's figures.
pub struct MetricsCost {
    pub scrape_empty: Samples,
    pub health_empty: Samples,
    pub scrape_held: Samples,
    pub health_held: Samples,
    /// Results held at the second reading (`HELD` unless some were refused).
    pub held: usize,
    /// Bytes of the exposition at the second reading.
    pub scrape_bytes: usize,
    pub execute_on: Samples,
    pub execute_off: Samples,
}

pub async fn measure(launch: &Launch, iterations: usize) -> Result<MetricsCost, String> {
    eprintln!("metrics: scrape time, then {HELD} results held…");
    let capacity = (HELD + 10).to_string();
    let batch = BATCH.to_string();
    let server = Server::start(
        launch,
        &[
            ("CONCURRENT_EXECUTIONS", "1"),
            ("QUEUE_CAPACITY", &capacity),
            ("MONACO_MAX_RESULTS", &capacity),
            ("MONACO_MAX_BATCH", &batch),
            ("MONACO_POOL_SIZE", "0"),
        ],
    )
    .await?;
    let scrapes = async {
        let (scrape_empty, health_empty) = scrape_rounds(&server).await;
        let stored = hold_results(&server, HELD).await?;
        let (scrape_held, health_held) = scrape_rounds(&server).await;
        let text = scrape(&server).await?;
        let counted = cancelled_count(&text);
        if counted < stored as f64 {
            return Err(format!(
                "/metrics counts {counted} cancelled executions, {stored} were held"
            ));
        }
        Ok((
            scrape_empty,
            health_empty,
            scrape_held,
            health_held,
            stored,
            text.len(),
        ))
    }
    .await;
    server.stop().await;
    let (scrape_empty, health_empty, scrape_held, health_held, held, scrape_bytes) = scrapes?;

    eprintln!("metrics: python hello, metrics on vs off, {iterations} rounds after a warm-up…");
    let on = Server::start(launch, &[("MONACO_METRICS", "true")]).await?;
    let off = match Server::start(launch, &[("MONACO_METRICS", "false")]).await {
        Ok(s) => s,
        Err(e) => {
            on.stop().await;
            return Err(e);
        }
    };
    let (mut execute_on, mut execute_off) = (Samples::default(), Samples::default());
    for round in 0..=iterations {
        // Alternate which goes first.
        let (first, second) = if round % 2 == 0 {
            (&on, &off)
        } else {
            (&off, &on)
        };
        let a = hello(first).await;
        let b = hello(second).await;
        if round == 0 {
            continue;
        }
        let (on_time, off_time) = if round % 2 == 0 { (a, b) } else { (b, a) };
        execute_on.record(on_time);
        execute_off.record(off_time);
    }
    on.stop().await;
    off.stop().await;
    Ok(MetricsCost {
        scrape_empty,
        health_empty,
        scrape_held,
        health_held,
        held,
        scrape_bytes,
        execute_on,
        execute_off,
    })
}

/// `SCRAPES` rounds of one `/metrics` and one `/api/health` each.
async fn scrape_rounds(server: &Server) -> (Samples, Samples) {
    let (mut scrapes, mut healths) = (Samples::default(), Samples::default());
    for _ in 0..SCRAPES {
        scrapes.record(timed_get(server, "/metrics").await);
        healths.record(timed_get(server, "/api/health").await);
    }
    (scrapes, healths)
}

async fn timed_get(server: &Server, path: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let response = server
        .http()
        .get(server.url(path))
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("GET {path}: {}", response.status()));
    }
    response
        .bytes()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    Ok(started.elapsed())
}

async fn scrape(server: &Server) -> Result<String, String> {
    let response = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .map_err(|e| format!("GET /metrics: {e}"))?;
    response
        .text()
        .await
        .map_err(|e| format!("GET /metrics: {e}"))
}

/// `monaco_executions_total{…,verdict="cancelled"}` summed over languages.
fn cancelled_count(text: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with("monaco_executions_total{") && l.contains("verdict=\"cancelled\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Queues `count` executions behind one long-running program, cancels
/// them all, then the long one: `count` + 1 finished results held.
async fn hold_results(server: &Server, count: usize) -> Result<usize, String> {
    let long = json!({
        "language": "python",
        "code": "import time\ntime.sleep(600)\n",
        "interactive": false,
        "timeout": 300,
    });
    let long_id = submit(server, "/api/submit", &long).await?["id"]
        .as_str()
        .ok_or("no id")?
        .to_string();
    wait_for(server, WAIT_BOUND, "the long execution to run", |h| {
        h["running"] == 1
    })
    .await?;
    let quick = json!({"language": "python", "code": "print(1)", "interactive": false});
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let n = BATCH.min(count - ids.len());
        let body = json!({ "submissions": vec![quick.clone(); n] });
        let queued = submit(server, "/api/batch", &body).await?;
        for entry in queued["submissions"].as_array().ok_or("no submissions")? {
            ids.push(entry["id"].as_str().ok_or("no id")?.to_string());
        }
    }
    cancel_all(server, &ids, IN_FLIGHT).await?;
    cancel(server, &long_id).await?;
    wait_for(server, WAIT_BOUND, "the queue to empty", |h| {
        h["running"] == 0 && h["queueDepth"] == 0
    })
    .await?;
    Ok(ids.len() + 1)
}

async fn submit(server: &Server, path: &str, body: &Value) -> Result<Value, String> {
    server.post_json(path, body, StatusCode::ACCEPTED).await
}

/// One python hello world through `/api/execute`, checked.
async fn hello(server: &Server) -> Result<Duration, String> {
    let body = json!({"language": "python", "code": "print(\"Hello, World!\")\n"});
    let started = Instant::now();
    let result = server
        .post_json("/api/execute", &body, StatusCode::OK)
        .await?;
    let elapsed = started.elapsed();
    check_result(&result)?;
    Ok(elapsed)
}

fn cell(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

fn row(what: &str, s: &Samples) {
    let failed = if s.failures.is_empty() {
        String::new()
    } else {
        format!(
            "  ({} failed: {})",
            s.failures.len(),
            s.failures.first().map(String::as_str).unwrap_or_default()
        )
    };
    println!(
        "  {what:<44} {:>9} {:>9}  n={}{failed}",
        cell(s.p50()),
        cell(s.p99()),
        s.times.len()
    );
}

pub fn print(m: &MetricsCost) {
    println!();
    println!("== Metrics ==");
    println!("  {:<44} {:>9} {:>9}", "ms", "p50", "p99");
    row("GET /metrics, no results held", &m.scrape_empty);
    row(
        "GET /api/health (engine ping), same rounds",
        &m.health_empty,
    );
    row(
        &format!("GET /metrics, {} results held", m.held),
        &m.scrape_held,
    );
    row("GET /api/health (engine ping), same rounds", &m.health_held);
    println!("  exposition size: {} bytes", m.scrape_bytes);
    row("python hello /api/execute, metrics on", &m.execute_on);
    row("python hello /api/execute, metrics off", &m.execute_off);
    if let (Some(on), Some(off)) = (m.execute_on.p50(), m.execute_off.p50()) {
        println!("  metrics on − off, p50: {:+.2} ms", on - off);
    }
}
