//! The cluster: `api` nodes and `worker` nodes of the real server binary
//! sharing a real redis-server of the test's own (`monaco_testkit::redis`), the
//! workers running real Docker sandboxes.
//!
//! - Hello worlds in six languages submitted to one API node and read from
//!   the other; a terminal on one API node drives a program submitted to the
//!   other, and its replay (`?from=0`) is the same.
//! - Cancel a queued execution and a running one from either API node; a
//!   cluster-wide `QUEUE_CAPACITY` refuses the next submission on both.
//! - A worker killed mid-run: its execution ends `worker.lost` within the
//!   lease; a job a dead consumer took before beginning it is run by another
//!   worker; the killed worker, started again, removes its own containers.
//! - Redis restarted under ~10 executions in flight: every accepted one
//!   ends; while Redis is down the nodes say so (503 `broker.unavailable`,
//!   health `broker: false`) and recover by themselves.
//! - `api` and `worker` without a broker refuse to start (exit 2).
//!
//! Each test starts a cluster of its own (its own Redis, instance names of
//! its own); one cluster runs at a time, so that the timings printed (and
//! the one asserted, the lease's bound) are not those of a machine running
//! four clusters. Nodes are stopped by pid (SIGTERM, clean exit checked);
//! whatever containers a failed test leaves under its instance names are
//! removed when it ends.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use monaco_testkit::private_engine::{remove_containers, try_containers_on};
use monaco_testkit::redis::RedisServer;
use monaco_testkit::{Launch, ServerProcess, StartError};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::terminal::{Terminal, Transcript};
use support::{expect_retry_later, request, Server, ServerConfig};

/// How long an ordinary execution may take to end here (a compiler on a
/// busy two-core machine included). A bound for a failure only.
const RUN: Duration = Duration::from_secs(120);

/// A worker's lease on an execution it runs.
const LEASE: Duration = Duration::from_secs(15);

/// The bound on `worker.lost` after a worker is killed mid-run: the lease
/// and the time to notice it has run out.
const LOST_WITHIN: Duration = Duration::from_secs(25);

/// How long a job a dead consumer took may take to run on another worker,
/// from when the dead one took it: the lease, the reclaim, the run.
const RECLAIM_WITHIN: Duration = Duration::from_secs(45);

/// How long a node gets to notice that Redis is down, or back.
const NOTICE_WITHIN: Duration = Duration::from_secs(30);

/// How long Redis stays down at least (the nodes' writes fail meanwhile).
const OUTAGE: Duration = Duration::from_secs(3);

/// How long executions in flight across a Redis restart get to end, from
/// when Redis is back.
const SETTLE_WITHIN: Duration = Duration::from_secs(60);

/// The hello-world languages.
const LANGUAGES: &[&str] = &["python", "java", "c", "cpp", "javascript", "go"];

/// Prints a line, then sleeps (a long run that has started).
const SLEEPER: &str = "import time\nprint('started', flush=True)\ntime.sleep(600)\n";

/// One cluster at a time (see the module's comment).
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A cluster's shared parts: its Redis, its nodes' settings and names.
struct Cluster {
    redis: RedisServer,
    /// Prefix of this cluster's instance names (unique on the engine).
    name: String,
    languages: PathBuf,
    /// Settings every node gets.
    common: Vec<(String, String)>,
}

