#!/usr/bin/env bash
# Builds the playground page (web/ → web/dist) that monaco-server serves at
# `/`. Installs Debian's nodejs and npm when there is no npm, installs the
# page's packages with `npm ci` from the committed lockfile, then runs the
# bundler. Idempotent: it does nothing when node_modules and web/dist are
# already those of the current lockfile and sources.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf '[build-web] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian's nodejs and npm when npm is missing.
ensure_npm() {
    command -v npm >/dev/null 2>&1 && return
    log "installing Debian's nodejs and npm"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nodejs npm >/dev/null
}

# `npm ci` in $1 unless its node_modules came from the same lockfile.
npm_ci() {
    local dir="$1" stamp="$1/node_modules/.monaco-lock-sha256" want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

ensure_npm
npm_ci web
[ "${1:-}" = "--e2e" ] && npm_ci web/e2e

# Rebuild only when a source of the page changed.
want="$(cat web/package-lock.json web/index.html web/vite.config.js \
    $(find web/src -type f | sort) | sha256sum | cut -d' ' -f1)"
stamp=web/dist/.monaco-sources-sha256
if [ -f web/dist/index.html ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
log "building the page (web/dist)"
(cd web && npm run --silent build >/dev/null)
echo "$want" >"$stamp"
