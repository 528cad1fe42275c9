#!/usr/bin/env bash
# Checks the cluster's compose file offline, without starting anything:
# parses the YAML (PyYAML: Debian's python3-yaml, else PyPI's into a venv
# under target/) and checks its structure: the services redis, api-1, api-2,
# worker-1 and worker-2; Redis started with appendonly and noeviction; every
# Monaco service with its role, the broker URL, its own MONACO_INSTANCE and
# the same QUEUE_CAPACITY; the Docker socket on the workers only. Where
# `docker compose` or `docker-compose` is installed, `config -q` checks the
# file against Compose's own schema too. Any problem fails the script.
#
#   scripts/check-compose.sh                 # deploy/compose.yaml
#   scripts/check-compose.sh other.yaml      # another file
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
file="${1:-deploy/compose.yaml}"
PYYAML_VERSION=6.0.3
log() { printf '[compose] %s\n' "$*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

[ -f "$file" ] || { log "FAIL: $file does not exist"; exit 1; }

# A python3 that can import yaml.
python=""
for candidate in python3 /usr/bin/python3 "$PWD/target/compose-venv/bin/python"; do
    if "$candidate" -c 'import yaml' >/dev/null 2>&1; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's python3-yaml"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3-yaml >/dev/null && /usr/bin/python3 -c 'import yaml' >/dev/null 2>&1; then
        python=/usr/bin/python3
    fi
fi
if [ -z "$python" ]; then
    log "installing PyYAML $PYYAML_VERSION from PyPI into target/compose-venv"
    rm -rf target/compose-venv
    python3 -m venv target/compose-venv
    target/compose-venv/bin/pip install --quiet --disable-pip-version-check "PyYAML==$PYYAML_VERSION"
    python="$PWD/target/compose-venv/bin/python"
fi

"$python" - "$file" <<'EOF'
import sys
import yaml

path = sys.argv[1]
problems = []
checks = 0


def check(ok, message):
    global checks
    checks += 1
    if not ok:
        problems.append(message)
    return ok


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return {key: value for key, value in pairs}
    return {str(key): (None if value is None else str(value)) for key, value in env.items()}


def words(command):
    if isinstance(command, str):
        return command.split()
    return [str(word) for word in (command or [])]


def has_option(argv, name, value):
    return any(a == name and b == value for a, b in zip(argv, argv[1:]))


def published_host_ports(service):
    ports = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            ports.append(str(port.get("published", "")))
        else:
            parts = str(port).split(":")
            if len(parts) >= 2:
                ports.append(parts[-2])
    return ports


def mounts_socket(service):
    for volume in service.get("volumes") or []:
        source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":")[0]
        if source == "/var/run/docker.sock":
            return True
    return False


try:
    with open(path) as f:
        doc = yaml.safe_load(f)
except yaml.YAMLError as error:
    print(f"[compose] FAIL: {path} is not valid YAML: {error}", file=sys.stderr)
    sys.exit(1)

if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
    print(f"[compose] FAIL: {path} has no services mapping", file=sys.stderr)
    sys.exit(1)
services = doc["services"]

for name in ["redis", "api-1", "api-2", "worker-1", "worker-2"]:
    check(isinstance(services.get(name), dict), f"service {name} is missing")

redis = services.get("redis") or {}
argv = words(redis.get("command"))
check(has_option(argv, "--maxmemory-policy", "noeviction"),
      f"redis's command does not set --maxmemory-policy noeviction: {argv}")
check(has_option(argv, "--appendonly", "yes"),
      f"redis's command does not set --appendonly yes: {argv}")

monaco = {name: s for name, s in services.items() if name != "redis" and isinstance(s, dict)}
instances = {}
capacities = {}
images = {}
for name, service in sorted(monaco.items()):
    env = env_of(service)
    images[name] = service.get("image")
    role = env.get("MONACO_ROLE")
    if check(role is not None, f"{name} has no MONACO_ROLE"):
        check(role in ("api", "worker"), f"{name}: MONACO_ROLE={role!r} is neither api nor worker")
        expected = "api" if name.startswith("api-") else "worker" if name.startswith("worker-") else role
        check(role == expected, f"{name}: MONACO_ROLE={role!r}, expected {expected!r}")
    url = env.get("MONACO_BROKER_URL")
    if check(url is not None, f"{name} has no MONACO_BROKER_URL"):
        check(url.startswith("redis://redis:6379"),
              f"{name}: MONACO_BROKER_URL={url!r} is not the redis service (redis://redis:6379/)")
    instance = env.get("MONACO_INSTANCE")
    if check(bool(instance), f"{name} has no MONACO_INSTANCE"):
        check(instance not in instances,
              f"{name}: MONACO_INSTANCE={instance!r} is also {instances.get(instance)}'s")
        instances[instance] = name
    capacity = env.get("QUEUE_CAPACITY")
    if check(capacity is not None, f"{name} has no QUEUE_CAPACITY (it is cluster-wide)"):
        capacities[name] = capacity
    if role == "worker":
        check(mounts_socket(service), f"{name} is a worker without /var/run/docker.sock")
    elif role == "api":
        check(not mounts_socket(service), f"{name} is an api node with the Docker socket")

check(len(set(capacities.values())) <= 1,
      f"QUEUE_CAPACITY differs between nodes: {capacities}")
check(len(set(images.values())) == 1 and None not in images.values(),
      f"the Monaco services do not all use one image: {images}")
api_ports = published_host_ports(services.get("api-1") or {}) + published_host_ports(services.get("api-2") or {})
for port in ["8080", "8081"]:
    check(port in api_ports, f"no api node publishes port {port} (published: {api_ports})")

if problems:
    for problem in problems:
        print(f"[compose] FAIL: {path}: {problem}", file=sys.stderr)
    sys.exit(1)
print(f"[compose] {path}: structure ok ({checks} checks, {len(monaco)} Monaco services)", file=sys.stderr)
EOF

compose=()
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
fi
if [ "${#compose[@]}" -gt 0 ]; then
    # The file requires DOCKER_GID (the socket's group) to be set.
    gid="${DOCKER_GID:-$(stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)}"
    if ! DOCKER_GID="$gid" "${compose[@]}" -f "$file" config -q; then
        log "FAIL: ${compose[*]} config refuses $file"
        exit 1
    fi
    log "${compose[*]} config: ok"
else
    log "neither docker compose nor docker-compose installed: Compose's own schema check not run"
fi
