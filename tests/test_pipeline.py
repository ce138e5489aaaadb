"""The stages chained on real generated ROOT files, a real LocalCluster and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agcflow.processing.histograms import load_root
from conftest import REFERENCE, ROOT, tiny_overrides

pytestmark = pytest.mark.integration

AGCFLOW = [sys.executable, "-m", "agcflow"]


def agcflow(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*AGCFLOW, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"agcflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def overrides_as_flags(overrides: dict[str, object]) -> list[str]:
    return [flag for key, value in overrides.items() for flag in ("--set", f"{key}={json.dumps(value)}")]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """generate -> deliver -> process -> workspace -> fit through the CLI."""
    base = tmp_path_factory.mktemp("chain")
    flags = overrides_as_flags(tiny_overrides(base))
    results = base / "results"
    agcflow("generate", *flags, "--no-progress")
    agcflow("deliver", *flags, "--no-progress", "--output", str(results / "delivery/manifest.json"))
    agcflow("process", *flags, "--no-progress", "--manifest", str(results / "delivery/manifest.json"),
            "--output", str(results / "histograms/histograms.root"), "--metrics", str(results / "metrics/processing.json"))
    agcflow("workspace", *flags, "--histograms", str(results / "histograms/histograms.root"),
            "--output", str(results / "workspace/workspace.json"))
    agcflow("fit", *flags, "--workspace", str(results / "workspace/workspace.json"),
            "--output-dir", str(results / "fit"), "--figures-dir", str(results / "figures"))
    return base, flags


def test_chain_writes_every_histogram_with_the_agc_names(chain):
    base, _ = chain
    hists = load_root(base / "results/histograms/histograms.root")
    reference = json.loads((REFERENCE / "agc-reference/histos_all_file_per_process.json").read_text())
    assert set(hists) == set(reference)
    assert hists["4j2b_ttbar"].sum().value > 0
    assert hists["4j1b_pseudodata"].values().sum() == pytest.approx(
        (hists["4j1b_ttbar_ME_var"].values().sum() + hists["4j1b_ttbar_PS_var"].values().sum()) / 2
        + hists["4j1b_wjets"].values().sum())


def test_chain_metrics_and_fit_results(chain):
    base, _ = chain
    metrics = json.loads((base / "results/metrics/processing.json").read_text())
    assert metrics["events"] == sum(json.loads((base / "generated/fileset.json").read_text())[p][v]["nevts_total"]
                                    for p, vs in json.loads((base / "generated/fileset.json").read_text()).items() for v in vs)
    assert 0 < metrics["events_delivered"] < metrics["events"]
    assert metrics["workers"] == 2 and metrics["first_pass_events_per_s_per_core"] > 0
    assert metrics["provenance"]["version"]
    fit = json.loads((base / "results/fit/fit_results.json").read_text())
    assert "ttbar_norm" in fit["labels"]
    assert (base / "results/figures").is_dir() and any((base / "results/figures").glob("*.png"))


def test_rerun_reuses_the_cache_and_gives_the_same_histograms(chain):
    base, flags = chain
    results = base / "results"
    manifest = results / "delivery/manifest_rerun.json"
    agcflow("deliver", *flags, "--no-progress", "--output", str(manifest))
    assert json.loads(manifest.read_text())["files_cached"] == 18
    agcflow("process", *flags, "--set", "cluster.workers=1", "--no-progress", "--manifest", str(manifest),
            "--output", str(results / "rerun.root"), "--metrics", str(results / "rerun.json"))
    assert json.loads((results / "rerun.json").read_text())["workers"] == 1
    same = agcflow("validate", "--histograms", str(results / "rerun.root"),
                   "--reference", str(results / "histograms/histograms.root"))
    assert "matches" in same.stdout


def test_validate_fails_listing_mismatches(chain, tmp_path):
    base, _ = chain
    ref = json.loads((REFERENCE / "agc-reference/histos_1_file_per_process.json").read_text())
    out = agcflow("validate", "--histograms", str(base / "results/histograms/histograms.root"),
                  "--reference", str(REFERENCE / "agc-reference/histos_1_file_per_process.json"), check=False)
    assert out.returncode == 1
    assert "MISMATCH 4j1b_ttbar" in out.stdout
    assert len(out.stdout.splitlines()) == len(ref)


def test_missing_input_file_fails_naming_it_and_skip_mode_records_it(chain, tmp_path):
    base, flags = chain
    fileset = json.loads((base / "generated/fileset.json").read_text())
    fileset["wjets"]["nominal"]["files"].append({"path": str(tmp_path / "gone.root"), "nevts": 10})
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    args = [*flags, "--set", "inputs.source=fileset", "--set", f"inputs.fileset={path}", "--no-progress",
            "--output", str(tmp_path / "manifest.json")]
    strict = agcflow("deliver", *args, check=False)
    assert strict.returncode == 1
    assert f"{tmp_path / 'gone.root'}: input file not found" in strict.stderr
    assert not (tmp_path / "manifest.json").exists()
    agcflow("deliver", *args, "--set", "processing.skip_bad_files=true")
    skipped = json.loads((tmp_path / "manifest.json").read_text())["skipped"]
    assert [s["path"] for s in skipped] == [str(tmp_path / "gone.root")]


def test_bad_config_is_rejected_before_any_compute(tmp_path):
    out = agcflow("deliver", "--set", "cluster.workers=many", "--output", str(tmp_path / "m.json"), check=False)
    assert out.returncode == 1
    assert "cluster.workers = \"many\"" in out.stderr and "is not of type 'integer'" in out.stderr
    assert not (tmp_path / "m.json").exists()
