//! A Judge0 submission: its request fields read into Monaco's request, and
//! Monaco's result written as Judge0's submission object.

use base64::Engine;
use monaco_executor::{
    ExecutionRequest, ExecutionSnapshot, Language, Limits, LimitsOverride, Registry, Status,
    StepReport, Verdict,
};
use serde_json::{json, Map, Value};

use super::Judge0Error;

/// Every field of a submission (`fields=*`), as Judge0 1.13.1 lists them,
/// without those its SDK refuses (`started_at`, `queued_at`, `updated_at`,
/// `queue_host`, `execution_host`).
pub(crate) const ALL_FIELDS: [&str; 36] = [
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "post_execution_filesystem",
    "status",
    "language",
];

/// The fields returned when `fields` is not given.
pub(crate) const DEFAULT_FIELDS: [&str; 8] = [
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
];

/// Fields that are base64 with `base64_encoded=true`.
const ENCODED: [&str; 7] = [
    "source_code",
    "stdin",
    "expected_output",
    "stdout",
    "stderr",
    "compile_output",
    "message",
];

/// Judge0's statuses, by id.
pub(crate) const STATUSES: [(u8, &str); 14] = [
    (1, "In Queue"),
    (2, "Processing"),
    (3, "Accepted"),
    (4, "Wrong Answer"),
    (5, "Time Limit Exceeded"),
    (6, "Compilation Error"),
    (7, "Runtime Error (SIGSEGV)"),
    (8, "Runtime Error (SIGXFSZ)"),
    (9, "Runtime Error (SIGFPE)"),
    (10, "Runtime Error (SIGABRT)"),
    (11, "Runtime Error (NZEC)"),
    (12, "Runtime Error (Other)"),
    (13, "Internal Error"),
    (14, "Exec Format Error"),
];

/// What Judge0 reports about a submission that Monaco's result does not
/// keep: the id it was asked for, its exact input, and its limits in
/// Judge0's units.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Asked {
    pub(crate) language_id: u32,
    pub(crate) stdin: Option<Vec<u8>>,
    pub(crate) expected_output: Option<Vec<u8>>,
    pub(crate) command_line_arguments: Option<String>,
    /// Seconds.
    pub(crate) cpu_time_limit: f64,
    /// Seconds.
    pub(crate) wall_time_limit: f64,
    /// KB.
    pub(crate) memory_limit: u64,
    /// KB.
    pub(crate) max_file_size: u64,
    pub(crate) max_processes_and_or_threads: u32,
}

/// A submission read: Monaco's request and what is reported back.
pub(crate) struct Submission {
    pub(crate) request: ExecutionRequest,
    pub(crate) asked: Asked,
}

/// Field → messages, Judge0's `422` body.
pub(crate) type FieldErrors = Map<String, Value>;

fn field_error(errors: &mut FieldErrors, field: &str, message: impl Into<String>) {
    let list = errors
        .entry(field.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        list.push(Value::String(message.into()));
    }
}

/// Judge0's limit fields: the Monaco field each sets, and its unit in
/// Monaco's units (seconds → ms is 1000, KB → bytes 1024).
const LIMITS: [(&str, &str, f64); 5] = [
    ("cpu_time_limit", "cpu_ms", 1000.0),
    ("wall_time_limit", "wall_ms", 1000.0),
    ("memory_limit", "memory_bytes", 1024.0),
    ("max_file_size", "file_size_bytes", 1024.0),
    ("max_processes_and_or_threads", "processes", 1.0),
];

/// The Judge0 field of a Monaco limit field, for error messages.
pub(crate) fn judge0_field(monaco: &str) -> Option<&'static str> {
    LIMITS.iter().find(|l| l.1 == monaco).map(|l| l.0)
}

