//! Section 6 (opt-in, `--sections graders`): what a grader pays for 100
//! test cases of one program, three ways, in the same rounds.
//!
//! - **monaco tests**: one `POST /api/execute` with the 100 cases in
//!   `tests`: one compile, then every case in the same sandbox. Timed as the
//!   client sees the whole request; the result's `tests[i].wallMs` (each
//!   case's run inside the sandbox) and `compile.wallMs` are read too.
//! - **monaco separate**: 100 `POST /api/execute`, one case each via
//!   `input`, one after another, as a grader without `tests` would send
//!   them: every one pays for a container, a compile and a run.
//! - **native**: the host's toolchain, from `languages.toml` as the server
//!   runs it (C: the same `gcc -O2`, compiled once and timed, then the
//!   binary run 100 times; Python: `python3` 100 times), each case on stdin.
//!
//! The programs are a+b in C and Python; the cases vary in sign and size
//! (past 32 bits) and every expected output is right, so any case that is
//! not `ok` is a failure: it is counted, and its round is left out of the
//! figures. The modes take turns in each round, each starting once the
//! server's containers have settled (untimed, see
//! [`crate::engine::Engine::wait_quiet`]); one warm-up request per
//! language is not counted. The targets are information: a missed one never
//! changes the exit code.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use monaco_languages::Registry;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::baseline::{self, NativeTools, Program};
use crate::engine::Engine;
use crate::report::{at_least, at_most, fmt_ms, fmt_times, ratio};
use crate::server::{Launch, Server};
use crate::stats::Samples;
use crate::table::Table;

/// Test cases per program.
pub const CASES: usize = 100;
/// Rounds when `--iterations` is not given: each round is 200 executions
/// per language in the separate mode.
pub const DEFAULT_ROUNDS: usize = 3;
/// Largest per-case cost over native at p50, milliseconds.
const TARGET_OVER_NATIVE_MS: f64 = 5.0;
/// How many times faster one execution with 100 tests should be than 100
/// separate executions.
const TARGET_SEPARATE_FACTOR: f64 = 10.0;

/// The programs: language id and an a+b solution.
const SOLUTIONS: [(&str, &str); 2] = [
    (
        "c",
        "#include <stdio.h>\n\
         int main(void) {\n\
         \x20   long long a, b;\n\
         \x20   if (scanf(\"%lld %lld\", &a, &b) != 2) return 1;\n\
         \x20   printf(\"%lld\\n\", a + b);\n\
         \x20   return 0;\n\
         }\n",
    ),
    ("python", "a, b = map(int, input().split())\nprint(a + b)\n"),
];

/// One test case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Case {
    input: String,
    expected: String,
}

/// The 100 cases: a few edges, then pseudo-random pairs of every size
/// from one digit to twelve, either sign; the same in every run.
fn cases() -> Vec<Case> {
    let edges: [(i64, i64); 5] = [
        (0, 0),
        (1, 2),
        (-7, 7),
        (1_000_000_000, 2_000_000_000),
        (-999_999_999_999, -1),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        // xorshift64: deterministic and good enough to vary the inputs.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let modulus = 10_i64.pow(1 + (state % 12) as u32);
        let value = ((state >> 8) as i64).rem_euclid(modulus);
        if state & 1 == 0 {
            value
        } else {
            -value
        }
    };
    let mut pairs = edges.to_vec();
    while pairs.len() < CASES {
        pairs.push((next(), next()));
    }
    pairs
        .into_iter()
        .map(|(a, b)| Case {
            input: format!("{a} {b}\n"),
            expected: (a + b).to_string(),
        })
        .collect()
}

/// One mode's rounds: the total of each round whose cases all passed, and
/// the cases that failed in every round.
#[derive(Default)]
pub struct Mode {
    /// Per round: the time for all 100 cases, or why the round is left out.
    pub totals: Samples,
    /// Each case's own time, from the rounds that are counted.
    pub each: Samples,
    /// The compile step's time, once per round (where there is one).
    pub compile: Samples,
    pub failed_cases: usize,
}

/// What one round of one mode measured.
struct Round {
    total: Duration,
    each: Vec<Duration>,
    compile: Option<Duration>,
    /// Why each failed case failed.
    failures: Vec<String>,
}

impl Round {
    fn new() -> Round {
        Round {
            total: Duration::ZERO,
            each: Vec::new(),
            compile: None,
            failures: Vec::new(),
        }
    }
}

