//! A pseudo-terminal for the run step of languages whose stdio only flushes
//! a prompt before reading when it talks to a terminal (C's `printf`), and,
//! on stdin only, for every other interactive run step: a program that
//! stops reading then ends as it would in a terminal (Node does not while a
//! pipe on its stdin is open).
//!
//! The terminal is raw: bytes cross unchanged in both directions (no echo,
//! no `\n` → `\r\n`, no signals from control characters). End of input is
//! the one thing a raw terminal cannot carry, so [`send_eof`] waits until the
//! program has read everything, switches to canonical mode (with every
//! process stopped, see [`send_eof`]) and sends VEOF.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Both ends of a terminal.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    pub fn open() -> std::io::Result<Pty> {
        // SAFETY: plain system calls; every descriptor returned is checked
        // and owned exactly once.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if master < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let master = OwnedFd::from_raw_fd(master);
            if libc::unlockpt(master.as_raw_fd()) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let slave = libc::ioctl(
                master.as_raw_fd(),
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if slave < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let slave = OwnedFd::from_raw_fd(slave);
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave.as_raw_fd(), &mut t) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(Pty { master, slave })
        }
    }
}

/// Delivers end-of-file to the program reading `slave`.
pub fn send_eof(master: &mut File, slave: &OwnedFd) {
    let deadline = Instant::now() + Duration::from_secs(3600);
    // Wait for the program to read what is queued: switching modes with
    // bytes pending would change how they are read.
    while Instant::now() < deadline {
        // Bytes written to the master reach the slave's input queue later,
        // from a kernel work item; FIONREAD alone may read 0 while they are
        // in flight, and canonical mode would then swallow the VEOF as the
        // end of a line instead of an end of file. Polling the slave
        // commits anything in flight first.
        let mut p = libc::pollfd {
            fd: slave.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe {
            libc::poll(&mut p, 1, 0);
        }
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let ok = unsafe { libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut pending) } == 0;
        if !ok || pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // A read(2) already blocked when the mode changes keeps raw mode's
    // "at least one byte": it would consume the VEOF and go on waiting, so a
    // program reading to the end of input (`while (scanf(...) == 1)`) never
    // saw it. Stopped processes have left read(2); on SIGCONT it restarts,
    // transparently, under canonical mode, and finds the VEOF there.
    let stopped = stop_all();
    // SAFETY: termios is plain data; the calls only touch the terminal.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut t) == 0 {
            t.c_lflag |= libc::ICANON;
            t.c_lflag &= !(libc::ECHO | libc::ISIG | libc::IEXTEN);
            t.c_cc[libc::VEOF] = 4;
            libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    let _ = master.write_all(&[4]);
    if stopped {
        // SAFETY: as in `stop_all`.
        unsafe {
            libc::kill(-1, libc::SIGCONT);
        }
    }
}

/// Stops every process in the sandbox but the agent and waits (briefly)
/// until each one is stopped. Returns whether a signal was sent.
fn stop_all() -> bool {
    // SAFETY: kill(-1) from PID 1 of a PID namespace signals every other
    // process in it; the agent itself is never signalled.
    if unsafe { libc::kill(-1, libc::SIGSTOP) } < 0 {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && !all_stopped() {
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Whether every process but the agent is stopped or dead.
fn all_stopped() -> bool {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().all(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return true;
        };
        if pid == me {
            return true;
        }
        // The state is the field after the command name, which ends with
        // the last ')'.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return true;
        };
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        matches!(state, None | Some("T" | "t" | "Z" | "X"))
    })
}
