//! The JSON shapes on the wire: the original service's fields (camelCase)
//! plus Monaco's additions. Kept apart from the domain types so the API can
//! stay stable while the inside changes.

use std::time::SystemTime;

use base64::Engine;
use monaco_executor::{
    CaseReport, Checker, ExecutionOutcome, ExecutionRequest, ExecutionSnapshot, Language,
    SourceFile, Status, StepReport, TestCase,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use monaco_executor::ErrorCode;

mod limits;
pub use limits::LimitsDto;

/// The largest `timeout` ever accepted, seconds (the server's maximum wall
/// time is usually far lower).
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

/// A JSON object deserialized as `T`, and nothing else: serde would also
/// take an array of `T`'s fields in order, which the API does not offer.
#[derive(Debug)]
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        deserializer.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// An extra file in a submission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDto {
    /// A relative file name.
    pub name: String,
    /// Its text.
    pub content: String,
}

/// `POST /api/submit` and `POST /api/execute`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubmitRequest {
    /// Language id or alias.
    pub language: Option<String>,
    /// The main source file.
    pub code: Option<String>,
    /// Text given to stdin before anything typed.
    pub input: Option<String>,
    /// Bytes given to stdin, base64 (instead of `input`, for binary input).
    pub input_base64: Option<String>,
    /// Keep stdin open for input typed over the WebSocket.
    pub interactive: Option<bool>,
    /// Extra files beside the main one.
    pub files: Option<Vec<Object<FileDto>>>,
    /// Program arguments.
    pub args: Option<Vec<String>>,
    /// Run step wall time, seconds (the original service's knob).
    pub timeout: Option<f64>,
    /// Limits within the server's maximums.
    pub limits: Option<Object<LimitsDto>>,
    /// Test cases: compiled once, each run in turn.
    pub tests: Option<Vec<Object<TestCaseDto>>>,
    /// What a plain execution should print on stdout.
    pub expected_output: Option<String>,
    /// How outputs are compared with expected outputs (default `trim`).
    pub checker: Option<Checker>,
    /// Skip the remaining cases once one fails.
    pub stop_on_first_failure: Option<bool>,
    /// Where to `POST` the result, signed, when the execution ends.
    pub callback_url: Option<String>,
}

/// One test case in a submission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestCaseDto {
    /// A name to report it by.
    pub name: Option<String>,
    /// Its stdin as text.
    pub input: Option<String>,
    /// Its stdin in base64 (instead of `input`).
    pub input_base64: Option<String>,
    /// What it should print on stdout.
    pub expected_output: Option<String>,
    /// Arguments instead of the submission's.
    pub args: Option<Vec<String>>,
}

/// Stdin from `input` or `inputBase64` (at most one of them).
fn stdin_of(
    input: Option<String>,
    input_base64: Option<String>,
    code: ErrorCode,
    what: &str,
) -> Result<Vec<u8>, ApiError> {
    match (input, input_base64) {
        (Some(_), Some(_)) => Err(ApiError::new(
            code,
            format!("{what}give either `input` or `inputBase64`, not both"),
        )),
        (Some(text), None) => Ok(text.into_bytes()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| ApiError::new(code, format!("{what}`inputBase64`: {e}"))),
        (None, None) => Ok(Vec::new()),
    }
}

