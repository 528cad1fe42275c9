//! Graders through the real server and Docker: test cases compiled once and
//! judged one by one in every language, followed live on the WebSocket;
//! each comparison on real output, at its edges; checker programs in
//! another language than the solution's, one that crashes, and one that
//! the solution attacks; `stopOnFirstFailure` and `limits.total_wall_ms`.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::programs::a_plus_b;
use support::terminal::Transcript;
use support::{expect_error, Server};

/// Prints its input exactly: the output a case's comparison sees is then
/// the case's input.
const ECHO: &str = "import sys\nsys.stdout.write(sys.stdin.read())\n";

/// Three a+b cases, the last with a wrong expected output.
fn three_cases() -> Value {
    json!([
        {"name": "small", "input": "1 2\n", "expectedOutput": "3"},
        {"name": "answer", "input": "40 2\n", "expectedOutput": "42\n"},
        {"name": "wrong", "input": "2 2\n", "expectedOutput": "5\n"},
    ])
}

/// Submits `body`, follows the execution on the WebSocket to its end (a
/// late join replays what it missed); the frames and the result.
async fn watched(server: &Server, body: &Value) -> (Transcript, Value) {
    let id = server.submit(body).await;
    let transcript = server.terminal(&id).await.finish().await;
    let result = server.wait_result(&id).await;
    (transcript, result)
}

/// The cases' verdicts, in order.
fn verdicts(result: &Value) -> Vec<&str> {
    result["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("`tests` is a list: {result}"))
        .iter()
        .map(|t| t["verdict"].as_str().expect("a verdict"))
        .collect()
}

/// Each case's `test` frames come in order, `running` before its result,
/// and every run-step output frame between them names that case. Returns
/// the final `test` frame of each case.
fn case_frames(transcript: &Transcript, cases: usize) -> Vec<Value> {
    let mut running: Option<u64> = None;
    let mut ended = Vec::new();
    for frame in transcript.json() {
        let content = &frame["content"];
        match frame["type"].as_str() {
            Some("test") => {
                let index = content["index"].as_u64().expect("an index");
                if content["status"] == "running" {
                    assert_eq!(running, None, "a case starts after the last ended");
                    assert_eq!(index, ended.len() as u64, "cases start in order");
                    running = Some(index);
                } else {
                    assert_eq!(index, ended.len() as u64, "cases end in order");
                    if content["status"] != "skipped" {
                        assert_eq!(running, Some(index), "{frame} ends the running case");
                    }
                    running = None;
                    ended.push(content.clone());
                }
            }
            Some("output") if content["step"] == "run" => {
                let case = running.unwrap_or_else(|| panic!("{frame} outside a case"));
                assert_eq!(content["test"], case, "{frame}");
            }
            _ => {}
        }
    }
    assert_eq!(ended.len(), cases, "{:?}", transcript.frames);
    ended
}

/// How many times the transcript says the program is compiled.
fn compilations(transcript: &Transcript) -> usize {
    transcript
        .json()
        .filter(|f| f["type"] == "system" && f["content"] == "compiling")
        .count()
}

async fn a_plus_b_is_compiled_once_and_judged_per_case(language: &str) {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let compiled = server.language(language).await["compiled"] == true;
    let body = json!({"language": language, "code": a_plus_b(language), "tests": three_cases()});
    let (transcript, result) = watched(&server, &body).await;

    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "wrong_answer", "{result}");
    assert_eq!(verdicts(&result), ["ok", "ok", "wrong_answer"], "{result}");
    assert_eq!(
        result["summary"],
        json!({"total": 3, "passed": 2, "failed": 1, "skipped": 0})
    );
    let tests = result["tests"].as_array().expect("a list");
    for (i, (case, stdout)) in tests.iter().zip(["3\n", "42\n", "4\n"]).enumerate() {
        assert_eq!(case["index"], i, "{case}");
        assert_eq!(case["stdout"], stdout, "{case}");
        assert_eq!(case["exitCode"], 0, "{case}");
        assert!(
            case["memoryBytes"].as_u64().is_some_and(|m| m > 0),
            "{case}"
        );
    }
    assert_eq!(tests[0]["name"], "small");
    assert_eq!(tests[2]["name"], "wrong");
    assert!(
        result["run"].is_null(),
        "each case has its own run: {result}"
    );

    // Compiled once, whatever the number of cases.
    assert_eq!(compilations(&transcript), usize::from(compiled), "{result}");
    assert_eq!(result["compile"].is_object(), compiled, "{result}");
    if compiled {
        assert_eq!(result["compile"]["verdict"], "ok", "{result}");
    }

    // Live: each case's frames, its result as /api/result has it.
    let ended = case_frames(&transcript, 3);
    for (frame, case) in ended.iter().zip(tests) {
        assert_eq!(frame["status"], "completed", "{frame}");
        for key in ["verdict", "exitCode", "wallMs", "cpuMs", "memoryBytes"] {
            assert_eq!(frame[key], case[key], "{key}: {frame} against {case}");
        }
    }
    let printed: String = transcript.stdout();
    assert_eq!(printed, "3\n42\n4\n", "every case's output, live");
    assert_eq!(transcript.final_status()["verdict"], "wrong_answer");

    // Joining after the end replays the same cases.
    let id = result["id"].as_str().expect("an id");
    let replay = server.terminal(id).await.finish().await;
    assert_eq!(case_frames(&replay, 3), ended, "the replay's cases");
    assert_eq!(replay.stdout(), printed);
    server.stop().await;
}

