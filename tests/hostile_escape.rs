//! Hostile programs trying to get out: privileged files, the agent's and
//! the server's environment, the Docker socket, writes to the system, kernel
//! interfaces and cgroups, privileged system calls, the network, file names
//! and arguments made to break a shell, files left for the next execution,
//! links planted for the host to follow, and attacks at compile time. After
//! each case the invariants of `support::hostile` hold.
//!
//! Network tests aim only at loopback addresses; the sandbox has no other
//! interface, and DNS lookups fail without sending anything.

mod support;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::TcpListener;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::hostile::{assert_run, outcomes, Hostile, Program, CANARY_VAR};

/// A Python helper the probes share: `attempt(name, f)` prints
/// `name<TAB>OK` or `name<TAB>ERRNO-NAME` (or the exception's type).
const ATTEMPT: &str = r#"
import ctypes, errno, os, socket, sys

def attempt(name, f):
    try:
        f()
        print(name + "\tOK")
    except OSError as e:
        code = errno.errorcode.get(e.errno) if e.errno and e.errno > 0 else None
        print(name + "\t" + (code or type(e).__name__))
    except Exception as e:
        print(name + "\t" + type(e).__name__)

def read(path):
    return lambda: open(path, "rb").read()

def write(path):
    def f():
        with open(path, "w") as out:
            out.write("1")
    return f

libc = ctypes.CDLL(None, use_errno=True)

def call(name, *args):
    def f():
        if getattr(libc, name)(*args) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    return f
"#;

fn probe(body: &str) -> String {
    format!("{ATTEMPT}\n{body}")
}

/// Every probe's line must say `want`.
fn expect_all(got: &HashMap<String, String>, want: &str, names: &[&str], r: &Value) {
    for name in names {
        assert_eq!(
            got.get(*name).map(String::as_str),
            Some(want),
            "{name}: {r}"
        );
    }
}

#[tokio::test]
async fn privileged_files_environment_and_docker_socket() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let canary = h.canary_path();
    let body = format!(
        r#"
attempt("read /etc/shadow", read("/etc/shadow"))
attempt("read /proc/1/environ", read("/proc/1/environ"))
attempt("read /proc/1/mem", read("/proc/1/mem"))
attempt("list /proc/1/root", lambda: os.listdir("/proc/1/root"))
attempt("list /proc/1/fd", lambda: os.listdir("/proc/1/fd"))
attempt("read the host canary", read({canary:?}))
attempt("write the host canary", write({canary:?}))
for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
    attempt("stat " + path, lambda p=path: os.stat(p))
def find_sockets():
    import stat
    found = []
    for root in ("/run", "/var/run", "/var/lib", "/tmp", "/work", "/.monaco", "/home", "/root"):
        for d, _, files in os.walk(root):
            for f in files:
                path = os.path.join(d, f)
                try:
                    if stat.S_ISSOCK(os.lstat(path).st_mode):
                        found.append(path)
                except OSError:
                    pass
    if found:
        raise RuntimeError(found)
attempt("no socket files", find_sockets)
print("environment\t" + ",".join(sorted(os.environ)))
"#
    );
    let r = h
        .run(
            "privileged files and the environment",
            &Program::new("python", &probe(&body)),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let got = outcomes(r["stdout"].as_str().unwrap());
    expect_all(
        &got,
        "EACCES",
        &[
            "read /etc/shadow",
            "read /proc/1/environ",
            "read /proc/1/mem",
            "list /proc/1/root",
            "list /proc/1/fd",
        ],
        &r,
    );
    expect_all(
        &got,
        "ENOENT",
        &[
            "read the host canary",
            "write the host canary",
            "stat /var/run/docker.sock",
            "stat /run/docker.sock",
            "stat /run/containerd/containerd.sock",
        ],
        &r,
    );
    // No Unix socket anywhere it could look (the engine's least of all).
    expect_all(&got, "OK", &["no socket files"], &r);
    // The server's variables are not the program's (and `after` checks the
    // secret's value appears nowhere in what it printed).
    let env = &got["environment"];
    assert!(!env.contains(CANARY_VAR), "{env}");
    assert!(!env.contains("MONACO"), "{env}");
    assert!(!env.contains("PORT"), "{env}");
    h.stop().await;
}

