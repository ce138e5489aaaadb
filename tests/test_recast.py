"""recast/ checked by recast-atlas itself, and its yadage workflow run on a tiny analysis.

recast-atlas and yadage live in their own virtual environment, made once under .cache/
(PyPI must be reachable the first time). The run swaps the steps' container for packtivity's
`localproc-env`, so `agcflow` runs from this environment's PATH instead of the image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import HZZ_CONFIG, ROOT, tiny_hzz_overrides, tiny_overrides, tool_venv, write_config

pytestmark = pytest.mark.slow

# yadage[viz] (pydot, pydotplus; and graphviz, ImageMagick): `recast run` always draws the DAG (visualize=True).
RECAST_PACKAGES = ["recast-atlas==0.4.2", "yadage[viz]==0.21.2"]
ENTRY = "agcflow/ttbar-reinterpretation"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def recast_bin() -> Path:
    return tool_venv("recast-venv", RECAST_PACKAGES)


def recast(bin_dir: Path, catalogue: Path, *args: str, cwd: Path = ROOT, timeout: int = 120):
    env = {**os.environ, "RECAST_ATLAS_CATALOGUE": str(catalogue),
           "PATH": f"{bin_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "recast"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    return result, result.stdout + result.stderr


def copy_entry(tmp_path: Path) -> Path:
    """A copy of recast/ to modify."""
    return Path(shutil.copytree(ROOT / "recast", tmp_path / "catalogue"))


def test_catalogue_entry_is_listed_described_and_valid(recast_bin):
    catalogue = ROOT / "recast"
    _, listing = recast(recast_bin, catalogue, "catalogue", "ls")
    line = next(row for row in listing.splitlines() if row.startswith(ENTRY))
    examples = set(re.split(r"[\s,]+", line))
    assert "default" in examples, listing  # `recast run NAME` runs the example "default"
    assert "hzz_graviton" in examples, listing  # `--example hzz_graviton`: the H->ZZ*->4l slice
    _, described = recast(recast_bin, catalogue, "catalogue", "describe", ENTRY)
    assert f"toplevel     : {catalogue / 'specs'}" in described, described
    result, checked = recast(recast_bin, catalogue, "catalogue", "check", ENTRY)
    assert result.returncode == 0 and "Nice job! Everything looks good." in checked, checked


def test_catalogue_check_rejects_a_workflow_with_a_missing_step(recast_bin, tmp_path):
    """The check above can fail: a step reference that does not resolve is reported."""
    catalogue = copy_entry(tmp_path)
    workflow = catalogue / "specs" / "workflow.yml"
    workflow.write_text(workflow.read_text().replace("steps.yml#/limit_plot", "steps.yml#/no_such_step"))
    _, checked = recast(recast_bin, catalogue, "catalogue", "check", ENTRY)
    assert "Sadly something is wrong" in checked, checked


def local_steps(catalogue: Path) -> None:
    """Run every step in this environment (packtivity's localproc-env) instead of the image."""
    steps_file = catalogue / "specs" / "steps.yml"
    steps = yaml.safe_load(steps_file.read_text())
    for step in steps.values():
        step["environment"] = {"environment_type": "localproc-env"}
    steps_file.write_text(yaml.safe_dump(steps))


def drawing_tools() -> bool:
    """graphviz's dot and a real ImageMagick convert, which yadage's trackers call at the end."""
    if shutil.which("dot") is None or shutil.which("convert") is None:
        return False
    version = subprocess.run(["convert", "-version"], capture_output=True, text=True)
    return "ImageMagick" in version.stdout


# example -> (its tiny analysis config under a base folder, the signal it reinterprets)
EXAMPLES = {
    "default": (lambda base: write_config(base / "tiny.yaml", {**tiny_overrides(base), "reinterpret.events": 5000,
                                                               "reinterpret.directory": str(base / "signals")}),
                "zprime_750"),
    "hzz_graviton": (lambda base: write_config(base / "tiny.yaml", tiny_hzz_overrides(base, ("RS_G_ZZ_llll_c10_m1000",)),
                                               HZZ_CONFIG),
                     "RS_G_ZZ_llll_c10_m1000"),
}


@pytest.mark.integration
@pytest.mark.timeout(1800)  # a Snakemake run for the preserved outputs, then the workflow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_recast_runs_the_example_locally(recast_bin, tmp_path, example):
    """`recast run` (yadage, local backend) on an example's inputs (ttbar's default, the H->ZZ
    graviton), with a tiny analysis config and its preserved outputs from a Snakemake run."""
    if not drawing_tools():  # recast run draws the DAG (graphviz) and animates it (ImageMagick); CI installs both
        reason = "`recast run` needs graphviz's `dot` and ImageMagick's `convert` (apt-get install graphviz imagemagick)"
        if os.environ.get("AGCFLOW_REQUIRE_RECAST") == "1":
            pytest.fail(f"AGCFLOW_REQUIRE_RECAST=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    base = tmp_path / "analysis"
    base.mkdir()
    write_tiny, signal = EXAMPLES[example]
    config = write_tiny(base)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    preserve = subprocess.run([str(BIN / "snakemake"), "workspace", "--profile", "profiles/local", "--cores", "2",
                               "--config", f"agcflow_config={config}"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=900)
    assert preserve.returncode == 0, preserve.stdout[-3000:] + preserve.stderr[-3000:]

    catalogue = copy_entry(tmp_path)
    local_steps(catalogue)
    entry = yaml.safe_load((catalogue / "recast.yml").read_text())
    inputs = entry["example_inputs"][example]
    inputs["initdata"]["config"] = str(config)  # the image's config path -> the tiny one
    # The example reads the preserved outputs from ./<initdir>; the tiny run wrote them to base/results.
    inputs["dataopts"]["initdir"] = "results"
    run_dir = base
    inputs_file = tmp_path / "inputs.yml"
    inputs_file.write_text(yaml.safe_dump(inputs))
    result, output = recast(recast_bin, catalogue, "run", ENTRY, str(inputs_file), "--backend", "local",
                            "--tag", "tiny", "--raw", cwd=run_dir, timeout=900)
    assert result.returncode == 0, output[-4000:]

    workdir = run_dir / "recast-tiny"
    reported = {item["name"]: item["value"] for item in json.loads(result.stdout.strip().splitlines()[-1])}
    limits = next(value for name, value in reported.items() if name.startswith("CLs"))
    assert limits == json.loads((workdir / "reinterpret" / "result.json").read_text())
    assert 0.0 <= limits["CLs_obs"] <= 1.0 and len(limits["CLs_exp"]) == 5, limits
    patchset = next(value for name, value in reported.items() if name.startswith("pyhf PatchSet"))
    assert [patch["metadata"]["name"] for patch in patchset["patches"]] == [signal], patchset["metadata"]
    assert any(op["op"] == "add" for patch in patchset["patches"] for op in patch["patch"])
    assert (workdir / "limit_plot" / "limits.png").stat().st_size > 0
