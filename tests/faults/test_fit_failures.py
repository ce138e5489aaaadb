"""A fit without a valid measurement is recorded as failed, with its status and the reason,
and no best-fit number is written: a degenerate model (MINUIT fails), a POI pushed onto a bound
(MINUIT 'converges' at the wall). A user reads ``success: false`` and a status starting with
"failed" in fit_results.json, and "fit failed" from ``agcflow fit``; no post-fit file exists."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agcflow.config import FitSettings
from agcflow.stats.fit import fit_workspace
from conftest import ROOT

pytestmark = pytest.mark.faults

BINS = 11  # the configured fit_edges
FIT = FitSettings(backend="numpy", device="cpu", ranking=False)
NUMBERS = {"bestfit", "poi_bestfit", "uncertainty", "poi_uncertainty", "correlation", "best_twice_nll"}


def workspace(signal: float, data: float) -> dict:
    """One channel: ttbar (scaled by ttbar_norm) on a background of 50 per bin."""
    samples = [
        {"name": "ttbar", "data": [signal] * BINS,
         "modifiers": [{"name": "ttbar_norm", "type": "normfactor", "data": None}]},
        {"name": "bkg", "data": [50.0] * BINS,
         "modifiers": [{"name": "bkg_unc", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}]},
    ]
    poi = {"name": "ttbar_norm", "bounds": [[0.0, 10.0]], "inits": [1.0]}
    return {"version": "1.0.0", "channels": [{"name": "SR", "samples": samples}],
            "observations": [{"name": "SR", "data": [data] * BINS}],
            "measurements": [{"name": "m", "config": {"poi": "ttbar_norm", "parameters": [poi]}}]}


def fit(ws: dict, out):
    (out / "yields_postfit.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "yields_postfit.json").write_text('{"stale": true}')  # an earlier run's result
    outcome = fit_workspace(ws, FIT, out, out / "figures")
    return outcome, json.loads((out / "fit_results.json").read_text())


def assert_failed(outcome, record, out, reason: str) -> None:
    assert not outcome.success and outcome.poi_bestfit is None
    assert record["success"] is False and record["status"].startswith("failed: ")
    assert reason in record["reason"] and reason in record["status"]
    assert not NUMBERS & record.keys()
    assert not (out / "yields_postfit.json").exists() and (out / "yields_prefit.json").exists()


def test_control_a_healthy_model_converges(tmp_path):
    outcome, record = fit(workspace(signal=10.0, data=60.0), tmp_path)
    assert outcome.success and record["status"] == "converged"
    assert record["poi_bestfit"] == pytest.approx(1.0, abs=1e-3) and 0 < record["poi_uncertainty"] < 1


def test_a_degenerate_model_is_recorded_as_failed_with_minuit_status(tmp_path):
    outcome, record = fit(workspace(signal=0.0, data=60.0), tmp_path)  # ttbar_norm changes nothing
    assert_failed(outcome, record, tmp_path, "MINUIT valid=False")
    assert record["minuit"]["valid"] is False and record["minuit"]["hesse_failed"] is True


def test_a_poi_on_its_bound_is_not_a_measurement(tmp_path):
    outcome, record = fit(workspace(signal=10.0, data=1e6), tmp_path)  # needs ttbar_norm far above 10
    assert_failed(outcome, record, tmp_path, "ttbar_norm = 10 is at its upper bound (range [0, 10])")


def test_the_cli_reports_the_failed_fit(tmp_path):
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(workspace(signal=0.0, data=60.0)))
    result = subprocess.run([sys.executable, "-m", "agcflow", "fit", "--set", "fit.ranking=false", "--workspace",
                             str(path), "--output-dir", str(tmp_path / "fit"), "--figures-dir", str(tmp_path / "fig")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "fit failed (numpy on cpu): Optimization failed." in result.stdout + result.stderr
    assert result.returncode == 1
    record = json.loads((tmp_path / "fit/fit_results.json").read_text())
    assert record["success"] is False and not NUMBERS & record.keys()
