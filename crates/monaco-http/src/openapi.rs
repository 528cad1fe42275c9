//! The OpenAPI 3 document served at `/api/openapi.json`, written by hand so
//! that it says exactly what the handlers accept and return. The parts that
//! depend on the server (its languages, its limits) are filled in from the
//! running executor, so that a request the document calls valid is one the
//! server accepts, and one it calls invalid is refused (schemathesis checks
//! both: `scripts/fuzz-api.sh`). What JSON Schema cannot say (byte lengths,
//! file names used twice) is in the descriptions.

use monaco_executor::{
    Executor, LimitField, Limits, MAX_ARGS, MAX_ARGS_BYTES, MAX_FILE_NAME_BYTES,
    MAX_FILE_NAME_COMPONENTS, MAX_FILE_NAME_COMPONENT_BYTES,
};
use serde_json::{json, Map, Value};

use crate::dto::MAX_TIMEOUT_S;
use crate::ApiConfig;

/// Characters Rust's `char::is_whitespace` accepts: code made only of these
/// is refused as missing (`request.code_missing`).
const WHITESPACE: &str =
    r"\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// The whole document, for this executor and HTTP configuration, with
/// API keys required or not.
pub fn document<S: monaco_executor::Sandbox>(
    executor: &Executor<S>,
    config: &ApiConfig,
    keys: bool,
) -> Value {
    let mut doc = routes(executor, config);
    add_tenancy(&mut doc, keys);
    doc
}

/// The security schemes, the 401s (with keys), the 429s of the routes that
/// submit (rate limits and quotas), and the terminal's `token`.
fn add_tenancy(doc: &mut Value, keys: bool) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    });
    doc["components"]["responses"]["Unauthorized"] = json!({
        "description": "No API key (`auth.missing`) or not a valid one (`auth.invalid`)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    doc["components"]["responses"]["TooManyRequests"] = json!({
        "description": "Over a rate limit (`rate.limited`) or a key's quota (`quota.running`, `quota.queued`); try again after `Retry-After` seconds",
        "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    let token = json!({"type": "string", "description": "Admits a WebSocket to this execution's terminal (`?token=`), for clients that cannot send a key"});
    doc["components"]["schemas"]["SubmitResponse"]["properties"]["terminalToken"] = token.clone();
    doc["components"]["schemas"]["BatchResponse"]["properties"]["submissions"]["items"]
        ["properties"]["terminalToken"] = token;
    for (path, op) in [
        ("/api/submit", "post"),
        ("/api/execute", "post"),
        ("/api/batch", "post"),
    ] {
        doc["paths"][path][op]["responses"]["429"] =
            json!({"$ref": "#/components/responses/TooManyRequests"});
    }
    let terminal = &mut doc["paths"]["/api/ws/terminal/{id}"]["get"];
    if let Some(params) = terminal["parameters"].as_array_mut() {
        params.push(json!({
            "name": "token", "in": "query", "required": false, "schema": {"type": "string"},
            "description": "The execution's `terminalToken`: with API keys, opens the terminal without a key (a wrong one is 401 `auth.invalid`)"
        }));
    }
    if !keys {
        return;
    }
    doc["security"] = json!([{"bearer": []}, {"apiKey": []}]);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            if path == "/api/health" {
                op["security"] = json!([]);
                continue;
            }
            op["responses"]["401"] = json!({"$ref": "#/components/responses/Unauthorized"});
            if path == "/api/ws/terminal/{id}" {
                // Or no key at all, with the execution's token.
                op["security"] = json!([{"bearer": []}, {"apiKey": []}, {}]);
            }
        }
    }
}

