#!/usr/bin/env bash
# Proves the server's Docker image works: build it, start it with the Docker
# socket, run hello world through its API, stop it. Where the Rust base image
# cannot be pulled, the image's runtime stage (taken from the Dockerfile
# itself) is built around binaries built on this host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tag=monaco-server:test
log() { printf '[image] %s\n' "$*" >&2; }

if timeout 120 docker build -q -t "$tag" . >/dev/null 2>&1; then
    log "built $tag with the multi-stage Dockerfile"
else
    log "Rust base image unavailable: building the runtime stage around host-built binaries"
    ctx="$(mktemp -d)"
    trap 'rm -rf "$ctx"' EXIT
    cp "$(scripts/build-agent.sh)" "$ctx/monaco-agent"
    # The debug build the test suite already made is enough to prove the image.
    cargo build --quiet -p monaco-server
    cp target/debug/monaco-server languages.toml "$ctx/"
    scripts/build-web.sh
    cp -r web/dist "$ctx/web"
    sed -n '/^FROM debian:bookworm-slim AS runtime/,$p' Dockerfile \
        | sed -e '/^COPY --from=build/s#--from=build ##' -e '/^COPY /s#/out/##g' >"$ctx/Dockerfile"
    docker build -q -t "$tag" "$ctx" >/dev/null
    log "built $tag from the Dockerfile's runtime stage"
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
sock_gid="$(stat -c %g /var/run/docker.sock)"
cid="$(docker run -d --rm -p "127.0.0.1:$port:8080" \
    -v /var/run/docker.sock:/var/run/docker.sock --group-add "$sock_gid" "$tag")"
cleanup() { docker stop -t 30 "$cid" >/dev/null 2>&1 || true; }
trap cleanup EXIT

for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1 && break
    sleep 0.2
done
user="$(docker exec "$cid" id -u)"
[ "$user" != "0" ] || { log "FAIL: the server runs as root"; exit 1; }
result="$(curl -fsS -X POST "http://127.0.0.1:$port/api/execute" \
    -H 'content-type: application/json' \
    -d '{"language":"python","code":"print(\"Hello, World!\")"}')"
echo "$result" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["verdict"] == "ok" and r["stdout"] == "Hello, World!\n", r
'
log "hello world through the image: ok (server uid $user)"
curl -fsS "http://127.0.0.1:$port/" | grep -q '<title>Monaco playground</title>' || {
    log "FAIL: the image does not serve the playground page at /"
    exit 1
}
log "the playground page through the image: ok"
