"""The H->ZZ*->4l slice end to end through the real CLI on a small generated dataset:
generate -> deliver -> process -> workspace -> fit with configs/hzz.yaml. The deliver and
process stages use the tests' shared cluster (cluster.kind: address) instead of starting their own."""

from __future__ import annotations

import json
import math

import pytest

from agcflow.processing.histograms import load_root
from test_pipeline import agcflow, overrides_as_flags

from .conftest import HZZ_CONFIG, hzz_overrides

pytestmark = pytest.mark.integration

MC = ("ggH125_ZZ4lep", "VBFH125_ZZ4lep", "WH125_ZZ4lep", "ZH125_ZZ4lep", "llll", "Zee", "Zmumu", "ttbar_lep")
VARIATIONS = ("sf_up", "sf_down", "m4l_up", "m4l_down")
REGIONS = ("4l", "4l_high_mass")
FIT_SAMPLES = {"Signal", "Background $ZZ^*$", "Background $Z,t\\bar{t}$"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory, dask_client):
    base = tmp_path_factory.mktemp("hzz_chain")
    flags = ["--config", str(HZZ_CONFIG), *overrides_as_flags(hzz_overrides(base))]
    cluster = ["--set", "cluster.kind=address", "--set", f"cluster.address={dask_client.scheduler.address}"]
    results = base / "results"
    agcflow("generate", *flags, "--no-progress")
    agcflow("deliver", *flags, *cluster, "--no-progress", "--output", str(results / "delivery/manifest.json"))
    agcflow("process", *flags, *cluster, "--no-progress", "--manifest", str(results / "delivery/manifest.json"),
            "--output", str(results / "histograms/histograms.root"), "--metrics", str(results / "metrics/processing.json"))
    agcflow("workspace", *flags, "--histograms", str(results / "histograms/histograms.root"),
            "--output", str(results / "workspace/workspace.json"))
    agcflow("fit", *flags, "--workspace", str(results / "workspace/workspace.json"),
            "--output-dir", str(results / "fit"), "--figures-dir", str(results / "figures"))
    return results


def test_histograms_have_the_slice_names_and_data_no_variations(chain):
    hists = load_root(chain / "histograms/histograms.root")
    expected = {f"{region}_data" for region in REGIONS}
    expected |= {f"{region}_{sample}{suffix}" for region in REGIONS for sample in MC
                 for suffix in ("", *(f"_{v}" for v in VARIATIONS))}
    assert set(hists) == expected
    assert hists["4l_data"].values().sum() > 100 and hists["4l_ggH125_ZZ4lep"].values().sum() > 0
    assert hists["4l_ggH125_ZZ4lep_sf_up"].values().sum() == pytest.approx(
        1.1 * hists["4l_ggH125_ZZ4lep"].values().sum(), rel=1e-6)
    metrics = json.loads((chain / "metrics/processing.json").read_text())
    assert 0 < metrics["events_delivered"] < metrics["events"]


def test_workspace_has_three_fit_samples_in_two_channels(chain):
    ws = json.loads((chain / "workspace/workspace.json").read_text())
    assert [c["name"] for c in ws["channels"]] == ["4l", "4l, high mass"]
    for channel in ws["channels"]:
        assert {s["name"] for s in channel["samples"]} == FIT_SAMPLES, channel["name"]
    assert ws["measurements"][0]["config"]["poi"] == "Signal_norm"
    assert len(ws["channels"][0]["samples"][0]["data"]) == 34
    sidecar = json.loads((chain / "workspace/workspace.settings.json").read_text())
    for channel in ws["channels"]:  # the figures' edges: one more than the bins kept
        assert len(sidecar["binnings"][channel["name"]]) == len(channel["samples"][0]["data"]) + 1


def test_fit_results_have_a_finite_signal_norm(chain):
    fit = json.loads((chain / "fit/fit_results.json").read_text())
    assert fit["success"] and fit["poi"] == "Signal_norm"
    assert math.isfinite(fit["poi_bestfit"]) and 0 <= fit["poi_bestfit"] <= 10
    assert math.isfinite(fit["poi_uncertainty"]) and fit["poi_uncertainty"] > 0
    assert fit["labels"][fit["labels"].index("Signal_norm")] == "Signal_norm"
    assert {"Scale factor", "m4l scale", "ZZ* normalization"} <= set(fit["labels"])
    figures = {path.name for path in (chain / "figures").glob("*.png")}
    assert {"4l_postfit.png", "4l-high-mass_postfit.png"} <= figures
