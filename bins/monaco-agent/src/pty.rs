//! A pseudo-terminal for the run step of languages whose stdio only flushes
//! a prompt before reading when it talks to a terminal (C's `printf`).
//!
//! The terminal is raw: bytes cross unchanged in both directions (no echo,
//! no `\n` → `\r\n`, no signals from control characters). End of input is
//! the one thing a raw terminal cannot carry, so [`send_eof`] waits until the
//! program has read everything, switches to canonical mode and sends VEOF.

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
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        let ok = unsafe { libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut pending) } == 0;
        if !ok || pending == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
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
}
