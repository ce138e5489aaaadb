"""reana.yaml validated by reana-client itself (which parses the Snakefile with Snakemake 7), and the
workflow run through Snakemake 7 the way REANA's Snakemake engine calls it.

reana-client pins Snakemake 7 and an old jsonschema, so it lives in its own virtual
environment, made once under .cache/ (PyPI must be reachable the first time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, tool_venv, write_tiny_config

pytestmark = pytest.mark.slow

REANA_CLIENT = "reana-client==0.9.6"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def reana_client() -> Path:
    return tool_venv("reana-venv", [REANA_CLIENT]) / "reana-client"


def test_reana_yaml_is_valid_for_reana(reana_client):
    result = subprocess.run([str(reana_client), "validate", "-f", "reana.yaml"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid REANA specification file" in output, output
    assert "Workflow parameters and commands appear valid" in output, output  # warnings replace this line
    assert "ERROR" not in output, output


# reana-workflow-engine-snakemake 0.9 (executor.run_jobs) calls Snakemake 7's API with these
# arguments, the workflow parameters of reana.yaml as `config` and no core count (cores=1), plus
# cluster="reana" and nodes=300 with its own executor sending each job's shell command to a
# Kubernetes pod. Here the jobs run locally instead (no cluster, no container): `agcflow`
# from this test's PATH.
REANA_ENGINE_RUN = """
import json, sys
from snakemake import __version__, snakemake
print("Snakemake", __version__)
from snakemake.resources import DefaultResources
snakefile, workspace, parameters = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ok = snakemake(snakefile=snakefile, config=parameters, workdir=workspace, keep_logger=True,
               default_resources=DefaultResources(mode="bare"), printshellcmds=True, notemp=True)
sys.exit(0 if ok else 1)
"""


def reana_parameters(**overrides) -> dict:
    parameters = yaml.safe_load((ROOT / "reana.yaml").read_text())["inputs"]["parameters"]
    return {**parameters, **overrides}


@pytest.mark.timeout(1800)  # the whole chain to the fit (about 10 min on a loaded 2-core machine)
def test_reana_engine_snakemake7_runs_the_workflow_to_the_fit(reana_client, tmp_path):
    config = write_tiny_config(tmp_path)
    parameters = reana_parameters(agcflow_config=str(config), threads=2)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([str(reana_client.parent / "python"), "-c", REANA_ENGINE_RUN, str(ROOT / "Snakefile"),
                          str(ROOT), json.dumps(parameters)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1200)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Snakemake 7." in output, output[-2000:]
    fit = json.loads((tmp_path / "results" / "fit" / "fit_results.json").read_text())
    assert fit, "empty fit results"
    # Run locally, Snakemake 7 caps the threads at its cores (1); REANA's cluster mode does not.
    process_log = (tmp_path / "results" / "logs" / "process.log").read_text()
    assert "local Dask cluster: 1 workers" in process_log, process_log[-2000:]
