"""Real SLURM runs (tests/slurm_env.py): Snakemake's slurm executor through
profiles/slurm, and a dask-jobqueue SLURMCluster behind agcflow.compute.cluster.open_client.

Every SLURM call has a hard timeout: a wrong status setting (e.g. the plugin waiting on
`sacct` without slurmdbd) fails the test instead of hanging it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agcflow import stages as pipeline
from agcflow.compute.cluster import open_client, worker_count
from agcflow.compute.jobqueue import JOB_NAME
from agcflow.config import ClusterSettings
from agcflow.errors import BackendError, ServiceError
from agcflow.processing import histograms
from conftest import HZZ_CONFIG, ROOT, tiny_hzz_overrides, write_config, write_tiny_config

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

BIN = Path(sys.executable).parent
SNAKEMAKE_TIMEOUT_S = 540
RULES = ("generate", "deliver", "process", "workspace", "fit")


def _queue(cluster) -> str:
    return subprocess.run(["squeue", "--states=all", "-o", "%i %j %T %M"], capture_output=True, text=True,
                          timeout=20).stdout


def _job_ids(cluster) -> set[str]:
    return {line.split()[0] for line in _queue(cluster).splitlines()[1:] if line.strip()}


TINY_CONFIGS = {  # each analysis plugin's tiny config, for the same unchanged workflow
    "ttbar": write_tiny_config,
    "hzz": lambda base: write_config(base / "hzz.yaml", tiny_hzz_overrides(base), HZZ_CONFIG),
}


@pytest.mark.timeout(SNAKEMAKE_TIMEOUT_S + 120)
@pytest.mark.parametrize("analysis", sorted(TINY_CONFIGS))
def test_snakemake_slurm_profile_runs_the_chain(slurm_cluster, tmp_path, analysis):
    config = TINY_CONFIGS[analysis](tmp_path)
    results, slurm_logs = tmp_path / "results", tmp_path / "slurm-logs"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "AGCFLOW_SLURM_PARTITION": slurm_cluster.partition,  # not the default partition: must reach sbatch
           "AGCFLOW_SLURM_ACCOUNT": "agc-site"}  # the site profile's account, set alone
    command = [
        str(BIN / "snakemake"), "--profile", "profiles/slurm", "--cores", "2",
        "--config", f"agcflow_config={config}",
        # quicker first status check than the profile's 40 s; MinJobAge 300 s >= 3 x 5 s
        "--slurm-init-seconds-before-status-checks", "5",
        "--slurm-logdir", str(slurm_logs), "--slurm-keep-successful-logs",
    ]
    started = time.monotonic()
    try:
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=SNAKEMAKE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        pytest.fail(f"snakemake --profile profiles/slurm still running after {SNAKEMAKE_TIMEOUT_S} s "
                    f"(status command stuck?)\nsqueue:\n{_queue(slurm_cluster)}\n{out[-3000:]}")
    wall_s = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    print(f"\n[slurm] snakemake --profile profiles/slurm: {wall_s:.1f} s wall")

    for name in ("histograms/histograms.root", "metrics/processing.json", "workspace/workspace.json",
                 "fit/fit_results.json", "fit/yields_prefit.json", "fit/yields_postfit.json"):
        assert (results / name).is_file(), name
    assert json.loads((results / "fit/fit_results.json").read_text())["success"] is True
    # every rule ran as its own SLURM job: one submission line and one SLURM log per rule
    submitted = dict(re.findall(r"SLURM jobid (\d+) \(log: \S+/rule_(\w+)/", output))
    assert sorted(submitted.values()) == sorted(RULES), output[-3000:]
    for job_id, rule in submitted.items():
        log = slurm_logs / f"rule_{rule}" / f"{job_id}.log"
        assert log.is_file(), log
        assert "executor slurm-jobstep" in log.read_text() or "slurm-jobstep" in log.read_text()
    # and SLURM knows them (squeue keeps finished jobs for MinJobAge s): all COMPLETED
    queue = _queue(slurm_cluster)
    for job_id in submitted:
        assert re.search(rf"^{job_id} \S+ COMPLETED", queue, flags=re.MULTILINE), queue
    # the site profile's account and partition reached every job, with the rule's own resources
    accounts = subprocess.run(["squeue", "--states=all", "-o", "%i %a %P %l"], capture_output=True, text=True,
                              timeout=20).stdout
    for job_id, rule in submitted.items():
        assert re.search(rf"^{job_id} agc-site {slurm_cluster.partition} ", accounts, flags=re.MULTILINE), accounts
    assert re.search(rf"^{next(j for j, r in submitted.items() if r == 'process')} \S+ \S+ 4:00:00$",
                     accounts, flags=re.MULTILINE), accounts  # RULE_RESOURCES: process runtime 240 min
    # `--set cluster.workers={threads}` reached the job: the processing ran on --cores 2 workers
    metrics = json.loads((results / "metrics/processing.json").read_text())
    assert metrics["workers"] == 2, metrics


def _slurm_settings(cluster, tmp_path: Path, **extra) -> ClusterSettings:
    values = dict(kind="slurm", workers=2, threads_per_worker=1, queue=cluster.partition, memory="2GB",
                  walltime="00:20:00", log_directory=str(tmp_path / "dask-logs"), startup_timeout_s=120,
                  allowed_failures=2, worker_lifetime="15m", worker_lifetime_stagger="1m")
    values.update(extra)
    return ClusterSettings(**values)


@pytest.mark.timeout(600)
def test_slurmcluster_processing_pass_matches_local(slurm_cluster, tiny_settings, tiny_fileset, dask_client,
                                                     tmp_path):
    def run(client, name):
        out = tmp_path / name
        settings = dataclasses.replace(
            tiny_settings, delivery=dataclasses.replace(tiny_settings.delivery, cache_dir=out / "cache"))
        started = time.monotonic()
        pipeline.run_delivery(settings, out / "manifest.json", client=client, progress=False)
        metrics = pipeline.run_processing(settings, out / "manifest.json", out / "histograms.root",
                                          out / "metrics.json", client=client, progress=False)
        return histograms.load_root(out / "histograms.root"), metrics, time.monotonic() - started

    settings = _slurm_settings(slurm_cluster, tmp_path)
    started = time.monotonic()
    with open_client(settings) as client:
        startup_s = time.monotonic() - started
        assert worker_count(client) == (2, 2)
        assert client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == 2
        env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert set(env.values()) == {"134217728"}, env
        jobs = [line for line in _queue(slurm_cluster).splitlines() if f" {JOB_NAME} RUNNING" in line]
        assert len(jobs) == 2, _queue(slurm_cluster)
        slurm_hists, slurm_metrics, slurm_s = run(client, "slurm")
    local_hists, local_metrics, local_s = run(dask_client, "local")
    print(f"\n[slurm] SLURMCluster: 2 workers up in {startup_s:.1f} s; delivery+processing {slurm_s:.1f} s "
          f"(local cluster {local_s:.1f} s); {len(slurm_hists)} histograms, {slurm_metrics['events']} events")
    assert slurm_metrics["events"] == local_metrics["events"] > 0
    assert slurm_metrics["workers"] == 2
    assert len(slurm_hists) > 10
    assert histograms.compare(slurm_hists, local_hists) == []
    # the worker jobs end with the client
    deadline = time.monotonic() + 60
    while any(f" {JOB_NAME} RUNNING" in line for line in _queue(slurm_cluster).splitlines()):
        assert time.monotonic() < deadline, _queue(slurm_cluster)
        time.sleep(1)


@pytest.mark.timeout(180)
def test_worker_startup_timeout_is_a_clear_error(slurm_cluster, tmp_path):
    # --hold: SLURM accepts the job but never starts it; the workers cannot arrive.
    settings = _slurm_settings(slurm_cluster, tmp_path, workers=1, startup_timeout_s=8,
                               job_extra_directives=("--hold",))
    started = time.monotonic()
    with pytest.raises(ServiceError) as err, open_client(settings):
        pass
    elapsed = time.monotonic() - started
    message = str(err.value)
    assert 8 <= elapsed < 60, elapsed
    assert "cluster.kind = 'slurm'" in message and "0 of 1 Dask worker(s) connected" in message
    assert f"squeue --name {JOB_NAME}" in message and "sbatch" in message and "#SBATCH --hold" in message
    assert re.search(r"jobs submitted: \d+", message), message
    # the held job was cancelled on the way out
    deadline = time.monotonic() + 30
    while re.search(rf" {JOB_NAME} PENDING", _queue(slurm_cluster)):
        assert time.monotonic() < deadline, _queue(slurm_cluster)
        time.sleep(1)


@pytest.mark.timeout(120)
def test_refused_submission_fails_without_waiting_for_the_timeout(slurm_cluster, tmp_path):
    settings = _slurm_settings(slurm_cluster, tmp_path, startup_timeout_s=90,
                               job_extra_directives=("--constraint=nosuchfeature",))
    started = time.monotonic()
    with pytest.raises(ServiceError) as err, open_client(settings):
        pass
    assert time.monotonic() - started < 30
    message = str(err.value)
    assert "`sbatch` failed" in message and "invalid feature" in message.lower(), message


@pytest.mark.timeout(60)
@pytest.mark.parametrize("extra, expected", [
    (dict(queue="no-such-partition"), r"cluster.queue = 'no-such-partition': SLURM has no such partition; "
                                      r"partitions: agcflowtest"),
    (dict(threads_per_worker=64, workers=1), r"cluster.threads_per_worker = 64: the largest node of SLURM "
                                             r"partition 'agcflowtest' \(sinfo\) has \d+ CPUs"),
    (dict(memory="100TB"), r"cluster.memory = 93132.3 GiB per worker job: the largest node .* has [\d.]+ GiB"),
    (dict(workers=100000), r"cluster.workers = 100000 \(workers awaited before the stage starts\): .* holds "
                           r"at most \d+ workers of 1 threads"),
    (dict(workers=100000, minimum_workers=1), None),  # adaptive: only the minimum is awaited
])
def test_sizes_beyond_the_partition_fail_before_any_job_is_submitted(slurm_cluster, tmp_path, extra, expected):
    """The limits come from the real partition (sinfo); nothing reaches the queue."""
    settings = _slurm_settings(slurm_cluster, tmp_path, startup_timeout_s=60, **extra)
    jobs_before = _job_ids(slurm_cluster)
    started = time.monotonic()
    if expected is None:
        with open_client(settings) as client:
            assert client.submit(sum, [1, 2]).result() == 3
        return
    with pytest.raises(BackendError, match=expected), open_client(settings):
        pass
    assert time.monotonic() - started < 10
    assert _job_ids(slurm_cluster) == jobs_before
