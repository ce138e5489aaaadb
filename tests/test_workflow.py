"""A real Snakemake run of the whole DAG on a tiny generated dataset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HZZ_CONFIG, ROOT, tiny_hzz_overrides, write_config, write_tiny_config

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def snakemake(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_job_rule_declares_its_resources():
    """No rule falls back to a site default (a 60-minute SLURM job for a 4-hour sweep): each rule
    that runs a command takes its memory, runtime and CPUs from RULE_RESOURCES, and the dry run
    shows them on every job of every target."""
    job_rules = set()
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", path.read_text(), flags=re.MULTILINE)[1:]:
            name = block.split(":", 1)[0]
            if "    shell:" in block:
                job_rules.add(name)
                assert f'rule_resources("{name}")' in block, f"{path.name}: rule {name} declares no resources"
    dry = snakemake("-n", "--forceall", "--cores", "2", "all", "optimize", "benchmark", "reinterpret",
                    "reinterpret_families", "optimize_limits")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    jobs = re.findall(r"^rule (\w+):.*?^    resources: (.*?)$", dry.stdout, flags=re.MULTILINE | re.DOTALL)
    assert {rule for rule, _ in jobs} >= job_rules, dry.stdout[-2000:]
    for rule, resources in (job for job in jobs if job[0] in job_rules):
        assert "runtime=" in resources and "mem_mb=" in resources and "kubernetes_memory_limit=" in resources, \
            (rule, resources)


@pytest.mark.parametrize(("loop", "flag"), [(None, "--adaptive"), ("dense", "")])
def test_the_families_target_runs_each_configured_family_on_the_preserved_workspace(loop, flag):
    extra = ("--config", f"family_loop={loop}") if loop else ()
    dry = snakemake("-n", "-p", "--forceall", "--cores", "2", "reinterpret_families", *extra)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    commands = [line for line in dry.stdout.splitlines() if " reinterpret " in line and "--family" in line]
    assert len(commands) == 1, dry.stdout[-3000:]  # configs/ttbar.yaml has one family
    assert f"--family 'zprime_mw' {flag}".strip() in commands[0]
    assert ("--adaptive" in commands[0]) == bool(flag)
    assert "--workspace 'results/workspace/bkg_only.json' --output-dir 'results/reinterpret/zprime_mw'" in commands[0]


def test_the_limit_optimisation_target_runs_grid_then_gradient_for_each_signal():
    dry = snakemake("-n", "-p", "--forceall", "--cores", "2", "optimize_limits")
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    commands = [line for line in dry.stdout.splitlines() if "--objective expected-limit" in line]
    signals = ("zprime_500", "zprime_750", "zprime_1000")  # configs/ttbar.yaml's reinterpret.signals
    for signal in signals:
        for strategy in ("grid", "gradient"):
            assert any(f"--strategy {strategy} " in c and f"--signal '{signal}' --generate-signal" in c
                       and "--expect-settings optimize_limit=" in c for c in commands), (signal, strategy)
    jobs = re.findall(r"^rule optimize_limit:\n(.*?)\n\n", dry.stdout, flags=re.MULTILINE | re.DOTALL)
    gradient_jobs = [job for job in jobs if "wildcards: strategy=gradient" in job]
    assert len(gradient_jobs) == len(signals)
    for job in gradient_jobs:  # the landscape figure draws the same objective's grid
        signal = re.search(r"signal=(\w+)", job).group(1)
        assert f"results/optimize/grid-expected-limit-{signal}.json" in job.split("output:")[0], job


def test_an_unknown_family_loop_is_refused_naming_the_valid_ones():
    dry = snakemake("-n", "--cores", "1", "reinterpret_families", "--config", "family_loop=sparse")
    assert dry.returncode != 0
    assert "family_loop='sparse': expected one of adaptive, dense" in dry.stdout + dry.stderr


def test_snakemake_runs_the_whole_chain_and_resumes(tmp_path):
    config = write_tiny_config(tmp_path)
    results = tmp_path / "results"
    run = snakemake("--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={config}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for name in ("histograms/histograms.root", "metrics/processing.json", "workspace/workspace.json", "workspace/bkg_only.json",
                 "fit/fit_results.json", "fit/yields_prefit.json", "fit/yields_postfit.json"):
        assert (results / name).is_file(), name
    for rule in ("generate", "deliver", "process", "workspace", "fit"):
        assert (results / "logs" / f"{rule}.log").is_file(), rule
    fit = json.loads((results / "fit/fit_results.json").read_text())
    assert fit["success"] is True
    # nothing to do on a second run
    again = snakemake("--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={config}",
                      "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    # a run interrupted before the fit resumes with the fit alone
    for path in (results / "fit").iterdir():
        path.unlink()
    plan = snakemake("--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={config}",
                     "--dry-run", "--quiet", "rules")
    planned = set(re.findall(r"^(\w+)\s+\d+$", plan.stdout + plan.stderr, flags=re.MULTILINE))
    assert planned == {"all", "fit", "total"}, plan.stdout + plan.stderr


def test_optimize_target_runs_both_strategies(tmp_path):
    config = write_tiny_config(tmp_path)
    run = snakemake("optimize", "--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={config}",
                    "optimize_points=3", timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "results" / "optimize"
    grid, gradient = (json.loads((out / f"{s}.json").read_text()) for s in ("grid", "gradient"))
    assert grid["evaluations"] == 9 and grid["grid_step"]["btag_min"] == pytest.approx(0.3)
    assert gradient["evaluations"] == 11 and gradient["device"] in ("cpu", "gpu")
    assert 0.3 <= gradient["optimum"]["btag_min"] <= 0.9
    assert (out / "landscape.png").read_bytes()[:4] == b"\x89PNG"


def test_snakemake_runs_the_hzz_slice_and_reinterprets_the_gravitons(tmp_path):
    """The second plugin (configs/hzz.yaml) through the unchanged workflow: the whole DAG to the
    fit and its figures, and the `reinterpret` target (two RS gravitons through the preserved
    background-only workspace, then the limit plot), one worker per job."""
    config = write_config(tmp_path / "hzz.yaml", tiny_hzz_overrides(tmp_path), HZZ_CONFIG)
    results = tmp_path / "results"
    run = snakemake("all", "reinterpret", "--profile", "profiles/local", "--cores", "2",
                    "--config", f"agcflow_config={config}", "threads=1")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    fit = json.loads((results / "fit/fit_results.json").read_text())
    assert fit["success"] is True
    assert "Signal_norm" in fit["labels"], fit["labels"]
    for name in ("4l_prefit", "4l-high-mass_prefit", "4l_postfit", "4l-high-mass_postfit", "pulls",
                 "correlation_matrix"):
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    assert json.loads((results / "metrics/processing.json").read_text())["workers"] == 1
    limits = {}
    for signal in ("RS_G_ZZ_llll_c10_m0200", "RS_G_ZZ_llll_c10_m1000"):
        result = json.loads((results / "reinterpret" / signal / "result.json").read_text())
        assert result["poi"] == "mu_G" and result["observed"] == "data", result
        limits[result["mass"]] = result["upper_limit_obs"]
        assert all(0 < limit < 1000 for limit in (result["upper_limit_obs"], *result["upper_limit_exp"])), result
    assert limits[200] < 1 < limits[1000], limits  # the light graviton excluded, the heavy one not
    assert (results / "reinterpret/limits.png").read_bytes()[:4] == b"\x89PNG"
