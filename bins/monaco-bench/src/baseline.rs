//! The two baselines Monaco's latency is put beside: the same program run
//! with plain `docker run --rm` (how the original Go service ran code), and
//! natively with the host's own toolchain (what the toolchain itself costs).
//!
//! The program, its file name, its compile and run argv and its environment
//! come from `languages.toml`, exactly as the server builds them, so that
//! every way does the same work. [`Baselines`] measures both beside a
//! section's own modes, one execution each per round: the latency section
//! (the server) and the driver section (the sandbox driver alone) share it.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use monaco_languages::Language;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::engine::BENCH_LABEL;
use crate::stats::Samples;

/// What every hello-world program prints (before a terminal's `\r`).
pub const EXPECTED: &str = "Hello, World!";
/// Where `docker run` writes and builds the program inside the container.
const DOCKER_WORK_DIR: &str = "/tmp/work";
/// Longest one baseline execution may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);

/// One language's hello world with everything needed to run it three ways.
#[derive(Debug, Clone)]
pub struct Program {
    pub id: String,
    pub image: String,
    pub file: String,
    /// The source, as `GET /api/languages` gave it.
    pub source: String,
    compile: Option<Vec<String>>,
    run: Vec<String>,
    /// The container's environment: the base plus the language's own.
    env: Vec<(String, String)>,
    /// The language's own variables, added to the host's for native runs.
    language_env: Vec<(String, String)>,
}

impl Program {
    /// Whether the language has a compile step.
    pub fn compiled(&self) -> bool {
        self.compile.is_some()
    }

    /// `source` (the server's hello world) run as `language` runs it.
    pub fn new(language: &Language, source: String) -> Program {
        let file = language.source_file_name(&source);
        // The environment the sandbox's steps get, so the baselines match.
        let base = monaco_languages::base_env();
        Program {
            id: language.id().to_string(),
            image: language.image().to_string(),
            compile: language.compile_argv(&file),
            run: language.run_argv(&file, &[]),
            env: language.step_env(&base),
            language_env: language.env().to_vec(),
            file,
            source,
        }
    }

    /// The compile step's argv, if the language has one.
    pub fn compile_argv(&self) -> Option<&[String]> {
        self.compile.as_deref()
    }

    /// The run step's argv (no arguments).
    pub fn run_argv(&self) -> &[String] {
        &self.run
    }

    /// The steps' environment, exactly (the base plus the language's own).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Every argv: the compile step's, if any, then the run step's.
    fn commands(&self) -> impl Iterator<Item = &Vec<String>> {
        self.compile.iter().chain(std::iter::once(&self.run))
    }
}

/// The baselines of one language, measured round by round beside a
/// section's own modes.
pub struct Baselines {
    pub docker_run: Samples,
    /// Empty when the host cannot run the language.
    pub native: Samples,
    /// The host's tools, or why it has none.
    pub native_tools: Result<NativeTools, String>,
}

impl Baselines {
    /// No samples yet; finds the host's tools for `program`.
    pub fn new(program: &Program) -> Baselines {
        Baselines {
            docker_run: Samples::default(),
            native: Samples::default(),
            native_tools: NativeTools::find(program),
        }
    }

    /// One round: `docker run`, then native (when the host can); recorded
    /// unless the round is a warm-up. `label` goes on the `docker run`
    /// container (see [`docker_run_once`]).
    pub async fn measure_round(&mut self, program: &Program, label: &str, counted: bool) {
        let docker_run = docker_run_once(program, label).await;
        let native = match &self.native_tools {
            Ok(tools) => Some(native_once(program, tools).await),
            Err(_) => None,
        };
        if !counted {
            return;
        }
        self.docker_run.record(docker_run);
        if let Some(native) = native {
            self.native.record(native);
        }
    }
}

// ------------------------------------------------------------ docker run

