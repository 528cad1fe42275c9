//! Every language in `languages.toml`, run for real in its runner image,
//! from one table of programs (`tests/language_programs.toml`): hello
//! world, reading input, exit codes, uncaught errors, signals, compile and
//! syntax errors, a memory hog, and a conversation with a program that
//! prompts for input. Each test goes through every language and names all
//! those that failed; a language without programs in the table fails
//! `every_language_has_its_programs`.
//!
//! `MONACO_TEST_LANGUAGES=ruby,php` restricts a run to a few languages
//! (and says so).

mod support;

#[path = "../../../tests/support/language_programs.rs"]
mod language_programs;

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write as _;

use language_programs::{language_ids, programs, table, LanguagePrograms, PromptSeen};
use monaco_core::{Limits, LimitsOverride, Status, StepKind, Verdict};
use monaco_sandbox::InputCommand;
use support::{docker_or_skip, registry, Program};

const MIB: u64 = 1 << 20;
const ECHO_INPUT: &[u8] = b"alpha beta\ngamma\n";
const ECHO_OUTPUT: &str = "first=alpha beta\nsecond=gamma\n";

/// The longest wall times a request may have: a compiler on a busy machine
/// must not fail a test of what the program does (CPU limits stay).
fn generous() -> LimitsOverride {
    LimitsOverride {
        wall_ms: Some(60_000),
        compile_wall_ms: Some(60_000),
        ..Default::default()
    }
}

/// Runs `check` for every language that has the program it needs (`check`
/// returns `None` for one that has not), one language at a time, and fails
/// naming every language whose check failed (each failure's own message is
/// printed above).
async fn each_language<F, Fut>(what: &str, check: F)
where
    F: Fn(&'static str, &'static LanguagePrograms) -> Option<Fut>,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(h) = docker_or_skip().await else {
        return;
    };
    h.finish().await;
    let mut failed = Vec::new();
    let mut ran = 0;
    for id in language_ids() {
        let Some(test) = check(id, programs(id)) else {
            continue;
        };
        ran += 1;
        let ok = tokio::spawn(test).await.is_ok();
        if !ok {
            failed.push(id);
        }
        // Straight to stderr, so that a long run shows its progress.
        let _ = writeln!(
            std::io::stderr(),
            "{what}: {id} {}",
            if ok { "ok" } else { "FAILED" }
        );
    }
    // A run narrowed by MONACO_TEST_LANGUAGES may leave no language with
    // the program; the whole registry always has one.
    assert!(
        ran > 0 || language_programs::only().is_some(),
        "{what}: no language has the program"
    );
    assert!(failed.is_empty(), "{what} failed for {failed:?}");
}

/// The table and the registry agree: every language has its programs, a
/// compiled language a compile error, an interpreted one no compile error.
#[test]
fn every_language_has_its_programs() {
    let ids: BTreeSet<&str> = registry().languages().iter().map(|l| l.id()).collect();
    let listed: BTreeSet<&str> = table().keys().map(String::as_str).collect();
    let missing: Vec<_> = ids.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "languages without programs in tests/language_programs.toml: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "tests/language_programs.toml has languages not in languages.toml: {unknown:?}"
    );
    for lang in registry().languages() {
        let p = programs(lang.id());
        let id = lang.id();
        assert!(
            p.interactive.is_some() != p.not_interactive.is_some(),
            "{id}: either an interactive program or the reason it has none"
        );
        assert_eq!(
            p.prompt != PromptSeen::Exact,
            p.prompt_why.is_some(),
            "{id}: a prompt seen other than exactly says why"
        );
        assert_eq!(
            p.compile_error.is_some(),
            lang.compiles(),
            "{id}: a compile error exactly when the language compiles"
        );
        assert!(
            !(lang.compiles() && p.syntax_error.is_some()),
            "{id}: a compiled language's syntax error is a compile error"
        );
        match (p.memory_hog.verdict.as_str(), &p.memory_hog.stderr) {
            ("memory_limit_exceeded", None) | ("runtime_error", Some(_)) => {}
            other => panic!("{id}: memory_hog verdict and stderr {other:?}"),
        }
    }
}

