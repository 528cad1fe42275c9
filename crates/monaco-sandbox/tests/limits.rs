//! Limits and isolation, on real Docker: time, memory, processes, output,
//! network, file system, environment and privileges.
//!
//! Limits are small (a second or two) to keep the suite quick on a small
//! machine; times are only checked for coarse sanity, never tightly.

mod support;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpListener;

use monaco_core::{LimitsOverride, Status, Verdict};
use support::{docker_or_skip, Program, BASE_ENV};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// A CPU-bound loop is stopped at the CPU limit, not the (longer) wall limit.
#[tokio::test]
async fn spin_loop_is_stopped_at_the_cpu_limit() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let (cpu_ms, wall_ms) = (1_000, 10_000);
    let code = "int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n";
    let program = Program::new("c", code).limits(LimitsOverride {
        cpu_ms: Some(cpu_ms),
        wall_ms: Some(wall_ms),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::TimeLimitExceeded, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    let run = r.run();
    assert_eq!(run.verdict, Some(Verdict::TimeLimitExceeded));
    assert!(run.cpu_ms >= cpu_ms * 8 / 10, "CPU {} ms", run.cpu_ms);
    assert!(run.cpu_ms < wall_ms, "CPU {} ms", run.cpu_ms);
    assert!(run.wall_ms < wall_ms, "stopped by wall time: {run:?}");
    assert_eq!(run.exit_code, None, "killed, not exited: {run:?}");
    h.finish().await;
}

/// A sleeping program is stopped at the wall limit, having used no CPU.
#[tokio::test]
async fn sleep_is_stopped_at_the_wall_limit() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let wall_ms = 1_000;
    let code = "#include <unistd.h>\nint main(void) { sleep(60); return 0; }\n";
    let program = Program::new("c", code).limits(LimitsOverride {
        cpu_ms: Some(1_000),
        wall_ms: Some(wall_ms),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::TimeLimitExceeded, "{r:#?}");
    let run = r.run();
    assert!(run.wall_ms >= wall_ms, "{run:?}");
    assert!(run.cpu_ms < 250, "CPU should be about 0: {run:?}");
    assert_eq!(run.exit_code, None, "killed, not exited: {run:?}");
    h.finish().await;
}

async fn memory_bomb(language: &'static str, code: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new(language, code).limits(LimitsOverride {
        memory_bytes: Some(64 * MIB),
        wall_ms: Some(10_000),
        cpu_ms: Some(5_000),
        ..Default::default()
    });
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::MemoryLimitExceeded, "{r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    let run = r.run();
    assert_eq!(run.verdict, Some(Verdict::MemoryLimitExceeded));
    // The kernel's OOM killer ended it.
    assert_eq!(run.signal, Some(9), "{run:?}");
    assert!(run.memory_bytes >= 64 * MIB * 9 / 10, "{run:?}");
    h.finish().await;
}

/// C: allocate and touch memory until the kernel says no.
#[tokio::test]
async fn memory_bomb_c() {
    let code = r#"
#include <stdlib.h>
#include <string.h>

int main(void) {
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) return 2;
        memset(p, 1, 1 << 20);
    }
}
"#;
    memory_bomb("c", code).await
}

/// Python (no compile step, so no change of limits between steps).
#[tokio::test]
async fn memory_bomb_python() {
    let code = "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 20))\n";
    memory_bomb("python", code).await
}

/// A fork bomb is contained: a clear verdict from the agent (which kept
/// control), and nothing of it left once the job is over.
#[tokio::test]
async fn fork_bomb_is_contained() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n";
    let program = Program::new("c", code).limits(LimitsOverride {
        processes: Some(16),
        cpu_ms: Some(1_000),
        wall_ms: Some(3_000),
        ..Default::default()
    });
    let r = h.run(&program).await;
    let verdict = r.outcome.verdict;
    assert!(
        matches!(
            verdict,
            Verdict::TimeLimitExceeded | Verdict::RuntimeError | Verdict::MemoryLimitExceeded
        ),
        "{r:#?}"
    );
    // The agent, not the host's backstop, reported it.
    assert_eq!(r.run().verdict, Some(verdict), "{r:#?}");
    let id = r.id;
    h.sandbox.settle().await;
    assert!(h.containers_of(id).await.is_empty());
    h.finish().await;
}

