//! Test cases are isolated from each other, through the real server and
//! Docker: a case that leaves a daemon, fills `/tmp`, deletes its own
//! binary and plants a file leaves nothing to the next one; a case that
//! floods its output, runs out of memory or of time gets that verdict and
//! the cases around it are unaffected.

mod support;

use serde_json::{json, Value};
use support::Server;

/// Given `dirty`, leaves all it can behind: a daemon in a session of its
/// own, files in `/tmp` until it is full, a marker in the work directory,
/// and no binary; it prints `dirty` when it managed all four. Given
/// `check`, prints `clean` when none of that is there and `/tmp` has room,
/// else what it found. Given `both`, does the one then the other.
const DIRTY_OR_CHECK: &str = r#"#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fill_tmp(void) {
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    /* Past the file size limit a write fails with EFBIG: start another
       file, until the file system is full. */
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < 1024; i++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fill-%d", i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 0;
        while (write(fd, block, sizeof block) > 0) {}
        int full = errno == ENOSPC;
        close(fd);
        if (full) return 1;
    }
    return 0;
}

static void dirty(void) {
    int left = 0;
    pid_t daemon = fork();
    if (daemon == 0) {
        setsid();
        if (fork() == 0) {
            for (;;) pause();
        }
        _exit(0);
    }
    left += daemon > 0;
    left += fill_tmp();
    FILE *marker = fopen("marker", "w");
    if (marker) { fputs("left by the last case\n", marker); left += fclose(marker) == 0; }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) { self[n] = 0; left += unlink(self) == 0; }
    /* All four, or the next case proves nothing. */
    printf(left == 4 ? "dirty\n" : "left only %d of 4\n", left);
}

static void check(void) {
    int clean = 1;
    DIR *tmp = opendir("/tmp");
    for (struct dirent *e; tmp && (e = readdir(tmp));) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            printf("in /tmp: %s\n", e->d_name);
            clean = 0;
        }
    }
    if (tmp) closedir(tmp);
    if (access("marker", F_OK) == 0) { printf("a marker\n"); clean = 0; }
    DIR *proc = opendir("/proc");
    for (struct dirent *e; proc && (e = readdir(proc));) {
        int pid = atoi(e->d_name);
        struct stat st;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d", pid);
        if (pid > 0 && pid != getpid() && stat(path, &st) == 0 && st.st_uid == getuid()) {
            printf("a process of mine: %d\n", pid);
            clean = 0;
        }
    }
    if (proc) closedir(proc);
    FILE *f = fopen("/tmp/probe", "w");
    if (!f || fputs("probe", f) < 0 || fclose(f) != 0) { printf("/tmp is full\n"); clean = 0; }
    unlink("/tmp/probe");
    if (clean) printf("clean\n");
}

int main(void) {
    char mode[16] = "";
    if (scanf("%15s", mode) != 1) return 2;
    if (strcmp(mode, "dirty") == 0 || strcmp(mode, "both") == 0) dirty();
    if (strcmp(mode, "dirty") != 0) check();
    return 0;
}
"#;

/// The same in Python: the source it deletes is what the next case runs.
const DIRTY_OR_CHECK_PYTHON: &str = r#"import errno, os, subprocess, sys
mode = input()
if mode in ("dirty", "both"):
    subprocess.Popen(["sleep", "600"], start_new_session=True)
    full = False
    # Past the file size limit a write fails with EFBIG: start another file.
    for i in range(1024):
        try:
            with open(f"/tmp/fill-{i}", "wb") as f:
                while True:
                    f.write(b"x" * 65536)
        except OSError as e:
            full = e.errno == errno.ENOSPC
        if full:
            break
    open("marker", "w").write("left by the last case\n")
    os.unlink(os.path.abspath(sys.argv[0]))
    print("dirty" if full else "/tmp was not filled")
if mode in ("check", "both"):
    found = [f"in /tmp: {n}" for n in os.listdir("/tmp")]
    if os.path.exists("marker"):
        found.append("a marker")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) != os.getpid() and os.stat(f"/proc/{pid}").st_uid == os.getuid():
            found.append(f"a process of mine: {pid}")
    print("\n".join(found) if found else "clean")
"#;

/// Alternating dirty and checking cases, then one that checks right after
/// dirtying: the check sees what a case leaves when nothing cleans up.
fn dirty_then_check() -> Value {
    json!([
        {"input": "dirty", "expectedOutput": "dirty"},
        {"input": "check", "expectedOutput": "clean"},
        {"input": "dirty", "expectedOutput": "dirty"},
        {"input": "check", "expectedOutput": "clean"},
        {"input": "both"},
    ])
}

/// Runs `code` on [`dirty_then_check`]; `seen` is what the last case must
/// find of what it left itself.
async fn nothing_carries_over(language: &str, code: &str, seen: &[&str]) {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let body = json!({
        "language": language,
        "code": code,
        "tests": dirty_then_check(),
        // Small, so that filling it is quick; the file size limit is
        // below it, so filling takes several files.
        "limits": {"tmp_bytes": 8 << 20, "file_size_bytes": 3 << 20},
    });
    let result = server.execute(&body).await;
    let tests = result["tests"].as_array().expect("a list");
    assert_eq!(tests.len(), 5, "{result}");
    for case in tests {
        assert_eq!(case["verdict"], "ok", "{case}\nin {result}");
    }
    assert_eq!(tests[1]["stdout"], "clean\n", "{result}");
    assert_eq!(tests[3]["stdout"], "clean\n", "{result}");
    let found = tests[4]["stdout"].as_str().expect("stdout");
    assert!(found.starts_with("dirty\n"), "{found}");
    for what in seen {
        assert!(found.contains(what), "{what:?} in {found}");
    }
    assert_eq!(result["verdict"], "ok", "{result}");
    server.stop().await;
}

