//! Printing: the context of a run, one table per section, and the final
//! table of ratios beside the targets.

use crate::baseline::{Baselines, Program};
use crate::cpu::CpuCost;
use crate::driver::DriverLatency;
use crate::engine::Engine;
use crate::flood::FloodRow;
use crate::latency::LanguageLatency;
use crate::memory::{Memory, QUEUED};
use crate::options::Options;
use crate::server::Launch;
use crate::stats::Samples;
use crate::table::Table;
use crate::throughput::Level;

/// Largest p50 overhead of Monaco over native, milliseconds (issue #4).
const TARGET_OVERHEAD_MS: f64 = 20.0;
/// How many times lower than `docker run --rm` Monaco's p50 should be, and
/// for which languages.
const TARGET_DOCKER_RUN_FACTOR: f64 = 5.0;
const DOCKER_RUN_TARGET_LANGUAGES: &[&str] = &["python", "javascript"];
/// Smallest share of the engine's ceiling at this concurrency.
const TARGET_CEILING_SHARE: f64 = 0.8;
const TARGET_CEILING_CONCURRENCY: usize = 8;
/// Largest resident memory idle, and with 1,000 executions queued, MiB.
const TARGET_IDLE_MIB: f64 = 30.0;
const TARGET_QUEUED_MIB: f64 = 150.0;

const MIB: f64 = 1024.0 * 1024.0;
/// Issue #14: Monaco's time outside the agent's steps, p50, at most.
const TARGET_OUTSIDE_STEPS_MS: f64 = 5.0;
/// Issue #14: JavaScript end-to-end at least this many times faster than
/// `docker run --rm`.
const TARGET_JS_DOCKER_RUN_FACTOR: f64 = 3.0;
/// Issue #14: a 1 MiB flood fully delivered within this long after the
/// program wrote it, in fewer frames than this.
const TARGET_FLOOD_LAG_MS: f64 = 300.0;
const TARGET_FLOOD_FRAMES: f64 = 100.0;

/// Everything a run measured, for the final table.
#[derive(Default)]
pub struct Figures {
    pub latency: Option<Vec<LanguageLatency>>,
    pub throughput: Option<Vec<Level>>,
    pub memory: Option<Memory>,
    pub flood: Option<Vec<FloodRow>>,
    pub driver: Option<Vec<DriverLatency>>,
}