#[tokio::test]
async fn a_plus_b_in_python() {
    a_plus_b_is_compiled_once_and_judged_per_case("python").await;
}

#[tokio::test]
async fn a_plus_b_in_java() {
    a_plus_b_is_compiled_once_and_judged_per_case("java").await;
}

#[tokio::test]
async fn a_plus_b_in_c() {
    a_plus_b_is_compiled_once_and_judged_per_case("c").await;
}

#[tokio::test]
async fn a_plus_b_in_cpp() {
    a_plus_b_is_compiled_once_and_judged_per_case("cpp").await;
}

#[tokio::test]
async fn a_plus_b_in_javascript() {
    a_plus_b_is_compiled_once_and_judged_per_case("javascript").await;
}

#[tokio::test]
async fn a_plus_b_in_go() {
    a_plus_b_is_compiled_once_and_judged_per_case("go").await;
}

/// Runs [`ECHO`] with one case per `(printed, expected, accepted)` under
/// `checker`, and checks each case's verdict.
async fn judge_edges(server: &Server, checker: Value, edges: &[(&str, &str, bool)]) {
    let tests: Vec<Value> = edges
        .iter()
        .map(|(printed, expected, _)| json!({"input": printed, "expectedOutput": expected}))
        .collect();
    let body = json!({"language": "python", "code": ECHO, "tests": tests, "checker": checker});
    let result = server.execute(&body).await;
    let want: Vec<&str> = edges
        .iter()
        .map(|(_, _, accepted)| if *accepted { "ok" } else { "wrong_answer" })
        .collect();
    assert_eq!(verdicts(&result), want, "{checker}: {result}");
    for (case, (printed, _, _)) in result["tests"].as_array().unwrap().iter().zip(edges) {
        assert_eq!(case["stdout"], *printed, "the output judged: {case}");
    }
}

