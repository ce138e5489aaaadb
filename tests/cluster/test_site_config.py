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
