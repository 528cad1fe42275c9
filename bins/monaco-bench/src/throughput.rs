//! Section 3: executions per second at concurrency 1, 2, 4 and 8, beside
//! the Docker engine's ceiling at the same concurrency.
//!
//! **Monaco**: Python hello world through `POST /api/execute`, with the
//! server started with `CONCURRENT_EXECUTIONS=8` (its other settings, the
//! warm pool among them, are the defaults). `c` clients each send one
//! request, wait for the result, send the next, until the fixed count has
//! been sent (a closed loop); the rate is the executions that succeeded
//! divided by the time from the first request to the last result.
//!
//! **Ceiling**: the same closed loop, each operation one empty container of
//! the same image the way `docker run --rm --network none <image> true`
//! makes it (create, start, wait, remove; see
//! [`crate::engine::Engine::empty_container`]). Monaco needs at least that
//! per execution — one fresh container each, never reused — so the ratio
//! says how much of the engine's capacity reaches the client. It can pass
//! 100 %: the warm pool starts the next container, and the server removes
//! the last one, while the client waits for its result, so the engine works
//! on more containers at once than there are clients.
//!
//! Each level starts with one untimed operation per client (warm-up), and
//! begins once the server's containers are quiet. The ceiling is measured
//! right before Monaco at each level, so both see the same machine.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use monaco_languages::Registry;
use reqwest::StatusCode;
use serde_json::json;

use crate::cpu::{self, CpuCost};
use crate::engine::Engine;
use crate::latency::check_result;
use crate::server::{Launch, Server};

/// The concurrency levels measured.
pub const LEVELS: [usize; 4] = [1, 2, 4, 8];
/// The server's `CONCURRENT_EXECUTIONS` for this section: the highest level.
const WORKERS: &str = "8";
/// The language of this section.
const LANGUAGE: &str = "python";

/// What one concurrency level measured.
pub struct Level {
    pub concurrency: usize,
    pub monaco: Rate,
    pub ceiling: Rate,
    /// CPU per execution during Monaco's timed loop (see [`crate::cpu`]).
    pub monaco_cpu: Option<CpuCost>,
    /// CPU per empty container during the ceiling's timed loop.
    pub ceiling_cpu: Option<CpuCost>,
}

/// The outcome of a closed loop.
pub struct Rate {
    pub succeeded: usize,
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

impl Rate {
    /// Successful operations per second.
    pub fn per_second(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        (self.succeeded > 0 && secs > 0.0).then(|| self.succeeded as f64 / secs)
    }
}

/// Runs the section: `count` timed operations per level and side.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    registry: &Registry,
    count: usize,
) -> Result<Vec<Level>, String> {
    let image = registry
        .get(LANGUAGE)
        .ok_or(format!("{LANGUAGE} is not in languages.toml"))?
        .image()
        .to_string();
    let server = Server::start(launch, &[("CONCURRENT_EXECUTIONS", WORKERS)]).await?;
    let hello = server
        .hello_worlds()
        .await?
        .into_iter()
        .find(|(id, _)| id == LANGUAGE)
        .map(|(_, hello)| hello)
        .ok_or(format!("GET /api/languages has no {LANGUAGE}"))?;
    let body = json!({ "language": LANGUAGE, "code": hello });
    let execute = || async {
        let result = server
            .post_json("/api/execute", &body, StatusCode::OK)
            .await?;
        check_result(&result)
    };
    let empty_container = || async { engine.empty_container(&image).await.map(|_| ()) };

    let mut levels = Vec::new();
    for concurrency in LEVELS {
        eprintln!("throughput: concurrency {concurrency}, {count} executions each side…");
        engine.wait_quiet().await;
        let (ceiling, ceiling_cpu) =
            measured_loop(concurrency, count, &empty_container, None, engine).await;
        engine.wait_quiet().await;
        let (monaco, monaco_cpu) =
            measured_loop(concurrency, count, &execute, Some(server.pid()), engine).await;
        levels.push(Level {
            concurrency,
            monaco,
            ceiling,
            monaco_cpu,
            ceiling_cpu,
        });
    }
    server.stop().await;
    Ok(levels)
}

/// A closed loop, and the CPU each operation cost the machine: from the
/// start of the timed loop until the engine is quiet again after it (the
/// last containers' removal is part of their cost).
async fn measured_loop<F, Fut>(
    concurrency: usize,
    count: usize,
    operation: F,
    server: Option<u32>,
    engine: &Engine,
) -> (Rate, Option<CpuCost>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    warm_up(concurrency, &operation).await;
    engine.wait_quiet().await;
    let from = cpu::mark(server);
    let rate = timed_loop(concurrency, count, operation).await;
    engine.wait_quiet().await;
    let to = cpu::mark(server);
    let cost = cpu::cost(&from, &to, rate.succeeded);
    (rate, cost)
}

/// One untimed operation per client, all at once (a closed loop's warm-up).
pub(crate) async fn warm_up<F, Fut>(concurrency: usize, operation: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    join_all((0..concurrency).map(|_| operation())).await;
}

/// `concurrency` clients run `operation` one after another until `count`
/// have started, timed from the first start to the last end.
pub(crate) async fn timed_loop<F, Fut>(concurrency: usize, count: usize, operation: F) -> Rate
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let sent = AtomicUsize::new(0);
    let client = || async {
        let mut outcomes = Vec::new();
        while sent.fetch_add(1, Ordering::SeqCst) < count {
            outcomes.push(operation().await);
        }
        outcomes
    };
    let started = Instant::now();
    let outcomes = join_all((0..concurrency).map(|_| client())).await;
    let elapsed = started.elapsed();
    let (ok, failed): (Vec<_>, Vec<_>) = outcomes.into_iter().flatten().partition(Result::is_ok);
    Rate {
        succeeded: ok.len(),
        failures: failed.into_iter().filter_map(Result::err).collect(),
        elapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_loop_runs_the_count_at_the_concurrency() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let calls = AtomicUsize::new(0);
        let operation = || async {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let n = calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            running.fetch_sub(1, Ordering::SeqCst);
            if n == 5 {
                Err("one failure".to_string())
            } else {
                Ok(())
            }
        };
        // As `measured_loop` runs it: the warm-up, then the timed loop.
        warm_up(3, &operation).await;
        let rate = timed_loop(3, 10, operation).await;
        // 3 warm-up calls, then 10 counted ones.
        assert_eq!(calls.load(Ordering::SeqCst), 13);
        assert_eq!(rate.succeeded, 9);
        assert_eq!(rate.failures, ["one failure"]);
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_timed_loop_counts_what_succeeded() {
        let calls = AtomicUsize::new(0);
        let rate = timed_loop(2, 5, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n == 2 {
                Err("one failure".to_string())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(rate.succeeded, 4);
        assert_eq!(rate.failures, ["one failure"]);
    }
}
