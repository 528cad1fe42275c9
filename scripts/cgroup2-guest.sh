#!/usr/bin/env bash
# Runs inside the cgroup v2 guest that scripts/test-cgroup2.sh boots (never
# on the host): waits for the guest's Docker engine, checks that it is on
# cgroup v2, and runs the sandbox's cgroup suite against it (the runner
# images are on the engine's own disk, made on the host). Writes `ok` or the reason to
# the results share's `status`, and figures to its `times`.
set -uo pipefail
mode="${1:-test}"
out=/mnt/out
uptime_s() { cut -d' ' -f1 /proc/uptime; }
status() { echo "$*" >"$out/status"; }
fail() {
    echo "cgroup2-guest: FAIL: $*"
    status "$*"
    exit 1
}
echo "boot_to_script_s=$(uptime_s)" >"$out/times"

for _ in $(seq 1 300); do
    docker info >/dev/null 2>&1 && break
    sleep 1
done
docker info >/dev/null 2>&1 || fail "the guest's Docker engine did not answer: $(systemctl status docker 2>&1 | tail -n 5)"
echo "dockerd_ready_s=$(uptime_s)" >>"$out/times"
version="$(docker info --format '{{.CgroupVersion}}')"
echo "Cgroup Version: $version ($(docker info --format '{{.ServerVersion}} {{.CgroupDriver}}'), kernel $(uname -r))"
[ "$version" = 2 ] || fail "the guest's engine runs cgroup v$version, not v2"

[ "$mode" = test ] || fail "unknown mode $mode"

# shellcheck disable=SC1091
. "$out/run.env"
suite_start="$(uptime_s)"
# Run from the guest's disk, not the share.
cp "$SUITE" /tmp/cgroups-suite || fail "cannot copy the suite from the share"
MONACO_AGENT="$MONACO_AGENT" MONACO_REQUIRE_DOCKER=1 MONACO_EXPECT_CGROUP=2 RUST_BACKTRACE=1 \
    /tmp/cgroups-suite --test-threads=2 --nocapture
rc=$?
echo "suite_s=$(awk -v a="$suite_start" '{ printf "%.1f", $1 - a }' /proc/uptime)" >>"$out/times"
left="$(docker ps -aq --filter label=monaco.managed=true | wc -l)"
[ "$rc" -eq 0 ] || fail "the suite failed (exit $rc)"
[ "$left" -eq 0 ] || fail "$left container(s) labelled monaco.managed=true left behind"
status ok