/// The machine, the engine, the server binary, and what will be measured.
pub async fn print_context(
    launch: &Launch,
    engine: &Engine,
    options: &Options,
    languages: &[String],
) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let running = engine
        .running()
        .await
        .map_or_else(|e| format!("unknown ({e})"), |n| n.to_string());
    println!("monaco-bench");
    match &launch.binary {
        Some(binary) => {
            println!("server: {} ({})", binary.path.display(), binary.kind);
            if binary.kind == "debug" {
                println!(
                    "        a debug build: its figures are slower than a release build's \
                     (cargo build --release -p monaco-server)"
                );
            }
        }
        None => println!("server: none (the chosen sections start none)"),
    }
    println!(
        "agent: {}",
        std::env::var("MONACO_AGENT").unwrap_or_else(|_| "found by the server".into())
    );
    if cfg!(debug_assertions) && options.sections.driver {
        println!(
            "        the driver section runs in this bench, a debug build: its figures are \
             slower than a release build's (cargo build --release -p monaco-bench)"
        );
    }
    println!(
        "machine: nproc {nproc}, {cpu}; load average {}",
        load_average()
    );
    println!(
        "docker: {}; containers already running: {running}",
        engine.version().await
    );
    println!(
        "instance: {} (MONACO_INSTANCE of every server and sandbox driver of this run)",
        launch.instance
    );
    let s = options.sections;
    let mut sections = Vec::new();
    if s.latency {
        sections.push(format!(
            "latency ({} rounds after 1 warm-up; {})",
            options.iterations,
            languages.join(", ")
        ));
    }
    if s.driver {
        sections.push(format!(
            "driver ({} rounds after 1 warm-up; {})",
            options.iterations,
            languages.join(", ")
        ));
    }
    if s.graders {
        sections.push(format!(
            "graders ({} rounds after 1 warm-up request; c, python; {} cases)",
            options.graders_rounds,
            crate::graders::CASES
        ));
    }
    if s.metrics {
        sections.push(format!(
            "metrics (200 scrapes with 0 and {} results held; python hello, {} rounds \
             after 1 warm-up, metrics on and off)",
            crate::metrics::HELD,
            options.iterations
        ));
    }
    if s.tenancy {
        sections.push(format!(
            "tenancy ({} rounds after 1 warm-up; python; open and keyed servers)",
            options.iterations
        ));
    }
    if s.flood {
        sections.push(format!(
            "flood ({} rounds after 1 warm-up; python print loop to the 1 MiB cap; \
             baseline agent: {})",
            options.iterations,
            std::env::var("MONACO_BENCH_BASELINE_AGENT").unwrap_or_else(|_| "none".into())
        ));
    }
    if s.cluster {
        sections.push(format!(
            "cluster ({} rounds after 1 warm-up; python; one server and api + worker; \
             {} executions at concurrency 8 with one worker and with two)",
            options.iterations, options.throughput_count
        ));
    }
    if s.throughput {
        sections.push(format!(
            "throughput ({} executions per level and side)",
            options.throughput_count
        ));
    }
    if s.memory {
        sections.push("memory".into());
    }
    println!("sections: {}", sections.join("; "));
    println!("times in ms; p50/p99 are nearest-rank percentiles");
    println!();
}

/// The load average, `1m 5m 15m`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A section that could not run at all.
pub fn print_section_failed(section: &str, error: &str) {
    println!("== {section}: could not run ==");
    println!("{error}");
    println!();
}

/// Section 1 and 2.
pub fn print_latency(rows: &[LanguageLatency]) {
    println!("== latency: hello world, one at a time ==");
    let mut table = Table::new(&[
        "language",
        "execute p50",
        "p99",
        "first byte p50",
        "p99",
        "docker-run p50",
        "p99",
        "native p50",
        "p99",
        "agent steps p50",
        "compile p50",
        "run p50",
        "outside steps p50",
    ]);
    for row in rows {
        table.push(vec![
            row.program.id.clone(),
            fmt_ms(row.execute.p50()),
            fmt_ms(row.execute.p99()),
            fmt_ms(row.first_byte.p50()),
            fmt_ms(row.first_byte.p99()),
            fmt_ms(row.baselines.docker_run.p50()),
            fmt_ms(row.baselines.docker_run.p99()),
            fmt_ms(row.baselines.native.p50()),
            fmt_ms(row.baselines.native.p99()),
            fmt_ms(row.steps.p50()),
            fmt_ms(row.compile.p50()),
            fmt_ms(row.run.p50()),
            fmt_ms(row.outside_steps.p50()),
        ]);
    }
    table.print();
    println!(
        "execute: POST /api/execute to the parsed result. first byte: POST /api/submit to the \
         first `output` frame on WS /api/ws/terminal/{{id}}.\n\
         docker-run: docker run --rm -i --network none <image> sh -c 'write; compile; run'. \
         native: the host's toolchain in a fresh directory.\n\
         agent steps: compile + run wall time the agent measured inside the container; \
         outside steps: execute minus agent steps, per execution (what Monaco adds)."
    );
    for row in rows {
        print_notes(
            &row.program,
            &[("execute", &row.execute), ("first byte", &row.first_byte)],
            &row.baselines,
        );
        if row.noisy_waits > 0 {
            println!(
                "{}: {} times the server's containers did not settle within the bound \
                 (measured anyway)",
                row.program.id, row.noisy_waits
            );
        }
    }
    println!();
}

