"""Exclusion contours on synthetic CLs surfaces with known CLs = 0.05 boundaries."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agcflow.errors import AgcflowError
from agcflow.scan.contour import ContourSettings, contour_from_results, exclusion_contours, parse_where, select_points

RADIUS = 1000.0


def synthetic_records(shift: float = 0.0) -> dict[str, dict]:
    """CLs = 0.05 * exp(3 (r - R) / R) on a grid: the 0.05 level is the circle r = R; the
    expected curves are the circles at R + shift * n_sigma, plus an off-plane filter value."""
    records = {}
    for x in np.arange(100.0, 1801.0, 100.0):
        for y in np.arange(0.0, 1601.0, 100.0):
            r = math.hypot(x, y)
            cls = lambda radius: 0.05 * math.exp(3 * (r - radius) / RADIUS)  # noqa: E731
            exp = [cls(RADIUS + shift * n) for n in (-2, -1, 0, 1, 2)]
            for mn1, offset in ((60.0, 0.0), (1.0, 400.0)):
                records[f"p_{x:.0f}_{y:.0f}_{mn1:.0f}"] = {
                    "CLs_obs": cls(RADIUS + offset), "CLs_exp": exp, "values": [x, y, mn1], "status": "ok", "error": None,
                }
    records["bad_1_1_60"] = {"CLs_obs": None, "CLs_exp": None, "values": [1, 1, 60], "status": "failed", "error": "x"}
    return records


def test_circle_is_recovered(tmp_path):
    settings = ContourSettings(0, 1, parse_where(["2=60"]), "x", "y")
    outcome = contour_from_results(synthetic_records(shift=100.0), settings, tmp_path / "c.png", tmp_path / "c.json")
    assert outcome["n_points"] == 18 * 17
    for name, radius in {"observed": RADIUS, "expected": RADIUS, "expected_1sigma_up": 900.0,
                         "expected_1sigma_down": 1100.0, "expected_2sigma_up": 800.0, "expected_2sigma_down": 1200.0}.items():
        xy = np.concatenate([np.asarray(s) for s in outcome["contours"][name]])
        assert np.abs(np.hypot(xy[:, 0], xy[:, 1]) - radius).max() < 15.0, name
    assert outcome["max_x"]["observed"] == pytest.approx(RADIUS, abs=15.0)
    written = json.loads((tmp_path / "c.json").read_text())
    assert set(written) == set(outcome["contours"])
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "c.png").stat().st_size > 10_000


def test_filter_selects_the_plane():
    records = synthetic_records()
    points = select_points(records, ContourSettings(0, 1, ((2, 1.0),)))
    xy = np.concatenate([np.asarray(s) for s in exclusion_contours(points)["observed"]])
    assert np.abs(np.hypot(xy[:, 0], xy[:, 1]) - (RADIUS + 400.0)).max() < 15.0


def test_too_few_points_and_bad_filter():
    with pytest.raises(AgcflowError, match="only 0 ok points"):
        select_points(synthetic_records(), ContourSettings(0, 1, ((2, 5.0),)))
    with pytest.raises(AgcflowError, match="INDEX=VALUE"):
        parse_where(["2"])
