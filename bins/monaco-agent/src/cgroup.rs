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

    /// How many times the kernel's OOM killer acted in this container.
    pub fn oom_kills(&self) -> Option<u64> {
        let (path, key) = self.oom_events.as_ref()?;
        keyed_value(&fs::read_to_string(path).ok()?, key)
    }
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
