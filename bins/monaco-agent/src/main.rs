//! `monaco-agent`: the supervisor inside every Monaco sandbox container.
//!
//! Monaco starts each container with this binary as PID 1 and talks to it
//! over the container's stdin/stdout with the framed protocol of
//! `monaco_core::protocol`. The agent announces itself, receives one job,
//! writes its files into the work directory, runs the compile step and the
//! run step as an unprivileged user with limits, streams their output,
//! forwards input, reports when the program waits for input, and reports
//! each step with exact measurements. Then it exits, and Monaco removes the
//! container: one container, one job.
//!
//! It must stay small and self-contained (a static binary, no runtime), and
//! it must never trust the program: the program runs under another uid, with
//! no capabilities, and cannot signal, trace or impersonate the agent.

mod cgroup;
mod link;
mod prompt;
mod pty;
mod step;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use monaco_core::protocol::{self, AgentMessage, Job, WORK_DIR};
use monaco_core::{StepKind, Verdict};

use link::{Command, HostWriter, Shared};
use step::StdinMode;

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

fn run_job(
    job: &Job,
    shared: &Arc<Shared>,
    host: &HostWriter,
    commands: &std::sync::mpsc::Receiver<Command>,
) -> Result<(), String> {
    write_files(job)?;
    let cgroup = cgroup::Cgroup::detect();
    if let Some(compile) = &job.compile {
        let report = step::run(
            StepKind::Compile,
            compile,
            StdinMode::Null,
            job.uid,
            shared,
            host,
            &cgroup,
        );
        let ok = report.verdict == Some(Verdict::Ok);
        host.control(&AgentMessage::StepFinished {
            step: StepKind::Compile,
            report,
        });
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
    let stdin = if job.tty {
        StdinMode::Tty
    } else {
        StdinMode::Pipe
    };
    let report = step::run(
        StepKind::Run,
        &job.run,
        stdin,
        job.uid,
        shared,
        host,
        &cgroup,
    );
    host.control(&AgentMessage::StepFinished {
        step: StepKind::Run,
        report,
    });
    Ok(())
}

/// Writes the job's files and hands the work directory to the sandbox user.
fn write_files(job: &Job) -> Result<(), String> {
    let work = Path::new(WORK_DIR);
    for file in &job.files {
        let rel = Path::new(&file.path);
        // The host validated the names; refuse anything that could leave the
        // work directory all the same.
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(format!("refusing file name {:?}", file.path));
        }
        let path: PathBuf = work.join(rel);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, file.content.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", file.path))?;
    }
    chown_tree(work, job.uid).map_err(|e| format!("cannot prepare the work directory: {e}"))
}

fn chown_tree(path: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}