/// The routes and schemas, without tenancy.
fn routes<S: monaco_executor::Sandbox>(executor: &Executor<S>, config: &ApiConfig) -> Value {
    let (defaults, max) = executor.limits();
    let error = json!({"$ref": "#/components/responses/Error"});
    let unavailable = json!({"$ref": "#/components/responses/Unavailable"});
    let id_param = json!({
        "name": "id", "in": "path", "required": true,
        "schema": {"type": "string", "format": "uuid"}
    });
    let mut names: Vec<&str> = Vec::new();
    for language in executor.languages() {
        names.push(language.id());
        names.extend(language.aliases().iter().map(String::as_str));
    }
    let language_schema = json!({
        "type": "string",
        "pattern": case_insensitive(&names),
        "example": names.first().copied().unwrap_or("python"),
        "description": format!(
            "A language id or alias, in any letter case (`GET /api/languages`): {}",
            names.join(", ")
        )
    });
    let code_schema = json!({
        "type": "string",
        "pattern": format!("[^{WHITESPACE}]"),
        "maxLength": executor.max_code_bytes(),
        "example": "print('Hello, World!')",
        "description": format!(
            "The main source file; not only white space. With the extra files at most {} \
             bytes of UTF-8 (413 `request.code_too_large`), and the whole body at most {} \
             bytes (413 `request.too_large`).",
            executor.max_code_bytes(),
            config.max_body_bytes
        )
    });
    let component = file_name_component();
    let file_name_schema = json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_FILE_NAME_BYTES,
        "pattern": format!("^{component}(?:/{component}){{0,{}}}$", MAX_FILE_NAME_COMPONENTS - 1),
        "description": format!(
            "A relative path such as `util.py` or `lib/helper.h`: at most {} components of \
             at most {} bytes, {} bytes in all; no `.` or `..` components, no backslash, no \
             control character; not the main file's name, not used twice, not below another \
             file's name (400 `request.invalid_file`).",
            MAX_FILE_NAME_COMPONENTS, MAX_FILE_NAME_COMPONENT_BYTES, MAX_FILE_NAME_BYTES
        )
    });
    // What a client can do with the id it got back.
    let links: Map<String, Value> = ["status", "result", "execution", "cancel"]
        .into_iter()
        .map(|op| {
            let link = json!({"operationId": op, "parameters": {"id": "$response.body#/id"}});
            (op.to_string(), link)
        })
        .collect();
    let timeout_max = MAX_TIMEOUT_S.min(max.run.wall_ms as f64 / 1000.0);
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Monaco",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Runs code in hardened sandboxes; streams output; takes input."
        },
        "paths": {
            "/api/submit": {"post": {
                "operationId": "submit",
                "summary": "Queue an execution",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
                "responses": {
                    "202": {"description": "Accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitResponse"}}}, "links": links},
                    "400": error, "413": error, "415": error, "503": unavailable
                }
            }},
            "/api/execute": {"post": {
                "operationId": "execute",
                "summary": "Run an execution and wait for its result",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
                "responses": {
                    "200": {"description": "The result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}, "links": links},
                    "400": error, "413": error, "415": error, "503": unavailable
                }
            }},
            "/api/batch": {
                "post": {
                    "operationId": "submitBatch",
                    "summary": "Queue many executions, all or none",
                    "description": "Each item is exactly a `/api/submit` body. An invalid item refuses the whole batch (400 `request.invalid` with the item's `index` and its own code as `itemCode`), and so does a queue without room for every item (503 `queue.full`): nothing is queued. The body limit applies to the whole batch.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
                    "responses": {
                        "202": {"description": "Accepted, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResponse"}}}},
                        "400": error, "413": error, "415": error, "503": unavailable
                    }
                },
                "get": {
                    "operationId": "results",
                    "summary": "Many executions' results (so far), in order",
                    "parameters": [{
                        "name": "ids", "in": "query", "required": true,
                        "schema": {"type": "string"},
                        "description": format!(
                            "Execution ids separated by commas, at most {} (400 `request.invalid_query`)",
                            config.max_batch
                        )
                    }],
                    "responses": {
                        "200": {"description": "Each id's result, `null` for an unknown or malformed id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResults"}}}},
                        "400": error
                    }
                }
            },
            "/api/status/{id}": {"get": {
                "operationId": "status",
                "summary": "An execution's status",
                "parameters": [id_param],
                "responses": {
                    "200": {"description": "Status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatusResponse"}}}},
                    "404": error
                }
            }},
            "/api/result/{id}": {"get": {
                "operationId": "result",
                "summary": "An execution's result (so far)",
                "parameters": [id_param],
                "responses": {
                    "200": {"description": "Result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                    "404": error
                }
            }},
            "/api/executions/{id}": {
                "get": {
                    "operationId": "execution",
                    "summary": "An execution's result (so far)",
                    "parameters": [id_param],
                    "responses": {
                        "200": {"description": "Result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                        "404": error
                    }
                },
                "delete": {
                    "operationId": "cancel",
                    "summary": "Cancel a queued or running execution; it stays readable",
                    "parameters": [id_param],
                    "responses": {
                        "202": {"description": "Cancelling", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatusResponse"}}}},
                        "404": error, "409": error
                    }
                }
            },
            "/api/languages": {"get": {
                "operationId": "languages",
                "summary": "The languages Monaco runs",
                "responses": {"200": {"description": "Languages", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Language"}}}}}}
            }},
            "/api/health": {"get": {
                "operationId": "health",
                "summary": "Whether Docker answers, and the queue depth",
                "responses": {
                    "200": {"description": "Healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "Docker is down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                }
            }},
            "/metrics": {"get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (OpenMetrics text); absent with MONACO_METRICS=false",
                "description": "With MONACO_METRICS_TOKEN set, only with `Authorization: Bearer <token>` (else 401 `metrics.unauthorized`).",
                "responses": {
                    "200": {"description": "The exposition", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}},
                    "401": error.clone(),
                    "404": error.clone()
                }
            }},
            "/api/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/api/ws/terminal/{id}": {"get": {
                "operationId": "terminal",
                "summary": "WebSocket terminal: replayed then live events; send input",
                "description": "Upgrade to a WebSocket. Server frames {type, content} with types output, input_prompt, status, error, system. Exactly one final status frame carries the outcome; a limit verdict is announced before it by an error frame (errorType timeout, memory_limit or output_limit); after it a system frame says when the server closes (code 1000) the socket, after the configured linger or at once when the client closes or sends kill. Client frames: raw text or {type:input, content} (a line), {type:stdin, content|base64}, binary frames (exact bytes), {type:eof}, {type:kill}.",
                "parameters": [id_param, {"name": "from", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"101": {"description": "Switching protocols"}, "400": error, "404": error}
            }}
        },
        "components": {
            "responses": {
                "Error": {"description": "An error with a stable code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "Unavailable": {
                    "description": "The queue is full (`queue.full`) or the server is shutting down (`server.shutting_down`); try again later",
                    "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"], "additionalProperties": false,
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "pattern": "^[a-z_]+(\\.[a-z_]+)+$", "example": "language.unknown"},
                        "message": {"type": "string", "minLength": 1},
                        "known": {"type": "array", "items": {"type": "string"}, "description": "with `language.unknown`: the language ids"},
                        "index": {"type": "integer", "minimum": 0, "description": "for a refused batch: the invalid item, from 0"},
                        "itemCode": {"type": "string", "description": "for a refused batch: the invalid item's own code"}
                    }}}
                },
                "SubmitRequest": {
                    "type": "object", "additionalProperties": false,
                    "required": ["language", "code"],
                    "properties": {
                        "language": language_schema,
                        "code": code_schema,
                        "input": {"type": "string", "nullable": true, "description": "Text given to stdin before anything typed."},
                        "inputBase64": {"type": "string", "format": "byte", "nullable": true, "description": "Bytes given to stdin, base64 (instead of `input`)."},
                        "interactive": {"type": "boolean", "nullable": true, "description": "Keep stdin open for a terminal. Default: on `/api/submit` when no input is given; never on `/api/execute`."},
                        "files": {"type": "array", "nullable": true, "uniqueItems": true, "items": {
                            "type": "object", "additionalProperties": false, "required": ["name", "content"],
                            "properties": {"name": file_name_schema, "content": {"type": "string"}}
                        }},
                        "args": {
                            "type": "array", "nullable": true, "maxItems": MAX_ARGS,
                            "items": {"type": "string", "maxLength": MAX_ARGS_BYTES - 1, "pattern": "^[^\\u0000]*$"},
                            "description": format!(
                                "Program arguments, each passed unchanged; no NUL (400 `request.invalid_argument`). \
                                 At most {MAX_ARGS} of them and {MAX_ARGS_BYTES} bytes, counting one more per argument \
                                 (413 `request.args_too_large`)."
                            )
                        },
                        "timeout": {
                            "type": "number", "nullable": true,
                            "exclusiveMinimum": true, "minimum": 0, "maximum": timeout_max,
                            "description": "Run step wall time, seconds (the original service's knob); instead of `limits.wall_ms`."
                        },
                        "limits": limits_schema(&defaults, &max),
                        "tests": {
                            "type": "array", "nullable": true, "maxItems": executor.max_tests(),
                            "items": {"$ref": "#/components/schemas/TestCase"},
                            "description": "Test cases: compiled once, each case run in turn in the same sandbox with the run step's limits, nothing carried over; `limits.total_wall_ms` bounds them all. Not with `interactive`, `input` or `expectedOutput` (400 `request.invalid_tests`)."
                        },
                        "expectedOutput": {"type": "string", "nullable": true, "description": "What a plain run should print on stdout; otherwise `wrong_answer`."},
                        "checker": {"$ref": "#/components/schemas/Checker"},
                        "stopOnFirstFailure": {"type": "boolean", "nullable": true, "description": "Skip the remaining cases once one fails (default false)."},
                        "callbackUrl": {"type": "string", "nullable": true, "maxLength": crate::webhook::MAX_CALLBACK_URL_BYTES, "format": "uri",
                            "description": "An http or https URL (no credentials) that gets a signed `POST` of this execution's result when it ends (header `X-Monaco-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`). 400 `callback.invalid_url`, `callback.forbidden_address` (a non-public address), `callback.unsigned` (no secret configured)."}
                    },
                    "allOf": [
                        {"not": {
                            "required": ["input", "inputBase64"],
                            "properties": {"input": {"type": "string"}, "inputBase64": {"type": "string"}}
                        }},
                        {"not": {
                            "required": ["timeout", "limits"],
                            "properties": {"timeout": {"type": "number"}, "limits": {
                                "type": "object", "required": ["wall_ms"],
                                "properties": {"wall_ms": {"type": "integer"}}
                            }}
                        }}
                    ]
                },
                "TestCase": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "name": {"type": "string", "nullable": true},
                        "input": {"type": "string", "nullable": true},
                        "inputBase64": {"type": "string", "format": "byte", "nullable": true},
                        "expectedOutput": {"type": "string", "nullable": true},
                        "args": {"type": "array", "nullable": true, "maxItems": MAX_ARGS,
                            "items": {"type": "string", "maxLength": MAX_ARGS_BYTES - 1, "pattern": "^[^\\u0000]*$"}}
                    },
                    "not": {
                        "required": ["input", "inputBase64"],
                        "properties": {"input": {"type": "string"}, "inputBase64": {"type": "string"}}
                    }
                },
                "Checker": {
                    "nullable": true,
                    "description": "How outputs are compared with expected ones; default `trim` (trailing whitespace of lines and trailing empty lines ignored).",
                    "oneOf": [
                        {"type": "object", "additionalProperties": false, "required": ["type"],
                         "properties": {"type": {"type": "string", "enum": ["exact", "trim", "tokens"]}}},
                        {"type": "object", "additionalProperties": false, "required": ["type"],
                         "properties": {"type": {"type": "string", "enum": ["float"]},
                            "absTolerance": {"type": "number", "minimum": 0, "nullable": true},
                            "relTolerance": {"type": "number", "minimum": 0, "nullable": true}}},
                        {"type": "object", "additionalProperties": false, "required": ["type", "language", "code"],
                         "description": "A checker program, run in the sandbox with the paths of the input, the expected output and the output; exit 0 accepted, 1 or 2 wrong answer, else `checker.failed`.",
                         "properties": {"type": {"type": "string", "enum": ["program"]},
                            "language": {"type": "string"}, "code": {"type": "string", "minLength": 1}}}
                    ]
                },
                "CaseResult": {"type": "object",
                    "required": ["index", "name", "verdict", "exitCode", "signal", "wallMs", "wallUs", "cpuMs", "memoryBytes",
                        "stdout", "stderr", "truncated", "checkerMessage"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "name": {"type": "string", "nullable": true},
                        "verdict": {"$ref": "#/components/schemas/Verdict"},
                        "exitCode": {"type": "integer", "nullable": true},
                        "signal": {"type": "integer", "nullable": true},
                        "wallMs": {"type": "integer", "minimum": 0},
                        "wallUs": {"type": "integer", "minimum": 0, "description": "The same wall time in microseconds."},
                        "cpuMs": {"type": "integer", "minimum": 0},
                        "memoryBytes": {"type": "integer", "minimum": 0},
                        "stdout": {"type": "string"}, "stderr": {"type": "string"},
                        "stdoutBase64": {"type": "string", "format": "byte"}, "stderrBase64": {"type": "string", "format": "byte"},
                        "truncated": {"type": "boolean"},
                        "checkerMessage": {"type": "string", "nullable": true}
                    }
                },
                "BatchRequest": {
                    "type": "object", "additionalProperties": false, "required": ["submissions"],
                    "properties": {"submissions": {
                        "type": "array", "minItems": 1, "maxItems": config.max_batch,
                        "items": {"$ref": "#/components/schemas/SubmitRequest"}
                    }}
                },
                "BatchResponse": {"type": "object", "required": ["submissions"], "properties": {
                    "submissions": {"type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {
                        "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"}
                    }}}
                }},
                "BatchResults": {"type": "object", "required": ["submissions"], "properties": {
                    "submissions": {"type": "array", "items": {"nullable": true, "allOf": [{"$ref": "#/components/schemas/Result"}]}}
                }},
                "Status": {"type": "string", "enum": ["queued", "running", "completed", "failed"],
                    "description": "Where an execution is: `queued`, `running`, then `completed` exactly when the verdict is `ok` and `failed` for every other verdict (compile error, non-zero exit, signal, limit, wrong answer, cancel, internal error), as the original service reported it; `verdict` says why."},
                "Verdict": {"type": "string", "nullable": true, "enum": ["ok", "wrong_answer", "compile_error", "runtime_error", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded", "cancelled", "internal_error", "skipped", null]},
                "SubmitResponse": {"type": "object", "required": ["id", "status", "message"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"}, "message": {"type": "string"}
                }},
                "StatusResponse": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"}
                }},
                "Step": {"type": "object", "nullable": true,
                    "required": ["verdict", "exitCode", "signal", "wallMs", "wallUs", "cpuMs", "memoryBytes", "truncated"],
                    "properties": {
                        "verdict": {"$ref": "#/components/schemas/Verdict"},
                        "exitCode": {"type": "integer", "nullable": true},
                        "signal": {"type": "integer", "nullable": true},
                        "wallMs": {"type": "integer", "minimum": 0},
                        "wallUs": {"type": "integer", "minimum": 0, "description": "The same wall time in microseconds."},
                        "cpuMs": {"type": "integer", "minimum": 0},
                        "memoryBytes": {"type": "integer", "minimum": 0}, "truncated": {"type": "boolean"}
                    }
                },
                "Result": {"type": "object",
                    "required": ["id", "code", "language", "input", "status", "queuedAt", "startedAt", "completedAt",
                        "output", "memory", "cpu", "executionTime", "verdict", "stdout", "stderr", "compileOutput",
                        "exitCode", "signal", "truncated", "compile", "run"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "code": {"type": "string"}, "language": {"type": "string"}, "input": {"type": "string"},
                        "status": {"$ref": "#/components/schemas/Status"},
                        "queuedAt": {"type": "string", "format": "date-time"},
                        "startedAt": {"type": "string", "format": "date-time", "nullable": true},
                        "completedAt": {"type": "string", "format": "date-time", "nullable": true},
                        "output": {"type": "string"},
                        "memory": {"type": "integer", "minimum": 0, "nullable": true, "description": "peak memory of the run step, bytes"},
                        "cpu": {"type": "integer", "minimum": 0, "nullable": true, "description": "CPU time of the run step, ms"},
                        "executionTime": {"type": "integer", "minimum": 0, "nullable": true, "description": "wall time of the run step, ms"},
                        "verdict": {"$ref": "#/components/schemas/Verdict"},
                        "stdout": {"type": "string"}, "stderr": {"type": "string"}, "compileOutput": {"type": "string"},
                        "stdoutBase64": {"type": "string", "format": "byte", "description": "present when stdout is not UTF-8: its exact bytes"},
                        "stderrBase64": {"type": "string", "format": "byte", "description": "present when stderr is not UTF-8: its exact bytes"},
                        "exitCode": {"type": "integer", "nullable": true},
                        "signal": {"type": "integer", "nullable": true},
                        "truncated": {"type": "boolean"},
                        "compile": {"$ref": "#/components/schemas/Step"},
                        "run": {"$ref": "#/components/schemas/Step"},
                        "tests": {"type": "array", "items": {"$ref": "#/components/schemas/CaseResult"},
                            "description": "with `tests`: each case that ended, in order"},
                        "summary": {"type": "object", "required": ["total", "passed", "failed", "skipped"], "properties": {
                            "total": {"type": "integer"}, "passed": {"type": "integer"},
                            "failed": {"type": "integer"}, "skipped": {"type": "integer"}}},
                        "error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                            "description": "why Monaco could not run it (verdict `cancelled` or `internal_error`)"},
                        "callback": {"$ref": "#/components/schemas/Callback"}
                    }
                },
                "Callback": {"type": "object", "required": ["state", "attempts", "lastStatus", "lastError"],
                    "description": "with a `callbackUrl`: where its delivery is",
                    "properties": {
                        "state": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                        "attempts": {"type": "integer", "minimum": 0},
                        "lastStatus": {"type": "integer", "nullable": true, "description": "the receiver's last HTTP status"},
                        "lastError": {"type": "string", "nullable": true, "description": "why the last attempt failed (timeout, connection refused, forbidden address)"}
                    }
                },
                "Language": {"type": "object", "required": ["id", "name", "version", "aliases", "extensions", "compiled", "helloWorld"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                    "extensions": {"type": "array", "items": {"type": "string"}, "description": "file extensions of its sources, without the dot"},
                    "compiled": {"type": "boolean"}, "helloWorld": {"type": "string"}
                }},
                "Health": {"type": "object", "required": ["status", "docker", "queueDepth", "running"], "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded"]},
                    "docker": {"type": "boolean"}, "broker": {"type": "boolean", "description": "whether the cluster's Redis answers; absent on a single node"}, "queueDepth": {"type": "integer"}, "running": {"type": "integer"}
                }}
            }
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(crate::compat::openapi::paths(
            config.compat,
            config.max_batch,
        ));
    }
    doc
}