/// Section 5.
pub fn print_driver(rows: &[DriverLatency]) {
    println!("== driver: hello world through the sandbox driver alone, one at a time ==");
    let mut table = Table::new(&[
        "language",
        "driver p50",
        "p99",
        "outside steps p50",
        "docker update: driver p50",
        "outside steps p50",
        "warm pool: driver p50",
        "outside steps p50",
        "limits set",
        "docker-run p50",
        "p99",
        "native p50",
        "p99",
        "agent steps p50",
        "driver ÷ docker-run",
        "driver − native",
    ]);
    for row in rows {
        let driver = row.driver.p50();
        let docker = row.baselines.docker_run.p50();
        let native = row.baselines.native.p50();
        let (direct, engine) = row.limit_counts;
        table.push(vec![
            row.program.id.clone(),
            fmt_ms(driver),
            fmt_ms(row.driver.p99()),
            fmt_ms(row.outside.p50()),
            fmt_ms(row.engine_limits.p50()),
            fmt_ms(row.engine_limits_outside.p50()),
            fmt_ms(row.warm.p50()),
            fmt_ms(row.warm_outside.p50()),
            match (direct, engine) {
                (0, 0) => "no compile".into(),
                (d, 0) => format!("{d} in cgroup"),
                (0, e) => format!("{e} docker update"),
                (d, e) => format!("{d} cgroup, {e} update"),
            },
            fmt_ms(docker),
            fmt_ms(row.baselines.docker_run.p99()),
            fmt_ms(native),
            fmt_ms(row.baselines.native.p99()),
            fmt_ms(row.steps.p50()),
            fmt_times(ratio(driver, docker)),
            driver
                .zip(native)
                .map_or("n/a".into(), |(d, n)| format!("{:+.1}", d - n)),
        ]);
    }
    table.print();
    println!(
        "driver: DockerSandbox::start to the Finished event, in this process, cold container \
         (pool off), every hardening option on; outside steps: driver minus the agent's \
         compile + run wall time, per execution.\n\
         docker update: the same driver with the run step's limits always set through the \
         engine (direct_cgroup_limits off), in the same rounds: the driver before it wrote \
         them into the container's cgroup itself. warm pool: the first driver with the pool on, \
         a container ready before the clock starts (what a server's hand-over costs, without \
         the server). limits set: how the first driver set them.\n\
         docker-run and native as in the latency section; agent steps: compile + run wall \
         time the agent measured inside the container."
    );
    print_run_step(rows);
    print_outside_split(rows);
    for row in rows {
        print_notes(
            &row.program,
            &[
                ("driver", &row.driver),
                ("driver, docker update", &row.engine_limits),
                ("driver, warm pool", &row.warm),
                ("driver, warm pool, stdin a terminal", &row.tty_run_step),
                ("docker exec run", &row.exec_run),
                ("docker exec run, no limits", &row.exec_bare),
            ],
            &row.baselines,
        );
    }
    println!();
}

/// Where the warm driver's time outside the agent's steps goes.
fn print_outside_split(rows: &[DriverLatency]) {
    println!();
    println!("== driver: where the warm pool driver's time outside the steps goes (p50) ==");
    let mut table = Table::new(&[
        "language",
        "outside steps",
        "before the first step",
        "between compile and run",
        "after the run step",
    ]);
    for row in rows {
        let split = &row.warm_split;
        table.push(vec![
            row.program.id.clone(),
            fmt_ms(row.warm_outside.p50()),
            fmt_ms(split.before.p50()),
            if row.program.compiled() {
                fmt_ms(split.between.p50())
            } else {
                "n/a".into()
            },
            fmt_ms(split.after.p50()),
        ]);
    }
    table.print();
    println!(
        "the warm pool driver (a container ready before the clock starts), split by when its \
         events arrived: before: start to the first step's StepStarted (the hand-over, the \
         job to the agent, its files written); between: the compile step's end to the run \
         step's StepStarted (compile clean-up, its report, the run step's limits, the \
         go-ahead, the run step's set-up); after: the run step's end to Finished (clean-up, \
         report, the agent's exit, the outcome). Steps' ends from their wallUs. The parts' \
         p50s need not add up to the whole's."
    );
}

