"""The maximum-likelihood fit of the AGC reference workspace and what it writes."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from agcflow.errors import AgcflowError
from agcflow.stats.fit import fit_workspace

from .conftest import assert_png, numpy_settings

# The AGC reports ttbar_norm = 0.960 +/- 0.088 for N=5. Its reference JSON has contents only;
# the MC-statistics (staterror) inputs here are its sums of squared weights, rebuilt from the
# AGC's per-event weights (histograms.from_reference). The AGC's jet-resolution histograms are
# unseeded. The central value lands 0.007 (0.07 sigma) low, the uncertainty 0.007 high: the
# weighted W+jets variances are larger than the bin contents the fit used before (0.9434 +/-
# 0.0873); without any staterror the fit gives 0.949 +/- 0.071.
AGC_BESTFIT, AGC_UNCERTAINTY = 0.960, 0.088
AGC_BESTFIT_TOLERANCE, AGC_UNCERTAINTY_TOLERANCE = 0.01, 0.01
# This workspace's own result (numpy, MINUIT strategy 1): a regression pin. The central value
# and -2 ln L agree to 1e-4 across machines; MINUIT's HESSE error does not: 0.0954 on the
# machine that set the pin, 0.0931 on an AMD EPYC (AVX-512) one with the same pinned packages
# (strategy 2 there: 0.0940), so the error's pin is the spread seen, 0.004.
BESTFIT, UNCERTAINTY = 0.9535, 0.0943
UNCERTAINTY_SPREAD = 0.004


def read(path) -> dict:
    return json.loads(path.read_text())


def test_fit_reproduces_the_agc_result(agc_fit):
    assert agc_fit.success, agc_fit.status
    assert agc_fit.poi_bestfit == pytest.approx(BESTFIT, abs=1e-3)
    assert agc_fit.poi_uncertainty == pytest.approx(UNCERTAINTY, abs=UNCERTAINTY_SPREAD)
    assert agc_fit.poi_bestfit == pytest.approx(AGC_BESTFIT, abs=AGC_BESTFIT_TOLERANCE)
    assert agc_fit.poi_uncertainty == pytest.approx(AGC_UNCERTAINTY, abs=AGC_UNCERTAINTY_TOLERANCE)
    assert str(agc_fit).startswith("ttbar_norm = 0.953")


def test_fit_results_json(agc_fit, agc_fit_dir):
    record = read(agc_fit_dir / "fit_results.json")
    assert record["success"] is True and record["status"] == "converged"
    assert (record["backend"], record["device"], record["poi"]) == ("numpy", "cpu", "ttbar_norm")
    labels = record["labels"]
    assert len(labels) == 34 and "ttbar_norm" in labels and "Luminosity" in labels
    poi = labels.index("ttbar_norm")
    assert record["bestfit"][poi] == record["poi_bestfit"] == agc_fit.poi_bestfit
    assert record["uncertainty"][poi] == record["poi_uncertainty"]
    correlation = np.array(record["correlation"])
    assert correlation.shape == (34, 34)
    np.testing.assert_allclose(np.diag(correlation), 1.0, atol=1e-9)
    np.testing.assert_allclose(correlation, correlation.T, atol=1e-9)
    assert record["min_nll"] == pytest.approx(record["best_twice_nll"] / 2)
    assert record["best_twice_nll"] == pytest.approx(109.651, abs=0.01)
    assert record["wall_time_s"] > 0


def test_prefit_yields_are_the_workspace_templates(agc_fit_dir, agc_workspace):
    prefit = read(agc_fit_dir / "yields_prefit.json")
    assert prefit["label"] == "pre-fit"
    observed = {o["name"]: o["data"] for o in agc_workspace["observations"]}
    for channel in agc_workspace["channels"]:
        region = prefit["regions"][channel["name"]]
        for sample in channel["samples"]:
            entry = region["samples"][sample["name"]]
            np.testing.assert_allclose(entry["per_bin"], sample["data"], rtol=1e-9)
            assert entry["total"] == pytest.approx(sum(sample["data"]))
            assert len(entry["per_bin_uncertainty"]) == 11 and entry["total_uncertainty"] > 0
        summed = np.sum([region["samples"][s]["per_bin"] for s in region["samples"]], axis=0)
        np.testing.assert_allclose(region["total"]["per_bin"], summed, rtol=1e-9)
        assert region["data"]["per_bin"] == observed[channel["name"]]


def test_postfit_yields_follow_the_fit(agc_fit, agc_fit_dir):
    assert agc_fit.success
    prefit = read(agc_fit_dir / "yields_prefit.json")["regions"]
    postfit = read(agc_fit_dir / "yields_postfit.json")
    assert postfit["label"] == "post-fit"
    for name, region in postfit["regions"].items():
        data_total = region["data"]["total"]
        assert abs(region["total"]["total"] - data_total) < abs(prefit[name]["total"]["total"] - data_total)
        assert region["total"]["total_uncertainty"] < prefit[name]["total"]["total_uncertainty"]


def test_figures_are_pngs(agc_fit, agc_fit_dir):
    figures = agc_fit_dir / "figures"
    names = ["4j1b-CR_prefit", "4j1b-CR_postfit", "4j2b-SR_prefit", "4j2b-SR_postfit", "pulls", "correlation_matrix"]
    for name in names:
        assert_png(figures / f"{name}.png")
    assert sorted(p.name for p in figures.iterdir()) == sorted(f"{n}.png" for n in names)
    assert set(agc_fit.files) >= {figures / f"{n}.png" for n in names}


def test_fit_without_ranking_removes_a_stale_ranking(agc_fit, agc_fit_dir):
    assert agc_fit.ranking is None
    assert not (agc_fit_dir / "ranking.json").exists()


def test_ranking_json_and_figure(small_workspace, settings, tmp_path):
    outcome = fit_workspace(small_workspace, numpy_settings(settings, ranking=True), tmp_path, tmp_path / "figures")
    assert outcome.success and outcome.ranking is not None
    record = read(tmp_path / "ranking.json")
    assert record["success"] is True and record["poi"] == "ttbar_norm"
    parameters = record["parameters"]
    assert {p["name"] for p in parameters} == {"ME variation", "PS variation", "Luminosity"}
    largest = [max(abs(p["postfit_impact_up"]), abs(p["postfit_impact_down"])) for p in parameters]
    assert largest == sorted(largest, reverse=True) and largest[-1] > 1e-3
    lumi = next(p for p in parameters if p["name"] == "Luminosity")
    assert lumi["prefit_impact_up"] < 0 < lumi["prefit_impact_down"]  # more luminosity: less ttbar
    assert_png(tmp_path / "figures" / "ranking.png")
    assert outcome.wall_times_s["ranking"] > 0


def test_non_converging_fit_is_recorded_as_failed(small_workspace, settings, tmp_path):
    broken = copy.deepcopy(small_workspace)
    broken["observations"][0]["data"][4] = float("nan")
    for stale in ["yields_postfit.json", "ranking.json"]:
        (tmp_path / stale).write_text("{}")
    outcome = fit_workspace(broken, numpy_settings(settings, ranking=True), tmp_path, tmp_path / "figures")
    assert not outcome.success and outcome.fit_results is None and outcome.poi_bestfit is None
    record = read(tmp_path / "fit_results.json")
    assert record["success"] is False
    assert "MINUIT valid=False" in record["status"]
    assert record["minuit"]["valid"] is False
    assert not {"bestfit", "poi_bestfit", "uncertainty", "correlation"} & record.keys()
    assert not (tmp_path / "yields_postfit.json").exists() and not (tmp_path / "ranking.json").exists()
    assert (tmp_path / "yields_prefit.json").exists()
    assert str(outcome).startswith("fit failed (numpy on cpu)")


def test_poi_must_match_the_workspace(small_workspace, settings, tmp_path):
    with pytest.raises(AgcflowError, match="POI 'ttbar_norm', fit settings expect 'mu'"):
        fit_workspace(small_workspace, numpy_settings(settings, poi="mu"), tmp_path, tmp_path)
