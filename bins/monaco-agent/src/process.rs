//! The processes of a step: setting up the child before exec, reaping
//! and killing every process in the sandbox, and the descriptors the
//! supervisor waits on.
//!
//! The agent is PID 1 of the container's PID namespace, so every orphan is
//! reaped here and `kill(-1)` reaches every process but the agent.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use monaco_core::StepLimits;

/// In the child, after the switch to the sandbox user, before exec.
pub fn child_setup(tty: bool, cpu_s: u64, limits: &StepLimits) -> std::io::Result<()> {
    // SAFETY: plain system calls on this process; no memory is shared.
    unsafe {
        // Keep /proc/<pid> readable by the agent after the uid change.
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::setsid() < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        set_rlimit(libc::RLIMIT_CPU, cpu_s, cpu_s + 1)?;
        set_rlimit(
            libc::RLIMIT_FSIZE,
            limits.file_size_bytes,
            limits.file_size_bytes,
        )?;
        let nofile = u64::from(limits.open_files);
        set_rlimit(libc::RLIMIT_NOFILE, nofile, nofile)?;
        set_rlimit(libc::RLIMIT_CORE, 0, 0)?;
        // The program, not the agent, is what the OOM killer should pick.
        let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
        if fd >= 0 {
            libc::write(fd, b"1000".as_ptr().cast(), 4);
            libc::close(fd);
        }
    }
    Ok(())
}

fn set_rlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `rl` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, &rl) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Resource usage summed over every process reaped during the step.
#[derive(Default)]
pub struct Usage {
    pub cpu_us: u64,
    pub maxrss_bytes: u64,
}

impl Usage {
    pub fn add(&mut self, ru: &libc::rusage) {
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        self.cpu_us += tv(ru.ru_utime) + tv(ru.ru_stime);
        self.maxrss_bytes = self.maxrss_bytes.max(ru.ru_maxrss as u64 * 1024);
    }

    pub fn cpu_ms(&self) -> u64 {
        self.cpu_us / 1000
    }
}

/// Reaps every exited process without blocking; records the main child's
/// status when it is among them.
pub fn reap(child: libc::pid_t, status: &mut Option<libc::c_int>, usage: &mut Usage) {
    loop {
        let mut st = 0;
        // SAFETY: rusage is plain data the kernel fills in.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals.
        let pid = unsafe { libc::wait4(-1, &mut st, libc::WNOHANG | libc::__WALL, &mut ru) };
        if pid <= 0 {
            return;
        }
        usage.add(&ru);
        if pid == child {
            *status = Some(st);
        }
    }
}

/// SIGKILL to every process in the sandbox but the agent (PID 1).
pub fn kill_all() {
    // SAFETY: kill(-1) from PID 1 of a PID namespace signals every other
    // process in it; the agent itself is never signalled.
    unsafe {
        libc::kill(-1, libc::SIGKILL);
    }
}

pub fn kill_and_reap_all(usage: &mut Usage) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        kill_all();
        let mut st = 0;
        // SAFETY: rusage is plain data the kernel fills in.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals.
        let pid = unsafe { libc::wait4(-1, &mut st, libc::WNOHANG | libc::__WALL, &mut ru) };
        if pid > 0 {
            usage.add(&ru);
            continue;
        }
        if pid < 0 || Instant::now() >= deadline {
            // ECHILD: nothing is left.
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative result is a descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether `fd` has something to read (or hung up) within `timeout_ms`.
pub fn poll_in(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 }
}

/// Sleeps until the child exits or `timeout` passes.
pub fn wait_readable(fd: Option<&OwnedFd>, timeout: Duration) {
    match fd {
        Some(fd) => {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe {
                libc::poll(&mut p, 1, timeout.as_millis() as i32);
            }
        }
        None => std::thread::sleep(timeout),
    }
}
