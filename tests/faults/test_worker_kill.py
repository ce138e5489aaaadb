"""A worker SIGKILLed mid-run on a real LocalCluster with nanny processes: the run completes,
the histograms equal an undisturbed run's, every delivered event is processed exactly once,
and the failure budget the scheduler ran with is recorded in the metrics."""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
import pytest
from distributed import WorkerPlugin

from agcflow import stages as pipeline
from agcflow.compute.cluster import open_client
from agcflow.config import ClusterSettings
from agcflow.processing.histograms import load_root

from .conftest import fault_settings

pytestmark = pytest.mark.faults

ALLOWED_FAILURES = 3
KILL_AT_TASK = 5  # a worker's 5th task of about 70 chunk and reduction tasks


class KillOnce(WorkerPlugin):
    """SIGKILLs its worker's process as the worker starts its ``nth`` task. The first worker to
    get there claims the marker file; the one its nanny starts in its place lives on."""

    def __init__(self, marker: str, nth: int) -> None:
        self.marker, self.nth, self.started = marker, nth, 0

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing":
            return
        self.started += 1
        if self.started == self.nth and claim(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)


def claim(marker: str) -> bool:
    """Create ``marker`` holding this process's id; False when another process did first."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


@pytest.fixture(scope="module")
def own_client():
    """A cluster of its own: the test kills one of its workers."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    try:
        with open_client(ClusterSettings(workers=2, allowed_failures=ALLOWED_FAILURES)) as client:
            yield client
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def process(settings, manifest, out, client) -> tuple[dict, dict]:
    pipeline.run_processing(settings, manifest, out / "histograms.root", out / "metrics.json", client, progress=False)
    return load_root(out / "histograms.root"), json.loads((out / "metrics.json").read_text())


def test_worker_killed_mid_run(fault_base, fault_fileset, fault_manifest, own_client, tmp_path):
    settings = fault_settings(fault_base, fault_fileset, {"processing.chunk_size": 20})
    reference, reference_metrics = process(settings, fault_manifest, tmp_path / "undisturbed", own_client)
    workers_before = set(own_client.run(os.getpid).values())
    marker = tmp_path / "killed.pid"
    own_client.register_plugin(KillOnce(str(marker), KILL_AT_TASK), name="kill-once")
    try:
        hists, metrics = process(settings, fault_manifest, tmp_path / "disturbed", own_client)
    finally:
        own_client.unregister_worker_plugin("kill-once")
    killed = int(marker.read_text())
    assert killed in workers_before and killed not in own_client.run(os.getpid).values()
    assert metrics["chunks"] > 2 * KILL_AT_TASK  # the kill came mid-run
    delivered = json.loads(fault_manifest.read_text())["events_out"]
    assert metrics["events_processed"] == reference_metrics["events_processed"] == delivered > 0
    assert metrics["allowed_failures"] == ALLOWED_FAILURES
    assert hists.keys() == reference.keys()
    for name, expected in reference.items():  # equal up to the order of floating-point sums
        np.testing.assert_allclose(hists[name].values(flow=True), expected.values(flow=True), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(hists[name].variances(flow=True), expected.variances(flow=True), rtol=1e-12)
