//! Opt-in section `cluster`: what running as a cluster costs and gives.
//!
//! Redis is a `redis-server` of the bench's own on a free 127.0.0.1 port
//! (`monaco_testkit::redis`, stopped by its pid); every node is the real
//! server binary with `MONACO_ROLE`, `MONACO_BROKER_URL` and a
//! `MONACO_INSTANCE` of its own, python-only.
//!
//! 1. **Latency through the broker**: python hello world through `POST
//!    /api/execute`, one at a time, on a single server (the baseline, no
//!    broker) and on an `api` node whose one `worker` runs it, both on the
//!    shared engine with the warm pool on. They take turns, one execution
//!    each per round (the order alternates); round 0 is a warm-up, and
//!    before each execution the bench waits, untimed, until the containers
//!    stop changing (the worker carries the run's instance name and does
//!    not reap strays, so the single server's warm containers are left
//!    alone and both are watched). The difference of the p50s is what the
//!    broker adds (queue, event log and result in Redis, the api node's
//!    follow of them); the target is at most 3 ms.
//! 2. **Throughput with one worker and with two**: python hello worlds at
//!    concurrency 8 (a closed loop of `--throughput-count`, after one
//!    untimed execution per client) through one `api` node, first with one
//!    worker, then with a second one started beside it. Each worker has a
//!    Docker engine of its own (`monaco_testkit::private_engine`: a
//!    `dockerd` on a socket in a temporary directory, reached through
//!    `DOCKER_HOST`, with `monaco/python:latest` copied in from the shared
//!    engine) and `CONCURRENT_EXECUTIONS=8`. Each worker's share of the
//!    timed executions comes from its `/metrics`. Both workers, their
//!    engines, the api node and Redis share this machine's cores, so a
//!    second worker adds an engine and slots, not CPUs: the figure is a
//!    floor for workers on hosts of their own. A private engine needs root
//!    and `dockerd`; without them this half says why and the first half
//!    stands.
//!
//! The section prints figures and says met or missed, as information; it
//! fails only when it could not run at all (no `redis-server`, a node that
//! would not start).

use std::time::{Duration, Instant};

use monaco_languages::Registry;
use monaco_testkit::private_engine::{try_containers_on, PrivateEngine};
use monaco_testkit::redis::RedisServer;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::latency::check_result;
use crate::server::{Launch, Server};
use crate::stats::Samples;
use crate::table::Table;
use crate::tenancy;
use crate::throughput::{timed_loop, warm_up, Rate};

/// The broker's target at p50 on `/api/execute` (issue text), milliseconds.
const TARGET_MS: f64 = 3.0;
/// Clients of the throughput half.
const CONCURRENCY: usize = 8;
/// Each worker's `CONCURRENT_EXECUTIONS` in the throughput half.
const WORKER_SLOTS: &str = "8";
/// The language of this section.
const LANGUAGE: &str = "python";

/// What the section measured.
pub struct ClusterFigures {
    /// `/api/execute` on the single server.
    pub single: Samples,
    /// `/api/execute` through the api node and its worker.
    pub cluster: Samples,
    /// Rounds measured before the containers settled.
    pub noisy_waits: usize,
    /// One worker against two; `Err` says why it was not measured.
    pub throughput: Result<Scaling, String>,
}

/// The throughput half.
pub struct Scaling {
    pub one: Rate,
    pub two: Rate,
    /// Timed executions each worker finished (from its `/metrics`), in
    /// the two-worker run; `None` where `/metrics` did not say.
    pub split: Vec<Option<u64>>,
    /// Containers of the workers left on their engines after they stopped.
    pub left: usize,
}

