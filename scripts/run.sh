#!/usr/bin/env bash
# Sets up what Monaco needs (Docker engine, images, agent, the playground
# page) and runs the server in the foreground on $PORT (8080), the page at
# `/`. Configuration: see README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
export MONACO_AGENT="$(scripts/build-agent.sh)"
scripts/build-web.sh
cargo build --quiet --release -p monaco-server
exec target/release/monaco-server "$@"
