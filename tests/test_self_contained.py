"""The repository stands alone: code, configs and tests read nothing outside it."""

from __future__ import annotations

import subprocess

import yaml

from conftest import ROOT

CODE_DIRS = ["analysis", "configs", "tests", "workflow", "profiles", "docker", "recast", ".ci"]


def test_no_file_refers_to_a_path_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files", *CODE_DIRS, "Snakefile", "Makefile", "reana.yaml"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = [name for name in tracked
                 if name != "tests/test_self_contained.py" and "../shared" in (ROOT / name).read_text(errors="replace")]
    assert offenders == [], f"these files read ../shared, outside the repository: {offenders}"


def test_config_input_lists_are_in_the_repository():
    for path in (ROOT / "configs").glob("*.yaml"):
        inputs = yaml.safe_load(path.read_text()).get("inputs", {})
        for key in ("agc_list", "fileset"):
            value = inputs.get(key)
            if value:
                resolved = (ROOT / value).resolve()
                assert resolved.is_relative_to(ROOT), f"{path.name}: inputs.{key} = {value} is outside the repository"
                assert resolved.exists(), f"{path.name}: inputs.{key} = {value} does not exist"
