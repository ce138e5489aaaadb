"""The gradient strategy's options and their defaults, per objective (light: the CLI reads
them for its help without importing JAX or the analysis)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

STARTS = ("centre", "configured")
POI_UNCERTAINTY = "poi-uncertainty"  # the objectives of agcflow.optimize.objective
EXPECTED_LIMIT = "expected-limit"
OBJECTIVES = (POI_UNCERTAINTY, EXPECTED_LIMIT)


@dataclass(frozen=True)
class GradientOptions:
    """How the gradient strategy relaxes the analysis and descends.

    Attributes:
        steepness: sigmoid width = grid step / steepness, at the last step.
        start_steepness: the same at the first step; the cuts sharpen geometrically in between.
        bandwidth: the soft histograms' kernel width (observable units, GeV) at the last step;
            before, it is wider by the same factor as the sigmoids.
        steps: Adam steps (``steps + 1`` evaluations).
        learning_rate: grid steps per iteration at the first step.
        start: the first point: ``centre`` of the grid's box (no preference) or the ``configured`` cuts.
        final_learning_rate: at the last step (geometric decay), so that the last steps
            settle instead of oscillating about the minimum.
    """

    steepness: float = 4.0
    start_steepness: float = 2.0
    bandwidth: float = 10.0
    steps: int = 10
    learning_rate: float = 1.0
    start: str = "centre"
    final_learning_rate: float = 0.2

    def schedule(self) -> np.ndarray:
        """The steepness at each of the ``steps + 1`` evaluations."""
        return np.geomspace(self.start_steepness, self.steepness, self.steps + 1)

    def learning_rates(self) -> np.ndarray:
        """The learning rate of each of the ``steps`` Adam steps."""
        return np.geomspace(self.learning_rate, self.final_learning_rate, max(self.steps, 1))[:self.steps]


# An objective's own defaults, over GradientOptions'. The expected limit ends sharper: with the
# default widths its relaxed value at the optimum is 11-13 % below the hard-cut limit, with these
# 7 % (README "Expected limit on a signal"); the default objective's optimum needs the softer end.
OBJECTIVE_DEFAULTS: dict[str, dict[str, Any]] = {EXPECTED_LIMIT: {"steepness": 16.0, "bandwidth": 2.5}}


def gradient_options(objective: str, **given: Any) -> GradientOptions:
    """The options of ``objective``: the values ``given`` (None: not given) over its own
    defaults (:data:`OBJECTIVE_DEFAULTS`) over :class:`GradientOptions`'."""
    chosen = {**OBJECTIVE_DEFAULTS.get(objective, {}), **{k: v for k, v in given.items() if v is not None}}
    return dataclasses.replace(GradientOptions(), **chosen)


def default_text(option: str) -> str:
    """The default of ``option`` for --help: the general one and any objective's own."""
    general = getattr(GradientOptions(), option)
    own = [f"{name}: {value:g}" for name, values in OBJECTIVE_DEFAULTS.items() if (value := values.get(option)) is not None]
    return ", ".join([f"{general:g}", *own])