impl Cluster {
    /// Starts the cluster's Redis. `what` names the cluster in instance
    /// names; `languages` is what its nodes serve.
    async fn start(what: &str, languages: &[&str]) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let redis = RedisServer::start().await;
        println!(
            "{what}: redis-server on 127.0.0.1:{} (pid {})",
            redis.port(),
            redis.pid()
        );
        Cluster {
            redis,
            name: format!("cluster-{what}-{}-{nanos}", std::process::id()),
            languages: support::languages_subset(languages),
            common: Vec::new(),
        }
    }

    /// A setting for every node of the cluster (`QUEUE_CAPACITY` is
    /// cluster-wide, so every node gets the same).
    fn every_node(mut self, key: &str, value: impl ToString) -> Cluster {
        self.common.push((key.to_string(), value.to_string()));
        self
    }

    /// The instance name of node `node` (`a1`, `w1`, …).
    fn instance(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    fn config(&self, role: &str, node: &str) -> ServerConfig {
        let mut config = ServerConfig::default()
            .env("MONACO_ROLE", role)
            .env("MONACO_BROKER_URL", self.redis.url())
            .env("MONACO_INSTANCE", self.instance(node))
            .env("MONACO_LANGUAGES", self.languages.display());
        for (k, v) in &self.common {
            config = config.env(k, v);
        }
        config
    }

    /// Starts an `api` node (healthy: the broker answers).
    async fn api(&self, node: &str) -> Server {
        let server = Server::start_with(self.config("api", node)).await;
        expect_broker_up(&server, node).await;
        server
    }

    /// Starts a `worker` node (healthy: the broker and Docker answer).
    /// The api nodes a1 and a2 and the workers w1 and w2, each healthy;
    /// says how long since `t0` that took.
    async fn four_nodes(&self, t0: Instant) -> (Server, Server, Server, Server) {
        let nodes = (
            self.api("a1").await,
            self.api("a2").await,
            self.worker("w1").await,
            self.worker("w2").await,
        );
        println!("cluster of a1, a2, w1, w2 healthy in {:?}", t0.elapsed());
        nodes
    }

    async fn worker(&self, node: &str) -> Server {
        let server = Server::start_with(self.config("worker", node)).await;
        expect_broker_up(&server, node).await;
        server
    }

    /// Ids of the containers (any state) labelled with node `node`'s
    /// instance.
    fn containers_of(&self, node: &str) -> Vec<String> {
        let label = format!("monaco.instance={}", self.instance(node));
        try_containers_on(None, &[&label]).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Cluster {
    /// Whatever a failed test left on the engine under this cluster's
    /// names (a killed worker's containers) is removed. Never panics.
    fn drop(&mut self) {
        for node in ["w1", "w2", "a1", "a2"] {
            let label = format!("monaco.instance={}", self.instance(node));
            let left = try_containers_on(None, &[&label]).unwrap_or_default();
            remove_containers(None, &left);
        }
    }
}

/// Whether the cluster tests can run here (Docker and redis-server);
/// otherwise they print SKIPPED and return (or panic when required).
fn cluster_or_skip() -> bool {
    support::docker_or_skip() && RedisServer::available_or_skip()
}

/// An HTTP client whose every request has a short deadline: a node whose
/// broker is down must answer, not hang.
fn quick_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("an HTTP client")
}

/// `GET /api/health`: its status and JSON body.
async fn health(http: &reqwest::Client, node: &Server) -> Result<(StatusCode, Value), String> {
    let r = http
        .get(node.url("/api/health"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    let body = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    Ok((status, body))
}

/// A node's health is 200 with `"broker": true`.
async fn expect_broker_up(node: &Server, name: &str) {
    let (status, body) = health(&quick_client(), node)
        .await
        .unwrap_or_else(|e| panic!("{name}: /api/health: {e}"));
    assert_eq!(status, StatusCode::OK, "{name}: /api/health {body}");
    assert_eq!(body["broker"], true, "{name}: /api/health {body}");
}

/// Waits until a node's health is `want` (`true`: 200 with `broker:
/// true`; `false`: 503 with `broker: false`); returns how long it took.
async fn wait_health(node: &Server, name: &str, want: bool, within: Duration) -> Duration {
    let http = quick_client();
    let began = Instant::now();
    loop {
        let last = match health(&http, node).await {
            Ok((status, body)) => {
                let up = status == StatusCode::OK && body["broker"] == true;
                let down = status == StatusCode::SERVICE_UNAVAILABLE && body["broker"] == false;
                if (want && up) || (!want && down) {
                    return began.elapsed();
                }
                format!("{status} {body}")
            }
            Err(e) => e,
        };
        assert!(
            began.elapsed() < within,
            "{name}: /api/health not {} within {within:?}; last: {last}; its log:\n{}",
            if want {
                "200 broker:true"
            } else {
                "503 broker:false"
            },
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `GET /api/status/{id}` on `node` until `completed` or `failed`
/// (an answer other than 200 is waited through: Redis may be coming
/// back), then returns `GET /api/result/{id}`.
async fn wait_final(node: &Server, id: &str, within: Duration) -> Value {
    let http = quick_client();
    let began = Instant::now();
    loop {
        let r = http
            .get(node.url(&format!("/api/status/{id}")))
            .send()
            .await;
        let last = match r {
            Ok(r) if r.status() == StatusCode::OK => {
                let v: Value = r.json().await.expect("a JSON status");
                let status = v["status"].as_str().unwrap_or_default().to_string();
                if support::is_final(&status) {
                    let result = node.get_json(&format!("/api/result/{id}")).await;
                    assert_eq!(result["status"], status.as_str(), "{result}");
                    return result;
                }
                status
            }
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        assert!(
            began.elapsed() < within,
            "execution {id} not final within {within:?}; last: {last}; the node's log:\n{}",
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `GET /api/status/{id}` on `node` until it is `want`.
async fn wait_status(node: &Server, id: &str, want: &str, within: Duration) {
    let began = Instant::now();
    loop {
        let status = node.status(id).await;
        if status == want {
            return;
        }
        assert!(
            !support::is_final(&status) && began.elapsed() < within,
            "execution {id} is {status}, not {want}, after {:?}; the node's log:\n{}",
            began.elapsed(),
            node.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `DELETE /api/executions/{id}` on `node`: 202 with the id.
async fn cancel(node: &Server, id: &str) {
    let r = node
        .request(Method::DELETE, &format!("/api/executions/{id}"), None)
        .await;
    let v = support::json_body(r, StatusCode::ACCEPTED).await;
    assert_eq!(v["id"], id, "{v}");
}

/// A submission body with a long wall limit (a run that should still be
/// running when the test acts on it).
fn long_run(code: &str) -> Value {
    let mut body = request("python", code, Some(""));
    body["limits"] = json!({"wall_ms": 120_000});
    body
}

/// Opens the terminal of `id` on `node`, from event `from` if given.
async fn terminal_from(node: &Server, id: &str, from: Option<u64>) -> Terminal {
    let path = match from {
        Some(n) => format!("/api/ws/terminal/{id}?from={n}"),
        None => format!("/api/ws/terminal/{id}"),
    };
    Terminal::connect(&node.ws_url(&path)).await
}

/// Executions a node finished (`monaco_executions_total`, all labels).
async fn executions_finished(node: &Server) -> f64 {
    let r = node.request(Method::GET, "/metrics", None).await;
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("monaco_executions_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A checked `503 broker.unavailable` with a `Retry-After` in seconds.
async fn expect_broker_unavailable(r: reqwest::Response) -> Value {
    expect_retry_later(r, StatusCode::SERVICE_UNAVAILABLE, "broker.unavailable").await
}

#[tokio::test]
async fn two_api_nodes_and_two_workers_run_and_follow_executions() {
    if !cluster_or_skip() {
        return;
    }
    let _one = ONE_CLUSTER.lock().await;
    let t0 = Instant::now();
    let cluster = Cluster::start("run", LANGUAGES)
        .await
        .every_node("CONCURRENT_EXECUTIONS", 2)
        .every_node("MONACO_POOL_SIZE", 1);
    let (a1, a2, w1, w2) = cluster.four_nodes(t0).await;

    // Hello worlds submitted to a1, read from a2.
    let began = Instant::now();
    let mut submitted = Vec::new();
    for language in LANGUAGES {
        let hello = a1.language(language).await["helloWorld"]
            .as_str()
            .expect("`helloWorld` is a string")
            .to_string();
        let mut body = request(language, &hello, Some(""));
        body["limits"] = json!({"wall_ms": 60_000, "compile_wall_ms": 60_000});
        let id = a1.submit(&body).await;
        submitted.push((*language, id));
    }
    let results = join_all(submitted.iter().map(|(language, id)| {
        let a2 = &a2;
        async move {
            let result = wait_final(a2, id, RUN).await;
            (*language, id, result, began.elapsed())
        }
    }))
    .await;
    for (language, id, result, after) in &results {
        assert_eq!(result["id"], id.as_str(), "{language}: {result}");
        assert_eq!(result["language"], *language, "{language}: {result}");
        assert_eq!(result["status"], "completed", "{language}: {result}");
        assert_eq!(result["verdict"], "ok", "{language}: {result}");
        assert_eq!(result["stdout"], "Hello, World!\n", "{language}: {result}");
        println!("{language}: submitted to a1, completed on a2's view in {after:?}");
    }
    println!(
        "finished per worker (metrics): w1 {}, w2 {}",
        executions_finished(&w1).await,
        executions_finished(&w2).await
    );

    // A terminal on a2 drives a program submitted to a1.
    let code = "name = input(\"Name? \")\nprint(\"hi\", name)\n";
    let mut body = request("python", code, None);
    body["limits"] = json!({"wall_ms": 60_000});
    let id = a1.submit(&body).await;
    let mut term = terminal_from(&a2, &id, None).await;
    let prompt = term
        .until("the input prompt", |v| v["type"] == "input_prompt")
        .await;
    assert_eq!(
        prompt,
        json!({"type": "input_prompt", "content": "Name? "}),
        "frames so far: {:?}",
        term.seen
    );
    term.send(json!({"type": "input", "content": "Ada"})).await;
    let live = term.finish().await;
    assert_eq!(live.stdout(), "Name? hi Ada\n", "{:?}", live.frames);
    let status = live.final_status();
    assert_eq!(status["status"], "completed", "{:?}", live.frames);
    assert_eq!(status["verdict"], "ok", "{:?}", live.frames);
    assert_eq!(live.close_code(), Some(1000));
    let result = wait_final(&a1, &id, RUN).await;
    assert_eq!(result["stdout"], "Name? hi Ada\n", "{result}");
    // The replay from the first event, on either API node, is the same.
    let replay_a2: Transcript = terminal_from(&a2, &id, Some(0)).await.finish().await;
    let replay_a1: Transcript = terminal_from(&a1, &id, Some(0)).await.finish().await;
    assert_eq!(replay_a2.frames, live.frames, "a2's replay from 0");
    assert_eq!(replay_a1.frames, live.frames, "a1's replay from 0");
    println!(
        "terminal on a2 for an execution submitted to a1: prompt, input, answer; \
         {} frames, the same replayed from 0 on a2 and a1",
        live.frames.len()
    );

    tokio::join!(w1.stop(), w2.stop());
    tokio::join!(a1.stop(), a2.stop());
    println!("the whole case took {:?}", t0.elapsed());
}

#[tokio::test]
async fn cancels_and_a_cluster_wide_queue_capacity() {
    if !cluster_or_skip() {
        return;
    }
    let _one = ONE_CLUSTER.lock().await;
    let t0 = Instant::now();
    let cluster = Cluster::start("queue", &["python"])
        .await
        .every_node("CONCURRENT_EXECUTIONS", 1)
        .every_node("QUEUE_CAPACITY", 2)
        .every_node("MONACO_POOL_SIZE", 1);
    let (a1, a2, w1, w2) = cluster.four_nodes(t0).await;

    // Both workers busy, one slot each.
    let busy1 = a1.submit(&long_run(SLEEPER)).await;
    let busy2 = a1.submit(&long_run(SLEEPER)).await;
    wait_status(&a2, &busy1, "running", RUN).await;
    wait_status(&a2, &busy2, "running", RUN).await;
    // The queue, cluster-wide: one waiting from each API node fills it.
    let queued1 = a1.submit(&long_run(SLEEPER)).await;
    let queued2 = a2
        .submit(&request("python", "print('second waiting')\n", Some("")))
        .await;
    assert_eq!(a2.status(&queued1).await, "queued");
    assert_eq!(a1.status(&queued2).await, "queued");
    for node in [&a1, &a2] {
        let r = node
            .submit_raw(&request("python", "print('third')\n", Some("")))
            .await;
        expect_retry_later(r, StatusCode::SERVICE_UNAVAILABLE, "queue.full").await;
    }
    println!("QUEUE_CAPACITY=2 with both workers busy: the third waiting submission is 503 queue.full on a1 and a2");

    // A queued one cancelled from a2 (submitted to a1).
    let began = Instant::now();
    cancel(&a2, &queued1).await;
    let result = wait_final(&a1, &queued1, RUN).await;
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "cancelled", "{result}");
    println!(
        "queued execution cancelled from a2: ended cancelled in {:?}",
        began.elapsed()
    );
    // Its place in the queue is free again.
    let third = a2
        .submit(&request("python", "print('third')\n", Some("")))
        .await;

    // A running one cancelled from a1.
    let began = Instant::now();
    cancel(&a1, &busy1).await;
    let result = wait_final(&a2, &busy1, RUN).await;
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "cancelled", "{result}");
    println!(
        "running execution cancelled from a1: ended cancelled in {:?}",
        began.elapsed()
    );

    // The freed worker runs the waiting ones.
    for (id, stdout) in [(&queued2, "second waiting\n"), (&third, "third\n")] {
        let result = wait_final(&a1, id, RUN).await;
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(result["stdout"], stdout, "{result}");
    }
    cancel(&a2, &busy2).await;
    let result = wait_final(&a1, &busy2, RUN).await;
    assert_eq!(result["verdict"], "cancelled", "{result}");

    tokio::join!(w1.stop(), w2.stop());
    tokio::join!(a1.stop(), a2.stop());
    println!("the whole case took {:?}", t0.elapsed());
}

#[tokio::test]
async fn a_killed_worker_loses_its_execution_and_a_dead_consumers_job_runs_elsewhere() {
    if !cluster_or_skip() {
        return;
    }
    let _one = ONE_CLUSTER.lock().await;
    let t0 = Instant::now();
    // No warm pool: every container of a worker's instance is one of its
    // runs, so after a restart none may carry its name.
    let cluster = Cluster::start("lost", &["python"])
        .await
        .every_node("CONCURRENT_EXECUTIONS", 1)
        .every_node("MONACO_POOL_SIZE", 0);
    let a1 = cluster.api("a1").await;

    // A job taken by a consumer that dies before beginning it: submitted
    // with no worker running, then read from the group as `ghost`.
    let reclaimed = a1
        .submit(&request("python", "print('reclaimed')\n", Some("")))
        .await;
    // The job stream (one for every language; the group every node creates).
    let stream = "monaco:jobs";
    let deadline = Instant::now() + Duration::from_secs(10);
    let taken = loop {
        let out = cluster.redis.cli(&[
            "XREADGROUP",
            "GROUP",
            "workers",
            "ghost",
            "COUNT",
            "1",
            "STREAMS",
            stream,
            ">",
        ]);
        if out.contains(&reclaimed) {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the job of {reclaimed} is not in {stream} for group `workers`: {out}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(a1.status(&reclaimed).await, "queued");
    println!("ghost consumer took the job of {reclaimed} from {stream}");

    // w1 alone runs a long program; then w2 joins, and w1 is killed.
    let w1 = cluster.worker("w1").await;
    let doomed = a1.submit(&long_run(SLEEPER)).await;
    let mut term = a1.terminal(&doomed).await;
    term.until_printed("the program's first line", "started")
        .await;
    let w2 = cluster.worker("w2").await;
    let before_kill = cluster.containers_of("w1");
    assert!(
        !before_kill.is_empty(),
        "w1 runs {doomed} in a container labelled with its instance"
    );
    let killed = Instant::now();
    w1.kill().await;
    println!(
        "w1 killed with SIGKILL {:?} after the ghost took its job",
        killed - taken
    );

    let lost = async {
        let result = wait_final(&a1, &doomed, LOST_WITHIN + Duration::from_secs(35)).await;
        (result, killed.elapsed())
    };
    let other = async {
        let result = wait_final(&a1, &reclaimed, RECLAIM_WITHIN).await;
        (result, taken.elapsed())
    };
    let (((lost, lost_after), (other, other_after)), transcript) =
        tokio::join!(async { tokio::join!(lost, other) }, term.finish());
    println!(
        "killed worker's execution ended {}/{}/{} {lost_after:?} after the kill (lease {LEASE:?})",
        lost["status"], lost["verdict"], lost["error"]["code"]
    );
    assert_eq!(lost["status"], "failed", "{lost}");
    assert_eq!(lost["error"]["code"], "worker.lost", "{lost}");
    assert!(
        lost_after < LOST_WITHIN,
        "worker.lost {lost_after:?} after the kill, not within {LOST_WITHIN:?}"
    );
    let end = transcript.final_status();
    assert_eq!(end["status"], "failed", "{:?}", transcript.frames);
    assert_eq!(
        end["error"]["code"], "worker.lost",
        "{:?}",
        transcript.frames
    );
    assert_eq!(transcript.close_code(), Some(1000));
    println!("its terminal on a1 got the final status with worker.lost and a normal close");
    assert_eq!(other["status"], "completed", "{other}");
    assert_eq!(other["stdout"], "reclaimed\n", "{other}");
    println!("the ghost-taken job completed on w2 {other_after:?} after the ghost took it");

    // w1 started again under the same name removes what it left.
    let still = cluster.containers_of("w1");
    println!(
        "before w1's restart, {} of its container(s) still on the engine ({})",
        still.len(),
        if still.is_empty() {
            "none left"
        } else {
            "the killed run's"
        }
    );
    let began = Instant::now();
    let w1 = cluster.worker("w1").await;
    let left = cluster.containers_of("w1");
    assert!(
        left.is_empty(),
        "w1 started again is healthy but containers of its instance remain: {left:?}"
    );
    println!(
        "w1 started again, healthy in {:?}, with no container of its name left",
        began.elapsed()
    );

    tokio::join!(w1.stop(), w2.stop());
    a1.stop().await;
    println!("the whole case took {:?}", t0.elapsed());
}

#[tokio::test]
async fn redis_restarted_under_executions_in_flight() {
    if !cluster_or_skip() {
        return;
    }
    const BEFORE: usize = 10;
    const AFTER: usize = 4;
    let _one = ONE_CLUSTER.lock().await;
    let t0 = Instant::now();
    let mut cluster = Cluster::start("restart", &["python"])
        .await
        .every_node("CONCURRENT_EXECUTIONS", 2)
        .every_node("MONACO_POOL_SIZE", 1);
    let (a1, a2, w1, w2) = cluster.four_nodes(t0).await;
    let nodes = [("a1", &a1), ("a2", &a2), ("w1", &w1), ("w2", &w2)];

    let short = |n: usize| {
        request(
            "python",
            &format!("import time\ntime.sleep(0.5)\nprint('short {n}')\n"),
            Some(""),
        )
    };
    let mut ids = Vec::new();
    for n in 0..BEFORE {
        let node = if n % 2 == 0 { &a1 } else { &a2 };
        ids.push(node.submit(&short(n)).await);
    }
    let mut states = Vec::new();
    for id in &ids {
        states.push(a1.status(id).await);
    }
    println!("{BEFORE} accepted; at the stop: {states:?}");

    // Redis stops (SIGTERM: its AOF is written out).
    let stopped_in = cluster.redis.stop().await;
    let down = Instant::now();
    println!("redis-server stopped in {stopped_in:?}");
    let http = quick_client();
    for (name, node) in [("a1", &a1), ("a2", &a2)] {
        let began = Instant::now();
        loop {
            let r = http
                .post(node.url("/api/submit"))
                .json(&short(99))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                    let body = expect_broker_unavailable(r).await;
                    println!(
                        "{name}: POST /api/submit with Redis down: 503 {} after {:?}",
                        body["error"]["code"],
                        began.elapsed()
                    );
                    break;
                }
                Ok(r) => panic!(
                    "{name}: POST /api/submit with Redis down: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                ),
                Err(e) => {
                    assert!(
                        began.elapsed() < NOTICE_WITHIN,
                        "{name}: POST /api/submit with Redis down did not answer: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    for (name, node) in nodes {
        let after = wait_health(node, name, false, NOTICE_WITHIN).await;
        println!("{name}: /api/health 503 broker:false {after:?} into the outage");
    }

    if down.elapsed() < OUTAGE {
        tokio::time::sleep(OUTAGE - down.elapsed()).await;
    }

    // Redis comes back with its AOF; every node recovers by itself.
    let restart = cluster.redis.start_again().await;
    let back = Instant::now();
    println!(
        "redis-server down {:?}, started again in {restart:?} (AOF replayed)",
        back - down
    );
    for (name, node) in nodes {
        let after = wait_health(node, name, true, NOTICE_WITHIN).await;
        println!("{name}: /api/health 200 broker:true {after:?} after Redis came back");
    }
    let mut after_ids = Vec::new();
    for n in 0..AFTER {
        let node = if n % 2 == 0 { &a2 } else { &a1 };
        after_ids.push((n, node.submit(&short(100 + n)).await));
    }

    // Every accepted execution ends; the ones submitted after the restart
    // complete.
    let all: Vec<&String> = ids
        .iter()
        .chain(after_ids.iter().map(|(_, id)| id))
        .collect();
    let results = join_all(all.iter().map(|id| wait_final(&a2, id, SETTLE_WITHIN))).await;
    let completed = results
        .iter()
        .filter(|r| r["status"] == "completed")
        .count();
    let endings: Vec<String> = results
        .iter()
        .map(|r| {
            if r["status"] == "completed" {
                "completed".to_string()
            } else {
                format!("{}/{}/{}", r["status"], r["verdict"], r["error"]["code"])
            }
        })
        .collect();
    println!(
        "{} accepted ({BEFORE} before the stop, {AFTER} after), all final {:?} after Redis \
         came back; {completed} completed: {endings:?}",
        all.len(),
        back.elapsed()
    );
    for (result, id) in results.iter().zip(&all) {
        assert!(
            support::is_final(result["status"].as_str().unwrap_or_default()),
            "{id}: {result}"
        );
    }
    for ((n, id), result) in after_ids.iter().zip(&results[BEFORE..]) {
        assert_eq!(result["id"], id.as_str(), "{result}");
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(
            result["stdout"],
            format!("short {}\n", 100 + n).as_str(),
            "{result}"
        );
    }

    tokio::join!(w1.stop(), w2.stop());
    tokio::join!(a1.stop(), a2.stop());
    println!("the whole case took {:?}", t0.elapsed());
}

/// `api` and `worker` need a broker: without `MONACO_BROKER_URL` the
/// server refuses to start, with exit code 2.
#[tokio::test]
async fn a_role_without_a_broker_does_not_start() {
    for role in ["api", "worker"] {
        let launch = Launch::new(support::server_binary(), support::workspace_root())
            .log_dir(env!("CARGO_TARGET_TMPDIR"))
            .setting("MONACO_LANGUAGES", support::languages_subset(&["python"]))
            .setting("MONACO_INSTANCE", format!("cluster-nobroker-{role}"))
            .setting("MONACO_ROLE", role);
        match ServerProcess::start(&launch).await {
            Err(StartError::Exited { status, log }) => {
                assert_eq!(status.code(), Some(2), "{role}: {status}; its log:\n{log}");
                println!(
                    "MONACO_ROLE={role} without MONACO_BROKER_URL: exit 2, saying {:?}",
                    log.trim()
                );
            }
            Err(e) => panic!("{role}: {e}"),
            Ok(server) => {
                let log = server.log().tail();
                server.stop().await;
                panic!("MONACO_ROLE={role} without a broker started; its log:\n{log}");
            }
        }
    }
}
