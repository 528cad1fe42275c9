//! Running one step (compile or run) under its limits, and measuring it.
//!
//! Liveness: before the program starts, the agent starts every thread it
//! will need (one reader per output stream, one stdin writer), so that a
//! fork bomb that exhausts the pids limit cannot stop the agent from
//! supervising. The main thread then loops on the child's pidfd with a short
//! timeout: it reaps every process that exits (the agent is PID 1, so
//! orphans come to it), enforces wall time, CPU time and the output caps, and
//! looks for an input prompt. When the step's main process exits, everything
//! else in the sandbox is killed (`kill(-1)` from PID 1 spares only the agent)
//! and reaped; the readers then see end-of-file and the report is exact.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monaco_core::protocol::{AgentMessage, JobStep};
use monaco_core::{StepKind, StepReport, Stream, Verdict};

use crate::cgroup::Cgroup;
use crate::link::{HostWriter, Shared, StdinItem};
use crate::process::{
    child_setup, kill_all, kill_and_reap_all, pidfd_open, pipe, poll_in, reap, wait_readable, Usage,
};
use crate::prompt::{self, StdinIdentity};
use crate::pty::Pty;

/// How often the supervisor wakes when nothing happens.
const TICK: Duration = Duration::from_millis(5);
/// How often it looks for an input prompt.
const PROMPT_EVERY: Duration = Duration::from_millis(20);
/// CPU the program may use between two looks and still count as waiting for
/// input (a quarter of [`PROMPT_EVERY`]: a sleeping runtime's timers use far
/// less, a booting one uses nearly all of it).
const WAITING_CPU_USEC: u64 = 5_000;
/// How long a step's end waits for the container's memory to come back
/// from its limit (it takes milliseconds; memory that stays, such as files
/// in /tmp, is not waited for longer than this).
const SETTLE_PATIENCE: Duration = Duration::from_millis(500);

/// Where the step's stdin comes from.
pub enum StdinMode {
    /// Nothing: `/dev/null`.
    Null,
    /// The host's input through a pipe.
    Pipe,
    /// The host's input through a terminal, which is also stdout.
    Tty,
    /// The host's input through a terminal; stdout stays a pipe.
    TtyStdin,
    /// These bytes through a pipe, then end-of-file (a test case's input).
    Bytes(Vec<u8>),
}

/// One step to run: what, as whom, where, and what becomes of its output.
pub struct Launch<'a> {
    /// Which step it is (decides the verdict of a failed start or exit).
    pub kind: StepKind,
    /// The command, its environment and limits.
    pub step: &'a JobStep,
    /// The uid and gid it runs as.
    pub uid: u32,
    /// Its working directory.
    pub dir: &'a str,
    /// Where its stdin comes from.
    pub stdin: StdinMode,
    /// Send its output to the host as it prints (a checker's is not).
    pub stream: bool,
    /// Keep its output (up to the output limit) and the stdin it was given,
    /// for a judge.
    pub capture: bool,
}

/// What a step did, with what was kept of its stdin and stdout.
pub struct Ran {
    /// The step's report.
    pub report: StepReport,
    /// Its stdout up to the output limit, when captured.
    pub stdout: Vec<u8>,
    /// Its stderr up to the output limit, when captured.
    pub stderr: Vec<u8>,
    /// The host's input written to it, when captured (not a case's bytes,
    /// which the caller has).
    pub stdin: Vec<u8>,
}

/// Output bookkeeping shared by the reader threads and the supervisor.
struct OutputState {
    cap: u64,
    sent: [AtomicU64; 2],
    truncated: AtomicBool,
    /// Bumped on every chunk, so the prompt detector can tell that the
    /// program printed something since its last look.
    activity: AtomicU64,
    /// Output read ends (raw numbers, owned by the readers), so the prompt
    /// detector can check that nothing printed is still waiting in them.
    read_ends: std::sync::Mutex<Vec<i32>>,
    /// Readers holding a chunk they have not yet sent to the host.
    in_flight: AtomicU64,
    /// Every process of the step is gone: nothing can print any more.
    step_over: AtomicBool,
    /// Whether output goes to the host.
    stream: bool,
    /// Stdout and stderr kept for a judge, when they are kept.
    captured: Option<[Mutex<Vec<u8>>; 2]>,
}

