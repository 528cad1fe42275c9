//! Hostile programs against the resource limits: fork, thread and heap
//! bombs, huge allocations, deep recursion, spinning, sleeping, blocking
//! reads, ignored signals, full file systems, huge files, exhausted file
//! descriptors. Each gets a clear verdict from the agent, and after each
//! the invariants of `support::hostile` hold (nothing left, nothing
//! escaped, the host untouched, a hello world still `ok`).

mod support;

use serde_json::Value;
use support::hostile::{assert_run, outcomes, Hostile, Program};

const MIB: u64 = 1024 * 1024;

/// Stopped for time: TLE, by SIGKILL, not exited.
fn assert_tle(result: &Value) {
    assert_run(result, "time_limit_exceeded", None, Some(9));
}

/// Killed by the kernel's OOM killer: MLE, SIGKILL.
fn assert_mle(result: &Value) {
    assert_run(result, "memory_limit_exceeded", None, Some(9));
}

#[tokio::test]
async fn fork_bombs_are_contained() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;

    let c = "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n";
    let r = h
        .run("C fork bomb", &Program::new("c", c).times(2_000, 3_000))
        .await;
    assert_tle(&r);

    // dash has no `:` functions; the same bomb under another name. The
    // parent carries on after it and is stopped at the limit.
    let shell = r#"
import os, time
os.system("bomb() { bomb | bomb & }; bomb")
print("parent goes on", flush=True)
while True:
    time.sleep(0.1)
"#;
    let r = h
        .run(
            "shell fork bomb from Python",
            &Program::new("python", shell).times(2_000, 3_000),
        )
        .await;
    assert_tle(&r);
    assert_eq!(r["stdout"], "parent goes on\n", "{r}");

    let py = r#"
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"#;
    let r = h
        .run(
            "Python os.fork loop",
            &Program::new("python", py).times(2_000, 3_000),
        )
        .await;
    assert_tle(&r);
    h.stop().await;
}

#[tokio::test]
async fn thread_bombs_are_contained() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;

    // Thread creation fails at the pids limit; the loop spins on.
    let c = r#"
#include <pthread.h>
#include <unistd.h>

static void *idle(void *arg) { (void)arg; for (;;) pause(); }

int main(void) {
    for (;;) {
        pthread_t t;
        pthread_create(&t, 0, idle, 0);
    }
}
"#;
    let r = h
        .run("C thread bomb", &Program::new("c", c).times(2_000, 3_000))
        .await;
    assert_tle(&r);

    // The JVM turns the failure into an OutOfMemoryError the program
    // catches; then it waits and is stopped at the wall limit.
    let java = r#"
public class Main {
    public static void main(String[] args) throws Exception {
        int n = 0;
        try {
            while (true) {
                new Thread(() -> {
                    try { Thread.sleep(1_000_000); } catch (InterruptedException e) {}
                }).start();
                n++;
            }
        } catch (Throwable e) {
            System.out.println("no more threads: " + e.getClass().getName());
        }
        Thread.sleep(1_000_000);
    }
}
"#;
    let program = Program::new("java", java)
        .limit("memory_bytes", 256 * MIB)
        .times(2_000, 5_000);
    let r = h.run("Java thread bomb", &program).await;
    assert_tle(&r);
    let out = r["stdout"].as_str().unwrap();
    assert!(
        out.contains("no more threads: java.lang.OutOfMemoryError"),
        "{r}"
    );

    // Each goroutine holds an OS thread; the runtime cannot make more and
    // stops the program ("fatal error: newosproc", exit 2). One goroutine
    // a millisecond keeps its dump of goroutines short.
    let go = r#"package main

import (
	"runtime"
	"time"
)

func main() {
	for {
		go func() {
			runtime.LockOSThread()
			select {}
		}()
		time.Sleep(time.Millisecond)
	}
}
"#;
    let r = h.run("Go thread bomb", &Program::new("go", go)).await;
    assert_run(&r, "runtime_error", Some(2), None);
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("fatal error: newosproc"),
        "{r}"
    );
    h.stop().await;
}

/// The run step's `processes` limit holds for a compiled language too (the
/// compile step's larger limit does not carry over).
#[tokio::test]
async fn the_run_steps_process_limit_holds_after_compiling() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let code = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int n = 0;
    for (;;) {
        pid_t p = fork();
        if (p < 0) break;
        if (p == 0) { pause(); _exit(0); }
        n++;
    }
    printf("%d\n", n);
    return 0;
}
"#;
    let r = h
        .run(
            "count processes, processes = 8",
            &Program::new("c", code).limit("processes", 8),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let forked: u32 = r["stdout"].as_str().unwrap().trim().parse().unwrap();
    // The container's pids limit is the step's plus a few for the agent's
    // threads (monaco-sandbox's AGENT_THREADS, 8): never the compile
    // step's 64.
    assert!(forked < 8 + 8, "forked {forked} with processes = 8: {r}");
    h.stop().await;
}