/// The run step beside the same command by `docker exec` (issue #14's
/// target: within 10 % or 5 ms of it, whichever is larger).
fn print_run_step(rows: &[DriverLatency]) {
    println!();
    println!("-- the run step beside the same command by docker exec, same image and limits --");
    let mut table = Table::new(&[
        "language",
        "run step p50",
        "p99",
        "docker exec p50",
        "p99",
        "exec, no limits p50",
        "run step, stdin a terminal p50",
        "run step − exec",
        "target",
        "status",
    ]);
    table.align_left(&[0, 8, 9]);
    for row in rows {
        let (over, allowed) = run_step_over(row);
        table.push(vec![
            row.program.id.clone(),
            fmt_ms(row.run_step.p50()),
            fmt_ms(row.run_step.p99()),
            fmt_ms(row.exec_run.p50()),
            fmt_ms(row.exec_run.p99()),
            fmt_ms(row.exec_bare.p50()),
            fmt_ms(row.tty_run_step.p50()),
            over.map_or("n/a".into(), |d| format!("{d:+.1}")),
            allowed.map_or("n/a".into(), |a| format!("≤ +{a:.1} ms")),
            match (over, allowed) {
                (Some(d), Some(a)) => at_most(Some(d), a, "ms"),
                _ => "n/a".into(),
            },
        ]);
    }
    table.print();
    println!(
        "run step: its wall time as the agent measured it in the driver \
         rows above; docker exec: the run step's argv with the step's environment (env -i) as \
         uid 65534 in a long-lived container of the same image with the sandbox's limits and \
         hardening options, timed by bash's `time` inside it (the exec round trip is not in \
         it), in the same rounds; exec, no limits: the same in a container of the same image \
         with none of the limits and hardening options (what they cost together); stdin a \
         terminal: the warm pool driver's run step of the same job made interactive (stdin \
         the agent's pty instead of a pipe, as an editor's runs have it)."
    );
}

/// How far the run step's p50 is over `docker exec`'s, and how far it may
/// be: 10 % or 5 ms, whichever is larger.
fn run_step_over(row: &DriverLatency) -> (Option<f64>, Option<f64>) {
    let (step, exec) = (row.run_step.p50(), row.exec_run.p50());
    let over = step.zip(exec).map(|(s, e)| s - e);
    (over, exec.map(|e| (e * 0.1).max(5.0)))
}

/// Per language: the host's tools for the native runs, and the first
/// failure of each mode that had one.
fn print_notes(program: &Program, modes: &[(&str, &Samples)], baselines: &Baselines) {
    let id = &program.id;
    match &baselines.native_tools {
        Ok(tools) => println!("{id} native: {}", tools.describe()),
        Err(why) => println!("{id} native: n/a, {why}"),
    }
    let baseline_modes = [
        ("docker-run", &baselines.docker_run),
        ("native", &baselines.native),
    ];
    for &(mode, samples) in modes.iter().chain(&baseline_modes) {
        if let Some(first) = samples.failures.first() {
            println!(
                "{id} {mode}: {} failed (left out); the first: {first}",
                samples.failures.len()
            );
        }
    }
}