#[tokio::test]
async fn nothing_of_a_c_case_carries_over_to_the_next() {
    let seen = [
        "in /tmp: fill-0",
        "a marker",
        "a process of mine",
        "/tmp is full",
    ];
    nothing_carries_over("c", DIRTY_OR_CHECK, &seen).await;
}

#[tokio::test]
async fn nothing_of_a_python_case_carries_over_to_the_next() {
    let seen = ["in /tmp: fill-0", "a marker", "a process of mine"];
    nothing_carries_over("python", DIRTY_OR_CHECK_PYTHON, &seen).await;
}

/// Adds two numbers, or misbehaves as its input says.
const MISBEHAVING: &str = r#"import sys
words = sys.stdin.read().split()
if words[0] == "flood":
    while True:
        sys.stdout.write("x" * 65536)
elif words[0] == "memory":
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))
elif words[0] == "loop":
    while True:
        pass
print(int(words[0]) + int(words[1]))
"#;

/// Each case's verdict, in order (`none` where a case has none).
fn verdicts(result: &Value) -> Vec<String> {
    result["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["verdict"].as_str().unwrap_or("none").to_string())
        .collect()
}

/// `result` without the cases' output (a flood's 64 KiB would hide the
/// rest): the verdict and why, then each case's verdict and measurements.
fn outline(result: &Value) -> String {
    let mut out = format!(
        "verdict {} status {} errorCode {} message {}",
        result["verdict"], result["status"], result["errorCode"], result["message"]
    );
    for case in result["tests"].as_array().into_iter().flatten() {
        let mut case = case.clone();
        if let Some(fields) = case.as_object_mut() {
            fields.remove("stdout");
            fields.remove("stderr");
        }
        out.push_str(&format!("\n  {case}"));
    }
    out
}

#[tokio::test]
async fn a_case_over_a_limit_fails_alone() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let case = |input: &str, expected: &str| json!({"input": input, "expectedOutput": expected});
    let body = json!({
        "language": "python",
        "code": MISBEHAVING,
        "limits": {"output_bytes": 1 << 16, "memory_bytes": 64 << 20,
                   "wall_ms": 2000, "cpu_ms": 2000},
        "tests": [
            case("1 2", "3"),
            case("flood", ""),
            case("3 4", "7"),
            case("memory", ""),
            case("5 6", "11"),
            case("loop", ""),
            case("7 8", "15"),
        ],
    });
    let result = server.execute(&body).await;
    assert_eq!(
        verdicts(&result),
        [
            "ok",
            "output_limit_exceeded",
            "ok",
            "memory_limit_exceeded",
            "ok",
            "time_limit_exceeded",
            "ok",
        ],
        "{}\nthe server's log:\n{}",
        outline(&result),
        server.log_tail()
    );
    let flood = &result["tests"][1];
    assert_eq!(flood["truncated"], true, "{flood}");
    let kept = flood["stdout"].as_str().expect("stdout").len();
    assert!(kept <= 1 << 16, "output kept within the limit: {kept}");
    assert_eq!(result["tests"][2]["stdout"], "7\n", "{result}");
    assert_eq!(result["tests"][2]["truncated"], false, "{result}");
    assert_eq!(
        result["verdict"], "output_limit_exceeded",
        "the first failure"
    );
    assert_eq!(
        result["summary"],
        json!({"total": 7, "passed": 4, "failed": 3, "skipped": 0})
    );
    server.stop().await;
}

/// A program the OOM killer takes can leave the container's memory full
/// for a few milliseconds after it is gone, with only the agent left to
/// kill: an agent that allocated then (opening a file was enough) was
/// killed too, and the execution ended `sandbox.lost`. Twelve heap bombs
/// in one sandbox, in two languages, each must end over the limit, and
/// the cases between them still run.
#[tokio::test]
async fn heap_bombs_case_after_case_never_lose_the_sandbox() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let programs = [
        (
            "go",
            "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar word string\n\tfmt.Scan(&word)\n\tif word != \"bomb\" {\n\t\tfmt.Println(word)\n\t\treturn\n\t}\n\tvar blocks [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tblocks = append(blocks, b)\n\t}\n}\n",
        ),
        (
            "python",
            "word = input()\nif word != 'bomb':\n    print(word)\nelse:\n    blocks = []\n    while True:\n        blocks.append(bytearray(1 << 20))\n",
        ),
    ];
    for (language, code) in programs {
        let mut tests = Vec::new();
        let mut want = Vec::new();
        for i in 0..12 {
            tests.push(json!({"input": "bomb", "expectedOutput": ""}));
            want.push("memory_limit_exceeded".to_string());
            if i % 4 == 3 {
                tests.push(json!({"input": "calm", "expectedOutput": "calm"}));
                want.push("ok".to_string());
            }
        }
        let body = json!({
            "language": language,
            "code": code,
            "limits": {"memory_bytes": 64 << 20, "wall_ms": 5000},
            "tests": tests,
        });
        let result = server.execute(&body).await;
        assert_eq!(
            verdicts(&result),
            want,
            "{language}: {}\nthe server's log:\n{}",
            outline(&result),
            server.log_tail()
        );
    }
    server.stop().await;
}