#[tokio::test]
async fn heap_bombs_in_every_language() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let native = [
        (
            "python",
            "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n",
        ),
        (
            "javascript",
            "const blocks = [];\nwhile (true) blocks.push(Buffer.alloc(1 << 20, 1));\n",
        ),
        (
            "c",
            "#include <stdlib.h>\n#include <string.h>\nint main(void) {\n    for (;;) {\n        char *p = malloc(1 << 20);\n        if (p) memset(p, 1, 1 << 20);\n    }\n}\n",
        ),
        (
            "cpp",
            "#include <cstring>\n#include <vector>\nint main() {\n    std::vector<char *> v;\n    for (;;) {\n        char *p = new char[1 << 20];\n        std::memset(p, 1, 1 << 20);\n        v.push_back(p);\n    }\n}\n",
        ),
        (
            "go",
            "package main\n\nfunc main() {\n\tvar blocks [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tblocks = append(blocks, b)\n\t}\n}\n",
        ),
    ];
    for (language, code) in native {
        let r = h
            .run(
                &format!("{language} heap bomb"),
                &Program::new(language, code),
            )
            .await;
        assert_mle(&r);
        let peak = r["run"]["memoryBytes"].as_u64().unwrap();
        assert!(peak >= 128 * MIB * 9 / 10, "{language}: peak {peak}: {r}");
    }

    // The JVM sizes its heap below the container's memory and fails first:
    // its OutOfMemoryError is the program's runtime error.
    let java = r#"
import java.util.ArrayList;
import java.util.List;

public class Main {
    public static void main(String[] args) {
        List<long[]> blocks = new ArrayList<>();
        while (true) blocks.add(new long[1 << 17]);
    }
}
"#;
    let r = h.run("Java heap bomb", &Program::new("java", java)).await;
    assert_run(&r, "runtime_error", Some(1), None);
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("java.lang.OutOfMemoryError: Java heap space"),
        "{r}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_huge_allocation_never_touched() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // 100 GiB: the kernel refuses it (or grants address space only). Either
    // way the program goes on, says which, and exits normally.
    let malloc = r#"
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    void *p = malloc(100ULL << 30);
    puts(p ? "allocated" : "refused");
    return 0;
}
"#;
    let r = h.run("malloc 100 GiB", &Program::new("c", malloc)).await;
    assert_run(&r, "ok", Some(0), None);
    let out = r["stdout"].as_str().unwrap();
    assert!(out == "refused\n" || out == "allocated\n", "{r}");

    let mmap = r#"
#include <stdio.h>
#include <sys/mman.h>

int main(void) {
    void *p = mmap(0, 100ULL << 30, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    puts(p == MAP_FAILED ? "refused" : "mapped");
    return 0;
}
"#;
    let r = h
        .run("mmap 100 GiB, MAP_NORESERVE", &Program::new("c", mmap))
        .await;
    assert_run(&r, "ok", Some(0), None);
    let out = r["stdout"].as_str().unwrap();
    assert!(out == "mapped\n" || out == "refused\n", "{r}");
    h.stop().await;
}

#[tokio::test]
async fn deep_recursion() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let c = r#"
int f(int n) {
    volatile char frame[256];
    frame[0] = (char)n;
    return f(n + 1) + frame[0];
}

int main(void) { return f(0); }
"#;
    let r = h.run("C recursion", &Program::new("c", c)).await;
    assert_run(&r, "runtime_error", None, Some(11));

    let py = "def f(n):\n    return f(n + 1) + 1\n\nf(0)\n";
    let r = h.run("Python recursion", &Program::new("python", py)).await;
    assert_run(&r, "runtime_error", Some(1), None);
    assert!(
        r["stderr"].as_str().unwrap().contains("RecursionError"),
        "{r}"
    );

    let js = "function f(n) { return f(n + 1) + 1; }\nf(0);\n";
    let r = h
        .run("JavaScript recursion", &Program::new("javascript", js))
        .await;
    assert_run(&r, "runtime_error", Some(1), None);
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("RangeError: Maximum call stack size exceeded"),
        "{r}"
    );

    let java = r#"
