//! Test cases on real Docker: compile once, run each case on a fresh work
//! directory and /tmp, judge each output (built-in comparisons and checker
//! programs), stop on the first failure, and the cases' total time.

mod support;

use monaco_core::{Comparison, ExecutionEvent, LimitsOverride, StepKind, Verdict};
use support::{docker_or_skip, Case, CheckerSpec, Program};

const MIB: u64 = 1024 * 1024;

const C_SUM: &str = r#"#include <stdio.h>
int main(void) {
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2) return 3;
    printf("%ld\n", a + b);
    return 0;
}
"#;

const PY_SUM: &str = "a, b = map(int, input().split())\nprint(a + b)\n";

fn sum_cases() -> Vec<Case> {
    vec![
        Case::new("1 2\n", "3\n"),
        // Deliberately wrong expected output.
        Case::new("20 22\n", "43\n"),
        Case::new("-5 5", "0"),
    ]
}

fn compile_steps(events: &[ExecutionEvent]) -> usize {
    events
        .iter()
        .filter(|e| {
            matches!(
                e,
                ExecutionEvent::StepStarted {
                    step: StepKind::Compile
                }
            )
        })
        .count()
}

async fn a_plus_b(language: &'static str, code: &str, compiles: bool) {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let r = h
        .run(&Program::new(language, code).cases(sum_cases()))
        .await;
    use Verdict::*;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Ok), Some(WrongAnswer), Some(Ok)],
        "{r:#?}"
    );
    assert_eq!(r.outcome.verdict, WrongAnswer);
    assert_eq!(compile_steps(&r.events), usize::from(compiles));
    assert!(r.outcome.run.is_none(), "cases replace the run step");
    assert_eq!(r.case_stdout(0), "3\n");
    assert_eq!(r.case_stdout(1), "42\n");
    assert_eq!(r.case_stdout(2), "0\n");
    assert_eq!(r.case(1).report.exit_code, Some(0));
    h.finish().await;
}

#[tokio::test]
async fn c_a_plus_b_compiles_once_and_judges_each_case() {
    a_plus_b("c", C_SUM, true).await;
}

#[tokio::test]
async fn python_a_plus_b_judges_each_case() {
    a_plus_b("python", PY_SUM, false).await;
}

/// Case 0 forks a daemon, fills /tmp, deletes the binary and the source,
/// writes a marker and locks what is left; case 1 sees none of it.
#[tokio::test]
async fn c_cases_cannot_see_each_other() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int others(void) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid > 1 && pid != getpid()) n++;
    }
    return n;
}
static int entries(const char *path) {
    int n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    return n;
}
int main(void) {
    int which = -1;
    if (scanf("%d", &which) != 1) return 2;
    if (which == 0) {
        if (fork() == 0) { setsid(); sleep(60); return 0; }
        FILE *f = fopen("/tmp/junk", "w");
        for (int i = 0; i < 1000; i++) fputs("junk junk junk\n", f);
        fclose(f);
        FILE *m = fopen("marker", "w");
        fputs("left behind\n", m);
        fclose(m);
        unlink("main");
        chmod("main.c", 0);
        chmod("marker", 0);
        chmod(".", 0500);
        printf("dirty\n");
        return 0;
    }
    printf("others=%d tmp=%d marker=%d main=%d source=%d\n", others(), entries("/tmp"),
           access("marker", F_OK) == 0, access("main", X_OK) == 0, access("main.c", R_OK) == 0);
    return 0;
}
"#;
    let program = Program::new("c", code).cases(vec![
        Case::unjudged("0"),
        Case::new("1", "others=0 tmp=0 marker=0 main=1 source=1\n"),
    ]);
    let r = h.run(&program).await;
    assert_eq!(r.case_stdout(0), "dirty\n", "{r:#?}");
    assert_eq!(
        r.case_stdout(1),
        "others=0 tmp=0 marker=0 main=1 source=1\n",
        "{r:#?}"
    );
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Verdict::Ok), Some(Verdict::Ok)]
    );
    h.finish().await;
}

