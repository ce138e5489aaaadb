"""The fit stage's hypothesis tests against pyhf itself and against the asymptotic formula."""

from __future__ import annotations

import json
import math

import pyhf
import pytest
from scipy.stats import norm

from agcflow.stats import hypotests
from agcflow.stats.fit import fit_workspace

from .conftest import numpy_settings

# pyhf's documented example (pyhf.infer.hypotest, AsymptoticCalculator.expected_pvalues):
# two bins, signal [12, 11], background [50, 52] +/- [3, 7], observed [51, 48].
DOC_SIGNAL, DOC_BKG, DOC_BKG_UNCERTAINTY, DOC_OBSERVED = [12.0, 11.0], [50.0, 52.0], [3.0, 7.0], [51.0, 48.0]
DOC_CLS_OBS = 0.05251554
DOC_CLS_EXP = [0.00260626, 0.01382005, 0.06445321, 0.23525644, 0.57303621]

# A fit-stage workspace: one three-bin channel, the signal scaled by Signal_norm.
SMALL_WORKSPACE = {
    "channels": [{"name": "SR", "samples": [
        {"name": "Signal", "data": [5.0, 12.0, 6.0],
         "modifiers": [{"name": "Signal_norm", "type": "normfactor", "data": None}]},
        {"name": "Background", "data": [50.0, 60.0, 55.0],
         "modifiers": [{"name": "bkg_unc", "type": "shapesys", "data": [4.0, 5.0, 4.0]}]},
    ]}],
    "observations": [{"name": "SR", "data": [57.0, 78.0, 60.0]}],
    "measurements": [{"name": "meas", "config": {
        "poi": "Signal_norm", "parameters": [{"name": "Signal_norm", "bounds": [[0.0, 10.0]]}]}}],
    "version": "1.0.0",
}


@pytest.fixture(autouse=True)
def _numpy_backend():
    pyhf.set_backend("numpy", "minuit")


def doc_model_and_data():
    model = pyhf.simplemodels.uncorrelated_background(DOC_SIGNAL, DOC_BKG, DOC_BKG_UNCERTAINTY)
    return model, DOC_OBSERVED + model.config.auxdata


def test_cls_agrees_with_pyhf_and_its_documented_numbers():
    model, data = doc_model_and_data()
    result = hypotests.cls(1.0, data, model)
    direct_obs, direct_exp = pyhf.infer.hypotest(1.0, data, model, test_stat="qtilde", return_expected_set=True)
    assert result["CLs_obs"] == pytest.approx(float(direct_obs), rel=1e-6)
    assert result["CLs_exp"] == pytest.approx([float(v) for v in direct_exp], rel=1e-6)
    assert result["CLs_obs"] == pytest.approx(DOC_CLS_OBS, rel=1e-3)
    assert result["CLs_exp"] == pytest.approx(DOC_CLS_EXP, rel=1e-3)
    assert (result["test_stat"], result["poi"]) == ("qtilde", 1.0)


def test_discovery_agrees_with_pyhf():
    model, data = doc_model_and_data()
    result = hypotests.discovery(data, model)
    p0_obs, p0_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True)
    assert result["p0_obs"] == pytest.approx(float(p0_obs), rel=1e-6)
    assert result["p0_exp"] == pytest.approx(float(p0_exp), rel=1e-6)
    assert result["Z_obs"] == pytest.approx(norm.isf(float(p0_obs)), rel=1e-6)
    assert result["Z_exp"] == pytest.approx(norm.isf(float(p0_exp)), rel=1e-6)
    # 51 + 48 observed against 102 expected background: no excess (the background pulled down
    # within its uncertainty leaves a hint of one), p0 about 0.5
    assert result["p0_obs"] == pytest.approx(0.5, abs=0.01) and abs(result["Z_obs"]) < 0.03
    assert result["Z_exp"] > 1.0


@pytest.mark.parametrize(("s", "b"), [(10.0, 50.0), (20.0, 20.0), (5.0, 1.0)])
def test_discovery_on_asimov_data_matches_the_asymptotic_formula(s, b):
    """One bin, background known to 1e-4 (1e-5 is too stiff for MINUIT): Z = sqrt(2((s+b) ln(1+s/b) - s)) (Cowan et al., eq. 97)."""
    model = pyhf.simplemodels.uncorrelated_background([s], [b], [b * 1e-4])
    result = hypotests.discovery([s + b] + model.config.auxdata, model)
    expected = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    assert result["Z_obs"] == pytest.approx(expected, abs=1e-3)
    assert result["Z_exp"] == pytest.approx(expected, abs=1e-3)  # the data are the Asimov data at POI = 1