/// Processes a program leaves behind do not outlive it: the step ends
/// when the main process exits, and the orphan goes with it.
#[tokio::test]
async fn orphans_do_not_keep_the_step_alive() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    if (fork() == 0) {
        setsid();
        for (;;) sleep(1);
    }
    printf("parent done\n");
    return 0;
}
"#;
    let program = Program::new("c", code).limits(LimitsOverride {
        wall_ms: Some(20_000),
        ..Default::default()
    });
    let r = h.run(&program).await;
    // A step that waited for the orphan would end at the wall limit.
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "parent done\n");
    h.finish().await;
}

const CAP: u64 = 64 * KIB;

fn capped(language: &'static str, code: &str) -> Program {
    Program::new(language, code).limits(LimitsOverride {
        output_bytes: Some(CAP),
        wall_ms: Some(10_000),
        ..Default::default()
    })
}

/// Flooding a stream keeps exactly the cap, and the verdict says why.
async fn flood(program: Program, on_stdout: bool) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&program).await;
    assert_eq!(r.outcome.verdict, Verdict::OutputLimitExceeded, "{r:#?}");
    assert!(r.run().truncated);
    let (flooded, other) = if on_stdout {
        (&r.stdout, &r.stderr)
    } else {
        (&r.stderr, &r.stdout)
    };
    assert_eq!(flooded.len() as u64, CAP);
    assert!(flooded.iter().all(|&b| b == b'x'));
    assert!(other.is_empty());
    h.finish().await;
}

#[tokio::test]
async fn output_flood_python_stdout() {
    let code = "import sys\nchunk = 'x' * 4096\nwhile True:\n    sys.stdout.write(chunk)\n";
    flood(capped("python", code), true).await
}

#[tokio::test]
async fn output_flood_python_stderr() {
    let code = "import sys\nchunk = 'x' * 4096\nwhile True:\n    sys.stderr.write(chunk)\n";
    flood(capped("python", code), false).await
}

/// C's stdout is a terminal: the cap holds there too.
#[tokio::test]
async fn output_flood_c_terminal() {
    let code = "#include <stdio.h>\nint main(void) { for (;;) putchar('x'); }\n";
    flood(capped("c", code), true).await
}

/// Exactly the cap is allowed: nothing is cut, the verdict is ok.
#[tokio::test]
async fn output_exactly_at_the_cap_is_ok() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = format!("import sys\nsys.stdout.write('x' * {CAP})\n");
    let r = h.run(&capped("python", &code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert!(!r.run().truncated);
    assert_eq!(r.stdout.len() as u64, CAP);
    h.finish().await;
}

/// 12 500 numbered lines of 8 bytes: 100 000 bytes.
fn numbered_lines() -> String {
    (0..12_500).map(|i| format!("{i:07}\n")).collect()
}

/// Everything written before an abrupt `_exit` arrives, byte for byte.
async fn print_then_exit(language: &'static str, code: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(language, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let expected = numbered_lines();
    assert_eq!(r.stdout.len(), expected.len());
    assert!(r.stdout == expected.as_bytes(), "stdout differs");
    assert_eq!(r.stderr_text(), "bye\n");
    h.finish().await;
}

/// C, through the terminal, with write(2) and then with stdio + fflush.
#[tokio::test]
async fn print_then_exit_c_write() {
    let code = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static char buf[100000];
    for (int i = 0; i < 12500; i++) snprintf(buf + 8 * i, 9, "%07d\n", i);
    for (size_t done = 0; done < sizeof buf;) {
        ssize_t n = write(1, buf + done, sizeof buf - done);
        if (n <= 0) return 1;
        done += (size_t)n;
    }
    write(2, "bye\n", 4);
    _exit(0);
}
"#;
    print_then_exit("c", code).await
}

#[tokio::test]
async fn print_then_exit_c_stdio() {
    let code = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 12500; i++) printf("%07d\n", i);
    fflush(stdout);
    fputs("bye\n", stderr);
    _exit(0);
}
"#;
    print_then_exit("c", code).await
}

#[tokio::test]
async fn print_then_exit_python() {
    let code = r#"
import os, sys
sys.stdout.write("".join(f"{i:07d}\n" for i in range(12500)))
sys.stdout.flush()
sys.stderr.write("bye\n")
sys.stderr.flush()
os._exit(0)
"#;
    print_then_exit("python", code).await
}

/// The sandbox has no network interface but loopback, and the host's
/// loopback (where the test listens) is out of reach.
#[tokio::test]
async fn no_network_but_loopback() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let code = r#"
import socket, sys
print("if_nameindex", ",".join(sorted(name for _, name in socket.if_nameindex())))
with open("/proc/net/dev") as f:
    names = [line.split(":")[0].strip() for line in f.readlines()[2:]]
print("proc_net_dev", ",".join(sorted(names)))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print("connect ok")
except OSError as e:
    print("connect failed", type(e).__name__)
