//! Judge0 CE (1.13.1's shapes) at the root paths: `/languages`,
//! `/languages/{id}`, `/statuses`, `/about`, `/config_info`,
//! `/submissions` (`wait`, `base64_encoded`, `fields`), `/submissions/batch`
//! both ways, `/authenticate` and `/authorize`; each also with a trailing
//! slash, as clients send them.
//!
//! A token is the Monaco execution's id. Statuses come from Monaco's
//! verdicts ([`submission::status_of`]); `expected_output` is compared by
//! Monaco's `trim` checker, which is Judge0's comparison. Errors are
//! Judge0's: `422 {"field": ["message"]}` for an invalid submission,
//! `400`/`404`/`503 {"error": "…"}` otherwise.

mod submission;

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use monaco_executor::{BatchError, ExecutionId, ExecutorError, Sandbox};
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::{AppState, Caller, Tenancy};
use std::sync::Arc;
use submission::{Asked, FieldErrors};

/// Registers Judge0's routes at the root.
pub(crate) fn register<S: Sandbox>(cfg: &mut web::ServiceConfig) {
    for slash in ["", "/"] {
        let path = |p: &str| format!("{p}{slash}");
        cfg.service(resource(&path("/languages"), "GET").route(web::get().to(languages::<S>)))
            .service(resource(&path("/languages/{id}"), "GET").route(web::get().to(language::<S>)))
            .service(resource(&path("/statuses"), "GET").route(web::get().to(statuses)))
            .service(resource(&path("/about"), "GET").route(web::get().to(about)))
            .service(resource(&path("/config_info"), "GET").route(web::get().to(config_info::<S>)))
            .service(resource(&path("/submissions"), "POST").route(web::post().to(create::<S>)))
            .service(
                resource(&path("/submissions/batch"), "GET, POST")
                    .route(web::get().to(batch_get::<S>))
                    .route(web::post().to(batch_create::<S>)),
            )
            .service(resource(&path("/submissions/{token}"), "GET").route(web::get().to(get::<S>)))
            .service(resource(&path("/authenticate"), "POST").route(web::post().to(authenticate)))
            .service(resource(&path("/authorize"), "POST").route(web::post().to(authenticate)));
    }
}

fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let mut response = Judge0Error::message(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{} {} is not supported; use {allow}",
                req.method(),
                req.path()
            ),
        )
        .error_response();
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        response
    }))
}

/// An error in Judge0's shape.
#[derive(Debug)]
pub(crate) enum Judge0Error {
    /// `422 {"field": ["message", …]}`.
    Fields(FieldErrors),
    /// `{"error": "…"}` with a status.
    Message(StatusCode, String),
}

impl Judge0Error {
    pub(crate) fn message(status: StatusCode, message: impl Into<String>) -> Self {
        Judge0Error::Message(status, message.into())
    }

    fn not_found() -> Self {
        Judge0Error::message(StatusCode::NOT_FOUND, "Not Found")
    }
}

impl std::fmt::Display for Judge0Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Judge0Error::Fields(errors) => write!(f, "{}", Value::Object(errors.clone())),
            Judge0Error::Message(_, message) => f.write_str(message),
        }
    }
}

impl ResponseError for Judge0Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Judge0Error::Fields(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Judge0Error::Message(status, _) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Judge0Error::Fields(errors) => response.json(Value::Object(errors.clone())),
            Judge0Error::Message(status, message) => {
                if *status == StatusCode::SERVICE_UNAVAILABLE {
                    response.insert_header(("Retry-After", "1"));
                }
                response.json(json!({ "error": message }))
            }
        }
    }
}

impl From<ApiError> for Judge0Error {
    fn from(e: ApiError) -> Self {
        Judge0Error::Message(e.status(), e.message().to_string())
    }
}