impl OutputState {
    /// Whether every byte printed so far has been sent to the host: nothing
    /// waits in an output pipe or terminal, and no reader holds a chunk.
    fn drained(&self) -> bool {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return false;
        }
        let ends = self.read_ends.lock().unwrap_or_else(|e| e.into_inner());
        let waiting = ends.iter().any(|&fd| {
            let mut n: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int; a closed fd only fails.
            unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) == 0 && n > 0 }
        });
        !waiting
    }

    fn index(stream: Stream) -> usize {
        match stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// Why the supervisor stopped the step early.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Wall,
    Cpu,
    Output,
    Cancel,
}

/// Runs one step to its end and returns its report (and what it kept).
pub fn run(launch: Launch, shared: &Arc<Shared>, host: &HostWriter, cgroup: &Cgroup) -> Ran {
    let (kind, stream) = (launch.kind, launch.stream);
    match run_inner(launch, shared, host, cgroup) {
        Ok(ran) => ran,
        Err(message) => {
            if stream {
                host.output(Stream::Stderr, format!("monaco: {message}\n").as_bytes());
            }
            Ran {
                report: StepReport {
                    verdict: Some(match kind {
                        StepKind::Compile => Verdict::CompileError,
                        StepKind::Run => Verdict::RuntimeError,
                    }),
                    exit_code: Some(127),
                    ..StepReport::default()
                },
                stdout: Vec::new(),
                stderr: message.into_bytes(),
                stdin: Vec::new(),
            }
        }
    }
}