/// The same in Python: the deleted source is back for the next case.
#[tokio::test]
async fn python_cases_cannot_see_each_other() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"import os, sys
which = sys.stdin.read().strip()
if which == "0":
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(60)
        os._exit(0)
    with open("/tmp/junk", "w") as f:
        f.write("junk\n" * 1000)
    with open("marker", "w") as f:
        f.write("left behind\n")
    os.remove("main.py")
    print("dirty")
else:
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    print(len(others), os.listdir("/tmp"), os.path.exists("marker"), os.path.exists("main.py"))
"#;
    let program = Program::new("python", code).cases(vec![
        Case::unjudged("0"),
        Case::new("1", "0 [] False True\n"),
    ]);
    let r = h.run(&program).await;
    assert_eq!(r.case_stdout(0), "dirty\n", "{r:#?}");
    assert_eq!(r.case_stdout(1), "0 [] False True\n", "{r:#?}");
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Verdict::Ok), Some(Verdict::Ok)]
    );
    h.finish().await;
}

/// A case that floods its output, one that exceeds the memory limit and
/// one that loops each get their own verdict; the cases between pass.
#[tokio::test]
async fn a_case_over_a_limit_fails_alone() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    char mode[16] = "";
    if (scanf("%15s", mode) != 1) return 2;
    if (!strcmp(mode, "flood")) for (;;) fputs("flood flood flood flood\n", stdout);
    if (!strcmp(mode, "memory"))
        for (;;) { char *p = malloc(MIB); if (!p) return 4; memset(p, 1, MIB); }
    if (!strcmp(mode, "loop")) { volatile unsigned long n = 0; for (;;) n++; }
    printf("fine\n");
    return 0;
}
"#
    .replace("MIB", "(1 << 20)");
    let program = Program::new("c", code)
        .limits(LimitsOverride {
            output_bytes: Some(64 * 1024),
            memory_bytes: Some(64 * MIB),
            cpu_ms: Some(1_000),
            wall_ms: Some(10_000),
            ..Default::default()
        })
        .cases(
            ["fine", "flood", "fine", "memory", "fine", "loop", "fine"]
                .iter()
                .map(|m| Case::new(*m, "fine\n"))
                .collect(),
        );
    let r = h.run(&program).await;
    use Verdict::*;
    assert_eq!(
        r.case_verdicts(),
        [
            Ok,
            OutputLimitExceeded,
            Ok,
            MemoryLimitExceeded,
            Ok,
            TimeLimitExceeded,
            Ok
        ]
        .map(Some)
        .to_vec(),
        "{r:#?}"
    );
    assert!(r.case(1).report.truncated);
    assert_eq!(
        r.outcome.verdict, OutputLimitExceeded,
        "the first failure decides"
    );
    h.finish().await;
}

#[tokio::test]
async fn stop_on_first_failure_skips_the_rest() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let mut cases = sum_cases();
    cases.push(Case::new("2 2", "4"));
    let r = h
        .run(
            &Program::new("python", PY_SUM)
                .cases(cases)
                .stop_on_first_failure(),
        )
        .await;
    use Verdict::*;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Ok), Some(WrongAnswer), Some(Skipped), Some(Skipped)],
        "{r:#?}"
    );
    for skipped in [2, 3] {
        let report = &r.case(skipped).report;
        assert_eq!((report.exit_code, report.wall_ms), (None, 0), "{report:?}");
        assert!(!r
            .events
            .iter()
            .any(|e| matches!(e, ExecutionEvent::CaseStarted { index } if *index == skipped)));
    }
    assert_eq!(r.outcome.verdict, WrongAnswer);
    h.finish().await;
}