#[tokio::test]
async fn hello_world() {
    each_language("hello world", |id, _| Some(hello(id))).await
}

async fn hello(id: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let lang = registry().get(id).unwrap();
    let r = h
        .run(&Program::new(id, lang.hello()).limits(generous()))
        .await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{id}: {r:#?}");
    assert_eq!(r.outcome.status, Status::Completed);
    assert_eq!(r.stdout_text(), "Hello, World!\n", "{id}");
    assert_eq!(r.stderr_text(), "", "{id}");
    assert_eq!(r.run().exit_code, Some(0));
    assert_eq!(r.run().signal, None);
    assert!(!r.run().truncated);
    // A compiled language reports its compile step; the others have none.
    assert_eq!(r.outcome.compile.is_some(), lang.compiles(), "{r:#?}");
    h.finish().await;
}

#[tokio::test]
async fn echo_two_lines() {
    each_language("echo", |id, p| Some(echo(id, &p.echo))).await
}

async fn echo(id: &'static str, code: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h
        .run(&Program::new(id, code).stdin(ECHO_INPUT).limits(generous()))
        .await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{id}: {r:#?}");
    assert_eq!(r.stdout_text(), ECHO_OUTPUT, "{id}: {r:#?}");
    h.finish().await;
}

/// Reading up to the end of input ends: the EOF arrives after the data
/// (on a terminal as well as a pipe), also without a final newline.
#[tokio::test]
async fn sum_to_eof() {
    each_language("sum to EOF", |id, p| Some(sum(id, &p.sum_to_eof))).await
}

async fn sum(id: &'static str, code: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h
        .run(
            &Program::new(id, code)
                .stdin(&b"1 2 3\n4\n5"[..])
                .limits(generous()),
        )
        .await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{id}: {r:#?}");
    assert_eq!(r.stdout_text(), "sum=15\n", "{id}: {r:#?}");
    h.finish().await;
}

#[tokio::test]
async fn exit_code() {
    each_language("exit code 3", |id, p| Some(exit_3(id, &p.exit_3))).await
}

async fn exit_3(id: &'static str, code: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code).limits(generous())).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{id}: {r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    assert_eq!(r.run().exit_code, Some(3), "{id}: {r:#?}");
    assert_eq!(r.run().signal, None);
    // What it printed before failing is kept.
    assert_eq!(r.stdout_text(), "before\n", "{id}: {r:#?}");
    h.finish().await;
}

#[tokio::test]
async fn uncaught_error() {
    each_language("uncaught error", |id, p| {
        let u = &p.uncaught;
        Some(uncaught(id, &u.code, u.exit, &u.stderr))
    })
    .await
}

async fn uncaught(id: &'static str, code: &'static str, exit: i32, message: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code).limits(generous())).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{id}: {r:#?}");
    assert_eq!(r.run().exit_code, Some(exit), "{id}: {r:#?}");
    assert_eq!(r.run().signal, None);
    assert!(
        r.stderr_text().contains(message),
        "{id}: stderr lacks {message:?}: {:?}",
        r.stderr_text()
    );
    h.finish().await;
}

/// Dies of a signal: the signal is reported, not an exit code.
#[tokio::test]
async fn signal() {
    each_language("signal", |id, p| {
        p.signal
            .as_ref()
            .map(|s| killed_by_signal(id, &s.code, s.signal, ""))
    })
    .await
}

async fn killed_by_signal(id: &'static str, code: &'static str, signal: i32, stderr: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code).limits(generous())).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{id}: {r:#?}");
    assert_eq!(r.run().signal, Some(signal), "{id}: {r:#?}");
    assert_eq!(r.run().exit_code, None);
    assert!(
        r.stderr_text().contains(stderr),
        "{id}: stderr lacks {stderr:?}: {:?}",
        r.stderr_text()
    );
    h.finish().await;
}

/// Does not compile: `compile_error`, the compiler's message, no run step.
#[tokio::test]
async fn compile_error() {
    each_language("compile error", |id, p| {
        p.compile_error
            .as_ref()
            .map(|c| does_not_compile(id, &c.code, &c.needles))
    })
    .await
}

async fn does_not_compile(id: &'static str, code: &'static str, needles: &'static [String]) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code).limits(generous())).await;
    assert_eq!(r.outcome.verdict, Verdict::CompileError, "{id}: {r:#?}");
    assert_eq!(r.outcome.status, Status::Failed);
    let compile = r.outcome.compile.as_ref().expect("a compile report");
    assert_eq!(compile.verdict, Some(Verdict::CompileError));
    assert!(
        matches!(compile.exit_code, Some(c) if c != 0),
        "{id}: {compile:?}"
    );
    assert!(r.outcome.run.is_none(), "{id}: {r:#?}");
    assert!(!r.started(StepKind::Run));
    let text = r.compile_text();
    for needle in needles {
        assert!(
            text.contains(needle.as_str()),
            "{id}: compile output lacks {needle:?}: {text}"
        );
    }
    h.finish().await;
}

/// A syntax error in an interpreted language: the interpreter's message
/// comes back on stderr, verdict `runtime_error`.
#[tokio::test]
async fn syntax_error() {
    each_language("syntax error", |id, p| {
        p.syntax_error
            .as_ref()
            .map(|s| refused(id, &s.code, &s.stderr))
    })
    .await
}

async fn refused(id: &'static str, code: &'static str, needle: &'static str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h.run(&Program::new(id, code).limits(generous())).await;
    assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{id}: {r:#?}");
    assert!(r.outcome.compile.is_none());
    assert!(
        matches!(r.run().exit_code, Some(c) if c != 0),
        "{id}: {r:#?}"
    );
    assert!(
        r.stderr_text().contains(needle),
        "{id}: stderr lacks {needle:?}: {}",
        r.stderr_text()
    );
    h.finish().await;
}

/// Allocating without end under a 128 MiB limit: the kernel's OOM killer
/// ends it (`memory_limit_exceeded`, the peak near the limit), or a runtime
/// with a heap limit of its own (the JVM's) fails with its own message.
#[tokio::test]
async fn memory_hog() {
    each_language("memory hog", |id, p| {
        let m = &p.memory_hog;
        Some(hog(id, &m.code, &m.verdict, m.stderr.as_deref()))
    })
    .await
}

async fn hog(id: &'static str, code: &'static str, verdict: &str, stderr: Option<&'static str>) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let oom = verdict == "memory_limit_exceeded";
    // A runtime with a heap limit of its own keeps its language's memory.
    let limit = if oom {
        128 * MIB
    } else {
        Limits::default()
            .with(registry().get(id).unwrap().limits())
            .run
            .memory_bytes
    };
    let program = Program::new(id, code).limits(LimitsOverride {
        memory_bytes: Some(limit),
        cpu_ms: Some(10_000),
        ..generous()
    });
    let r = h.run(&program).await;
    let run = r.run();
    match oom {
        true => {
            assert_eq!(
                r.outcome.verdict,
                Verdict::MemoryLimitExceeded,
                "{id}: {r:#?}"
            );
            // The kernel's OOM killer ended it.
            assert_eq!(run.signal, Some(9), "{id}: {run:?}");
            assert!(run.memory_bytes >= limit * 9 / 10, "{id}: {run:?}");
        }
        false => {
            assert_eq!(r.outcome.verdict, Verdict::RuntimeError, "{id}: {r:#?}");
            assert!(matches!(run.exit_code, Some(c) if c != 0), "{id}: {run:?}");
            let needle = stderr.expect("a runtime_error hog names its message");
            assert!(
                r.stderr_text().contains(needle),
                "{id}: stderr lacks {needle:?}: {}",
                r.stderr_text()
            );
        }
    }
    h.finish().await;
}

/// The prompt arrives as a waiting-for-input event with its text, before
/// any input; the answer comes back while stdin is still open.
#[tokio::test]
async fn interactive() {
    each_language("interactive", |id, p| {
        p.interactive
            .as_deref()
            .map(|code| conversation(id, code, p.prompt))
    })
    .await
}

async fn conversation(id: &'static str, code: &'static str, seen: PromptSeen) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new(id, code).interactive().limits(generous());
    let mut s = h.session(&program).await;
    match seen {
        PromptSeen::Exact => assert_eq!(s.prompt().await, "Name: ", "{id}"),
        PromptSeen::AfterBoot => loop {
            let prompt = s.prompt().await;
            if prompt == "Name: " {
                break;
            }
            assert_eq!(prompt, "", "{id}: only empty prompts before the prompt");
        },
        PromptSeen::Unseen => s.stdout_contains("Name: ").await,
    }
    assert_eq!(String::from_utf8_lossy(&s.stdout()), "Name: ", "{id}");
    s.send(b"Ada\n").await;
    s.stdout_contains("Hello, Ada!\n").await;
    // Exactly one prompt until the answer. (Node's readline goes on reading
    // until the end of input even after `rl.close()`, and may be reported
    // waiting again before the EOF below arrives.)
    let prompts = s.prompts();
    match seen {
        PromptSeen::Exact => assert_eq!(prompts, ["Name: "], "{id}"),
        // The BEAM may be seen waiting again, with nothing new printed,
        // before it prints the answer.
        PromptSeen::AfterBoot => assert!(
            prompts.iter().all(|p| p.is_empty() || p == "Name: "),
            "{id}: {prompts:?}"
        ),
        PromptSeen::Unseen => {}
    }
    s.command(InputCommand::Close).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{id}: {r:#?}");
    // No echo of the input, no terminal translation of newlines.
    assert_eq!(r.stdout_text(), "Name: Hello, Ada!\n", "{id}");
    h.finish().await;
}

/// A program that sleeps, its stdin open and unread, is not waiting for
/// input: no prompt is reported, though these sleeps wait in poll(2),
/// select(2) or epoll like a read of stdin does (Racket and Perl's four-
/// argument select sleep in poll and select; Node's timer in epoll). Nor is
/// one that reads a pipe of its own while its child sleeps (Python's
/// `subprocess.run` and a shell's `$(…)`, whose reads sleep in a pipe read
/// like a read of a piped stdin does).
#[tokio::test]
async fn sleeping_is_not_waiting_for_input() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let sleepers: &[(&'static str, &str)] = &[
        ("python", "import time\ntime.sleep(1.5)\nprint('done')\n"),
        (
            "perl",
            "select(undef, undef, undef, 1.5);\nprint \"done\\n\";\n",
        ),
        ("ruby", "sleep 1.5\nputs 'done'\n"),
        (
            "javascript",
            "setTimeout(() => console.log('done'), 1500);\n",
        ),
        (
            "racket",
            "#lang racket/base\n(sleep 1.5)\n(displayln \"done\")\n",
        ),
        ("commonlisp", "(sleep 1.5)\n(format t \"done~%\")\n"),
        (
            "python",
            "import subprocess\nsubprocess.run(['sleep', '1.5'], capture_output=True)\nprint('done')\n",
        ),
        ("bash", "x=$(sleep 1.5; echo done)\necho \"$x\"\n"),
    ];
    for &(id, code) in sleepers {
        if !language_ids().contains(&id) {
            continue;
        }
        let s = h.session(&Program::new(id, code).interactive()).await;
        let r = s.finish().await;
        assert_eq!(r.outcome.verdict, Verdict::Ok, "{id}: {r:#?}");
        assert_eq!(r.stdout_text(), "done\n", "{id}");
        assert!(
            r.prompts.is_empty(),
            "{id}: prompts while sleeping: {:?}",
            r.prompts
        );
    }
    h.finish().await;
}

/// Two prompts in a row: each one is reported once, with its own text.
async fn two_prompts(id: &'static str, code: &str) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut s = h.session(&Program::new(id, code).interactive()).await;
    assert_eq!(s.prompt().await, "Name: ");
    s.send(b"Ada\n").await;
    assert_eq!(s.prompt().await, "Age: ");
    s.send(b"36\n").await;
    s.stdout_contains("Ada is 36\n").await;
    assert_eq!(s.prompts(), ["Name: ", "Age: "]);
    // Node's readline keeps reading until the end of input.
    s.command(InputCommand::Close).await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "Name: Age: Ada is 36\n");
    h.finish().await;
}

#[tokio::test]
async fn two_prompts_python() {
    two_prompts(
        "python",
        r#"
name = input("Name: ")
age = input("Age: ")
print(f"{name} is {age}")
"#,
    )
    .await
}

#[tokio::test]
async fn two_prompts_c() {
    two_prompts(
        "c",
        r#"
#include <stdio.h>

int main(void) {
    char name[100];
    int age;
    printf("Name: ");
    if (scanf("%99s", name) != 1) return 1;
    printf("Age: ");
    if (scanf("%d", &age) != 1) return 1;
    printf("%s is %d\n", name, age);
    return 0;
}
"#,
    )
    .await
}

#[tokio::test]
async fn two_prompts_javascript() {
    two_prompts(
        "javascript",
        r#"
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question("Name: ", (name) => {
    rl.question("Age: ", (age) => {
        console.log(`${name} is ${age}`);
        rl.close();
    });
});
"#,
    )
    .await
}

#[tokio::test]
async fn c_segfault_is_signal_11() {
    // Volatile pointer and pointee: GCC may neither drop the store nor
    // turn it into a trap.
    let code = "int main(void) { volatile int *volatile p = 0; *p = 1; return 0; }\n";
    killed_by_signal("c", code, 11, "").await
}

#[tokio::test]
async fn cpp_uncaught_exception_aborts_with_its_message() {
    let code = "#include <stdexcept>\nint main() { throw std::runtime_error(\"boom\"); }\n";
    killed_by_signal("cpp", code, 6, "boom").await
}

/// An interactive program that exits while its stdin is still open
/// (the client never sends EOF) ends at once, with its whole output.
/// C runs on a terminal, whose end-of-output the agent must not take
/// from the stdin side closing.
#[tokio::test]
async fn c_exits_with_stdin_open() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new("c", programs("c").interactive.as_deref().unwrap())
        .interactive()
        .limits(LimitsOverride {
            wall_ms: Some(20_000),
            ..Default::default()
        });
    let mut s = h.session(&program).await;
    assert_eq!(s.prompt().await, "Name: ");
    s.send(b"Ada\n").await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.run().exit_code, Some(0));
    assert_eq!(r.stdout_text(), "Name: Hello, Ada!\n");
    h.finish().await;
}