/// An executor's refusal of a submission, as Judge0 says it: field errors
/// where a field is to blame, `503` when the queue is full.
fn refusal(e: ExecutorError) -> Judge0Error {
    let field = |name: &str, message: String| {
        let mut errors = FieldErrors::new();
        errors.insert(name.to_string(), json!([message]));
        Judge0Error::Fields(errors)
    };
    match &e {
        ExecutorError::QueueFull => {
            Judge0Error::message(StatusCode::SERVICE_UNAVAILABLE, "queue is full")
        }
        ExecutorError::ShuttingDown => {
            Judge0Error::message(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        ExecutorError::CodeMissing => field("source_code", "can't be blank".into()),
        ExecutorError::CodeTooLarge { .. } => field("source_code", e.to_string()),
        ExecutorError::InvalidArgument(_) | ExecutorError::ArgsTooLarge { .. } => {
            field("command_line_arguments", e.to_string())
        }
        ExecutorError::BelowMinimum { field: f, .. } => {
            field(submission::judge0_field(f).unwrap_or("base"), e.to_string())
        }
        ExecutorError::Limits(l) => {
            let name = match l {
                monaco_executor::LimitsError::Zero { field } => field,
                monaco_executor::LimitsError::AboveMaximum { field, .. } => field,
            };
            field(
                submission::judge0_field(name).unwrap_or("base"),
                e.to_string(),
            )
        }
        _ => field("base", e.to_string()),
    }
}

/// The Judge0 side of each submission made here: what it was asked with
/// that Monaco's result does not keep. Entries go when Monaco forgets the
/// execution.
#[derive(Debug, Default)]
pub(crate) struct Submissions {
    asked: Mutex<HashMap<ExecutionId, Asked>>,
}

impl Submissions {
    async fn insert<S: Sandbox>(&self, state: &AppState<S>, id: ExecutionId, asked: Asked) {
        // Forget what Monaco has forgotten, now and then.
        let known: Vec<ExecutionId> = {
            let map = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() >= 1024 && map.len().is_power_of_two() {
                map.keys().copied().collect()
            } else {
                Vec::new()
            }
        };
        let mut gone = Vec::new();
        for known in known {
            // Kept when the store cannot say (a broker down).
            if let Ok(None) = state.executor.status(known).await {
                gone.push(known);
            }
        }
        let mut map = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        for gone in gone {
            map.remove(&gone);
        }
        map.insert(id, asked);
    }

    fn get(&self, id: ExecutionId) -> Option<Asked> {
        let map = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id).cloned()
    }
}

/// The secret a client presented: `X-Auth-Token`, as a header or in the
/// query string (where judge0api puts it).
fn presented_token(req: &HttpRequest) -> Option<String> {
    if let Some(v) = req.headers().get("X-Auth-Token") {
        return v.to_str().ok().map(str::to_string);
    }
    query(req).remove("X-Auth-Token")
}

/// Who calls the Judge0 routes. With no API keys configured the API is
/// open, as Judge0's own default is: every request is accepted, with or
/// without `X-Auth-Token`. With keys, `X-Auth-Token` (header or query) is
/// the key, or Monaco's own `Authorization: Bearer` / `X-Api-Key`; none is
/// `401 auth.missing`, a wrong one `401 auth.invalid` (as `{"error"}`).
fn authorize(req: &HttpRequest) -> Result<Caller, Judge0Error> {
    let Some(tenancy) = req.app_data::<Arc<Tenancy>>() else {
        return Ok(Caller::default());
    };
    if !tenancy.has_keys() {
        return Ok(Caller::default());
    }
    let key = match presented_token(req) {
        Some(token) => tenancy.authenticate(Some(&token)),
        None => tenancy.authenticate_headers(req.headers()),
    }
    .map_err(api_refusal)?;
    Ok(Caller { key })
}

/// A refusal of Monaco's own (authentication, quotas) in Judge0's shape.
fn api_refusal(e: ApiError) -> Judge0Error {
    Judge0Error::message(e.status_code(), e.to_string())
}

/// The query string as a map (the last value of a repeated key wins).
fn query(req: &HttpRequest) -> HashMap<String, String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect()
}

/// A `true`/`false` query flag; anything else is `false`, as in Judge0.
fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v == "true")
}

async fn authenticate(req: HttpRequest) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    Ok(HttpResponse::Ok().json(json!({})))
}

