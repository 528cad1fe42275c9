//! The run step's memory and pids limits, given to a container between its
//! compile and run steps, and a fresh CPU budget for it.
//!
//! A container is created with the larger of both steps' limits; before the
//! run step starts it gets the run step's own. The engine's way is `docker
//! update`, which has containerd start `runc update`, which writes the
//! container's cgroup files: about 10 ms on the path of every compiled
//! execution. Where this server shares the engine's host and may write its
//! cgroup tree (it runs as root beside `dockerd`), [`RunLimits`] writes the
//! same files itself, in microseconds: the same limits, enforced by the same
//! kernel controllers, only without the round trip. It takes that way only
//! for a cgroup it has proved to be the container's: the directory named by
//! the container's id under the engine's layout (cgroupfs or systemd
//! driver, cgroup v1 or v2), whose memory limit is the one the container
//! was created with. Anything else (a remote engine, a server in a
//! container of its own, a rootless engine, a write refused) goes through
//! `docker update` as before, which the engine's record of the container
//! then also shows.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bollard::container::UpdateContainerOptions;
use bollard::Docker;
use monaco_core::StepLimits;

use super::container::AGENT_THREADS;

/// Where the host's cgroup tree is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Gives containers their run step's limits.
pub(crate) struct RunLimits {
    docker: Docker,
    host: Option<HostCgroups>,
    direct: AtomicU64,
    engine: AtomicU64,
    said_why: AtomicBool,
}

impl RunLimits {
    /// `direct` false: always through the engine.
    pub(crate) fn new(docker: Docker, direct: bool) -> RunLimits {
        RunLimits {
            docker,
            host: direct.then(|| HostCgroups::at(CGROUP_ROOT)),
            direct: AtomicU64::new(0),
            engine: AtomicU64::new(0),
            said_why: AtomicBool::new(false),
        }
    }

    /// Gives container `id`, created with `created_memory` bytes, the
    /// memory and pids limits of `limits`.
    pub(crate) async fn set(
        &self,
        id: &str,
        created_memory: u64,
        limits: &StepLimits,
    ) -> Result<(), String> {
        let memory = limits.memory_bytes;
        let pids = u64::from(limits.processes) + AGENT_THREADS as u64;
        if let Some(host) = &self.host {
            // A lower memory limit makes the kernel reclaim first: off the
            // async threads.
            let (host, container) = (host.clone(), id.to_string());
            let tightened = tokio::task::spawn_blocking(move || {
                host.tighten(&container, created_memory, memory, pids)
            })
            .await
            .unwrap_or_else(|e| Err(format!("the cgroup write did not finish: {e}")));
            match tightened {
                Ok(()) => {
                    self.direct.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(why) => {
                    if !self.said_why.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            "run-step limits go through the engine (docker update): {why}"
                        );
                    }
                }
            }
        }
        self.engine.fetch_add(1, Ordering::Relaxed);
        self.docker
            .update_container(
                id,
                UpdateContainerOptions::<String> {
                    memory: Some(memory as i64),
                    memory_swap: Some(memory as i64),
                    pids_limit: Some(pids as i64),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| format!("could not set the run step's limits: {e}"))
    }

    /// How many times limits were written straight into a cgroup, and how
    /// many times they went through the engine.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.direct.load(Ordering::Relaxed),
            self.engine.load(Ordering::Relaxed),
        )
    }
}

/// The host's cgroup tree, as the engine lays containers out in it.
#[derive(Clone)]
pub(crate) struct HostCgroups {
    root: PathBuf,
}

/// A container's cgroup files.
#[derive(Debug, PartialEq, Eq)]
struct Files {
    /// The memory limit: `memory.max` (v2) or `memory.limit_in_bytes` (v1).
    memory: PathBuf,
    /// Memory plus swap (v1 only, where swap accounting is on); on v2 the
    /// container was created without swap (`memory.swap.max` 0) and keeps it.
    memsw: Option<PathBuf>,
    pids: PathBuf,
    /// The CPU quota: `cpu.max` (v2) or `cpu.cfs_quota_us` (v1), when the
    /// cpu controller has the container's directory.
    cpu_quota: Option<PathBuf>,
}

impl HostCgroups {
    pub(crate) fn at(root: impl Into<PathBuf>) -> HostCgroups {
        HostCgroups { root: root.into() }
    }

