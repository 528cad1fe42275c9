//! What the sandbox reads from and sets in the container's cgroup, one
//! container per behaviour, on whichever cgroup version the engine runs:
//! CPU time and peak memory, an OOM kill, the pids limit, the run step's
//! own limits after a compile, input prompts, output caps, the warm pool
//! and the stray reaper.
//!
//! `scripts/test.sh` runs it on the host's engine, and
//! `scripts/test-cgroup2.sh` runs it again on a cgroup v2 engine in a
//! virtual machine with `MONACO_EXPECT_CGROUP=2`: then every test first
//! checks that the engine and the container really are on v2, so the run
//! cannot pass on the wrong engine.
//!
//! The figures checked are the program's own: what it says it used
//! (`getrusage`, the limits files it reads), never a time of the test's.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::{Config, CreateContainerOptions, ListContainersOptions};
use bollard::models::{HostConfig, SystemInfoCgroupVersionEnum};
use monaco_core::protocol::JobStep;
use monaco_core::{Limits, LimitsOverride, Verdict};
use monaco_sandbox::{DockerConfig, PoolConfig, SandboxJob};
use support::{docker_or_skip, docker_or_skip_with, Harness, Program};

const MIB: u64 = 1024 * 1024;
/// Processes the container may hold beside the step's own (the agent's
/// threads): `pids_limit` is the step's `processes` plus this.
const AGENT_THREADS: u64 = 8;

/// The cgroup version the engine reports, checked against
/// `MONACO_EXPECT_CGROUP` when that is set.
async fn cgroup_version(h: &Harness) -> u32 {
    let info = h.sandbox.docker().info().await.expect("docker info");
    let version = match info.cgroup_version {
        Some(SystemInfoCgroupVersionEnum::_2) => 2,
        Some(SystemInfoCgroupVersionEnum::_1) => 1,
        other => panic!("the engine reports no cgroup version: {other:?}"),
    };
    if let Ok(expected) = std::env::var("MONACO_EXPECT_CGROUP") {
        assert_eq!(
            version.to_string(),
            expected,
            "MONACO_EXPECT_CGROUP={expected}, but the engine runs cgroup v{version}"
        );
    }
    version
}

async fn harness() -> Option<(Harness, u32)> {
    let h = docker_or_skip().await?;
    let version = cgroup_version(&h).await;
    Some((h, version))
}

/// A program that prints the limits its cgroup holds, one `name=value`
/// line per file that exists (v2 names, then v1 names).
const PRINT_LIMITS: &str = "import os\n\
    files = [('v2', '/sys/fs/cgroup/cgroup.controllers'),\n\
      ('memory.max', '/sys/fs/cgroup/memory.max'),\n\
      ('memory.swap.max', '/sys/fs/cgroup/memory.swap.max'),\n\
      ('pids.max', '/sys/fs/cgroup/pids.max'),\n\
      ('memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'),\n\
      ('memsw.max', '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'),\n\
      ('pids.max', '/sys/fs/cgroup/pids/pids.max'),\n\
      ('self', '/proc/self/cgroup')]\n\
    for name, path in files:\n\
    \x20   if os.path.exists(path):\n\
    \x20       print(name + '=' + open(path).readline().strip())\n";

/// `program` with a compile step before its run (Python's own byte
/// compiler, `py_compile`) under the compile step's default limits: the
/// driver then pauses the agent after compiling and gives the container
/// the run step's limits, as for any compiled language.
fn compiled(program: &Program) -> SandboxJob {
    let mut job = program.job();
    let source = job.files[0].name.clone();
    job.compile = Some(JobStep {
        argv: ["python3", "-m", "py_compile", &source]
            .map(String::from)
            .to_vec(),
        env: job.run.env.clone(),
        limits: Limits::default().compile,
    });
    job
}

