//! Piston v2 under `/api/v2`: `GET /runtimes`, `POST /execute` and the
//! WebSocket `/connect` ([`connect`]), in the shapes Piston's clients read.
//!
//! Bodies are JSON; `text/plain` (what piston-client's `fetch` sends) is
//! read as JSON, and a form (`application/x-www-form-urlencoded`, what
//! pistonapi sends) is read with each `files` value as a file's content.
//! `-1` and `0` limits mean Monaco's default; a missing `version` means any.
//! Stdin of `/execute` is never interactive: it is given whole and closed.
//! Errors are Piston's: `{"message": "…"}` with status 400 (500 when the
//! execution itself failed).

pub(crate) mod connect;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use base64::Engine;
use monaco_executor::{
    ExecutionEvent, ExecutionOutcome, ExecutionRequest, ExecutorError, Language, Limits,
    LimitsOverride, Registry, Sandbox, SourceFile, StepKind, StepReport, Stream, Verdict,
};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::signal;
use crate::error::ApiError;
use crate::AppState;

/// Registers Piston's routes (under `/api/v2`).
pub(crate) fn scope<S: Sandbox>() -> impl actix_web::dev::HttpServiceFactory + 'static {
    // With API keys configured, Piston's routes need one as `/api`'s do.
    web::scope("/api/v2")
        .wrap(actix_web::middleware::from_fn(crate::tenancy::require_key))
        .service(resource("/runtimes", "GET").route(web::get().to(runtimes::<S>)))
        .service(resource("/execute", "POST").route(web::post().to(execute::<S>)))
        .service(resource("/connect", "GET").route(web::get().to(connect::connect::<S>)))
}

fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let error = PistonError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} {} is not supported; use {allow}",
                req.method(),
                req.path()
            ),
        );
        let mut response = error.error_response();
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        response
    }))
}

/// An error in Piston's shape: `{"message": "…"}`.
#[derive(Debug)]
pub(crate) struct PistonError {
    status: StatusCode,
    message: String,
}

impl PistonError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PistonError {
            status,
            message: message.into(),
        }
    }

    /// `400` with `message`.
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The message for people.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for PistonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for PistonError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "1"));
        }
        response.json(json!({ "message": self.message }))
    }
}

impl From<ApiError> for PistonError {
    fn from(e: ApiError) -> Self {
        PistonError::new(e.status(), e.message())
    }
}

impl From<ExecutorError> for PistonError {
    fn from(e: ExecutorError) -> Self {
        ApiError::from(e).into()
    }
}

/// One entry of `GET /api/v2/runtimes`.
#[derive(Debug, Serialize)]
struct Runtime {
    language: String,
    version: String,
    aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<String>,
}