impl Mode {
    /// Counts the round if all its cases passed; else counts its failures.
    fn record(&mut self, round: Result<Round, String>) {
        let round = match round {
            Ok(round) if round.failures.is_empty() => round,
            Ok(round) => {
                self.failed_cases += round.failures.len();
                self.totals.record(Err(format!(
                    "{} of {CASES} cases failed, the first: {}",
                    round.failures.len(),
                    round.failures[0]
                )));
                return;
            }
            Err(e) => {
                self.failed_cases += CASES;
                self.totals.record(Err(e));
                return;
            }
        };
        self.totals.record(Ok(round.total));
        self.each.times.extend(round.each);
        if let Some(compile) = round.compile {
            self.compile.record(Ok(compile));
        }
    }

    /// p50 of the totals, divided by the number of cases.
    fn per_case_p50(&self) -> Option<f64> {
        self.totals.p50().map(|total| total / CASES as f64)
    }
}

/// One language's figures in the three modes.
pub struct Grading {
    pub program: Program,
    pub tests: Mode,
    pub separate: Mode,
    pub native: Mode,
    /// The host's tools for the native mode, or why it is skipped.
    pub native_tools: Result<NativeTools, String>,
    /// Rounds whose wait for a quiet engine ran out (measured anyway).
    pub noisy_waits: usize,
}

/// Runs the section: one server, `rounds` rounds of the three modes for
/// each language.
pub async fn measure(
    launch: &Launch,
    engine: &Engine,
    registry: &Registry,
    rounds: usize,
) -> Result<Vec<Grading>, String> {
    let mut rows = Vec::new();
    for (id, source) in SOLUTIONS {
        let language = registry
            .get(id)
            .ok_or(format!("{id} is not in languages.toml"))?;
        let program = Program::new(language, source.to_string());
        rows.push(Grading {
            native_tools: NativeTools::find(&program),
            program,
            tests: Mode::default(),
            separate: Mode::default(),
            native: Mode::default(),
            noisy_waits: 0,
        });
    }
    let cases = cases();
    let server = Server::start(launch, &[]).await?;
    for row in &rows {
        eprintln!("graders: {}, a warm-up request…", row.program.id);
        let _ = with_tests(&server, &row.program, &cases).await;
    }
    for round in 1..=rounds {
        for row in &mut rows {
            eprintln!(
                "graders: {}, round {round} of {rounds} ({CASES} cases, 3 modes)…",
                row.program.id
            );
            row.noisy_waits += usize::from(!engine.wait_quiet().await);
            row.tests
                .record(with_tests(&server, &row.program, &cases).await);
            row.noisy_waits += usize::from(!engine.wait_quiet().await);
            row.separate
                .record(separately(&server, &row.program, &cases).await);
            row.noisy_waits += usize::from(!engine.wait_quiet().await);
            if let Ok(tools) = &row.native_tools {
                row.native
                    .record(natively(&row.program, tools, &cases).await);
            }
        }
    }
    server.stop().await;
    Ok(rows)
}

/// One `POST /api/execute` with every case in `tests`.
async fn with_tests(server: &Server, program: &Program, cases: &[Case]) -> Result<Round, String> {
    let tests: Vec<Value> = cases
        .iter()
        .map(|c| json!({ "input": c.input, "expectedOutput": c.expected }))
        .collect();
    let body = json!({ "language": program.id, "code": program.source, "tests": tests });
    let started = Instant::now();
    let result = server
        .post_json("/api/execute", &body, StatusCode::OK)
        .await?;
    let mut round = Round::new();
    round.total = started.elapsed();
    // `compile` is null for a language without a compile step (Python).
    if !result["compile"].is_null() && result["compile"]["verdict"] != "ok" {
        return Err(format!("compile: {}", result["compile"]));
    }
    round.compile = result["compile"]["wallMs"]
        .as_u64()
        .map(Duration::from_millis);
    let reported = result["tests"].as_array().map_or(&[][..], Vec::as_slice);
    for (index, case) in cases.iter().enumerate() {
        let Some(test) = reported.get(index) else {
            round
                .failures
                .push(format!("case {index}: not in the result"));
            continue;
        };
        match test["wallMs"].as_u64() {
            Some(ms) if test["verdict"] == "ok" => round.each.push(Duration::from_millis(ms)),
            _ => round.failures.push(format!(
                "case {index} ({:?} → {}): verdict {}, stdout {}",
                case.input.trim_end(),
                case.expected,
                test["verdict"],
                test["stdout"]
            )),
        }
    }
    if result["summary"]["passed"] != CASES && round.failures.is_empty() {
        round
            .failures
            .push(format!("summary {}", result["summary"]));
    }
    Ok(round)
}

