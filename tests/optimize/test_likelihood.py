"""The JAX HistFactory likelihood against pyhf, on hard-cut histograms of real files."""

from __future__ import annotations

import numpy as np
import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.delivery.manifest_types import read_manifest
from agcflow.optimize import hard
from agcflow.processing.histograms import load_root
from agcflow.stats.workspace import asimov_closure_workspace, build_workspace
from conftest import CONFIG, tiny_overrides

pytestmark = pytest.mark.integration

LOOSE = {"delivery.preselection.btag_min": 0.3}


@pytest.fixture(scope="module")
def hard_cut(tmp_path_factory, dask_client):
    """Settings, manifest and the cabinetry Asimov workspace of a hard-cut cached pass."""
    base = tmp_path_factory.mktemp("likelihood")
    settings = config.load(CONFIG, {**tiny_overrides(base), **LOOSE})
    pipeline.generate(settings, progress=False)
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    pipeline.run_cached_pass(settings, base / "manifest.json", base / "h.root", base / "m.json", client=dask_client)
    ws = asimov_closure_workspace(build_workspace(base / "h.root", settings.analysis, settings.fit, base / "ws"), 1.0)
    return settings, base, load_root(base / "h.root"), ws


def test_nll_equals_pyhf(hard_cut):
    import cabinetry
    import jax

    from agcflow.relaxed import likelihood
    from agcflow.stats.backend import use_backend

    settings, _, histograms, ws = hard_cut
    use_backend("numpy")
    jax.config.update("jax_enable_x64", True)
    model, data = cabinetry.model_utils.model_and_data(ws)
    layout = likelihood.Layout.of(settings.analysis, settings.fit)
    arrays = likelihood.model_arrays(likelihood.hard_templates(histograms, layout, settings.fit.fit_edges), layout)
    main, aux = likelihood.asimov(arrays, layout)
    np.testing.assert_allclose(main, data[: model.config.nmaindata], rtol=1e-9)
    rng = np.random.default_rng(7)
    for shift in (0.0, 0.03, 0.1):
        ours = layout.nominal_parameters + shift * rng.normal(size=len(layout.parameter_names))
        positive = np.array([i == 0 or "staterror" in n for i, n in enumerate(layout.parameter_names)])
        ours = np.where(positive, np.abs(ours), ours)
        theirs = np.array(model.config.suggested_init())
        for value, name in zip(ours, layout.parameter_names):
            base, _, index = name.rstrip("]").partition("[")
            theirs[np.arange(model.config.npars)[model.config.par_slice(base)][int(index or 0)]] = value
        expected = -float(model.logpdf(theirs, data)[0])
        assert np.isfinite(expected)
        assert float(likelihood.nll(arrays, ours, main, aux)) == pytest.approx(expected, rel=1e-6)


def test_expected_uncertainty_equals_pyhf(hard_cut):
    import jax

    from agcflow.relaxed import likelihood

    settings, base, histograms, _ = hard_cut
    jax.config.update("jax_enable_x64", True)
    layout = likelihood.Layout.of(settings.analysis, settings.fit)
    ours = float(likelihood.expected_uncertainty(
        likelihood.hard_templates(histograms, layout, settings.fit.fit_edges), layout))
    theirs = hard.expected_uncertainty(read_manifest(base / "manifest.json"), settings.analysis, settings.fit, settings.processing.seed,
                                       base / "hard")
    assert 0.0 < ours < 1.0
    assert ours == pytest.approx(theirs, rel=0.01)
