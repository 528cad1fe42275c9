//! How a program's output is compared with the expected output.
//!
//! The built-in checkers are pure functions of (expected, actual), so the
//! agent inside the sandbox applies them as each test case ends, and their
//! edges are unit-tested here. A checker program ([`Checker::Program`]) is
//! the grader's own code: it runs inside the sandbox, never on the host.

use serde::{Deserialize, Serialize};

use crate::{StepReport, Verdict};

/// A checker as a client asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Checker {
    /// Byte for byte.
    Exact {},
    /// Trailing whitespace of each line and trailing empty lines ignored
    /// (as Judge0 compares). The default.
    Trim {},
    /// The same whitespace-separated tokens.
    Tokens {},
    /// Tokens; those that are both numbers are equal within a tolerance
    /// (either one suffices: `|a - b| <= abs` or `|a - b| <= rel * |b|`).
    Float {
        /// Absolute tolerance (default 1e-9 when neither is given).
        #[serde(rename = "absTolerance", default)]
        abs_tolerance: Option<f64>,
        /// Relative tolerance.
        #[serde(rename = "relTolerance", default)]
        rel_tolerance: Option<f64>,
    },
    /// A checker program in any registered language, run in the sandbox
    /// with the paths of the case's input, the expected output and the
    /// program's output as arguments; testlib's exit codes: 0 accepted, 1
    /// wrong answer, 2 presentation error, anything else a checker failure.
    Program {
        /// The checker's language (id or alias).
        language: String,
        /// The checker's source.
        code: String,
    },
}

impl Default for Checker {
    fn default() -> Self {
        Checker::Trim {}
    }
}

/// A checker the agent applies itself (everything but a program).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Comparison {
    /// See [`Checker::Exact`].
    Exact,
    /// See [`Checker::Trim`].
    Trim,
    /// See [`Checker::Tokens`].
    Tokens,
    /// See [`Checker::Float`].
    Float {
        /// Absolute tolerance.
        abs: f64,
        /// Relative tolerance.
        rel: f64,
    },
}

/// The absolute tolerance of a float checker given none.
pub const DEFAULT_ABS_TOLERANCE: f64 = 1e-9;

impl Checker {
    /// The comparison this checker is, unless it is a program.
    pub fn comparison(&self) -> Option<Comparison> {
        Some(match self {
            Checker::Exact {} => Comparison::Exact,
            Checker::Trim {} => Comparison::Trim,
            Checker::Tokens {} => Comparison::Tokens,
            Checker::Float {
                abs_tolerance,
                rel_tolerance,
            } => Comparison::Float {
                abs: abs_tolerance.unwrap_or(if rel_tolerance.is_some() {
                    0.0
                } else {
                    DEFAULT_ABS_TOLERANCE
                }),
                rel: rel_tolerance.unwrap_or(0.0),
            },
            Checker::Program { .. } => return None,
        })
    }

    /// Why the checker's parameters are unusable, if they are.
    pub fn invalid(&self) -> Option<String> {
        if let Checker::Float {
            abs_tolerance,
            rel_tolerance,
        } = self
        {
            for (name, value) in [
                ("absTolerance", abs_tolerance),
                ("relTolerance", rel_tolerance),
            ] {
                if let Some(v) = value {
                    if !(v.is_finite() && *v >= 0.0) {
                        return Some(format!("`{name}` must be a finite number ≥ 0"));
                    }
                }
            }
        }
        if let Checker::Program { code, .. } = self {
            if code.trim().is_empty() {
                return Some("the checker program has no code".into());
            }
        }
        None
    }
}