/// Section 3.
pub fn print_throughput(levels: &[Level]) {
    println!("== throughput: Python hello world, POST /api/execute, closed loop ==");
    let mut table = Table::new(&[
        "concurrency",
        "Monaco exec/s",
        "ceiling containers/s",
        "Monaco ÷ ceiling",
        "failed (Monaco/ceiling)",
    ]);
    for level in levels {
        let monaco = level.monaco.per_second();
        let ceiling = level.ceiling.per_second();
        table.push(vec![
            level.concurrency.to_string(),
            fmt_rate(monaco),
            fmt_rate(ceiling),
            fmt_percent(share(monaco, ceiling)),
            format!(
                "{}/{}",
                level.monaco.failures.len(),
                level.ceiling.failures.len()
            ),
        ]);
    }
    table.print();
    println!(
        "ceiling: create + start + wait + remove of an empty container of the same image \
         (`true`, network none), through the Engine API, at the same concurrency.\n\
         Monaco can pass the ceiling: its pool starts the next container and removes the \
         last one while the client waits, so the engine works on more containers at once \
         than there are clients."
    );
    print_cpu(levels);
    for level in levels {
        for (side, rate) in [("Monaco", &level.monaco), ("ceiling", &level.ceiling)] {
            if let Some(first) = rate.failures.first() {
                println!(
                    "concurrency {} {side}: the first failure: {first}",
                    level.concurrency
                );
            }
        }
    }
    println!();
}

/// The CPU each execution cost the machine, beside a bare container's.
fn print_cpu(levels: &[Level]) {
    println!();
    println!("-- CPU per operation during the timed loops, ms (from /proc accounting) --");
    let mut table = Table::new(&[
        "concurrency",
        "Monaco: machine",
        "server",
        "dockerd + containerd",
        "shims, runc, containers, kernel",
        "client",
        "bare container: machine",
        "dockerd + containerd",
        "shims, runc, container, kernel",
        "client",
        "Monaco − bare (no clients)",
    ]);
    let ms = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1}"));
    for level in levels {
        let (m, c) = (level.monaco_cpu, level.ceiling_cpu);
        table.push(vec![
            level.concurrency.to_string(),
            ms(m.map(|m| m.machine_ms)),
            ms(m.and_then(|m| m.server_ms)),
            ms(m.map(|m| m.daemons_ms)),
            ms(m.map(|m| m.rest_ms())),
            ms(m.map(|m| m.bench_ms)),
            ms(c.map(|c| c.machine_ms)),
            ms(c.map(|c| c.daemons_ms)),
            ms(c.map(|c| c.rest_ms())),
            ms(c.map(|c| c.bench_ms)),
            ms(monaco_share(m, c)),
        ]);
    }
    table.print();
    println!(
        "machine: all CPUs' busy time (/proc/stat) from the start of the timed loop until the \
         engine was quiet after it, per operation that succeeded; server: monaco-server's own \
         (/proc/<pid>/stat); client: this bench's; dockerd + containerd: the engine's daemons; \
         shims, runc, containers, kernel: the rest (the agent and the program, the kernel's \
         work for them, and on a busy machine whatever else ran). bare container: create, start, wait and remove of an empty container of \
         the same image through the Engine API, measured the same way. Monaco − bare: what \
         an execution costs beyond a container's lifecycle, clients left out."
    );
}

/// Machine CPU per execution beyond a bare container lifecycle, clients
/// left out.
fn monaco_share(monaco: Option<CpuCost>, bare: Option<CpuCost>) -> Option<f64> {
    monaco
        .zip(bare)
        .map(|(m, b)| m.without_client_ms() - b.without_client_ms())
}

