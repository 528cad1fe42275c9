//! Input-prompt detection from kernel state.
//!
//! The program is waiting for input when one of its threads sleeps (its
//! `wchan` says in what) in a read of its stdin, in `epoll_wait` on a set
//! that watches its stdin (Node does that), or in `poll`, `ppoll`, `select`
//! or `pselect6` with its stdin among the descriptors it waits to read
//! (SBCL and Racket do that). The stdin is the one we gave it, as fd 0 or a
//! copy. Which descriptor a call waits on comes from its arguments in
//! `/proc/<pid>/task/<tid>/syscall`, and a poll's descriptor set from
//! `/proc/<pid>/mem`: a runtime's own threads read and wait on descriptors
//! of their own from its start (the BEAM's signal dispatcher reads a pipe
//! while the runtime boots), and those are no prompt. Reading
//! another process's `wchan`, `fdinfo`, `syscall` and memory needs
//! CAP_SYS_PTRACE, which the agent keeps and the program never has. The last
//! two are also mode 0400 and the program's own, and the agent has no
//! CAP_DAC_OVERRIDE: it opens them with its filesystem uid set, on its own
//! thread and for those two opens only, to the program's
//! ([`as_owner_of`]).

use std::fs;
use std::os::unix::fs::FileExt;

/// Kernel functions a thread sleeps in while reading a pipe or a terminal.
const READ_WCHANS: &[&str] = &[
    "pipe_read",
    "anon_pipe_read",
    "pipe_wait",
    "pipe_wait_readable",
    "n_tty_read",
    "wait_woken",
    "tty_read",
];
/// Kernel functions a thread sleeps in while in `epoll_wait`.
const EPOLL_WCHANS: &[&str] = &["ep_poll", "do_epoll_wait"];

/// Kernel functions a thread sleeps in while in `poll` or `select` (the
/// kernel may print them with a suffix such as `.constprop.0`).
const POLL_WCHANS: &[&str] = &["poll_schedule_timeout", "do_sys_poll", "do_select"];

/// Identifies the stdin we gave the program by the `mnt_id` and `ino` lines
/// of its fdinfo. (`/proc/<pid>/fd` itself needs CAP_DAC_READ_SEARCH to
/// follow; fdinfo needs only the ptrace access the agent has.)
#[derive(Clone, PartialEq, Eq)]
pub struct StdinIdentity(String);

impl StdinIdentity {
    pub fn of_fd(fd: i32) -> Option<StdinIdentity> {
        identity(&fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?)
    }

    fn matches(&self, pid: u32) -> bool {
        self.is_fd_of(pid, 0)
    }

    /// Whether descriptor `fd` of process `pid` is this stdin (a copy of
    /// it made by `dup`, say).
    fn is_fd_of(&self, pid: u32, fd: i32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
            .ok()
            .and_then(|info| identity(&info))
            .is_some_and(|id| id == *self)
    }
}

