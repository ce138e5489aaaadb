#!/usr/bin/env bash
# Build the agcflow image with podman, without any container registry:
#   1. a Debian bookworm base (python3.11 in a venv at /opt/venv, on PATH) made with
#      debootstrap from deb.debian.org and imported as localhost/agcflow-base:bookworm;
#   2. docker/Dockerfile built on it (--build-arg BASE_IMAGE=...), pip reaching PyPI.
#
# Usage (as root, from anywhere):
#   docker/build-local-image.sh [build [TAG]]   build (default TAG agcflow:local)
#   docker/build-local-image.sh podman ARGS...  podman with this script's configuration, e.g.
#       docker/build-local-image.sh podman run --rm agcflow:local --help
#   docker/build-local-image.sh env             print the exports that point podman at it
#
# Idempotent: the base rootfs tarball and podman's storage live under $AGCFLOW_CONTAINER_CACHE
# (default .cache/container in the repository); a rebuild reuses the base image and podman's
# layer cache. Needs podman, runc or crun, debootstrap (bash .ci/install-podman.sh).
# The configuration is written there too and passed through CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF; nothing under /etc is changed. Settings (environment):
#   AGCFLOW_CONTAINER_CACHE           cache directory            (.cache/container)
#   AGCFLOW_CONTAINER_STORAGE_DRIVER  overlay or vfs             (overlay; vfs on overlayfs)
#   AGCFLOW_CONTAINER_RUNTIME         runc or crun               (runc when installed)
#   AGCFLOW_DEBIAN_MIRROR             debootstrap's mirror       (http://deb.debian.org/debian)
#   AGCFLOW_CONTAINER_CA_BUNDLE       CA bundle pip trusts during the build ($PIP_CERT,
#                                     $SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt):
#                                     behind a TLS-intercepting proxy the host's bundle is the one
#                                     that works; it is mounted for the RUN steps, not copied in.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"  # debootstrap and chroot live there
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${AGCFLOW_CONTAINER_CACHE:-$REPO/.cache/container}"
BASE_IMAGE="localhost/agcflow-base:bookworm"
# Bump when the rootfs or the import changes below: an older cached base is then replaced.
BASE_REVISION=1
MIRROR="${AGCFLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

die() { echo "build-local-image: $*" >&2; exit 1; }
log() { echo "build-local-image: $*" >&2; }

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found; install it with: bash .ci/install-podman.sh"
}

min() { if [ "$1" = unlimited ] || { [ "$2" != unlimited ] && [ "$2" -lt "$1" ]; }; then echo "$2"; else echo "$1"; fi; }

write_config() {
    local driver="${AGCFLOW_CONTAINER_STORAGE_DRIVER:-}"
    if [ -z "$driver" ]; then
        # overlay on top of overlayfs (the cache inside a container) does not work: vfs then.
        if [ "$(stat -f -c %T "$CACHE/storage")" = overlayfs ]; then driver=vfs; else driver=overlay; fi
    fi
    local runtime="${AGCFLOW_CONTAINER_RUNTIME:-}"
    if [ -z "$runtime" ]; then
        # crun refuses cgroup v1/v2 hybrid hosts ("cgroups in hybrid mode not supported"); runc copes.
        if command -v runc >/dev/null 2>&1; then runtime=runc; else runtime=crun; fi
    fi
    # A short run root of its own per cache (conmon's socket paths must stay under 108 bytes).
    local runroot
    runroot="/run/agcflow-podman-$(printf '%s' "$CACHE" | md5sum | cut -c1-10)"
    # podman asks for nofile=1048576 and nproc=4194304 by default, and lowers its own nproc to
    # 32768: without CAP_SYS_RESOURCE the runtime cannot raise to them (setrlimit EPERM).
    local nofile nproc
    nofile="$(min "$(ulimit -Hn)" 1048576)"
    nproc="$(min "$(ulimit -Hu)" 32768)"
    cat >"$CACHE/storage.conf" <<EOF
# Written by docker/build-local-image.sh
[storage]
driver = "$driver"
graphroot = "$CACHE/storage"
runroot = "$runroot/storage"
EOF
    cat >"$CACHE/containers.conf" <<EOF
# Written by docker/build-local-image.sh
[containers]
netns = "host"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "$runtime"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$runroot/libpod"
EOF
    export CONTAINERS_CONF="$CACHE/containers.conf" CONTAINERS_STORAGE_CONF="$CACHE/storage.conf"
}