/// 100 `POST /api/execute`, one case each, one after another.
async fn separately(server: &Server, program: &Program, cases: &[Case]) -> Result<Round, String> {
    let mut round = Round::new();
    let started = Instant::now();
    for (index, case) in cases.iter().enumerate() {
        let body = json!({
            "language": program.id,
            "code": program.source,
            "input": case.input,
            "expectedOutput": case.expected,
        });
        let call = Instant::now();
        let checked = server
            .post_json("/api/execute", &body, StatusCode::OK)
            .await
            .and_then(|result| {
                if result["verdict"] != "ok" {
                    return Err(format!("verdict {}", result["verdict"]));
                }
                check_stdout(
                    result["stdout"].as_str().unwrap_or_default(),
                    &case.expected,
                )
            });
        match checked {
            Ok(()) => round.each.push(call.elapsed()),
            Err(e) => round.failures.push(format!("case {index}: {e}")),
        }
    }
    round.total = started.elapsed();
    Ok(round)
}

/// The host's toolchain in a fresh directory: compile once (timed on its
/// own too), then one run per case.
async fn natively(program: &Program, tools: &NativeTools, cases: &[Case]) -> Result<Round, String> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "monaco-bench-graders-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let round = natively_in(program, tools, cases, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    round
}

async fn natively_in(
    program: &Program,
    tools: &NativeTools,
    cases: &[Case],
    dir: &Path,
) -> Result<Round, String> {
    let mut round = Round::new();
    let started = Instant::now();
    tokio::fs::write(dir.join(&program.file), &program.source)
        .await
        .map_err(|e| format!("could not write the source: {e}"))?;
    if let Some(argv) = program.compile_argv() {
        let compile = Instant::now();
        baseline::run(&mut tools.command(program, argv, dir), b"")
            .await
            .map_err(|e| format!("compile: {e}"))?;
        round.compile = Some(compile.elapsed());
    }
    for (index, case) in cases.iter().enumerate() {
        let run = Instant::now();
        let mut command = tools.command(program, program.run_argv(), dir);
        let checked = baseline::run(&mut command, case.input.as_bytes())
            .await
            .and_then(|o| check_stdout(&String::from_utf8_lossy(&o.stdout), &case.expected));
        match checked {
            Ok(()) => round.each.push(run.elapsed()),
            Err(e) => round.failures.push(format!("case {index}: {e}")),
        }
    }
    round.total = started.elapsed();
    Ok(round)
}

/// The last line printed is the expected sum. A terminal (C runs on one)
/// adds `\r` and may echo the input on a line before it.
fn check_stdout(stdout: &str, expected: &str) -> Result<(), String> {
    let last = stdout
        .lines()
        .map(|line| line.trim())
        .rfind(|line| !line.is_empty());
    if last == Some(expected) {
        Ok(())
    } else {
        Err(format!("stdout {stdout:?}, wanted {expected}"))
    }
}

/// One table per language: the three modes, then the targets.
pub fn print(rows: &[Grading]) {
    for row in rows {
        let id = &row.program.id;
        println!("== graders: {id} a+b, {CASES} test cases ==");
        let mut table = Table::new(&[
            "mode",
            "100 cases p50",
            "p99",
            "per case",
            "each case p50",
            "p99",
            "compile p50",
            "rounds",
            "failed cases",
        ]);
        let native_skipped = row.native_tools.is_err();
        for (name, mode) in [
            ("monaco tests", &row.tests),
            ("monaco separate", &row.separate),
            ("native", &row.native),
        ] {
            if name == "native" && native_skipped {
                let mut cells = vec!["native".to_string()];
                cells.extend(std::iter::repeat_n("skipped".to_string(), 8));
                table.push(cells);
                continue;
            }
            table.push(vec![
                name.to_string(),
                fmt_ms(mode.totals.p50()),
                fmt_ms(mode.totals.p99()),
                fmt_ms(mode.per_case_p50()),
                fmt_ms(mode.each.p50()),
                fmt_ms(mode.each.p99()),
                fmt_ms(mode.compile.p50()),
                format!(
                    "{}/{}",
                    mode.totals.times.len(),
                    mode.totals.times.len() + mode.totals.failures.len()
                ),
                mode.failed_cases.to_string(),
            ]);
        }
        table.print();
        let tests = row.tests.totals.p50();
        let separate = row.separate.totals.p50();
        let over_native = row
            .tests
            .per_case_p50()
            .zip(row.native.per_case_p50())
            .map(|(t, n)| t - n);
        let mut targets = Table::new(&["figure", "measured", "target", "status"]);
        targets.align_left(&[2, 3]);
        targets.push(vec![
            "separate ÷ tests (100 cases, p50)".into(),
            fmt_times(ratio(separate, tests)),
            format!("≥ {TARGET_SEPARATE_FACTOR}×"),
            at_least(ratio(separate, tests), TARGET_SEPARATE_FACTOR, "×"),
        ]);
        targets.push(vec![
            "tests per case − native per case (p50)".into(),
            over_native.map_or("n/a".into(), |d| format!("{d:+.1} ms")),
            format!("≤ native + {TARGET_OVER_NATIVE_MS} ms"),
            if native_skipped {
                "not measured (no native)".into()
            } else {
                at_most(over_native, TARGET_OVER_NATIVE_MS, "ms")
            },
        ]);
        targets.print();
        print_notes(row);
        println!();
    }
    println!(
        "100 cases: monaco tests, one POST /api/execute with 100 `tests`, as the client sees it; \
         monaco separate, 100 POST /api/execute one after another; native, compile once and \
         run 100 times on the host. per case: 100 cases p50 ÷ 100 (the compile shared out).\n\
         each case: monaco tests, tests[i].wallMs from the result (the run inside the sandbox, \
         whole ms); monaco separate, each request; native, each run. compile: monaco tests, \
         compile.wallMs; native, the host's compile alone.\n\
         A round with a failed case is left out of the figures. Targets for information: a \
         missed target never changes the exit code."
    );
    println!();
}

