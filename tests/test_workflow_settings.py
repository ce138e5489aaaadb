"""Reruns follow the configuration: Snakemake reruns exactly the rules whose settings changed,
the CLI refuses upstream results written with other settings, configured paths are quoted
(a results directory with a space runs) or refused (shell metacharacters), and the figures are
declared outputs in `snakemake --report`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agcflow import config
from agcflow.analyses.cms_ttbar.query import DeliveryQuery
from agcflow.config import stage_settings
from conftest import ROOT, tiny_overrides, write_config
from test_workflow import BIN, snakemake

pytestmark = pytest.mark.integration


def planned_rules(config_path: Path) -> set[str]:
    plan = snakemake("--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={config_path}",
                     "--dry-run", "--quiet", "rules")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    return set(re.findall(r"^(\w+)\s+\d+$", plan.stdout + plan.stderr, flags=re.MULTILINE)) - {"total"}


def agcflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "agcflow"), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real run of the whole DAG into a results directory whose path has a space."""
    base = tmp_path_factory.mktemp("workflow") / "with space"
    base.mkdir()
    overrides = tiny_overrides(base)
    path = write_config(base / "tiny.yaml", overrides)
    run = snakemake("--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={path}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return base, path, overrides


def test_reruns_follow_the_settings_each_rule_depends_on(tiny_run):
    base, path, overrides = tiny_run
    assert (base / "results/fit/fit_results.json").is_file()
    assert planned_rules(path) == set(), "nothing changed: nothing reruns"
    cases = {
        "analysis.objects.jet.pt_min": (35.0, {"process", "workspace", "fit", "all"}),  # delivery keeps its query
        "fit.poi_bounds": ([0.0, 5.0], {"workspace", "fit", "all"}),  # the POI bounds are in the workspace
        "fit.backend": ("jax", {"fit", "all"}),
        "delivery.preselection.jet_pt_min": (20.0, {"deliver", "process", "workspace", "fit", "all"}),
        "cluster.workers": (1, set()),  # sizes the computation only
        "processing.chunk_size": (10_000, set()),
    }
    try:
        for key, (value, expected) in cases.items():
            write_config(path, {**overrides, key: value})
            assert planned_rules(path) == expected, key
    finally:
        write_config(path, overrides)
    assert planned_rules(path) == set()


def test_the_cli_refuses_results_of_other_settings(tiny_run):
    base, path, _ = tiny_run
    results = base / "results"
    process = agcflow("process", "--config", str(path), "--set", "inputs.files_per_sample=1",
                      "--manifest", str(results / "delivery/manifest.json"), "--output", str(base / "h.root"),
                      "--metrics", str(base / "m.json"))
    assert process.returncode == 1
    assert (f"{results}/delivery/manifest.json was written with other deliver settings "
            "(changed: inputs.files_per_sample); rerun `agcflow deliver`") in process.stderr
    workspace = agcflow("workspace", "--config", str(path), "--set", "analysis.objects.jet.pt_min=35",
                        "--histograms", str(results / "histograms/histograms.root"), "--output", str(base / "ws.json"))
    assert workspace.returncode == 1 and "(changed: analysis.objects.jet.pt_min)" in workspace.stderr, workspace.stderr
    fit = agcflow("fit", "--config", str(path), "--set", "fit.poi_bounds=[0, 5]",
                  "--workspace", str(results / "workspace/workspace.json"), "--output-dir", str(base / "fit"))
    assert fit.returncode == 1, fit.stderr
    assert "workspace.json was written with other workspace settings (changed: fit.poi_bounds)" in fit.stderr
    assert not (base / "h.root").exists() and not (base / "ws.json").exists()
    assert not any((base / "fit").glob("*.json"))  # its output directory was probed for writing, nothing written


def test_report_lists_the_declared_figures(tiny_run):
    base, path, _ = tiny_run
    report = base / "report.html"
    run = snakemake("--profile", "profiles/local", "--config", f"agcflow_config={path}", "--report", str(report))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    html = report.read_text(errors="replace")
    figures = sorted(p.name for p in (base / "results/figures").glob("*.png"))
    assert figures and "ranking.png" not in figures  # fit.ranking is off in the tiny config
    for name in figures:
        assert name in html, name


def test_shell_metacharacters_in_a_path_are_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "touched"
    value = f"res$(touch {marker})"
    path = write_config(tmp_path / "bad.yaml", {**tiny_overrides(tmp_path), "outputs.results_dir": value})
    run = snakemake("--config", f"agcflow_config={path}", "--cores", "1")
    assert run.returncode != 0
    assert f"outputs.results_dir = {value!r}: a path must not contain the characters '$()'" in run.stdout + run.stderr
    cli = agcflow("generate", "--config", str(path))
    assert cli.returncode == 1 and f"outputs.results_dir = {value!r}" in cli.stderr
    assert not marker.exists()


def minimal_config(path: Path, base: Path) -> Path:
    """The tiny configuration with every optional key left out: the schema's defaults fill them."""
    raw = yaml.safe_load(write_config(path, tiny_overrides(base)).read_text())
    raw["analysis"].pop("kind")
    for region in raw["analysis"]["regions"].values():
        region.pop("axis_label")
    for section in ("reinterpret", "benchmark"):
        raw.pop(section)
    raw["inputs"] = {"source": "generate", "generate": {"directory": str(base / "generated")}}
    raw["delivery"] = {"backend": "local", "cache_dir": str(base / "cache")}
    raw["cluster"] = {"kind": "local"}
    raw["processing"], raw["fit"] = {}, {}
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("minimal", [False, True], ids=["every-key", "defaults"])
def test_the_snakefile_computes_the_cli_digests_without_agcflow(tmp_path, minimal):
    """common.smk, run where agcflow cannot be imported, on the configuration as the Snakefile
    validates it (filling in the schema's defaults), gives the digests the CLI records, with and
    without the optimize rules' --set override."""
    path = tmp_path / "tiny.yaml"
    path = minimal_config(path, tmp_path) if minimal else write_config(path, tiny_overrides(tmp_path))
    overrides = {"delivery.preselection.btag_min": 0.3}
    script = f"""
import json, os, sys, types, yaml
sys.modules["agcflow"] = None  # importing agcflow fails
from snakemake.utils import validate
space = {{"os": os, "config": {{}}, "workflow": types.SimpleNamespace(basedir={str(ROOT)!r}, cores=1)}}
exec(open({str(ROOT / "workflow/rules/common.smk")!r}).read(), space)
space["STAGE_SETTINGS"] = space["load_package_module"]("config/stage_settings.py")
space["CFG"] = yaml.safe_load(open({str(path)!r}))
validate(space["CFG"], {str(ROOT / "configs/schema/config.schema.json")!r}, set_default=True)  # as the Snakefile
digest = space["settings_digest"]
print(json.dumps({{stage: [digest(stage), digest(stage, {overrides!r})] for stage in space["STAGE_SETTINGS"].STAGE_SETTINGS}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    from_snakefile = json.loads(run.stdout)
    plain, loose = config.load(path), config.load(path, overrides)
    assert from_snakefile == {stage: [plain.stage_record(stage)["digest"], loose.stage_record(stage)["digest"]]
                              for stage in stage_settings.STAGE_SETTINGS}
    assert from_snakefile["deliver"][0] != from_snakefile["deliver"][1]


def test_the_delivery_settings_are_exactly_the_object_cuts_of_the_query(settings):
    """An object cut is a delivery setting exactly when it changes the delivery query."""
    raw = yaml.safe_load((ROOT / "configs/ttbar.yaml").read_text())
    deliver_keys = stage_settings.settings_of(raw, "deliver")
    query = DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts).func_adl_text()
    for obj in ("electron", "muon", "jet"):
        for key, value in raw["analysis"]["objects"][obj].items():
            dotted = f"analysis.objects.{obj}.{key}"
            other_value = value - 1 if isinstance(value, int) else value / 2
            changed = config.load(ROOT / "configs/ttbar.yaml", {dotted: other_value})
            other = DeliveryQuery(changed.delivery.preselection, changed.analysis.options.cuts).func_adl_text()
            assert (other != query) == (dotted in deliver_keys), dotted


def test_the_hzz_delivery_settings_are_exactly_the_analysis_keys_of_its_query():
    """The H->ZZ*->4l query computes the scale-factor variation: that key, and no other of the
    plugin's selection or variations, is a delivery setting (a region or selection change reruns
    the processing, not the delivery)."""
    path = ROOT / "configs/hzz.yaml"
    raw = yaml.safe_load(path.read_text())
    deliver_keys = stage_settings.settings_of(raw, "deliver")

    def query_text(settings):
        plugin = settings.analysis.plugin
        return plugin.delivery_query(settings.analysis, settings.delivery.preselection).func_adl_text()

    query = query_text(config.load(path))
    changes = {"analysis.variations.scale_factor": 0.2, "analysis.variations.m4l_scale": 0.02,
               "analysis.selection.total_charge": 2, "analysis.selection.type_sums": [44]}
    for dotted, value in changes.items():
        other = query_text(config.load(path, {dotted: value}))
        assert (other != query) == (dotted in deliver_keys), dotted
    assert "analysis.regions" not in deliver_keys


def test_the_optimisation_delivers_loose_enough_for_every_grid():
    """The Snakefile's optimisation delivery (stage_settings.OPTIMIZE_PRESELECTION) serves the low
    end of every cut of each shipped plugin's grid; a plugin without cuts gets no override."""
    for name in ("ttbar", "hzz"):
        raw = yaml.safe_load((ROOT / f"configs/{name}.yaml").read_text())
        loose = config.load(ROOT / f"configs/{name}.yaml", stage_settings.optimize_overrides(raw))
        plugin = loose.analysis.plugin
        parameters = plugin.cut_parameters(loose.analysis, loose.delivery.preselection)
        assert bool(parameters) == bool(stage_settings.optimize_overrides(raw)), name
        lowest = plugin.with_cuts(loose.analysis, {p.name: p.low for p in parameters})
        assert plugin.serves(lowest, loose.delivery.preselection) == [], name
