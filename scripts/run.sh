#!/usr/bin/env bash
# Sets up what Monaco needs (Docker engine, images, agent) and runs the
# server in the foreground on $PORT (8080). Configuration: see README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export MONACO_AGENT="$(scripts/build-agent.sh)"
cargo build --quiet --release -p monaco-server
exec target/release/monaco-server "$@"