#[tokio::test]
async fn writes_to_the_system_and_privileged_calls_fail() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let body = r#"
for path in ("/usr/x", "/usr/bin/python3", "/etc/passwd", "/proc/sys/kernel/hostname",
             "/proc/sys/vm/drop_caches", "/sys/fs/cgroup/x", "/sys/fs/cgroup/pids/pids.max",
             "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
             "/sys/fs/cgroup/memory.max", "/sys/kernel/x", "/proc/sysrq-trigger", "/.monaco/agent"):
    attempt("write " + path, write(path))
attempt("mount", call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
attempt("umount /proc", call("umount2", b"/proc", 2))
attempt("unshare user", call("unshare", 0x10000000))
attempt("unshare mount", call("unshare", 0x00020000))
attempt("unshare net", call("unshare", 0x40000000))
attempt("setuid 0", call("setuid", 0))
attempt("setgid 0", call("setgid", 0))
attempt("setresuid 0", call("setresuid", 0, 0, 0))
attempt("ptrace attach 1", call("ptrace", 16, 1, None, None))
attempt("chroot", call("chroot", b"/tmp"))
attempt("sethostname", call("sethostname", b"x", 1))
attempt("kill 1", lambda: os.kill(1, 9))
attempt("mknod", lambda: os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0)))
"#;
    let r = h
        .run(
            "writes to the system, privileged calls",
            &Program::new("python", &probe(body)),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let got = outcomes(r["stdout"].as_str().unwrap());
    // Everything fails; which errno depends on where the path is (a
    // read-only mount, a directory the program does not own, a path the
    // engine masks, or not there at all on this cgroup version).
    let writes: Vec<(&String, &String)> = got
        .iter()
        .filter(|(k, _)| k.starts_with("write "))
        .collect();
    assert_eq!(writes.len(), 13, "{r}");
    for (name, outcome) in writes {
        assert!(
            ["EROFS", "EACCES", "ENOENT", "EPERM"].contains(&outcome.as_str()),
            "{name}: {outcome}: {r}"
        );
    }
    expect_all(
        &got,
        "EROFS",
        &[
            "write /usr/x",
            "write /usr/bin/python3",
            "write /etc/passwd",
            "write /.monaco/agent",
        ],
        &r,
    );
    expect_all(
        &got,
        "EPERM",
        &[
            "mount",
            "umount /proc",
            "unshare user",
            "unshare mount",
            "unshare net",
            "setuid 0",
            "setgid 0",
            "setresuid 0",
            "ptrace attach 1",
            "chroot",
            "sethostname",
            "kill 1",
            "mknod",
        ],
        &r,
    );
    h.stop().await;
}

#[tokio::test]
async fn the_network_is_loopback_only() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    // A listener on the host's loopback, which the sandbox must not reach
    // (neither may it reach the server's own port).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let host_port = listener.local_addr().unwrap().port();
    let server_port = h.server.url("").rsplit(':').next().unwrap().to_string();
    let body = r#"
print("interfaces\t" + ",".join(sorted(n for _, n in socket.if_nameindex())))
def connect(port):
    def f():
        s = socket.socket()
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
    return f
attempt("connect to the server", connect(int(sys.argv[1])))
attempt("connect to the host's listener", connect(int(sys.argv[2])))
attempt("resolve example.com", lambda: socket.getaddrinfo("example.com", 80))
attempt("raw socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
def loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=2)
    a, _ = srv.accept()
    c.sendall(b"ping")
    assert a.recv(4) == b"ping"
attempt("its own loopback", loopback)
"#;
    let program =
        Program::new("python", &probe(body)).args(&[&server_port, &host_port.to_string()]);
    let r = h.run("the network", &program).await;
    assert_run(&r, "ok", Some(0), None);
    let got = outcomes(r["stdout"].as_str().unwrap());
    assert_eq!(got["interfaces"], "lo", "{r}");
    expect_all(
        &got,
        "ECONNREFUSED",
        &["connect to the server", "connect to the host's listener"],
        &r,
    );
    expect_all(&got, "gaierror", &["resolve example.com"], &r);
    expect_all(&got, "EPERM", &["raw socket"], &r);
    expect_all(&got, "OK", &["its own loopback"], &r);
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the sandbox reached the host's loopback: {other:?}"),
    }
    h.stop().await;
}