#[tokio::test]
async fn each_comparison_judges_real_output_at_its_edges() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    judge_edges(
        &server,
        json!({"type": "exact"}),
        &[
            ("3\n", "3\n", true),
            ("3", "3\n", false),
            ("3 \n", "3\n", false),
        ],
    )
    .await;
    let trim = [
        ("3  \n\n\n", "3", true),
        ("1\n2\n", "1 \n2", true),
        (" 3\n", "3\n", false),
        ("a b\n", "a  b\n", false),
        ("1\n\n2\n", "1\n2\n", false),
    ];
    judge_edges(&server, json!({"type": "trim"}), &trim).await;
    // Trim is the default.
    judge_edges(&server, json!(null), &trim).await;
    judge_edges(
        &server,
        json!({"type": "tokens"}),
        &[
            ("1   2\n3\n", "1 2 3", true),
            ("\t1 2 ", "1\n2\n", true),
            ("1 2\n", "1 2 3\n", false),
            ("12\n", "1 2\n", false),
        ],
    )
    .await;
    // Tolerances are inclusive: exactly at the edge is accepted, a hair
    // beyond it is not; other tokens must be equal.
    judge_edges(
        &server,
        json!({"type": "float", "absTolerance": 1e-6, "relTolerance": 0.0}),
        &[
            ("1.000001\n", "1", true),
            ("0.999999\n", "1.0", true),
            ("1.0000011\n", "1", false),
            ("x 2.0\n", "x 2", true),
            ("y 2\n", "x 2", false),
            ("1 2\n", "1", false),
        ],
    )
    .await;
    judge_edges(
        &server,
        json!({"type": "float", "absTolerance": 0.0, "relTolerance": 1e-6}),
        &[
            ("1000.001\n", "1000", true),
            ("-1000.001\n", "-1000", true),
            ("1000.0011\n", "1000", false),
        ],
    )
    .await;

    // A plain execution with an expected output is judged too.
    let plain = json!({"language": "python", "code": ECHO, "input": "7\n", "expectedOutput": "8"});
    let result = server.execute(&plain).await;
    assert_eq!(result["verdict"], "wrong_answer", "{result}");
    assert_eq!(result["stdout"], "7\n", "{result}");
    let plain = json!({"language": "python", "code": ECHO, "input": "8\n", "expectedOutput": "8"});
    assert_eq!(server.execute(&plain).await["verdict"], "ok");

    // Cases have their own input: never interactive.
    let interactive = json!({"language": "python", "code": ECHO, "interactive": true,
                             "tests": [{"input": "1"}]});
    let r = server.submit_raw(&interactive).await;
    expect_error(r, StatusCode::BAD_REQUEST, "request.invalid_tests").await;
    server.stop().await;
}

/// A C++ checker: its first line names it and what it compared; exit 1 on
/// a wrong answer, 2 (presentation error) when the expected output says
/// `PE`, and an abort (neither 0, 1 nor 2) when it says `CRASH`.
const CPP_CHECKER: &str = r#"#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

static std::vector<std::string> words(const char *path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

int main(int argc, char **argv) {
    if (argc < 4) return 3;
    auto given = words(argv[1]), expected = words(argv[2]), output = words(argv[3]);
    std::string want = expected.empty() ? "" : expected[0];
    std::string got = output.empty() ? "" : output[0];
    std::cout << "c++ checker: " << got << " for " << given.at(0) << "+" << given.at(1)
              << ", expected " << want << std::endl;
    if (want == "CRASH") std::abort();
    if (want == "PE") return 2;
    return expected == output ? 0 : 1;
}
"#;

#[tokio::test]
async fn a_checker_program_in_another_language_judges_each_case() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let checker = json!({"type": "program", "language": "cpp", "code": CPP_CHECKER});
    let body = json!({
        "language": "c",
        "code": a_plus_b("c"),
        "checker": checker,
        "tests": [
            {"input": "1 2\n", "expectedOutput": "3"},
            {"input": "2 2\n", "expectedOutput": "5"},
            {"input": "1 1\n", "expectedOutput": "PE"},
            {"input": "5 5\n", "expectedOutput": "10"},
        ],
    });
    let (transcript, result) = watched(&server, &body).await;
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["verdict"], "wrong_answer", "{result}");
    assert_eq!(
        verdicts(&result),
        ["ok", "wrong_answer", "wrong_answer", "ok"],
        "{result}"
    );
    let messages: Vec<&str> = result["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["checkerMessage"].as_str().expect("a checker message"))
        .collect();
    assert_eq!(
        messages,
        [
            "c++ checker: 3 for 1+2, expected 3",
            "c++ checker: 4 for 2+2, expected 5",
            "c++ checker: 2 for 1+1, expected PE",
            "c++ checker: 10 for 5+5, expected 10",
        ]
    );
    // The checker's own steps are not the program's output.
    assert_eq!(compilations(&transcript), 1, "only the solution compiles");
    assert_eq!(transcript.stdout(), "3\n4\n2\n10\n");
    let ended = case_frames(&transcript, 4);
    assert_eq!(ended[1]["checkerMessage"], messages[1]);

    // A checker that crashes: the case is Monaco's failure, not the
    // program's, with the checker's message.
    let crashing = json!({
        "language": "c",
        "code": a_plus_b("c"),
        "checker": checker,
        "tests": [
            {"input": "1 2\n", "expectedOutput": "3"},
            {"input": "2 2\n", "expectedOutput": "CRASH"},
        ],
    });
    let result = server.execute(&crashing).await;
    assert_eq!(result["verdict"], "internal_error", "{result}");
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["error"]["code"], "checker.failed", "{result}");
    assert_eq!(verdicts(&result), ["ok", "internal_error"], "{result}");
    let message = result["tests"][1]["checkerMessage"].as_str().unwrap_or("");
    assert!(
        message.contains("c++ checker: 4 for 2+2, expected CRASH"),
        "what the checker said: {result}"
    );
    server.stop().await;
}