async fn runtimes<S: Sandbox>(state: web::Data<AppState<S>>) -> HttpResponse {
    let list: Vec<Runtime> = state
        .executor
        .languages()
        .iter()
        .map(|l| Runtime {
            language: l.piston_name().to_string(),
            version: l.semver(),
            aliases: l.piston_aliases(),
            runtime: l.compat().piston_runtime.clone(),
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// A job as `/execute` and `/connect`'s `init` give it, resolved and
/// turned into Monaco's request.
pub(crate) struct Job {
    /// Piston's name of the language.
    pub(crate) language: String,
    /// Its version as Piston reports it.
    pub(crate) version: String,
    /// Whether the language has a compile stage.
    pub(crate) compiles: bool,
    /// What Monaco runs.
    pub(crate) request: ExecutionRequest,
}

/// Piston's limit fields, what they set in Monaco's limits, and their
/// maximum there.
const LIMITS: [(&str, &str); 6] = [
    ("run_timeout", "wall_ms"),
    ("compile_timeout", "compile_wall_ms"),
    ("run_cpu_time", "cpu_ms"),
    ("compile_cpu_time", "compile_cpu_ms"),
    ("run_memory_limit", "memory_bytes"),
    ("compile_memory_limit", "compile_memory_bytes"),
];

fn max_of(max: &Limits, field: &str) -> u64 {
    match field {
        "wall_ms" => max.run.wall_ms,
        "compile_wall_ms" => max.compile.wall_ms,
        "cpu_ms" => max.run.cpu_ms,
        "compile_cpu_ms" => max.compile.cpu_ms,
        "memory_bytes" => max.run.memory_bytes,
        _ => max.compile.memory_bytes,
    }
}

fn set_limit(limits: &mut LimitsOverride, field: &str, value: u64) {
    match field {
        "wall_ms" => limits.wall_ms = Some(value),
        "compile_wall_ms" => limits.compile_wall_ms = Some(value),
        "cpu_ms" => limits.cpu_ms = Some(value),
        "compile_cpu_ms" => limits.compile_cpu_ms = Some(value),
        "memory_bytes" => limits.memory_bytes = Some(value),
        _ => limits.compile_memory_bytes = Some(value),
    }
}

/// Whether `selector` (Piston's semver range; `*` for any) accepts the
/// language's version. A full version is matched exactly, as node-semver
/// does (Rust's `semver` would read `3.11.0` as `^3.11.0`).
fn version_matches(selector: &str, language: &Language) -> bool {
    let selector = selector.trim();
    let version = language.semver();
    if selector.is_empty() || selector == version || selector == language.version() {
        return true;
    }
    if semver::Version::parse(selector).is_ok() {
        return false;
    }
    match (
        semver::VersionReq::parse(selector),
        semver::Version::parse(&version),
    ) {
        (Ok(req), Ok(v)) => req.matches(&v),
        _ => false,
    }
}

/// Reads a job: `body` is a JSON object (from `/execute` or `init`).
/// `stdin` is false for `init`, whose stdin arrives as `data` frames.
pub(crate) fn job_of(
    body: &Map<String, Value>,
    registry: &Registry,
    max: &Limits,
    interactive: bool,
) -> Result<Job, PistonError> {
    let language = match body.get("language") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(PistonError::bad("language is required as a string")),
    };
    // piston-client leaves the version out when given an alias: any.
    let version = match body.get("version") {
        None | Some(Value::Null) => "*".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(PistonError::bad("version is required as a string")),
    };
    let Some(Value::Array(files)) = body.get("files") else {
        return Err(PistonError::bad("files is required as an array"));
    };
    let mut sources = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let content = match file.get("content") {
            Some(Value::String(s)) => s,
            _ => {
                return Err(PistonError::bad(format!(
                    "files[{i}].content is required as a string"
                )))
            }
        };
        let encoding = file
            .get("encoding")
            .and_then(Value::as_str)
            .unwrap_or("utf8");
        let content = decode(content, encoding)
            .map_err(|why| PistonError::bad(format!("files[{i}].content {why}")))?;
        let name = file
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("file{i}.code"), str::to_string);
        sources.push(SourceFile { name, content });
    }
    if sources.is_empty() {
        return Err(PistonError::bad("files must contain at least one file"));
    }
    let lang = registry
        .piston(&language)
        .filter(|l| version_matches(&version, l))
        .ok_or_else(|| PistonError::bad(format!("{language}-{version} runtime is unknown")))?;

    let stdin = if interactive {
        Vec::new()
    } else {
        match body.get("stdin") {
            None | Some(Value::Null) => b"\n".to_vec(),
            Some(Value::String(s)) => {
                let mut bytes = s.clone().into_bytes();
                if !bytes.ends_with(b"\n") {
                    bytes.push(b'\n');
                }
                bytes
            }
            Some(_) => return Err(PistonError::bad("stdin must be a string")),
        }
    };
    let args = match body.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| match a {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(PistonError::bad("args must be an array of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(PistonError::bad("args must be an array of strings")),
    };
    let mut limits = LimitsOverride::default();
    for (name, field) in LIMITS {
        let value = match body.get(name) {
            None | Some(Value::Null) => continue,
            Some(v) => v
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| PistonError::bad(format!("{name} must be a number")))?,
        };
        // -1 (what piston-client always sends) and 0: the default.
        if value == -1.0 || value == 0.0 {
            continue;
        }
        if value < 0.0 {
            return Err(PistonError::bad(format!(
                "{name} must be a positive number"
            )));
        }
        let maximum = max_of(max, field);
        if value > maximum as f64 {
            return Err(PistonError::bad(format!(
                "{name} cannot exceed the configured limit of {maximum}"
            )));
        }
        set_limit(&mut limits, field, value.ceil() as u64);
    }
    let mut sources = sources.into_iter();
    let main = sources.next().map(|f| f.content).unwrap_or_default();
    Ok(Job {
        language: lang.piston_name().to_string(),
        version: lang.semver(),
        compiles: lang.compiles(),
        request: ExecutionRequest {
            language: lang.id().to_string(),
            code: main,
            files: sources.collect(),
            stdin,
            interactive,
            args,
            limits,
            ..Default::default()
        },
    })
}

/// A file's content in its encoding (`utf8`, `base64`, `hex`), as text.
fn decode(content: &str, encoding: &str) -> Result<String, String> {
    let bytes = match encoding {
        "utf8" => return Ok(content.to_string()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(content)
            .map_err(|e| format!("is not valid base64: {e}"))?,
        "hex" => {
            let text = content.trim();
            if !text.len().is_multiple_of(2) {
                return Err("is not valid hex".into());
            }
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("x"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| "is not valid hex".to_string())?
        }
        other => return Err(format!("has an unknown encoding {other:?}")),
    };
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".into())
}

/// The body as a JSON object: JSON (also as `text/plain` or without a
/// type), or a form.
fn body_of(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, PistonError> {
    use actix_web::HttpMessage;
    let form = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.type_() == "application" && m.subtype() == "x-www-form-urlencoded");
    if form {
        return Ok(form_of(body));
    }
    crate::check_content_type(req)?;
    if crate::too_deep(body) {
        return Err(PistonError::bad("the body is nested too deeply"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(PistonError::bad("the body must be a JSON object")),
        Err(e) => Err(PistonError::bad(format!("Malformed JSON: {e}"))),
    }
}

/// A form as pistonapi sends it: `files` and `args` repeat; numbers are
/// numbers.
fn form_of(body: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    let (mut files, mut args) = (Vec::new(), Vec::new());
    for (key, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "files" | "files[]" => files.push(json!({ "content": value })),
            "args" | "args[]" => args.push(Value::String(value)),
            key if LIMITS.iter().any(|(name, _)| *name == key) => {
                let number = value
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::String(value), Value::Number);
                map.insert(key.to_string(), number);
            }
            key => {
                map.insert(key.to_string(), Value::String(value));
            }
        }
    }
    map.insert("files".into(), Value::Array(files));
    map.insert("args".into(), Value::Array(args));
    map
}

/// One stage's result (`run`, `compile`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Stage {
    stdout: String,
    stderr: String,
    output: String,
    code: Option<i32>,
    signal: Option<&'static str>,
    message: Option<String>,
    status: Option<&'static str>,
    cpu_time: Option<u64>,
    wall_time: Option<u64>,
    memory: Option<u64>,
}

/// How a stage ended, in Piston's terms: exit code, signal, status, message.
pub(crate) struct Ending {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<&'static str>,
    status: Option<&'static str>,
    message: Option<String>,
}

/// How a step ended, from its verdict (the outcome's when the step has
/// none, or did not run because the execution was stopped).
pub(crate) fn ending(report: Option<&StepReport>, outcome: &ExecutionOutcome) -> Ending {
    let verdict = report.and_then(|r| r.verdict).unwrap_or(outcome.verdict);
    let killed = |status: &'static str, message: &str| Ending {
        code: None,
        signal: Some("SIGKILL"),
        status: Some(status),
        message: Some(message.to_string()),
    };
    match verdict {
        Verdict::TimeLimitExceeded => killed("TO", "Time limit exceeded"),
        Verdict::MemoryLimitExceeded => killed("SG", "Memory limit exceeded"),
        Verdict::OutputLimitExceeded => killed("OL", "stdout length exceeded"),
        Verdict::Cancelled => killed("SG", "Killed on request"),
        Verdict::InternalError => Ending {
            code: None,
            signal: None,
            status: Some("XX"),
            message: outcome.message.clone(),
        },
        _ => {
            let (code, sig) = report.map_or((None, None), |r| (r.exit_code, r.signal));
            match (code, sig) {
                (_, Some(n)) => Ending {
                    code: None,
                    signal: Some(signal::name(n).unwrap_or("SIGKILL")),
                    status: Some("SG"),
                    message: None,
                },
                (Some(0), None) => Ending {
                    code: Some(0),
                    signal: None,
                    status: None,
                    message: None,
                },
                (code, None) => Ending {
                    code,
                    signal: None,
                    status: Some("RE"),
                    message: None,
                },
            }
        }
    }
}

