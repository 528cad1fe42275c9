//! Judging a program's output against the expected output: a built-in
//! comparison, or the grader's checker program.
//!
//! The checker program is prepared once, before anything of the program
//! runs, in a directory of its own below /tmp that only the checker's uid
//! (another than the program's) can enter. It compiles there as that uid;
//! then the directory becomes root's with the checker's group (mode 0750),
//! so the agent (root without `CAP_DAC_OVERRIDE`) can write each case's
//! files into it and the program can neither read, change nor replace
//! anything there. The checker only runs once every process of the case
//! is killed, so the program cannot signal or trace it either.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{lchown, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use monaco_core::protocol::{JobChecker, JobFile, JobStep};
use monaco_core::{checker_message, testlib_verdict, Comparison, StepKind, StepReport, Verdict};

use crate::cgroup::Cgroup;
use crate::files::write_files;
use crate::link::{HostWriter, Shared};
use crate::step::{self, Launch, StdinMode};

/// The checker's directory's name, directly in /tmp.
pub const CHECKER_DIR_NAME: &str = ".monaco-checker";
const CHECKER_DIR: &str = "/tmp/.monaco-checker";
/// Where the case's files go, inside the checker's directory.
const CASE_DIR: &str = "/tmp/.monaco-checker/.case";

/// How outputs are judged.
pub enum Judge {
    /// A built-in comparison.
    Compare(Comparison),
    /// A checker program, ready to run.
    Program {
        /// Its run step (the case's paths are appended).
        run: JobStep,
        /// The uid and gid it runs as.
        uid: u32,
    },
    /// A checker program that could not be prepared: every judged output
    /// is an internal error, for this reason.
    Broken(String),
}

/// The judge's word on one output.
pub struct Judgement {
    /// `ok`, `wrong_answer`, `internal_error` (or `cancelled`).
    pub verdict: Verdict,
    /// The checker program's first line, or why it failed.
    pub message: Option<String>,
}

impl Judge {
    /// Prepares `checker` (a program is written and compiled now).
    pub fn prepare(
        checker: &JobChecker,
        shared: &Arc<Shared>,
        host: &HostWriter,
        cgroup: &Cgroup,
    ) -> Judge {
        match checker {
            JobChecker::Compare { comparison } => Judge::Compare(*comparison),
            JobChecker::Program {
                files,
                compile,
                run,
                uid,
            } => match prepare_program(files, compile.as_ref(), *uid, shared, host, cgroup) {
                Ok(()) => Judge::Program {
                    run: run.clone(),
                    uid: *uid,
                },
                Err(why) => Judge::Broken(why),
            },
        }
    }

    /// Judges `output` of a run that ended `ok`, given `input`.
    pub fn judge(
        &self,
        input: &[u8],
        expected: &[u8],
        output: &[u8],
        shared: &Arc<Shared>,
        host: &HostWriter,
        cgroup: &Cgroup,
    ) -> Judgement {
        match self {
            Judge::Compare(comparison) => Judgement {
                verdict: if comparison.accepts(expected, output) {
                    Verdict::Ok
                } else {
                    Verdict::WrongAnswer
                },
                message: None,
            },
            Judge::Broken(why) => internal(why.clone()),
            Judge::Program { run, uid } => {
                match run_program(run, *uid, input, expected, output, shared, host, cgroup) {
                    Ok(judgement) => judgement,
                    Err(why) => internal(why),
                }
            }
        }
    }
}

fn internal(message: String) -> Judgement {
    Judgement {
        verdict: Verdict::InternalError,
        message: Some(message),
    }
}