    /// The files of container `id`, where the engine's cgroupfs or systemd
    /// driver puts them.
    fn files(&self, id: &str) -> Result<Files, String> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{id:?} is not a container id"));
        }
        let leaves = [
            format!("docker/{id}"),
            format!("system.slice/docker-{id}.scope"),
        ];
        if self.root.join("cgroup.controllers").is_file() {
            let dir = leaves
                .iter()
                .map(|leaf| self.root.join(leaf))
                .find(|dir| dir.join("memory.max").is_file())
                .ok_or_else(|| format!("no cgroup v2 directory of {id} here"))?;
            let cpu = dir.join("cpu.max");
            return Ok(Files {
                memory: dir.join("memory.max"),
                memsw: None,
                pids: dir.join("pids.max"),
                cpu_quota: cpu.is_file().then_some(cpu),
            });
        }
        let leaf = leaves
            .iter()
            .find(|leaf| {
                self.root
                    .join("memory")
                    .join(leaf)
                    .join("memory.limit_in_bytes")
                    .is_file()
            })
            .ok_or_else(|| format!("no cgroup v1 directory of {id} here"))?;
        let memory_dir = self.root.join("memory").join(leaf);
        let memsw = memory_dir.join("memory.memsw.limit_in_bytes");
        let cpu = self.root.join("cpu").join(leaf).join("cpu.cfs_quota_us");
        Ok(Files {
            memory: memory_dir.join("memory.limit_in_bytes"),
            memsw: memsw.is_file().then_some(memsw),
            pids: self.root.join("pids").join(leaf).join("pids.max"),
            cpu_quota: cpu.is_file().then_some(cpu),
        })
    }

    /// Sets container `id`'s memory limit to `memory` bytes (without swap)
    /// and its pids limit to `pids`, once its memory limit reads
    /// `created_memory`; every value is read back.
    fn tighten(&self, id: &str, created_memory: u64, memory: u64, pids: u64) -> Result<(), String> {
        let files = self.files(id)?;
        let now = read_number(&files.memory)?;
        if now != created_memory {
            return Err(format!(
                "{} reads {now}, not the {created_memory} the container was created with",
                files.memory.display()
            ));
        }
        // Memory plus swap may never be below memory: lowering, memory
        // first; raising, memory plus swap first.
        let mut writes = vec![(&files.memory, memory)];
        if let Some(memsw) = &files.memsw {
            if memory < now {
                writes.push((memsw, memory));
            } else {
                writes.insert(0, (memsw, memory));
            }
        }
        writes.push((&files.pids, pids));
        for (path, value) in writes {
            write_number(path, value)?;
        }
        if let Some(quota) = &files.cpu_quota {
            refill_cpu_quota(quota)?;
        }
        Ok(())
    }
}