remove_rootfs() {
    # debootstrap mounts /proc and /sys in the target (and may bind the host's /dev): never
    # delete through a mount left behind by a failed run.
    local dir="$1" mounts
    [ -e "$dir" ] || return 0
    mounts="$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)"
    if [ -n "$mounts" ]; then
        echo "$mounts" | while read -r mount; do umount --lazy "$mount"; done
    fi
    rm -rf --one-file-system "$dir"
}

make_base_tar() {
    need debootstrap
    need chroot
    local rootfs="$CACHE/rootfs.tmp"
    remove_rootfs "$rootfs"
    local started=$SECONDS
    log "debootstrap bookworm (minbase + python3, python3-venv) from $MIRROR"
    local keyring=()
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    debootstrap "${keyring[@]}" --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -n 30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (full log: $CACHE/debootstrap.log)"; }
    # Debian's python is externally managed (PEP 668): the image's pip installs into a venv.
    chroot "$rootfs" /usr/bin/python3 -m venv /opt/venv || die "python3 -m venv failed in the rootfs"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    remove_rootfs "$rootfs"
    log "base rootfs in $((SECONDS - started)) s: $BASE_TAR"
}

ensure_base() {
    if podman image exists "$BASE_IMAGE"; then
        local revision
        revision="$(podman image inspect --format '{{index .Config.Labels "org.agcflow.base-revision"}}' "$BASE_IMAGE")"
        if [ "$revision" = "$BASE_REVISION" ]; then
            log "base image $BASE_IMAGE present"
            return
        fi
        log "base image $BASE_IMAGE is revision '$revision', not $BASE_REVISION: rebuilding it"
        podman rmi --force "$BASE_IMAGE" >/dev/null
        rm -f "$BASE_TAR" "$BASE_TAR.revision"
    fi
    if [ ! -s "$BASE_TAR" ] || [ "$(cat "$BASE_TAR.revision" 2>/dev/null)" != "$BASE_REVISION" ]; then
        make_base_tar
        echo "$BASE_REVISION" >"$BASE_TAR.revision"
    fi
    podman import --quiet \
        --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python"]' \
        --change "LABEL org.agcflow.base-revision=$BASE_REVISION" \
        "$BASE_TAR" "$BASE_IMAGE" >/dev/null || die "podman import of $BASE_TAR failed"
    log "imported $BASE_IMAGE"
}

build() {
    local tag="${1:-agcflow:local}"
    ensure_base
    local ca="${AGCFLOW_CONTAINER_CA_BUNDLE:-}" candidate
    if [ -z "$ca" ]; then
        for candidate in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
            if [ -n "$candidate" ] && [ -s "$candidate" ]; then ca="$candidate"; break; fi
        done
    fi
    local mounts=()
    if [ -n "$ca" ]; then
        [ -s "$ca" ] || die "CA bundle $ca is missing or empty"
        # The base's pip trusts /etc/ssl/certs/ca-certificates.crt (PIP_CERT): the host's bundle there.
        mounts=(--volume "$(readlink -f "$ca"):/etc/ssl/certs/ca-certificates.crt:ro")
    fi
    local started=$SECONDS
    log "building $tag from docker/Dockerfile on $BASE_IMAGE${ca:+ (CA bundle $ca)}"
    podman build --network host --layers "${mounts[@]}" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --ignorefile "$REPO/docker/Dockerfile.dockerignore" \
        -f "$REPO/docker/Dockerfile" -t "$tag" "$REPO" \
        || die "podman build failed"
    # Layers of earlier builds no image uses any more (the cache would otherwise only grow).
    podman image prune --force >/dev/null
    log "built $tag in $((SECONDS - started)) s"
}

cmd="${1:-build}"
case "$cmd" in
    build|podman|env) ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown command '$cmd' (build, podman, env or --help)" ;;
esac
[ "$(id -u)" -eq 0 ] || die "needs root (rootful podman, debootstrap and chroot)"
need podman
mkdir -p "$CACHE/storage"
CACHE="$(cd "$CACHE" && pwd)"
BASE_TAR="$CACHE/base-bookworm.tar"
write_config

case "$cmd" in
    build) shift || true; build "$@" ;;
    podman) shift; exec podman "$@" ;;
    env) printf 'export CONTAINERS_CONF=%q CONTAINERS_STORAGE_CONF=%q\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF" ;;
esac
