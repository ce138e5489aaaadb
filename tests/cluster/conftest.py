"""Fixtures of the cluster tests: a real one-node SLURM on this host (tests/slurm_env.py).

Tests that need it are marked ``@pytest.mark.slurm`` and take the ``slurm_cluster`` fixture.
Without SLURM installed (``bash .ci/install-slurm.sh``) or without root they skip with the
reason; with ``AGCFLOW_REQUIRE_SLURM=1`` that skip is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from slurm_env import SlurmTestCluster, unavailable_reason


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slurm: runs jobs on a real one-node SLURM started by the slurm_cluster fixture "
        "(skips without SLURM unless AGCFLOW_REQUIRE_SLURM=1)",
    )


def _require_slurm() -> bool:
    return os.environ.get("AGCFLOW_REQUIRE_SLURM", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A started SlurmTestCluster; SLURM_CONF and PATH point the client tools at it."""
    reason = unavailable_reason()
    if reason:
        if _require_slurm():
            pytest.fail(f"AGCFLOW_REQUIRE_SLURM=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("slurm")
    own_base = None
    if len(str(base)) > 60:  # munge's unix socket path must stay short (<108 bytes)
        own_base = Path(tempfile.mkdtemp(prefix="agcflow-slurm-"))
        base = own_base
    cluster = SlurmTestCluster(base)
    started = time.monotonic()
    try:
        cluster.start()
    except Exception as err:  # installed but broken: a failure, never a skip
        pytest.fail(f"the test SLURM did not start in {time.monotonic() - started:.1f} s: {err}", pytrace=False)
    print(f"\n[slurm_cluster] one-node SLURM up in {cluster.startup_s:.2f} s ({cluster.conf})")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in cluster.env.items():
            patch.setenv(key, value)
        try:
            yield cluster
        finally:
            cluster.stop()
    if own_base is not None:
        shutil.rmtree(own_base, ignore_errors=True)