fn key_values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The container sees the cgroup version the engine reports: the agent's
/// readings come from the files of that version.
#[tokio::test]
async fn the_container_sees_the_engines_cgroup_version() {
    let Some((h, version)) = harness().await else {
        return;
    };
    let r = h.run(&Program::new("python", PRINT_LIMITS)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let seen = key_values(&r.stdout_text());
    assert_eq!(
        seen.contains_key("v2"),
        version == 2,
        "engine on v{version}, container sees {seen:?}"
    );
    eprintln!("cgroup v{version}: {seen:?}");
    if version == 2 {
        // Its own cgroup namespace: the agent's /sys/fs/cgroup is the
        // container's cgroup, not the host's root.
        assert_eq!(
            seen.get("self").map(String::as_str),
            Some("0::/"),
            "{seen:?}"
        );
    }
    h.finish().await;
}

/// A program that touches 48 MiB and burns CPU for a while reports what
/// it used: peak memory at least its own peak RSS and at most a little
/// more; CPU time at least what it measured itself and at most a little
/// more (the interpreter's start).
#[tokio::test]
async fn measurements_match_what_the_program_used() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let code = "import resource, time\n\
        block = b'\\x01' * (48 << 20)\n\
        start = time.process_time()\n\
        n = 0\n\
        while time.process_time() - start < 0.4:\n    n += 1\n\
        u = resource.getrusage(resource.RUSAGE_SELF)\n\
        print(int((u.ru_utime + u.ru_stime) * 1000), u.ru_maxrss * 1024, len(block))\n";
    let r = h.run(&Program::new("python", code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let own: Vec<u64> = r
        .stdout_text()
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    let (own_cpu_ms, own_rss) = (own[0], own[1]);
    let run = r.run();
    eprintln!(
        "reported cpu {} ms, memory {} bytes; the program's own: cpu {own_cpu_ms} ms, peak rss {own_rss} bytes",
        run.cpu_ms, run.memory_bytes
    );
    assert!(own_rss >= 48 * MIB, "{own:?}");
    assert!(
        run.memory_bytes >= own_rss,
        "reported {} bytes < the program's own peak {own_rss}",
        run.memory_bytes
    );
    assert!(
        run.memory_bytes <= own_rss + 16 * MIB,
        "reported {} bytes, far above the program's own peak {own_rss}",
        run.memory_bytes
    );
    assert!(own_cpu_ms >= 400, "{own:?}");
    assert!(
        run.cpu_ms >= own_cpu_ms,
        "reported {} ms < the program's own {own_cpu_ms} ms",
        run.cpu_ms
    );
    assert!(
        run.cpu_ms <= own_cpu_ms + 2_000,
        "reported {} ms, far above the program's own {own_cpu_ms} ms",
        run.cpu_ms
    );
    h.finish().await;
}

/// Hello world: exit 0 and small, non-zero figures.
#[tokio::test]
async fn hello_world_has_small_exact_figures() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let r = h
        .run(&Program::new("python", "print('Hello, World!')"))
        .await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "Hello, World!\n");
    let run = r.run();
    eprintln!(
        "hello world: cpu {} ms, memory {} bytes",
        run.cpu_ms, run.memory_bytes
    );
    assert!(run.cpu_ms > 0, "{run:?}");
    assert!(run.memory_bytes >= MIB, "{run:?}");
    assert!(run.memory_bytes < 32 * MIB, "{run:?}");
    h.finish().await;
}

/// Allocating past the memory limit ends in the kernel's OOM killer, read
/// from the cgroup as `memory_limit_exceeded`.
#[tokio::test]
async fn memory_bomb_is_an_oom_kill() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 20))\n";
    let program = Program::new("python", code).limits(LimitsOverride {
        memory_bytes: Some(64 * MIB),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::MemoryLimitExceeded, "{r:#?}");
    assert_eq!(r.run().signal, Some(9), "{r:#?}");
    h.finish().await;
}

/// A program just under the memory limit is not an OOM kill: the verdict
/// comes from the cgroup's counter, not from how much was used.
#[tokio::test]
async fn near_the_memory_limit_is_ok() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let code = "block = b'\\x01' * (40 << 20)\nprint(len(block))\n";
    let program = Program::new("python", code).limits(LimitsOverride {
        memory_bytes: Some(64 * MIB),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), format!("{}\n", 40 * MIB));
    h.finish().await;
}

