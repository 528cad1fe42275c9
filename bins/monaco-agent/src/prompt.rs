//! Input-prompt detection from kernel state.
//!
//! The program is waiting for input when one of its threads sleeps in a read
//! of its stdin (its `wchan` is a pipe or terminal read and its fd 0 is the
//! stdin we gave it), or sleeps in `epoll_wait` on a set that watches fd 0
//! (Node does that). Reading another process's `wchan` and `fdinfo` needs
//! CAP_SYS_PTRACE, which the agent keeps and the program never has.

use std::fs;

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
        fs::read_to_string(format!("/proc/{pid}/fdinfo/0"))
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
    for task in tasks.flatten() {
        let tid = task.file_name();
        let Some(tid) = tid.to_str() else { continue };
        let Ok(wchan) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")) else {
            continue;
        };
        let wchan = wchan.trim();
        if READ_WCHANS.contains(&wchan) {
            return true;
        }
        if EPOLL_WCHANS.contains(&wchan) && epoll_watches_stdin(pid) {
            return true;
        }
    }
    false
}

/// Whether one of the process's epoll sets watches fd 0.
fn epoll_watches_stdin(pid: u32) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_to_string(fd.path())
            .map(|info| watches_fd0(&info))
            .unwrap_or(false)
    })
}

fn watches_fd0(fdinfo: &str) -> bool {
    fdinfo.lines().any(|line| {
        let mut parts = line.split_whitespace();
        parts.next() == Some("tfd:") && parts.next() == Some("0")
    })
}

#[cfg(test)]
mod tests {
    use super::watches_fd0;

    #[test]
    fn epoll_fdinfo_parses() {
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                    tfd:        0 events:       19 data:                0  pos:0 ino:4d1 sdev:e\n";
        assert!(watches_fd0(info));
        let other = "tfd:       10 events:       19 data:                a  pos:0 ino:4d1 sdev:e\n";
        assert!(!watches_fd0(other));
    }
}