impl Comparison {
    /// Whether `actual` is accepted as `expected`.
    pub fn accepts(self, expected: &[u8], actual: &[u8]) -> bool {
        match self {
            Comparison::Exact => expected == actual,
            Comparison::Trim => trimmed_lines(expected).eq(trimmed_lines(actual)),
            Comparison::Tokens => tokens(expected).eq(tokens(actual)),
            Comparison::Float { abs, rel } => {
                let (mut e, mut a) = (tokens(expected), tokens(actual));
                loop {
                    match (e.next(), a.next()) {
                        (None, None) => return true,
                        (Some(x), Some(y)) if x == y => {}
                        (Some(x), Some(y)) => match (number(x), number(y)) {
                            (Some(want), Some(got)) if close(want, got, abs, rel) => {}
                            _ => return false,
                        },
                        _ => return false,
                    }
                }
            }
        }
    }
}

/// Most bytes of a checker program's first line kept as a case's
/// `checkerMessage`.
pub const CHECKER_MESSAGE_BYTES: usize = 1024;

/// A checker program's verdict from how its run ended, by testlib's exit
/// codes: 0 accepted, 1 wrong answer, 2 presentation error (a wrong
/// answer too); a cancel stays a cancel. `None`: the checker itself failed
/// (another exit code, a signal, a limit).
pub fn testlib_verdict(run: &StepReport) -> Option<Verdict> {
    match (run.verdict, run.exit_code) {
        (Some(Verdict::Ok), _) => Some(Verdict::Ok),
        (Some(Verdict::RuntimeError), Some(1 | 2)) => Some(Verdict::WrongAnswer),
        (Some(Verdict::Cancelled), _) => Some(Verdict::Cancelled),
        _ => None,
    }
}

/// A checker's message: the first line of what it printed, trimmed, at
/// most [`CHECKER_MESSAGE_BYTES`] (cut at a character boundary); `None`
/// when that line is empty.
pub fn checker_message(text: &[u8]) -> Option<String> {
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut line = line.trim();
    if line.len() > CHECKER_MESSAGE_BYTES {
        let mut end = CHECKER_MESSAGE_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line = &line[..end];
    }
    (!line.is_empty()).then(|| line.to_string())
}

/// Whether `b` is trailing white space to `trim`: Ruby's `rstrip` set
/// (space, `\t`, `\n`, `\v`, `\f`, `\r` and NUL), so that `trim` is exactly
/// Judge0's comparison (each line and the whole text right-stripped).
fn trailing_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0)
}

/// Lines without trailing whitespace, without the trailing empty ones.
fn trimmed_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .map(|l| {
            let end = l
                .iter()
                .rposition(|&b| !trailing_space(b))
                .map_or(0, |i| i + 1);
            &l[..end]
        })
        .collect();
    let keep = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines.into_iter().take(keep)
}