/// The file is named after the public class (`Calculator.java`).
#[tokio::test]
async fn java_public_class_names_the_file() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"
public class Calculator {
    public static void main(String[] args) {
        System.out.println(6 * 7);
    }
}
"#;
    let r = h.run(&Program::new("java", code)).await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "42\n");
    h.finish().await;
}

/// A program that reads line after line without printing a prompt is
/// reported waiting each time, with an empty prompt.
#[tokio::test]
async fn silent_reads_are_each_reported() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "a = input()\nb = input()\nprint(a + b)\n";
    let mut s = h.session(&Program::new("python", code).interactive()).await;
    assert_eq!(s.prompt().await, "");
    s.send(b"x\n").await;
    assert_eq!(s.prompt().await, "");
    s.send(b"y\n").await;
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    assert_eq!(r.stdout_text(), "xy\n");
    h.finish().await;
}

/// A program that prints, then sleeps, then is busy, is not waiting for
/// input: the first prompt comes only once it truly reads, with all it
/// printed (a prompt seen during the sleep or the busy loop would carry
/// only "Name: ").
#[tokio::test]
async fn sleeping_or_busy_is_not_a_prompt() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    char name[100];
    printf("Name: ");
    fflush(stdout);
    sleep(1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile unsigned long n = 0;
    do {
        n++;
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 500);
    printf("(ready) ");
    fflush(stdout);
    if (scanf("%99s", name) != 1) return 1;
    printf("Hello, %s!\n", name);
    return 0;
}
"#;
    let mut s = h.session(&Program::new("c", code).interactive()).await;
    assert_eq!(s.prompt().await, "Name: (ready) ");
    s.send(b"Ada\n").await;
    s.stdout_contains("Hello, Ada!\n").await;
    assert_eq!(s.prompts(), ["Name: (ready) "]);
    let r = s.finish().await;
    assert_eq!(r.outcome.verdict, Verdict::Ok, "{r:#?}");
    h.finish().await;
}