/// What one stage printed.
#[derive(Debug, Default)]
struct Printed {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    output: Vec<u8>,
}

impl Printed {
    fn stage(&self, report: Option<&StepReport>, outcome: &ExecutionOutcome) -> Stage {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let end = ending(report, outcome);
        Stage {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            output: text(&self.output),
            code: end.code,
            signal: end.signal,
            message: end.message,
            status: end.status,
            cpu_time: report.map(|r| r.cpu_ms),
            wall_time: report.map(|r| r.wall_ms),
            memory: report.map(|r| r.memory_bytes),
        }
    }
}

async fn execute<S: Sandbox>(
    state: web::Data<AppState<S>>,
    caller: crate::Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, PistonError> {
    let body = crate::read_body(&state, &req, payload).await?;
    let body = body_of(&req, &body)?;
    let (_, max) = state.executor.limits();
    let job = job_of(&body, state.executor.registry(), &max, false)?;
    let id = crate::submit_one(&state, &caller, &req, job.request).await?;
    let mut events = state
        .executor
        .events(id, 0)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| PistonError::new(StatusCode::INTERNAL_SERVER_ERROR, "lost"))?;
    let (mut compile, mut run) = (Printed::default(), Printed::default());
    let mut outcome = None;
    while let Some((_, event)) = events.next().await {
        match event {
            ExecutionEvent::Output(chunk) => {
                let printed = match chunk.step {
                    StepKind::Compile => &mut compile,
                    StepKind::Run => &mut run,
                };
                match chunk.stream {
                    Stream::Stdout => printed.stdout.extend_from_slice(&chunk.data),
                    Stream::Stderr => printed.stderr.extend_from_slice(&chunk.data),
                }
                printed.output.extend_from_slice(&chunk.data);
            }
            ExecutionEvent::Finished(o) => {
                outcome = Some(*o);
                break;
            }
            _ => {}
        }
    }
    let Some(outcome) = outcome else {
        return Err(PistonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the execution was forgotten before it ended",
        ));
    };
    if outcome.verdict == Verdict::InternalError {
        return Err(PistonError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            outcome
                .message
                .clone()
                .unwrap_or_else(|| "the execution failed".into()),
        ));
    }
    Ok(HttpResponse::Ok().json(response(
        &job.language,
        &job.version,
        job.compiles,
        &compile,
        &run,
        &outcome,
    )))
}