#[tokio::test]
async fn file_names_and_arguments_stay_literal() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let list = "import os\nfor d, _, fs in sorted(os.walk('.')):\n    for f in sorted(fs):\n        print(repr(os.path.join(d, f)))\n";
    for name in [
        "../evil.py",
        "a/../../evil.py",
        "/etc/cron.d/evil",
        "x\ny.py",
        "x\0y.py",
        "x\ry.py",
        "..",
        "a\\b.py",
    ] {
        let program = Program::new("python", list).files(&[(name, "x")]);
        let answer = h
            .server
            .post_raw("/api/execute", program.body().to_string())
            .await;
        support::expect_error(answer, StatusCode::BAD_REQUEST, "request.invalid_file").await;
    }

    // Names a shell would act on are only names: each file is there, with
    // its content, and nothing ran.
    let names = [
        "$(id).py",
        "`id`.txt",
        "a;rm -rf x",
        "-rf",
        "*",
        "'quoted' \"too\"",
    ];
    let files: Vec<(&str, &str)> = names.iter().map(|n| (*n, "content")).collect();
    let check = r#"
import os, sys
for name in sys.argv[1:]:
    with open(name) as f:
        print(repr(name), f.read())
print(sorted(os.listdir(".")))
"#;
    let program = Program::new("python", check).files(&files).args(&names);
    let r = h.run("file names with shell syntax", &program).await;
    assert_run(&r, "ok", Some(0), None);
    let mut expected: String = names
        .iter()
        .map(|n| format!("{} content\n", python_repr(n)))
        .collect();
    let mut listed: Vec<&str> = names.to_vec();
    listed.push("main.py");
    listed.sort();
    let listed: Vec<String> = listed.iter().map(|n| python_repr(n)).collect();
    expected.push_str(&format!("[{}]\n", listed.join(", ")));
    assert_eq!(r["stdout"].as_str().unwrap(), expected, "{r}");

    // Arguments arrive exactly as sent, in Python and through a compiled
    // program's argv template.
    let args = [
        "; rm -rf /",
        "$(id)",
        "`id`",
        "../../etc/passwd",
        "a\nb",
        "",
        "--help",
        "*",
        "&& echo pwned",
        "'\"",
    ];
    let py = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n";
    let r = h
        .run(
            "Python arguments with shell syntax",
            &Program::new("python", py).args(&args),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let printed: Value = serde_json::from_str(r["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(printed, json!(args), "{r}");

    let c = r#"
#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("[%s]", argv[i]);
    return 0;
}
"#;
    let r = h
        .run(
            "C arguments with shell syntax",
            &Program::new("c", c).args(&args),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    let expected: String = args.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(r["stdout"].as_str().unwrap(), expected, "{r}");
    h.stop().await;
}

/// Python's `repr` of a plain string, for the few characters used here.
fn python_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else if s.contains('\'') {
        format!("'{}'", s.replace('\'', "\\'"))
    } else {
        format!("'{s}'")
    }
}

#[tokio::test]
async fn nothing_is_left_for_the_next_execution() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let leave = r#"
import os
for path in ("/tmp/left-behind", "/work/left-behind", "/tmp/.hidden"):
    with open(path, "w") as f:
        f.write("from the previous execution")
os.mkfifo("/tmp/fifo")
os.symlink("/etc/passwd", "/work/link")
print("left")
"#;
    let r = h
        .run("leave files behind", &Program::new("python", leave))
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "left\n", "{r}");

    let look = r#"
import os
print(sorted(os.listdir("/tmp")), sorted(os.listdir("/work")))
"#;
    let r = h
        .run("the next execution looks", &Program::new("python", look))
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "[] ['main.py']\n", "{r}");
    h.stop().await;
}

/// The server never opens a sandbox path (files go in and out as frames):
/// links and FIFOs planted where it might read or write change nothing.
#[tokio::test]
async fn planted_links_and_fifos_are_not_followed() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let plant = r#"
import errno, os
os.remove("main.py")
os.symlink("/etc/shadow", "main.py")
os.symlink("/proc/1/environ", "/work/output")
os.symlink("/", "/work/root")
os.symlink("/var/run/docker.sock", "/tmp/docker.sock")
os.mkfifo("/work/stdout")
os.mkfifo("/tmp/result")
try:
    os.link("/etc/passwd", "/work/passwd")
    print("hardlink made")
