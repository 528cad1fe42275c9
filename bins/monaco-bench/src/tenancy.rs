//! Opt-in section `tenancy`: what API keys, ownership checks and rate
//! limiting cost on the hot path.
//!
//! Two servers run side by side, both python-only with the warm pool on:
//! one open (no keys), one with a keys file made by `monaco-server keygen`
//! whose key has a rate limit and quotas far above what the bench uses (so
//! every submission takes a token and is counted, and none is refused).
//! Each round times, on each server in turn (the order alternates),
//!
//! - **execute**: python hello world through `POST /api/execute`, with
//!   `X-Api-Key` on the keyed server;
//! - **status**: 20 `GET /api/status/{id}` of that execution, one after
//!   another: the HTTP path with authentication and the ownership check,
//!   without any execution, where a fraction of a millisecond shows.
//!
//! Round 0 is a warm-up. Before each execution the bench waits, untimed,
//! until the containers stop changing (both servers share the run's
//! instance name; the second does not reap strays, so it leaves the
//! first's warm containers alone).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::engine::Engine;
use crate::server::{json_body, Launch, Server};
use crate::stats::Samples;
use crate::table::Table;

/// Status requests timed per round and server.
const STATUS_PER_ROUND: usize = 20;

/// One server's figures.
#[derive(Default)]
pub struct Mode {
    pub execute: Samples,
    pub status: Samples,
}

/// Both servers' figures.
pub struct TenancyFigures {
    pub open: Mode,
    pub keyed: Mode,
    pub noisy_waits: usize,
}

/// A server and the key its requests carry (`None`: open).
struct Target {
    server: Server,
    key: Option<String>,
}

impl Target {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.server.http().request(method, self.server.url(path));
        match &self.key {
            Some(key) => builder.header("x-api-key", key),
            None => builder,
        }
    }

    /// One hello world through `/api/execute`; its time and id.
    async fn execute(&self) -> Result<(Duration, String), String> {
        let body = json!({"language": "python", "code": "print('Hello, World!')"});
        let started = Instant::now();
        let response = self
            .request(reqwest::Method::POST, "/api/execute")
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST /api/execute: {e}"))?;
        let result = json_body(response, StatusCode::OK).await?;
        let elapsed = started.elapsed();
        if result["stdout"] != "Hello, World!\n" {
            return Err(format!("unexpected result: {result}"));
        }
        let id = result["id"].as_str().ok_or("no id")?.to_string();
        Ok((elapsed, id))
    }

    /// One `GET /api/status/{id}`.
    async fn status(&self, id: &str) -> Result<Duration, String> {
        let started = Instant::now();
        let response = self
            .request(reqwest::Method::GET, &format!("/api/status/{id}"))
            .send()
            .await
            .map_err(|e| format!("GET /api/status: {e}"))?;
        let status = json_body(response, StatusCode::OK).await?;
        let elapsed = started.elapsed();
        if status["id"] != id {
            return Err(format!("unexpected status: {status}"));
        }
        Ok(elapsed)
    }
}

