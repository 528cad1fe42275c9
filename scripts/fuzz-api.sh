#!/usr/bin/env bash
# Fuzzes Monaco's HTTP API from its own OpenAPI document with schemathesis:
# a fresh server on an ephemeral loopback port, generated valid and invalid
# requests against every operation but the WebSocket, then SIGTERM — the
# server must exit 0 and leave no container behind.
#
#   scripts/fuzz-api.sh                   # what scripts/test.sh runs
#   MONACO_FUZZ_EXAMPLES=200 scripts/fuzz-api.sh   # longer
#   MONACO_FUZZ_SEED=random scripts/fuzz-api.sh    # new data each run
#
# Needs the built server (`cargo build -p monaco-server`), Docker with the
# runner images (scripts/setup.sh) and python3 (installed from Debian's
# packages when missing). schemathesis comes from PyPI, pinned, into a venv
# under target/.
#
# Checks, chosen deliberately:
#   not_a_server_error            no 5xx, ever
#   status_code_conformance       every status is one the document lists
#   content_type_conformance      every response is the documented media type
#   response_schema_conformance   every body matches its schema (errors too)
#   response_headers_conformance  documented headers are there (Retry-After)
#   negative_data_rejection       what the document calls invalid is refused
#                                 (4xx; 413 is a refusal too)
#   unsupported_method            other methods get 405 with Allow
#   allow_header_conformance      OPTIONS' Allow lists the documented methods
#   ensure_resource_availability  an id just returned can be read at once
# Left out:
#   positive_data_acceptance      what JSON Schema cannot say is refused too:
#                                 a file name used twice, or below another
#                                 file's name, or the main file's; sizes in
#                                 bytes where the schema counts characters
#   use_after_free                DELETE cancels an execution; its result
#                                 stays readable by design (for the TTL)
#   the Piston and Judge0 routes  they keep those services' formats (bodies
#                                 they ignore, their own errors), so they are
#                                 proved with their real clients instead:
#                                 scripts/test-compat.sh
#   missing_required_header, ignored_auth, object_level_authorization:
#                                 no auth, no required headers: nothing to do
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
examples="${MONACO_FUZZ_EXAMPLES:-50}"
seed="${MONACO_FUZZ_SEED:-20261126}"
venv="$PWD/target/fuzz-venv"
server_bin="${MONACO_SERVER_BIN:-$PWD/target/debug/monaco-server}"
instance="fuzz-$$"
log() { printf '[fuzz-api] %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_venv() {
    if [ -x "$venv/bin/schemathesis" ] &&
        "$venv/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
        return
    fi
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
        log "installing Debian's python3 and python3-venv"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv >/dev/null
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 makes venvs only with python3-venv (ensurepip).
        log "installing Debian's python3-venv"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-venv >/dev/null
        rm -rf "$venv"
        python3 -m venv "$venv"
    fi
    log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}


ensure_venv
require_server

run_dir="$PWD/target/fuzz-api"
rm -rf "$run_dir"
mkdir -p "$run_dir"
server_log="$run_dir/server.log"
# Short limits keep generated executions quick; a deep queue keeps a
# burst of accepted submissions from ever meeting `queue.full` (a 503).
start_server DEFAULT_TIMEOUT=2 MONACO_MAX_TIMEOUT=5 \
    CONCURRENT_EXECUTIONS=2 QUEUE_CAPACITY=2000 MONACO_POOL_SIZE=0

cat >"$run_dir/schemathesis.toml" <<'EOF'
[checks.negative_data_rejection]
expected-statuses = ["400", "404", "405", "413", "415"]
EOF

seed_args=(--seed "$seed")
[ "$seed" = random ] && seed_args=()
started=$SECONDS
fuzz_status=0
(
    cd "$run_dir"
    "$venv/bin/schemathesis" --no-color --config-file schemathesis.toml run \
        "http://127.0.0.1:$port/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,unsupported_method,allow_header_conformance,ensure_resource_availability \
        --exclude-path-regex '^/api/ws/|^/api/v2/|^/(languages|statuses|about|config_info|submissions|authenticate|authorize)' \
        --max-examples "$examples" \
        "${seed_args[@]}" \
        --workers 2 \
        --request-timeout 90 \
        --suppress-health-check too_slow \
        --report junit --report-dir "$run_dir"
) || fuzz_status=$?
log "schemathesis finished in $((SECONDS - started)) s with status $fuzz_status"

failed=0
server_ended_cleanly || failed=1
if [ "$fuzz_status" -ne 0 ]; then
    log "FAIL: schemathesis found problems (above; report in $run_dir)"
    failed=1
fi
[ "$failed" -eq 0 ] || exit 1
log "passed: no 5xx, responses as documented, server stopped cleanly, no container left"
