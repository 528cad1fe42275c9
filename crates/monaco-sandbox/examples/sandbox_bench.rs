//! Latency of hello world through Monaco's sandbox, against two baselines.
//!
//! ```text
//! cargo run --release -p monaco-sandbox --example sandbox_bench -- \
//!     [--iterations N] [--languages python,c,...]
//! ```
//!
//! For each language of `languages.toml` (its `hello` program, its compile
//! and run argv, its environment) three ways of running the same program are
//! timed, end to end, as a client waits for them:
//!
//! - **monaco**: [`DockerSandbox::start`] up to the `Finished` event: container
//!   create, attach and start, the agent, writing the file, compile, run, the
//!   measurements, and the container's removal (which happens before
//!   `Finished`). Every hardening option is on, as in production.
//! - **docker-run**: `docker run --rm -i --network none <image> sh -c '…'`
//!   with the source on stdin, compiled and run inside the same `sh -c`, each
//!   step with the sandbox's environment: one CLI `docker run` per
//!   execution, the way the original Go service ran code. It has none of
//!   Monaco's hardening, limits or measurements; it is the cost of "a
//!   container per run" with the stock tools.
//! - **native**: the host's own toolchain, when `which` finds every program
//!   the language needs: write the file into a fresh temporary directory,
//!   compile, run. The floor: what the toolchain itself costs. (The host's
//!   versions may differ from the images'; the notes name them.)
//!
//! Each mode gets one warm-up execution per language that is not counted.
//! Then the modes take turns, one execution each per round, so that load
//! that drifts during the run (other work on the machine) is shared evenly.
//! Everything runs one at a time. An execution whose output is not
//! `Hello, World!` (or that fails) is counted as a failure and left out of
//! the figures; the program reports failures but never fails on a time.
//!
//! Percentiles use the nearest-rank method, so with 20 iterations p99 is the
//! slowest execution.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use monaco_core::{ExecutionEvent, ExecutionId, Limits, SourceFile, StepKind, Stream, Verdict};
use monaco_languages::{Language, Registry};
use monaco_sandbox::{DockerConfig, DockerSandbox, PoolConfig, Sandbox, SandboxJob};

/// Languages measured when `--languages` is not given.
const DEFAULT_LANGUAGES: &[&str] = &["python", "javascript", "c", "cpp", "java", "go"];
/// Iterations per mode when `--iterations` is not given.
const DEFAULT_ITERATIONS: usize = 20;
/// What every hello-world program prints (before a terminal's `\r`).
const EXPECTED: &str = "Hello, World!";
/// Where `docker-run` writes and builds the program inside the container.
const DOCKER_WORK_DIR: &str = "/tmp/work";

#[tokio::main]
async fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let registry_path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../languages.toml"));
    let registry = Registry::load(registry_path).unwrap_or_else(|e| fail(e));
    let languages: Vec<&Language> = options
        .languages
        .iter()
        .map(|id| {
            registry
                .get(id)
                .unwrap_or_else(|| fail(format!("unknown language {id:?}")))
        })
        .collect();
    // Cold starts are what is measured: no warm pool.
    let config = DockerConfig {
        agent_path: std::env::var_os("MONACO_AGENT")
            .map_or_else(monaco_sandbox::locate_agent, PathBuf::from),
        pool: PoolConfig {
            max_per_spec: 0,
            ..PoolConfig::default()
        },
        ..DockerConfig::default()
    };
    let sandbox = DockerSandbox::connect(config)
        .await
        .unwrap_or_else(|e| fail(e));

    print_context(&sandbox, options.iterations).await;
    let mut rows = Vec::new();
    for language in languages {
        rows.push(bench_language(&sandbox, language, options.iterations).await);
    }
    print_table(&rows);
    print_notes(&rows);
    println!("load average at the end: {}", load_average());
}

const USAGE: &str = "usage: sandbox_bench [--iterations N] [--languages python,c,...]";