/// A limit's value in Monaco's units, and its minimum and maximum there.
fn limit_range(field: &str, max: &Limits) -> (u64, u64) {
    match field {
        "cpu_ms" => (1, max.run.cpu_ms),
        "wall_ms" => (1, max.run.wall_ms),
        "memory_bytes" => (monaco_executor::MIN_MEMORY_BYTES, max.run.memory_bytes),
        "file_size_bytes" => (1, max.run.file_size_bytes),
        _ => (1, u64::from(max.run.processes)),
    }
}

fn set_limit(limits: &mut LimitsOverride, field: &str, value: u64) {
    match field {
        "cpu_ms" => limits.cpu_ms = Some(value),
        "wall_ms" => limits.wall_ms = Some(value),
        "memory_bytes" => limits.memory_bytes = Some(value),
        "file_size_bytes" => limits.file_size_bytes = Some(value),
        _ => limits.processes = Some(u32::try_from(value).unwrap_or(u32::MAX)),
    }
}

/// Fields Monaco cannot honour: refused unless absent, `null` or their
/// "off" value, and advertised as disabled in `/config_info`.
const UNSUPPORTED: [(&str, &str); 9] = [
    (
        "stack_limit",
        "is not supported: the stack is bounded by memory_limit",
    ),
    (
        "cpu_extra_time",
        "is not supported: the CPU time limit is exact",
    ),
    (
        "number_of_runs",
        "is not supported: each submission runs once",
    ),
    (
        "enable_per_process_and_thread_time_limit",
        "is not supported: limits apply to the whole program",
    ),
    (
        "enable_per_process_and_thread_memory_limit",
        "is not supported: limits apply to the whole program",
    ),
    ("redirect_stderr_to_stdout", "is not supported"),
    (
        "enable_network",
        "is not supported: programs have no network",
    ),
    ("compiler_options", "is not supported"),
    ("callback_url", "is not supported"),
];

/// Whether an unsupported field asks for nothing: absent, null, false,
/// empty, 0, or 1 run.
fn asks_nothing(field: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            n == 0.0 || (field == "number_of_runs" && n == 1.0)
        }
        _ => false,
    }
}