/// A Python checker: its first line says whether the output's tokens are
/// the expected ones; exit 0 when they are, else 1.
const PYTHON_CHECKER: &str = r#"import sys
expected, output = (open(p).read().split() for p in sys.argv[2:4])
print("python checker: " + ("accepted" if output == expected else "rejected"))
sys.exit(0 if output == expected else 1)
"#;

/// A solution that, given `attack a b`, tries to read, change and replace
/// the checker's files (saying on stderr what it could do), and given
/// `kill a b` sends SIGKILL to every process it may signal (`kill -9 -1`);
/// then prints a+b.
const ATTACKER: &str = r##"import os, signal, sys
words = sys.stdin.read().split()
dir = "/tmp/.monaco-checker"
def attempt(what, action):
    try:
        action()
        print(f"{what}: done", file=sys.stderr)
    except OSError:
        print(f"{what}: denied", file=sys.stderr)
def overwrite(path):
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
attempt("list", lambda: os.listdir(dir))
attempt("read", lambda: open(dir + "/main.py").read())
attempt("read expected", lambda: open(dir + "/.case/expected").read())
attempt("overwrite", lambda: overwrite(dir + "/main.py"))
attempt("plant", lambda: overwrite(dir + "/planted"))
attempt("chmod", lambda: os.chmod(dir, 0o777))
attempt("rename", lambda: os.rename(dir, "/tmp/moved"))
if words[0] == "kill":
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        print("kill: nothing to kill", file=sys.stderr)
a, b = map(int, words[-2:])
print(a + b)
"##;

#[tokio::test]
async fn a_solution_can_neither_touch_nor_kill_the_checker() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let body = json!({
        "language": "python",
        "code": ATTACKER,
        "checker": {"type": "program", "language": "python", "code": PYTHON_CHECKER},
        "tests": [
            {"input": "attack 1 2", "expectedOutput": "3"},
            {"input": "kill 2 3", "expectedOutput": "5"},
            {"input": "4 5", "expectedOutput": "9"},
            {"input": "attack 2 2", "expectedOutput": "5"},
            {"input": "6 7", "expectedOutput": "13"},
        ],
    });
    let result = server.execute(&body).await;
    assert_eq!(result["status"], "failed", "{result}");
    let tests = result["tests"].as_array().expect("a list");
    // The attacks failed, each of them.
    let stderr = tests[0]["stderr"].as_str().expect("stderr");
    for what in [
        "list",
        "read",
        "read expected",
        "overwrite",
        "plant",
        "chmod",
        "rename",
    ] {
        assert!(
            stderr.lines().any(|l| l == format!("{what}: denied")),
            "{what}: {stderr}"
        );
    }
    let stderr = tests[1]["stderr"].as_str().expect("stderr");
    assert!(stderr.contains("kill: nothing to kill"), "{stderr}");
    // The same checker, unchanged, still judges every other case.
    assert_eq!(
        verdicts(&result),
        ["ok", "ok", "ok", "wrong_answer", "ok"],
        "{result}"
    );
    for (i, said) in [
        (0, "python checker: accepted"),
        (1, "python checker: accepted"),
        (2, "python checker: accepted"),
        (3, "python checker: rejected"),
        (4, "python checker: accepted"),
    ] {
        assert_eq!(tests[i]["checkerMessage"], said, "case {i}: {result}");
    }
    assert_eq!(
        result["verdict"], "wrong_answer",
        "the first failure: {result}"
    );
    server.stop().await;
}

