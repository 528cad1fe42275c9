#!/usr/bin/env bash
# Runs a command with a redis-server of its own for the tests that need one
# (the cluster store's contract, crates/monaco-redis/tests/contract.rs):
# Debian's redis-server, installed if missing, on a free loopback port, AOF
# on, noeviction, its URL in MONACO_REDIS_URL, stopped by PID at the end.
#
#   scripts/test-redis.sh                      # the store contract alone
#   scripts/test-redis.sh cargo test --workspace   # any command under it
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi

dir="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes \
    --maxmemory-policy noeviction --save '' --daemonize no >"$dir/redis.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$port" ping >/dev/null || { cat "$dir/redis.log"; echo "redis-server did not start" >&2; exit 1; }

export MONACO_REDIS_URL="redis://127.0.0.1:$port/"
if [ "$#" -eq 0 ]; then
    set -- cargo test -p monaco-redis --test contract
fi
"$@"
