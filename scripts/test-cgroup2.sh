#!/usr/bin/env bash
# The sandbox suite on a cgroup v2 Docker engine, in a throwaway virtual
# machine: most production hosts run cgroup v2, and a host whose engine is
# on v1 never runs the code that reads and sets v2 state.
#
#   scripts/test-cgroup2.sh
#
# It builds (or reuses, when its inputs have not changed) a Debian bookworm
# guest with Debian's docker.io, boots it with QEMU (2 vCPUs, 4 GiB, no
# network device, a fresh copy-on-write disk each boot), and inside it runs
# `crates/monaco-sandbox/tests/cgroups.rs` against the guest's own engine
# after checking that the engine reports cgroup v2. The project comes in
# through a read-only 9p share at the same path as on the host; the runner
# images are on a second disk holding the guest engine's data, loaded on
# the host by a private dockerd; results come back through a second share.
# QEMU (and that dockerd) are stopped by their PIDs on every exit.
#
# Everything it makes lives in target/vm/ (ignored by git). QEMU is
# Debian's package, downloaded with `apt-get download` and unpacked there
# (installing it can conflict with a newer qemu-utils), and it uses KVM
# where KVM really works (a CPU with VMX or SVM), else the software CPU.
# It needs root (debootstrap, and files owned by root in the disk image).
# It never skips: whatever stops it fails with the reason.
#
#   MONACO_VM_ACCEL=kvm|tcg   force the accelerator
#   MONACO_VM_TIMEOUT=SECONDS give up on a boot after this long (3600)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vm="$repo/target/vm"
log() { printf '[cgroup2] %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}
now() { date +%s; }
started_at="$(now)"

# Runner images the suite uses: Python's alone (its compile step is
# `py_compile`), since every image costs minutes to load under a software CPU.
images=(monaco/python:latest)
# The guest: bookworm's own packages. AppArmor: without it every
# `docker run` fails to load the engine's default profile.
guest_packages="systemd-sysv,udev,dbus,kmod,linux-image-amd64,initramfs-tools,docker.io,apparmor"

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "needs root (debootstrap, and a disk image of root-owned files)"
    exec sudo --preserve-env=PATH,CARGO_HOME,RUSTUP_HOME,MONACO_VM_ACCEL,MONACO_VM_TIMEOUT "$0" "$@"
fi
mkdir -p "$vm"

# ---------------------------------------------------------------- tools
ensure_host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
    command -v zstd >/dev/null || missing+=(zstd)
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}" >/dev/null; } \
            || die "cannot install ${missing[*]}"
    fi
}

qemu_root="$vm/qemu"
qemu_bin="$qemu_root/usr/bin/qemu-system-x86_64"
qemu_libs="$qemu_root/usr/lib/x86_64-linux-gnu:$qemu_root/lib/x86_64-linux-gnu"
run_qemu() { LD_LIBRARY_PATH="$qemu_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$qemu_bin" "$@"; }

# Debian's QEMU and whatever of its dependencies this host lacks, unpacked
# (never installed) into target/vm/qemu.
ensure_qemu() {
    if [ -x "$qemu_bin" ] && run_qemu --version >/dev/null 2>&1; then
        return
    fi
    log "fetching Debian's QEMU (apt-get download, unpacked into target/vm/qemu)"
    apt-cache show qemu-system-x86 >/dev/null 2>&1 || apt-get update -qq
    local debs="$vm/debs"
    rm -rf "$debs" "$qemu_root"
    mkdir -p "$debs" "$qemu_root"
    # The dependency closure, less what is installed, less the packages
    # that only stand in for installed ones (alternatives apt would not pick).
    local want=()
    while read -r pkg; do
        case "$pkg" in
        cdebconf | libdebian-installer4 | libnewt0.52 | libtextwrap1 | libelogind0 | install-info) continue ;;
        esac
        dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || want+=("$pkg")
    done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances --no-pre-depends qemu-system-x86 | grep -v '^ ' | grep -v '<' | sort -u)
    (cd "$debs" && apt-get download -qq "${want[@]}" 2>/dev/null) || die "apt-get download of QEMU failed"
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$qemu_root"
    done
    run_qemu --version >/dev/null || die "the unpacked QEMU does not run: $(run_qemu --version 2>&1 | tail -1)"
}

# KVM only where it really works: /dev/kvm alone may be a software module
# on a CPU without VMX/SVM, under which the guest kernel never boots.
choose_accel() {
    case "${MONACO_VM_ACCEL:-}" in
    kvm | tcg) echo "$MONACO_VM_ACCEL"; return ;;
    "") ;;
    *) die "MONACO_VM_ACCEL must be kvm or tcg" ;;
    esac
    if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
        echo kvm
    else
        echo tcg
    fi
}

