//! How an execution ended, read from the final `status` frame or from
//! `/api/result` (both carry the same fields), turned into the line printed
//! on stderr and into `monaco`'s exit code.
//!
//! Exit codes (the README's table):
//!
//! | code | when |
//! |---|---|
//! | the program's | `ok` (0) or `runtime_error` with an exit code |
//! | 128 + N | `runtime_error`: the program was killed by signal N |
//! | 122 | `wrong_answer` |
//! | 123 | `compile_error` |
//! | 124 | `time_limit_exceeded` (as `timeout` exits) |
//! | 125 | `memory_limit_exceeded` |
//! | 126 | `output_limit_exceeded` |
//! | 130 | `cancelled` (as a shell reports Ctrl-C) |
//! | 70 | `internal_error`, or a verdict this client does not know |
//! | 2 | the command line is wrong: a bad flag or `--limit`, an unreadable file, no language for the extension |
//! | 65 | the server refused the request (its message and code are printed) |
//! | 69 | the server could not be reached, or the terminal connection failed |

use serde_json::Value;

/// `wrong_answer`.
pub const EXIT_WRONG_ANSWER: i32 = 122;
/// `compile_error`.
pub const EXIT_COMPILE_ERROR: i32 = 123;
/// `time_limit_exceeded`, as `timeout(1)`.
pub const EXIT_TIME_LIMIT: i32 = 124;
/// `memory_limit_exceeded`.
pub const EXIT_MEMORY_LIMIT: i32 = 125;
/// `output_limit_exceeded`.
pub const EXIT_OUTPUT_LIMIT: i32 = 126;
/// `cancelled`, as a shell reports a program stopped by Ctrl-C.
pub const EXIT_CANCELLED: i32 = 130;
/// `internal_error` (sysexits' EX_SOFTWARE).
pub const EXIT_INTERNAL: i32 = 70;
/// A wrong command line (as clap exits).
pub const EXIT_USAGE: i32 = 2;
/// The server refused the request (sysexits' EX_DATAERR).
pub const EXIT_REFUSED: i32 = 65;
/// The server could not be reached (sysexits' EX_UNAVAILABLE).
pub const EXIT_UNREACHABLE: i32 = 69;

/// The verdict and measurements of an ended execution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// `completed` or `failed`.
    pub status: String,
    /// `ok`, `compile_error`, … (`None` if the server gave none).
    pub verdict: Option<String>,
    /// The run step's exit code.
    pub exit_code: Option<i32>,
    /// The signal that ended the run step.
    pub signal: Option<i32>,
    /// Run step wall time, milliseconds.
    pub wall_ms: Option<u64>,
    /// Run step CPU time, milliseconds.
    pub cpu_ms: Option<u64>,
    /// Run step peak memory, bytes.
    pub memory_bytes: Option<u64>,
    /// Output was cut at the output limit.
    pub truncated: bool,
    /// Why Monaco could not run it: code and message.
    pub error: Option<(String, String)>,
}

impl Outcome {
    /// Reads the outcome fields of a final `status` frame's content or of a
    /// result.
    pub fn of(v: &Value) -> Outcome {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        let int = |k: &str| v.get(k).and_then(Value::as_i64).map(|n| n as i32);
        let uint = |k: &str| v.get(k).and_then(Value::as_u64);
        Outcome {
            status: text("status").unwrap_or_default(),
            verdict: text("verdict"),
            exit_code: int("exitCode"),
            signal: int("signal"),
            wall_ms: uint("executionTime"),
            cpu_ms: uint("cpu"),
            memory_bytes: uint("memory"),
            truncated: v.get("truncated").and_then(Value::as_bool) == Some(true),
            error: v.get("error").and_then(|e| {
                let code = e.get("code")?.as_str()?.to_string();
                let message = e.get("message").and_then(Value::as_str).unwrap_or("");
                Some((code, message.to_string()))
            }),
        }
    }

    /// Whether these fields describe an ended execution: they carry a
    /// verdict. (A `status` frame saying `completed` comes just before the
    /// final one, which has the verdict and measurements.)
    pub fn is_final(&self) -> bool {
        self.verdict.is_some()
    }

    /// `monaco`'s exit code for it (the module's table).
    pub fn exit_code(&self) -> i32 {
        match self.verdict.as_deref() {
            Some("ok") => self.exit_code.unwrap_or(0),
            Some("runtime_error") => match (self.exit_code, self.signal) {
                (_, Some(signal)) if signal > 0 => 128 + signal,
                (Some(code), _) if code != 0 => code,
                _ => 1,
            },
            Some("wrong_answer") => EXIT_WRONG_ANSWER,
            Some("compile_error") => EXIT_COMPILE_ERROR,
            Some("time_limit_exceeded") => EXIT_TIME_LIMIT,
            Some("memory_limit_exceeded") => EXIT_MEMORY_LIMIT,
            Some("output_limit_exceeded") => EXIT_OUTPUT_LIMIT,
            Some("cancelled") => EXIT_CANCELLED,
            _ => EXIT_INTERNAL,
        }
    }