fn run_inner(
    launch: Launch,
    shared: &Arc<Shared>,
    host: &HostWriter,
    cgroup: &Cgroup,
) -> Result<Ran, String> {
    let Launch {
        kind,
        step,
        uid,
        dir,
        stdin: stdin_mode,
        stream,
        capture,
    } = launch;
    let limits = step.limits;
    let (program, args) = step
        .argv
        .split_first()
        .ok_or_else(|| "empty command".to_string())?;

    let output = Arc::new(OutputState {
        cap: limits.output_bytes,
        sent: [AtomicU64::new(0), AtomicU64::new(0)],
        truncated: AtomicBool::new(false),
        activity: AtomicU64::new(0),
        read_ends: std::sync::Mutex::new(Vec::new()),
        in_flight: AtomicU64::new(0),
        step_over: AtomicBool::new(false),
        stream,
        captured: capture.then(|| [Mutex::new(Vec::new()), Mutex::new(Vec::new())]),
    });
    let stdin_kept = capture.then(|| Arc::new(Mutex::new(Vec::new())));

    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .uid(uid)
        .gid(uid);

    // Wire stdio, starting every agent thread before the program exists.
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    let mut stdin_identity = None;
    let mut pty_slave_copy: Option<OwnedFd> = None;
    let (err_r, err_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    readers.push(spawn_reader(err_r, Stream::Stderr, &output, host, false));
    cmd.stderr(Stdio::from(err_w));
    match stdin_mode {
        StdinMode::Null => {
            let (out_r, out_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            readers.push(spawn_reader(out_r, Stream::Stdout, &output, host, false));
            cmd.stdin(Stdio::null()).stdout(Stdio::from(out_w));
        }
        StdinMode::Pipe => {
            let (out_r, out_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            let (in_r, in_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            readers.push(spawn_reader(out_r, Stream::Stdout, &output, host, false));
            stdin_identity = StdinIdentity::of_fd(in_r.as_raw_fd());
            spawn_stdin_writer(File::from(in_w), None, shared, host, stdin_kept.clone());
            cmd.stdin(Stdio::from(in_r)).stdout(Stdio::from(out_w));
        }
        StdinMode::Bytes(bytes) => {
            let (out_r, out_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            let (in_r, in_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            readers.push(spawn_reader(out_r, Stream::Stdout, &output, host, false));
            // Joined with the readers: it ends when everything is written
            // or the program's end of the pipe is gone.
            readers.push(spawn_bytes_writer(File::from(in_w), bytes));
            cmd.stdin(Stdio::from(in_r)).stdout(Stdio::from(out_w));
        }
        StdinMode::Tty => {
            let pty = Pty::open().map_err(|e| format!("cannot open a terminal: {e}"))?;
            let master_r = pty.master.try_clone().map_err(|e| e.to_string())?;
            let slave_in = pty.slave.try_clone().map_err(|e| e.to_string())?;
            let slave_out = pty.slave.try_clone().map_err(|e| e.to_string())?;
            stdin_identity = StdinIdentity::of_fd(pty.slave.as_raw_fd());
            readers.push(spawn_reader(master_r, Stream::Stdout, &output, host, true));
            let slave_for_eof = pty.slave.try_clone().map_err(|e| e.to_string())?;
            spawn_stdin_writer(
                File::from(pty.master),
                Some(slave_for_eof),
                shared,
                host,
                stdin_kept.clone(),
            );
            cmd.stdin(Stdio::from(slave_in))
                .stdout(Stdio::from(slave_out));
            pty_slave_copy = Some(pty.slave);
        }
        StdinMode::TtyStdin => {
            let pty = Pty::open().map_err(|e| format!("cannot open a terminal: {e}"))?;
            let (out_r, out_w) = pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
            readers.push(spawn_reader(out_r, Stream::Stdout, &output, host, false));
            // The terminal is read-write: what the program writes to it (to
            // fd 0, or /dev/tty) is shown as stdout, as a terminal would,
            // and never fills the terminal's buffer.
            let master_r = pty.master.try_clone().map_err(|e| e.to_string())?;
            readers.push(spawn_reader(master_r, Stream::Stdout, &output, host, true));
            let slave_in = pty.slave.try_clone().map_err(|e| e.to_string())?;
            stdin_identity = StdinIdentity::of_fd(pty.slave.as_raw_fd());
            let slave_for_eof = pty.slave.try_clone().map_err(|e| e.to_string())?;
            spawn_stdin_writer(
                File::from(pty.master),
                Some(slave_for_eof),
                shared,
                host,
                stdin_kept.clone(),
            );
            cmd.stdin(Stdio::from(slave_in)).stdout(Stdio::from(out_w));
            pty_slave_copy = Some(pty.slave);
        }
    }

    let tty = pty_slave_copy.is_some();
    let cpu_rlimit_s = limits.cpu_ms.div_ceil(1000) + 1;
    let rl = limits;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || child_setup(tty, cpu_rlimit_s, &rl));
    }

    let cpu_start = cgroup.cpu_mark();
    let mem_start = cgroup.memory_bytes().unwrap_or(0);
    let oom_start = cgroup.oom_kills();
    // A checker's steps are not the program's: the host hears nothing of them.
    if stream {
        host.control(&AgentMessage::StepStarted { step: kind });
    }
    let started = Instant::now();
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            drop(cmd);
            drop(pty_slave_copy);
            output.step_over.store(true, Ordering::SeqCst);
            join_all(readers);
            return Err(format!("cannot start `{program}`: {e}"));
        }
    };
    // Our copies of the child's ends must go, or the readers never see EOF.
    drop(cmd);
    let child_pid = child.id() as libc::pid_t;
    let pidfd = pidfd_open(child_pid);

    let agent_pid = std::process::id();
    let mut status: Option<libc::c_int> = None;
    let mut usage = Usage::default();
    let mut stop: Option<Stop> = None;
    let mut mem_peak_sampled = 0u64;
    let mut last_prompt_check = started;
    let mut prompt_armed = true;
    let mut prompt_seen_once = false;
    let mut activity_at_check = 0u64;
    let mut input_at_check = shared.stdin.pushed();
    let mut cpu_at_check = cpu_start;

    while status.is_none() {
        wait_readable(pidfd.as_ref(), TICK);
        reap(child_pid, &mut status, &mut usage);
        if status.is_some() {
            break;
        }
        if stop.is_none() {
            stop = if shared.killed() {
                Some(Stop::Cancel)
            } else if output.truncated.load(Ordering::SeqCst) {
                Some(Stop::Output)
            } else if started.elapsed() >= Duration::from_millis(limits.wall_ms) {
                Some(Stop::Wall)
            } else if cgroup
                .step_cpu_ms(&cpu_start)
                .is_some_and(|ms| ms >= limits.cpu_ms)
            {
                Some(Stop::Cpu)
            } else {
                None
            };
            if stop.is_some() {
                kill_all();
            }
        } else {
            // Already stopping: keep killing until the main process is gone.
            kill_all();
        }
        if let Some(m) = cgroup.memory_bytes() {
            mem_peak_sampled = mem_peak_sampled.max(m.saturating_sub(mem_start));
        }
        if let Some(stdin) = &stdin_identity {
            if last_prompt_check.elapsed() >= PROMPT_EVERY {
                last_prompt_check = Instant::now();
                let activity = output.activity.load(Ordering::SeqCst);
                // Input since the last look counts as activity too: a
                // program that reads line after line without printing
                // anything in between was reported waiting only once.
                let input = shared.stdin.pushed();
                // Nothing printed may still be on its way: a prompt reported
                // before its text would come without the text.
                // A program waiting for input uses no CPU: one that still
                // computes (a runtime booting while a thread of it already
                // polls stdin, as the BEAM does) is not waiting yet.
                let idle = cgroup
                    .step_cpu_usec(&cpu_at_check)
                    .is_none_or(|usec| usec < WAITING_CPU_USEC);
                let quiet = activity == activity_at_check
                    && input == input_at_check
                    && idle
                    && shared.stdin.is_empty()
                    && output.drained();
                activity_at_check = activity;
                input_at_check = input;
                cpu_at_check = cgroup.cpu_mark();
                let blocked = quiet && prompt::blocked_on_stdin(stdin, agent_pid);
                // Two consecutive sightings with no output or input between
                // them: the program really is waiting, not passing through.
                if blocked && prompt_armed {
                    if prompt_seen_once {
                        host.control(&AgentMessage::WaitingForInput);
                        prompt_armed = false;
                    }
                    prompt_seen_once = true;
                } else if !blocked {
                    prompt_seen_once = false;
                    // Re-armed only by output or input since: a program
                    // still waiting that is seen running for a moment (a
                    // runtime's own threads waking) is not a new prompt.
                    if !quiet {
                        prompt_armed = true;
                    }
                }
            }
        }
    }
    let wall = started.elapsed();
    let wall_ms = wall.as_millis() as u64;

    // The step is over when its main process is: nothing it started survives.
    kill_and_reap_all(&mut usage);
    // Before anything that allocates: a program the OOM killer took may
    // leave the memory full for a moment, and then the agent is the only
    // one left to kill.
    cgroup.settle(SETTLE_PATIENCE);
    drop(pty_slave_copy);
    output.step_over.store(true, Ordering::SeqCst);
    join_all(readers);

    let oom = match (oom_start, cgroup.oom_kills()) {
        (Some(a), Some(b)) => b > a,
        _ => false,
    };
    let status = status.unwrap_or(0);
    let (exit_code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let memory_bytes = usage.maxrss_bytes.max(mem_peak_sampled);
    let killed_by_kernel = signal == Some(libc::SIGKILL) && stop.is_none();
    let near_limit = memory_bytes.saturating_mul(100) >= limits.memory_bytes.saturating_mul(90);

    let mut verdicts = Vec::new();
    match stop {
        Some(Stop::Cancel) => verdicts.push(Verdict::Cancelled),
        Some(Stop::Output) => verdicts.push(Verdict::OutputLimitExceeded),
        Some(Stop::Wall) | Some(Stop::Cpu) => verdicts.push(Verdict::TimeLimitExceeded),
        None => {}
    }
    if output.truncated.load(Ordering::SeqCst) {
        verdicts.push(Verdict::OutputLimitExceeded);
    }
    if signal == Some(libc::SIGXCPU) || usage.cpu_ms() >= limits.cpu_ms {
        verdicts.push(Verdict::TimeLimitExceeded);
    }
    if oom || (killed_by_kernel && near_limit) {
        verdicts.push(Verdict::MemoryLimitExceeded);
    }
    if exit_code != Some(0) {
        verdicts.push(match kind {
            StepKind::Compile => Verdict::CompileError,
            StepKind::Run => Verdict::RuntimeError,
        });
    }
    let verdict = Verdict::strongest(verdicts);
    let cpu_ms = if usage.cpu_ms() > 0 {
        usage.cpu_ms()
    } else {
        cgroup.step_cpu_ms(&cpu_start).unwrap_or(0)
    };
    let report = StepReport {
        verdict: Some(verdict),
        exit_code,
        signal,
        wall_ms,
        wall_us: wall.as_micros() as u64,
        cpu_ms,
        memory_bytes: if verdict == Verdict::MemoryLimitExceeded {
            memory_bytes.max(limits.memory_bytes)
        } else {
            memory_bytes
        },
        truncated: output.truncated.load(Ordering::SeqCst),
    };
    let taken = |kept: Option<&Mutex<Vec<u8>>>| {
        kept.map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    };
    Ok(Ran {
        report,
        stdout: taken(output.captured.as_ref().map(|c| &c[0])),
        stderr: taken(output.captured.as_ref().map(|c| &c[1])),
        stdin: taken(stdin_kept.as_deref()),
    })
}

fn spawn_reader(
    fd: OwnedFd,
    stream: Stream,
    output: &Arc<OutputState>,
    host: &HostWriter,
    terminal: bool,
) -> JoinHandle<()> {
    let output = output.clone();
    let host = host.clone();
    output
        .read_ends
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(fd.as_raw_fd());
    std::thread::Builder::new()
        .name(format!("{stream:?}-reader"))
        .spawn(move || {
            let mut file = File::from(fd);
            let mut buf = vec![0u8; 64 * 1024];
            let slot = &output.sent[OutputState::index(stream)];
            loop {
                // A terminal's master cannot wait for end-of-file (EIO): the
                // stdin writer keeps a slave open for an EOF nobody may ever
                // send, so an interactive program that exited with its stdin
                // still open hung the agent until the host's deadline. Once
                // every process of the step is reaped nothing can print; a
                // zero-timeout poll flushes the terminal's pending buffers,
                // so draining until it reports nothing loses no byte.
                if terminal {
                    let over = output.step_over.load(Ordering::SeqCst);
                    let wait = if over { 0 } else { 20 };
                    if !poll_in(file.as_raw_fd(), wait) {
                        if over {
                            break;
                        }
                        continue;
                    }
                }
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // A terminal reports EIO once every slave end is closed.
                    Err(_) => break,
                };
                output.in_flight.fetch_add(1, Ordering::SeqCst);
                let sent = slot.load(Ordering::SeqCst);
                let room = output.cap.saturating_sub(sent) as usize;
                let keep = n.min(room);
                if keep > 0 {
                    if output.stream {
                        host.output(stream, &buf[..keep]);
                    }
                    if let Some(kept) = &output.captured {
                        kept[OutputState::index(stream)]
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend_from_slice(&buf[..keep]);
                    }
                    slot.fetch_add(keep as u64, Ordering::SeqCst);
                }
                if keep < n {
                    output.truncated.store(true, Ordering::SeqCst);
                }
                output.activity.fetch_add(1, Ordering::SeqCst);
                output.in_flight.fetch_sub(1, Ordering::SeqCst);
                // Past the cap, keep reading (and discarding) so the program
                // never blocks on a full pipe while it is being stopped.
            }
        })
        .expect("spawn output reader")
}

fn spawn_stdin_writer(
    mut sink: File,
    tty_slave: Option<OwnedFd>,
    shared: &Arc<Shared>,
    host: &HostWriter,
    kept: Option<Arc<Mutex<Vec<u8>>>>,
) {
    let shared = shared.clone();
    let host = host.clone();
    std::thread::Builder::new()
        .name("stdin-writer".into())
        .spawn(move || {
            let mut broken = false;
            let mut total = 0u64;
            loop {
                match shared.stdin.pop() {
                    StdinItem::Bytes(bytes) => {
                        if !broken && crate::link::write_patiently(&mut sink, &bytes).is_err() {
                            // The program closed its stdin; discard the rest.
                            broken = true;
                        }
                        if let Some(kept) = &kept {
                            kept.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .extend_from_slice(&bytes);
                        }
                        // The host sends more only as this goes up.
                        total += bytes.len() as u64;
                        host.control(&AgentMessage::StdinWritten { total });
                    }
                    StdinItem::Close => {
                        if let Some(slave) = &tty_slave {
                            crate::pty::send_eof(&mut sink, slave);
                        }
                        drop(sink);
                        return;
                    }
                }
            }
        })
        .expect("spawn stdin writer");
}

/// Writes a test case's input, then closes the pipe (end-of-file).
fn spawn_bytes_writer(mut sink: File, bytes: Vec<u8>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("case-stdin".into())
        // A program that exits without reading it all breaks the pipe.
        .spawn(move || drop(crate::link::write_patiently(&mut sink, &bytes)))
        .expect("spawn case stdin writer")
}

fn join_all(readers: Vec<JoinHandle<()>>) {
    for r in readers {
        let _ = r.join();
    }
}
