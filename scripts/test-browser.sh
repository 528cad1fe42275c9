#!/usr/bin/env bash
# The playground page in a real browser: Debian's Chromium, driven headless
# by playwright-core (npm, pinned in web/e2e's lockfile; no browser is
# downloaded), against a fresh server on an ephemeral loopback port that
# runs every program in real containers. Then SIGTERM: the server must exit
# 0 and leave no container behind.
#
#   scripts/test-browser.sh                  # what scripts/test.sh runs
#   MONACO_E2E_README_SHOT=web/screenshot.png scripts/test-browser.sh
#                                            # also retakes the README's picture
#
# Installs Debian's chromium (and nodejs/npm) when missing, builds the page
# (scripts/build-web.sh) and needs the built server (`cargo build -p
# monaco-server`) and Docker with the runner images (scripts/setup.sh).
# Screenshots of every test are left in target/e2e/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

server_bin="${MONACO_SERVER_BIN:-$PWD/target/debug/monaco-server}"
chromium="${MONACO_CHROMIUM:-/usr/bin/chromium}"
instance="e2e-$$"
log() { printf '[test-browser] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$chromium" ]; then
    log "installing Debian's chromium"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
scripts/build-web.sh --e2e
# The page's pure parts (line discipline, shareable address) first.
(cd web && npm test --silent)
[ -x "$server_bin" ] || {
    log "$server_bin is missing: run \`cargo build -p monaco-server\` first"
    exit 1
}
if [ -z "${MONACO_AGENT:-}" ]; then
    MONACO_AGENT="$(scripts/build-agent.sh)"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 600); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        log "the server did not exit within 60 s of SIGTERM; killing it"
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    local status=0
    wait "$server_pid" || status=$?
    server_pid=""
    return "$status"
}

artifacts="$PWD/target/e2e"
rm -rf "$artifacts"
mkdir -p "$artifacts"
server_log="$artifacts/server.log"
trap 'stop_server || true' EXIT

# Start the server; a port taken between choosing and binding is retried.
healthy=""
for _attempt in 1 2 3 4 5; do
    port="$(free_port)"
    env -u MONACO_CONFIG \
        MONACO_AGENT="$MONACO_AGENT" \
        PORT="$port" MONACO_HOST=127.0.0.1 \
        MONACO_INSTANCE="$instance" \
        MONACO_LANGUAGES="$PWD/languages.toml" \
        MONACO_WEB_DIR="$PWD/web/dist" \
        MONACO_SHUTDOWN_GRACE=5 MONACO_LOG_FORMAT=text RUST_LOG=warn \
        "$server_bin" >"$server_log" 2>&1 </dev/null &
    server_pid=$!
    for _ in $(seq 1 600); do
        kill -0 "$server_pid" 2>/dev/null || break
        if python3 -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$port/api/health', timeout=2).status != 200)" 2>/dev/null; then
            healthy=1
            break
        fi
        sleep 0.1
    done
    [ -n "$healthy" ] && break
    stop_server || true
    grep -q "Address already in use" "$server_log" && continue
    log "the server did not become healthy; its log:"
    tail -n 50 "$server_log" >&2
    exit 1
done
[ -n "$healthy" ] || {
    log "no free port in 5 attempts"
    exit 1
}
log "server $instance on 127.0.0.1:$port (pid $server_pid)"

shot="${MONACO_E2E_README_SHOT:-}"
[ -n "$shot" ] && shot="$(realpath -m "$shot")"
test_status=0
(
    cd web/e2e
    MONACO_URL="http://127.0.0.1:$port" MONACO_E2E_ARTIFACTS="$artifacts" \
        MONACO_CHROMIUM="$chromium" MONACO_E2E_README_SHOT="$shot" \
        npm test --silent
) || test_status=$?

server_status=0
stop_server || server_status=$?
trap - EXIT
left="$(docker ps -aq --filter "label=monaco.instance=$instance" | wc -l)"

failed=0
if [ "$test_status" -ne 0 ]; then
    log "FAIL: the browser tests failed (above; screenshots in $artifacts)"
    failed=1
fi
if [ "$server_status" -ne 0 ]; then
    log "FAIL: the server exited with $server_status after SIGTERM; its log's end:"
    tail -n 50 "$server_log" >&2
    failed=1
fi
if [ "$left" -ne 0 ]; then
    log "FAIL: $left container(s) of $instance left behind"
    docker ps -a --filter "label=monaco.instance=$instance" >&2
    failed=1
fi
if grep -qE "panicked|PANIC" "$server_log"; then
    log "FAIL: the server panicked; its log:"
    tail -n 50 "$server_log" >&2
    failed=1
fi
[ "$failed" -eq 0 ] && log "browser tests passed; screenshots in $artifacts"
exit "$failed"