/// Section 4.
pub fn print_memory(memory: &Memory) {
    println!("== memory: the server's resident set (VmRSS) ==");
    let mut table = Table::new(&["state", "resident MiB", "note"]);
    table.align_left(&[2]);
    table.push(vec![
        "idle, pool off".into(),
        fmt_mib(memory.idle_without_pool.as_ref().ok().copied()),
        why_not(&memory.idle_without_pool),
    ]);
    table.push(vec![
        "idle, pool full".into(),
        fmt_mib(memory.idle_with_pool.as_ref().ok().map(|(b, _)| *b)),
        match &memory.idle_with_pool {
            Ok((_, warm)) => format!("{warm} warm containers"),
            Err(e) => e.clone(),
        },
    ]);
    match &memory.queued {
        Ok(q) => {
            table.push(vec![
                "1 running, before the queue".into(),
                fmt_mib(Some(q.before)),
                String::new(),
            ]);
            let mut note = format!(
                "{} accepted, queueDepth {}",
                q.accepted,
                q.queue_depth.map_or("?".into(), |d| d.to_string())
            );
            if let Some(why) = &q.first_refusal {
                note.push_str(&format!("; {} refused, the first: {why}", q.refused));
            }
            table.push(vec![
                format!("1 running, {QUEUED} queued"),
                fmt_mib(Some(q.resident)),
                note,
            ]);
            table.push(vec![
                "after cancelling them all".into(),
                fmt_mib(Some(q.after_cancel)),
                "freed memory the allocator keeps stays resident".into(),
            ]);
        }
        Err(e) => table.push(vec![
            format!("1 running, {QUEUED} queued"),
            "n/a".into(),
            e.clone(),
        ]),
    }
    table.print();
    println!();
}

fn why_not<T>(result: &Result<T, String>) -> String {
    result.as_ref().err().cloned().unwrap_or_default()
}

