#!/usr/bin/env bash
# Monaco's whole test suite, from a fresh machine: Docker engine, images,
# agent, build, lint, tests. Idempotent; quick when set-up is already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
export MONACO_AGENT="$(scripts/build-agent.sh)"
# Tests that need Docker fail loudly instead of skipping.
export MONACO_REQUIRE_DOCKER=1

cargo fmt --all -- --check
cargo clippy --quiet --workspace --all-targets -- -D warnings
# The HTTP tests start the real server binary; the embed test runs the example.
cargo build --quiet --workspace --bins --examples
cargo test --workspace -- --test-threads="${MONACO_TEST_THREADS:-4}"
# The API fuzzed from its own OpenAPI document (schemathesis from PyPI).
scripts/fuzz-api.sh
scripts/test-image.sh

left="$(docker ps -aq --filter label=monaco.managed=true | wc -l)"
if [ "$left" -ne 0 ]; then
    echo "FAIL: $left container(s) labelled monaco.managed=true left behind" >&2
    docker ps -a --filter label=monaco.managed=true >&2
    exit 1
fi
echo "all tests passed; no sandbox container left behind"