    /// One line for people: `ok · exit 0 · wall 12 ms · cpu 10 ms · memory 7.6 MiB`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.verdict.clone().unwrap_or_else(|| self.status.clone())];
        match (self.exit_code, self.signal) {
            (_, Some(s)) => parts.push(format!("signal {s}{}", signal_name(s))),
            (Some(c), None) => parts.push(format!("exit {c}")),
            (None, None) => {}
        }
        if let Some(ms) = self.wall_ms {
            parts.push(format!("wall {}", millis(ms)));
        }
        if let Some(ms) = self.cpu_ms {
            parts.push(format!("cpu {}", millis(ms)));
        }
        if let Some(b) = self.memory_bytes {
            parts.push(format!("memory {}", bytes(b)));
        }
        if self.truncated {
            parts.push("output truncated".into());
        }
        if let Some((code, message)) = &self.error {
            parts.push(format!("{message} ({code})"));
        }
        parts.join(" · ")
    }
}

/// ` (SIGKILL)` for the common signals.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => " (SIGHUP)",
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        13 => " (SIGPIPE)",
        15 => " (SIGTERM)",
        24 => " (SIGXCPU)",
        25 => " (SIGXFSZ)",
        _ => "",
    }
}

/// `850 ms`, `2.35 s`.
fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

/// `512 B`, `7.6 MiB`.
fn bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut value = b as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exit_of(v: Value) -> i32 {
        Outcome::of(&v).exit_code()
    }

    #[test]
    fn exit_codes_follow_the_table() {
        assert_eq!(exit_of(json!({"verdict": "ok", "exitCode": 0})), 0);
        assert_eq!(
            exit_of(json!({"verdict": "runtime_error", "exitCode": 3})),
            3
        );
        assert_eq!(
            exit_of(json!({"verdict": "runtime_error", "exitCode": null, "signal": 11})),
            139
        );
        assert_eq!(exit_of(json!({"verdict": "runtime_error"})), 1);
        assert_eq!(
            exit_of(json!({"verdict": "time_limit_exceeded", "signal": 9})),
            124
        );
        assert_eq!(exit_of(json!({"verdict": "compile_error"})), 123);
        assert_eq!(exit_of(json!({"verdict": "memory_limit_exceeded"})), 125);
        assert_eq!(exit_of(json!({"verdict": "output_limit_exceeded"})), 126);
        assert_eq!(
            exit_of(json!({"verdict": "wrong_answer", "exitCode": 0})),
            122
        );
        assert_eq!(exit_of(json!({"verdict": "cancelled"})), 130);
        assert_eq!(exit_of(json!({"verdict": "internal_error"})), 70);
        assert_eq!(exit_of(json!({"verdict": "something_new"})), 70);
    }

    /// The README's table of exit codes says what [`Outcome::exit_code`]
    /// does, for every verdict row, and the client's own codes.
    #[test]
    fn the_readme_table_matches() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let mut verdicts = 0;
        for line in readme.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, code, when, ..] = cells[..] else {
                continue;
            };
            let Ok(code) = code.parse::<i32>() else {
                continue;
            };
            if let Some(verdict) = when.strip_prefix('`').and_then(|w| w.split('`').next()) {
                let o = Outcome::of(&json!({ "verdict": verdict }));
                assert_eq!(o.exit_code(), code, "README: {line}");
                verdicts += 1;
            } else if when.starts_with("the command line") {
                assert_eq!(code, EXIT_USAGE, "{line}");
            } else if when.starts_with("the server refused") {
                assert_eq!(code, EXIT_REFUSED, "{line}");
            } else if when.starts_with("the server could not") {
                assert_eq!(code, EXIT_UNREACHABLE, "{line}");
            }
        }
        assert_eq!(
            verdicts, 7,
            "a README row for each verdict with a code of its own"
        );
    }

    #[test]
    fn the_summary_names_the_verdict_and_measurements() {
        let o = Outcome::of(&json!({
            "status": "completed", "verdict": "ok", "exitCode": 0, "signal": null,
            "executionTime": 12, "cpu": 1500, "memory": 7_969_177, "truncated": false
        }));
        assert!(o.is_final());
        assert_eq!(
            o.summary(),
            "ok · exit 0 · wall 12 ms · cpu 1.50 s · memory 7.6 MiB"
        );
        let o = Outcome::of(&json!({
            "status": "failed", "verdict": "cancelled", "exitCode": null, "signal": 9,
            "truncated": true, "error": {"code": "execution.cancelled", "message": "stopped on request"}
        }));
        assert_eq!(
            o.summary(),
            "cancelled · signal 9 (SIGKILL) · output truncated · stopped on request (execution.cancelled)"
        );
        assert!(!Outcome::of(&json!({"status": "running"})).is_final());
        assert!(!Outcome::of(&json!({"status": "completed"})).is_final());
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