fn identity(fdinfo: &str) -> Option<StdinIdentity> {
    let field = |key: &str| {
        fdinfo
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    Some(StdinIdentity(format!(
        "{}:{}",
        field("mnt_id:")?,
        field("ino:")?
    )))
}

/// Whether any sandbox process is blocked reading `stdin` right now.
pub fn blocked_on_stdin(stdin: &StdinIdentity, agent_pid: u32) -> bool {
    let Ok(procs) = fs::read_dir("/proc") else {
        return false;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == agent_pid {
            continue;
        }
        if process_blocked_on_stdin(pid, stdin) {
            return true;
        }
    }
    false
}

fn process_blocked_on_stdin(pid: u32, stdin: &StdinIdentity) -> bool {
    if !stdin.matches(pid) {
        return false;
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let tids: Vec<String> = tasks
        .flatten()
        .filter_map(|t| t.file_name().into_string().ok())
        .collect();
    // A thread that runs, waits for a CPU, or waits for the disk means the
    // program is still working (a runtime booting while another of its
    // threads already polls stdin, as the BEAM does, loading its code from
    // a cold page cache), whatever the others sleep in.
    if tids.iter().any(|tid| working(pid, tid)) {
        return false;
    }
    // A runtime's own threads sleep in reads and waits of their own from
    // its start (the BEAM's signal dispatcher reads a pipe, its schedulers
    // wait in epoll): only a wait whose descriptor is the stdin counts.
    tids.iter().any(|tid| {
        fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan"))
            .is_ok_and(|wchan| thread_waits_on_stdin(pid, tid, wchan.trim(), stdin))
    })
}

fn thread_waits_on_stdin(pid: u32, tid: &str, wchan: &str, stdin: &StdinIdentity) -> bool {
    let read = READ_WCHANS.contains(&wchan);
    let epoll = EPOLL_WCHANS.contains(&wchan);
    if !(read || epoll || is_poll_wchan(wchan)) {
        return false;
    }
    // Both opened under one change of fsuid; the memory only for a poll,
    // whose descriptor set it holds.
    let Some((syscall, mem)) = as_owner_of(pid, || {
        let syscall = fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
        let mem = if read || epoll {
            None
        } else {
            Some(fs::File::open(format!("/proc/{pid}/mem")).ok()?)
        };
        Some((syscall, mem))
    }) else {
        return false;
    };
    let is_stdin = |fd: i32| fd == 0 || stdin.is_fd_of(pid, fd);
    match parse_wait(&syscall) {
        Some(Wait::Read { fd }) => read && is_stdin(fd),
        Some(Wait::Epoll { epfd }) => epoll && epoll_watches(pid, epfd, &is_stdin),
        Some(wait @ (Wait::Poll { .. } | Wait::Select { .. })) => {
            let Some(mem) = mem else { return false };
            polled_fds(&wait, &mem).into_iter().any(|fd| {
                // fd 0 itself, or an epoll set that watches it (Racket polls
                // its epoll descriptor and a wake-up pipe).
                is_stdin(fd) || epoll_watches(pid, fd, &is_stdin)
            })
        }
        None => false,
    }
}

/// Whether `epfd` of process `pid` is an epoll set watching a descriptor
/// that `is_stdin` accepts.
fn epoll_watches(pid: u32, epfd: i32, is_stdin: &impl Fn(i32) -> bool) -> bool {
    fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}"))
        .is_ok_and(|info| watched_fds(&info).any(is_stdin))
}

/// The target descriptors of an epoll set's fdinfo (its `tfd:` lines).
fn watched_fds(fdinfo: &str) -> impl Iterator<Item = i32> + '_ {
    fdinfo.lines().filter_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some("tfd:"))
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

/// Whether the thread's state (the field after the command name in its
/// `stat`) is R (running or waiting for a CPU) or D (in uninterruptible
/// sleep: reading the disk, faulting pages in).
fn working(pid: u32, tid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .ok()
        .as_deref()
        .is_some_and(stat_says_working)
}

fn stat_says_working(stat: &str) -> bool {
    // The command name may hold spaces and parentheses: the state follows
    // the last ')'.
    matches!(
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next()),
        Some("R" | "D")
    )
}

fn is_poll_wchan(wchan: &str) -> bool {
    let name = wchan.split('.').next().unwrap_or(wchan);
    POLL_WCHANS.contains(&name)
}

/// The wait a thread is in, read off its `syscall` file: the syscall number
/// and its first arguments.
#[derive(Debug, PartialEq, Eq)]
enum Wait {
    /// `read`, `readv`, `pread64`, `preadv`, `preadv2`: the descriptor.
    Read { fd: i32 },
    /// `epoll_wait`, `epoll_pwait`, `epoll_pwait2`: the epoll set.
    Epoll { epfd: i32 },
    /// `poll`/`ppoll`: an array of `struct pollfd` and its length.
    Poll { fds: u64, nfds: u64 },
    /// `select`/`pselect6`: the highest descriptor + 1 and the read set.
    Select { nfds: u64, readfds: u64 },
}