fn prepare_program(
    files: &[JobFile],
    compile: Option<&JobStep>,
    uid: u32,
    shared: &Arc<Shared>,
    host: &HostWriter,
    cgroup: &Cgroup,
) -> Result<(), String> {
    let dir = Path::new(CHECKER_DIR);
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("the checker could not be prepared ({what}: {e})")
    };
    // Nothing of the program has run yet; should the name exist anyway,
    // creating it fails rather than using what someone else made.
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(io("create its directory"))?;
    write_files(dir, files, uid).map_err(|e| format!("the checker could not be prepared ({e})"))?;
    if let Some(compile) = compile {
        let ran = step::run(
            Launch {
                kind: StepKind::Compile,
                step: compile,
                uid,
                dir: CHECKER_DIR,
                stdin: StdinMode::Null,
                stream: false,
                capture: true,
            },
            shared,
            host,
            cgroup,
        );
        if ran.report.verdict != Some(Verdict::Ok) {
            let said = checker_message(&ran.stderr).or_else(|| checker_message(&ran.stdout));
            return Err(format!(
                "the checker did not compile ({}){}",
                ended(&ran.report),
                said.map_or(String::new(), |s| format!(": {s}"))
            ));
        }
    }
    // From now on the agent writes the case files here and the checker only
    // reads: root's, the checker's group, nobody else.
    lchown(dir, Some(0), Some(uid)).map_err(io("lock its directory"))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
        .map_err(io("lock its directory"))?;
    fs::DirBuilder::new()
        .mode(0o750)
        .create(CASE_DIR)
        .map_err(io("create the case directory"))?;
    lchown(CASE_DIR, Some(0), Some(uid)).map_err(io("lock the case directory"))?;
    // What the checker's compile step left in /tmp is not the program's.
    crate::snapshot::empty_dir(Path::new("/tmp"), Some(CHECKER_DIR_NAME))
        .map_err(|e| format!("the checker could not be prepared ({e})"))
}

#[allow(clippy::too_many_arguments)]
fn run_program(
    run: &JobStep,
    uid: u32,
    input: &[u8],
    expected: &[u8],
    output: &[u8],
    shared: &Arc<Shared>,
    host: &HostWriter,
    cgroup: &Cgroup,
) -> Result<Judgement, String> {
    let mut step = run.clone();
    for (name, content) in [("input", input), ("expected", expected), ("output", output)] {
        let path = format!("{CASE_DIR}/{name}");
        write_case_file(&path, content)
            .map_err(|e| format!("the checker's {name} file could not be written: {e}"))?;
        step.argv.push(path);
    }
    let ran = step::run(
        Launch {
            kind: StepKind::Run,
            step: &step,
            uid,
            dir: CHECKER_DIR,
            stdin: StdinMode::Null,
            stream: false,
            capture: true,
        },
        shared,
        host,
        cgroup,
    );
    let message = checker_message(&ran.stdout);
    let verdict = match testlib_verdict(&ran.report) {
        Some(verdict) => verdict,
        None => {
            let why = format!("the checker failed ({})", ended(&ran.report));
            return Ok(internal(match message {
                Some(said) => format!("{why}: {said}"),
                None => why,
            }));
        }
    };
    Ok(Judgement { verdict, message })
}

fn write_case_file(path: &str, content: &[u8]) -> std::io::Result<()> {
    // Readable through the directory's group; the directory keeps others out.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(content)
}

/// How a checker step ended, in words.
fn ended(report: &StepReport) -> String {
    match (report.verdict, report.exit_code, report.signal) {
        (Some(Verdict::TimeLimitExceeded), ..) => "it ran out of time".into(),
        (Some(Verdict::MemoryLimitExceeded), ..) => "it ran out of memory".into(),
        (Some(Verdict::OutputLimitExceeded), ..) => "it printed too much".into(),
        (_, Some(code), _) => format!("exit code {code}"),
        (_, _, Some(signal)) => format!("killed by signal {signal}"),
        _ => "it did not finish".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comparison_judges_without_running_anything() {
        let judge = Judge::Compare(Comparison::Trim);
        let (shared, host) = (Arc::new(Shared::default()), HostWriter::new());
        let cgroup = Cgroup::detect();
        let j = judge.judge(b"", b"3\n", b"3  \n", &shared, &host, &cgroup);
        assert_eq!(j.verdict, Verdict::Ok);
        let j = judge.judge(b"", b"3\n", b"4\n", &shared, &host, &cgroup);
        assert_eq!(j.verdict, Verdict::WrongAnswer);
        let j = Judge::Broken("no".into()).judge(b"", b"", b"", &shared, &host, &cgroup);
        assert_eq!(j.verdict, Verdict::InternalError);
        assert_eq!(j.message.as_deref(), Some("no"));
    }
}
