//! Hostile programs against process supervision: daemons, zombies,
//! `kill -9 -1`, and every exit code and common signal reported exactly
//! (exit 137 is an exit code, not SIGKILL). After each case the invariants
//! of `support::hostile` hold: in particular no process of the program
//! outlives its execution.

mod support;

use support::hostile::{assert_run, Hostile, Program};

#[tokio::test]
async fn daemons_do_not_survive() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // The classic double fork: a new session, no terminal, stdio closed,
    // then the parent exits 0. The step is over; so is the daemon.
    let py = r#"
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.chdir("/")
        for fd in (0, 1, 2):
            os.close(fd)
        while True:
            time.sleep(1)
    os._exit(0)
print("parent exits")
"#;
    let r = h
        .run(
            "Python double-fork daemon",
            &Program::new("python", py).limit("wall_ms", 10_000),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "parent exits\n", "{r}");
    // Not held up by the daemon until the wall limit.
    assert!(r["run"]["wallMs"].as_u64().unwrap() < 10_000, "{r}");

    let c = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    puts("daemonising");
    fflush(stdout);
    if (daemon(0, 0) < 0) return 1;
    /* The daemon spins, burning CPU for as long as it lives. */
    volatile unsigned long n = 0;
    for (;;) n++;
}
"#;
    let r = h
        .run(
            "C daemon(3) that spins",
            &Program::new("c", c).limit("wall_ms", 10_000),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "daemonising\n", "{r}");
    h.stop().await;
}

#[tokio::test]
async fn zombies_are_reaped() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let c = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 20; i++)
        if (fork() == 0) _exit(0);
    usleep(300000);
    puts("twenty zombies");
    return 0;
}
"#;
    let r = h.run("C leaves 20 zombies", &Program::new("c", c)).await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "twenty zombies\n", "{r}");

    // An orphaned child whose own children are zombies.
    let py = r#"
import os, time
if os.fork() == 0:
    for _ in range(10):
        if os.fork() == 0:
            os._exit(3)
    time.sleep(30)
    os._exit(0)
print("orphan left behind")
"#;
    let r = h
        .run(
            "Python orphan with zombie children",
            &Program::new("python", py),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "orphan left behind\n", "{r}");
    h.stop().await;
}

#[tokio::test]
async fn kill_minus_one() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // `kill -9 -1` from a shell the program started: every process of the
    // sandbox user but the shell dies, the program among them. The agent
    // (root, PID 1) is out of its reach and reports.
    let py = r#"
import os, time
print("start", flush=True)
os.system("kill -9 -1")
time.sleep(1)
print("survived")
"#;
    let r = h
        .run("Python runs `kill -9 -1`", &Program::new("python", py))
        .await;
    assert_run(&r, "runtime_error", None, Some(9));
    assert_eq!(r["stdout"], "start\n", "{r}");

    let c = r#"
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    puts("start");
    fflush(stdout);
    for (int i = 0; i < 5; i++)
        if (fork() == 0) for (;;) pause();
    if (fork() == 0) {
        kill(-1, SIGKILL);
        _exit(0);
    }
    for (;;) wait(0);
}
"#;
    let r = h
        .run("C child calls kill(-1, SIGKILL)", &Program::new("c", c))
        .await;
    assert_run(&r, "runtime_error", None, Some(9));
    assert_eq!(r["stdout"], "start\n", "{r}");
    // Nothing is left for the wall limit to stop.
    assert!(r["run"]["wallMs"].as_u64().unwrap() < 3_000, "{r}");
    h.stop().await;
}

#[tokio::test]
async fn exit_codes_are_reported_exactly() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    for code in [0, 1, 2, 42, 127, 128, 137, 255] {
        let py = format!("import sys\nsys.exit({code})\n");
        let r = h
            .run(
                &format!("Python exits {code}"),
                &Program::new("python", &py),
            )
            .await;
        let verdict = if code == 0 { "ok" } else { "runtime_error" };
        // 137 is an exit code here, not SIGKILL.
        assert_run(&r, verdict, Some(code), None);
    }
    // The same through a compiled program and the other runtimes.
    let cases = [
        ("c", "int main(void) { return 137; }\n", 137),
        (
            "go",
            "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(42) }\n",
            42,
        ),
        ("javascript", "process.exit(255);\n", 255),
        (
            "java",
            "public class Main {\n    public static void main(String[] args) {\n        System.exit(128);\n    }\n}\n",
            128,
        ),
    ];
    for (language, code, expected) in cases {
        let r = h
            .run(
                &format!("{language} exits {expected}"),
                &Program::new(language, code),
            )
            .await;
        assert_run(&r, "runtime_error", Some(expected), None);
    }
    h.stop().await;
}

#[tokio::test]
async fn signals_are_reported_exactly() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // One program; its argument picks the way to die.
    let c = r#"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "segv")) {
        volatile int *p = 0;
        return *p;
    }
    if (!strcmp(how, "abrt")) abort();
    if (!strcmp(how, "fpe")) {
        /* Both volatile: gcc turns `1 / x` into a comparison. */
        volatile int one = 1, zero = 0;
        return one / zero;
    }
    if (!strcmp(how, "kill")) kill(getpid(), SIGKILL);
    if (!strcmp(how, "term")) raise(SIGTERM);
    if (!strcmp(how, "bus")) {
        /* A page past the end of a file. */
        int fd = open("/tmp/empty", O_RDWR | O_CREAT, 0600);
        volatile char *p = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0);
        return p[0];
    }
    if (!strcmp(how, "ill")) __builtin_trap();
    if (!strcmp(how, "pipe")) {
        int fds[2];
        pipe(fds);
        close(fds[0]);
        write(fds[1], "x", 1);
    }
    return 0;
}
"#;
    let signals = [
        ("segv", 11),
        ("abrt", 6),
        ("fpe", 8),
        ("kill", 9),
        ("term", 15),
        ("bus", 7),
        ("ill", 4),
        ("pipe", 13),
    ];
    for (how, signal) in signals {
        let r = h
            .run(
                &format!("C dies of {how}"),
                &Program::new("c", c).args(&[how]),
            )
            .await;
        assert_run(&r, "runtime_error", None, Some(signal));
    }

    let py = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n";
    let r = h
        .run("Python sends itself SIGSEGV", &Program::new("python", py))
        .await;
    assert_run(&r, "runtime_error", None, Some(11));
    h.stop().await;
}
