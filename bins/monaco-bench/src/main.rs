//! `monaco-bench`: what Monaco costs, beside what the alternatives cost,
//! measured in the same run on the same machine and images.
//!
//! ```text
//! cargo build --release -p monaco-server -p monaco-bench
//! MONACO_AGENT=$(scripts/build-agent.sh) target/release/monaco-bench \
//!     [--sections latency,throughput,memory,driver,graders,metrics,tenancy,flood,cluster] \
//!     [--iterations 20] \
//!     [--throughput-count 40] [--languages python,c,...] \
//!     [--server target/release/monaco-server]
//! ```
//!
//! It starts the real `monaco-server` binary itself (`--server`, else
//! `target/release/monaco-server`, else `target/debug/monaco-server`; it
//! says which, since a debug build is slower) on an ephemeral 127.0.0.1
//! port, talks to it only through the public HTTP and WebSocket API, and
//! stops it with SIGTERM. Every server of a run has `MONACO_INSTANCE=
//! bench-<pid>`, so that its containers are told apart from anyone else's on
//! a shared engine.
//!
//! ## What is measured, and why
//!
//! 1. **Latency** ([`latency`]): a person pressing "Run" feels the time to
//!    the answer (`POST /api/execute`) and, in a terminal, the time to the
//!    first byte of output (submit, then the WebSocket). Hello world per
//!    language, one at a time, p50 and p99.
//! 2. **Baselines** ([`baseline`]), in the same rounds and on the same
//!    images: plain `docker run --rm` (how the original Go service ran
//!    code: the cost of "a container per run" with stock tools) and the
//!    host's own toolchain (the floor: what compiling and running cost with
//!    no container at all).
//! 3. **Throughput** ([`throughput`]): what a grader feels. Executions per
//!    second at concurrency 1, 2, 4 and 8, beside the engine's ceiling: the
//!    rate at which the same engine can create, start and remove an empty
//!    container at that concurrency. Monaco uses one fresh container per
//!    execution, so the engine bounds it; the ratio is Monaco's efficiency.
//!    Around each timed loop, the CPU each operation cost the machine
//!    ([`cpu`]): the server's, the engine daemons', the clients' and the
//!    rest, beside a bare container lifecycle's.
//! 4. **Memory** ([`memory`]): the server's resident set idle (pool off and
//!    pool full) and with 1,000 executions queued: what a host must
//!    reserve for the server itself.
//! 5. **Driver** ([`driver`], opt-in: `--sections driver`): hello world
//!    through `DockerSandbox::start` alone, in this process, with no
//!    server, beside the same baselines in the same rounds. Beside the
//!    latency section it separates what the server adds from what the
//!    driver costs. It runs the driver four ways in the same rounds: cold
//!    containers, cold with the run step's limits through `docker update`,
//!    with the warm pool, and with the warm pool and stdin a terminal (the
//!    job interactive); it splits the warm driver's time outside the steps
//!    by when its events arrive (before the first step, between compile
//!    and run, after the run step); and it times the run step's argv by
//!    `docker exec` in the same image with the same limits, and with none
//!    ([`exec_baseline`]), beside the agent's run step. It is left out of
//!    the default run, which measures the service as clients see it; it
//!    needs no server binary.
//! 6. **Graders** ([`graders`], opt-in: `--sections graders`): a+b in C
//!    and Python with 100 test cases, as one execution with `tests`, as 100
//!    separate executions, and natively, in the same rounds: what running
//!    the cases in one sandbox after one compile saves a grader.
//! 7. **Metrics** ([`metrics`], opt-in: `--sections metrics`): `/metrics`
//!    scrape time with 10,000 results held beside `/api/health`, and
//!    python hello world with metrics on vs off, taking turns.
//! 8. **Flood** ([`flood`], opt-in: `--sections flood`): a Python print
//!    loop to the 1 MiB output cap over the WebSocket: time to full
//!    delivery, lag after the program, frames, beside an earlier agent's
//!    (`MONACO_BENCH_BASELINE_AGENT`) in the same rounds.
//! 9. **Cluster** ([`cluster`], opt-in: `--sections cluster`): python hello
//!    world through an `api` node and one `worker` over a redis-server of
//!    the bench's own, beside a single server in the same rounds (the
//!    broker's cost at p50); then executions per second at concurrency 8
//!    with one worker and with two, each worker on a private Docker engine.
//!
//! A final table ([`report`]) puts the ratios (Monaco ÷ native, Monaco −
//! native, Monaco ÷ docker-run, throughput ÷ ceiling) beside the targets of
//! issue #4 and says met or missed — as information. The program prints
//! figures and never fails on a time: the exit code is 0 unless a section
//! could not run at all (no server binary, no Docker) or the server left
//! containers behind.
//!
//! ## Bounds and clean-up
//!
//! Every count comes from a flag with an upper bound; every request, process
//! and wait has a timeout. Sections run one after another, each with its
//! own server, stopped before the next starts. At the end, containers the
//! bench started itself (labelled `monaco.bench=<instance>`: a `docker run`
//! cut short, an empty container of the ceiling) are removed, and any
//! container left by a server is reported. Ctrl-C stops the servers and
//! cleans up the same way.
//!
//! On a shared or small machine the figures are noisy; the run prints the
//! load average at its start and end. Modes take turns within a section so
//! that drifting load is shared evenly between them.

mod baseline;
mod cluster;
mod cpu;
mod driver;
mod engine;
mod exec_baseline;
mod flood;
mod graders;
mod latency;
mod memory;
mod metrics;
mod options;
mod report;
mod server;
mod stats;
mod table;
mod tenancy;
mod throughput;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use monaco_languages::Registry;

