"""The impacts (ranking) computed as parallel tasks equal cabinetry's own ranking."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import cabinetry
import numpy as np
import pytest

from agcflow.stats.backend import use_backend
from agcflow.stats.fit import MINUIT_STRATEGY
from agcflow.stats.ranking import SHIFTS, impact_fits, rank

from .conftest import numpy_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cabinetry_ranking(small_workspace):
    """cabinetry's ranking of the small N=5 workspace, and the fit it ranks around."""
    use_backend("numpy", "cpu")
    model, data = cabinetry.model_utils.model_and_data(small_workspace)
    results = cabinetry.fit.fit(model, data, strategy=MINUIT_STRATEGY)
    return results, cabinetry.fit.ranking(model, data, fit_results=results, strategy=MINUIT_STRATEGY)


@pytest.mark.parametrize(("engine", "workers"), [("fast", None), ("cabinetry", None), ("cabinetry", 2)],
                         ids=["fast-engine", "cabinetry-in-process", "cabinetry-2-dask-workers"])
def test_ranking_equals_cabinetry(small_workspace, settings, cabinetry_ranking, engine, workers, caplog):
    results, expected = cabinetry_ranking
    cluster = None if workers is None else dataclasses.replace(settings.cluster, kind="local", workers=workers)
    fit = dataclasses.replace(numpy_settings(settings), ranking_engine=engine)
    with caplog.at_level("INFO", logger="agcflow.stats.ranking"):
        ranking = rank(small_workspace, results, "ttbar_norm", fit, MINUIT_STRATEGY, cluster)
    if engine == "fast":  # every fit by the compiled engine, none handed to cabinetry
        assert "12 of 12 fits converged in the fast engine" in caplog.text and "by cabinetry" not in caplog.text
    assert ranking.labels == expected.labels
    assert sorted(ranking.labels) == ["Luminosity", "ME variation", "PS variation"]
    np.testing.assert_array_equal(ranking.bestfit, expected.bestfit)
    np.testing.assert_array_equal(ranking.uncertainty, expected.uncertainty)
    for shift in SHIFTS:
        mine, theirs = getattr(ranking, shift), getattr(expected, shift)
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-3, err_msg=shift)
        assert np.abs(theirs).max() > 1e-3, f"{shift}: cabinetry's impacts are all ~0, nothing compared"


def test_impact_fits_skip_zero_shifts_like_cabinetry(small_workspace, cabinetry_ranking):
    results, _ = cabinetry_ranking
    model, _ = cabinetry.model_utils.model_and_data(small_workspace)
    poi = model.config.par_names.index("ttbar_norm")
    fits = impact_fits(model, results, poi)
    assert len(fits) == 3 * 4  # three constrained parameters, four shifts each
    assert all(f.parameter != poi and f.value != results.bestfit[f.parameter] for f in fits)
    free = results._replace(uncertainty=np.zeros_like(results.uncertainty))
    assert len(impact_fits(model, free, poi)) == 3 * 2  # post-fit shifts of zero: no fit


def test_agcflow_fit_ranks_on_the_cluster_like_cabinetry(small_workspace, cabinetry_ranking, tmp_path):
    """The CLI's ranking (impact fits on 2 Dask workers) gives cabinetry's impacts."""
    _, expected = cabinetry_ranking
    workspace = tmp_path / "workspace.json"
    workspace.write_text(json.dumps(small_workspace))
    result = subprocess.run(
        [sys.executable, "-m", "agcflow", "fit", "--set", "cluster.workers=2", "--set", "fit.backend=numpy",
         "--set", "fit.device=cpu", "--workspace", str(workspace), "--output-dir", str(tmp_path / "fit"),
         "--figures-dir", str(tmp_path / "figures")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "fit" / "ranking.json").read_text())
    assert record["success"] is True
    by_name = {p["name"]: p for p in record["parameters"]}
    assert set(by_name) == set(expected.labels)
    for i, name in enumerate(expected.labels):
        for shift in SHIFTS:
            assert by_name[name][shift.replace("_", "_impact_", 1)] == pytest.approx(
                getattr(expected, shift)[i], abs=1e-3), (name, shift)