#[tokio::test]
async fn stop_on_first_failure_and_the_total_time_skip_the_rest() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let stopping = json!({
        "language": "c",
        "code": a_plus_b("c"),
        "stopOnFirstFailure": true,
        "tests": [
            {"input": "1 2", "expectedOutput": "3"},
            {"input": "2 2", "expectedOutput": "5"},
            {"input": "3 3", "expectedOutput": "6"},
            {"input": "4 4", "expectedOutput": "8"},
        ],
    });
    let (transcript, result) = watched(&server, &stopping).await;
    assert_eq!(result["verdict"], "wrong_answer", "{result}");
    assert_eq!(
        verdicts(&result),
        ["ok", "wrong_answer", "skipped", "skipped"],
        "{result}"
    );
    assert_eq!(
        result["summary"],
        json!({"total": 4, "passed": 1, "failed": 1, "skipped": 2})
    );
    let ended = case_frames(&transcript, 4);
    assert_eq!(ended[2]["status"], "skipped", "{:?}", ended);
    assert_eq!(ended[3]["status"], "skipped", "{:?}", ended);
    assert_eq!(transcript.stdout(), "3\n4\n", "skipped cases never ran");

    // Without it every case runs.
    let mut all = stopping.clone();
    all["stopOnFirstFailure"] = json!(false);
    let result = server.execute(&all).await;
    assert_eq!(
        verdicts(&result),
        ["ok", "wrong_answer", "ok", "ok"],
        "{result}"
    );

    // The total time of all cases runs out in the second case: it is out
    // of time, the rest are skipped, and the first keeps its result.
    let sleepy = "import sys, time\nw = sys.stdin.read().split()\n\
                  time.sleep(600) if w[0] == 'sleep' else print(int(w[0]) + int(w[1]))\n";
    let timed = json!({
        "language": "python",
        "code": sleepy,
        "limits": {"total_wall_ms": 5000},
        "tests": [
            {"input": "1 2", "expectedOutput": "3"},
            {"input": "sleep", "expectedOutput": ""},
            {"input": "3 4", "expectedOutput": "7"},
        ],
    });
    let result = server.execute(&timed).await;
    assert_eq!(result["verdict"], "time_limit_exceeded", "{result}");
    assert_eq!(
        verdicts(&result),
        ["ok", "time_limit_exceeded", "skipped"],
        "{result}"
    );
    server.stop().await;
}

// A checker whose toolchain is in the solution's image runs in the
// solution's sandbox, as a uid of its own; one of another image (a Python
// checker for a C solution: the C image has no Python) judges in a sandbox
// of its own, after the cases. Both judge alike.
#[tokio::test]
async fn a_checker_of_another_image_judges_too() {
    if !support::docker_or_skip() {
        return;
    }
    let server = Server::start().await;
    let cases = json!([
        {"input": "1 2", "expectedOutput": "3"},
        {"input": "2 2", "expectedOutput": "5"},
    ]);
    // C: the checker judges in a sandbox of its own; Python: in the
    // program's sandbox, as a uid of its own.
    for language in ["c", "python"] {
        let body = json!({
            "language": language,
            "code": a_plus_b(language),
            "checker": {"type": "program", "language": "python", "code": PYTHON_CHECKER},
            "tests": cases,
        });
        let result = server.execute(&body).await;
        assert_eq!(
            verdicts(&result),
            ["ok", "wrong_answer"],
            "{language}: {result}"
        );
        assert_eq!(
            result["tests"][0]["checkerMessage"],
            "python checker: accepted"
        );
        assert_eq!(
            result["tests"][1]["checkerMessage"],
            "python checker: rejected"
        );
        assert_eq!(result["verdict"], "wrong_answer", "{language}: {result}");
    }
    server.stop().await;
}