const READ_CALLS: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_preadv,
    libc::SYS_preadv2,
];
#[cfg(target_arch = "x86_64")]
const EPOLL_CALLS: &[libc::c_long] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
];
#[cfg(not(target_arch = "x86_64"))]
const EPOLL_CALLS: &[libc::c_long] = &[libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
#[cfg(target_arch = "x86_64")]
const POLL_CALLS: &[libc::c_long] = &[libc::SYS_poll, libc::SYS_ppoll];
#[cfg(not(target_arch = "x86_64"))]
const POLL_CALLS: &[libc::c_long] = &[libc::SYS_ppoll];
#[cfg(target_arch = "x86_64")]
const SELECT_CALLS: &[libc::c_long] = &[libc::SYS_select, libc::SYS_pselect6];
#[cfg(not(target_arch = "x86_64"))]
const SELECT_CALLS: &[libc::c_long] = &[libc::SYS_pselect6];

/// Parses `/proc/<pid>/task/<tid>/syscall`: "nr arg0 arg1 … sp pc", the
/// arguments in hexadecimal; "running" or "-1 …" when not in a syscall.
fn parse_wait(syscall: &str) -> Option<Wait> {
    let mut fields = syscall.split_whitespace();
    let nr: libc::c_long = fields.next()?.parse().ok()?;
    let mut arg = || u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok();
    if READ_CALLS.contains(&nr) {
        Some(Wait::Read { fd: arg()? as i32 })
    } else if EPOLL_CALLS.contains(&nr) {
        Some(Wait::Epoll {
            epfd: arg()? as i32,
        })
    } else if POLL_CALLS.contains(&nr) {
        Some(Wait::Poll {
            fds: arg()?,
            nfds: arg()?,
        })
    } else if SELECT_CALLS.contains(&nr) {
        Some(Wait::Select {
            nfds: arg()?,
            readfds: arg()?,
        })
    } else {
        None
    }
}

/// The descriptors a poll or select waits to read, from the program's
/// memory. (A program's own descriptor sets are small; a huge one is not
/// read.)
fn polled_fds(wait: &Wait, mem: &fs::File) -> Vec<i32> {
    match *wait {
        Wait::Poll { fds, nfds } => {
            let mut buf = vec![0u8; nfds.min(1024) as usize * 8];
            if mem.read_exact_at(&mut buf, fds).is_err() {
                return Vec::new();
            }
            pollfds_to_read(&buf)
        }
        Wait::Select { nfds, readfds } => {
            let mut buf = vec![0u8; nfds.min(1024).div_ceil(8) as usize];
            if readfds == 0 || mem.read_exact_at(&mut buf, readfds).is_err() {
                return Vec::new();
            }
            fd_set_members(&buf, nfds)
        }
        Wait::Read { .. } | Wait::Epoll { .. } => Vec::new(),
    }
}

/// The descriptors an array of `struct pollfd { int fd; short events;
/// short revents; }` waits to read.
fn pollfds_to_read(buf: &[u8]) -> Vec<i32> {
    const READABLE: i16 = libc::POLLIN | libc::POLLPRI | libc::POLLRDNORM;
    buf.chunks_exact(8)
        .filter_map(|pollfd| {
            let fd = i32::from_ne_bytes(pollfd[0..4].try_into().unwrap());
            let events = i16::from_ne_bytes(pollfd[4..6].try_into().unwrap());
            (fd >= 0 && events & READABLE != 0).then_some(fd)
        })
        .collect()
}

/// The descriptors below `nfds` in an `fd_set` bitmap (bit n of byte n / 8,
/// least significant first, as Linux lays it out).
fn fd_set_members(buf: &[u8], nfds: u64) -> Vec<i32> {
    (0..nfds.min(buf.len() as u64 * 8))
        .filter(|&fd| buf[(fd / 8) as usize] & (1 << (fd % 8)) != 0)
        .map(|fd| fd as i32)
        .collect()
}

/// Runs `open` with this thread's filesystem uid and gid set to those of
/// process `pid`, then sets them back. `setfsuid`/`setfsgid` act on the
/// calling thread alone (they are raw system calls), so no other thread of
/// the agent ever runs with them changed; the capabilities a non-zero fsuid
/// clears are the filesystem ones, which come back with fsuid 0.
fn as_owner_of<T>(pid: u32, open: impl FnOnce() -> Option<T>) -> Option<T> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let id = |key: &str| -> Option<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let (uid, gid) = (id("Uid:")?, id("Gid:")?);
    // SAFETY: setfsuid/setfsgid take an id and return the previous one; they
    // touch no memory.
    let (old_uid, old_gid) = unsafe {
        let old_gid = libc::syscall(libc::SYS_setfsgid, gid) as u32;
        let old_uid = libc::syscall(libc::SYS_setfsuid, uid) as u32;
        (old_uid, old_gid)
    };
    let opened = open();
    // SAFETY: as above.
    unsafe {
        libc::syscall(libc::SYS_setfsuid, old_uid);
        libc::syscall(libc::SYS_setfsgid, old_gid);
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::{fd_set_members, is_poll_wchan, parse_wait, pollfds_to_read, watched_fds, Wait};

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn poll_and_select_syscalls_parse() {
        // What SBCL showed, waiting for a line: poll(fds, 1, -1).
        let sbcl =
            "7 0x7fd0a7c07ff8 0x1 0xffffffff 0x0 0x0 0x1001344a13 0x7fd0a7a06bb0 0x7fd0a7ec226f";
        assert_eq!(
            parse_wait(sbcl),
            Some(Wait::Poll {
                fds: 0x7fd0a7c07ff8,
                nfds: 1
            })
        );
        let select = "23 0x1 0x7ffe0000 0x0 0x0 0x0 0x0 0x7ffe 0x7f";
        assert_eq!(
            parse_wait(select),
            Some(Wait::Select {
                nfds: 1,
                readfds: 0x7ffe0000
            })
        );
        // A futex wait, a thread not in a syscall: no wait of these.
        assert_eq!(parse_wait("202 0x55 0x189 0x0 0x0 0x0 0x0 0x7f 0x7f"), None);
        assert_eq!(parse_wait("running"), None);
        assert_eq!(parse_wait("-1 0x7ffe 0x7f"), None);
    }

    #[test]
    fn thread_states_parse() {
        assert!(super::stat_says_working("12 (beam.smp) R 1 12 12 0 -1"));
        assert!(super::stat_says_working("12 (beam.smp) D 1 12 12 0 -1"));
        assert!(!super::stat_says_working("12 (beam.smp) S 1 12 12 0 -1"));
        assert!(!super::stat_says_working("12 (a) R (b)) S 1 12"));
        assert!(!super::stat_says_working("garbage"));
    }

    #[test]
    fn poll_wchans_match_with_suffixes() {
        assert!(is_poll_wchan("poll_schedule_timeout.constprop.0"));
        assert!(is_poll_wchan("do_select"));
        assert!(!is_poll_wchan("hrtimer_nanosleep"));
        assert!(!is_poll_wchan("futex_do_wait"));
    }

    #[test]
    fn pollfd_arrays_are_read() {
        let pollfd = |fd: i32, events: i16| {
            let mut b = fd.to_ne_bytes().to_vec();
            b.extend_from_slice(&events.to_ne_bytes());
            b.extend_from_slice(&0i16.to_ne_bytes());
            b
        };
        // SBCL's set, as read from its memory: fd 0, POLLIN|POLLPRI.
        assert_eq!(pollfds_to_read(&pollfd(0, 3)), vec![0]);
        // Racket's: its epoll descriptor and a wake-up pipe.
        let mut racket = pollfd(6, libc::POLLIN);
        racket.extend(pollfd(4, libc::POLLIN));
        assert_eq!(pollfds_to_read(&racket), vec![6, 4]);
        // Polled for writing only, or a negative (ignored) entry: not read.
        let mut other = pollfd(0, libc::POLLOUT);
        other.extend(pollfd(-1, libc::POLLIN));
        assert!(pollfds_to_read(&other).is_empty());
    }

    #[test]
    fn fd_sets_are_read() {
        assert_eq!(fd_set_members(&[0b0000_0001], 1), vec![0]);
        assert_eq!(fd_set_members(&[0b0001_0010, 0b1], 9), vec![1, 4, 8]);
        // Bits at or above nfds are not part of the set.
        assert_eq!(fd_set_members(&[0b1000_0001], 3), vec![0]);
    }

    #[test]
    fn epoll_fdinfo_parses() {
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                    tfd:        0 events:       19 data:                0  pos:0 ino:4d1 sdev:e\n";
        assert_eq!(watched_fds(info).collect::<Vec<_>>(), [0]);
        let two = "tfd:       10 events:       19 data:                a  pos:0 ino:4d1 sdev:e\n\
                   tfd:        3 events:       19 data:                3  pos:0 ino:4d2 sdev:e\n";
        assert_eq!(watched_fds(two).collect::<Vec<_>>(), [10, 3]);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn read_and_epoll_syscalls_parse() {
        // What the BEAM showed while booting: its signal dispatcher reads a
        // pipe of its own (fd 12), a scheduler waits on epoll set 6.
        let read = "0 0xc 0x7f42b7606e50 0x20 0x0 0x0 0x0 0x7f42b7606e30 0x7f42b7f1b19d";
        assert_eq!(parse_wait(read), Some(Wait::Read { fd: 12 }));
        let epoll = "232 0x6 0x7f42b7b23968 0x200 0xffffffff 0x0 0x0 0x7f42b7b23930 0x7f42b7f2a0a6";
        assert_eq!(parse_wait(epoll), Some(Wait::Epoll { epfd: 6 }));
        // readv on the stdin, epoll_pwait.
        assert_eq!(
            parse_wait("19 0x0 0x7ffd 0x1 0x0 0x0 0x0 0x1 0x2"),
            Some(Wait::Read { fd: 0 })
        );
        assert_eq!(
            parse_wait("281 0x4 0x7ffd 0x1 0x0 0x0 0x0 0x1 0x2"),
            Some(Wait::Epoll { epfd: 4 })
        );
        // A futex wait is none of them; nor is a thread that runs.
        assert_eq!(
            parse_wait("202 0x55ecf870a7cc 0x189 0x0 0x0 0x0 0x0 0x1 0x2"),
            None
        );
        assert_eq!(parse_wait("running"), None);
    }
}
