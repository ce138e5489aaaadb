"""The relaxed analysis: hard limit, convergence with the steepness, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.analyses.base import CutParameter, Relaxation
from agcflow.delivery.manifest_types import read_manifest
from agcflow.optimize.gradient import enable_x64, load_relaxed_events, relaxed_form_of, relaxed_objective
from agcflow.processing.histograms import load_root
from agcflow.relaxed import likelihood
from conftest import CONFIG, assert_gradient_matches_finite_differences, tiny_overrides

pytestmark = pytest.mark.integration

CUTS = {"jet_pt_min": 34.0, "btag_min": 0.6}
PARAMETERS = (CutParameter("jet_pt_min", 26.0, 61.0, 8), CutParameter("btag_min", 0.3, 0.9, 7))


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, dask_client):
    """Tiny settings at CUTS, their events, and the hard-cut histograms of a cached pass."""
    base = tmp_path_factory.mktemp("relaxed")
    overrides = {**tiny_overrides(base), "delivery.preselection.btag_min": 0.3,
                 "analysis.objects.jet.pt_min": CUTS["jet_pt_min"], "analysis.objects.btag_min": CUTS["btag_min"]}
    settings = config.load(CONFIG, overrides)
    pipeline.generate(settings, progress=False)
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    pipeline.run_cached_pass(settings, base / "manifest.json", base / "h.root", base / "m.json", client=dask_client)
    enable_x64()
    form = relaxed_form_of(settings)
    events = load_relaxed_events(settings, read_manifest(base / "manifest.json"), form)
    return settings, form, events, load_root(base / "h.root")


def _templates(delivered, width_fraction: float, bandwidth: float, scale: float = 1.0):
    settings, form, events, _ = delivered
    relaxation = Relaxation({p.name: p.step * width_fraction for p in PARAMETERS}, bandwidth)
    return form.templates(CUTS, form.tables(events), events, settings.analysis, np.asarray(settings.fit.fit_edges),
                          relaxation, scale)


def test_the_schedules_scale_widens_the_sigmoids_and_the_kernel_alike(delivered):
    """The gradient strategy's sharpening schedule scales every relaxation width by one factor."""
    scaled, wide = _templates(delivered, 0.1, 5.0, scale=2.0), _templates(delivered, 0.2, 10.0)
    narrow = _templates(delivered, 0.1, 5.0)
    for key, (yields, sumw2) in wide.items():
        np.testing.assert_allclose(scaled[key][0], yields, rtol=1e-9, atol=1e-9, err_msg=str(key))
        np.testing.assert_allclose(scaled[key][1], sumw2, rtol=1e-9, atol=1e-9, err_msg=str(key))
    key = ("4j2b", "ttbar", "nominal")
    assert float(np.abs(narrow[key][0] - wide[key][0]).sum()) > 1e-3 * float(np.sum(wide[key][0]))


def test_hard_limit_equals_the_cached_pass(delivered):
    settings, _, _, histograms = delivered
    layout = likelihood.Layout.of(settings.analysis, settings.fit)
    hard = likelihood.hard_templates(histograms, layout, settings.fit.fit_edges)
    relaxed = _templates(delivered, 0.0, 0.0)
    assert set(relaxed) == set(hard)
    for key, (yields, sumw2) in hard.items():
        np.testing.assert_allclose(relaxed[key][0], yields, rtol=1e-9, atol=1e-9, err_msg=str(key))
        np.testing.assert_allclose(relaxed[key][1], sumw2, rtol=1e-9, atol=1e-9, err_msg=str(key))
    assert float(np.sum(hard[("4j2b", "ttbar", "nominal")][0])) > 0


def test_soft_cuts_converge_to_the_hard_cut(delivered):
    hard = _templates(delivered, 0.0, 0.0)
    key = ("4j2b", "ttbar", "nominal")
    deviations = []
    for fraction in (0.5, 0.05, 0.005, 0.0005, 0.00001):
        soft = _templates(delivered, fraction, 0.0)
        deviations.append(max(float(np.abs(soft[k][0] - hard[k][0]).sum() / np.sum(hard[k][0])) for k in [key]))
    assert all(a > b for a, b in zip(deviations, deviations[1:])), deviations
    assert deviations[-1] < 0.01 * deviations[0], deviations


def test_gradient_agrees_with_finite_differences(delivered):
    settings, form, events, _ = delivered
    relaxation = Relaxation({p.name: p.step / 2.0 for p in PARAMETERS}, 10.0)
    evaluate = relaxed_objective(settings, form, events, PARAMETERS, relaxation)
    value, _ = evaluate(CUTS)
    assert 0.0 < value < 1.0
    assert_gradient_matches_finite_differences(evaluate, CUTS, PARAMETERS)
