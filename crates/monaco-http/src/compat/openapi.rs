//! The compatible APIs in `/api/openapi.json`: their paths, with the
//! shapes their clients read. They follow the other services' formats, not
//! Monaco's (errors `{"message"}` for Piston, `{"error"}` or
//! `{"field": [messages]}` for Judge0), so they are tagged apart.

use serde_json::{json, Map, Value};

use super::CompatApis;

/// The paths of the compatible APIs that are on.
pub(crate) fn paths(apis: CompatApis, max_batch: usize) -> Map<String, Value> {
    let mut paths = Map::new();
    let object = json!({"type": "object"});
    let ok = |what: &str, schema: Value| json!({"description": what, "content": {"application/json": {"schema": schema}}});
    if apis.piston {
        let message = ok(
            "Piston's error: {message}",
            json!({"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}),
        );
        let stage = json!({"type": "object", "properties": {
            "stdout": {"type": "string"}, "stderr": {"type": "string"}, "output": {"type": "string"},
            "code": {"type": "integer", "nullable": true}, "signal": {"type": "string", "nullable": true},
            "message": {"type": "string", "nullable": true},
            "status": {"type": "string", "nullable": true, "enum": ["RE", "SG", "TO", "OL", "XX", null]},
            "cpu_time": {"type": "integer", "nullable": true}, "wall_time": {"type": "integer", "nullable": true},
            "memory": {"type": "integer", "nullable": true}}});
        paths.insert("/api/v2/runtimes".into(), json!({"get": {
            "operationId": "pistonRuntimes", "tags": ["Piston v2"],
            "summary": "Piston: the runtimes (languages.toml's [language.compat] names)",
            "responses": {"200": ok("Runtimes", json!({"type": "array", "items": {"type": "object",
                "required": ["language", "version", "aliases"], "properties": {
                "language": {"type": "string"}, "version": {"type": "string"},
                "aliases": {"type": "array", "items": {"type": "string"}}, "runtime": {"type": "string"}}}}))}
        }}));
        paths.insert("/api/v2/execute".into(), json!({"post": {
            "operationId": "pistonExecute", "tags": ["Piston v2"],
            "summary": "Piston: run a job and wait for it",
            "description": "Piston v2's body: language (name or alias), version (semver range; missing = any), files [{name?, content, encoding?}] (the first is the main file), stdin? (a newline is added when missing; never interactive), args?, run_timeout/compile_timeout and run_cpu_time/compile_cpu_time (ms), run_memory_limit/compile_memory_limit (bytes); -1 or 0 = the default. JSON, text/plain read as JSON, or a form (each `files` value a file's content).",
            "requestBody": {"required": true, "content": {
                "application/json": {"schema": object}, "text/plain": {"schema": {"type": "string"}},
                "application/x-www-form-urlencoded": {"schema": object}}},
            "responses": {"200": ok("The stages: compile (compiled languages only) and run (a copy of compile when it failed)",
                json!({"type": "object", "required": ["language", "version", "run"], "properties": {
                    "language": {"type": "string"}, "version": {"type": "string"}, "run": stage, "compile": stage}})),
                "400": message, "413": message, "415": message, "500": message, "503": message}
        }}));
        paths.insert("/api/v2/connect".into(), json!({"get": {
            "operationId": "pistonConnect", "tags": ["Piston v2"],
            "summary": "Piston: WebSocket job (init, data, signal → runtime, stage, data, exit)",
            "description": "Upgrade to a WebSocket. Send {type:init, …execute's fields} within 1 s, then {type:data, stream:stdin, data} and {type:signal, signal}. The server sends runtime, stage, data and exit frames, then closes with 4999. Close codes: 4000 second init, 4001 no init in time, 4002 after an error frame, 4003 data or signal before init, 4004 a stream other than stdin, 4005 an unknown signal.",
            "responses": {"101": {"description": "Switching protocols"}, "400": message}
        }}));
    }
    if apis.judge0 {
        let error = ok(
            "Judge0's error: {error}",
            json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}),
        );
        let invalid = ok(
            "Judge0's field errors: {field: [message]}",
            json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}),
        );
        let query = |name: &str, what: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": what});
        let b64 = query("base64_encoded", "`true`: text fields (source_code, stdin, expected_output, stdout, stderr, compile_output, message) are base64");
        let fields = query("fields", "comma-separated fields, `*` for all");
        let submission =
            json!({"type": "object", "description": "A Judge0 submission: the fields asked for"});
        let token = json!({"name": "token", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
        let info = |op: &str, summary: &str| {
            json!({"get": {"operationId": op, "tags": ["Judge0 CE"], "summary": summary,
            "responses": {"200": ok(summary, json!({})), "401": error}}})
        };
        paths.insert(
            "/languages".into(),
            info(
                "judge0Languages",
                "Judge0: languages [{id, name}] (languages.toml's [language.compat] judge0 ids)",
            ),
        );
        paths.insert("/languages/{id}".into(), json!({"get": {"operationId": "judge0Language", "tags": ["Judge0 CE"],
            "summary": "Judge0: one language", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
            "responses": {"200": ok("The language", object.clone()), "404": error}}}));
        paths.insert(
            "/statuses".into(),
            info("judge0Statuses", "Judge0: the 14 statuses"),
        );
        paths.insert(
            "/about".into(),
            info("judge0About", "Judge0: version 1.13.1"),
        );
        paths.insert(
            "/config_info".into(),
            info(
                "judge0ConfigInfo",
                "Judge0: configuration; unsupported features are off",
            ),
        );
        paths.insert("/submissions".into(), json!({"post": {"operationId": "judge0Submit", "tags": ["Judge0 CE"],
            "summary": "Judge0: create a submission (`wait=true`: run it and answer it)",
            "description": "Fields: source_code, language_id, stdin, expected_output (Accepted or Wrong Answer, compared as Judge0 does), cpu_time_limit, wall_time_limit (s), memory_limit, max_file_size (KB), max_processes_and_or_threads, command_line_arguments. Fields Monaco does not support (stack_limit, cpu_extra_time, number_of_runs other than 1, the per-process limits, redirect_stderr_to_stdout, enable_network, compiler_options, callback_url, additional_files) are refused with 422 unless off.",
            "parameters": [b64, query("wait", "`true`: answer the finished submission"), fields],
            "requestBody": {"required": true, "content": {"application/json": {"schema": object}}},
            "responses": {"201": ok("{token}, or with wait=true the submission", submission.clone()), "400": error, "413": error, "415": error, "422": invalid, "503": error}}}));
        paths.insert("/submissions/batch".into(), json!({
            "post": {"operationId": "judge0SubmitBatch", "tags": ["Judge0 CE"],
                "summary": format!("Judge0: create up to {max_batch} submissions; each answer is {{token}} or its field errors"),
                "parameters": [b64],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["submissions"], "properties": {"submissions": {"type": "array", "items": object}}}}}},
                "responses": {"201": ok("In order", json!({"type": "array", "items": object})), "400": error, "413": error, "415": error, "422": invalid, "503": error}},
            "get": {"operationId": "judge0GetBatch", "tags": ["Judge0 CE"], "summary": "Judge0: submissions by token",
                "parameters": [query("tokens", "comma-separated tokens"), b64, fields],
                "responses": {"200": ok("{submissions: [submission or null]}", object.clone()), "400": error}}}));
        paths.insert(
            "/submissions/{token}".into(),
            json!({"get": {"operationId": "judge0Get", "tags": ["Judge0 CE"],
            "summary": "Judge0: one submission", "parameters": [token, b64, fields],
            "responses": {"200": ok("The submission", submission), "400": error, "404": error}}}),
        );
        for (path, op) in [
            ("/authenticate", "judge0Authenticate"),
            ("/authorize", "judge0Authorize"),
        ] {
            paths.insert(path.into(), json!({"post": {"operationId": op, "tags": ["Judge0 CE"],
                "summary": "Judge0: check X-Auth-Token / X-Auth-User (header or query); open without API keys",
                "responses": {"200": ok("Accepted", object.clone()), "401": error}}}));
        }
    }
    paths
}
