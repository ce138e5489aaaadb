"""A local cluster as a busy node sees it: sizes beyond the machine refused before anything starts,
the dashboard link logged, and a shutdown that does not finish in time logged, not raised."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from agcflow.compute.cluster import open_client, usable_cores
from agcflow.config import ClusterSettings
from agcflow.errors import BackendError


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
