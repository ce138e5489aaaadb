"""Asimov closure of the H->ZZ*->4l fit: the workspace built by the real stages from generated
histograms, its observations replaced by the expectation at Signal_norm = mu, fitted back with
pyhf/cabinetry through the fit stage's own function."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from agcflow.stats.fit import fit_workspace
from agcflow.stats.workspace import asimov_closure_workspace, build_workspace, figure_binnings


@pytest.fixture(scope="module")
def built(hzz_settings, hzz_histograms, tmp_path_factory):
    """The workspace and the bins it dropped as empty (the small dataset leaves the top
    high-mass bins empty)."""
    _, _, path = hzz_histograms
    dropped: dict[str, list[int]] = {}
    ws = build_workspace(path, hzz_settings.analysis, hzz_settings.fit, tmp_path_factory.mktemp("hzz_ws"), dropped)
    return ws, dropped


@pytest.fixture(scope="module")
def hzz_workspace(built):
    return built[0]


def test_the_workspace_has_the_three_fit_samples_in_two_channels(hzz_workspace, hzz_settings):
    channels = {channel["name"]: channel for channel in hzz_workspace["channels"]}
    assert set(channels) == {"4l", "4l, high mass"}
    main = channels["4l"]
    assert {s["name"] for s in main["samples"]} == {"Signal", "Background $ZZ^*$", "Background $Z,t\\bar{t}$"}
    assert all(len(s["data"]) == 34 for s in main["samples"])  # the AGC's 34 bins, 80-250 GeV
    signal = next(s for s in main["samples"] if s["name"] == "Signal")
    assert {m["name"] for m in signal["modifiers"]} >= {"Signal_norm", "Scale factor", "m4l scale"}


@pytest.mark.parametrize("mu", [1.0, 2.0])
def test_the_fit_gives_back_the_injected_signal_norm(hzz_workspace, mu):
    import cabinetry

    closure = asimov_closure_workspace(hzz_workspace, poi_value=mu)
    observed = {o["name"]: np.asarray(o["data"]) for o in closure["observations"]}
    for channel in closure["channels"]:  # the expectation: Signal x mu plus the backgrounds
        expected = sum(np.asarray(s["data"]) * (mu if s["name"] == "Signal" else 1.0) for s in channel["samples"])
        np.testing.assert_allclose(observed[channel["name"]], expected, rtol=1e-9, err_msg=channel["name"])
    model, data = cabinetry.model_utils.model_and_data(closure)
    results = cabinetry.fit.fit(model, data)
    fitted = dict(zip(results.labels, zip(results.bestfit, results.uncertainty)))
    value, uncertainty = fitted["Signal_norm"]
    # MINUIT's tolerance, not the model, limits the agreement; the uncertainty is ~0.4 at 10 fb^-1
    assert value == pytest.approx(mu, rel=1e-3)
    assert math.isfinite(uncertainty) and 0.05 < uncertainty < 2.0
    assert fitted["Scale factor"][0] == pytest.approx(0.0, abs=1e-2)
    assert fitted["ZZ* normalization"][0] == pytest.approx(0.0, abs=1e-2)


def test_the_fit_stage_fits_and_draws_every_channel_with_the_edges_kept(built, hzz_settings, tmp_path):
    hzz_workspace, dropped = built
    fit = dataclasses.replace(hzz_settings.fit, backend="numpy", device="cpu", ranking=False)
    analysis = hzz_settings.analysis
    outcome = fit_workspace(asimov_closure_workspace(hzz_workspace, 1.5), fit, tmp_path / "fit", tmp_path / "figures",
                            axis_labels={r.label: r.axis_label for r in analysis.regions},
                            binnings=figure_binnings(analysis, hzz_settings.fit, dropped))
    assert outcome.success, outcome.status
    assert outcome.poi == "Signal_norm" and outcome.poi_bestfit == pytest.approx(1.5, rel=1e-3)
    assert math.isfinite(outcome.poi_uncertainty)
    assert {path.name for path in (tmp_path / "figures").glob("*.png")} >= {"4l_postfit.png", "4l-high-mass_postfit.png"}


def test_figures_get_the_edges_of_the_bins_kept(built, hzz_settings):
    ws, dropped = built
    binnings = figure_binnings(hzz_settings.analysis, hzz_settings.fit, dropped)
    for channel in ws["channels"]:
        assert len(binnings[channel["name"]]) == len(channel["samples"][0]["data"]) + 1, channel["name"]
    assert binnings["4l"] == [float(edge) for edge in hzz_settings.fit.fit_edges]


def test_a_fit_given_the_configured_edges_of_a_channel_with_dropped_bins_still_draws_it(built, hzz_settings, tmp_path,
                                                                                      caplog):
    ws, dropped = built
    assert dropped.get("4l, high mass"), "the small dataset should leave empty high-mass bins"
    fit = dataclasses.replace(hzz_settings.fit, backend="numpy", device="cpu", ranking=False)
    configured = {r.label: r.fit_edges for r in hzz_settings.analysis.regions if r.fit_edges}
    outcome = fit_workspace(asimov_closure_workspace(ws, 1.0), fit, tmp_path / "fit", tmp_path / "figures",
                            binnings=configured)
    assert outcome.success, outcome.status
    n_bins = 6 - len(dropped["4l, high mass"])
    assert f"channel 4l, high mass: {n_bins} bins, but 7 edges are given for its figures" in caplog.text
    assert (tmp_path / "figures" / "4l-high-mass_postfit.png").is_file()