async fn languages<S: Sandbox>(
    req: HttpRequest,
    state: web::Data<AppState<S>>,
) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    let mut list = Vec::new();
    for lang in state.executor.languages() {
        for id in &lang.compat().judge0 {
            list.push(json!({ "id": id, "name": submission::language_name(lang) }));
        }
    }
    Ok(HttpResponse::Ok().json(list))
}

async fn language<S: Sandbox>(
    req: HttpRequest,
    state: web::Data<AppState<S>>,
    id: web::Path<String>,
) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    let lang = id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.executor.registry().judge0(id))
        .ok_or_else(Judge0Error::not_found)?;
    let file = lang.source_file_name(lang.hello());
    Ok(HttpResponse::Ok().json(json!({
        "id": id.parse::<u32>().unwrap_or_default(),
        "name": submission::language_name(lang),
        "is_archived": false,
        "source_file": file,
        "compile_cmd": lang.compile_argv(&file).map(|argv| argv.join(" ")),
        "run_cmd": lang.run_argv(&file, &[]).join(" "),
    })))
}

async fn statuses(req: HttpRequest) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    let list: Vec<Value> = submission::STATUSES
        .iter()
        .map(|(id, description)| json!({ "id": id, "description": description }))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

async fn about(req: HttpRequest) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    // The SDK reads `version` to choose its table of language ids.
    Ok(HttpResponse::Ok().json(json!({
        "version": "1.13.1",
        "homepage": "/api/openapi.json",
        "source_code": "/api/openapi.json",
        "maintainer": "Monaco",
    })))
}

async fn config_info<S: Sandbox>(
    req: HttpRequest,
    state: web::Data<AppState<S>>,
) -> Result<HttpResponse, Judge0Error> {
    authorize(&req)?;
    let (defaults, max) = state.executor.limits();
    let s = |ms: u64| ms as f64 / 1000.0;
    let compile_options: Vec<String> = Vec::new();
    // Every key of Judge0's configuration, with the JSON types its SDK's
    // model requires; what Monaco does not support is off.
    Ok(HttpResponse::Ok().json(json!({
        "maintenance_mode": false,
        "enable_wait_result": true,
        "enable_compiler_options": false,
        "allowed_languages_for_compile_options": compile_options,
        "enable_command_line_arguments": true,
        "enable_submission_delete": false,
        "enable_callbacks": false,
        "callbacks_max_tries": 0,
        "callbacks_timeout": 0.0,
        "enable_additional_files": false,
        "max_queue_size": state.config.queue_capacity,
        "cpu_time_limit": s(defaults.run.cpu_ms),
        "max_cpu_time_limit": s(max.run.cpu_ms),
        "cpu_extra_time": 0.0,
        "max_cpu_extra_time": 0.0,
        "wall_time_limit": s(defaults.run.wall_ms),
        "max_wall_time_limit": s(max.run.wall_ms),
        "memory_limit": defaults.run.memory_bytes / 1024,
        "max_memory_limit": max.run.memory_bytes / 1024,
        "stack_limit": 0,
        "max_stack_limit": 0,
        "max_processes_and_or_threads": defaults.run.processes,
        "max_max_processes_and_or_threads": max.run.processes,
        "enable_per_process_and_thread_time_limit": false,
        "allow_enable_per_process_and_thread_time_limit": false,
        "enable_per_process_and_thread_memory_limit": false,
        "allow_enable_per_process_and_thread_memory_limit": false,
        "max_file_size": defaults.run.file_size_bytes / 1024,
        "max_max_file_size": max.run.file_size_bytes / 1024,
        "number_of_runs": 1,
        "max_number_of_runs": 1,
        "redirect_stderr_to_stdout": false,
        "max_extract_size": 0,
        "enable_batched_submissions": true,
        "max_submission_batch_size": state.config.max_batch,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": false,
        "allow_enable_network": false,
        "enable_network": false,
    })))
}

