"""The impacts (ranking) computed as parallel tasks equal cabinetry's own ranking."""

from __future__ import annotations

import dataclasses

import cabinetry
import numpy as np
import pytest

from agcflow.stats.fit import MINUIT_STRATEGY
from agcflow.stats.ranking import SHIFTS, impact_fits, rank
from agcflow.stats.backend import use_backend

from .conftest import numpy_settings


@pytest.fixture(scope="module")
def cabinetry_ranking(small_workspace):
    """cabinetry's ranking of the small N=5 workspace, and the fit it ranks around."""
    use_backend("numpy", "cpu")
    model, data = cabinetry.model_utils.model_and_data(small_workspace)
    results = cabinetry.fit.fit(model, data, strategy=MINUIT_STRATEGY)
    return results, cabinetry.fit.ranking(model, data, fit_results=results, strategy=MINUIT_STRATEGY)


@pytest.mark.parametrize("workers", [None, 2], ids=["in-process", "2-dask-workers"])
def test_parallel_ranking_equals_cabinetry(small_workspace, settings, cabinetry_ranking, workers):
    results, expected = cabinetry_ranking
    cluster = None if workers is None else dataclasses.replace(settings.cluster, kind="local", workers=workers)
    ranking = rank(small_workspace, results, "ttbar_norm", numpy_settings(settings), MINUIT_STRATEGY, cluster)
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