impl SubmitRequest {
    /// The domain request. `interactive_default` applies when the client did
    /// not say: `/api/submit` keeps stdin open when no input was given (a
    /// terminal will type into it), `/api/execute` never does.
    pub fn into_request(self, interactive_default: bool) -> Result<ExecutionRequest, ApiError> {
        let language = self.language.ok_or_else(|| {
            ApiError::new(ErrorCode::RequestLanguageMissing, "`language` is required")
        })?;
        let code = self
            .code
            .ok_or_else(|| ApiError::new(ErrorCode::RequestCodeMissing, "`code` is required"))?;
        let stdin = stdin_of(
            self.input,
            self.input_base64,
            ErrorCode::RequestInvalidInput,
            "",
        )?;
        let tests = self
            .tests
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, Object(case))| {
                Ok(TestCase {
                    name: case.name,
                    stdin: stdin_of(
                        case.input,
                        case.input_base64,
                        ErrorCode::RequestInvalidTests,
                        &format!("case {i}: "),
                    )?,
                    expected_output: case.expected_output.map(String::into_bytes),
                    args: case.args,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let mut limits = self
            .limits
            .map(|Object(l)| l.into_override())
            .transpose()?
            .unwrap_or_default();
        if let Some(t) = self.timeout {
            if !(t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_S) {
                return Err(ApiError::new(
                    ErrorCode::LimitsInvalid,
                    "`timeout` must be a positive number of seconds, at most a day",
                ));
            }
            if limits.wall_ms.is_some() {
                return Err(ApiError::new(
                    ErrorCode::LimitsInvalid,
                    "give either `timeout` (seconds) or `limits.wall_ms`, not both",
                ));
            }
            limits.wall_ms = Some((t * 1000.0).ceil() as u64);
        }
        Ok(ExecutionRequest {
            language,
            code,
            files: self
                .files
                .unwrap_or_default()
                .into_iter()
                .map(|Object(f)| SourceFile {
                    name: f.name,
                    content: f.content,
                })
                .collect(),
            // Cases have their own input: never interactive unless asked
            // (and then refused).
            interactive: self
                .interactive
                .unwrap_or(interactive_default && stdin.is_empty() && tests.is_empty()),
            stdin,
            args: self.args.unwrap_or_default(),
            limits,
            tests,
            expected_output: self.expected_output.map(String::into_bytes),
            checker: self.checker,
            stop_on_first_failure: self.stop_on_first_failure.unwrap_or(false),
        })
    }
}

/// `202` from `POST /api/submit`.
#[derive(Debug, Serialize)]
pub struct SubmitResponse {
    /// The execution id.
    pub id: String,
    /// Always `queued`.
    pub status: Status,
    /// A human-readable note.
    pub message: &'static str,
    /// Admits a WebSocket to this execution's terminal as `?token=`.
    #[serde(rename = "terminalToken")]
    pub terminal_token: String,
}

/// `GET /api/status/{id}`.
#[derive(Debug, Serialize)]
pub struct StatusResponse {
    /// The execution id.
    pub id: String,
    /// Where it is in its life: once ended, `completed` for verdict `ok`
    /// and `failed` for any other.
    pub status: Status,
}

/// One step's measurements on the wire.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepDto {
    verdict: Option<monaco_executor::Verdict>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    wall_ms: u64,
    /// The same wall time in microseconds.
    wall_us: u64,
    cpu_ms: u64,
    memory_bytes: u64,
    truncated: bool,
}

impl From<&StepReport> for StepDto {
    fn from(r: &StepReport) -> Self {
        StepDto {
            verdict: r.verdict,
            exit_code: r.exit_code,
            signal: r.signal,
            wall_ms: r.wall_ms,
            wall_us: r.wall_us,
            cpu_ms: r.cpu_ms,
            memory_bytes: r.memory_bytes,
            truncated: r.truncated,
        }
    }
}

/// `GET /api/result/{id}` and `POST /api/execute`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultResponse {
    id: String,
    code: String,
    language: String,
    input: String,
    status: Status,
    queued_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    /// Everything the program printed (compile output first), as text.
    output: String,
    stdout: String,
    stderr: String,
    compile_output: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr_base64: Option<String>,
    compile: Option<StepDto>,
    run: Option<StepDto>,
    /// Each test case, for an execution with `tests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tests: Option<Vec<CaseResult>>,
    /// How many cases passed, failed and were skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<Summary>,
    /// The verdict and measurements, as the WebSocket's final `status`
    /// frame has them.
    #[serde(flatten)]
    outcome: OutcomeFields,
    /// The webhook's delivery, for an execution with a `callbackUrl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback: Option<crate::webhook::CallbackStatus>,
}

impl ResultResponse {
    /// The same result with its webhook's delivery state.
    pub fn with_callback(mut self, callback: Option<crate::webhook::CallbackStatus>) -> Self {
        self.callback = callback;
        self
    }
}

/// One case's verdict and measurements: in its WebSocket `test` frame and
/// in `/api/result`'s `tests`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseFields {
    verdict: Option<monaco_executor::Verdict>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    wall_ms: u64,
    /// The same wall time in microseconds.
    wall_us: u64,
    cpu_ms: u64,
    memory_bytes: u64,
    truncated: bool,
    checker_message: Option<String>,
}

impl CaseFields {
    /// The fields of one case's report.
    pub fn of(c: &CaseReport) -> CaseFields {
        CaseFields {
            verdict: c.report.verdict,
            exit_code: c.report.exit_code,
            signal: c.report.signal,
            wall_ms: c.report.wall_ms,
            wall_us: c.report.wall_us,
            cpu_ms: c.report.cpu_ms,
            memory_bytes: c.report.memory_bytes,
            truncated: c.report.truncated,
            checker_message: c.checker_message.clone(),
        }
    }
}

/// One entry of `/api/result`'s `tests`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    index: u32,
    name: Option<String>,
    #[serde(flatten)]
    fields: CaseFields,
    stdout: String,
    stderr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr_base64: Option<String>,
}

/// `/api/result`'s `summary` of the cases.
#[derive(Debug, Serialize)]
pub struct Summary {
    total: usize,
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Summary {
    fn of(cases: &[CaseReport], total: usize) -> Summary {
        let passed = cases.iter().filter(|c| c.passed()).count();
        let skipped = cases
            .iter()
            .filter(|c| c.report.verdict == Some(monaco_executor::Verdict::Skipped))
            .count();
        Summary {
            total,
            passed,
            skipped,
            failed: cases.len() - passed - skipped,
        }
    }
}

/// How an execution ended, in the fields every surface reports it with
/// (`/api/result`, `/api/execute`, the WebSocket's final `status` frame):
/// all `null` (and `truncated` false) while it has not ended. The one
/// mapping from [`ExecutionOutcome`] to the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeFields {
    verdict: Option<monaco_executor::Verdict>,
    /// Exit code of the run step.
    exit_code: Option<i32>,
    /// Signal that ended the run step.
    signal: Option<i32>,
    /// Wall time of the run step, milliseconds.
    execution_time: Option<u64>,
    /// CPU time of the run step, milliseconds.
    cpu: Option<u64>,
    /// Peak memory of the run step, bytes.
    memory: Option<u64>,
    /// Whether output of either step was cut at the output limit.
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorInfo>,
}

