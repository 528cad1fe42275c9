#!/usr/bin/env bash
# Monaco's whole test suite, from a fresh machine: Docker engine, images,
# agent, build, lint, tests. Idempotent; quick when set-up is already done.
#
# Two tiers. The fast tier needs no Docker and runs first, so a mistake in
# logic or in the API fails in a minute: lint, every unit test, and the
# HTTP/WebSocket API in-process over a fake sandbox. The Docker tier then
# sets the machine up and proves that code really runs, confined; last, the
# cgroup suite runs again on a cgroup v2 engine in a virtual machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
threads="${MONACO_TEST_THREADS:-4}"

echo "== fast tier: lint, unit tests, the API over a fake sandbox (no Docker)"
cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
cargo test --quiet --workspace --lib --bins -- --test-threads="$threads"
cargo test --quiet -p monaco-http --test fast -- --test-threads="$threads"
scripts/check-compose.sh

echo "== Docker tier: set-up, then the sandbox and whole-system suites"
scripts/setup.sh
export MONACO_AGENT="$(scripts/build-agent.sh)"
# Tests that need Docker fail loudly instead of skipping.
export MONACO_REQUIRE_DOCKER=1
# And the cluster's tests that need redis-server (setup.sh installs it).
export MONACO_REQUIRE_REDIS=1
# The HTTP tests start the real server binary; the embed test runs the example.
cargo build --quiet --workspace --bins --examples
# Everything, the fast tier's tests again among them (they take seconds),
# with a redis-server of its own for the cluster store's contract.
scripts/test-redis.sh cargo test --workspace -- --test-threads="$threads"
# The API fuzzed from its own OpenAPI document (schemathesis from PyPI).
scripts/fuzz-api.sh
# The playground page in Debian's Chromium against the real server.
scripts/test-browser.sh
# Piston's and Judge0's real client libraries against the server.
scripts/test-compat.sh
scripts/test-image.sh

left="$(docker ps -aq --filter label=monaco.managed=true | wc -l)"
if [ "$left" -ne 0 ]; then
    echo "FAIL: $left container(s) labelled monaco.managed=true left behind" >&2
    docker ps -a --filter label=monaco.managed=true >&2
    exit 1
fi
# Last: the sandbox's cgroup suite again, on a cgroup v2 engine in a virtual
# machine (this host's engine may be on v1; production hosts mostly are not).
echo "== cgroup v2: the sandbox's cgroup suite on a cgroup v2 engine, in a virtual machine"
scripts/test-cgroup2.sh
echo "all tests passed; no sandbox container left behind"
