"""The driver killed mid-run (SIGKILL to its whole process tree, as by the OOM killer or a lost
node), then rerun: only unfinished work is redone and no partial file is ever used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from agcflow import stages as pipeline
from agcflow.delivery.local import read_columns
from conftest import ROOT

from .conftest import dataset_size, fault_overrides, fault_settings, write_fault_config

pytestmark = pytest.mark.faults

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(args, cwd=cwd, env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the moment to kill never came (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the process and every descendant (the stage, its Dask nannies and workers)."""
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for member in tree:
        member.kill()
    psutil.wait_procs(tree, timeout=30)
    proc.wait()


def text(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def snakemake_args(config: Path, target: Path) -> list[str]:
    """A Snakemake run of ``target`` in the test's own directory. A SIGKILLed Snakemake leaves its
    lock behind (recovery: ``--unlock``); nothing else runs in that directory, so no lock is taken.
    The profile's rerun-incomplete redoes a job that was killed. One core: one Dask worker per
    stage, the quickest to start."""
    return [str(BIN / "snakemake"), str(target), "--snakefile", str(ROOT / "Snakefile"), "--nolock",
            "--profile", str(ROOT / "profiles/local"), "--cores", "1", "--config", f"agcflow_config={config}"]


def test_snakemake_killed_while_processing_reruns_only_processing(fault_fileset, tmp_path):
    config = write_fault_config(tmp_path, fault_fileset, {"processing.chunk_size": 100})  # a few seconds
    results = tmp_path / "results"
    manifest, metrics = results / "delivery/manifest.json", results / "metrics/processing.json"
    args = snakemake_args(config, metrics)
    proc = start(args, tmp_path, tmp_path / "killed.log")  # its own directory: its .snakemake, its locks
    wait_for(lambda: "local Dask cluster" in text(results / "logs/process.log"), proc, tmp_path / "killed.log")
    kill_tree(proc)
    assert manifest.is_file() and not metrics.exists() and not (results / "histograms/histograms.root").exists()
    delivered_at = manifest.stat().st_mtime_ns
    rerun = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    jobs = set(re.findall(r"^(\w+)\s+\d+$", rerun.stdout + rerun.stderr, flags=re.MULTILINE))
    assert jobs == {"process", "total"}, rerun.stdout + rerun.stderr
    assert manifest.stat().st_mtime_ns == delivered_at
    result = json.loads(metrics.read_text())
    assert result["events_processed"] == json.loads(manifest.read_text())["events_out"] > 0
    assert not [p for p in results.rglob("*") if ".tmp" in p.name]


def complete_entries(cache: Path) -> dict[Path, dict]:
    """Cache entries whose sidecar (written last) exists, with the sidecar's record; a sidecar
    still being written is a hidden temporary (``.<name>.<random>.tmp.json``), not an entry."""
    return {path: json.loads(path.read_text()) for path in cache.rglob("*.json") if not path.name.startswith(".")}


def test_deliver_killed_leaves_only_complete_cache_entries_and_rerun_reuses_them(fault_fileset, tmp_path, dask_client):
    output = tmp_path / "manifest.json"
    flags = [flag for key, value in fault_overrides(tmp_path, fault_fileset).items()
             for flag in ("--set", f"{key}={json.dumps(value)}")]
    args = [str(BIN / "agcflow"), "deliver", *flags, "--no-progress", "--output", str(output)]
    proc = start(args, ROOT, tmp_path / "deliver.log")
    wait_for(lambda: complete_entries(tmp_path / "cache"), proc, tmp_path / "deliver.log")
    kill_tree(proc)
    entries = complete_entries(tmp_path / "cache")
    files, events = dataset_size(fault_fileset)
    assert not output.exists() and 0 < len(entries) < files
    cache = tmp_path / "cache"
    for sidecar, record in entries.items():  # sidecars name their files relative to the cache directory
        assert cache / record["columns"] == sidecar.with_suffix(".columns.npz")
        assert len(read_columns(cache / record["columns"])["event"]) == record["nevts_out"]
    settings = fault_settings(tmp_path, fault_fileset)
    manifest = pipeline.run_delivery(settings, output, client=dask_client, progress=False)
    assert manifest.files_cached == len(entries)
    assert manifest.events_in == events
    reused = {r.columns for s in manifest.samples.values() for r in s.files if r.cached}
    assert reused == {str(cache / record["columns"]) for record in entries.values()}  # no temporary file among them
