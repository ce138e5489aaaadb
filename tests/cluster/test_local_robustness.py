"""A local cluster as a busy node sees it: sizes beyond the machine refused before anything starts,
the dashboard link logged, and a shutdown that does not finish in time logged, not raised."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import uproot

from agcflow.compute.cluster import open_client, usable_cores
from agcflow.config import ClusterSettings
from agcflow.errors import BackendError
from conftest import write_tiny_config


def test_more_workers_than_cores_fail_at_once_naming_value_and_limit():
    started = time.monotonic()
    with pytest.raises(BackendError, match=rf"cluster.workers = 100000 .* this machine gives {usable_cores()} cores"), \
            open_client(ClusterSettings(workers=100000)):
        pass
    assert time.monotonic() - started < 5


def test_threads_count_towards_the_limit():
    with pytest.raises(BackendError, match="cluster.threads_per_worker = 64"), \
            open_client(ClusterSettings(workers=1, threads_per_worker=64)):
        pass


def test_dashboard_link_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="agcflow.compute.cluster")
    with open_client(ClusterSettings(workers=1)) as client:
        link = client.dashboard_link
    assert link.startswith("http://") and f"Dask dashboard: {link}" in caplog.text


def test_dashboard_off_logs_no_link(caplog):
    caplog.set_level(logging.INFO, logger="agcflow.compute.cluster")
    with open_client(ClusterSettings(workers=1, dashboard=None)):
        pass
    assert "Dask dashboard" not in caplog.text


def test_a_shutdown_that_hangs_is_logged_and_the_stage_finishes(caplog):
    """The workers are frozen (SIGSTOP) before the cluster closes, as on a node too busy to answer:
    the close gives up after shutdown_timeout_s with a warning and the block's result stands."""
    caplog.set_level(logging.WARNING, logger="agcflow.compute.cluster")
    settings = ClusterSettings(workers=1, shutdown_timeout_s=2, dashboard=None)
    pids: list[int] = []
    started = time.monotonic()
    try:
        with open_client(settings) as client:
            result = client.submit(sum, [1, 2, 3]).result()
            pids = list(client.run(os.getpid).values())
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert result == 6
    assert time.monotonic() - started < 60
    assert "cluster.shutdown_timeout_s = 2" in caplog.text, caplog.text


@pytest.mark.timeout(420)
def test_a_stage_finishes_on_a_node_saturated_by_other_processes(tmp_path):
    """`agcflow process` with every core already busy (two spinning processes per core, as on a
    shared login or worker node): the stage finishes, writes its outputs, and closing its cluster
    does not fail it."""
    config_path = write_tiny_config(tmp_path)
    results = tmp_path / "results"
    agcflow = [sys.executable, "-m", "agcflow"]
    for stage in ("generate", "deliver"):
        subprocess.run([*agcflow, stage, "--config", str(config_path), "--no-progress"], check=True,
                       capture_output=True, cwd=tmp_path, timeout=300)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * usable_cores())]
    try:
        time.sleep(1)
        assert all(hog.poll() is None for hog in hogs)
        started = time.monotonic()
        done = subprocess.run(
            [*agcflow, "process", "--config", str(config_path), "--no-progress",
             "--set", "cluster.shutdown_timeout_s=5",
             "--manifest", str(results / "delivery" / "manifest.json"),
             "--output", str(results / "histograms" / "histograms.root"),
             "--metrics", str(results / "metrics" / "processing.json")],
            capture_output=True, text=True, cwd=tmp_path, timeout=360)
        elapsed = time.monotonic() - started
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((results / "metrics" / "processing.json").read_text())
    manifest = json.loads((results / "delivery" / "manifest.json").read_text())
    assert metrics["events_processed"] == manifest["events_out"] > 0, (metrics, manifest["events_out"])
    with uproot.open(results / "histograms" / "histograms.root") as histograms:
        assert len(histograms.keys()) > 10
    print(f"\n[saturated] process stage: {elapsed:.1f} s with {len(hogs)} spinning processes on {usable_cores()} cores")