public class Main {
    static int f(int n) { return f(n + 1) + 1; }
    public static void main(String[] args) { f(0); }
}
"#;
    let r = h.run("Java recursion", &Program::new("java", java)).await;
    assert_run(&r, "runtime_error", Some(1), None);
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("java.lang.StackOverflowError"),
        "{r}"
    );

    // Go grows its stacks on the heap, up to 1 GB: memory runs out first.
    let go = r#"package main

func f(n int) int {
	var frame [64]byte
	frame[n%64] = 1
	return f(n+1) + int(frame[0])
}

func main() { println(f(0)) }
"#;
    let r = h.run("Go recursion", &Program::new("go", go)).await;
    assert_mle(&r);
    h.stop().await;
}

#[tokio::test]
async fn spinning_is_stopped_at_the_cpu_limit() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // A wall limit far beyond the CPU limit, so that the CPU limit is what
    // stops them even on a busy machine.
    let (cpu_ms, wall_ms) = (1_000, 15_000);
    let spinner = |language: &str, code: &str| {
        Program::new(language, code)
            .limit("cpu_ms", cpu_ms)
            .limit("wall_ms", wall_ms)
    };
    let by_cpu = |r: &serde_json::Value| {
        assert_tle(r);
        let run = &r["run"];
        assert!(run["wallMs"].as_u64().unwrap() < wall_ms, "{r}");
        let cpu = run["cpuMs"].as_u64().unwrap();
        assert!(cpu >= cpu_ms * 9 / 10, "CPU {cpu} ms: {r}");
        cpu
    };
    let spin = "int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n";
    let r = h.run("C spin loop", &spinner("c", spin)).await;
    by_cpu(&r);

    let threads = r#"
#include <pthread.h>

static void *spin(void *arg) {
    volatile unsigned long n = 0;
    (void)arg;
    for (;;) n++;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, spin, 0);
    spin(0);
}
"#;
    let r = h.run("five spinning threads", &spinner("c", threads)).await;
    // The CPU of all threads counts, and the agent stops them close to the
    // limit (it looks every few milliseconds).
    let cpu = by_cpu(&r);
    assert!(
        cpu <= cpu_ms + 500,
        "CPU {cpu} ms for a {cpu_ms} ms limit: {r}"
    );

    let py = "while True:\n    pass\n";
    let r = h.run("Python spin loop", &spinner("python", py)).await;
    by_cpu(&r);
    h.stop().await;
}

#[tokio::test]
async fn sleeping_and_blocking_are_stopped_at_the_wall_limit() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let wall_ms = 2_000;
    let c = "#include <unistd.h>\nint main(void) { for (;;) sleep(1000); }\n";
    let r = h
        .run(
            "C sleep forever",
            &Program::new("c", c).limit("wall_ms", wall_ms),
        )
        .await;
    assert_tle(&r);
    let run = &r["run"];
    assert!(run["wallMs"].as_u64().unwrap() >= wall_ms, "{r}");
    assert!(run["cpuMs"].as_u64().unwrap() < 500, "{r}");

    // Not interactive: stdin is empty and ends, the read returns.
    let read = "import sys\ndata = sys.stdin.read()\nprint('eof', len(data))\n";
    let r = h
        .run(
            "Python read, not interactive",
            &Program::new("python", read),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "eof 0\n", "{r}");

    let c_read = "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", getchar()); return 0; }\n";
    let r = h
        .run("C getchar, not interactive", &Program::new("c", c_read))
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "-1\n", "{r}");

    let java = r#"
import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        System.out.println(new Scanner(System.in).nextLine());
    }
}
"#;
    let r = h
        .run(
            "Java nextLine, not interactive",
            &Program::new("java", java),
        )
        .await;
    assert_run(&r, "runtime_error", Some(1), None);
    assert!(
        r["stderr"]
            .as_str()
            .unwrap()
            .contains("java.util.NoSuchElementException"),
        "{r}"
    );

    // Interactive, and nobody types: the wall limit ends it.
    let r = h
        .run(
            "Python read, interactive, nobody types",
            &Program::new("python", read)
                .interactive()
                .limit("wall_ms", wall_ms),
        )
        .await;
    assert_tle(&r);
    assert!(r["run"]["wallMs"].as_u64().unwrap() >= wall_ms, "{r}");
    assert_eq!(r["stdout"], "", "{r}");
    h.stop().await;
}

#[tokio::test]
async fn ignoring_signals_does_not_help() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let py = r#"
import signal, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
    signal.signal(s, signal.SIG_IGN)
while True:
    time.sleep(0.05)
"#;
    let r = h
        .run(
            "Python ignores SIGTERM and friends",
            &Program::new("python", py).times(1_000, 2_000),
        )
        .await;
    assert_tle(&r);

    // Every signal that can be blocked is, and the program spins.
    let c = r#"