impl OutcomeFields {
    /// The fields for `outcome` (`None`: not ended yet).
    pub fn of(outcome: Option<&ExecutionOutcome>) -> OutcomeFields {
        let run = outcome.and_then(|o| o.run.as_ref());
        let compile = outcome.and_then(|o| o.compile.as_ref());
        OutcomeFields {
            verdict: outcome.map(|o| o.verdict),
            exit_code: run.and_then(|r| r.exit_code),
            signal: run.and_then(|r| r.signal),
            execution_time: run.map(|r| r.wall_ms),
            cpu: run.map(|r| r.cpu_ms),
            memory: run.map(|r| r.memory_bytes),
            truncated: run.is_some_and(|r| r.truncated) || compile.is_some_and(|r| r.truncated),
            error: outcome.and_then(|o| {
                Some(ErrorInfo {
                    code: o.error_code?,
                    message: o.message.clone().unwrap_or_default(),
                })
            }),
        }
    }
}

/// Why an execution ended `failed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorInfo {
    code: ErrorCode,
    message: String,
}

/// Text for JSON, plus the exact bytes in base64 when they are not UTF-8.
pub fn text_and_bytes(bytes: &[u8]) -> (String, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        ),
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl From<&ExecutionSnapshot> for ResultResponse {
    fn from(s: &ExecutionSnapshot) -> Self {
        let outcome: Option<&ExecutionOutcome> = s.outcome.as_ref();
        let (stdout, stdout_base64) = text_and_bytes(&s.stdout);
        let (stderr, stderr_base64) = text_and_bytes(&s.stderr);
        let compile_output = String::from_utf8_lossy(&s.compile_output).into_owned();
        let output = format!("{compile_output}{stdout}{stderr}");
        ResultResponse {
            id: s.id.to_string(),
            code: s.meta.code.clone(),
            language: s.meta.language.clone(),
            input: s.meta.input.clone(),
            status: s.status,
            queued_at: timestamp(s.queued_at),
            started_at: s.started_at.map(timestamp),
            completed_at: s.completed_at.map(timestamp),
            output,
            stdout,
            stderr,
            compile_output,
            stdout_base64,
            stderr_base64,
            compile: outcome.and_then(|o| o.compile.as_ref()).map(StepDto::from),
            run: outcome.and_then(|o| o.run.as_ref()).map(StepDto::from),
            tests: (!s.meta.test_names.is_empty()).then(|| case_results(s)),
            summary: (!s.meta.test_names.is_empty()).then(|| {
                let done = outcome.map_or(&[][..], |o| &o.tests[..]);
                Summary::of(done, s.meta.test_names.len())
            }),
            outcome: OutcomeFields::of(outcome),
            callback: None,
        }
    }
}

/// The cases that ended so far (all of them, once the execution has),
/// with what each printed.
fn case_results(s: &ExecutionSnapshot) -> Vec<CaseResult> {
    let reports = s.outcome.as_ref().map_or(&[][..], |o| &o.tests[..]);
    reports
        .iter()
        .map(|c| {
            let output = s.cases.get(c.index as usize);
            let (stdout, stdout_base64) = text_and_bytes(output.map_or(&[][..], |o| &o.stdout));
            let (stderr, stderr_base64) = text_and_bytes(output.map_or(&[][..], |o| &o.stderr));
            CaseResult {
                index: c.index,
                name: s.meta.test_names.get(c.index as usize).cloned().flatten(),
                fields: CaseFields::of(c),
                stdout,
                stderr,
                stdout_base64,
                stderr_base64,
            }
        })
        .collect()
}

/// One entry of `GET /api/languages`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LanguageDto {
    id: String,
    name: String,
    version: String,
    aliases: Vec<String>,
    /// File extensions of its sources, without the dot (`py`).
    extensions: Vec<String>,
    compiled: bool,
    hello_world: String,
}

impl From<&Language> for LanguageDto {
    fn from(l: &Language) -> Self {
        LanguageDto {
            id: l.id().to_string(),
            name: l.name().to_string(),
            version: l.version().to_string(),
            aliases: l.aliases().to_vec(),
            extensions: l.extensions().to_vec(),
            compiled: l.compiles(),
            hello_world: l.hello().to_string(),
        }
    }
}

/// `GET /api/health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// Whether the Docker engine answers (a node that runs nothing has
    /// none to ask, and says `true`).
    pub docker: bool,
    /// Whether the cluster's broker answers; absent on a single node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<bool>,
    /// Executions waiting (cluster-wide in a cluster).
    pub queue_depth: usize,
    /// Executions running.
    pub running: usize,
}
