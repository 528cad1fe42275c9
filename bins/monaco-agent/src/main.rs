//! `monaco-agent`: the supervisor inside every Monaco sandbox container.
//!
//! Monaco starts each container with this binary as PID 1 and talks to it
//! over the container's stdin/stdout with the framed protocol of
//! `monaco_core::protocol`. The agent announces itself, receives one job,
//! writes its files into the work directory, runs the compile step and the
//! run step as an unprivileged user with limits, streams their output,
//! forwards input, reports when the program waits for input, and reports
//! each step with exact measurements. A job with test cases compiles once
//! and runs each case on a fresh copy of the work directory (`cases`);
//! outputs with an expected output are judged in the sandbox (`judge`).
//! Then it exits, and Monaco removes the container: one container, one job.
//!
//! It must stay small and self-contained (a static binary, no runtime), and
//! it must never trust the program: the program runs under another uid, with
//! no capabilities, and cannot signal, trace or impersonate the agent.

mod cases;
mod cgroup;
mod coalesce;
mod files;
mod judge;
mod link;
mod process;
mod prompt;
mod pty;
mod snapshot;
mod step;

use std::path::Path;
use std::sync::Arc;

use monaco_core::protocol::{self, AgentMessage, Job, WORK_DIR};
use monaco_core::{StepKind, Verdict};

use judge::Judge;
use link::{Command, HostWriter, Shared};
use step::{Launch, StdinMode};

fn main() {
    // SAFETY: setting the file mode mask has no memory effects.
    unsafe {
        libc::umask(0o022);
    }
    let host = HostWriter::new();
    let shared = Arc::new(Shared::default());
    let commands = link::spawn_reader(shared.clone());
    host.control(&AgentMessage::Ready {
        version: protocol::VERSION,
    });

    let job = match commands.recv() {
        Ok(Command::Job(job)) => job,
        // The host went away, or spoke out of turn: nothing to do.
        _ => return,
    };
    if let Err(message) = run_job(&job, &shared, &host, &commands) {
        host.control(&AgentMessage::Failed { message });
    }
    host.control(&AgentMessage::Done);
}

/// The most the compile step may leave in /tmp for the host to lower the
/// run step's limits while the agent empties it: far below the smallest
/// memory limit a run step can have (`MIN_MEMORY_BYTES`, 8 MiB).
const OVERLAP_TMP_MAX_BYTES: u64 = 1 << 20;

fn run_job(
    job: &Job,
    shared: &Arc<Shared>,
    host: &HostWriter,
    commands: &std::sync::mpsc::Receiver<Command>,
) -> Result<(), String> {
    files::write_files(Path::new(WORK_DIR), &job.files, job.uid)?;
    let cgroup = cgroup::Cgroup::detect();
    // Before anything of the program runs, so that nothing it does can
    // reach the checker (and with the compile step's larger limits).
    let judge = job
        .checker
        .as_ref()
        .map(|c| Judge::prepare(c, shared, host, &cgroup));
    if let Some(compile) = &job.compile {
        let report = step::run(
            Launch {
                kind: StepKind::Compile,
                step: compile,
                uid: job.uid,
                dir: WORK_DIR,
                stdin: StdinMode::Null,
                stream: true,
                capture: false,
            },
            shared,
            host,
            &cgroup,
        )
        .report;
        let ok = report.verdict == Some(Verdict::Ok);
        // What the compile step left in /tmp (caches, intermediates) is
        // gone before the run: /tmp is memory, and would count against the
        // run step's smaller memory limit (Nim's C cache, Go's build cache).
        // When what it left is small, the host may lower the limits while
        // it goes (the report first, then the emptying, then the wait for
        // the go-ahead): Go's 256 cache directories take about a
        // millisecond, as long as the host's round trip.
        let tmp = Path::new("/tmp");
        let overlap = ok
            && job.pause_after_compile
            && snapshot::used_bytes(tmp).is_some_and(|used| used <= OVERLAP_TMP_MAX_BYTES);
        if ok && !overlap {
            snapshot::empty_dir(tmp, Some(judge::CHECKER_DIR_NAME))?;
        }
        host.control(&AgentMessage::StepFinished {
            step: StepKind::Compile,
            report,
        });
        if overlap {
            snapshot::empty_dir(tmp, Some(judge::CHECKER_DIR_NAME))?;
        }
        if !ok || shared.killed() {
            return Ok(());
        }
        if job.pause_after_compile {
            match commands.recv() {
                Ok(Command::Continue) => {}
                _ => return Ok(()),
            }
        }
    }
    if let Some(cases) = &job.cases {
        return cases::run(job, cases, judge.as_ref(), shared, host, &cgroup);
    }
    let stdin = if job.tty {
        StdinMode::Tty
    } else if job.stdin_tty {
        StdinMode::TtyStdin
    } else {
        StdinMode::Pipe
    };
    let judged = job.expected.as_deref().zip(judge.as_ref());
    let ran = step::run(
        Launch {
            kind: StepKind::Run,
            step: &job.run,
            uid: job.uid,
            dir: WORK_DIR,
            stdin,
            stream: true,
            capture: judged.is_some(),
        },
        shared,
        host,
        &cgroup,
    );
    let mut report = ran.report;
    if let (Some(Verdict::Ok), Some((expected, judge))) = (report.verdict, judged) {
        let judgement = judge.judge(&ran.stdin, expected, &ran.stdout, shared, host, &cgroup);
        report.verdict = Some(judgement.verdict);
    }
    host.control(&AgentMessage::StepFinished {
        step: StepKind::Run,
        report,
    });
    Ok(())
}