/// The host's tools, the first failure of each mode, unsettled waits.
fn print_notes(row: &Grading) {
    let id = &row.program.id;
    match &row.native_tools {
        Ok(tools) => println!("{id} native: {}", tools.describe()),
        Err(why) => println!("{id} native: skipped, {why}"),
    }
    for (name, mode) in [
        ("monaco tests", &row.tests),
        ("monaco separate", &row.separate),
        ("native", &row.native),
    ] {
        if let Some(first) = mode.totals.failures.first() {
            println!(
                "{id} {name}: {} round(s) left out; the first: {first}",
                mode.totals.failures.len()
            );
        }
    }
    if row.noisy_waits > 0 {
        println!(
            "{id}: {} times the server's containers did not settle within the bound \
             (measured anyway)",
            row.noisy_waits
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_distinct_cases_with_right_sums() {
        let cases = cases();
        assert_eq!(cases.len(), CASES);
        let mut inputs: Vec<&str> = cases.iter().map(|c| c.input.as_str()).collect();
        inputs.sort();
        inputs.dedup();
        assert_eq!(inputs.len(), CASES, "every input differs");
        for case in &cases {
            let sum: i64 = case
                .input
                .split_whitespace()
                .map(|n| n.parse::<i64>().unwrap())
                .sum();
            assert_eq!(case.expected, sum.to_string(), "{:?}", case.input);
        }
        assert!(cases.iter().any(|c| c.expected.starts_with('-')));
        assert!(cases.iter().any(|c| c.expected.len() > 10));
        assert_eq!(cases, super::cases(), "the same cases in every run");
    }

    #[test]
    fn the_last_line_must_be_the_sum() {
        assert!(check_stdout("3\n", "3").is_ok());
        assert!(check_stdout("1 2\r\n3\r\n", "3").is_ok());
        assert!(check_stdout("4\n", "3").is_err());
        assert!(check_stdout("3\n4\n", "3").is_err());
        assert!(check_stdout("", "3").is_err());
    }

    #[test]
    fn a_round_with_a_failed_case_is_left_out() {
        let mut mode = Mode::default();
        let mut ok = Round::new();
        ok.total = Duration::from_millis(300);
        ok.each = vec![Duration::from_millis(2); CASES];
        ok.compile = Some(Duration::from_millis(100));
        mode.record(Ok(ok));
        let mut bad = Round::new();
        bad.total = Duration::from_millis(1);
        bad.failures = vec!["case 7: verdict \"wrong_answer\"".into()];
        mode.record(Ok(bad));
        mode.record(Err("POST /api/execute: refused".into()));
        assert_eq!(mode.totals.times, [Duration::from_millis(300)]);
        assert_eq!(mode.totals.failures.len(), 2);
        assert_eq!(mode.failed_cases, 1 + CASES);
        assert_eq!(mode.per_case_p50(), Some(3.0));
        assert_eq!(mode.each.times.len(), CASES);
        assert_eq!(mode.compile.p50(), Some(100.0));
    }
}