/// The final table: each figure beside its target, met or missed. For
/// information only: nothing here changes the exit code.
pub fn print_summary(figures: &Figures) {
    if figures.latency.is_none()
        && figures.throughput.is_none()
        && figures.memory.is_none()
        && figures.flood.is_none()
        && figures.driver.is_none()
    {
        return;
    }
    println!("== summary: Monaco beside the baselines and the targets of issues #4 and #14 ==");
    let mut table = Table::new(&["figure", "measured", "target", "status"]);
    table.align_left(&[0, 2, 3]);
    for level in figures.throughput.iter().flatten() {
        if level.concurrency != TARGET_CEILING_CONCURRENCY {
            continue;
        }
        let (m, b) = (level.monaco_cpu, level.ceiling_cpu);
        table.push(vec![
            format!(
                "CPU per execution at concurrency {} (machine, no clients)",
                level.concurrency
            ),
            match (m, b) {
                (Some(m), Some(b)) => format!(
                    "{:.1} ms, bare container {:.1} ms, server {:.1} ms",
                    m.without_client_ms(),
                    b.without_client_ms(),
                    m.server_ms.unwrap_or(0.0)
                ),
                _ => "n/a".into(),
            },
            "reported beside a bare container".into(),
            match monaco_share(m, b) {
                Some(share) => format!("Monaco's share {share:+.1} ms"),
                None => "n/a".into(),
            },
        ]);
    }
    for row in figures.driver.iter().flatten() {
        let (over, allowed) = run_step_over(row);
        table.push(vec![
            format!("{}: run step − docker exec (p50)", row.program.id),
            over.map_or("n/a".into(), |d| format!("{d:+.1} ms")),
            allowed.map_or("≤ max(10 %, 5 ms)".into(), |a| {
                format!("≤ +{a:.1} ms (max 10 %, 5 ms)")
            }),
            match allowed {
                Some(a) => at_most(over, a, "ms"),
                None => "n/a".into(),
            },
        ]);
    }
    for row in figures.latency.iter().flatten() {
        let id = &row.program.id;
        let monaco = row.execute.p50();
        let native = row.baselines.native.p50();
        let docker = row.baselines.docker_run.p50();
        let overhead = monaco.zip(native).map(|(m, n)| m - n);
        table.push(vec![
            format!("{id}: Monaco − native, Monaco ÷ native (p50)"),
            match (overhead, ratio(monaco, native)) {
                (Some(d), Some(r)) => format!("{d:+.1} ms, {r:.2}×"),
                _ => "n/a".into(),
            },
            format!("≤ {TARGET_OVERHEAD_MS} ms over native"),
            at_most(overhead, TARGET_OVERHEAD_MS, "ms"),
        ]);
        let outside = row.outside_steps.p50();
        table.push(vec![
            format!("{id}: Monaco outside the agent's steps (p50)"),
            outside.map_or("n/a".into(), |v| format!("{v:.1} ms")),
            format!("≤ {TARGET_OUTSIDE_STEPS_MS} ms (#14)"),
            at_most(outside, TARGET_OUTSIDE_STEPS_MS, "ms"),
        ]);
        if id == "javascript" {
            let lower = ratio(docker, monaco);
            table.push(vec![
                "javascript: docker-run ÷ Monaco (p50)".into(),
                lower.map_or("n/a".into(), |l| format!("{l:.1}× lower")),
                format!("≥ {TARGET_JS_DOCKER_RUN_FACTOR}× lower (#14)"),
                at_least(lower, TARGET_JS_DOCKER_RUN_FACTOR, "×"),
            ]);
        }
        let targeted = DOCKER_RUN_TARGET_LANGUAGES.contains(&id.as_str());
        let lower = ratio(docker, monaco);
        table.push(vec![
            format!("{id}: Monaco ÷ docker-run (p50)"),
            match (ratio(monaco, docker), lower) {
                (Some(r), Some(l)) => format!("{r:.2}× ({l:.1}× lower)"),
                _ => "n/a".into(),
            },
            if targeted {
                format!("≥ {TARGET_DOCKER_RUN_FACTOR}× lower")
            } else {
                String::new()
            },
            if targeted {
                at_least(lower, TARGET_DOCKER_RUN_FACTOR, "×")
            } else {
                String::new()
            },
        ]);
    }
    for level in figures.throughput.iter().flatten() {
        let monaco = level.monaco.per_second();
        let ceiling = level.ceiling.per_second();
        let share = share(monaco, ceiling);
        let targeted = level.concurrency == TARGET_CEILING_CONCURRENCY;
        table.push(vec![
            format!("throughput ÷ ceiling, concurrency {}", level.concurrency),
            match (monaco, ceiling, share) {
                (Some(m), Some(c), Some(s)) => format!("{m:.1}/s ÷ {c:.1}/s = {:.0} %", s * 100.0),
                _ => "n/a".into(),
            },
            if targeted {
                format!("≥ {:.0} %", TARGET_CEILING_SHARE * 100.0)
            } else {
                String::new()
            },
            if targeted {
                at_least(
                    share.map(|s| s * 100.0),
                    TARGET_CEILING_SHARE * 100.0,
                    " points",
                )
            } else {
                String::new()
            },
        ]);
    }
    if let Some(memory) = &figures.memory {
        let readings = [
            (
                "memory idle, pool off".to_string(),
                memory.idle_without_pool.as_ref().ok().copied(),
                TARGET_IDLE_MIB,
            ),
            (
                match &memory.idle_with_pool {
                    Ok((_, warm)) => format!("memory idle, pool full ({warm} warm)"),
                    Err(_) => "memory idle, pool full".to_string(),
                },
                memory.idle_with_pool.as_ref().ok().map(|(b, _)| *b),
                TARGET_IDLE_MIB,
            ),
            (
                format!("memory, {QUEUED} queued"),
                memory.queued.as_ref().ok().map(|q| q.resident),
                TARGET_QUEUED_MIB,
            ),
        ];
        for (figure, bytes, target) in readings {
            let mib = bytes.map(|b| b as f64 / MIB);
            table.push(vec![
                figure,
                mib.map_or("n/a".into(), |m| format!("{m:.1} MiB")),
                format!("≤ {target} MiB"),
                at_most(mib, target, "MiB"),
            ]);
        }
    }
    let flood = figures.flood.iter().flatten();
    let first_byte_now = figures
        .flood
        .as_ref()
        .and_then(|rows| rows.first())
        .and_then(|r| r.first_byte.p50());
    for row in flood {
        let lag = row.lag.p50();
        let frames = row.frames_p50().map(|f| f as f64);
        let current = row.agent == "this build";
        table.push(vec![
            format!("1 MiB flood, {}: lag after the program (p50)", row.agent),
            lag.map_or("n/a".into(), |v| format!("{v:.0} ms")),
            if current {
                format!("≤ {TARGET_FLOOD_LAG_MS} ms (#14)")
            } else {
                "baseline".into()
            },
            if current {
                at_most(lag, TARGET_FLOOD_LAG_MS, "ms")
            } else {
                String::new()
            },
        ]);
        table.push(vec![
            format!("1 MiB flood, {}: WebSocket frames (p50)", row.agent),
            frames.map_or("n/a".into(), |v| format!("{v:.0}")),
            if current {
                format!("< {TARGET_FLOOD_FRAMES} (#14)")
            } else {
                "baseline".into()
            },
            if current {
                below(frames, TARGET_FLOOD_FRAMES, "frames")
            } else {
                String::new()
            },
        ]);
        if !current {
            // First byte unchanged: this build's beside the baseline's.
            let theirs = row.first_byte.p50();
            table.push(vec![
                "python hello first byte, this build vs baseline (p50)".into(),
                match (first_byte_now, theirs) {
                    (Some(a), Some(b)) => format!("{a:.1} ms vs {b:.1} ms"),
                    _ => "n/a".into(),
                },
                "unchanged (≤ baseline + 5 ms) (#14)".into(),
                at_most(first_byte_now.zip(theirs).map(|(a, b)| a - b), 5.0, "ms"),
            ]);
        }
    }
    table.print();
    println!(
        "Targets from issues #4 and #14, for information: a missed target never changes the exit code."
    );
    println!();
}