/// Reads the body as one JSON object.
async fn object<S: Sandbox>(
    state: &AppState<S>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Map<String, Value>, Judge0Error> {
    crate::check_content_type(req)?;
    let body = crate::read_body(state, req, payload).await?;
    if crate::too_deep(&body) {
        return Err(Judge0Error::message(
            StatusCode::BAD_REQUEST,
            "the body is nested too deeply",
        ));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Judge0Error::message(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(e) => Err(Judge0Error::message(
            StatusCode::BAD_REQUEST,
            format!("Malformed JSON: {e}"),
        )),
    }
}

fn read<S: Sandbox>(
    state: &AppState<S>,
    body: &Map<String, Value>,
    base64: bool,
) -> Result<submission::Submission, FieldErrors> {
    let (defaults, max) = state.executor.limits();
    submission::read(body, base64, state.executor.registry(), &defaults, &max)
}

async fn create<S: Sandbox>(
    state: web::Data<AppState<S>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Judge0Error> {
    let caller = authorize(&req)?;
    let query = query(&req);
    let base64 = flag(&query, "base64_encoded");
    let fields = submission::fields(query.get("fields").map(String::as_str))?;
    let body = object(&state, &req, payload).await?;
    let sub = read(&state, &body, base64).map_err(Judge0Error::Fields)?;
    // The key's quotas apply; the executor's own refusals keep their
    // Judge0 shape.
    let submitted = state
        .tenancy()
        .admit(&state.executor, &caller, &req, 1, async |by| {
            Ok(match state.executor.submit_as(sub.request, by).await {
                Ok(id) => (Ok(id), vec![id]),
                Err(e) => (Err(e), Vec::new()),
            })
        })
        .await
        .map_err(api_refusal)?;
    let id = submitted.map_err(refusal)?;
    state.count_key_executions(&caller, 1);
    state.judge0.insert(&state, id, sub.asked.clone()).await;
    if !flag(&query, "wait") {
        return Ok(HttpResponse::Created().json(json!({ "token": id.to_string() })));
    }
    let snapshot = state
        .executor
        .wait(id)
        .await
        .map_err(|_| Judge0Error::not_found())?;
    let registry = state.executor.registry();
    let object = submission::render(&snapshot, &sub.asked, registry, &fields, base64)?;
    Ok(HttpResponse::Created().json(object))
}

/// What was asked of submission `id`; for one made elsewhere (`/api`),
/// what its language and input say.
fn asked_of<S: Sandbox>(
    state: &AppState<S>,
    snapshot: &monaco_executor::ExecutionSnapshot,
) -> Asked {
    state.judge0.get(snapshot.id).unwrap_or_else(|| {
        let registry = state.executor.registry();
        let lang = registry.get(&snapshot.meta.language);
        let (defaults, _) = state.executor.limits();
        let limits = lang.map_or(defaults, |l| defaults.with(l.limits()));
        Asked {
            language_id: lang
                .and_then(|l| l.compat().judge0.first().copied())
                .unwrap_or_default(),
            stdin: Some(snapshot.meta.input.clone().into_bytes()).filter(|s| !s.is_empty()),
            expected_output: None,
            command_line_arguments: None,
            cpu_time_limit: limits.run.cpu_ms as f64 / 1000.0,
            wall_time_limit: limits.run.wall_ms as f64 / 1000.0,
            memory_limit: limits.run.memory_bytes / 1024,
            max_file_size: limits.run.file_size_bytes / 1024,
            max_processes_and_or_threads: limits.run.processes,
        }
    })
}

async fn get<S: Sandbox>(
    state: web::Data<AppState<S>>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, Judge0Error> {
    let caller = authorize(&req)?;
    let query = query(&req);
    let base64 = flag(&query, "base64_encoded");
    let fields = submission::fields(query.get("fields").map(String::as_str))?;
    let id = token
        .parse::<ExecutionId>()
        .map_err(|_| Judge0Error::not_found())?;
    // Another key's submission is as unknown as a missing one.
    if !caller.may_see(state.executor.owner(id).await.map_err(refusal)?) {
        return Err(Judge0Error::not_found());
    }
    let snapshot = state
        .executor
        .result(id)
        .await
        .map_err(refusal)?
        .ok_or_else(Judge0Error::not_found)?;
    let asked = asked_of(&state, &snapshot);
    let object = submission::render(
        &snapshot,
        &asked,
        state.executor.registry(),
        &fields,
        base64,
    )?;
    Ok(HttpResponse::Ok().json(object))
}

async fn batch_get<S: Sandbox>(
    state: web::Data<AppState<S>>,
    req: HttpRequest,
) -> Result<HttpResponse, Judge0Error> {
    let caller = authorize(&req)?;
    let query = query(&req);
    let base64 = flag(&query, "base64_encoded");
    let fields = submission::fields(query.get("fields").map(String::as_str))?;
    let tokens = query.get("tokens").map(String::as_str).unwrap_or_default();
    let snapshots =
        crate::batch::snapshots(&state.executor, &caller, tokens, state.config.max_batch).await?;
    let mut list = Vec::with_capacity(snapshots.len());
    for snapshot in snapshots {
        list.push(match snapshot {
            Some(s) => {
                let asked = asked_of(&state, &s);
                submission::render(&s, &asked, state.executor.registry(), &fields, base64)?
            }
            None => Value::Null,
        });
    }
    Ok(HttpResponse::Ok().json(json!({ "submissions": list })))
}

/// `POST /submissions/batch`: each valid submission is queued (together,
/// through the executor's batch); each invalid one gets its errors in its
/// place, as Judge0 answers.
async fn batch_create<S: Sandbox>(
    state: web::Data<AppState<S>>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Judge0Error> {
    let caller = authorize(&req)?;
    let query = query(&req);
    let base64 = flag(&query, "base64_encoded");
    let body = object(&state, &req, payload).await?;
    let Some(Value::Array(items)) = body.get("submissions") else {
        let mut errors = FieldErrors::new();
        errors.insert("submissions".into(), json!(["must be an array"]));
        return Err(Judge0Error::Fields(errors));
    };
    let max = state.config.max_batch;
    if items.is_empty() || items.len() > max {
        return Err(Judge0Error::message(
            StatusCode::BAD_REQUEST,
            format!(
                "number of submissions in a batch should be between 1 and {max}, not {}",
                items.len()
            ),
        ));
    }
    let mut answers: Vec<Value> = vec![Value::Null; items.len()];
    let mut valid = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let parsed = match item {
            Value::Object(map) => read(&state, map, base64),
            _ => {
                let mut errors = FieldErrors::new();
                errors.insert("base".into(), json!(["must be a JSON object"]));
                Err(errors)
            }
        };
        match parsed {
            Ok(sub) => valid.push((index, sub)),
            Err(errors) => answers[index] = Value::Object(errors),
        }
    }
    // The executor refuses a batch with an invalid item whole: answer that
    // item's errors and queue the others. The key's quotas count the batch
    // once, as its number of valid submissions.
    let count = valid.len();
    let refused = state
        .tenancy()
        .admit(&state.executor, &caller, &req, count, async |by| {
            let mut queued = Vec::new();
            while !valid.is_empty() {
                let requests = valid.iter().map(|(_, s)| s.request.clone()).collect();
                match state.executor.submit_batch_as(requests, by).await {
                    Ok(ids) => {
                        for ((index, sub), id) in valid.iter().zip(&ids) {
                            state.judge0.insert(&state, *id, sub.asked.clone()).await;
                            answers[*index] = json!({ "token": id.to_string() });
                        }
                        queued = ids;
                        break;
                    }
                    Err(BatchError::Invalid { index, source }) => {
                        let (item, _) = valid.remove(index);
                        answers[item] = match refusal(source) {
                            Judge0Error::Fields(errors) => Value::Object(errors),
                            other => json!({ "base": [other.to_string()] }),
                        };
                    }
                    Err(BatchError::Refused(e)) => return Ok((Some(e), Vec::new())),
                }
            }
            Ok((None, queued))
        })
        .await
        .map_err(api_refusal)?;
    if let Some(e) = refused {
        return Err(refusal(e));
    }
    state.count_key_executions(
        &caller,
        answers.iter().filter(|a| a.get("token").is_some()).count(),
    );
    Ok(HttpResponse::Created().json(answers))
}
