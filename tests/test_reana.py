"""reana.yaml validated by reana-client itself (which parses the Snakefile with Snakemake 7).

reana-client pins Snakemake 7 and an old jsonschema, so it lives in its own virtual
environment, made once under .cache/ (PyPI must be reachable the first time).
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

REANA_CLIENT = "reana-client==0.9.6"


@pytest.fixture(scope="module")
def reana_client() -> Path:
    env = ROOT / ".cache" / "reana-venv"
    client = env / "bin" / "reana-client"
    if not client.exists():
        venv.create(env, with_pip=True)
        install = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", REANA_CLIENT],
                                 capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return client


def test_reana_yaml_is_valid_for_reana(reana_client):
    result = subprocess.run([str(reana_client), "validate", "-f", "reana.yaml"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid REANA specification file" in output, output
    assert "Workflow parameters and commands appear valid" in output, output  # warnings replace this line
    assert "ERROR" not in output, output
