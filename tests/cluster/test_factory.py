"""The batch kinds of the cluster factory without a batch system: configuration, job
scripts, fail-fast checks, the failure budget."""

from __future__ import annotations

import time

import pytest

from agcflow import config
from agcflow.compute.cluster import open_client
from agcflow.compute.jobqueue import job_kwargs
from agcflow.config import ClusterSettings
from agcflow.config.enums import CLUSTER_KINDS
from agcflow.errors import BackendError, ConfigError
from conftest import CONFIG


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(BackendError) as err, open_client(ClusterSettings(kind="pbs")):
        pass
    for kind in ("local", "address", "slurm", "htcondor", "gateway"):
        assert kind in str(err.value)
    assert set(CLUSTER_KINDS) == {"local", "address", "slurm", "htcondor", "gateway"}


def test_config_rejects_an_unknown_kind_listing_the_batch_kinds():
    with pytest.raises(ConfigError, match='cluster.kind = "pbs".*slurm, htcondor, gateway'):
        config.load(CONFIG, {"cluster.kind": "pbs"})


@pytest.mark.parametrize(("kind", "tool"), [("slurm", "sbatch"), ("htcondor", "condor_submit")])
def test_missing_submit_command_fails_fast(kind, tool, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing in PATH: no sbatch/condor_submit
    started = time.monotonic()
    with pytest.raises(BackendError) as err, open_client(ClusterSettings(kind=kind, startup_timeout_s=300)):
        pass
    assert time.monotonic() - started < 5, "must fail before starting a scheduler or waiting"
    message = str(err.value)
    assert f"`{tool}`" in message and "not found" in message and "cluster.kind: local" in message


def test_batch_settings_load_from_the_configuration():
    settings = config.load(CONFIG, {
        "cluster.kind": "slurm", "cluster.workers": 8, "cluster.queue": "short", "cluster.memory": "3GB",
        "cluster.walltime": "02:00:00", "cluster.job_extra_directives": ["--account=agc", "--qos=normal"],
        "cluster.minimum_workers": 2, "cluster.worker_lifetime": "110m", "cluster.allowed_failures": 5,
    })
    cluster = settings.cluster
    assert cluster.kind == "slurm" and cluster.queue == "short" and cluster.minimum_workers == 2
    assert cluster.job_extra_directives == ("--account=agc", "--qos=normal")  # a tuple: frozen settings
    assert cluster.allowed_failures == 5
    with pytest.raises(ConfigError, match="cluster.memory"):
        config.load(CONFIG, {"cluster.kind": "slurm", "cluster.memory": "lots"})
    with pytest.raises(ConfigError, match="cluster.worker_lifetim"):
        config.load(CONFIG, {"cluster.kind": "slurm", "cluster.worker_lifetime": "soon"})


def test_slurm_job_script_carries_the_settings():
    from dask_jobqueue.slurm import SLURMJob

    settings = ClusterSettings(
        kind="slurm", threads_per_worker=2, queue="short", memory="3GB", walltime="02:00:00",
        job_extra_directives=("--account=agc",), worker_lifetime="110m", worker_lifetime_stagger="5m",
        worker_env=(("MALLOC_TRIM_THRESHOLD_", "134217728"),),
    )
    script = SLURMJob(scheduler="tcp://127.0.0.1:8786", name="w", **job_kwargs(settings)).job_script()
    for line in ("#SBATCH -p short", "#SBATCH --cpus-per-task=2", "#SBATCH -t 02:00:00", "#SBATCH --account=agc",
                 "#SBATCH -J agcflow-dask", "export MALLOC_TRIM_THRESHOLD_=134217728"):
        assert line in script, line
    assert "--nthreads 2" in script and "--lifetime 110m --lifetime-stagger 5m" in script
    assert "--lifetime-restart" not in script


def test_htcondor_job_script_carries_the_settings():
    from dask_jobqueue.htcondor import HTCondorJob

    settings = ClusterSettings(kind="htcondor", job_extra_directives=('+JobFlavour = "workday"',),
                               worker_lifetime="55m", worker_lifetime_restart=True, disk="2GB",
                               memory="2GB")
    script = HTCondorJob(scheduler="tcp://127.0.0.1:8786", name="w", **job_kwargs(settings)).job_script()
    assert '+JobFlavour = "workday"' in script
    assert "export MALLOC_TRIM_THRESHOLD_=134217728" in script and "--lifetime-restart" in script
    with pytest.raises(BackendError, match="Key = value"):
        job_kwargs(ClusterSettings(kind="htcondor", job_extra_directives=("no equals sign",)))


def test_minimum_above_maximum_is_refused(monkeypatch):
    import shutil as shutil_module

    monkeypatch.setattr(shutil_module, "which", lambda tool: f"/usr/bin/{tool}")
    with pytest.raises(BackendError, match="minimum_workers = 3 exceeds cluster.workers = 2"), \
            open_client(ClusterSettings(kind="slurm", workers=2, minimum_workers=3)):
        pass


def test_local_cluster_sets_the_failure_budget():
    with open_client(ClusterSettings(workers=1, allowed_failures=7)) as client:
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 7
