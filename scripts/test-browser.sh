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
# shellcheck source=scripts/lib/server.sh
. scripts/lib/server.sh

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
require_server

artifacts="$PWD/target/e2e"
rm -rf "$artifacts"
mkdir -p "$artifacts"
server_log="$artifacts/server.log"
# At info, so that a failure below can show what the server did.
start_server MONACO_WEB_DIR="$PWD/web/dist" RUST_LOG=info

shot="${MONACO_E2E_README_SHOT:-}"
[ -n "$shot" ] && shot="$(realpath -m "$shot")"
test_status=0
(
    cd web/e2e
    MONACO_URL="http://127.0.0.1:$port" MONACO_E2E_ARTIFACTS="$artifacts" \
        MONACO_CHROMIUM="$chromium" MONACO_E2E_README_SHOT="$shot" \
        npm test --silent
) || test_status=$?

failed=0
server_ended_cleanly || failed=1
if [ "$test_status" -ne 0 ]; then
    log "FAIL: the browser tests failed (above; screenshots in $artifacts); the server's log's end:"
    tail -n 60 "$server_log" >&2
    failed=1
fi
[ "$failed" -eq 0 ] && log "browser tests passed; screenshots in $artifacts"
exit "$failed"
