//! Readings from the container's own cgroup (v1 or v2), seen read-only at
//! /sys/fs/cgroup inside the container.

use std::fs;

/// Which cgroup layout this container sees.
pub struct Cgroup {
    cpu_usage: Option<(String, CpuFormat)>,
    memory_current: Option<String>,
    oom_events: Option<(String, &'static str)>,
}

#[derive(Clone, Copy)]
enum CpuFormat {
    /// v1 `cpuacct.usage`: nanoseconds.
    Nanos,
    /// v2 `cpu.stat`: `usage_usec N` line.
    StatUsec,
}

fn first_existing(paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find(|p| fs::metadata(p).is_ok())
        .map(|p| p.to_string())
}

impl Cgroup {
    pub fn detect() -> Cgroup {
        let v2 = fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
        if v2 {
            Cgroup {
                cpu_usage: first_existing(&["/sys/fs/cgroup/cpu.stat"])
                    .map(|p| (p, CpuFormat::StatUsec)),
                memory_current: first_existing(&["/sys/fs/cgroup/memory.current"]),
                oom_events: first_existing(&["/sys/fs/cgroup/memory.events"])
                    .map(|p| (p, "oom_kill")),
            }
        } else {
            Cgroup {
                cpu_usage: first_existing(&[
                    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
                    "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
                    "/sys/fs/cgroup/cpuacct,cpu/cpuacct.usage",
                ])
                .map(|p| (p, CpuFormat::Nanos)),
                memory_current: first_existing(&["/sys/fs/cgroup/memory/memory.usage_in_bytes"]),
                oom_events: first_existing(&["/sys/fs/cgroup/memory/memory.oom_control"])
                    .map(|p| (p, "oom_kill")),
            }
        }
    }

    /// CPU time used by the whole container so far, microseconds.
    pub fn cpu_usec(&self) -> Option<u64> {
        let (path, format) = self.cpu_usage.as_ref()?;
        let text = fs::read_to_string(path).ok()?;
        match format {
            CpuFormat::Nanos => text.trim().parse::<u64>().ok().map(|ns| ns / 1000),
            CpuFormat::StatUsec => keyed_value(&text, "usage_usec"),
        }
    }

    /// Memory the container uses now, bytes.
    pub fn memory_bytes(&self) -> Option<u64> {
        fs::read_to_string(self.memory_current.as_ref()?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Where a step's CPU time starts counting.
    pub fn cpu_mark(&self) -> CpuMark {
        CpuMark {
            agent_usec: agent_cpu_usec(),
            container_usec: self.cpu_usec(),
        }
    }

    /// CPU time, milliseconds, used since `mark` by every process in the
    /// container but the agent: the container's usage less the agent's
    /// own. (The agent polls the step every few milliseconds; counting its
    /// CPU against the program stopped a 1 s spin loop at 0.93 s of its own
    /// CPU, and much earlier on a slow CPU.)
    pub fn step_cpu_ms(&self, mark: &CpuMark) -> Option<u64> {
        Some(self.step_cpu_usec(mark)? / 1000)
    }

    /// As [`Cgroup::step_cpu_ms`], in microseconds.
    pub fn step_cpu_usec(&self, mark: &CpuMark) -> Option<u64> {
        let container = self.cpu_usec()?.saturating_sub(mark.container_usec?);
        let agent = agent_cpu_usec().saturating_sub(mark.agent_usec);
        Some(container.saturating_sub(agent))
    }

    /// How many times the kernel's OOM killer acted in this container.
    pub fn oom_kills(&self) -> Option<u64> {
        let (path, key) = self.oom_events.as_ref()?;
        keyed_value(&fs::read_to_string(path).ok()?, key)
    }
}

/// A point from which [`Cgroup::step_cpu_ms`] counts.
#[derive(Clone, Copy)]
pub struct CpuMark {
    agent_usec: u64,
    container_usec: Option<u64>,
}

/// CPU time of the agent itself (all its threads), microseconds.
fn agent_cpu_usec() -> u64 {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into `ru`, which outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == key)
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::keyed_value;

    #[test]
    fn keyed_values_parse() {
        let stat = "usage_usec 1234\nuser_usec 1000\n";
        assert_eq!(keyed_value(stat, "usage_usec"), Some(1234));
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed_value(oom, "oom_kill"), Some(2));
        assert_eq!(keyed_value(oom, "missing"), None);
    }
}
