//! The OpenAPI 3 document served at `/api/openapi.json`, written by hand so
//! that it says exactly what the handlers accept and return.

use serde_json::{json, Value};

/// The whole document.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/responses/Error"});
    let id_param = json!({
        "name": "id", "in": "path", "required": true,
        "schema": {"type": "string", "format": "uuid"}
    });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Monaco",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Runs code in hardened sandboxes; streams output; takes input."
        },
        "paths": {
            "/api/submit": {"post": {
                "summary": "Queue an execution",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
                "responses": {
                    "202": {"description": "Accepted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitResponse"}}}},
                    "400": error, "413": error, "503": error
                }
            }},
            "/api/execute": {"post": {
                "summary": "Run an execution and wait for its result",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}}},
                "responses": {
                    "200": {"description": "The result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                    "400": error, "413": error, "503": error
                }
            }},
            "/api/status/{id}": {"get": {
                "summary": "An execution's status",
                "parameters": [id_param],
                "responses": {
                    "200": {"description": "Status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatusResponse"}}}},
                    "404": error
                }
            }},
            "/api/result/{id}": {"get": {
                "summary": "An execution's result (so far)",
                "parameters": [id_param],
                "responses": {
                    "200": {"description": "Result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                    "404": error
                }
            }},
            "/api/executions/{id}": {
                "get": {
                    "summary": "An execution's result (so far)",
                    "parameters": [id_param],
                    "responses": {
                        "200": {"description": "Result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                        "404": error
                    }
                },
                "delete": {
                    "summary": "Cancel a queued or running execution",
                    "parameters": [id_param],
                    "responses": {
                        "202": {"description": "Cancelling", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StatusResponse"}}}},
                        "404": error, "409": error
                    }
                }
            },
            "/api/languages": {"get": {
                "summary": "The languages Monaco runs",
                "responses": {"200": {"description": "Languages", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Language"}}}}}}
            }},
            "/api/health": {"get": {
                "summary": "Whether Docker answers, and the queue depth",
                "responses": {
                    "200": {"description": "Healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "Docker is down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                }
            }},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}
            }},
            "/api/ws/terminal/{id}": {"get": {
                "summary": "WebSocket terminal: replayed then live events; send input",
                "description": "Upgrade to a WebSocket. Server frames {type, content} with types output, input_prompt, status, error, system. Client frames: raw text or {type:input, content} (a line), {type:stdin, content|base64}, binary frames (exact bytes), {type:eof}, {type:kill}.",
                "parameters": [id_param, {"name": "from", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"101": {"description": "Switching protocols"}, "400": error, "404": error}
            }}
        },
        "components": {
            "responses": {
                "Error": {"description": "An error with a stable code", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "example": "language.unknown"},
                        "message": {"type": "string"},
                        "known": {"type": "array", "items": {"type": "string"}}
                    }}}
                },
                "SubmitRequest": {
                    "type": "object", "additionalProperties": false,
                    "required": ["language", "code"],
                    "properties": {
                        "language": {"type": "string", "example": "python"},
                        "code": {"type": "string", "example": "print('Hello, World!')"},
                        "input": {"type": "string"},
                        "inputBase64": {"type": "string", "format": "byte"},
                        "interactive": {"type": "boolean"},
                        "files": {"type": "array", "items": {"type": "object", "additionalProperties": false, "required": ["name", "content"], "properties": {"name": {"type": "string"}, "content": {"type": "string"}}}},
                        "args": {"type": "array", "items": {"type": "string"}},
                        "timeout": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 86400},
                        "limits": {"$ref": "#/components/schemas/Limits"}
                    }
                },
                "Limits": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "wall_ms": {"type": "integer", "minimum": 1},
                        "cpu_ms": {"type": "integer", "minimum": 1},
                        "memory_bytes": {"type": "integer", "minimum": 1},
                        "processes": {"type": "integer", "minimum": 1},
                        "output_bytes": {"type": "integer", "minimum": 1},
                        "file_size_bytes": {"type": "integer", "minimum": 1},
                        "open_files": {"type": "integer", "minimum": 1},
                        "compile_wall_ms": {"type": "integer", "minimum": 1},
                        "compile_cpu_ms": {"type": "integer", "minimum": 1},
                        "compile_memory_bytes": {"type": "integer", "minimum": 1},
                        "tmp_bytes": {"type": "integer", "minimum": 1}
                    }
                },
                "Status": {"type": "string", "enum": ["queued", "running", "completed", "failed"]},
                "Verdict": {"type": "string", "nullable": true, "enum": ["ok", "compile_error", "runtime_error", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded", "cancelled", "internal_error", null]},
                "SubmitResponse": {"type": "object", "required": ["id", "status", "message"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"}, "message": {"type": "string"}
                }},
                "StatusResponse": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"}
                }},
                "Step": {"type": "object", "nullable": true, "properties": {
                    "verdict": {"$ref": "#/components/schemas/Verdict"},
                    "exitCode": {"type": "integer", "nullable": true},
                    "signal": {"type": "integer", "nullable": true},
                    "wallMs": {"type": "integer"}, "cpuMs": {"type": "integer"},
                    "memoryBytes": {"type": "integer"}, "truncated": {"type": "boolean"}
                }},
                "Result": {"type": "object", "required": ["id", "status", "language", "code", "queuedAt"], "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "code": {"type": "string"}, "language": {"type": "string"}, "input": {"type": "string"},
                    "status": {"$ref": "#/components/schemas/Status"},
                    "queuedAt": {"type": "string", "format": "date-time"},
                    "startedAt": {"type": "string", "format": "date-time", "nullable": true},
                    "completedAt": {"type": "string", "format": "date-time", "nullable": true},
                    "output": {"type": "string"},
                    "memory": {"type": "integer", "nullable": true, "description": "peak memory of the run step, bytes"},
                    "cpu": {"type": "integer", "nullable": true, "description": "CPU time of the run step, ms"},
                    "executionTime": {"type": "integer", "nullable": true, "description": "wall time of the run step, ms"},
                    "verdict": {"$ref": "#/components/schemas/Verdict"},
                    "stdout": {"type": "string"}, "stderr": {"type": "string"}, "compileOutput": {"type": "string"},
                    "stdoutBase64": {"type": "string", "format": "byte"}, "stderrBase64": {"type": "string", "format": "byte"},
                    "exitCode": {"type": "integer", "nullable": true},
                    "signal": {"type": "integer", "nullable": true},
                    "truncated": {"type": "boolean"},
                    "compile": {"$ref": "#/components/schemas/Step"},
                    "run": {"$ref": "#/components/schemas/Step"},
                    "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
                }},
                "Language": {"type": "object", "required": ["id", "name", "version", "aliases", "compiled", "helloWorld"], "properties": {
                    "id": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string"}},
                    "compiled": {"type": "boolean"}, "helloWorld": {"type": "string"}
                }},
                "Health": {"type": "object", "required": ["status", "docker", "queueDepth", "running"], "properties": {
                    "status": {"type": "string", "enum": ["ok", "degraded"]},
                    "docker": {"type": "boolean"}, "queueDepth": {"type": "integer"}, "running": {"type": "integer"}
                }}
            }
        }
    })
}
