#!/usr/bin/env bash
# Install podman (with runc), debootstrap and the Debian archive keyring for the
# `container`-marked tests, which build docker/Dockerfile on a debootstrapped Debian base
# (docker/build-local-image.sh) and run the image.
# Idempotent: does nothing when all of them are already present.
# Needs root (or sudo) and apt (Debian/Ubuntu). No daemon, no registry: nothing is started or
# configured here; the helper script writes its own containers.conf/storage.conf.
set -euo pipefail

have_all() {
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || return 1
    done
    [ -s /usr/share/keyrings/debian-archive-keyring.gpg ]
}

if have_all; then
    echo "install-podman: podman, runc and debootstrap already installed ($(podman --version))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-podman: need root or sudo" >&2; exit 1; }
    SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-podman: apt-get not found (Debian/Ubuntu only)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# runc explicitly: crun refuses hosts with a cgroup v1/v2 hybrid hierarchy.
$SUDO apt-get install -y -qq --no-install-recommends podman runc debootstrap debian-archive-keyring >/dev/null
have_all || { echo "install-podman: installation finished but podman, runc, debootstrap or the Debian keyring is missing" >&2; exit 1; }
echo "install-podman: installed $(podman --version)"
