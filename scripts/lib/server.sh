# Shared by the scripts that test a running server (fuzz-api.sh,
# test-compat.sh, test-browser.sh): start the real server binary on a free
# loopback port, stop it by PID, and check how it ended. Source it after
# setting `log`, `instance` (the server's MONACO_INSTANCE), `server_bin` and
# `server_log`.

# The server binary and the agent it runs, or a clear failure.
require_server() {
    [ -x "$server_bin" ] || {
        log "$server_bin is missing: run \`cargo build -p monaco-server\` first"
        exit 1
    }
    if [ -z "${MONACO_AGENT:-}" ]; then
        MONACO_AGENT="$(scripts/build-agent.sh)"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_pid=""
# SIGTERM, then SIGKILL after 60 s; returns the server's exit status.
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

# start_server [VAR=value…]: the server on a free loopback port (set in
# `port`) with this script's instance, the repository's languages and the
# given settings, healthy before it returns. A port taken between choosing
# and binding is retried; the caller's own MONACO_CONFIG and MONACO_COMPAT
# are not inherited.
start_server() {
    local healthy=""
    trap 'stop_server || true' EXIT
    for _attempt in 1 2 3 4 5; do
        port="$(free_port)"
        env -u MONACO_CONFIG -u MONACO_COMPAT \
            MONACO_AGENT="$MONACO_AGENT" \
            PORT="$port" MONACO_HOST=127.0.0.1 \
            MONACO_INSTANCE="$instance" \
            MONACO_LANGUAGES="$PWD/languages.toml" \
            MONACO_SHUTDOWN_GRACE=5 MONACO_LOG_FORMAT=text RUST_LOG=warn \
            "$@" \
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
}

# Stops the server and checks that it exited 0 after SIGTERM, left no
# container of its instance behind and never panicked; says what failed
# and returns 1 if anything did.
server_ended_cleanly() {
    local status=0 failed=0 left
    stop_server || status=$?
    trap - EXIT
    left="$(docker ps -aq --filter "label=monaco.instance=$instance" | wc -l)"
    if [ "$status" -ne 0 ]; then
        log "FAIL: the server exited with $status after SIGTERM; its log's end:"
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
        grep -E -B2 -A10 "panicked|PANIC" "$server_log" | head -n 60 >&2
        failed=1
    fi
    return "$failed"
}