# ---------------------------------------------------------------- guest
guest="$vm/guest"

# What the guest runs at boot: mount the shares, run the project's guest
# script from the read-only share, power off.
write_guest_boot_files() {
    local root="$1"
    echo monaco-cgroup2 >"$root/etc/hostname"
    echo '/dev/vda / ext4 rw,noatime 0 0' >"$root/etc/fstab"
    cat >"$root/usr/local/sbin/monaco-suite" <<'EOF'
#!/bin/sh
# Mounts the engine's disk and the shares named on the kernel command line,
# starts the engine, runs the project's guest script; the unit powers the
# guest off afterwards. The engine's disk is mounted here, not from fstab:
# a mount unit waits for udev, which on a busy host running a software CPU
# can fail its first start and miss the disk.
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
repo="$(arg monaco.repo)"
mode="$(arg monaco.mode)"
opts=trans=virtio,version=9p2000.L,msize=524288
mkdir -p /mnt/out "$repo" /var/lib/docker
mount -t 9p -o "$opts" out /mnt/out || { echo "monaco: cannot mount the results share"; exit 1; }
mount -t 9p -o "$opts,ro" repo "$repo" || { echo "monaco: cannot mount the project share" | tee /mnt/out/guest.log; exit 1; }
mount -o noatime /dev/vdb /var/lib/docker || { echo "monaco: cannot mount the engine's disk" | tee /mnt/out/guest.log; exit 1; }
systemctl start docker.service || { echo "monaco: dockerd did not start" | tee /mnt/out/guest.log; exit 1; }
"$repo/scripts/cgroup2-guest.sh" "$mode" 2>&1 | tee /mnt/out/guest.log
sync
EOF
    chmod 755 "$root/usr/local/sbin/monaco-suite"
    cat >"$root/etc/systemd/system/monaco-suite.service" <<'EOF'
[Unit]
Description=Monaco's suite on this cgroup v2 engine
After=local-fs.target containerd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/monaco-suite
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/monaco-suite.service \
        "$root/etc/systemd/system/multi-user.target.wants/monaco-suite.service"
    # The engine starts once its disk is mounted (above), not at boot.
    rm -f "$root/etc/systemd/system/multi-user.target.wants/docker.service" \
        "$root/etc/systemd/system/sockets.target.wants/docker.socket"
    # Nothing else runs at boot: timers and scrubs only cost time here.
    for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
        fstrim.timer e2scrub_reap.service systemd-pstore.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
}

# An initramfs with only what finds the root disk (the default takes
# "most" modules, and every byte is loaded by a software CPU), made here
# rather than by the kernel package's own hook during debootstrap (see
# build_guest). What update-initramfs printed is kept in
# target/vm/initramfs.log.
write_guest_initramfs() {
    local root="$1" version rc=0
    sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
    printf '%s\n' virtio_pci virtio_blk ext4 >"$root/etc/initramfs-tools/modules"
    mount -t proc proc "$root/proc"
    for version in $(ls "$root/lib/modules"); do
        rm -f "$root/boot/initrd.img-$version"
        chroot "$root" update-initramfs -c -k "$version" >"$vm/initramfs.log" 2>&1 || rc=$?
    done
    umount "$root/proc"
    if [ "$rc" -ne 0 ] || ! ls "$root"/boot/initrd.img-* >/dev/null 2>&1; then
        tail -n 20 "$vm/initramfs.log" >&2
        return 1
    fi
}

# debootstrap into $1, printing the tail of its own detailed log (the
# chroot's, which names the failing maintainer script) when it fails.
# INITRD=No: the kernel package's postinst hook skips its initramfs, which
# write_guest_initramfs makes afterwards with the guest's own settings and
# with its output kept (a hook failing inside debootstrap says only
# "Failure while configuring base packages").
run_debootstrap() {
    local root="$1"
    INITRD=No debootstrap --variant=minbase --include="$guest_packages" bookworm "$root" \
        >"$vm/debootstrap.log" 2>&1 && return 0
    tail -n 20 "$vm/debootstrap.log" >&2
    if [ -f "$root/debootstrap/debootstrap.log" ]; then
        log "the chroot's own debootstrap log ends:"
        tail -n 40 "$root/debootstrap/debootstrap.log" >&2
        cp "$root/debootstrap/debootstrap.log" "$vm/debootstrap-chroot.log"
    fi
    return 1
}

# The inputs of the guest image: this file's guest functions and packages.
guest_key() {
    { declare -f write_guest_boot_files write_guest_initramfs run_debootstrap build_guest; echo "$guest_packages"; } \
        | sha256sum | cut -c1-16
}

