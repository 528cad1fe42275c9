//! The CPU an operation costs the machine, from `/proc` accounting around a
//! timed loop: the whole machine's busy time (`/proc/stat`: user, nice,
//! system, irq, softirq, steal), the server's own (`/proc/<pid>/stat`), and
//! the bench's (`/proc/self/stat`: the clients, not Monaco), each divided by
//! the operations that succeeded, and the engine's daemons' (dockerd and
//! containerd, found by name). The rest of the machine's busy time is each
//! container's shim and runc, the containers themselves (the agent and the
//! program) and the kernel's work for them: short-lived processes are gone
//! by the end of a loop, so they are counted in that remainder rather than
//! one by one. On a busy machine the remainder holds the other work too. Set beside the same cost of a bare container lifecycle, measured
//! the same way, it shows Monaco's own share.

/// Clock ticks per second of `/proc`'s times (`USER_HZ`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// Busy ticks so far: the machine's, the server's, the bench's.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    machine: u64,
    server: Option<u64>,
    bench: u64,
    /// dockerd and containerd (long-lived: counted one by one).
    daemons: u64,
}

/// The marks now; `server` is the server's PID, if one runs.
pub fn mark(server: Option<u32>) -> CpuMark {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    CpuMark {
        machine: machine_busy(&stat).unwrap_or(0),
        server: server.and_then(|pid| process_ticks(&format!("/proc/{pid}/stat"))),
        bench: process_ticks("/proc/self/stat").unwrap_or(0),
        daemons: daemon_ticks(),
    }
}

/// The engine's long-lived daemons: every process whose command is
/// `dockerd` or `containerd`.
const DAEMONS: [&str; 2] = ["dockerd", "containerd"];

fn daemon_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|comm| DAEMONS.contains(&comm.trim()))
        })
        .filter_map(|e| process_ticks(&e.path().join("stat").to_string_lossy()))
        .sum()
}

/// Milliseconds of CPU per operation, between two marks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuCost {
    /// The whole machine.
    pub machine_ms: f64,
    /// The server process (none when there was no server).
    pub server_ms: Option<f64>,
    /// The bench itself (the clients).
    pub bench_ms: f64,
    /// dockerd and containerd.
    pub daemons_ms: f64,
}

impl CpuCost {
    /// `machine − server − bench − daemons`: the shims and runc, the
    /// containers, the kernel (and anything else the machine ran).
    pub fn rest_ms(&self) -> f64 {
        self.machine_ms - self.server_ms.unwrap_or(0.0) - self.bench_ms - self.daemons_ms
    }

    /// `machine − bench`: what the operation costs without its client.
    pub fn without_client_ms(&self) -> f64 {
        self.machine_ms - self.bench_ms
    }
}

/// The cost per operation of `operations` between `from` and `to`.
pub fn cost(from: &CpuMark, to: &CpuMark, operations: usize) -> Option<CpuCost> {
    if operations == 0 {
        return None;
    }
    let per = |ticks: u64| ticks as f64 * 1000.0 / ticks_per_second() / operations as f64;
    Some(CpuCost {
        machine_ms: per(to.machine.saturating_sub(from.machine)),
        server_ms: from
            .server
            .zip(to.server)
            .map(|(a, b)| per(b.saturating_sub(a))),
        bench_ms: per(to.bench.saturating_sub(from.bench)),
        daemons_ms: per(to.daemons.saturating_sub(from.daemons)),
    })
}

/// Busy ticks of all CPUs from `/proc/stat`'s first line.
fn machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    Some(at(0) + at(1) + at(2) + at(5) + at(6) + at(7))
}

/// utime + stime + cutime + cstime of a process, from its `stat` file.
fn process_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command may hold spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the ')': state is field 3, utime field 14 … cstime field 17.
    let at = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(at(14)? + at(15)? + at(16)? + at(17)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_busy_time_leaves_idle_and_iowait_out() {
        let stat = "cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 50 2 25 4500 20 1 1 0 0 0\n";
        assert_eq!(machine_busy(stat), Some(100 + 5 + 50 + 3 + 2 + 1));
    }

    #[test]
    fn a_process_stat_is_read_after_its_command() {
        let dir = std::env::temp_dir().join(format!("monaco-bench-cpu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stat");
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime cutime cstime …
        std::fs::write(
            &path,
            "42 (a (b) c) S 1 42 42 0 -1 0 0 0 0 0 70 30 5 5 20 0\n",
        )
        .unwrap();
        assert_eq!(process_ticks(path.to_str().unwrap()), Some(110));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(process_ticks("/proc/self/stat").is_some());
    }

    #[test]
    fn costs_are_per_operation() {
        let hz = ticks_per_second();
        let from = CpuMark {
            machine: 0,
            server: Some(0),
            bench: 0,
            daemons: 0,
        };
        let to = CpuMark {
            machine: hz as u64 * 2,
            server: Some(hz as u64),
            bench: hz as u64 / 2,
            daemons: hz as u64 / 4,
        };
        let c = cost(&from, &to, 10).unwrap();
        assert!((c.machine_ms - 200.0).abs() < 1e-9);
        assert_eq!(c.server_ms.map(|s| s.round()), Some(100.0));
        assert!((c.daemons_ms - 25.0).abs() < 1.0);
        assert!((c.rest_ms() - 25.0).abs() < 1.0);
        assert_eq!(cost(&from, &to, 0), None);
    }
}
