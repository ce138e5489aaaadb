"""The adaptive scan: the pure loop on a synthetic plane with a known boundary, and one real
run of the engine on part of the sbottom pallet against the full scan of the same points."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm

from agcflow.config import ClusterSettings
from agcflow.errors import AgcflowError
from agcflow.scan.adaptive import STOP_BUDGET, STOP_RESOLVED, AdaptiveSettings, adaptive_loop, to_target
from agcflow.scan.adaptive_run import run_adaptive_scan
from agcflow.scan.engine import CLS_LEVEL
from agcflow.scan.pallet import Region, load_pallet
from agcflow.scan.run import run_scan

from .conftest import PALLET, assert_png


def synthetic_cls(values: np.ndarray) -> np.ndarray:
    """CLs on a plane whose CLs = 0.05 level set is the circle of radius 0.6 around (0, 0)."""
    radius = np.hypot(values[:, 0], values[:, 1])
    return norm.sf(norm.isf(CLS_LEVEL) + 6.0 * (0.6 - radius))


@pytest.fixture(scope="module")
def plane():
    axis = np.linspace(-1.0, 1.0, 15)
    values = np.array([(x, y) for x in axis for y in axis])
    return values, synthetic_cls(values)


def run_synthetic(values, cls, settings):
    calls = []

    def evaluate(indices):
        calls.append(list(indices))
        return {i: {"observed": float(cls[i]), "expected": float(cls[i] * 1.2)} for i in indices}

    return adaptive_loop(values.tolist(), evaluate, settings), calls


@pytest.mark.parametrize(("budget", "stop"), [(0.3, STOP_RESOLVED), (0.1, STOP_BUDGET)])
def test_the_loop_finds_a_known_boundary_within_its_budget(plane, budget, stop):
    """Every point of a 15 x 15 plane classified as the function does; never more points than
    the budget, each fitted once, in batches of the asked size; the reason it stopped."""
    values, cls = plane
    state, calls = run_synthetic(values, cls, AdaptiveSettings(budget=budget, batch=8))
    evaluated = [i for batch in calls for i in batch]
    assert len(evaluated) == len(set(evaluated)) == len(state.targets) <= int(budget * len(values))
    assert all(len(batch) <= 8 for batch in calls[1:])
    assert state.stop.startswith(stop), state.stop
    for curve, truth in (("observed", cls), ("expected", cls * 1.2)):
        excluded = state.mean[curve] > to_target(CLS_LEVEL)
        agreement = np.mean(excluded == (truth < CLS_LEVEL))
        assert agreement >= (0.99 if stop == STOP_RESOLVED else 0.9), (curve, agreement)


def test_the_loop_is_deterministic(plane):
    values, cls = plane
    settings = AdaptiveSettings(budget=0.06, batch=4, seed=3)
    assert run_synthetic(values, cls, settings)[1] == run_synthetic(values, cls, settings)[1]


@pytest.mark.parametrize(("settings", "culprit"), [
    (AdaptiveSettings(budget=0.0), "--budget 0.0 out of range; valid: a fraction in (0, 1]"),
    (AdaptiveSettings(budget=1.5), "--budget 1.5"),
    (AdaptiveSettings(tolerance=0.5), "--tolerance 0.5 out of range; valid: a probability in (0, 0.5)"),
    (AdaptiveSettings(initial_fraction=0.3, budget=0.2), "--initial-fraction 0.3 exceeds --budget 0.2"),
    (AdaptiveSettings(batch=0), "--batch 0 out of range"),
])
def test_bad_settings_name_the_option(settings, culprit):
    with pytest.raises(AgcflowError, match=None) as error:
        settings.check()
    assert culprit in str(error.value)


@pytest.mark.slow
def test_adaptive_scan_of_the_pallet_agrees_with_the_full_scan(tmp_path, dask_client):
    """RegionA's mn1 = 60 points with mbottom >= 900 GeV and mchi2 <= 550 GeV (its part of the published edge): the
    adaptive scan on the real engine fits fewer points and classifies them as the full scan."""
    [region] = [r for r in load_pallet(PALLET) if r.name == "RegionA"]
    points = tuple(p for p in region.points if p.values[2] == 60 and p.values[0] >= 900 and p.values[1] <= 550)
    regions = [Region(region.name, region.background, points)]
    cluster = ClusterSettings(kind="address", address=dask_client.scheduler.address)
    full = run_scan(regions, cluster, progress=False).results["RegionA"]
    settings = AdaptiveSettings(budget=0.5, initial_fraction=0.15, batch=8)
    summary = run_adaptive_scan(regions, cluster, settings=settings, output_dir=tmp_path)
    outcome = summary.outcomes["RegionA"]
    assert outcome.n_grid == len(points) and outcome.n_evaluated <= len(points) // 2
    assert summary.scan.n_points == outcome.n_evaluated
    evaluated = json.loads((tmp_path / "RegionA.json").read_text())
    classification = json.loads((tmp_path / "RegionA.classification.json").read_text())
    assert sorted(evaluated) == sorted(p for p, e in classification.items() if e["evaluated"])
    for name, record in evaluated.items():
        assert record["CLs_obs"] == pytest.approx(full[name]["CLs_obs"], abs=1e-9)
    for curve, cls in (("observed", lambda r: r["CLs_obs"]), ("expected", lambda r: r["CLs_exp"][2])):
        wrong = [p for p, r in full.items() if (cls(r) < CLS_LEVEL) != (classification[p][curve]["class"] == "excluded")]
        assert len(wrong) <= max(1, 0.02 * len(points)), (curve, wrong)
        assert all(0.5 <= e[curve]["probability"] <= 1 for e in classification.values())
    report = json.loads((tmp_path / "RegionA.adaptive.json").read_text())
    assert report["evaluated"] == outcome.n_evaluated and report["stop"] == outcome.stop


def test_the_benchmark_counts_points_the_adaptive_scan_classifies_otherwise(tmp_path):
    """Agreement per curve against the full scan's records, and the side-by-side figure."""
    from agcflow.bench import adaptive as bench
    from agcflow.scan.adaptive_run import AdaptiveOutcome

    def record(obs, exp):
        return {"status": "ok", "CLs_obs": obs, "CLs_exp": [exp / 2, exp / 1.5, exp, exp * 1.5, exp * 2]}

    def entry(obs_class, exp_class):
        return {"values": [0, 0], "evaluated": False, "observed": {"class": obs_class}, "expected": {"class": exp_class}}

    reference = {"a": record(0.01, 0.02), "b": record(0.2, 0.03), "c": record(0.5, 0.6), "d": {"status": "failed"}}
    classification = {"a": entry("excluded", "excluded"), "b": entry("excluded", "excluded"), "c": entry("allowed", "allowed"),
                      "d": entry("allowed", "allowed")}
    outcome = AdaptiveOutcome("combined", 4, 2, [2], "budget", classification)
    agreement = bench.agreement(reference, outcome)
    assert agreement["observed"] == {"fraction": pytest.approx(2 / 3), "points": 3, "misclassified": ["b"]}
    assert agreement["expected"] == {"fraction": 1.0, "points": 3, "misclassified": []}
    report = {"full": {"points": 4, "wall_s": 2.0, "max_x": {"observed": 10.0, "expected": None}},
              "adaptive": {"evaluated": 2, "grid_points": 4, "wall_s": 1.0, "stop": "budget: 2 of 4",
                           "max_x": {"observed": 9.0, "expected": 8.0}},
              "agreement": agreement}
    assert_png(bench._figure(report, tmp_path / "bench.png"), min_bytes=5_000)