/// `met` when `value ≤ target`, else by how much it missed.
pub(crate) fn at_most(value: Option<f64>, target: f64, unit: &str) -> String {
    match value {
        None => "not measured".into(),
        Some(v) if v <= target => "met".into(),
        Some(v) => format!("missed by {:.1} {unit}", v - target),
    }
}

/// `met` when `value < target`, else by how much it missed.
pub(crate) fn below(value: Option<f64>, target: f64, unit: &str) -> String {
    match value {
        None => "not measured".into(),
        Some(v) if v < target => "met".into(),
        Some(v) => format!("missed by {:.0} {unit}", v - target + 1.0),
    }
}

/// `met` when `value ≥ target`, else by how much it missed.
pub(crate) fn at_least(value: Option<f64>, target: f64, unit: &str) -> String {
    match value {
        None => "not measured".into(),
        Some(v) if v >= target => "met".into(),
        Some(v) => format!("missed by {:.1}{unit}", target - v),
    }
}

/// `a ÷ b`, when both were measured and `b` is not zero.
pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn share(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    ratio(part, whole)
}

/// Milliseconds with one decimal, or `n/a`.
pub(crate) fn fmt_ms(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.1}"))
}

/// A ratio as `2.50×`, or `n/a`.
pub(crate) fn fmt_times(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.2}×"))
}

fn fmt_rate(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.2}"))
}

fn fmt_percent(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{:.0} %", v * 100.0))
}

fn fmt_mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1}", b as f64 / MIB))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_say_met_or_by_how_much() {
        assert_eq!(at_most(Some(12.0), 20.0, "ms"), "met");
        assert_eq!(at_most(Some(20.0), 20.0, "ms"), "met");
        assert_eq!(at_most(Some(31.5), 20.0, "ms"), "missed by 11.5 ms");
        assert_eq!(at_most(None, 20.0, "ms"), "not measured");
        assert_eq!(at_least(Some(6.0), 5.0, "×"), "met");
        assert_eq!(at_least(Some(3.5), 5.0, "×"), "missed by 1.5×");
        assert_eq!(
            at_least(Some(70.0), 80.0, " points"),
            "missed by 10.0 points"
        );
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(10.0), Some(4.0)), Some(2.5));
        assert_eq!(ratio(Some(10.0), None), None);
        assert_eq!(ratio(Some(10.0), Some(0.0)), None);
    }
}