fn tokens(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

fn number(token: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(token).ok()?;
    // Only plain decimal numbers: not "inf", "nan" or hex.
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse().ok()
}

fn close(want: f64, got: f64, abs: f64, rel: f64) -> bool {
    let diff = (want - got).abs();
    // A tolerance is inclusive: 1.01 is within 0.01 of 1.00 although the
    // binary difference is a hair above it.
    let slack = 4.0 * f64::EPSILON * want.abs().max(got.abs()).max(1.0);
    diff <= abs + slack || diff <= rel * want.abs() + slack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(abs: Option<f64>, rel: Option<f64>) -> Comparison {
        Checker::Float {
            abs_tolerance: abs,
            rel_tolerance: rel,
        }
        .comparison()
        .unwrap()
    }

    #[test]
    fn exact_is_byte_for_byte() {
        assert!(Comparison::Exact.accepts(b"3\n", b"3\n"));
        assert!(!Comparison::Exact.accepts(b"3\n", b"3"));
        assert!(!Comparison::Exact.accepts(b"3\n", b"3 \n"));
    }

    #[test]
    fn trim_ignores_trailing_whitespace_and_empty_lines_only() {
        let t = Comparison::Trim;
        assert!(t.accepts(b"1 2\n3\n", b"1 2  \n3\n\n\n"));
        assert!(t.accepts(b"a\r\nb", b"a\nb\n"));
        assert!(!t.accepts(b"1 2\n3\n", b"1  2\n3\n"), "inner spaces count");
        assert!(
            !t.accepts(b"1\n\n2\n", b"1\n2\n"),
            "inner empty lines count"
        );
        assert!(!t.accepts(b"x\n", b" x\n"), "leading spaces count");
        assert!(t.accepts(b"", b"\n \n"));
        // Ruby's rstrip, as Judge0 compares: vertical tab and NUL too.
        assert!(t.accepts(b"1\n2", b"1\x0b\n2\0\n"));
        assert!(!t.accepts(b"1\n2", b"1\n\x0b2"), "leading ones count");
    }

    #[test]
    fn tokens_ignore_any_whitespace() {
        assert!(Comparison::Tokens.accepts(b"1 2\n3", b" 1\t2 3 \n"));
        assert!(!Comparison::Tokens.accepts(b"1 2 3", b"1 23"));
    }

    #[test]
    fn float_tolerance_is_inclusive_at_the_edge() {
        let c = float(Some(0.01), None);
        assert!(c.accepts(b"1.00", b"1.01"));
        assert!(c.accepts(b"1.00", b"0.99"));
        assert!(!c.accepts(b"1.00", b"1.0101"));
        let r = float(None, Some(1e-3));
        assert!(r.accepts(b"1000", b"1001"));
        assert!(!r.accepts(b"1000", b"1001.5"));
        assert!(float(None, None).accepts(b"0.1 x", b"0.1000000000001 x"));
        assert!(
            !float(None, None).accepts(b"1 x", b"1 y"),
            "words must match"
        );
        assert!(!float(None, None).accepts(b"nan", b"nan2"));
        assert!(
            !float(None, None).accepts(b"1 2", b"1"),
            "token counts must match"
        );
    }

    #[test]
    fn the_message_is_the_first_line_trimmed_and_capped() {
        assert_eq!(
            checker_message(b"  ok 3 numbers \nmore"),
            Some("ok 3 numbers".into())
        );
        assert_eq!(checker_message(b"\nsecond"), None);
        let long = "é".repeat(1000);
        let cut = checker_message(long.as_bytes()).unwrap();
        assert!(cut.len() <= CHECKER_MESSAGE_BYTES && cut.len() >= CHECKER_MESSAGE_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn testlib_exit_codes() {
        let ran = |verdict, exit_code| StepReport {
            verdict: Some(verdict),
            exit_code,
            ..StepReport::default()
        };
        assert_eq!(
            testlib_verdict(&ran(Verdict::Ok, Some(0))),
            Some(Verdict::Ok)
        );
        for code in [1, 2] {
            assert_eq!(
                testlib_verdict(&ran(Verdict::RuntimeError, Some(code))),
                Some(Verdict::WrongAnswer)
            );
        }
        assert_eq!(testlib_verdict(&ran(Verdict::RuntimeError, Some(3))), None);
        assert_eq!(testlib_verdict(&ran(Verdict::RuntimeError, None)), None);
        assert_eq!(
            testlib_verdict(&ran(Verdict::TimeLimitExceeded, None)),
            None
        );
        assert_eq!(
            testlib_verdict(&ran(Verdict::Cancelled, None)),
            Some(Verdict::Cancelled)
        );
    }

    #[test]
    fn the_wire_shape_is_the_api() {
        let c: Checker = serde_json::from_str(r#"{"type":"float","absTolerance":0.5}"#).unwrap();
        assert_eq!(
            c,
            Checker::Float {
                abs_tolerance: Some(0.5),
                rel_tolerance: None
            }
        );
        let p: Checker =
            serde_json::from_str(r#"{"type":"program","language":"python","code":"x"}"#).unwrap();
        assert!(p.comparison().is_none());
        assert!(serde_json::from_str::<Checker>(r#"{"type":"exact","x":1}"#).is_err());
        assert!(serde_json::from_str::<Checker>(r#"{"type":"fuzzy"}"#).is_err());
        let bad = Checker::Float {
            abs_tolerance: Some(-1.0),
            rel_tolerance: None,
        };
        assert!(bad.invalid().is_some());
    }
}