#include <signal.h>

int main(void) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, 0);
    for (int s = 1; s < 32; s++) signal(s, SIG_IGN);
    volatile unsigned long n = 0;
    for (;;) n++;
}
"#;
    let r = h
        .run(
            "C blocks every signal and spins",
            &Program::new("c", c).limit("cpu_ms", 1_000),
        )
        .await;
    assert_tle(&r);

    // Cancelled mid-run: the program still goes.
    let id = h
        .server
        .submit(
            Program::new("python", py)
                .interactive()
                .limit("wall_ms", 60_000)
                .body(),
        )
        .await;
    let mut term = h.server.terminal(&id).await;
    term.until("the run step", |v| {
        v["type"] == "system" && v["content"] == "running"
    })
    .await;
    let path = format!("/api/executions/{id}");
    let answer = h.server.request(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED);
    let r = h.server.wait_result(&id).await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["verdict"], "cancelled", "{r}");
    h.after("cancel a program that ignores SIGTERM", "python", &r)
        .await;
    h.stop().await;
}

#[tokio::test]
async fn full_file_systems_huge_files_and_descriptors() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // /tmp and /work are 8 MiB each: ENOSPC inside, and the program goes on.
    let fill = r#"
import errno, os
for d in ("/tmp", "/work"):
    written = 0
    try:
        with open(os.path.join(d, "fill"), "wb", buffering=0) as f:
            while True:
                written += f.write(b"x" * (1 << 20))
    except OSError as e:
        print(d + "\t" + errno.errorcode[e.errno])
    os.remove(os.path.join(d, "fill"))
    print(d + " written\t" + str(written >> 20))
"#;
    let program = Program::new("python", fill).limit("tmp_bytes", 8 * MIB);
    let r = h.run("fill /tmp and /work", &program).await;
    assert_run(&r, "ok", Some(0), None);
    let got = outcomes(r["stdout"].as_str().unwrap());
    assert_eq!(got["/tmp"], "ENOSPC", "{r}");
    assert_eq!(got["/work"], "ENOSPC", "{r}");
    for d in ["/tmp written", "/work written"] {
        let mib: u64 = got[d].parse().unwrap();
        assert!((6..=8).contains(&mib), "{d}: {mib} MiB: {r}");
    }

    // The scratch space is memory: writing more of it than the memory limit
    // allows is a memory limit, not a host problem.
    let beyond = r#"
for d in ("/tmp", "/work"):
    for i in range(64):
        with open(f"{d}/f{i}", "wb", buffering=0) as f:
            for _ in range(8):
                f.write(b"x" * (1 << 20))
print("all written")
"#;
    let program = Program::new("python", beyond).limit("memory_bytes", 64 * MIB);
    let r = h
        .run("scratch space beyond the memory limit", &program)
        .await;
    assert_mle(&r);

    // 1 TiB into a file: RLIMIT_FSIZE (16 MiB by default) says no.
    let sparse_c = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open("/tmp/sparse", O_WRONLY | O_CREAT, 0644);
    lseek(fd, 1LL << 40, SEEK_SET);
    write(fd, "x", 1);
    puts("survived");
    return 0;
}
"#;
    let r = h
        .run("sparse 1 TiB file, C", &Program::new("c", sparse_c))
        .await;
    assert_run(&r, "runtime_error", None, Some(25)); // SIGXFSZ
    assert_eq!(r["stdout"], "", "{r}");

    let sparse_py = r#"
import errno, os, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
fd = os.open("/tmp/sparse", os.O_WRONLY | os.O_CREAT)
os.lseek(fd, 1 << 40, os.SEEK_SET)
try:
    os.write(fd, b"x")
    print("written")
except OSError as e:
    print(errno.errorcode[e.errno])
"#;
    let r = h
        .run(
            "sparse 1 TiB file, Python ignoring SIGXFSZ",
            &Program::new("python", sparse_py),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "EFBIG\n", "{r}");

    let fds = r#"
import errno, os
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print(errno.errorcode[e.errno], len(fds))
"#;
    let r = h
        .run(
            "exhaust file descriptors (open_files = 64)",
            &Program::new("python", fds).limit("open_files", 64),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let out = r["stdout"].as_str().unwrap();
    let (code, n) = out.trim().split_once(' ').expect("`CODE N`");
    assert_eq!(code, "EMFILE", "{r}");
    let n: u32 = n.parse().unwrap();
    assert!(n > 32 && n < 64, "{n} descriptors: {r}");
    h.stop().await;
}
