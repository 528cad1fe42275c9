#!/usr/bin/env bash
# Prepares a host to run Monaco: a Docker engine that answers, Debian's
# `redis-server` (for the cluster's tests), the `debian:bookworm-slim` base
# image, and one runner image per directory under `images/`. Idempotent: each
# step checks first and returns quickly when done.
#
#   scripts/setup.sh            # everything
#   MONACO_SKIP_IMAGES=1 ...    # engine, redis-server + base image only
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state_dir="${MONACO_STATE_DIR:-/var/lib/monaco-setup}"
log() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

# Debian's packages, without recommends, from freshly read package lists.
apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "$@" >/dev/null
}

ensure_docker() {
    if docker_answers; then
        log "Docker engine answers"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        log "no Docker engine: installing Debian's docker.io"
        apt_install docker.io iptables ca-certificates
    fi
    # Debian's package installs the engine; where there is no init system to
    # start it (containers, CI machines), start it here.
    if ! docker_answers; then
        log "starting dockerd"
        as_root mkdir -p "$state_dir"
        # Debian's client may be shadowed by a newer one on PATH; both talk to
        # the same socket and negotiate the API version.
        as_root sh -c "nohup dockerd >'$state_dir/dockerd.log' 2>&1 &"
        for _ in $(seq 1 60); do
            docker_answers && break
            sleep 1
        done
    fi
    if ! docker_answers; then
        log "dockerd did not answer; its log follows"
        as_root tail -n 50 "$state_dir/dockerd.log" >&2 || true
        exit 1
    fi
    log "Docker engine answers"
}

# The cluster's whole-system tests start redis-servers of their own (on
# loopback ports, in temporary directories): Debian's package provides it.
ensure_redis() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        log "redis-server present"
        return
    fi
    log "no redis-server: installing Debian's redis-server"
    apt_install redis-server
}

ensure_base_image() {
    local base="debian:bookworm-slim"
    if docker image inspect "$base" >/dev/null 2>&1; then
        log "base image $base present"
        return
    fi
    if timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
        log "pulled $base"
        return
    fi
    log "cannot pull $base: building it from Debian's packages (debootstrap)"
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt_install debootstrap
    fi
    local root
    root="$(mktemp -d)"
    as_root debootstrap --variant=minbase bookworm "$root" >/dev/null
    # Slim it the way the official image is slimmed: no docs, no caches.
    as_root rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* \
        "$root/usr/share/doc/"* "$root/usr/share/man/"*
    as_root tar -C "$root" -c . | docker import \
        -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$base" >/dev/null
    as_root rm -rf "$root"
    log "built $base"
}

# Runner images are tagged `monaco/<dir>:latest` and labelled with a hash of
# their build context, so an edited Dockerfile is rebuilt and an unchanged one
# is not. Builds run in parallel, at most MONACO_BUILD_JOBS at once (default:
# the number of CPUs, at least 2), the largest images first.
build_runner_images() {
    local jobs="${MONACO_BUILD_JOBS:-$(nproc)}"
    [ "$jobs" -ge 2 ] || jobs=2
    local failed_dir
    failed_dir="$(mktemp -d)"
    local names=()
    # The longest builds first, then any other image alphabetically.
    local order=(functional native jvm lisp script go java gcc mono node python)
    local dirs=()
    for name in "${order[@]}"; do
        [ -d "$here/images/$name" ] && dirs+=("$here/images/$name/")
    done
    for dir in "$here"/images/*/; do
        local known=0
        for name in "${order[@]}"; do
            [ "$(basename "$dir")" = "$name" ] && known=1
        done
        [ "$known" -eq 1 ] || dirs+=("$dir")
    done
    for dir in "${dirs[@]}"; do
        local name tag want have
        name="$(basename "$dir")"
        tag="monaco/$name:latest"
        want="$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
        have="$(docker image inspect -f '{{ index .Config.Labels "monaco.context" }}' "$tag" 2>/dev/null || true)"
        if [ "$want" = "$have" ]; then
            log "image $tag up to date"
            continue
        fi
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
            wait -n || true
        done
        log "building $tag"
        (docker build -q --label "monaco.context=$want" -t "$tag" "$dir" >/tmp/monaco-build-"$name".log 2>&1 \
            || { log "building $tag failed:"; tail -n 30 /tmp/monaco-build-"$name".log >&2; touch "$failed_dir/$name"; }) &
        names+=("$name")
    done
    wait
    local failures
    failures="$(ls "$failed_dir")"
    rm -rf "$failed_dir"
    [ -z "$failures" ] || { log "failed: $failures"; exit 1; }
    if [ "${#names[@]}" -gt 0 ]; then log "built: ${names[*]}"; fi
}

# The node and script images run Node.js's own build, not Debian's
# (images/node/node.lock says why, which version, and its integrity). `npm
# pack` fetches the package for this machine from the npm registry (kept in
# the user's cache, so a second run fetches nothing), the tarball is checked
# against the pinned integrity, and its `bin/node` is put in both images'
# build contexts (ignored by git).
ensure_node_dist() {
    local lock arch version want cache tgz have dir stamp
    local dirs=("$here/images/node" "$here/images/script")
    lock="$here/images/node/node.lock"
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) log "no Node.js build is pinned for $(uname -m)"; exit 1 ;;
    esac
    version="$(sed -n 's/^version=//p' "$lock")"
    want="$(sed -n "s/^$arch=//p" "$lock")"
    # Written beside each binary once it came from a tarball of this
    # integrity: an edited lock file unpacks again.
    stamp="$arch-$version $want"
    local present=1
    for dir in "${dirs[@]}"; do
        [ -x "$dir/node" ] && [ "$(cat "$dir/.node-version" 2>/dev/null)" = "$stamp" ] || present=0
    done
    if [ "$present" -eq 1 ]; then
        log "Node.js $version ($arch) present"
        return
    fi
    integrity() {
        python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
    }
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/monaco/node-dist"
    tgz="$cache/node-linux-$arch-$version.tgz"
    have=""
    [ -f "$tgz" ] && have="$(integrity "$tgz")"
    if [ "$have" != "$want" ]; then
        if ! command -v npm >/dev/null 2>&1; then
            log "no npm: installing Debian's npm"
            apt_install nodejs npm
        fi
        log "fetching Node.js $version ($arch) with npm pack"
        mkdir -p "$cache"
        rm -f "$tgz"
        (cd "$cache" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
        have="$(integrity "$tgz")"
    fi
    if [ "$have" != "$want" ]; then
        log "node-linux-$arch@$version: integrity $have, not the pinned $want"
        rm -f "$tgz"
        exit 1
    fi
    local unpacked
    unpacked="$(mktemp -d)"
    tar -xzf "$tgz" -C "$unpacked" package/bin/node
    for dir in "${dirs[@]}"; do
        install -m 0755 "$unpacked/package/bin/node" "$dir/node"
        printf '%s' "$stamp" >"$dir/.node-version"
    done
    rm -rf "$unpacked"
    log "Node.js $version ($arch) unpacked for the node and script images"
}

ensure_docker
ensure_redis
ensure_base_image
if [ -z "${MONACO_SKIP_IMAGES:-}" ]; then
    ensure_node_dist
    build_runner_images
fi