/// Command-line options.
struct Options {
    iterations: usize,
    languages: Vec<String>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            iterations: DEFAULT_ITERATIONS,
            languages: DEFAULT_LANGUAGES.iter().map(|s| s.to_string()).collect(),
        };
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or(format!("{name} needs a value"))
            };
            match name.as_str() {
                "--iterations" | "-n" => {
                    let v = value()?;
                    options.iterations = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--iterations: {v:?} is not a positive number"))?;
                }
                "--languages" | "-l" => {
                    options.languages = value()?
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                }
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

fn fail(error: impl std::fmt::Display) -> ! {
    eprintln!("sandbox_bench: {error}");
    std::process::exit(1);
}

/// One language's hello world, owned, so blocking modes can take it to a
/// thread.
#[derive(Clone)]
struct Program {
    id: String,
    image: String,
    file: String,
    source: String,
    compile: Option<Vec<String>>,
    run: Vec<String>,
    /// The container's environment: the base plus the language's own.
    env: Vec<(String, String)>,
    /// The language's own variables, added to the host's for native runs.
    language_env: Vec<(String, String)>,
}

impl Program {
    fn new(language: &Language) -> Program {
        let source = language.hello().to_string();
        let file = language.source_file_name(&source);
        Program {
            id: language.id().to_string(),
            image: language.image().to_string(),
            compile: language.compile_argv(&file),
            run: language.run_argv(&file, &[]),
            env: language.step_env(&monaco_languages::base_env()),
            language_env: language.env().to_vec(),
            file,
            source,
        }
    }

    /// Every argv: the compile step's, if any, then the run step's.
    fn commands(&self) -> impl Iterator<Item = &Vec<String>> {
        self.compile.iter().chain(std::iter::once(&self.run))
    }
}

/// The durations of the successful executions of one mode, and what failed.
#[derive(Default)]
struct Samples {
    times: Vec<Duration>,
    failures: Vec<String>,
}

impl Samples {
    fn record(&mut self, result: Result<Duration, String>) {
        match result {
            Ok(time) => self.times.push(time),
            Err(error) => self.failures.push(error),
        }
    }

    /// The nearest-rank percentile `q` (0 < q ≤ 1), milliseconds.
    fn percentile(&self, q: f64) -> Option<f64> {
        let mut sorted = self.times.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted.get(rank - 1).map(ms)
    }

    fn mean(&self) -> Option<f64> {
        let n = self.times.len();
        (n > 0).then(|| self.times.iter().map(ms).sum::<f64>() / n as f64)
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one language measured in each mode.
struct Row {
    id: String,
    monaco: Samples,
    /// Compile + run wall time reported by the agent, per execution.
    monaco_steps: Samples,
    docker_run: Samples,
    /// Empty when the host cannot run the language.
    native: Samples,
    /// The host's tools, or why it has none.
    native_tools: Result<NativeTools, String>,
}

async fn bench_language(sandbox: &DockerSandbox, language: &Language, iterations: usize) -> Row {
    let program = Program::new(language);
    eprintln!("{}: {iterations} iterations per mode…", program.id);
    let mut row = Row {
        id: program.id.clone(),
        monaco: Samples::default(),
        monaco_steps: Samples::default(),
        docker_run: Samples::default(),
        native: Samples::default(),
        native_tools: native_tools(&program),
    };
    // Round 0 is the warm-up: run, then throw away.
    for round in 0..=iterations {
        let warm_up = round == 0;
        let (total, steps) = match monaco_once(sandbox, language).await {
            Ok((total, steps)) => (Ok(total), Ok(steps)),
            Err(e) => (Err(e.clone()), Err(e)),
        };
        let docker = blocking(program.clone(), docker_run_once).await;
        let native = match &row.native_tools {
            Ok(tools) => Some(blocking((program.clone(), tools.clone()), native_once).await),
            Err(_) => None,
        };
        if warm_up {
            continue;
        }
        row.monaco.record(total);
        row.monaco_steps.record(steps);
        row.docker_run.record(docker);
        if let Some(result) = native {
            row.native.record(result);
        }
    }
    row
}

/// Runs a blocking measurement on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    input: T,
    f: fn(&T) -> Result<Duration, String>,
) -> Result<Duration, String> {
    tokio::task::spawn_blocking(move || f(&input))
        .await
        .unwrap_or_else(|e| Err(format!("measurement panicked: {e}")))
}

// ---------------------------------------------------------------- monaco

/// One execution through the sandbox: (start → `Finished`, compile + run
/// wall time the agent measured).
async fn monaco_once(
    sandbox: &DockerSandbox,
    language: &Language,
) -> Result<(Duration, Duration), String> {
    let job = sandbox_job(language);
    let started = Instant::now();
    let execution = sandbox.start(job).await.map_err(|e| e.to_string())?;
    let events = execution.collect().await;
    let elapsed = started.elapsed();

    let mut stdout = Vec::new();
    let mut outcome = None;
    for event in events {
        match event {
            ExecutionEvent::Output(chunk)
                if chunk.step == StepKind::Run && chunk.stream == Stream::Stdout =>
            {
                stdout.extend_from_slice(&chunk.data)
            }
            ExecutionEvent::Finished(o) => outcome = Some(o),
            _ => {}
        }
    }
    let outcome = outcome.ok_or("no Finished event")?;
    if outcome.verdict != Verdict::Ok {
        return Err(format!(
            "verdict {:?}: {}",
            outcome.verdict,
            outcome.message.as_deref().unwrap_or("")
        ));
    }
    check_output(&stdout)?;
    let steps = [&outcome.compile, &outcome.run]
        .into_iter()
        .flatten()
        .map(|report| report.wall_ms)
        .sum();
    Ok((elapsed, Duration::from_millis(steps)))
}

/// The job the executor would build for the language's hello world.
fn sandbox_job(language: &Language) -> SandboxJob {
    let source = language.hello();
    let file = language.source_file_name(source);
    let limits = Limits::default().with(language.limits());
    let env = monaco_languages::base_env();
    SandboxJob {
        id: ExecutionId::new(),
        language: language.id().to_string(),
        image: language.image().to_string(),
        files: vec![SourceFile {
            name: file.clone(),
            content: source.to_string(),
        }],
        compile: language.compile_step(&file, &limits, &env),
        run: language.run_step(&file, &[], &limits, &env),
        tty: language.tty(),
        stdin: Vec::new(),
        interactive: false,
        tmp_bytes: limits.tmp_bytes,
    }
}

// ------------------------------------------------------------ docker run

/// One `docker run --rm`: the source on stdin, written, compiled and run by
/// one `sh -c`.
fn docker_run_once(program: &Program) -> Result<Duration, String> {
    let mut command = Command::new("docker");
    command
        .args(["run", "--rm", "-i", "--network", "none", &program.image])
        .args(["sh", "-c", &docker_script(program)]);
    let started = Instant::now();
    let output = run(&mut command, program.source.as_bytes())?;
    let elapsed = started.elapsed();
    check_output(&output.stdout)?;
    Ok(elapsed)
}

/// `mkdir -p W && cd W && cat > main.c && env -i K=V… gcc … && env -i K=V… ./main`.
///
/// Each step gets exactly the environment the sandbox gives it (`env -i`),
/// not the image's `ENV` on top: an image's `GOFLAGS`, say, would otherwise
/// make one side do different work than the other.
fn docker_script(program: &Program) -> String {
    let env: Vec<String> = program
        .env
        .iter()
        .map(|(key, value)| shell_quote(&format!("{key}={value}")))
        .collect();
    let mut script = format!(
        "mkdir -p {DOCKER_WORK_DIR} && cd {DOCKER_WORK_DIR} && cat > {}",
        shell_quote(&program.file)
    );
    for argv in program.commands() {
        let words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        script.push_str(&format!(" && env -i {} {}", env.join(" "), words.join(" ")));
    }
    script
}

/// `s` as one shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------- native

/// The host's programs for a language's commands, or why it has none.
#[derive(Clone)]
struct NativeTools {
    /// `argv[0]` of each command → the host path to run instead.
    paths: Vec<(String, PathBuf)>,
}

impl NativeTools {
    /// `name /path (first line of --version)`, for each tool.
    fn describe(&self) -> String {
        let describe = |(name, path): &(String, PathBuf)| {
            let version = Command::new(path)
                .arg("--version")
                .output()
                .ok()
                .map(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    let text = String::from_utf8_lossy(&text);
                    text.lines().next().unwrap_or("").trim().to_string()
                })
                .unwrap_or_default();
            format!("{name} = {} ({version})", path.display())
        };
        self.paths
            .iter()
            .map(describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Finds every program the language needs on the host with `which`.
/// `./main` (built by the compile step) needs nothing.
fn native_tools(program: &Program) -> Result<NativeTools, String> {
    let mut paths = Vec::new();
    for argv in program.commands() {
        let name = &argv[0];
        if name.contains('/') || paths.iter().any(|(n, _)| n == name) {
            continue;
        }
        let path = which(name).ok_or(format!("{name} is not installed on the host"))?;
        paths.push((name.clone(), real_interpreter(name, path)));
    }
    Ok(NativeTools { paths })
}

fn which(name: &str) -> Option<PathBuf> {
    let output = Command::new("which").arg(name).output().ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !path.trim().is_empty()).then(|| PathBuf::from(path.trim()))
}

/// A version manager's shim (pyenv's `python3` is a shell script) would
/// add its own start-up to every native run; ask Python where it really is.
fn real_interpreter(name: &str, path: PathBuf) -> PathBuf {
    if !name.starts_with("python") {
        return path;
    }
    Command::new(&path)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_file())
        .unwrap_or(path)
}

/// One native execution in a fresh temporary directory: write, compile, run.
fn native_once((program, tools): &(Program, NativeTools)) -> Result<Duration, String> {
    let dir = std::env::temp_dir().join(format!("monaco-bench-{}", ExecutionId::new()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let started = Instant::now();
    let stdout = write_compile_run(program, tools, &dir);
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    check_output(&stdout?)?;
    Ok(elapsed)
}

/// Writes the source into `dir`, runs each step there, returns the last
/// step's stdout.
fn write_compile_run(
    program: &Program,
    tools: &NativeTools,
    dir: &Path,
) -> Result<Vec<u8>, String> {
    std::fs::write(dir.join(&program.file), &program.source)
        .map_err(|e| format!("cannot write the source: {e}"))?;
    let mut stdout = Vec::new();
    for argv in program.commands() {
        let mut command = Command::new(native_program(&argv[0], dir, tools));
        command
            .args(&argv[1..])
            .current_dir(dir)
            .envs(program.language_env.iter().cloned());
        stdout = run(&mut command, b"")?.stdout;
    }
    Ok(stdout)
}

/// The host path for `argv[0]`: a tool found by [`native_tools`], or a
/// path relative to the work directory (`./main`).
fn native_program(name: &str, dir: &Path, tools: &NativeTools) -> PathBuf {
    match tools.paths.iter().find(|(n, _)| n == name) {
        Some((_, path)) => path.clone(),
        None => dir.join(name),
    }
}

// ---------------------------------------------------------------- shared

/// Runs `command` with `stdin`, waits for it, and requires exit code 0.
fn run(command: &mut Command, stdin: &[u8]) -> Result<Output, String> {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    // Small enough for the pipe's buffer: no need for a writer thread.
    let written = child.stdin.take().expect("piped").write_all(stdin);
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    written.map_err(|e| format!("cannot write stdin: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{:?} {}: {}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output)
}

/// Hello world printed exactly once (a terminal adds `\r`).
fn check_output(stdout: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim_end() == EXPECTED {
        Ok(())
    } else {
        Err(format!("unexpected output {text:?}"))
    }
}

// ---------------------------------------------------------------- report

async fn print_context(sandbox: &DockerSandbox, iterations: usize) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let docker = sandbox.docker();
    let version = match docker.version().await {
        Ok(v) => format!(
            "{} (API {})",
            v.version.unwrap_or_default(),
            v.api_version.unwrap_or_default()
        ),
        Err(e) => format!("unknown ({e})"),
    };
    let running = docker
        .list_containers(None::<bollard::container::ListContainersOptions<String>>)
        .await
        .map_or_else(|e| format!("unknown ({e})"), |l| l.len().to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("machine: nproc {nproc}, {cpu}");
    println!("docker server: {version}");
    println!(
        "containers already running: {running}; load average: {}",
        load_average()
    );
    println!(
        "hello world, {iterations} iterations per mode after 1 warm-up, one execution at a time; \
         times in ms, start to finish"
    );
    println!();
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The table: one line per language.
fn print_table(rows: &[Row]) {
    let header = [
        "language",
        "monaco p50",
        "p99",
        "docker-run p50",
        "p99",
        "native p50",
        "p99",
        "monaco÷docker-run",
        "monaco−native",
        "monaco÷native",
    ];
    let mut lines = vec![header.map(String::from).to_vec()];
    for row in rows {
        let monaco = row.monaco.percentile(0.5);
        let docker = row.docker_run.percentile(0.5);
        let native = row.native.percentile(0.5);
        lines.push(vec![
            row.id.clone(),
            fmt_ms(monaco),
            fmt_ms(row.monaco.percentile(0.99)),
            fmt_ms(docker),
            fmt_ms(row.docker_run.percentile(0.99)),
            fmt_ms(native),
            fmt_ms(row.native.percentile(0.99)),
            fmt_ratio(monaco, docker),
            match (monaco, native) {
                (Some(m), Some(n)) => format!("{:+.1}", m - n),
                _ => "n/a".into(),
            },
            fmt_ratio(monaco, native),
        ]);
    }
    print_aligned(&lines);
}

/// Means, the agent's own step times, failures, and why native is missing.
fn print_notes(rows: &[Row]) {
    println!();
    let mut lines = vec![[
        "language",
        "monaco mean",
        "monaco steps p50",
        "docker-run mean",
        "native mean",
        "failures (monaco/docker-run/native)",
    ]
    .map(String::from)
    .to_vec()];
    for row in rows {
        lines.push(vec![
            row.id.clone(),
            fmt_ms(row.monaco.mean()),
            fmt_ms(row.monaco_steps.percentile(0.5)),
            fmt_ms(row.docker_run.mean()),
            fmt_ms(row.native.mean()),
            format!(
                "{}/{}/{}",
                row.monaco.failures.len(),
                row.docker_run.failures.len(),
                match row.native_tools {
                    Ok(_) => row.native.failures.len().to_string(),
                    Err(_) => "n/a".into(),
                }
            ),
        ]);
    }
    print_aligned(&lines);
    println!();
    println!("monaco steps: compile + run wall time measured by the agent inside the container.");
    for row in rows {
        match &row.native_tools {
            Ok(tools) => println!("{} native: {}", row.id, tools.describe()),
            Err(why) => println!("{} native: n/a, {why}", row.id),
        }
        let modes = [
            ("monaco", &row.monaco),
            ("docker-run", &row.docker_run),
            ("native", &row.native),
        ];
        for (mode, samples) in modes {
            if let Some(first) = samples.failures.first() {
                println!("{} {mode}: first failure: {first}", row.id);
            }
        }
    }
}

fn fmt_ms(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.1}"))
}

fn fmt_ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".into(),
    }
}

/// Prints rows as columns: the first left-aligned, the rest right-aligned.
fn print_aligned(lines: &[Vec<String>]) {
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("{}", cells.join(" | ").trim_end());
    }
}