/// Writes a CPU quota file back with the quota it holds, unchanged: the
/// kernel then refills the cgroup's budget for the current period and
/// lifts a throttle (`tg_set_cfs_bandwidth`). The compile step's threads
/// (javac's, go build's) often spend the period's whole budget, and the
/// run step, starting within the same period, waited throttled for the
/// rest of it: Java's hello world ran about 20 ms longer right after its
/// compile than in a container whose budget was its own. The run step
/// starts with the budget a container of its own would have; the quota
/// itself is the same, and from the next period on nothing changes.
fn refill_cpu_quota(path: &Path) -> Result<(), String> {
    let text = read_text(path)?;
    let quota = text.trim();
    // No quota (`max`, or -1 on v1): no budget to refill.
    if quota.is_empty() || quota.starts_with("max") || quota == "-1" {
        return Ok(());
    }
    fs::write(path, quota).map_err(|e| format!("cannot write {quota:?} to {}: {e}", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_number(path: &Path) -> Result<u64, String> {
    let text = read_text(path)?;
    let text = text.trim();
    if text == "max" {
        return Ok(u64::MAX);
    }
    text.parse()
        .map_err(|_| format!("{} reads {text:?}", path.display()))
}

fn write_number(path: &Path, value: u64) -> Result<(), String> {
    let failed = |e: io::Error| format!("cannot write {value} to {}: {e}", path.display());
    fs::write(path, value.to_string()).map_err(failed)?;
    match read_number(path)? {
        read if read == value => Ok(()),
        read => Err(format!(
            "{} reads {read} after {value} was written",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0062012cfd83f78e166abdcab538521e055670c10f828f706f4ad406876aef15";

    /// A directory of the test's own, removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tree(files: &[(&str, &str)]) -> Tree {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let root = Tree(std::env::temp_dir().join(format!(
            "monaco-limits-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )));
        for (path, content) in files {
            let path = root.path().join(path.replace("ID", ID));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        root
    }

    fn read(root: &Path, path: &str) -> String {
        fs::read_to_string(root.join(path.replace("ID", ID)))
            .unwrap()
            .trim()
            .to_string()
    }

    #[test]
    fn v1_cgroupfs_memory_then_swap_then_pids() {
        let root = tree(&[
            ("memory/docker/ID/memory.limit_in_bytes", "536870912\n"),
            (
                "memory/docker/ID/memory.memsw.limit_in_bytes",
                "536870912\n",
            ),
            ("pids/docker/ID/pids.max", "72\n"),
            ("cpu/docker/ID/cpu.cfs_quota_us", "150000\n"),
        ]);
        let host = HostCgroups::at(root.path());
        host.tighten(ID, 512 << 20, 256 << 20, 40).unwrap();
        let r = root.path();
        assert_eq!(
            read(r, "memory/docker/ID/memory.limit_in_bytes"),
            "268435456"
        );
        assert_eq!(
            read(r, "memory/docker/ID/memory.memsw.limit_in_bytes"),
            "268435456"
        );
        assert_eq!(read(r, "pids/docker/ID/pids.max"), "40");
        // The same quota, written back (without the kernel's newline).
        assert_eq!(
            fs::read_to_string(r.join("cpu/docker").join(ID).join("cpu.cfs_quota_us")).unwrap(),
            "150000"
        );
    }

    #[test]
    fn v2_systemd_driver() {
        let root = tree(&[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("system.slice/docker-ID.scope/memory.max", "536870912\n"),
            ("system.slice/docker-ID.scope/pids.max", "72\n"),
            ("system.slice/docker-ID.scope/cpu.max", "150000 100000\n"),
        ]);
        let host = HostCgroups::at(root.path());
        let files = host.files(ID).unwrap();
        assert_eq!(files.memsw, None);
        host.tighten(ID, 512 << 20, 128 << 20, 16).unwrap();
        assert_eq!(
            read(root.path(), "system.slice/docker-ID.scope/memory.max"),
            "134217728"
        );
        assert_eq!(
            read(root.path(), "system.slice/docker-ID.scope/pids.max"),
            "16"
        );
        let cpu = root
            .path()
            .join(format!("system.slice/docker-{ID}.scope/cpu.max"));
        assert_eq!(fs::read_to_string(cpu).unwrap(), "150000 100000");
    }

    #[test]
    fn no_cpu_quota_is_left_as_it_is() {
        let root = tree(&[
            ("cgroup.controllers", "cpu memory pids\n"),
            ("docker/ID/memory.max", "536870912\n"),
            ("docker/ID/pids.max", "72\n"),
            ("docker/ID/cpu.max", "max 100000\n"),
        ]);
        let host = HostCgroups::at(root.path());
        host.tighten(ID, 512 << 20, 256 << 20, 40).unwrap();
        let cpu = root.path().join(format!("docker/{ID}/cpu.max"));
        assert_eq!(fs::read_to_string(cpu).unwrap(), "max 100000\n");
    }

    #[test]
    fn a_cgroup_not_proved_the_containers_is_left_alone() {
        // Another limit than the one the container was created with: not
        // ours to write (the engine's way is taken instead).
        let root = tree(&[
            ("cgroup.controllers", ""),
            ("docker/ID/memory.max", "max\n"),
            ("docker/ID/pids.max", "72\n"),
        ]);
        let host = HostCgroups::at(root.path());
        assert!(host.tighten(ID, 512 << 20, 256 << 20, 40).is_err());
        assert_eq!(read(root.path(), "docker/ID/memory.max"), "max");
        assert_eq!(read(root.path(), "docker/ID/pids.max"), "72");
        // No directory of the container: a remote engine, say.
        assert!(HostCgroups::at(root.path())
            .files(&ID.replace('0', "1"))
            .is_err());
        // Never a path out of the tree.
        assert!(host.files("../../etc").is_err());
        assert!(host.files("").is_err());
    }
}
