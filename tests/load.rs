//! Load: a burst of 1,000 submissions against a queue of 100 (every one
//! gets `202` and then a final result, or `503 queue.full` with
//! `Retry-After`; none hangs, none is lost), and 200 WebSockets open at once
//! on running executions, each of which gets the whole output.
//!
//! The two cases take turns (a lock), so that neither's figures include the
//! other's load when the harness runs tests in parallel.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{request, Server, ServerConfig};

/// One load case at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// No single request may take longer than this: a slower one has hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long every accepted execution of the burst gets to finish.
const DRAIN: Duration = Duration::from_secs(300);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(128)
        .build()
        .expect("an HTTP client")
}

/// Resident memory of a process, MiB.
fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// What one submission of the burst got.
enum Answer {
    Accepted(String),
    Full,
}

#[tokio::test]
async fn burst_of_1000_against_a_queue_of_100() {
    if !support::docker_or_skip() {
        return;
    }
    const BURST: usize = 1000;
    const QUEUE: usize = 100;
    const WORKERS: usize = 4;
    const IN_FLIGHT: usize = 64;
    let _turn = TURN.lock().await;
    let server = Server::start_with(
        ServerConfig::default()
            .env("QUEUE_CAPACITY", QUEUE)
            .env("CONCURRENT_EXECUTIONS", WORKERS)
            .env(
                "MONACO_LANGUAGES",
                support::languages_subset(&["python"]).display(),
            ),
    )
    .await;
    let http = client();
    let body = request("python", "print('Hello, World!')\n", Some(""));

    let began = Instant::now();
    let answers: Vec<(Answer, Duration)> = stream::iter(0..BURST)
        .map(|i| {
            let http = http.clone();
            let url = server.url("/api/submit");
            let body = body.clone();
            async move {
                let sent = Instant::now();
                let r = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("submission {i} got no answer: {e}"));
                let status = r.status();
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = r
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("submission {i}: {e}"));
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("submission {i}: not JSON ({e}): {text}"));
                let answer = match status {
                    StatusCode::ACCEPTED => {
                        assert_eq!(v["status"], "queued", "{v}");
                        Answer::Accepted(v["id"].as_str().expect("an id").to_string())
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        support::check_error_body(&v, "queue.full");
                        assert!(
                            retry_after
                                .as_deref()
                                .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)),
                            "a Retry-After in seconds: {retry_after:?}"
                        );
                        Answer::Full
                    }
                    other => panic!("submission {i}: unexpected {other}: {v}"),
                };
                (answer, sent.elapsed())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let burst_took = began.elapsed();
    let rss_after_burst = rss_mib(server.pid());

    let mut latencies: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let accepted: Vec<String> = answers
        .iter()
        .filter_map(|(a, _)| match a {
            Answer::Accepted(id) => Some(id.clone()),
            Answer::Full => None,
        })
        .collect();
    let rejected = answers.len() - accepted.len();
    for id in &accepted {
        server.track(id);
    }
    println!(
        "burst of {BURST} ({IN_FLIGHT} in flight) in {burst_took:?}: {} accepted (202), \
         {rejected} refused (503 queue.full); submit latency p50 {:?}, p99 {:?}, max {:?}; \
         server VmRSS {rss_after_burst} MiB",
        accepted.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
    );
    assert_eq!(accepted.len() + rejected, BURST);
    // At least a full queue was taken; and the queue did refuse some.
    assert!(
        accepted.len() >= QUEUE,
        "only {} of {BURST} accepted",
        accepted.len()
    );
    assert!(rejected > 0, "a queue of {QUEUE} refused none of {BURST}");

    // Every accepted one reaches a final status: poll them all.
    let mut pending: HashMap<String, ()> = accepted.iter().map(|id| (id.clone(), ())).collect();
    let deadline = Instant::now() + DRAIN;
    while !pending.is_empty() {
        let ids: Vec<String> = pending.keys().cloned().collect();
        let statuses: Vec<(String, String)> = stream::iter(ids)
            .map(|id| {
                let http = http.clone();
                let url = server.url(&format!("/api/status/{id}"));
                async move {
                    let r = http
                        .get(&url)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("GET /api/status/{id}: {e}"));
                    assert_eq!(r.status(), StatusCode::OK, "{id} is known");
                    let v: Value = r.json().await.expect("JSON status");
                    (id, v["status"].as_str().unwrap_or_default().to_string())
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (id, status) in statuses {
            if support::is_final(&status) {
                pending.remove(&id);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} accepted executions still not final after {DRAIN:?}",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained = began.elapsed();

    let mut verdicts: HashMap<String, usize> = HashMap::new();
    for id in &accepted {
        let result = server.get_json(&format!("/api/result/{id}")).await;
        let key = format!(
            "{}/{}",
            result["status"].as_str().unwrap_or("?"),
            result["verdict"].as_str().unwrap_or("?")
        );
        *verdicts.entry(key).or_default() += 1;
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(result["verdict"], "ok", "{result}");
        assert_eq!(result["stdout"], "Hello, World!\n", "{result}");
    }
    println!(
        "all {} accepted executions final {drained:?} after the burst began \
         ({:.1} executions/s): {verdicts:?}; server VmRSS {} MiB",
        accepted.len(),
        accepted.len() as f64 / drained.as_secs_f64(),
        rss_mib(server.pid())
    );
    server.stop().await;
}

#[tokio::test]
async fn two_hundred_websockets_on_running_executions() {
    if !support::docker_or_skip() {
        return;
    }
    const EXECUTIONS: usize = 20;
    const PER_EXECUTION: usize = 10;
    const LINES: usize = 50;
    let _turn = TURN.lock().await;
    let server = Server::start_with(
        ServerConfig::default()
            .env("CONCURRENT_EXECUTIONS", EXECUTIONS)
            .env(
                "MONACO_LANGUAGES",
                support::languages_subset(&["python"]).display(),
            ),
    )
    .await;
    // Waits for a line, then prints LINES numbered lines, a little apart.
    let code = format!(
        "import sys, time\nsys.stdin.readline()\nfor i in range({LINES}):\n    \
         print(f'line {{i:02d}} of execution', flush=True)\n    time.sleep(0.02)\n"
    );
    let expected: String = (0..LINES)
        .map(|i| format!("line {i:02} of execution\n"))
        .collect();

    let began = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..EXECUTIONS {
        // No input: stdin stays open for the terminals.
        ids.push(server.submit(&request("python", &code, None)).await);
    }
    let mut terminals = join_all(
        ids.iter()
            .flat_map(|id| std::iter::repeat_n(id, PER_EXECUTION))
            .map(|id| server.terminal(id)),
    )
    .await;
    let connected = began.elapsed();
    // Every program is running (and waiting for its line) with all 200
    // sockets open on them.
    join_all(terminals.iter_mut().map(|t| {
        t.until("the run step", |v| {
            v["type"] == "system" && v["content"] == "running"
        })
    }))
    .await;
    let all_running = began.elapsed();
    for id in &ids {
        assert_eq!(server.status(id).await, "running");
    }
    println!(
        "{} WebSockets open on {EXECUTIONS} executions {connected:?} after the first \
         submission; all running {all_running:?}; server VmRSS {} MiB",
        terminals.len(),
        rss_mib(server.pid())
    );
    assert_eq!(terminals.len(), EXECUTIONS * PER_EXECUTION);

    // The first terminal of each execution sends the line that starts it.
    for t in terminals.iter_mut().step_by(PER_EXECUTION) {
        t.send(json!({"type": "input", "content": "go"})).await;
    }
    let transcripts = join_all(terminals.into_iter().map(|t| t.finish())).await;
    let finished = began.elapsed();
    let mut frames = 0;
    for (n, transcript) in transcripts.iter().enumerate() {
        let stdout = transcript.stdout();
        assert_eq!(
            stdout,
            expected,
            "socket {n} (execution {}) got all the output",
            ids[n / PER_EXECUTION]
        );
        let status = transcript.final_status();
        assert_eq!(status["status"], "completed", "socket {n}: {status}");
        assert_eq!(status["verdict"], "ok", "socket {n}: {status}");
        assert_eq!(transcript.close_code(), Some(1000), "socket {n}");
        frames += transcript.frames.len();
    }
    println!(
        "all {} sockets got all {LINES} lines, the final status and close 1000 \
         ({frames} frames in all); done {finished:?} after the first submission",
        transcripts.len()
    );
    server.stop().await;
}