/// Reads a text field, decoding base64 when the request is encoded.
fn bytes_field(
    body: &Map<String, Value>,
    field: &str,
    base64: bool,
    errors: &mut FieldErrors,
) -> Option<Vec<u8>> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if base64 => {
            let clean: String = s.chars().filter(|c| !matches!(c, '\n' | '\r')).collect();
            match base64::engine::general_purpose::STANDARD.decode(clean) {
                Ok(bytes) => Some(bytes),
                Err(_) => {
                    field_error(errors, field, "is not valid base64");
                    None
                }
            }
        }
        Some(Value::String(s)) => Some(s.clone().into_bytes()),
        Some(_) => {
            field_error(errors, field, "must be a string");
            None
        }
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        // Rails reads form-style strings as numbers too.
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// Reads one submission; `422` with every field's errors when invalid.
pub(crate) fn read(
    body: &Map<String, Value>,
    base64: bool,
    registry: &Registry,
    defaults: &Limits,
    max: &Limits,
) -> Result<Submission, FieldErrors> {
    let mut errors = FieldErrors::new();
    let source = bytes_field(body, "source_code", base64, &mut errors);
    let code = match source.map(String::from_utf8) {
        Some(Ok(code)) if !code.trim().is_empty() => Some(code),
        Some(Err(_)) => {
            field_error(&mut errors, "source_code", "is not UTF-8 text");
            None
        }
        _ => {
            if !errors.contains_key("source_code") {
                field_error(&mut errors, "source_code", "can't be blank");
            }
            None
        }
    };
    let language = match body.get("language_id").map(|v| (v, number(v))) {
        None | Some((Value::Null, _)) => {
            field_error(&mut errors, "language_id", "can't be blank");
            None
        }
        Some((_, Some(n))) if n.fract() == 0.0 && n >= 1.0 && n <= f64::from(u32::MAX) => {
            let id = n as u32;
            match registry.judge0(id) {
                Some(lang) => Some((id, lang)),
                None => {
                    field_error(
                        &mut errors,
                        "language_id",
                        format!("language with id {id} doesn't exist"),
                    );
                    None
                }
            }
        }
        Some((v, _)) => {
            field_error(
                &mut errors,
                "language_id",
                format!("language with id {v} doesn't exist"),
            );
            None
        }
    };
    let stdin = bytes_field(body, "stdin", base64, &mut errors);
    let expected_output = bytes_field(body, "expected_output", base64, &mut errors);

    let mut limits = LimitsOverride::default();
    for (field, monaco, unit) in LIMITS {
        let Some(value) = body.get(field).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(n) = number(value) else {
            field_error(&mut errors, field, "is not a number");
            continue;
        };
        let (min, maximum) = limit_range(monaco, max);
        let value = (n * unit).ceil();
        if value < min as f64 {
            field_error(
                &mut errors,
                field,
                format!(
                    "must be greater than or equal to {}",
                    judge0_units(min, unit)
                ),
            );
        } else if value > maximum as f64 {
            field_error(
                &mut errors,
                field,
                format!(
                    "must be less than or equal to {}",
                    judge0_units(maximum, unit)
                ),
            );
        } else {
            set_limit(&mut limits, monaco, value as u64);
        }
    }
    for (field, why) in UNSUPPORTED {
        if body.get(field).is_some_and(|v| !asks_nothing(field, v)) {
            field_error(&mut errors, field, why);
        }
    }
    if body
        .get("additional_files")
        .is_some_and(|v| !asks_nothing("", v))
    {
        field_error(
            &mut errors,
            "additional_files",
            "is not supported: send one source file",
        );
    }
    let command_line_arguments = match body.get("command_line_arguments") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            field_error(&mut errors, "command_line_arguments", "must be a string");
            None
        }
    };
    // Judge0 appends the arguments to the run command in a shell.
    let args = match command_line_arguments.as_deref().map(shlex::split) {
        None => Vec::new(),
        Some(Some(args)) => args,
        Some(None) => {
            field_error(
                &mut errors,
                "command_line_arguments",
                "has an unterminated quote",
            );
            Vec::new()
        }
    };
    let (Some(code), Some((language_id, lang)), true) = (code, language, errors.is_empty()) else {
        return Err(errors);
    };
    let effective = defaults.with(lang.limits()).with(&limits);
    Ok(Submission {
        request: ExecutionRequest {
            language: lang.id().to_string(),
            code,
            stdin: stdin.clone().unwrap_or_default(),
            interactive: false,
            args,
            limits,
            expected_output: expected_output.clone(),
            ..Default::default()
        },
        asked: Asked {
            language_id,
            stdin,
            expected_output,
            command_line_arguments,
            cpu_time_limit: effective.run.cpu_ms as f64 / 1000.0,
            wall_time_limit: effective.run.wall_ms as f64 / 1000.0,
            memory_limit: effective.run.memory_bytes / 1024,
            max_file_size: effective.run.file_size_bytes / 1024,
            max_processes_and_or_threads: effective.run.processes,
        },
    })
}