/// The pids limit holds: a program that starts threads until it cannot
/// gets exactly as many as the limit leaves it; a fork bomb ends with the
/// agent's verdict.
#[tokio::test]
async fn the_pids_limit_holds() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let processes = 16u32;
    let code = "import threading, time\n\
        n = 0\n\
        try:\n    while n < 1000:\n        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n        n += 1\n\
        except RuntimeError:\n    pass\n\
        print(n)\n";
    let program = Program::new("python", code).limits(LimitsOverride {
        processes: Some(processes),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let threads: u64 = r.stdout_text().trim().parse().expect("a count");
    // The main thread counts too, and the agent's threads share the rest.
    assert!(
        threads < u64::from(processes) + AGENT_THREADS,
        "{threads} threads"
    );
    assert!(threads >= u64::from(processes) / 2, "{threads} threads");
    eprintln!("threads started under processes={processes}: {threads}");

    let bomb =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n";
    let program = Program::new("python", bomb).limits(LimitsOverride {
        processes: Some(processes),
        cpu_ms: Some(1_000),
        wall_ms: Some(5_000),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::TimeLimitExceeded, "{r:#?}");
    assert_eq!(r.run().verdict, Some(Verdict::TimeLimitExceeded), "{r:#?}");
    h.finish().await;
}

/// A spin loop is stopped at the CPU limit (read from the cgroup), with
/// about the limit reported.
#[tokio::test]
async fn spin_loop_stops_at_the_cpu_limit() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let cpu_ms = 1_000;
    let program = Program::new("python", "while True:\n    pass\n").limits(LimitsOverride {
        cpu_ms: Some(cpu_ms),
        wall_ms: Some(60_000),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::TimeLimitExceeded, "{r:#?}");
    let run = r.run();
    eprintln!("spin loop: cpu {} ms, wall {} ms", run.cpu_ms, run.wall_ms);
    assert_eq!(run.exit_code, None, "killed, not exited: {run:?}");
    assert!(run.cpu_ms >= cpu_ms, "{run:?}");
    assert!(run.cpu_ms < cpu_ms * 2, "{run:?}");
    assert!(run.wall_ms < 60_000, "stopped by wall time: {run:?}");
    h.finish().await;
}

/// After compiling (with the compile step's larger limits), the run step
/// runs under its own: the cgroup's files say so, and they hold. Both ways
/// of setting them are checked: written straight into the container's
/// cgroup (where this process is root on the engine's host, as in CI) and
/// through `docker update`.
#[tokio::test]
async fn the_run_step_gets_its_own_limits_after_compiling() {
    // Root beside a local engine writes the cgroup itself; anyone else
    // goes through the engine, and says so.
    let root = effective_uid() == 0;
    if !root {
        eprintln!("not root: the run step's limits are checked through docker update only");
    }
    for direct in [true, false] {
        let config = DockerConfig {
            direct_cgroup_limits: direct,
            ..support::suite_config()
        };
        let Some(h) = docker_or_skip_with(config).await else {
            return;
        };
        let version = cgroup_version(&h).await;
        let (memory, processes) = (64 * MIB, 8u32);
        let program = Program::new("python", PRINT_LIMITS).limits(LimitsOverride {
            memory_bytes: Some(memory),
            processes: Some(processes),
            ..Default::default()
        });
        let r = h.run_job(compiled(&program)).await;
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
        assert!(r.outcome.compile.is_some(), "{r:#?}");
        let seen = key_values(&r.stdout_text());
        let counts = h.sandbox.run_limit_counts();
        eprintln!(
            "the run step's cgroup (v{version}, direct {direct}, counts {counts:?}): {seen:?}"
        );
        let expected = if direct && root { (1, 0) } else { (0, 1) };
        assert_eq!(counts, expected, "(written directly, through the engine)");
        assert_eq!(
            seen.get("memory.max"),
            Some(&memory.to_string()),
            "{seen:?}"
        );
        assert_eq!(
            seen.get("pids.max"),
            Some(&(u64::from(processes) + AGENT_THREADS).to_string()),
            "{seen:?}"
        );
        if version == 2 {
            assert_eq!(seen.get("memory.swap.max").map(String::as_str), Some("0"));
        } else if let Some(memsw) = seen.get("memsw.max") {
            assert_eq!(memsw, &memory.to_string(), "{seen:?}");
        }
        h.finish().await;
    }
}

/// This process's effective uid, from `/proc/self/status`.
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        .expect("an effective uid in /proc/self/status")
}

/// The limits set after compiling hold: a program that allocates past
/// the run step's memory is OOM-killed at it.
#[tokio::test]
async fn the_run_steps_memory_limit_holds_after_compiling() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 20))\n";
    let program = Program::new("python", code).limits(LimitsOverride {
        memory_bytes: Some(64 * MIB),
        ..Default::default()
    });
    let r = h.run_job(compiled(&program)).await;
    assert_eq!(r.outcome.verdict, Verdict::MemoryLimitExceeded, "{r:#?}");
    assert!(r.outcome.compile.is_some(), "{r:#?}");
    assert_eq!(r.run().signal, Some(9), "{r:#?}");
    h.finish().await;
}