/// A key from `monaco-server keygen`: (secret, table).
fn keygen(binary: &std::path::Path) -> Result<(String, String), String> {
    let out = Command::new(binary)
        .args(["keygen", "--id", "bench"])
        .output()
        .map_err(|e| format!("monaco-server keygen: {e}"))?;
    if !out.status.success() {
        return Err(format!("monaco-server keygen failed: {out:?}"));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (secret, table) = text.split_once('\n').ok_or("keygen printed one line")?;
    Ok((secret.trim().to_string(), table.trim().to_string()))
}

/// The python table of `languages.toml`, alone in a file.
pub(crate) fn python_only(
    root: &std::path::Path,
    dir: &std::path::Path,
) -> Result<PathBuf, String> {
    let all = std::fs::read_to_string(root.join("languages.toml"))
        .map_err(|e| format!("languages.toml: {e}"))?;
    let mut tables = all.split("[[language]]\n");
    let mut out = tables.next().unwrap_or_default().to_string();
    for table in tables {
        if table.lines().any(|l| l.trim() == "id = \"python\"") {
            out.push_str("[[language]]\n");
            out.push_str(table);
        }
    }
    let path = dir.join("languages-python.toml");
    std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs the section: `iterations` timed rounds after a warm-up.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    iterations: usize,
) -> Result<TenancyFigures, String> {
    let binary = launch.binary.as_ref().ok_or("no server binary")?;
    let dir = std::env::temp_dir().join(format!("monaco-bench-tenancy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let result = measure_in(launch, engine, iterations, &binary.path, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure_in(
    launch: &Launch,
    engine: &Engine,
    iterations: usize,
    binary: &std::path::Path,
    dir: &std::path::Path,
) -> Result<TenancyFigures, String> {
    let languages = python_only(&launch.root, dir)?;
    let languages = languages.display().to_string();
    let (secret, table) = keygen(binary)?;
    let keys = dir.join("keys.toml");
    let limits = "rate_per_minute = 1000000\nmax_running = 100000\nmax_queued = 100000";
    std::fs::write(&keys, format!("{table}\n{limits}\n"))
        .map_err(|e| format!("{}: {e}", keys.display()))?;
    let keys = keys.display().to_string();
    let open = Target {
        server: Server::start(launch, &[("MONACO_LANGUAGES", &languages)]).await?,
        key: None,
    };
    let keyed = Target {
        server: Server::start(
            launch,
            &[
                ("MONACO_LANGUAGES", &languages),
                ("MONACO_API_KEYS_FILE", &keys),
                // The open server's warm containers share the instance name.
                ("MONACO_REAP_STRAYS", "false"),
            ],
        )
        .await?,
        key: Some(secret),
    };
    let mut figures = TenancyFigures {
        open: Mode::default(),
        keyed: Mode::default(),
        noisy_waits: 0,
    };
    eprintln!("tenancy: {iterations} rounds after a warm-up…");
    for round in 0..=iterations {
        let counted = round > 0;
        let order: [(&Target, bool); 2] = if round % 2 == 0 {
            [(&open, false), (&keyed, true)]
        } else {
            [(&keyed, true), (&open, false)]
        };
        for (target, is_keyed) in order {
            let quiet = engine.wait_quiet().await;
            let executed = target.execute().await;
            if !counted {
                continue;
            }
            figures.noisy_waits += usize::from(!quiet);
            let mode = if is_keyed {
                &mut figures.keyed
            } else {
                &mut figures.open
            };
            match executed {
                Ok((time, id)) => {
                    mode.execute.record(Ok(time));
                    for _ in 0..STATUS_PER_ROUND {
                        mode.status.record(target.status(&id).await);
                    }
                }
                Err(e) => mode.execute.record(Err(e)),
            }
        }
    }
    open.server.stop().await;
    keyed.server.stop().await;
    Ok(figures)
}

/// The section's table: each mode on both servers, and the difference.
pub fn print(figures: &TenancyFigures) {
    println!("\n== tenancy: API keys + rate limit + quotas on vs off (python hello world) ==");
    let mut table = Table::new(&[
        "measure",
        "open p50 ms",
        "open p99 ms",
        "keys p50 ms",
        "keys p99 ms",
        "p50 keys − open ms",
        "n",
        "failed",
    ]);
    let cell = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for (name, open, keyed, digits) in [
        (
            "POST /api/execute",
            &figures.open.execute,
            &figures.keyed.execute,
            1,
        ),
        (
            "GET /api/status/{id}",
            &figures.open.status,
            &figures.keyed.status,
            3,
        ),
    ] {
        let diff = open.p50().zip(keyed.p50()).map(|(o, k)| k - o);
        table.push(vec![
            name.to_string(),
            cell(open.p50(), digits),
            cell(open.p99(), digits),
            cell(keyed.p50(), digits),
            cell(keyed.p99(), digits),
            cell(diff, 3),
            format!("{}/{}", open.times.len(), keyed.times.len()),
            format!("{}/{}", open.failures.len(), keyed.failures.len()),
        ]);
    }
    table.print();
    for failure in figures
        .open
        .execute
        .failures
        .iter()
        .chain(&figures.keyed.execute.failures)
        .take(3)
    {
        println!("  failed: {failure}");
    }
    let target = figures
        .open
        .execute
        .p50()
        .zip(figures.keyed.execute.p50())
        .map(|(o, k)| k - o);
    match target {
        Some(d) => println!(
            "target: keys and limits add at most 0.5 ms at p50 to /api/execute: {d:+.3} ms, {} \
             (execute varies by more than that between rounds; the status row isolates the HTTP path)",
            if d <= 0.5 { "met" } else { "missed" }
        ),
        None => println!("target: not measured"),
    }
    if figures.noisy_waits > 0 {
        println!(
            "note: {} rounds measured before the containers settled",
            figures.noisy_waits
        );
    }
}
