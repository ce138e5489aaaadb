"""dask-jobqueue as sites configure it: the site's jobqueue.yaml applies to every batch setting
the user left unset, and the user's own values win over it. Each case runs in a fresh Python
process with DASK_CONFIG pointing at a site folder, as a login node's Dask config is read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from agcflow.compute.site_limits import Partition, check_slurm_limits, parse_sinfo
from agcflow.errors import BackendError

SITE_YAML = """\
jobqueue:
  slurm:
    memory: 7GB
    walltime: '03:30:00'
    queue: sitepart
    account: siteacct
    job-extra-directives: ['--qos=site-qos']
    job-script-prologue: ['module load site-python']
    worker-extra-args: ['--resources', 'site=1']
"""

SCRIPT = textwrap.dedent("""
    import json, sys
    from dask_jobqueue.slurm import SLURMJob
    from agcflow.config import ClusterSettings
    from agcflow.compute.jobqueue import job_kwargs
    settings = ClusterSettings(kind="slurm", **json.loads(sys.argv[1]))
    print(SLURMJob(scheduler="tcp://127.0.0.1:8786", name="w", **job_kwargs(settings)).job_script())
""")


def job_script(tmp_path, user_settings: dict, site_yaml: str | None = SITE_YAML) -> subprocess.CompletedProcess:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    if site_yaml is not None:
        (site / "jobqueue.yaml").write_text(site_yaml)
    env = {**os.environ, "DASK_CONFIG": str(site)}
    return subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(user_settings)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


def test_site_values_reach_the_job_script_when_the_user_sets_none(tmp_path):
    run = job_script(tmp_path, {})
    assert run.returncode == 0, run.stderr
    script = run.stdout
    for line in ("#SBATCH --mem=7G", "#SBATCH -t 03:30:00", "#SBATCH -p sitepart", "#SBATCH -A siteacct",
                 "#SBATCH --qos=site-qos", "module load site-python", "--resources site=1",
                 "export MALLOC_TRIM_THRESHOLD_=134217728"):
        assert line in script, f"{line!r} missing from the job script:\n{script}"
    # The site's prologue comes first, agcflow's worker environment after it.
    assert script.index("module load site-python") < script.index("export MALLOC_TRIM_THRESHOLD_")


def test_user_values_win_and_extend_the_site_lists(tmp_path):
    run = job_script(tmp_path, {"memory": "3GB", "walltime": "00:45:00", "queue": "short", "account": "agc",
                                "job_extra_directives": ["--qos=normal"], "job_script_prologue": ["source env.sh"],
                                "worker_lifetime": "40m"})
    assert run.returncode == 0, run.stderr
    script = run.stdout
    for line in ("#SBATCH --mem=3G", "#SBATCH -t 00:45:00", "#SBATCH -p short", "#SBATCH -A agc",
                 "#SBATCH --qos=normal", "source env.sh", "module load site-python",
                 "--resources site=1 --lifetime 40m"):
        assert line in script, f"{line!r} missing from the job script:\n{script}"
    for site_only in ("--mem=7G", "sitepart", "siteacct", "--qos=site-qos"):
        assert site_only not in script


def test_no_memory_anywhere_fails_naming_both_places(tmp_path):
    run = job_script(tmp_path, {}, site_yaml=None)
    assert run.returncode != 0
    assert "cluster.memory is unset" in run.stderr and "jobqueue.slurm.memory" in run.stderr


def test_account_is_refused_for_htcondor():
    from agcflow.compute.jobqueue import job_kwargs
    from agcflow.config import ClusterSettings
    from agcflow.errors import BackendError

    with pytest.raises(BackendError, match="accounting_group"):
        job_kwargs(ClusterSettings(kind="htcondor", account="agc", memory="2GB"))


SINFO = "gpu|64|512000|2-00:00:00|4\nshort*|16|64000|1:00:00|10\nshort*|32+|128000|1:00:00|2\n"


def test_sinfo_partitions_keep_the_largest_node_and_all_nodes():
    partitions = parse_sinfo(SINFO)
    assert partitions["short"] == Partition("short", True, 32, 128000, 12, 3600.0)
    assert partitions["gpu"] == Partition("gpu", False, 64, 512000, 4, 172800.0)
    assert parse_sinfo("") == {}


@pytest.mark.parametrize("queue, threads, memory, walltime, awaited, expected", [
    (None, 1, 2 * 2**30, "00:30:00", 1, None),
    (None, 48, None, None, 1, r"cluster.threads_per_worker = 48: the largest node of SLURM partition 'short'"),
    ("gpu", 1, 600 * 2**30, None, 1, r"cluster.memory = 600.0 GiB .* 'gpu' .* has 500.0 GiB"),
    (None, 1, None, "02:00:00", 1, r"cluster.walltime = '02:00:00': .* 'short' .* at most 1 h per job"),
    # an upper bound (every node as large as the largest): never refuses a pool that could fit
    (None, 8, None, None, 49, r"cluster.workers = 49 .* at most 48 workers of 8 threads"),
    (None, 8, None, None, 48, None),
    ("long", 1, None, None, 1, r"cluster.queue = 'long': SLURM has no such partition; partitions: gpu, short"),
])
def test_sizes_are_checked_against_the_partition(queue, threads, memory, walltime, awaited, expected):
    partitions = parse_sinfo(SINFO)
    check = lambda: check_slurm_limits(partitions, queue, threads, memory, walltime,  # noqa: E731
                                       ("cluster.workers", awaited))
    if expected is None:
        check()
    else:
        with pytest.raises(BackendError, match=expected):
            check()