/// Input prompts are seen from kernel state: a read of a pipe, and of a
/// terminal (as C and C++ get).
#[tokio::test]
async fn input_prompts_are_detected() {
    let Some((h, _)) = harness().await else {
        return;
    };
    // (On a terminal, Python's `input` writes its prompt to stderr.)
    let code = "print('Name: ', end='', flush=True)\nname = input()\nprint(f'Hello, {name}!')\n";
    let program = Program::new("python", code).interactive();
    for tty in [false, true] {
        let mut job = program.job();
        job.tty = tty;
        let mut s = h.session_job(job).await;
        let prompt = s.prompt().await;
        assert_eq!(prompt, "Name: ", "tty {tty}");
        s.send(b"Ada\n").await;
        let r = s.finish().await;
        assert_eq!(r.outcome.verdict, Verdict::Ok, "tty {tty}: {r:#?}");
        assert!(r.stdout_text().contains("Hello, Ada!"), "tty {tty}: {r:#?}");
    }
    h.finish().await;
}

/// An output flood keeps exactly the cap and stops the program.
#[tokio::test]
async fn output_is_capped() {
    let Some((h, _)) = harness().await else {
        return;
    };
    let cap = 64 * 1024;
    let code = "import sys\nchunk = 'x' * 4096\nwhile True:\n    sys.stdout.write(chunk)\n";
    let program = Program::new("python", code).limits(LimitsOverride {
        output_bytes: Some(cap),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::OutputLimitExceeded, "{r:#?}");
    assert!(r.run().truncated);
    assert_eq!(r.stdout.len() as u64, cap);
    h.finish().await;
}

async fn containers_of_instance(h: &Harness, instance: &str) -> Vec<String> {
    let label = format!("monaco.instance={instance}");
    let filters = HashMap::from([("label", vec![label.as_str()])]);
    h.sandbox
        .docker()
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters,
            ..Default::default()
        }))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// Removes every container of an instance with the CLI if the test fails
/// (the runtime that would remove them is going away).
struct RemoveInstanceOnPanic(String);

impl Drop for RemoveInstanceOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let filter = format!("label=monaco.instance={}", self.0);
        if let Ok(out) = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", id])
                    .output();
            }
        }
    }
}