/// When the cases' total time runs out, the running case is out of time
/// and the rest are skipped, although each case's own limit is longer.
#[tokio::test]
async fn the_total_wall_time_ends_the_cases() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "import sys, time\nif sys.stdin.read().strip() == 'sleep':\n    time.sleep(60)\nprint('done')\n";
    let program = Program::new("python", code)
        .limits(LimitsOverride {
            wall_ms: Some(30_000),
            total_wall_ms: Some(3_000),
            ..Default::default()
        })
        .cases(vec![
            Case::new("quick", "done"),
            Case::new("sleep", "done"),
            Case::new("quick", "done"),
        ]);
    let r = h.run(&program).await;
    use Verdict::*;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Ok), Some(TimeLimitExceeded), Some(Skipped)],
        "{r:#?}"
    );
    assert!(r.case(1).report.wall_ms < 30_000, "{:?}", r.case(1));
    assert_eq!(r.outcome.verdict, TimeLimitExceeded);
    h.finish().await;
}

/// Each built-in comparison, on what a real program printed.
#[tokio::test]
async fn each_comparison_judges_real_output() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = "import sys\nsys.stdout.write('1.5  2\\n\\n')\n";
    let table = [
        (Comparison::Exact, "1.5  2\n\n", "1.5  2\n"),
        (Comparison::Trim, "1.5  2", "1.5 2"),
        (Comparison::Tokens, "1.5\n2", "1.5 3"),
        (
            Comparison::Float {
                abs: 0.01,
                rel: 0.0,
            },
            "1.505 2",
            "1.52 2",
        ),
    ];
    for (comparison, accepted, rejected) in table {
        let program = Program::new("python", code)
            .checker(CheckerSpec::Compare(comparison))
            .cases(vec![Case::new("", accepted), Case::new("", rejected)]);
        let r = h.run(&program).await;
        assert_eq!(
            r.case_verdicts(),
            vec![Some(Verdict::Ok), Some(Verdict::WrongAnswer)],
            "{comparison:?}: {r:#?}"
        );
    }
    h.finish().await;
}

/// A plain run with an expected output is judged in its run report.
#[tokio::test]
async fn a_plain_run_is_judged_against_its_expected_output() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new("c", C_SUM).stdin("2 3\n");
    let r = h.run(&program.clone().expected("5\n")).await;
    assert_eq!(r.run().verdict, Some(Verdict::Ok), "{r:#?}");
    let r = h.run(&program.expected("6\n")).await;
    assert_eq!(r.run().verdict, Some(Verdict::WrongAnswer), "{r:#?}");
    assert_eq!(r.outcome.verdict, Verdict::WrongAnswer);
    assert_eq!(r.stdout_text(), "5\n", "the output is streamed as always");
    h.finish().await;
}

/// A C++ checker (testlib's exit codes) for a C solution: `crash` in the
/// expected output makes it abort.
const CPP_CHECKER: &str = r#"#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
int main(int argc, char **argv) {
    if (argc != 4) { std::cout << "usage\n"; return 3; }
    std::ifstream input(argv[1]), expected(argv[2]), output(argv[3]);
    std::string want, got, a;
    expected >> want;
    output >> got;
    input >> a;
    if (want == "crash") std::abort();
    if (want == got) { std::cout << "ok: " << a << " and friends sum to " << got << "\n"; return 0; }
    std::cout << "wrong: expected " << want << ", got " << got << "\n";
    return 1;
}
"#;

#[tokio::test]
async fn a_checker_program_accepts_rejects_and_fails() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new("c", C_SUM)
        .checker(CheckerSpec::Program {
            language: "cpp",
            code: CPP_CHECKER.into(),
        })
        .cases(vec![
            Case::new("1 2\n", "3"),
            Case::new("20 22\n", "43"),
            Case::new("0 0\n", "crash"),
            Case::new("4 4\n", "8"),
        ]);
    let r = h.run(&program).await;
    use Verdict::*;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Ok), Some(WrongAnswer), Some(InternalError), Some(Ok)],
        "{r:#?}"
    );
    let message = |i| r.case(i).checker_message.clone().unwrap_or_default();
    assert_eq!(message(0), "ok: 1 and friends sum to 3");
    assert_eq!(message(1), "wrong: expected 43, got 42");
    assert!(message(2).contains("checker failed"), "{}", message(2));
    assert_eq!(
        compile_steps(&r.events),
        1,
        "the checker's is not the program's"
    );
    for i in 0..4 {
        assert!(
            !r.case_stdout(i).contains("sum to"),
            "checker output leaked"
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn a_checker_that_does_not_compile_fails_every_case() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new("c", C_SUM)
        .checker(CheckerSpec::Program {
            language: "cpp",
            code: "int main() { return syntax error; }\n".into(),
        })
        .cases(vec![Case::new("1 2", "3"), Case::new("2 2", "4")]);
    let r = h.run(&program).await;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Verdict::InternalError), Some(Verdict::InternalError)],
        "{r:#?}"
    );
    let message = r.case(0).checker_message.clone().unwrap_or_default();
    assert!(message.contains("did not compile"), "{message}");
    assert!(!r.compile_text().contains("syntax"), "{}", r.compile_text());
    h.finish().await;
}