build_guest() {
    local root="$vm/rootfs"
    log "building the guest (debootstrap bookworm: $guest_packages)"
    if [ -d "$root" ]; then
        umount "$root/proc" 2>/dev/null || true
        rm -rf "$root"
    fi
    if ! run_debootstrap "$root"; then
        # Once more from scratch: a mirror's hiccup mid-download is the
        # commonest cause, and the second try says whether it is lasting.
        log "debootstrap failed; trying once more from scratch"
        umount "$root/proc" 2>/dev/null || true
        rm -rf "$root"
        run_debootstrap "$root" || die "debootstrap failed (logs: target/vm/debootstrap.log, target/vm/debootstrap-chroot.log)"
    fi
    write_guest_boot_files "$root"
    write_guest_initramfs "$root" || die "update-initramfs in the guest failed (log: target/vm/initramfs.log)"
    rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/usr/share/doc/"* \
        "$root/usr/share/man/"*
    mkdir -p "$guest"
    cp "$root"/boot/vmlinuz-* "$guest/vmlinuz"
    cp "$root"/boot/initrd.img-* "$guest/initrd.img"
    rm -f "$guest/disk.img"
    # A sparse image filled from the directory: no loop mount needed.
    truncate -s 10G "$guest/disk.img"
    mkfs.ext4 -q -F -L monaco-guest -d "$root" "$guest/disk.img" || die "mkfs.ext4 -d failed"
    rm -rf "$root"
}

ensure_guest() {
    local key
    key="$(guest_key)"
    if [ -f "$guest/disk.img" ] && [ "$(cat "$guest/guest.stamp" 2>/dev/null)" = "$key" ]; then
        log "guest image up to date"
        return
    fi
    local t0
    t0="$(now)"
    build_guest
    echo "$key" >"$guest/guest.stamp"
    guest_build_s=$(($(now) - t0))
    log "guest built in ${guest_build_s}s"
}

# ---------------------------------------------------------------- boots
share="$vm/share"
qemu_pid=""
stop_qemu() {
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        log "stopping QEMU (pid $qemu_pid)"
        kill "$qemu_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$qemu_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    qemu_pid=""
}
trap 'stop_qemu; stop_private_dockerd' EXIT
trap 'exit 130' INT TERM

# boot MODE ACCEL: boots the guest, which runs the guest script in MODE and
# powers off; fails unless the guest wrote `status` = ok.
boot() {
    local mode="$1" accel="$2"
    local timeout="${MONACO_VM_TIMEOUT:-3600}"
    rm -f "$share/status" "$share/guest.log" "$share/times"
    local accel_args=(-accel tcg,thread=multi -cpu max)
    [ "$accel" = kvm ] && accel_args=(-accel kvm -cpu host)
    mkdir -p "$vm/tmp"
    # snapshot=on: writes go to a temporary file, so each boot starts clean.
    TMPDIR="$vm/tmp" nice -n 15 env LD_LIBRARY_PATH="$qemu_libs" "$qemu_bin" \
        "${accel_args[@]}" -machine q35 -smp 2 -m 4096 \
        -L "$qemu_root/usr/share/seabios" -L "$qemu_root/usr/share/qemu" \
        -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 monaco.repo=$repo monaco.mode=$mode" \
        -drive "file=$guest/disk.img,format=raw,if=virtio,cache=unsafe,snapshot=on" \
        -drive "file=$guest/docker.img,format=raw,if=virtio,cache=unsafe,snapshot=on" \
        -virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on" \
        -virtfs "local,path=$share,mount_tag=out,security_model=none" \
        -nic none -vga none -display none -monitor none -serial "file:$vm/console-$mode.log" -no-reboot \
        >"$vm/qemu-$mode.log" 2>&1 &
    qemu_pid=$!
    log "booted the guest ($mode, $accel, pid $qemu_pid); console: target/vm/console-$mode.log"
    local waited=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if [ "$waited" -ge "$timeout" ]; then
            tail -n 30 "$vm/console-$mode.log" >&2 || true
            die "the guest did not finish within ${timeout}s (MONACO_VM_TIMEOUT)"
        fi
        sleep 2
        waited=$((waited + 2))
    done
    wait "$qemu_pid" || true
    qemu_pid=""
    if [ "$(cat "$share/status" 2>/dev/null)" != ok ]; then
        log "the guest's log follows"
        tail -n 60 "$share/guest.log" >&2 2>/dev/null || tail -n 40 "$vm/console-$mode.log" >&2 || true
        tail -n 5 "$vm/qemu-$mode.log" >&2 || true
        die "the guest's $mode run failed: $(cat "$share/status" 2>/dev/null || echo 'no status (see target/vm/console-'"$mode"'.log)')"
    fi
}