/// A Monaco limit back in Judge0's unit, for messages.
fn judge0_units(value: u64, unit: f64) -> String {
    let v = value as f64 / unit;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Judge0's status of an execution: queued and running as such, then
/// from the verdict (COMPAT.md C); the message goes with it.
pub(crate) fn status_of(snapshot: &ExecutionSnapshot) -> (u8, Option<String>) {
    let Some(outcome) = &snapshot.outcome else {
        return match snapshot.status {
            Status::Queued => (1, None),
            _ => (2, None),
        };
    };
    let run = outcome.run.as_ref();
    match outcome.verdict {
        Verdict::Ok => (3, None),
        Verdict::WrongAnswer => (4, None),
        Verdict::TimeLimitExceeded => (5, Some("Time limit exceeded".into())),
        Verdict::CompileError => (6, None),
        Verdict::RuntimeError => match run.and_then(|r| r.signal) {
            Some(signal) => {
                let id = match signal {
                    11 => 7,
                    25 => 8,
                    8 => 9,
                    6 => 10,
                    _ => 12,
                };
                (id, Some(format!("Caught fatal signal {signal}")))
            }
            None => {
                let code = run.and_then(|r| r.exit_code).unwrap_or(1);
                (11, Some(format!("Exited with error status {code}")))
            }
        },
        // The kernel's OOM killer sends SIGKILL.
        Verdict::MemoryLimitExceeded => (12, Some("Memory limit exceeded".into())),
        // Judge0's output is a file: isolate's file-size limit is SIGXFSZ.
        Verdict::OutputLimitExceeded => (8, Some("Output limit exceeded".into())),
        Verdict::Cancelled | Verdict::InternalError | Verdict::Skipped => (
            13,
            Some(
                outcome
                    .message
                    .clone()
                    .unwrap_or_else(|| "Internal error".into()),
            ),
        ),
    }
}

/// The description of a status id.
pub(crate) fn description(id: u8) -> &'static str {
    STATUSES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or("Internal Error", |(_, d)| d)
}

/// Judge0's name of a language: its name, with the version when the name
/// does not already say it (`Python (3.11)`, `C (GCC 12)`).
pub(crate) fn language_name(lang: &Language) -> String {
    if lang.name().contains('(') {
        lang.name().to_string()
    } else {
        format!("{} ({})", lang.name(), lang.version())
    }
}

/// Seconds as Judge0 writes times: a decimal string (`"0.012"`).
fn seconds(ms: u64) -> Value {
    Value::String(format!("{:.3}", ms as f64 / 1000.0))
}

/// Output as Judge0 reports it: `null` when empty.
fn output(bytes: &[u8]) -> Option<Vec<u8>> {
    (!bytes.is_empty()).then(|| bytes.to_vec())
}

/// The fields a client asked for: `None` is the default set, `*` all;
/// an unknown name is `400`.
pub(crate) fn fields(asked: Option<&str>) -> Result<Vec<&'static str>, Judge0Error> {
    let Some(asked) = asked else {
        return Ok(DEFAULT_FIELDS.to_vec());
    };
    let mut chosen = Vec::new();
    let mut unknown = Vec::new();
    for name in asked.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "*" {
            return Ok(ALL_FIELDS.to_vec());
        }
        match ALL_FIELDS.iter().find(|f| **f == name) {
            Some(f) if !chosen.contains(f) => chosen.push(*f),
            Some(_) => {}
            None => unknown.push(name.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(Judge0Error::message(
            actix_web::http::StatusCode::BAD_REQUEST,
            format!("invalid fields: {}", json!(unknown)),
        ));
    }
    Ok(chosen)
}

/// The submission object with `fields`; text fields base64 when `base64`,
/// else `400` if one of them is not UTF-8.
pub(crate) fn render(
    snapshot: &ExecutionSnapshot,
    asked: &Asked,
    registry: &Registry,
    fields: &[&str],
    base64: bool,
) -> Result<Value, Judge0Error> {
    let outcome = snapshot.outcome.as_ref();
    let compile_failed = outcome.is_some_and(|o| o.verdict == Verdict::CompileError);
    let run: Option<&StepReport> = outcome.and_then(|o| o.run.as_ref());
    let (status_id, message) = status_of(snapshot);
    let language = registry.judge0(asked.language_id);
    let mut object = Map::new();
    for &field in fields {
        let text: Option<Option<Vec<u8>>> = match field {
            "source_code" => Some(Some(snapshot.meta.code.clone().into_bytes())),
            "stdin" => Some(asked.stdin.clone()),
            "expected_output" => Some(asked.expected_output.clone()),
            "stdout" => Some(output(&snapshot.stdout)),
            "stderr" => Some(output(&snapshot.stderr)),
            "compile_output" => Some(output(&snapshot.compile_output)),
            "message" => Some(message.clone().map(String::into_bytes)),
            _ => None,
        };
        let value = match text {
            Some(None) => Value::Null,
            Some(Some(bytes)) if base64 && ENCODED.contains(&field) => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Some(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(text) => Value::String(text),
                Err(_) => {
                    return Err(Judge0Error::message(
                        actix_web::http::StatusCode::BAD_REQUEST,
                        "some attributes for this submission cannot be converted to UTF-8, \
                         use base64_encoded=true",
                    ))
                }
            },
            None => other_field(
                field,
                snapshot,
                asked,
                status_id,
                run,
                compile_failed,
                language,
            ),
        };
        object.insert(field.to_string(), value);
    }
    Ok(Value::Object(object))
}