/// A job served by a warm container (whose agent has been running for a
/// while) measures only itself, and the pool drains to nothing.
#[tokio::test]
async fn a_warm_container_measures_only_its_job() {
    let instance = format!("cgroups-pool-{}", std::process::id());
    let config = DockerConfig {
        instance: instance.clone(),
        pool: PoolConfig {
            max_per_spec: 1,
            max_total: 1,
            ..PoolConfig::default()
        },
        ..support::config()
    };
    let Some(h) = docker_or_skip_with(config).await else {
        return;
    };
    cgroup_version(&h).await;
    let _cleanup = RemoveInstanceOnPanic(instance.clone());
    let code = "import resource\nblock = b'\\x01' * (24 << 20)\n\
        u = resource.getrusage(resource.RUSAGE_SELF)\n\
        print(u.ru_maxrss * 1024)\n";
    let program = Program::new("python", code);
    h.sandbox.prewarm(&program.job());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while h.sandbox.warm_ready() < 1 {
        assert!(tokio::time::Instant::now() < deadline, "no warm container");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warm = containers_of_instance(&h, &instance).await;
    assert_eq!(warm.len(), 1, "{warm:?}");
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let own_rss: u64 = r.stdout_text().trim().parse().expect("a number");
    let run = r.run();
    eprintln!(
        "warm container: cpu {} ms, memory {} bytes, own peak rss {own_rss}",
        run.cpu_ms, run.memory_bytes
    );
    assert!(run.cpu_ms > 0, "{run:?}");
    assert!(run.memory_bytes >= own_rss, "{run:?}");
    assert!(run.memory_bytes <= own_rss + 16 * MIB, "{run:?}");
    // The warm container served the job and is gone.
    h.sandbox.settle().await;
    assert!(
        !containers_of_instance(&h, &instance)
            .await
            .contains(&warm[0]),
        "the warm container outlived its job"
    );
    h.sandbox.drain_pool().await;
    assert!(containers_of_instance(&h, &instance).await.is_empty());
    h.finish().await;
}

/// At start the reaper removes its own instance's strays, running or not,
/// and leaves another instance's alone.
#[tokio::test]
async fn strays_of_this_instance_are_reaped() {
    let instance = format!("cgroups-reap-{}", std::process::id());
    let other = format!("{instance}-other");
    let config = DockerConfig {
        instance: instance.clone(),
        pool: PoolConfig {
            max_per_spec: 0,
            ..PoolConfig::default()
        },
        ..support::config()
    };
    let Some(h) = docker_or_skip_with(config).await else {
        return;
    };
    cgroup_version(&h).await;
    let _cleanup = RemoveInstanceOnPanic(instance.clone());
    let _cleanup_other = RemoveInstanceOnPanic(other.clone());
    let docker = h.sandbox.docker().clone();
    let image = support::registry()
        .get("python")
        .unwrap()
        .image()
        .to_string();
    let mut made = Vec::new();
    for (owner, start) in [(&instance, true), (&instance, false), (&other, true)] {
        let labels = HashMap::from([
            ("monaco.managed".to_string(), "true".to_string()),
            ("monaco.instance".to_string(), owner.clone()),
        ]);
        let config = Config {
            image: Some(image.clone()),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                memory: Some(64 * MIB as i64),
                pids_limit: Some(16),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = docker
            .create_container(None::<CreateContainerOptions<String>>, config)
            .await
            .expect("create a stray")
            .id;
        if start {
            docker
                .start_container::<String>(&id, None)
                .await
                .expect("start a stray");
        }
        made.push(id);
    }
    let reaped = h.sandbox.reap_strays().await.expect("reap");
    assert_eq!(reaped, 2);
    assert!(containers_of_instance(&h, &instance).await.is_empty());
    assert_eq!(
        containers_of_instance(&h, &other).await,
        vec![made[2].clone()]
    );
    docker
        .remove_container(
            &made[2],
            Some(bollard::container::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .expect("remove the other instance's container");
    h.finish().await;
}

/// What the compile step leaves in the work directory (a tmpfs, whose
/// pages count as memory) counts against the run step's memory limit: more
/// than the limit never runs.
#[tokio::test]
async fn a_work_dir_over_the_run_steps_memory_never_runs() {
    let Some((h, version)) = harness().await else {
        return;
    };
    let program = Program::new("python", "print('ran')\n").limits(LimitsOverride {
        memory_bytes: Some(32 * MIB),
        ..Default::default()
    });
    let mut job = compiled(&program);
    if let Some(compile) = job.compile.as_mut() {
        compile.argv = [
            "python3",
            "-c",
            "open('big', 'wb').write(b'x' * (48 << 20))",
        ]
        .map(String::from)
        .to_vec();
    }
    let r = h.run_job(job).await;
    eprintln!(
        "work dir over the run limit (v{version}): {:?} {:?}",
        r.outcome.verdict, r.outcome.error_code
    );
    assert_ne!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert!(!r.stdout_text().contains("ran"), "{r:#?}");
    h.finish().await;
}

/// What the compile step leaves in /tmp (a toolchain's cache: Go's is 256
/// directories) is gone when the run step starts, both ways the agent
/// empties it: a little, while the host lowers the limits, and more than
/// the run step's memory limit, before the agent reports the compile step
/// (so that the host never lowers the limits below what /tmp holds).
#[tokio::test]
async fn what_the_compile_step_leaves_in_tmp_is_gone_before_the_run() {
    let Some((h, version)) = harness().await else {
        return;
    };
    for (what, bytes) in [
        ("a little", 64 << 10),
        ("more than the run limit", 48 << 20),
    ] {
        let program = Program::new(
            "python",
            "import os\nprint('tmp=' + ','.join(sorted(os.listdir('/tmp'))))\n",
        )
        .limits(LimitsOverride {
            memory_bytes: Some(32 * MIB),
            ..Default::default()
        });
        let mut job = compiled(&program);
        if let Some(compile) = job.compile.as_mut() {
            let fill = format!(
                "import os\n\
                 for i in range(256): os.makedirs('/tmp/.cache/%02x' % i)\n\
                 open('/tmp/.cache/00/blob', 'wb').write(b'x' * {bytes})\n\
                 open('/tmp/left', 'w').write('x')\n"
            );
            compile.argv = ["python3", "-c", &fill].map(String::from).to_vec();
        }
        let r = h.run_job(job).await;
        eprintln!(
            "/tmp after compiling, {what} (v{version}): {:?} {:?} {:?}",
            r.outcome.verdict,
            r.outcome.error_code,
            r.stdout_text()
        );
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{what}: {r:#?}");
        assert_eq!(r.stdout_text().trim(), "tmp=", "{what}: {r:#?}");
    }
    h.finish().await;
}
