//! Section 4: the server's resident memory (`VmRSS` of
//! `/proc/<pid>/status`), in three states, each on a fresh server:
//!
//! - **idle, pool off** (`MONACO_POOL_SIZE=0`): one second after the server
//!   first answers `/api/health`. What the process itself costs.
//! - **idle, pool full** (the defaults): once the number of this server's
//!   running containers labelled `monaco.pool=warm` has stopped growing.
//!   The containers' own memory is not the server's; this shows what the
//!   server holds per warm container (an attached stream, a task).
//! - **1,000 queued** (`CONCURRENT_EXECUTIONS=1`, `QUEUE_CAPACITY=1000`):
//!   one Python `time.sleep(60)` takes the only worker, then 1,000 quick
//!   Python submissions through `POST /api/submit` wait behind it. Read,
//!   then every one is cancelled with `DELETE /api/executions/{id}` (the
//!   queued ones first, so that none starts), and the server is stopped.
//!
//! Resident memory includes freed memory the allocator keeps, so the
//! figure after the queue is cancelled is printed too.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::server::{cancel, cancel_all, wait_for, Launch, Server};

/// Submissions queued behind the long one.
pub const QUEUED: usize = 1_000;
/// Requests in flight at once while filling and emptying the queue.
const IN_FLIGHT: usize = 16;
/// How long the pool may take to fill, and how long its size must stay put.
const POOL_FILL_BOUND: Duration = Duration::from_secs(120);
const POOL_STABLE: Duration = Duration::from_secs(3);
/// Bound on waiting for the long execution to run and the queue to empty.
const WAIT_BOUND: Duration = Duration::from_secs(60);

/// The three readings, each measured or why not.
pub struct Memory {
    pub idle_without_pool: Result<u64, String>,
    /// Resident bytes and the number of warm containers.
    pub idle_with_pool: Result<(u64, usize), String>,
    pub queued: Result<Queued, String>,
}

/// The queue reading.
pub struct Queued {
    /// With one execution running and the rest queued.
    pub resident: u64,
    /// With the one execution running, before the queue filled.
    pub before: u64,
    /// After every execution was cancelled.
    pub after_cancel: u64,
    /// Submissions accepted (202).
    pub accepted: usize,
    /// `queueDepth` of `/api/health` at the reading.
    pub queue_depth: Option<u64>,
    /// Submissions refused, with the first reason.
    pub refused: usize,
    pub first_refusal: Option<String>,
}

/// Runs the section.
pub async fn measure(launch: &Launch, engine: &Engine) -> Memory {
    eprintln!("memory: idle, pool off…");
    let idle_without_pool = idle_without_pool(launch).await;
    eprintln!("memory: idle, pool full…");
    let idle_with_pool = idle_with_pool(launch, engine).await;
    eprintln!("memory: {QUEUED} queued…");
    let queued = queued(launch).await;
    Memory {
        idle_without_pool,
        idle_with_pool,
        queued,
    }
}

async fn idle_without_pool(launch: &Launch) -> Result<u64, String> {
    let server = Server::start(launch, &[("MONACO_POOL_SIZE", "0")]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resident = server.resident_bytes();
    server.stop().await;
    resident
}

async fn idle_with_pool(launch: &Launch, engine: &Engine) -> Result<(u64, usize), String> {
    let server = Server::start(launch, &[]).await?;
    let reading = async {
        let warm = engine.wait_pool_full(POOL_STABLE, POOL_FILL_BOUND).await?;
        Ok((server.resident_bytes()?, warm))
    }
    .await;
    server.stop().await;
    reading
}

async fn queued(launch: &Launch) -> Result<Queued, String> {
    let queue = QUEUED.to_string();
    let server = Server::start(
        launch,
        &[("CONCURRENT_EXECUTIONS", "1"), ("QUEUE_CAPACITY", &queue)],
    )
    .await?;
    let reading = fill_read_cancel(&server).await;
    server.stop().await;
    reading
}

async fn fill_read_cancel(server: &Server) -> Result<Queued, String> {
    let long = json!({
        "language": "python",
        "code": "import time\ntime.sleep(60)\n",
        "interactive": false,
        // Above the sleep, so the worker stays busy while the queue fills.
        "timeout": 120,
    });
    let long_id = submit(server, &long).await?;
    wait_for(server, WAIT_BOUND, "the long execution to run", |h| {
        h["running"] == 1
    })
    .await?;
    let before = server.resident_bytes()?;

    let quick = json!({
        "language": "python",
        "code": "print(\"Hello, World!\")\n",
        "interactive": false,
    });
    let submissions: Vec<Result<String, String>> = stream::iter(0..QUEUED)
        .map(|_| submit(server, &quick))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let health = server.get_json("/api/health").await?;
    let resident = server.resident_bytes()?;

    let (ids, refusals): (Vec<_>, Vec<_>) = submissions.into_iter().partition(Result::is_ok);
    let ids: Vec<String> = ids.into_iter().filter_map(Result::ok).collect();
    let refusals: Vec<String> = refusals.into_iter().filter_map(Result::err).collect();
    let cancelled = cancel_all(server, &ids, IN_FLIGHT).await;
    cancel(server, &long_id).await?;
    cancelled?;
    wait_for(server, WAIT_BOUND, "the queue to empty", |h| {
        h["running"] == 0 && h["queueDepth"] == 0
    })
    .await?;
    Ok(Queued {
        resident,
        before,
        after_cancel: server.resident_bytes()?,
        accepted: ids.len(),
        queue_depth: health["queueDepth"].as_u64(),
        refused: refusals.len(),
        first_refusal: refusals.into_iter().next(),
    })
}

/// `POST /api/submit`, expecting 202; the id.
async fn submit(server: &Server, body: &Value) -> Result<String, String> {
    let accepted = server
        .post_json("/api/submit", body, StatusCode::ACCEPTED)
        .await?;
    accepted["id"]
        .as_str()
        .map(String::from)
        .ok_or(format!("POST /api/submit: no id in {accepted}"))
}