fn other_field(
    field: &str,
    snapshot: &ExecutionSnapshot,
    asked: &Asked,
    status_id: u8,
    run: Option<&StepReport>,
    compile_failed: bool,
    language: Option<&Language>,
) -> Value {
    let ran = run.filter(|_| !compile_failed);
    match field {
        "language_id" => json!(asked.language_id),
        "status_id" => json!(status_id),
        "created_at" => json!(crate::dto::timestamp(snapshot.queued_at)),
        "finished_at" => json!(snapshot.completed_at.map(crate::dto::timestamp)),
        "time" => ran.map_or(Value::Null, |r| seconds(r.cpu_ms)),
        "wall_time" => ran.map_or(Value::Null, |r| seconds(r.wall_ms)),
        "memory" => json!(ran.map(|r| r.memory_bytes / 1024)),
        "token" => json!(snapshot.id.to_string()),
        "number_of_runs" => json!(1),
        "cpu_time_limit" => json!(asked.cpu_time_limit),
        "cpu_extra_time" => json!(0.0),
        "wall_time_limit" => json!(asked.wall_time_limit),
        "memory_limit" => json!(asked.memory_limit),
        "max_file_size" => json!(asked.max_file_size),
        "max_processes_and_or_threads" => json!(asked.max_processes_and_or_threads),
        "enable_per_process_and_thread_time_limit"
        | "enable_per_process_and_thread_memory_limit"
        | "redirect_stderr_to_stdout"
        | "enable_network" => json!(false),
        // Judge0 reports 0 beside a signal.
        "exit_code" => json!(ran.and_then(|r| r.exit_code.or(r.signal.map(|_| 0)))),
        "exit_signal" => json!(ran.and_then(|r| r.signal)),
        "command_line_arguments" => json!(asked.command_line_arguments),
        "status" => json!({ "id": status_id, "description": description(status_id) }),
        "language" => {
            json!(language.map(|l| json!({ "id": asked.language_id, "name": language_name(l) })))
        }
        // stack_limit, compiler_options, callback_url, additional_files,
        // post_execution_filesystem: not supported, always null.
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_default_all_and_unknown() {
        assert_eq!(fields(None).unwrap(), DEFAULT_FIELDS);
        assert_eq!(fields(Some("*")).unwrap().len(), 36);
        assert_eq!(
            fields(Some("stdout,status,stdout")).unwrap(),
            ["stdout", "status"]
        );
        assert!(fields(Some("stdout,queue_host")).is_err());
    }

    #[test]
    fn unsupported_fields_off_are_accepted() {
        for (field, value) in [
            ("number_of_runs", json!(1)),
            ("enable_network", json!(false)),
            ("compiler_options", json!("")),
            ("stack_limit", json!(null)),
        ] {
            assert!(asks_nothing(field, &value), "{field}");
        }
        assert!(!asks_nothing("number_of_runs", &json!(3)));
        assert!(!asks_nothing("enable_network", &json!(true)));
    }
}
