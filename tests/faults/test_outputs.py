"""A read-only or full output directory fails fast, before any compute, naming the directory;
atomic writes leave nothing half-written, whether the write fails or its process is killed.
Read-only and full file systems are real tmpfs mounts (skipped where mounting is not allowed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agcflow import pipeline
from agcflow.errors import AgcflowError
from agcflow.io import write_json

from .conftest import fault_settings

pytestmark = pytest.mark.faults

UNREACHABLE = {"cluster.kind": "address", "cluster.address": "tcp://127.0.0.1:9", "cluster.startup_timeout_s": 2}


@pytest.fixture()
def tmpfs(tmp_path):
    """mount(options) -> a fresh tmpfs directory; unmounted after the test."""
    mounted = []

    def mount(options: str) -> Path:
        target = tmp_path / f"mnt{len(mounted)}"
        target.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); needs root with CAP_SYS_ADMIN")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], check=True)


def fill(directory: Path) -> None:
    """Write until the file system says it is full."""
    with pytest.raises(OSError, match="No space left"), open(directory / "filler", "wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()


def unusable_dir(kind: str, tmpfs, tmp_path: Path) -> tuple[Path, str]:
    """An output directory that cannot take files, and the reason the error must give."""
    if kind == "under a regular file":
        (tmp_path / "file").write_text("not a directory")
        return tmp_path / "file" / "out", "Not a directory"
    if kind == "read-only":
        return tmpfs("ro,size=1m") / "out", "Read-only file system"
    full = tmpfs("size=64k")
    fill(full)
    return full, "No space left on device"


@pytest.mark.parametrize("kind", ["read-only", "full", "under a regular file"])
def test_unusable_output_dir_fails_before_any_compute(kind, tmpfs, fault_manifest, fault_fileset, fault_base, tmp_path):
    out, reason = unusable_dir(kind, tmpfs, tmp_path)
    settings = fault_settings(fault_base, fault_fileset, UNREACHABLE)  # compute would fail otherwise: no cluster
    with pytest.raises(AgcflowError, match=f"{out}: cannot write .* \\({reason}\\)"):
        pipeline.run_processing(settings, fault_manifest, out / "histograms.root", out / "metrics.json")
    with pytest.raises(AgcflowError, match=f"{out}: cannot write .* \\({reason}\\)"):
        pipeline.run_delivery(settings, out / "manifest.json")


def test_a_write_failing_midway_leaves_the_old_result_and_no_temporary_file(tmpfs):
    out = tmpfs("size=64k")
    target = write_json(out / "result.json", {"old": True})
    with pytest.raises(AgcflowError, match=f"{out}: cannot write result.json .*No space left on device"):
        write_json(target, {"values": list(range(100_000))})  # ~1 MB of JSON into 64 kB
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in out.iterdir()) == ["result.json"]


def test_a_writer_killed_midway_leaves_the_old_result(tmp_path):
    target = write_json(tmp_path / "result.json", {"old": True})
    writer = ("import sys, time\nfrom agcflow.io import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'{\"half\": ')\n    print('writing', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", writer, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    proc.kill()
    proc.wait()
    assert json.loads(target.read_text()) == {"old": True}
    [leftover] = [p.name for p in tmp_path.iterdir() if p != target]  # SIGKILL: no cleanup ran
    assert leftover.startswith(".result.json.") and ".tmp" in leftover  # hidden, and never read
