"""The gradient strategy's descent (Adam in grid units, the sharpening schedule) on objectives
given in closed form: where it goes, and what it does with a non-finite objective."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agcflow.analyses.base import CutParameter
from agcflow.errors import AgcflowError
from agcflow.optimize.gradient import descend
from agcflow.optimize.options import GradientOptions, default_text, gradient_options

PARAMETERS = (CutParameter("jet_pt_min", 25.0, 60.0, 8), CutParameter("btag_min", 0.3, 0.9, 7))
MINIMUM = {"jet_pt_min": 40.0, "btag_min": 0.7}


def bowl(point, scale):
    """A quadratic bowl in grid units around MINIMUM, and its gradient in cut units."""
    value = sum(((point[p.name] - MINIMUM[p.name]) / p.step) ** 2 for p in PARAMETERS)
    return value, {p.name: 2 * (point[p.name] - MINIMUM[p.name]) / p.step**2 for p in PARAMETERS}


def test_the_descent_reaches_the_minimum_of_a_bowl_within_a_grid_step():
    path = descend(bowl, PARAMETERS, np.array([0.0, 0.0]), GradientOptions(steps=30, learning_rate=0.5))
    assert len(path) == 31
    assert [entry["steepness"] for entry in path] == pytest.approx(list(GradientOptions(steps=30).schedule()))
    for p in PARAMETERS:
        assert abs(path[-1][p.name] - MINIMUM[p.name]) < p.step
    assert path[-1]["objective"] < path[0]["objective"]


def test_a_non_finite_objective_ends_the_descent_at_the_last_finite_point(caplog):
    calls = []

    def fails_late(point, scale):
        calls.append(point)
        return (math.nan, {p.name: math.nan for p in PARAMETERS}) if len(calls) > 3 else bowl(point, scale)

    path = descend(fails_late, PARAMETERS, np.array([0.0, 0.0]), GradientOptions(steps=10))
    assert len(path) == 3 and len(calls) == 4
    assert all(math.isfinite(entry["objective"]) for entry in path)
    assert "not finite" in path[-1]["stopped"] and "steepness" in path[-1]["stopped"]
    assert "stopped after 2 steps" in caplog.text


def test_a_non_finite_gradient_counts_as_well():
    def infinite_gradient(point, scale):
        value, grad = bowl(point, scale)
        return value, {**grad, "btag_min": math.inf} if point["jet_pt_min"] > 30 else grad

    path = descend(infinite_gradient, PARAMETERS, np.array([0.0, 0.0]), GradientOptions(steps=10))
    assert "stopped" in path[-1] and all(entry["jet_pt_min"] <= 30 for entry in path)


def test_a_non_finite_objective_at_the_start_is_an_error_naming_the_point():
    with pytest.raises(AgcflowError, match=r"not finite at \{'jet_pt_min': 25.0, 'btag_min': 0.3\}.*--steepness"):
        descend(lambda point, scale: (math.nan, {p.name: 0.0 for p in PARAMETERS}), PARAMETERS, np.array([0.0, 0.0]),
                GradientOptions())


def test_each_objective_has_its_defaults_and_given_values_win():
    assert gradient_options("poi-uncertainty") == GradientOptions()
    limit = gradient_options("expected-limit")
    assert (limit.steepness, limit.bandwidth) == (16.0, 2.5) and limit.steps == GradientOptions().steps
    given = gradient_options("expected-limit", steepness=8.0, bandwidth=None, steps=3)
    assert (given.steepness, given.bandwidth, given.steps) == (8.0, 2.5, 3)
    assert default_text("steepness") == "4, expected-limit: 16" and default_text("steps") == "10"


def test_the_learning_rate_decays_geometrically_to_the_final_one():
    rates = GradientOptions(steps=4, learning_rate=1.0, final_learning_rate=0.125).learning_rates()
    assert rates == pytest.approx([1.0, 0.5, 0.25, 0.125])
    assert GradientOptions(steps=0).learning_rates().size == 0
