"""A read-only or full output directory fails fast, before any compute, naming the directory;
atomic writes leave nothing half-written, whether the write fails or its process is killed.
Read-only and full file systems are real tmpfs mounts (skipped where mounting is not allowed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agcflow import stages as pipeline
from agcflow.errors import AgcflowError
from agcflow.util.io import write_json

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
    writer = ("import sys, time\nfrom agcflow.util.io import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'{\"half\": ')\n    print('writing', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", writer, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    proc.kill()
    proc.wait()
    assert json.loads(target.read_text()) == {"old": True}
    [leftover] = [p.name for p in tmp_path.iterdir() if p != target]  # SIGKILL: no cleanup ran
    assert leftover.startswith(".result.json.") and ".tmp" in leftover  # hidden, and never read


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones included) and its content."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_a_fit_failing_midway_leaves_the_previous_set_whole(tmp_path, monkeypatch, failure):
    from agcflow.config import FitSettings
    from agcflow.stats import fit as fit_module
    from agcflow.stats import plots

    from .test_fit_failures import workspace

    settings = FitSettings(backend="numpy", device="cpu", ranking=True)
    out = tmp_path / "fit"
    first = fit_module.fit_workspace(workspace(100.0, 160.0), settings, out, out / "figures")
    assert first.success and (out / "ranking.json").is_file() and (out / "figures" / "pulls.png").is_file()
    before = _snapshot(out)

    def broken_figure(*args, **kwargs):  # after fit_results.json and the yields are written
        raise failure("injected: the correlation figure cannot be written")

    monkeypatch.setattr(plots, "correlation_figure", broken_figure)
    with pytest.raises(failure, match="injected"):
        fit_module.fit_workspace(workspace(100.0, 220.0), settings, out, out / "figures")
    assert _snapshot(out) == before  # the old set, byte for byte; no staged or partial file
    assert not list(out.rglob(".agcflow-staging*"))


def test_a_fit_replaces_every_member_of_the_previous_set(tmp_path):
    from agcflow.config import FitSettings
    from agcflow.stats.fit import fit_workspace

    from .test_fit_failures import workspace

    out = tmp_path / "fit"
    fit_workspace(workspace(100.0, 160.0), FitSettings(backend="numpy", device="cpu", ranking=True), out, out)
    outcome = fit_workspace(workspace(100.0, 220.0), FitSettings(backend="numpy", device="cpu", ranking=False), out, out)
    assert outcome.success
    assert not (out / "ranking.json").exists() and not (out / "ranking.png").exists()  # not of this run
    assert all(path.parent == out and path.is_file() for path in outcome.files)
    assert json.loads((out / "fit_results.json").read_text())["poi_bestfit"] == pytest.approx(outcome.poi_bestfit)


def test_workspace_is_not_written_when_bkg_only_cannot_be(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [sys.executable, "-m", "agcflow", "workspace", "--histograms", str(tmp_path / "never_read.root"),
         "--output", str(tmp_path / "ws" / "workspace.json"), "--bkg-only", str(blocker / "bkg_only.json")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and f"{blocker}: cannot write" in result.stderr, result.stderr
    assert "never_read.root" not in result.stderr  # checked before any input is read
    assert not (tmp_path / "ws" / "workspace.json").exists()


def test_atomic_set_writes_all_files_or_none(tmp_path):
    from agcflow.util.io import atomic_set

    first, second = tmp_path / "one", tmp_path / "two"
    with atomic_set(first, second) as staging:
        write_json(staging[first] / "a.json", {"run": 1})
        write_json(staging[second] / "b.json", {"run": 1})
    before = {**_snapshot(first), **_snapshot(second)}
    assert before == {"a.json": b'{\n  "run": 1\n}\n', "b.json": b'{\n  "run": 1\n}\n'}
    with pytest.raises(RuntimeError), atomic_set(first, second) as staging:
        write_json(staging[first] / "a.json", {"run": 2})
        raise RuntimeError("the second file fails")
    assert {**_snapshot(first), **_snapshot(second)} == before