/// One `docker run --rm -i --network none <image> sh -c '…'`, the source on
/// stdin, written, compiled and run by the one `sh -c`. Labelled so that
/// the end of the run can remove it if the timeout cut it short.
async fn docker_run_once(program: &Program, label: &str) -> Result<Duration, String> {
    let mut command = Command::new("docker");
    command
        .args(["run", "--rm", "-i", "--network", "none"])
        .args(["--label", &format!("{BENCH_LABEL}={label}")])
        .arg(&program.image)
        .args(["sh", "-c", &docker_script(program)]);
    let started = Instant::now();
    let output = run(&mut command, program.source.as_bytes()).await?;
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
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

// ---------------------------------------------------------------- native

/// The host's programs for a language's commands.
#[derive(Debug, Clone)]
pub struct NativeTools {
    /// `argv[0]` of each command → the host path to run instead.
    paths: Vec<(String, PathBuf)>,
}

impl NativeTools {
    /// Finds every program the language needs on the host's `PATH`, or says
    /// which is missing. `./main` (built by the compile step) needs nothing.
    pub fn find(program: &Program) -> Result<NativeTools, String> {
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

    /// `name = /path (first line of --version)`, for each tool.
    pub fn describe(&self) -> String {
        let describe = |(name, path): &(String, PathBuf)| {
            let version = std::process::Command::new(path)
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

    /// `argv` of `program` as the host runs it in `dir`: `argv[0]` is the
    /// host's tool, or a program the compile step built in `dir`; the
    /// language's own variables are added to the host's environment.
    pub fn command(&self, program: &Program, argv: &[String], dir: &Path) -> Command {
        let executable = match self.paths.iter().find(|(n, _)| *n == argv[0]) {
            Some((_, path)) => path.clone(),
            None => dir.join(&argv[0]),
        };
        let mut command = Command::new(executable);
        command
            .args(&argv[1..])
            .current_dir(dir)
            .envs(program.language_env.iter().cloned());
        command
    }
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A version manager's shim (pyenv's `python3` is a shell script that runs
/// `pyenv exec`) would add its own start-up to every native run; ask Python
/// where it really is.
fn real_interpreter(name: &str, path: PathBuf) -> PathBuf {
    if !name.starts_with("python") {
        return path;
    }
    std::process::Command::new(&path)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_file())
        .unwrap_or(path)
}

/// One native execution in a fresh temporary directory: write, compile,
/// run, all timed.
async fn native_once(program: &Program, tools: &NativeTools) -> Result<Duration, String> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "monaco-bench-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let started = Instant::now();
    let stdout = write_compile_run(program, tools, &dir).await;
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    check_output(&stdout?)?;
    Ok(elapsed)
}

/// Writes the source into `dir`, runs each step there, returns the last
/// step's stdout.
async fn write_compile_run(
    program: &Program,
    tools: &NativeTools,
    dir: &Path,
) -> Result<Vec<u8>, String> {
    tokio::fs::write(dir.join(&program.file), &program.source)
        .await
        .map_err(|e| format!("could not write the source: {e}"))?;
    let mut stdout = Vec::new();
    for argv in program.commands() {
        stdout = run(&mut tools.command(program, argv, dir), b"")
            .await?
            .stdout;
    }
    Ok(stdout)
}

// ---------------------------------------------------------------- shared

/// Runs `command` with `stdin`, waits at most [`TIMEOUT`] (then kills it),
/// and requires exit code 0.
pub async fn run(command: &mut Command, stdin: &[u8]) -> Result<Output, String> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    let mut input = child.stdin.take().expect("stdin is piped");
    let written = input.write_all(stdin).await;
    drop(input);
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} took longer than {TIMEOUT:?} (killed)"))?
        .map_err(|e| format!("{program}: {e}"))?;
    written.map_err(|e| format!("could not write {program}'s stdin: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output)
}

/// Hello world printed exactly once (a terminal adds `\r`).
pub fn check_output(stdout: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim_end() == EXPECTED {
        Ok(())
    } else {
        Err(format!("unexpected output {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_script_quotes_every_word() {
        let registry = monaco_languages::Registry::from_toml_str(
            r#"
            [[language]]
            id = "c"
            name = "C"
            version = "12"
            image = "monaco/gcc:latest"
            source = "main.c"
            compile = ["gcc", "-o", "main", "{source}"]
            run = ["./main", "{args}"]
            env = { X = "it's" }
            hello = 'int main(){}'
            "#,
        )
        .unwrap();
        let c = registry.get("c").unwrap();
        let program = Program::new(c, c.hello().to_string());
        let script = docker_script(&program);
        assert!(script.starts_with("mkdir -p /tmp/work && cd /tmp/work && cat > 'main.c'"));
        assert!(script.contains(r"'X=it'\''s' 'gcc' '-o' 'main' 'main.c'"));
        assert!(script.ends_with("'./main'"));
    }

    #[test]
    fn output_must_be_hello_world() {
        assert!(check_output(b"Hello, World!\r\n").is_ok());
        assert!(check_output(b"Hello, World!\nHello, World!\n").is_err());
    }
}
