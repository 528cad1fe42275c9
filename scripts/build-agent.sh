#!/usr/bin/env bash
# Builds the static in-container agent and prints its path. The agent must
# run in any image (with or without a libc), hence +crt-static and an
# explicit target, which keeps the flag away from build scripts and macros.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="$(rustc -vV | sed -n 's/^host: //p')"
var="CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
env "$var=-C target-feature=+crt-static" \
    cargo build --quiet --release -p monaco-agent --target "$target" >&2
echo "$PWD/target/$target/release/monaco-agent"
