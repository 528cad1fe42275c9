//! Readings from the container's own cgroup (v1 or v2), seen read-only at
//! /sys/fs/cgroup inside the container.
//!
//! Every file is opened once, when the job starts, and read in place
//! (`pread` into a buffer on the stack) from then on. Opening a file
//! allocates kernel memory charged to the container, and right after the
//! OOM killer took the program the container can still be at its memory
//! limit for a few milliseconds while the program's pages are being freed,
//! with nobody left to kill but the agent: an `open` in that moment got
//! the agent killed (and the execution lost). Reading an open file
//! allocates nothing, so the agent can watch the memory come back
//! ([`Cgroup::settle`]) before it does anything that allocates.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// Which cgroup layout this container sees, and its files, open.
pub struct Cgroup {
    cpu_usage: Option<(File, CpuFormat)>,
    memory_current: Option<File>,
    memory_limit: Option<File>,
    oom_events: Option<(File, &'static str)>,
}

#[derive(Clone, Copy)]
enum CpuFormat {
    /// v1 `cpuacct.usage`: nanoseconds.
    Nanos,
    /// v2 `cpu.stat`: `usage_usec N` line.
    StatUsec,
}

fn first_existing(paths: &[&str]) -> Option<File> {
    paths.iter().find_map(|p| File::open(p).ok())
}

/// Reads `file` from its start into `buf`, without allocating.
fn read_in_place<'b>(file: &File, buf: &'b mut [u8; 1024]) -> Option<&'b str> {
    let n = file.read_at(buf, 0).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}

fn read_u64(file: &File) -> Option<u64> {
    let mut buf = [0u8; 1024];
    read_in_place(file, &mut buf)?.trim().parse().ok()
}

/// Memory the settling waits for: this much below the limit (or an
/// eighth of it, for small limits) is room for the agent's own work.
const SETTLE_MARGIN: u64 = 2 << 20;

impl Cgroup {
    pub fn detect() -> Cgroup {
        let v2 = std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok();
        if v2 {
            Cgroup {
                cpu_usage: first_existing(&["/sys/fs/cgroup/cpu.stat"])
                    .map(|f| (f, CpuFormat::StatUsec)),
                memory_current: first_existing(&["/sys/fs/cgroup/memory.current"]),
                memory_limit: first_existing(&["/sys/fs/cgroup/memory.max"]),
                oom_events: first_existing(&["/sys/fs/cgroup/memory.events"])
                    .map(|f| (f, "oom_kill")),
            }
        } else {
            Cgroup {
                cpu_usage: first_existing(&[
                    "/sys/fs/cgroup/cpuacct/cpuacct.usage",
                    "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage",
                    "/sys/fs/cgroup/cpuacct,cpu/cpuacct.usage",
                ])
                .map(|f| (f, CpuFormat::Nanos)),
                memory_current: first_existing(&["/sys/fs/cgroup/memory/memory.usage_in_bytes"]),
                memory_limit: first_existing(&["/sys/fs/cgroup/memory/memory.limit_in_bytes"]),
                oom_events: first_existing(&["/sys/fs/cgroup/memory/memory.oom_control"])
                    .map(|f| (f, "oom_kill")),
            }
        }
    }

    /// CPU time used by the whole container so far, microseconds.
    pub fn cpu_usec(&self) -> Option<u64> {
        let (file, format) = self.cpu_usage.as_ref()?;
        let mut buf = [0u8; 1024];
        let text = read_in_place(file, &mut buf)?;
        match format {
            CpuFormat::Nanos => text.trim().parse::<u64>().ok().map(|ns| ns / 1000),
            CpuFormat::StatUsec => keyed_value(text, "usage_usec"),
        }
    }

    /// Memory the container uses now, bytes.
    pub fn memory_bytes(&self) -> Option<u64> {
        read_u64(self.memory_current.as_ref()?)
    }

    /// The container's memory limit now, bytes (`None`: none, or unknown).
    fn memory_limit(&self) -> Option<u64> {
        read_u64(self.memory_limit.as_ref()?)
    }

    /// Waits, at most `patience`, until the container's memory is clear
    /// of its limit: after a step whose processes are all gone, their
    /// pages may still be on their way back (see the module's note).
    /// Returns at once when there is room, which is nearly always.
    pub fn settle(&self, patience: Duration) {
        let Some(limit) = self.memory_limit() else {
            return;
        };
        let margin = SETTLE_MARGIN.min(limit / 8);
        let until = Instant::now() + patience;
        while self
            .memory_bytes()
            .is_some_and(|used| used.saturating_add(margin) > limit)
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(1));
        }
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
        let (file, key) = self.oom_events.as_ref()?;
        let mut buf = [0u8; 1024];
        keyed_value(read_in_place(file, &mut buf)?, key)
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
    use std::fs::File;
    use std::time::{Duration, Instant};

    use super::{keyed_value, Cgroup};

    /// A cgroup whose memory readings are files this test writes.
    fn memory_files(used: u64, limit: u64) -> (tempdir::Dir, Cgroup) {
        let dir = tempdir::Dir::new();
        std::fs::write(dir.path("current"), used.to_string()).unwrap();
        std::fs::write(dir.path("max"), limit.to_string()).unwrap();
        let cgroup = Cgroup {
            cpu_usage: None,
            memory_current: Some(File::open(dir.path("current")).unwrap()),
            memory_limit: Some(File::open(dir.path("max")).unwrap()),
            oom_events: None,
        };
        (dir, cgroup)
    }

    mod tempdir {
        use std::path::PathBuf;

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let path = std::env::temp_dir().join(format!(
                    "monaco-agent-cgroup-{}-{:?}-{}",
                    std::process::id(),
                    std::thread::current().id(),
                    N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
            pub fn path(&self, name: &str) -> PathBuf {
                self.0.join(name)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn settling_waits_for_the_memory_to_come_back_and_no_longer() {
        let limit = 64 << 20;
        // Room already: no wait at all.
        let (_dir, cgroup) = memory_files(8 << 20, limit);
        let t = Instant::now();
        cgroup.settle(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));

        // At the limit, freed a moment later: back once the reading says so
        // (read in place from the open file, as the kernel's would be).
        let (dir, cgroup) = memory_files(limit, limit);
        let current = dir.path("current");
        let freer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(current, (4u64 << 20).to_string()).unwrap();
        });
        let t = Instant::now();
        cgroup.settle(Duration::from_secs(5));
        freer.join().unwrap();
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(cgroup.memory_bytes(), Some(4 << 20));

        // Memory that stays (files in /tmp): given up after the patience.
        let (_dir, cgroup) = memory_files(limit, limit);
        let t = Instant::now();
        cgroup.settle(Duration::from_millis(30));
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn keyed_values_parse() {
        let stat = "usage_usec 1234\nuser_usec 1000\n";
        assert_eq!(keyed_value(stat, "usage_usec"), Some(1234));
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed_value(oom, "oom_kill"), Some(2));
        assert_eq!(keyed_value(oom, "missing"), None);
    }
}
