"""The container image for real: docker/Dockerfile built with podman on a debootstrapped Debian
bookworm base (docker/build-local-image.sh, no registry needed), then run: entrypoint and
non-root user, the pinned stack inside, and a two-point `agcflow scan` whose result file, written
to a bind-mounted folder, matches the same scan run on the host.

Without podman (``bash .ci/install-podman.sh``) or root these tests skip with the reason; with
``AGCFLOW_REQUIRE_CONTAINER=1`` that skip is a failure instead. A first build on a fresh machine
takes a few minutes (debootstrap, then pip installing the pinned stack); later builds reuse
.cache/container and podman's layer cache (seconds when nothing changed, about a minute when
only the package's code did).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1800)]

SCRIPT = ROOT / "docker" / "build-local-image.sh"
TAG = "localhost/agcflow:test"
PALLET = REFERENCE / "sbottom-ins1748602" / "pallet.tar.gz"
REGION = "RegionA"
PATCHES = ("sbottom_600_180_50", "sbottom_1500_1350_60")


def _require_container() -> bool:
    return os.environ.get("AGCFLOW_REQUIRE_CONTAINER", "") not in ("", "0", "false", "no")


def unavailable_reason() -> str | None:
    missing = [tool for tool in ("podman", "debootstrap") if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin")]
    if missing:
        return f"{', '.join(missing)} not installed; run `bash .ci/install-podman.sh`"
    if os.geteuid() != 0:
        return "the local image build needs root (rootful podman, debootstrap, chroot)"
    return None


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """podman with the configuration of docker/build-local-image.sh; fails on a non-zero exit."""
    result = subprocess.run([str(SCRIPT), "podman", *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def image() -> str:
    """The image built from the working tree (``TAG``)."""
    reason = unavailable_reason()
    if reason:
        if _require_container():
            pytest.fail(f"AGCFLOW_REQUIRE_CONTAINER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    started = time.monotonic()
    result = subprocess.run([str(SCRIPT), "build", TAG], capture_output=True, text=True, timeout=1500)
    if result.returncode != 0:  # installed but the build broke: a failure, never a skip
        pytest.fail(f"docker/build-local-image.sh build failed ({result.returncode}):\n{result.stdout[-6000:]}\n"
                    f"{result.stderr[-6000:]}", pytrace=False)
    steps = [line for line in result.stderr.splitlines() if line.startswith("build-local-image:")]
    print(f"\n[image] {TAG} built in {time.monotonic() - started:.0f} s\n" + "\n".join(steps))
    return TAG


def test_image_runs_agcflow_as_the_non_root_user(image):
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["User"] == "1000"
    assert config["Entrypoint"] == ["agcflow"]
    usage = podman("run", "--rm", image).stdout  # CMD --help
    assert usage.startswith("Usage: agcflow")
    for command in ("generate", "process", "fit", "scan", "validate"):
        assert re.search(rf"^\s+{command}\s", usage, re.MULTILINE), f"{command} missing from:\n{usage}"
    assert podman("run", "--rm", "--entrypoint", "id", image).stdout.startswith("uid=1000(agc) gid=1000(agc)")


def test_image_holds_the_pinned_stack(image):
    """Every distribution in the image is pinned in requirements/constraints.txt at that version,
    and the heavy ones import."""
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    listing = podman("run", "--rm", "--entrypoint", "python", image, "-m", "pip", "list", "--format", "json").stdout
    installed = {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(listing)}
    assert installed.get("agcflow"), "agcflow is not installed in the image"
    unpinned = {name: version for name, version in installed.items()
                if name not in pins and name not in ("agcflow", "pip", "setuptools", "wheel")}
    mismatched = {name: (version, pins[name]) for name, version in installed.items() if name in pins and version != pins[name]}
    assert not unpinned, f"in the image but not pinned: {unpinned}"
    assert not mismatched, f"image version != pin: {mismatched}"
    for name in ("numpy", "scipy", "pyhf", "jax", "uproot", "awkward", "coffea", "cabinetry", "dask", "snakemake"):
        assert name in installed, f"{name} missing from the image"
    code = "import numpy, scipy, pyhf, jax, uproot, awkward, coffea, cabinetry, dask, snakemake; print('ok')"
    assert podman("run", "--rm", "--entrypoint", "python", image, "-c", code).stdout.strip().endswith("ok")


def test_scan_in_the_image_writes_what_the_host_computes(image, tmp_path):
    """`agcflow scan` of one sbottom region with two signal patches, inside the image, reading a
    read-only bind mount and writing to a writable one; the same scan on the host gives the
    same CLs (same pins, same numpy backend)."""
    data = tmp_path / "data"
    members = [f"{REGION}/BkgOnly.json", *(f"{REGION}/patch.{name}.json" for name in PATCHES)]
    with tarfile.open(PALLET) as archive:
        archive.extractall(data, members=[archive.getmember(m) for m in members], filter="data")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image's user (uid 1000) writes here
    args = [f"/data/{REGION}", "--output-dir", "/out", "--backend", "numpy", "--workers", "1", "--no-progress"]
    run = podman("run", "--rm", "--volume", f"{data}:/data:ro", "--volume", f"{out}:/out", image, "scan", *args, timeout=600)
    assert "scanned 2 points in 1 regions, 0 failed" in run.stdout + run.stderr

    result = out / f"{REGION}.json"
    assert result.stat().st_uid == 1000, "not written by the image's non-root user"
    records = json.loads(result.read_text())
    assert sorted(records) == sorted(PATCHES)
    for name, record in records.items():
        assert record["status"] == "ok" and record["error"] is None, record
        assert 0 < record["CLs_obs"] < 1 and len(record["CLs_exp"]) == 5
        assert record["CLs_exp"] == sorted(record["CLs_exp"])
        assert record["values"] == [float(v) for v in name.split("_")[1:]]

    host_out = tmp_path / "host"
    agcflow = Path(sys.executable).parent / "agcflow"
    host_args = [str(data / REGION), *args[1:]]
    host_args[host_args.index("/out")] = str(host_out)
    host = subprocess.run([str(agcflow), "scan", *host_args], capture_output=True, text=True, timeout=600)
    assert host.returncode == 0, host.stdout[-3000:] + host.stderr[-3000:]
    expected = json.loads((host_out / f"{REGION}.json").read_text())
    for name, record in records.items():
        assert record["CLs_obs"] == pytest.approx(expected[name]["CLs_obs"], rel=1e-6)
        assert record["CLs_exp"] == pytest.approx(expected[name]["CLs_exp"], rel=1e-6)
