#!/usr/bin/env bash
# Install a single-host SLURM (slurm-wlm + munge) for the `slurm`-marked tests.
# Idempotent: does nothing when sbatch, slurmctld, slurmd and munged are already present.
# Needs root (or sudo) and apt (Debian/Ubuntu). The daemons are NOT started here: the pytest
# fixture (tests/slurm_env.py) writes a one-node slurm.conf and starts/stops them itself.
set -euo pipefail

slurm_version() {
    dpkg-query -W -f '${Version}' slurm-wlm 2>/dev/null || echo unknown
}

have_all() {
    for tool in sbatch squeue sinfo scancel slurmctld slurmd munged; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || return 1
    done
}

if have_all; then
    echo "install-slurm: SLURM and munge already installed ($(slurm_version))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-slurm: need root or sudo" >&2; exit 1; }
    SUDO="sudo"
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-slurm: apt-get not found (Debian/Ubuntu only)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# slurm-wlm pulls slurmctld, slurmd and slurm-client; munge is its authentication daemon.
# policy-rc.d stops the packages' maintainer scripts from trying to start services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
have_all || { echo "install-slurm: installation finished but SLURM tools are missing" >&2; exit 1; }
echo "install-slurm: installed SLURM $(slurm_version)"
