"""The expected-limit objective: the limit where pyhf finds the median expected CLs at the
level, its gradient through the relaxed analysis against finite differences, and the
checks of --objective/--signal before any compute."""

from __future__ import annotations

import pytest

from agcflow import config, reinterpret
from agcflow import stages as pipeline
from agcflow.analyses.base import CutParameter, Relaxation
from agcflow.delivery.manifest_types import read_manifest
from agcflow.errors import ConfigError, InputFileError
from agcflow.optimize import hard
from agcflow.optimize.gradient import enable_x64, load_relaxed_events, relaxed_form_of, relaxed_objective
from agcflow.optimize.objective import Objective, objective_of
from agcflow.optimize.options import GradientOptions
from agcflow.optimize.parameters import with_cuts
from agcflow.optimize.run import optimize
from agcflow.scan.engine import CLS_LEVEL
from agcflow.util.io import read_json
from conftest import CONFIG, assert_gradient_matches_finite_differences, tiny_overrides

SIGNAL = "zprime_500"
CUTS = {"jet_pt_min": 34.0, "btag_min": 0.6}
PARAMETERS = (CutParameter("jet_pt_min", 26.0, 61.0, 8), CutParameter("btag_min", 0.3, 0.9, 7))


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, dask_client):
    """Tiny settings at CUTS, the expected-limit objective and the manifest with the signal delivered."""
    base = tmp_path_factory.mktemp("limit")
    settings = config.load(CONFIG, {
        **tiny_overrides(base), "delivery.preselection.btag_min": 0.3, "analysis.objects.jet.pt_min": CUTS["jet_pt_min"],
        "analysis.objects.btag_min": CUTS["btag_min"], "reinterpret.directory": str(base / "signals"),
        "reinterpret.events": 5000})
    pipeline.generate(settings, progress=False)
    reinterpret.generate_signal(settings, settings.reinterpret.signal(SIGNAL))
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    objective = objective_of(settings, "expected-limit", SIGNAL)
    manifest = objective.with_signal(settings, read_manifest(base / "manifest.json"), dask_client)
    return settings, objective, manifest, base


@pytest.mark.integration
def test_the_limit_is_where_pyhf_finds_the_median_expected_cls_at_the_level(delivered):
    import pyhf

    settings, objective, manifest, base = delivered
    ours = hard.expected_limit(manifest, settings.analysis, settings.fit, settings.processing.seed, base / "jax",
                               objective.signal, settings.reinterpret, engine="jax")
    analysis = with_cuts(settings.analysis, CUTS).with_signal(objective.signal)
    model, data = hard.limit_model(hard.cached_histograms(manifest, analysis, settings.processing.seed), analysis,
                                   settings.fit, base / "pyhf", objective.signal, settings.reinterpret)
    _, expected = pyhf.infer.hypotest(ours, data, model, test_stat="qtilde", return_expected_set=True)
    assert 0.0 < ours < settings.reinterpret.poi_bounds[1]
    assert float(expected[2]) == pytest.approx(CLS_LEVEL, rel=1e-3)


@pytest.mark.integration
def test_limit_gradient_agrees_with_finite_differences(delivered):
    settings, objective, manifest, _ = delivered
    enable_x64()
    with_signal = objective.analysis_settings(settings)
    form = relaxed_form_of(with_signal)
    events = load_relaxed_events(with_signal, manifest, form)
    relaxation = Relaxation({p.name: p.step / 2.0 for p in PARAMETERS}, 10.0)
    evaluate = relaxed_objective(with_signal, form, events, PARAMETERS, relaxation, objective.measure(with_signal))
    value, _ = evaluate(CUTS)
    assert 0.0 < value < settings.reinterpret.poi_bounds[1]
    assert_gradient_matches_finite_differences(evaluate, CUTS, PARAMETERS)


@pytest.mark.integration
def test_a_gradient_run_checks_its_optimum_with_hard_cuts(delivered, tmp_path):
    """`agcflow optimize --strategy gradient --objective expected-limit` end to end (two steps):
    the signal delivered with the optimisation's preselection, and the record's hard-cut check
    the hard-cut analysis' limit at the optimum."""
    settings, objective, manifest, base = delivered
    record = optimize("gradient", settings, base / "manifest.json", tmp_path, PARAMETERS, GradientOptions(steps=1),
                      objective)
    assert record["evaluations"] == 2 and record["signal"] == SIGNAL and record["poi"] == "mu_sig"
    at_optimum = hard.expected_limit(manifest, with_cuts(settings.analysis, record["optimum"]), settings.fit,
                                     settings.processing.seed, tmp_path / "check", objective.signal, settings.reinterpret,
                                     engine="jax")
    assert record["hard_cuts"]["objective"] == pytest.approx(at_optimum, rel=1e-9)
    assert record["hard_cuts"]["relative_difference"] == pytest.approx(record["objective"] / at_optimum - 1)
    assert read_json(objective.result_path(tmp_path, "gradient"))["hard_cuts"] == record["hard_cuts"]
    assert objective.figure_path(tmp_path, "objective_vs_iteration").read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_signal_is_named_with_the_configured_ones(settings):
    with pytest.raises(ConfigError, match=r"'zprime_9999' is not in reinterpret.signals; configured: \['zprime_500'"):
        objective_of(settings, "expected-limit", "zprime_9999")
    with pytest.raises(ConfigError, match="needs --signal NAME; configured"):
        objective_of(settings, "expected-limit", None)
    with pytest.raises(ConfigError, match="objective 'limit' unknown; valid: poi-uncertainty, expected-limit"):
        objective_of(settings, "limit", None)


def test_a_missing_signal_sample_names_the_command_that_generates_it(tmp_path):
    settings = config.load(CONFIG, {"reinterpret.directory": str(tmp_path)})
    with pytest.raises(InputFileError, match=r"no generated sample .*`agcflow reinterpret --name zprime_750`"):
        objective_of(settings, "expected-limit", "zprime_750")


def test_each_objective_writes_its_own_files(settings, tmp_path):
    default, limit = Objective(), Objective("expected-limit", settings.reinterpret.signal(SIGNAL))
    assert default.result_path(tmp_path, "grid") == tmp_path / "grid.json"
    assert limit.result_path(tmp_path, "grid") == tmp_path / "grid-expected-limit-zprime_500.json"
    assert limit.figure_path(tmp_path, "landscape") == tmp_path / "landscape-expected-limit-zprime_500.png"
