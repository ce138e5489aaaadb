"""``agcflow bench scan`` on a small subset of the sbottom pallet: both rates, their ratio,
and the re-check of disagreeing points against pyhf converged tightly."""

from __future__ import annotations

import json

import pytest

from agcflow.bench import scan as scan_bench
from agcflow.config import ClusterSettings
from agcflow.scan.engine import evaluate_points
from agcflow.scan.pallet import load_pallet

from .conftest import PALLET, assert_png

pytestmark = pytest.mark.slow


def test_scan_benchmark_writes_rates_side_by_side(tmp_path):
    output = tmp_path / "scan.json"
    report = scan_benchmark_report(output)
    assert report == json.loads(output.read_text())
    assert report["n_points"] == 3 and report["failed"] == {"scan": 0, "naive": 0}
    assert report["speedup"] == pytest.approx(report["naive_wall_s"] / report["scan_wall_s"])
    assert report["scan_points_per_s"] == pytest.approx(3 / report["scan_wall_s"])
    flagged = {(r["region"], r["point"]) for r in report["rechecked_converged"]}
    assert report["max_abs_delta_cls"] <= scan_bench.CLS_TOLERANCE or flagged
    assert report["max_abs_delta_cls_after_recheck"] <= scan_bench.CLS_TOLERANCE
    assert_png(output.with_suffix(".png"), min_bytes=5_000)


def scan_benchmark_report(output):
    return scan_bench.scan_benchmark(PALLET, output, 3, ClusterSettings(kind="local", workers=1))


def test_a_disagreeing_point_is_rechecked_against_converged_pyhf():
    """A reference moved by 0.01 is flagged; the converged pyhf then agrees with the scan."""
    region = scan_bench._subset(load_pallet(PALLET), 3)[0]
    fast = {region.name: dict(evaluate_points(region.background, region.points, "jax", False))}
    point = region.points[0].name
    moved = {**fast[region.name][point], "CLs_obs": fast[region.name][point]["CLs_obs"] + 0.01}
    naive = {region.name: {point: moved}}
    [record] = scan_bench._recheck([region], fast, naive, scan_bench._deltas(fast, naive))
    assert record["point"] == point and record["delta_vs_pyhf_default"] == pytest.approx(0.01)
    assert record["converged_optimizer"] is not None, record["converged_error"]
    assert record["delta_vs_pyhf_converged"] < scan_bench.CLS_TOLERANCE