/// Runs the section: `iterations` latency rounds after a warm-up, then
/// `count` executions with one worker and with two.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    registry: &Registry,
    iterations: usize,
    count: usize,
) -> Result<ClusterFigures, String> {
    if let Some(why) = RedisServer::missing() {
        return Err(why);
    }
    let python = registry
        .get(LANGUAGE)
        .ok_or(format!("{LANGUAGE} is not in languages.toml"))?;
    let body = json!({ "language": LANGUAGE, "code": python.hello() });
    let image = python.image().to_string();
    let dir = std::env::temp_dir().join(format!("monaco-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = async {
        let languages = tenancy::python_only(&launch.root, &dir)?;
        let languages = languages.display().to_string();
        let mut figures = latency(launch, engine, &languages, &body, iterations).await?;
        eprintln!("cluster: throughput, one worker and two, {count} executions each…");
        figures.throughput = scaling(launch, &languages, &body, &image, count).await;
        Ok(figures)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Settings of a cluster node.
fn node(languages: &str, role: &str, broker: &str, instance: &str) -> Vec<(String, String)> {
    [
        ("MONACO_LANGUAGES", languages),
        ("MONACO_ROLE", role),
        ("MONACO_BROKER_URL", broker),
        ("MONACO_INSTANCE", instance),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Starts a server with owned settings.
async fn start(launch: &Launch, settings: &[(String, String)]) -> Result<Server, String> {
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Server::start(launch, &settings).await
}

/// Part 1: the single server and the api + worker pair, taking turns.
async fn latency(
    launch: &Launch,
    engine: &Engine,
    languages: &str,
    body: &Value,
    iterations: usize,
) -> Result<ClusterFigures, String> {
    let redis = RedisServer::try_start().await?;
    let broker = redis.url();
    eprintln!(
        "cluster: redis-server on 127.0.0.1:{} (pid {})",
        redis.port(),
        redis.pid()
    );
    let single = Server::start(launch, &[("MONACO_LANGUAGES", languages)]).await?;
    // The run's instance name, so that `wait_quiet` watches its pool too;
    // the single server's warm containers share the name.
    let mut worker_settings = node(languages, "worker", &broker, &launch.instance);
    worker_settings.push(("MONACO_REAP_STRAYS".into(), "false".into()));
    let worker = start(launch, &worker_settings).await?;
    let api_name = format!("{}-api", launch.instance);
    let api = start(launch, &node(languages, "api", &broker, &api_name)).await?;
    let mut figures = ClusterFigures {
        single: Samples::default(),
        cluster: Samples::default(),
        noisy_waits: 0,
        throughput: Err("not measured".into()),
    };
    eprintln!("cluster: {iterations} latency rounds after a warm-up…");
    for round in 0..=iterations {
        let counted = round > 0;
        let order = if round % 2 == 0 {
            [(&single, false), (&api, true)]
        } else {
            [(&api, true), (&single, false)]
        };
        for (server, through_broker) in order {
            let quiet = engine.wait_quiet().await;
            let time = execute(server, body).await;
            if !counted {
                continue;
            }
            figures.noisy_waits += usize::from(!quiet);
            if through_broker {
                figures.cluster.record(time);
            } else {
                figures.single.record(time);
            }
        }
    }
    api.stop().await;
    worker.stop().await;
    single.stop().await;
    drop(redis);
    Ok(figures)
}

/// One hello world through `/api/execute`: the time to the parsed result.
async fn execute(server: &Server, body: &Value) -> Result<Duration, String> {
    let started = Instant::now();
    let result = server
        .post_json("/api/execute", body, StatusCode::OK)
        .await?;
    let elapsed = started.elapsed();
    check_result(&result)?;
    Ok(elapsed)
}

/// Part 2: one worker, then two, each on a private engine.
async fn scaling(
    launch: &Launch,
    languages: &str,
    body: &Value,
    image: &str,
    count: usize,
) -> Result<Scaling, String> {
    if let Some(why) = PrivateEngine::unavailable() {
        return Err(format!("{why}: each worker needs a private Docker engine"));
    }
    let began = Instant::now();
    let mut engines = Vec::new();
    for _ in 0..2 {
        let private = PrivateEngine::try_start().await?;
        private.try_load_image(image)?;
        engines.push(private);
    }
    eprintln!(
        "cluster: two private engines up, {image} loaded, in {:.0} s",
        began.elapsed().as_secs_f64()
    );
    let redis = RedisServer::try_start().await?;
    let broker = redis.url();
    let names: Vec<String> = (1..=2)
        .map(|n| format!("{}-w{n}", launch.instance))
        .collect();
    let worker = |n: usize| {
        let mut settings = node(languages, "worker", &broker, &names[n]);
        settings.push(("DOCKER_HOST".into(), engines[n].host()));
        settings.push(("CONCURRENT_EXECUTIONS".into(), WORKER_SLOTS.into()));
        settings
    };
    let api_name = format!("{}-tput-api", launch.instance);
    let api = start(launch, &node(languages, "api", &broker, &api_name)).await?;
    let first = start(launch, &worker(0)).await?;
    warm_up(CONCURRENCY, || execute_ok(&api, body)).await;
    let one = timed_loop(CONCURRENCY, count, || execute_ok(&api, body)).await;
    let second = start(launch, &worker(1)).await?;
    warm_up(CONCURRENCY, || execute_ok(&api, body)).await;
    let before = [done(&first).await, done(&second).await];
    let two = timed_loop(CONCURRENCY, count, || execute_ok(&api, body)).await;
    let after = [done(&first).await, done(&second).await];
    let split = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.zip(*b).map(|(a, b)| a.saturating_sub(b)))
        .collect();
    api.stop().await;
    second.stop().await;
    first.stop().await;
    let mut left = 0;
    for (private, name) in engines.iter().zip(&names) {
        let label = format!("monaco.instance={name}");
        left += try_containers_on(Some(&private.host()), &[&label])
            .map(|ids| ids.len())
            .unwrap_or(0);
    }
    drop(redis);
    // Dropping the engines removes their containers, stops each dockerd
    // by its pid, and removes their directories and bridges.
    drop(engines);
    Ok(Scaling {
        one,
        two,
        split,
        left,
    })
}

/// One hello world through `/api/execute`, checked.
async fn execute_ok(server: &Server, body: &Value) -> Result<(), String> {
    execute(server, body).await.map(|_| ())
}

/// Executions a node has finished, from its `/metrics`
/// (`monaco_executions_total`, all labels); `None` when it does not say.
async fn done(server: &Server) -> Option<u64> {
    let response = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    executions_total(&response.text().await.ok()?)
}

/// The sum of the `monaco_executions_total` samples of an exposition.
fn executions_total(exposition: &str) -> Option<u64> {
    let values: Vec<f64> = exposition
        .lines()
        .filter(|l| l.starts_with("monaco_executions_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
}

/// The section's tables.
pub fn print(figures: &ClusterFigures) {
    println!(
        "\n== cluster: python hello world through one api + one worker over Redis, \
         beside one server =="
    );
    let cell = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    let (single, cluster) = (&figures.single, &figures.cluster);
    let diff = single.p50().zip(cluster.p50()).map(|(s, c)| c - s);
    let mut table = Table::new(&[
        "measure",
        "one server p50 ms",
        "one server p99 ms",
        "cluster p50 ms",
        "cluster p99 ms",
        "p50 cluster − one server ms",
        "n",
        "failed",
    ]);
    table.push(vec![
        "POST /api/execute".into(),
        cell(single.p50(), 1),
        cell(single.p99(), 1),
        cell(cluster.p50(), 1),
        cell(cluster.p99(), 1),
        cell(diff, 3),
        format!("{}/{}", single.times.len(), cluster.times.len()),
        format!("{}/{}", single.failures.len(), cluster.failures.len()),
    ]);
    table.print();
    for failure in single.failures.iter().chain(&cluster.failures).take(3) {
        println!("  failed: {failure}");
    }
    match diff {
        Some(d) => println!(
            "target: the broker adds at most {TARGET_MS} ms at p50 to /api/execute: {d:+.3} ms, {}",
            if d <= TARGET_MS { "met" } else { "missed" }
        ),
        None => println!("target: not measured"),
    }
    if figures.noisy_waits > 0 {
        println!(
            "note: {} rounds measured before the containers settled",
            figures.noisy_waits
        );
    }
    println!(
        "\n== cluster: python hello world at concurrency {CONCURRENCY}, one worker vs two \
         (each on a Docker engine of its own) =="
    );
    let scaling = match &figures.throughput {
        Ok(scaling) => scaling,
        Err(why) => {
            println!("not measured: {why}");
            return;
        }
    };
    let mut table = Table::new(&[
        "workers",
        "executions/s",
        "succeeded",
        "failed",
        "elapsed s",
        "timed executions per worker",
    ]);
    let split: Vec<String> = scaling
        .split
        .iter()
        .map(|n| n.map_or("?".into(), |n| n.to_string()))
        .collect();
    for (name, rate, split) in [
        ("1", &scaling.one, scaling.one.succeeded.to_string()),
        ("2", &scaling.two, split.join(" + ")),
    ] {
        table.push(vec![
            name.into(),
            cell(rate.per_second(), 2),
            rate.succeeded.to_string(),
            rate.failures.len().to_string(),
            format!("{:.2}", rate.elapsed.as_secs_f64()),
            split,
        ]);
    }
    table.print();
    for failure in scaling
        .one
        .failures
        .iter()
        .chain(&scaling.two.failures)
        .take(3)
    {
        println!("  failed: {failure}");
    }
    if let Some((one, two)) = scaling.one.per_second().zip(scaling.two.per_second()) {
        println!("two workers ÷ one: {:.2}×", two / one);
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "caveat: both workers, their engines, the api node and Redis share this machine's \
         {cores} cores: a second worker adds a Docker engine and {WORKER_SLOTS} slots, not CPUs, \
         so this is a floor for workers on hosts of their own"
    );
    if scaling.left > 0 {
        println!(
            "warning: {} container(s) of the workers remained on their engines after they \
             stopped (removed with the engines)",
            scaling.left
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_are_summed_over_labels() {
        let exposition = "\
# HELP monaco_executions Executions finished, by language and verdict.
# TYPE monaco_executions counter
monaco_executions_total{language=\"python\",verdict=\"accepted\"} 12
monaco_executions_total{language=\"python\",verdict=\"runtime_error\"} 1
monaco_executions_running 0
";
        assert_eq!(executions_total(exposition), Some(13));
        assert_eq!(executions_total("monaco_queue_depth 0\n"), None);
    }
}