# The runner images, on the guest engine's own disk: a private dockerd on
# this host (the same Debian docker.io as the guest's, its own socket,
# data and exec roots, no bridge, no iptables, stopped by its PID) loads
# them into a data root that becomes an ext4 image. Loading them inside the
# guest instead takes many minutes under a software CPU. Rebuilt when an
# image id changes.
private_dockerd_pid=""
private_bridge="mnvm$$"
stop_private_dockerd() {
    if [ -n "$private_dockerd_pid" ] && kill -0 "$private_dockerd_pid" 2>/dev/null; then
        kill "$private_dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$private_dockerd_pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$private_dockerd_pid" 2>/dev/null || true
    fi
    private_dockerd_pid=""
    ip link del "$private_bridge" 2>/dev/null || true
}

ensure_docker_disk() {
    local ids
    for image in "${images[@]}"; do
        docker image inspect "$image" >/dev/null 2>&1 || die "image $image missing: run scripts/setup.sh"
    done
    ids="$(docker image inspect -f '{{.Id}}' "${images[@]}")"
    if [ -f "$guest/docker.img" ] && [ "$(cat "$guest/docker.stamp" 2>/dev/null)" = "$ids" ]; then
        log "guest images up to date"
        return
    fi
    local t0 pd="$vm/private-dockerd" data="$vm/docker-data"
    t0="$(now)"
    log "loading ${images[*]} into the guest engine's disk (a private dockerd)"
    rm -rf "$pd" "$data"
    mkdir -p "$pd" "$data"
    echo '{}' >"$pd/daemon.json"
    # A bridge of its own: `--bridge none` would make dockerd delete the
    # host's docker0 at start, breaking the shared engine's networks.
    ip link del "$private_bridge" 2>/dev/null || true
    ip link add "$private_bridge" type bridge || die "ip link add $private_bridge failed"
    ip addr add 10.214.0.1/24 dev "$private_bridge"
    dockerd --config-file "$pd/daemon.json" --data-root "$data" --exec-root "$pd/exec" \
        --pidfile "$pd/dockerd.pid" -H "unix://$pd/docker.sock" --bridge "$private_bridge" \
        --iptables=false --ip-masq=false --ip-forward=false --storage-driver overlay2 \
        --containerd-namespace monaco-vm \
        --containerd-plugins-namespace monaco-vm-plugins >"$pd/dockerd.log" 2>&1 &
    private_dockerd_pid=$!
    for _ in $(seq 1 60); do
        docker -H "unix://$pd/docker.sock" info >/dev/null 2>&1 && break
        kill -0 "$private_dockerd_pid" 2>/dev/null || break
        sleep 1
    done
    docker -H "unix://$pd/docker.sock" info >/dev/null 2>&1 \
        || { tail -n 20 "$pd/dockerd.log" >&2; die "the private dockerd did not start"; }
    docker save "${images[@]}" | docker -H "unix://$pd/docker.sock" load -q >/dev/null \
        || die "loading the images into the private dockerd failed"
    stop_private_dockerd
    # What only the private engine needs (its own containerd, networks).
    rm -rf "$data/containerd" "$data/network" "$data/tmp" "$pd"
    rm -f "$guest/docker.img"
    truncate -s 20G "$guest/docker.img"
    mkfs.ext4 -q -F -L monaco-docker -d "$data" "$guest/docker.img" || die "mkfs.ext4 -d of the engine's data failed"
    rm -rf "$data"
    echo "$ids" >"$guest/docker.stamp"
    log "guest images ready in $(($(now) - t0))s"
}

# ---------------------------------------------------------------- run
ensure_host_tools
ensure_qemu
accel="$(choose_accel)"
ensure_guest
mkdir -p "$share"
ensure_docker_disk

log "building the agent and the suite"
agent="$("$repo/scripts/build-agent.sh")"
suite="$(cd "$repo" && cargo test --quiet -p monaco-sandbox --test cgroups --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
[ -x "$suite" ] || die "could not build crates/monaco-sandbox/tests/cgroups.rs"
case "$suite$agent" in
"$repo"/*"$repo"/*) ;;
*) die "the suite and the agent must be under $repo (the guest sees only that)" ;;
esac
cat >"$share/run.env" <<EOF
MONACO_AGENT='$agent'
SUITE='$suite'
EOF

t0="$(now)"
boot test "$accel"
boot_s=$(($(now) - t0))
log "guest figures: $(tr '\n' ' ' <"$share/times" 2>/dev/null)"
grep -aE 'test result|Cgroup Version|cgroup v|hello world:|reported cpu|threads started|spin loop:|the run step|warm container:|work dir over' \
    "$share/guest.log" >&2 || true
log "passed on cgroup v2 ($accel): boot + suite ${boot_s}s; whole script $(($(now) - started_at))s${guest_build_s:+; guest build ${guest_build_s}s}"