"#;
    let r = h.run(&Program::new("python", code).args(&[&port])).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let out = r.stdout_text();
    assert!(out.contains("if_nameindex lo\n"), "{out}");
    assert!(out.contains("proc_net_dev lo\n"), "{out}");
    assert!(
        out.contains("connect failed ConnectionRefusedError"),
        "{out}"
    );
    // And nothing reached the test's listener.
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the sandbox reached the host: {other:?}"),
    }
    h.finish().await;
}

/// Only the work directory and /tmp are writable; the root file system
/// (system directories, the root itself) and the agent's directory are
/// read-only, and the writable ones allow no set-uid programs or devices.
#[tokio::test]
async fn writes_outside_the_work_dir_fail() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"
import errno
for path in ["/usr/x", "/etc/x", "/x", "/.monaco/x", "/.monaco/agent", "/work/x", "/tmp/x"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        print(path, "ok")
    except OSError as e:
        print(path, errno.errorcode[e.errno])
with open("/proc/self/mounts") as f:
    for line in f:
        _, target, _, options = line.split()[:4]
        if target in ("/", "/work", "/tmp"):
            print("mount" + target, options)
"#;
    let r = h.run(&Program::new("python", code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let results: BTreeMap<String, String> = r
        .stdout_text()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, e)| (p.to_string(), e.to_string()))
        .collect();
    let get = |key: &str| results.get(key).map(String::as_str).unwrap_or("missing");
    // Read-only, not merely not owned by the program's user: EROFS, not
    // EACCES.
    for path in ["/usr/x", "/etc/x", "/x", "/.monaco/x", "/.monaco/agent"] {
        assert_eq!(get(path), "EROFS", "{path} in {results:?}");
    }
    assert_eq!(get("/work/x"), "ok");
    assert_eq!(get("/tmp/x"), "ok");
    let options = |target: &str| {
        get(target)
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(options("mount/").contains(&"ro".to_string()), "{results:?}");
    for target in ["mount/work", "mount/tmp"] {
        for option in ["rw", "nosuid", "nodev"] {
            assert!(
                options(target).contains(&option.to_string()),
                "{target}: {results:?}"
            );
        }
    }
    h.finish().await;
}

const CANARY: (&str, &str) = ("MONACO_TEST_SECRET", "canary-5f1d8c2e");

/// The program's environment as `KEY=VALUE` lines, parsed.
fn environment(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The program sees the base environment (plus its language's), and none
/// of the server's variables.
async fn environment_is_clean(language: &'static str, code: &str, extra: &[(&str, &str)]) {
    // Set in this process, as a server's secret would be.
    std::env::set_var(CANARY.0, CANARY.1);
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(language, code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let out = r.stdout_text();
    assert!(!out.contains(CANARY.1), "the secret leaked: {out}");
    let expected: BTreeMap<String, String> = BASE_ENV
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(environment(&out), expected);
    h.finish().await;
}

#[tokio::test]
async fn environment_is_clean_python() {
    let code = "import os\nfor k, v in os.environ.items():\n    print(f'{k}={v}')\n";
    environment_is_clean("python", code, &[("PYTHONUNBUFFERED", "1")]).await
}

#[tokio::test]
async fn environment_is_clean_c() {
    let code = r#"
#include <stdio.h>

extern char **environ;

int main(void) {
    for (char **e = environ; *e; e++) printf("%s\n", *e);
    return 0;
}
"#;
    environment_is_clean("c", code, &[]).await
}

/// The program runs as uid/gid 65534, without supplementary groups or any
/// capability, cannot gain privileges, and cannot signal the agent.
#[tokio::test]
async fn runs_unprivileged() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"
import os
print("ids", os.getuid(), os.geteuid(), os.getgid(), os.getegid())
print("groups", sorted(os.getgroups()))
with open("/proc/self/status") as f:
    for line in f:
        key, _, value = line.partition(":")
        if key in ("CapInh", "CapPrm", "CapEff", "CapAmb", "NoNewPrivs"):
            print(key, value.strip())
try:
    os.kill(1, 9)
    print("kill_agent ok")
except OSError as e:
    print("kill_agent", type(e).__name__)
"#;
    let r = h.run(&Program::new("python", code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    let out = r.stdout_text();
    for line in [
        "ids 65534 65534 65534 65534",
        "groups []",
        "CapInh 0000000000000000",
        "CapPrm 0000000000000000",
        "CapEff 0000000000000000",
        "CapAmb 0000000000000000",
        "NoNewPrivs 1",
        "kill_agent PermissionError",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    h.finish().await;
}