/// A solution that goes after the checker: lists /tmp, tries to read the
/// expected output, to replace the checker, to write into its directory
/// and to kill every process it can. The checker judges regardless.
#[tokio::test]
async fn the_solution_cannot_reach_the_checker() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let code = r#"#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void attempt(const char *what, int ok) { fprintf(stderr, "%s %s\n", ok ? "LEAK" : "denied", what); }
int main(void) {
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2) return 3;
    int found = 0;
    DIR *tmp = opendir("/tmp");
    struct dirent *e;
    while (tmp && (e = readdir(tmp)))
        if (e->d_name[0] == '.' && strlen(e->d_name) > 2) {
            char path[512];
            found = 1;
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            attempt("list", opendir(path) != NULL);
            snprintf(path, sizeof path, "/tmp/%s/.case/expected", e->d_name);
            attempt("read expected", open(path, O_RDONLY) >= 0);
            snprintf(path, sizeof path, "/tmp/%s/main", e->d_name);
            attempt("overwrite", open(path, O_WRONLY | O_TRUNC) >= 0);
            attempt("delete", unlink(path) == 0);
            snprintf(path, sizeof path, "/tmp/%s/planted", e->d_name);
            attempt("write", open(path, O_WRONLY | O_CREAT, 0777) >= 0);
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            attempt("move", rename(path, "/tmp/moved") == 0);
            attempt("remove", rmdir(path) == 0);
        }
    attempt("kill", kill(-1, SIGKILL) == 0);
    fprintf(stderr, "found=%d\n", found);
    printf("%ld\n", a + b);
    return 0;
}
"#;
    let program = Program::new("c", code)
        .checker(CheckerSpec::Program {
            language: "cpp",
            code: CPP_CHECKER.into(),
        })
        .cases(vec![Case::new("1 2", "3"), Case::new("2 5", "7")]);
    let r = h.run(&program).await;
    assert_eq!(
        r.case_verdicts(),
        vec![Some(Verdict::Ok), Some(Verdict::Ok)],
        "{r:#?}"
    );
    assert_eq!(
        r.case(1).checker_message.as_deref(),
        Some("ok: 2 and friends sum to 7")
    );
    let stderr = r.stderr_text();
    assert!(
        stderr.contains("found=1"),
        "the checker's directory is in /tmp: {stderr}"
    );
    assert!(stderr.contains("denied read expected"), "{stderr}");
    assert!(!stderr.contains("LEAK"), "{stderr}");
    h.finish().await;
}

/// A plain run's output is judged by a checker program too, with the
/// input the run was given.
#[tokio::test]
async fn a_checker_program_judges_a_plain_run() {
    let Some(h) = docker_or_skip().await else {
        return;
    };
    let program = Program::new("c", C_SUM)
        .stdin("2 3\n")
        .checker(CheckerSpec::Program {
            language: "cpp",
            code: CPP_CHECKER.into(),
        });
    let r = h.run(&program.clone().expected("5")).await;
    assert_eq!(r.run().verdict, Some(Verdict::Ok), "{r:#?}");
    let r = h.run(&program.expected("6")).await;
    assert_eq!(r.run().verdict, Some(Verdict::WrongAnswer), "{r:#?}");
    assert_eq!(compile_steps(&r.events), 1);
    assert_eq!(r.stdout_text(), "5\n");
    h.finish().await;
}