except OSError as e:
    print("hardlink", errno.errorcode[e.errno])
print("planted")
"#;
    let r = h
        .run("plant links and FIFOs", &Program::new("python", plant))
        .await;
    assert_run(&r, "ok", Some(0), None);
    // Another file system: a hard link to the root's files cannot be made.
    assert_eq!(r["stdout"], "hardlink EXDEV\nplanted\n", "{r}");
    // The result reads back the same, nothing of the targets in it.
    let id = r["id"].as_str().unwrap();
    let again = h.server.get_json(&format!("/api/result/{id}")).await;
    assert_eq!(again["stdout"], r["stdout"], "{again}");
    assert_eq!(again["verdict"], "ok", "{again}");
    let text = again.to_string();
    assert!(!text.contains("root:"), "{again}");

    // A compiled program plants links to its own binary and source during
    // the run; the next execution compiles and runs afresh.
    let c = r#"
#include <stdio.h>
#include <unistd.h>

int main(void) {
    unlink("main");
    symlink("/bin/sh", "main");
    unlink("main.c");
    symlink("/etc/shadow", "main.c");
    puts("planted");
    return 0;
}
"#;
    let r = h
        .run(
            "C replaces its binary and source with links",
            &Program::new("c", c),
        )
        .await;
    assert_run(&r, "ok", Some(0), None);
    assert_eq!(r["stdout"], "planted\n", "{r}");
    h.stop().await;
}

#[tokio::test]
async fn compile_time_attacks() {
    if !support::docker_or_skip() {
        return;
    }
    let h = Hostile::start().await;
    let compile_wall_ms = 3_000;
    let quick = |language: &str, code: &str| {
        Program::new(language, code)
            .limit("compile_wall_ms", compile_wall_ms)
            .limit("compile_cpu_ms", 2_000)
            .limit("compile_memory_bytes", 256 * 1024 * 1024)
    };

    for path in ["/etc/shadow", "/proc/1/environ"] {
        let code = format!("#include \"{path}\"\nint main(void) {{ return 0; }}\n");
        let r = h
            .run(&format!("#include \"{path}\""), &quick("c", &code))
            .await;
        assert_eq!(r["verdict"], "compile_error", "{r}");
        assert!(r["run"].is_null(), "{r}");
        let out = r["compileOutput"].as_str().unwrap();
        assert!(out.contains(&format!("{path}: Permission denied")), "{r}");
        assert!(!out.contains("root:"), "{r}");
    }

    // Endless or enormous input to the compiler, and exponential template
    // instantiation: stopped within the compile step's limits with a clear
    // verdict, and no run step.
    let endless = [
        ("c", "#include </dev/zero>\nint main(void) { return 0; }\n"),
        (
            "c",
            "#include </dev/urandom>\nint main(void) { return 0; }\n",
        ),
        (
            "cpp",
            r#"
template <int N> struct Blow {
    typedef typename Blow<N - 1>::T A;
    typedef typename Blow<N - 1>::T B;
    struct T { A a; B b; };
    static const long v = Blow<N - 1>::v + Blow<N - 1>::v;
};
template <> struct Blow<0> { struct T { char c; }; static const long v = 1; };
int main() { return Blow<40>::v + sizeof(Blow<40>::T); }
"#,
        ),
    ];
    for (language, code) in endless {
        let what = format!(
            "{language}: {}",
            code.lines().find(|l| !l.is_empty()).unwrap()
        );
        let r = h.run(&what, &quick(language, code)).await;
        let verdict = r["verdict"].as_str().unwrap();
        assert!(
            [
                "compile_error",
                "time_limit_exceeded",
                "memory_limit_exceeded"
            ]
            .contains(&verdict),
            "{what}: {r}"
        );
        assert_eq!(r["compile"]["verdict"], verdict, "{r}");
        assert!(r["run"].is_null(), "{r}");
        let wall = r["compile"]["wallMs"].as_u64().unwrap();
        assert!(
            wall <= compile_wall_ms + 1_000,
            "{what}: compiled for {wall} ms: {r}"
        );
    }
    h.stop().await;
}
