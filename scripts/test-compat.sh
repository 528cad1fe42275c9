#!/usr/bin/env bash
# Proves Monaco's Piston and Judge0 routes with the real client libraries:
# installs them, pinned, from the registries into a throwaway venv and npm
# folder under target/, starts the real server on a free loopback port, runs
# the Python (pytest) and Node (node --test) files of tests/compat/ against
# it, then stops it by PID. Clients are never vendored; they talk to
# 127.0.0.1 only.
#
#   scripts/test-compat.sh       # what scripts/test.sh runs
#
# Needs the built server (`cargo build -p monaco-server`), Docker with the
# runner images (scripts/setup.sh), python3 and node 20+ with npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The clients, pinned (COMPAT.md D).
PY_PACKAGES=(judge0==0.0.8 judge0api==0.1.20 pistonapi==1.0.1 pytest==9.2.0)
NODE_PACKAGES='{"piston-client": "1.0.2", "ws": "8.23.0"}'

work="$PWD/target/compat"
venv="$work/venv"
node_dir="$work/node"
server_bin="${MONACO_SERVER_BIN:-$PWD/target/debug/monaco-server}"
instance="compat-$$"
log() { printf '[test-compat] %s\n' "$*" >&2; }
# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_venv() {
    local stamp="$venv/.packages"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PY_PACKAGES[*]}" ]; then
        return
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
    log "installing ${PY_PACKAGES[*]} from PyPI"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    echo "${PY_PACKAGES[*]}" >"$stamp"
}

ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null || {
        log "FAIL: node and npm are needed (Node 20 or later)"
        exit 1
    }
    local stamp="$node_dir/.packages"
    if [ -d "$node_dir/node_modules/piston-client" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$NODE_PACKAGES" ]; then
        return
    fi
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    printf '{"name": "monaco-compat-tests", "private": true, "type": "module", "dependencies": %s}\n' \
        "$NODE_PACKAGES" >"$node_dir/package.json"
    log "installing $NODE_PACKAGES from npm"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund >/dev/null)
    echo "$NODE_PACKAGES" >"$stamp"
}


mkdir -p "$work"
ensure_venv
ensure_node
require_server

server_log="$work/server.log"
start_server DEFAULT_TIMEOUT=20 CONCURRENT_EXECUTIONS=3 MONACO_POOL_SIZE=1
export MONACO_URL="http://127.0.0.1:$port"

failed=0
log "Python clients: judge0, judge0api, pistonapi"
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/compat || failed=1
log "Node: piston-client and Piston's WebSocket"
# ES modules resolve packages beside the importing file.
cp tests/compat/piston.test.mjs "$node_dir/"
node --test "$node_dir/piston.test.mjs" || failed=1

server_ended_cleanly || failed=1
[ "$failed" -eq 0 ] || exit 1
log "passed: the real clients work against Monaco"