/// `^(?:a|b)$` matching any of `names` in any ASCII letter case, as the
/// registry's lookup does.
fn case_insensitive(names: &[&str]) -> String {
    let alternatives: Vec<String> = names
        .iter()
        .map(|name| {
            name.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '#' {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

/// One component of an extra file's name: not `.` or `..`, no `/`, no
/// backslash, no control character, at most 255 characters (the byte limit
/// is in the description: JSON Schema counts characters).
fn file_name_component() -> String {
    const NOT: &str = r"/\\\u0000-\u001f\u007f-\u009f";
    let n = MAX_FILE_NAME_COMPONENT_BYTES;
    format!(
        "(?:[^{NOT}.][^{NOT}]{{0,{}}}|\\.[^{NOT}.][^{NOT}]{{0,{}}}|\\.\\.[^{NOT}]{{1,{}}})",
        n - 1,
        n - 2,
        n - 2
    )
}

/// `limits`: every field of the limits table, optional, each between its
/// minimum and the server's maximum, with the server's default in its
/// description.
fn limits_schema(defaults: &Limits, max: &Limits) -> Value {
    let mut properties = Map::new();
    for field in LimitField::ALL {
        let (min, default, max) = (field.min, field.of(defaults), field.of(max));
        let what = field.doc().trim_end_matches('.');
        let below = if min > 1 {
            format!("; below {min}: 400 `limits.below_minimum`")
        } else {
            String::new()
        };
        properties.insert(
            field.name.to_string(),
            json!({
                "type": "integer", "nullable": true, "minimum": min, "maximum": max,
                "description": format!(
                    "{what}; default {default} (languages may change it). 0: 400 `limits.zero`\
                     {below}; above {max}: 400 `limits.above_maximum`"
                )
            }),
        );
    }
    json!({
        "type": "object", "nullable": true, "additionalProperties": false,
        "properties": properties,
        "description": "Limits within the server's maximums; a field left out keeps the language's value"
    })
}