/// `/execute`'s answer: `compile` for compiled languages; when compiling
/// failed, `run` is a copy of it.
fn response(
    language: &str,
    version: &str,
    compiles: bool,
    compile: &Printed,
    run: &Printed,
    outcome: &ExecutionOutcome,
) -> Value {
    let compile_stage = compiles.then(|| compile.stage(outcome.compile.as_ref(), outcome));
    let run_stage = match (&compile_stage, outcome.verdict) {
        (Some(stage), Verdict::CompileError) => stage.clone(),
        _ => run.stage(outcome.run.as_ref(), outcome),
    };
    let mut body = json!({ "language": language, "version": version, "run": run_stage });
    if let Some(stage) = compile_stage {
        body["compile"] = json!(stage);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(verdict: Verdict, run: StepReport) -> ExecutionOutcome {
        ExecutionOutcome {
            status: verdict.final_status(),
            verdict,
            compile: None,
            run: Some(run),
            message: None,
            error_code: None,
            tests: Vec::new(),
        }
    }

    #[test]
    fn endings_follow_the_verdicts() {
        let exit = |code| StepReport {
            verdict: Some(if code == 0 {
                Verdict::Ok
            } else {
                Verdict::RuntimeError
            }),
            exit_code: Some(code),
            ..StepReport::default()
        };
        let e = |o: &ExecutionOutcome| {
            let end = ending(o.run.as_ref(), o);
            (end.code, end.signal, end.status)
        };
        assert_eq!(e(&outcome(Verdict::Ok, exit(0))), (Some(0), None, None));
        assert_eq!(
            e(&outcome(Verdict::RuntimeError, exit(3))),
            (Some(3), None, Some("RE"))
        );
        let segv = StepReport {
            verdict: Some(Verdict::RuntimeError),
            signal: Some(11),
            ..StepReport::default()
        };
        assert_eq!(
            e(&outcome(Verdict::RuntimeError, segv)),
            (None, Some("SIGSEGV"), Some("SG"))
        );
        let tle = StepReport {
            verdict: Some(Verdict::TimeLimitExceeded),
            signal: Some(9),
            ..StepReport::default()
        };
        assert_eq!(
            e(&outcome(Verdict::TimeLimitExceeded, tle)),
            (None, Some("SIGKILL"), Some("TO"))
        );
    }

    #[test]
    fn versions_match_as_node_semver_does() {
        let registry = Registry::from_toml_str(
            "[[language]]\nid = \"python\"\nname = \"P\"\nversion = \"3.11\"\nimage = \"i\"\n\
             source = \"m\"\nrun = [\"x\"]\nhello = \"h\"\n",
        )
        .unwrap();
        let py = registry.get("python").unwrap();
        for yes in ["*", "3.11.0", "3.11", "3.x", "3.11.x", ">=3", "^3.10.0", ""] {
            assert!(version_matches(yes, py), "{yes}");
        }
        for no in ["3.10.0", "3.12.0", "2.x", "<3", "nonsense"] {
            assert!(!version_matches(no, py), "{no}");
        }
    }

    #[test]
    fn a_form_is_read_as_pistonapi_sends_it() {
        let map = form_of(b"language=python&version=3.11.0&files=print%281%29&stdin=&args=a&args=b&timeout=10000&run_timeout=3000");
        assert_eq!(map["files"], json!([{ "content": "print(1)" }]));
        assert_eq!(map["args"], json!(["a", "b"]));
        assert_eq!(map["run_timeout"], json!(3000.0));
        assert_eq!(map["stdin"], json!(""));
    }

    #[test]
    fn contents_decode_in_their_encoding() {
        assert_eq!(decode("aGk=", "base64"), Ok("hi".into()));
        assert_eq!(decode("6869", "hex"), Ok("hi".into()));
        assert_eq!(decode("hi", "utf8"), Ok("hi".into()));
        assert!(decode("zz", "hex").is_err());
        assert!(decode("/w==", "base64").is_err(), "not UTF-8");
        assert!(decode("x", "rot13").is_err());
    }
}