use engine::Engine;
use options::{Options, USAGE};
use report::Figures;
use server::{Launch, ServerBinary};

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("monaco-bench: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let setup = match Setup::new(&options).await {
        Ok(setup) => setup,
        Err(message) => {
            eprintln!("monaco-bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    let complete = tokio::select! {
        complete = run(&setup, &options) => complete,
        _ = tokio::signal::ctrl_c() => {
            // Dropping `run` stopped its server (SIGTERM, see the Drop of
            // `monaco_testkit::ServerProcess`) or its sandbox execution.
            eprintln!("monaco-bench: interrupted; cleaning up");
            false
        }
    };
    let clean = clean_up(&setup.engine).await;
    println!("load average at the end: {}", report::load_average());
    if complete && clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What every section needs.
struct Setup {
    launch: Launch,
    engine: Engine,
    registry: Registry,
    /// The languages of the latency and driver sections, in the
    /// registry's order unless `--languages` chose.
    languages: Vec<String>,
}

impl Setup {
    async fn new(options: &Options) -> Result<Setup, String> {
        let root = workspace_root();
        let languages = root.join("languages.toml");
        let registry = Registry::load(&languages)
            .map_err(|e| format!("could not load {}: {e}", languages.display()))?;
        if let Some(unknown) = options
            .languages
            .iter()
            .find(|id| registry.get(id).is_none())
        {
            return Err(format!(
                "--languages: {unknown:?} is not in {} (known: {})",
                languages.display(),
                registry.ids().join(", ")
            ));
        }
        let languages = if options.languages.is_empty() {
            registry.ids().iter().map(|id| id.to_string()).collect()
        } else {
            options.languages.clone()
        };
        let binary = if options.sections.need_server() {
            Some(ServerBinary::find(options.server.clone(), &root)?)
        } else {
            None
        };
        let instance = format!("bench-{}", std::process::id());
        let engine = Engine::connect(&instance).await?;
        Ok(Setup {
            launch: Launch {
                binary,
                root,
                instance,
            },
            engine,
            registry,
            languages,
        })
    }
}

/// Runs the chosen sections and prints their tables and the summary.
/// `false` when a section could not run.
async fn run(setup: &Setup, options: &Options) -> bool {
    let Setup {
        launch,
        engine,
        registry,
        languages,
    } = setup;
    report::print_context(launch, engine, options, languages).await;
    let mut figures = Figures::default();
    let mut complete = true;
    if options.sections.latency {
        let measured =
            latency::measure(launch, engine, registry, languages, options.iterations).await;
        match measured {
            Ok(rows) => {
                report::print_latency(&rows);
                figures.latency = Some(rows);
            }
            Err(e) => {
                report::print_section_failed("latency", &e);
                complete = false;
            }
        }
    }
    if options.sections.driver {
        let measured =
            driver::measure(&launch.instance, registry, languages, options.iterations).await;
        match measured {
            Ok(rows) => {
                report::print_driver(&rows);
                figures.driver = Some(rows);
            }
            Err(e) => {
                report::print_section_failed("driver", &e);
                complete = false;
            }
        }
    }
    if options.sections.graders {
        match graders::measure(launch, engine, registry, options.graders_rounds).await {
            Ok(rows) => graders::print(&rows),
            Err(e) => {
                report::print_section_failed("graders", &e);
                complete = false;
            }
        }
    }
    if options.sections.metrics {
        match metrics::measure(launch, options.iterations).await {
            Ok(cost) => metrics::print(&cost),
            Err(e) => {
                report::print_section_failed("metrics", &e);
                complete = false;
            }
        }
    }
    if options.sections.flood {
        match flood::measure(launch, engine, registry, options.iterations).await {
            Ok(rows) => {
                flood::print(&rows);
                figures.flood = Some(rows);
            }
            Err(e) => {
                report::print_section_failed("flood", &e);
                complete = false;
            }
        }
    }
    if options.sections.tenancy {
        match tenancy::measure(launch, engine, options.iterations).await {
            Ok(figures) => tenancy::print(&figures),
            Err(e) => {
                report::print_section_failed("tenancy", &e);
                complete = false;
            }
        }
    }
    if options.sections.cluster {
        let measured = cluster::measure(
            launch,
            engine,
            registry,
            options.iterations,
            options.throughput_count,
        )
        .await;
        match measured {
            Ok(figures) => cluster::print(&figures),
            Err(e) => {
                report::print_section_failed("cluster", &e);
                complete = false;
            }
        }
    }
    if options.sections.throughput {
        match throughput::measure(launch, engine, registry, options.throughput_count).await {
            Ok(levels) => {
                report::print_throughput(&levels);
                figures.throughput = Some(levels);
            }
            Err(e) => {
                report::print_section_failed("throughput", &e);
                complete = false;
            }
        }
    }
    if options.sections.memory {
        let memory = memory::measure(launch, engine).await;
        complete &= memory.idle_without_pool.is_ok()
            && memory.idle_with_pool.is_ok()
            && memory.queued.is_ok();
        report::print_memory(&memory);
        figures.memory = Some(memory);
    }
    report::print_summary(&figures);
    complete
}

/// Removes what the bench started itself; reports what a server left.
/// `false` when a server left containers or the engine could not be asked.
async fn clean_up(engine: &Engine) -> bool {
    match engine.clean_up().await {
        Ok((removed, left)) => {
            if removed > 0 {
                println!("removed {removed} container(s) the bench had started itself");
            }
            if left > 0 {
                println!(
                    "warning: {left} container(s) of this run's servers or sandbox \
                     driver remain (label monaco.instance)"
                );
            }
            left == 0
        }
        Err(e) => {
            println!("warning: could not check for containers left behind: {e}");
            false
        }
    }
}

/// The workspace root (this package lives in `<root>/bins/monaco-bench`):
/// where `languages.toml` and `target/` are.
fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}