def test_block_records_both_tests():
    model, data = doc_model_and_data()
    block = hypotests.hypothesis_tests(model, data, "mu")
    assert set(block) == {"discovery", "cls_at_poi_1", "wall_time_s"}
    assert block["cls_at_poi_1"]["CLs_obs"] == pytest.approx(DOC_CLS_OBS, rel=1e-3)
    assert "Z_obs" in block["discovery"] and block["wall_time_s"] > 0
    assert hypotests.summary(block).startswith("Z = 0.00 (exp. 1.") and "CLs(1) = 0.0525" in hypotests.summary(block)


def test_a_failing_test_is_recorded_and_the_other_still_runs(monkeypatch, caplog):
    model, data = doc_model_and_data()
    real = pyhf.infer.hypotest

    def failing_q0(poi, *args, **kwargs):
        if kwargs.get("test_stat") == "q0":
            raise pyhf.exceptions.FailedMinimization(type("Result", (), {"message": "no minimum"})())
        return real(poi, *args, **kwargs)

    monkeypatch.setattr(pyhf.infer, "hypotest", failing_q0)
    block = hypotests.hypothesis_tests(model, data, "mu")
    assert block["discovery"] == {"error": "FailedMinimization: no minimum"}
    assert block["cls_at_poi_1"]["CLs_obs"] == pytest.approx(DOC_CLS_OBS, rel=1e-3)
    assert any(r.levelname == "WARNING" and "discovery test failed" in r.getMessage() for r in caplog.records)
    assert hypotests.summary(block) == "CLs(1) = 0.0525"


def test_an_empty_background_bin_with_data_makes_both_tests_undefined():
    model = pyhf.simplemodels.uncorrelated_background([5.0, 5.0], [10.0, 0.0], [1.0, 0.0])
    block = hypotests.hypothesis_tests(model, [12.0, 3.0] + model.config.auxdata, "mu")
    for name in ("discovery", "cls_at_poi_1"):
        assert block[name]["error"].startswith("the background-only model (POI = 0) predicts no events in 1 bins")
        assert "singlechannel bin 1" in block[name]["error"]
    assert hypotests.summary(block) == "hypothesis tests failed"


def test_significance():
    assert hypotests.significance(0.5) == pytest.approx(0.0, abs=1e-12)
    assert hypotests.significance(norm.sf(3.0)) == pytest.approx(3.0)
    assert hypotests.significance(0.0) is None  # infinite: JSON has no infinity
    underflow = {"discovery": {"p0_obs": 0.0, "Z_obs": None, "p0_exp": 0.0, "Z_exp": None}}
    assert hypotests.summary(underflow) == "Z > 38 (exp. > 38)"  # a ttbar cross-section fit


def test_fit_stage_writes_the_block(settings, tmp_path):
    fit = numpy_settings(settings, poi="Signal_norm", fit_edges=(0.0, 1.0, 2.0, 3.0), hypothesis_tests=True)
    outcome = fit_workspace(SMALL_WORKSPACE, fit, tmp_path, tmp_path / "figures")
    assert outcome.success
    record = json.loads((tmp_path / "fit_results.json").read_text())
    block = record["hypothesis_tests"]
    assert block == outcome.hypothesis_tests
    model = pyhf.Workspace(SMALL_WORKSPACE).model()
    data = pyhf.Workspace(SMALL_WORKSPACE).data(model)
    p0_obs, p0_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True)
    assert block["discovery"]["p0_obs"] == pytest.approx(float(p0_obs), rel=1e-4)
    assert block["discovery"]["Z_exp"] == pytest.approx(norm.isf(float(p0_exp)), rel=1e-4)
    cls_obs, cls_exp = pyhf.infer.hypotest(1.0, data, model, return_expected_set=True)
    assert block["cls_at_poi_1"]["CLs_obs"] == pytest.approx(float(cls_obs), rel=1e-4)
    assert block["cls_at_poi_1"]["CLs_exp"] == pytest.approx([float(v) for v in cls_exp], rel=1e-4)
    assert f"Z = {block['discovery']['Z_obs']:.2f}" in str(outcome)
    assert outcome.wall_times_s["hypotests"] > 0


def test_fit_stage_without_hypothesis_tests(settings, tmp_path):
    fit = numpy_settings(settings, poi="Signal_norm", fit_edges=(0.0, 1.0, 2.0, 3.0), hypothesis_tests=False)
    outcome = fit_workspace(SMALL_WORKSPACE, fit, tmp_path, tmp_path / "figures")
    assert outcome.success and outcome.hypothesis_tests is None
    assert "hypothesis_tests" not in json.loads((tmp_path / "fit_results.json").read_text())
    assert "Z =" not in str(outcome)
