"""Active learning of an exclusion boundary: which grid points to evaluate, and when to stop.

Pure logic, no cluster. A Gaussian-process surrogate (scikit-learn, Matern 3/2 with one length
per parameter) of each curve's CLs (observed, expected median) as a significance
``Phi^-1(1 - CLs)`` over the points' parameters scaled to [0, 1]; a space-filling
(farthest-point) initial design; batches of the points most likely on the wrong side of the
CLs level, ``P(wrong) = Phi(-|mu - level| / sigma)``, picked one at a time with the surrogate
believing its own mean at the points already picked (kriging believer); stopping when no
unevaluated point has P(wrong) above ``tolerance`` or the budget is spent. On the sbottom
pallet this rule classified more points right than the straddle rule
``1.96 sigma - |mu - level|`` at the same budget. :func:`adaptive_loop` drives it with a
caller's ``evaluate`` (the scan engine on the cluster).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agcflow.errors import AgcflowError
from agcflow.scan.engine import CLS_LEVEL

log = logging.getLogger(__name__)

TARGET_CAP = 8.0  # significances beyond +/- this are clipped: the surrogate models the region near the level
MIN_BATCH = 8  # points per round at least (the driver asks for max(MIN_BATCH, 4 x workers))
STOP_BUDGET = "budget"
STOP_RESOLVED = "resolved"
STOP_EXHAUSTED = "no points left"


@dataclass(frozen=True)
class AdaptiveSettings:
    """The loop's knobs (the CLI's --initial-fraction, --budget, --batch, --tolerance, --seed)."""

    initial_fraction: float = 0.04
    budget: float = 0.25
    batch: int | None = None  # points per round; None: the driver's default (max(8, 4 x workers))
    tolerance: float = 0.02
    seed: int = 1
    level: float = CLS_LEVEL

    def check(self) -> None:
        """Raise AgcflowError naming the option when a value is out of range."""
        for option, value, upper, valid in (
            ("--initial-fraction", self.initial_fraction, 1.0, "a fraction in (0, 1]"),
            ("--budget", self.budget, 1.0, "a fraction in (0, 1]"),
            ("--tolerance", self.tolerance, math.nextafter(0.5, 0.0), "a probability in (0, 0.5)"),
        ):
            if not 0 < value <= upper:  # NaN fails too
                raise AgcflowError(f"{option} {value!r} out of range; valid: {valid}")
        if self.initial_fraction > self.budget:
            raise AgcflowError(f"--initial-fraction {self.initial_fraction} exceeds --budget {self.budget}; valid: "
                               "an initial fraction at most the budget")
        if self.batch is not None and self.batch < 1:
            raise AgcflowError(f"--batch {self.batch} out of range; valid: 1 or more points per round")


@dataclass
class AdaptiveState:
    """What the loop knows: the evaluated targets per curve, the rounds, the surrogates."""

    n_points: int
    targets: dict[int, dict[str, float] | None] = field(default_factory=dict)  # index -> curve -> to_target(CLs) (None: failed)
    rounds: list[list[int]] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)  # curve -> fitted GaussianProcessRegressor
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    std: dict[str, np.ndarray] = field(default_factory=dict)
    stop: str | None = None

    @property
    def evaluated(self) -> np.ndarray:
        mask = np.zeros(self.n_points, dtype=bool)
        mask[list(self.targets)] = True
        return mask


def scaled(values: Sequence[Sequence[float]]) -> np.ndarray:
    """The points' parameters scaled to [0, 1] per column (constant columns dropped)."""
    table = np.asarray(values, dtype=float)
    span = np.ptp(table, axis=0)
    keep = span > 0
    return (table[:, keep] - table[:, keep].min(axis=0)) / span[keep]


def initial_design(x: np.ndarray, n: int, seed: int) -> list[int]:
    """``n`` indices spread over ``x`` by farthest-point sampling from a seeded first point."""
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(x)))]
    distance = np.linalg.norm(x - x[chosen[0]], axis=1)
    while len(chosen) < min(n, len(x)):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(x - x[nxt], axis=1))
    return chosen


def to_target(cls: float | None) -> float | None:
    """The surrogate's quantity: CLs as a one-sided Gaussian significance ``Phi^-1(1 - CLs)``
    (about sqrt of the test statistic, close to linear in the signal yield), clipped to
    [-TARGET_CAP, TARGET_CAP]; None for a missing or non-finite value."""
    from scipy.stats import norm

    if cls is None or not math.isfinite(cls):
        return None
    return float(np.clip(norm.isf(min(max(cls, 1e-300), 1.0)), -TARGET_CAP, TARGET_CAP))


def from_target(target: np.ndarray) -> np.ndarray:
    """CLs from the surrogate's quantity."""
    from scipy.stats import norm

    return norm.sf(target)


def fit(x: np.ndarray, train: Sequence[int], y: np.ndarray, seed: int, kernel: Any = None) -> Any:
    """A GP fitted to ``y`` at rows ``train`` of ``x``: its kernel's hyperparameters by
    maximum likelihood, or ``kernel``'s kept as they are when given."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    if kernel is None:
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern([0.3] * x.shape[1], (0.03, 10.0), nu=1.5) + WhiteKernel(1e-4, (1e-8, 1e-2))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed)
    else:
        gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(x[list(train)], y)


def predict(gp: Any, x: np.ndarray, train: Sequence[int], y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation at every row of ``x``; the training rows keep their own
    value with no uncertainty."""
    mean, std = gp.predict(x, return_std=True)
    mean[list(train)], std[list(train)] = y, 0.0
    return mean, np.maximum(std, 0.0)


def update_surrogates(x: np.ndarray, state: AdaptiveState, curves: Sequence[str], seed: int) -> None:
    """Refit every curve's surrogate on the evaluated (non-failed) points."""
    ok = [i for i, t in state.targets.items() if t is not None]
    if len(ok) < 2:
        raise AgcflowError(f"only {len(ok)} of the first {len(state.targets)} points evaluated without failure; "
                           "the adaptive scan needs 2 or more (scan the full grid to see why they fail)")
    for curve in curves:
        y = np.array([state.targets[i][curve] for i in ok])
        state.models[curve] = fit(x, ok, y, seed)
        state.mean[curve], state.std[curve] = predict(state.models[curve], x, ok, y)


def wrong_side_probability(mean: np.ndarray, std: np.ndarray, level: float) -> np.ndarray:
    """P(the true value is on the other side of ``to_target(level)`` than ``mean``); 0 where std is 0."""
    from scipy.stats import norm

    distance = np.abs(mean - to_target(level))
    safe = np.where(std > 0, std, 1.0)
    return np.where(std > 0, norm.sf(distance / safe), 0.0)


def acquisition(state: AdaptiveState, level: float, std: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Per point the largest wrong-side probability over the curves (``std`` overrides the
    surrogates' standard deviations)."""
    std = std or state.std
    return np.max([wrong_side_probability(state.mean[c], std[c], level) for c in state.mean], axis=0)


def next_batch(x: np.ndarray, state: AdaptiveState, size: int, level: float) -> list[int]:
    """Up to ``size`` unevaluated points, one at a time by :func:`acquisition`; after each pick
    the surrogates believe their own mean there (kriging believer, hyperparameters fixed), so
    the uncertainty it removes is not bought twice in one batch."""
    train = [i for i, t in state.targets.items() if t is not None]
    candidates = ~state.evaluated
    std = dict(state.std)
    picked: list[int] = []
    while len(picked) < size and candidates.any():
        score = np.where(candidates, acquisition(state, level, std), -np.inf)
        best = int(np.argmax(score))
        picked.append(best)
        candidates[best] = False
        rows = train + picked
        for curve, gp in state.models.items():
            believed = state.mean[curve][rows]
            std[curve] = predict(fit(x, rows, believed, 0, gp.kernel_), x, rows, believed)[1]
    return picked


def stop_reason(state: AdaptiveState, settings: AdaptiveSettings) -> str | None:
    """Why the loop stops now (resolved, budget, no points left), or None to go on."""
    unevaluated = ~state.evaluated
    if not unevaluated.any():
        return STOP_EXHAUSTED
    worst = float(acquisition(state, settings.level)[unevaluated].max())
    if worst < settings.tolerance:
        return f"{STOP_RESOLVED}: every unevaluated point on its side with P(wrong) {worst:.3g} < {settings.tolerance}"
    if len(state.targets) >= budget_points(state.n_points, settings):
        return f"{STOP_BUDGET}: {len(state.targets)} of {state.n_points} points evaluated (budget {settings.budget:g}); worst P(wrong) {worst:.3g}"
    return None


def budget_points(n_points: int, settings: AdaptiveSettings) -> int:
    """The most points the loop evaluates."""
    return max(1, math.floor(settings.budget * n_points))


Evaluate = Callable[[list[int]], Mapping[int, Mapping[str, float | None] | None]]


def adaptive_loop(values: Sequence[Sequence[float]], evaluate: Evaluate, settings: AdaptiveSettings,
                  curves: Sequence[str] = ("observed", "expected")) -> AdaptiveState:
    """Evaluate the initial design, then batches by :func:`next_batch` until
    :func:`stop_reason` says stop.

    ``evaluate(indices)`` returns, per index, CLs per curve (None for a failed point).
    """
    settings.check()
    x = scaled(values)
    state = AdaptiveState(len(x))
    budget = budget_points(len(x), settings)
    n_initial = max(min(len(x), x.shape[1] + 2), math.ceil(settings.initial_fraction * len(x)))
    batch = initial_design(x, min(n_initial, budget), settings.seed)
    while True:
        _record(state, batch, evaluate(batch), curves)
        update_surrogates(x, state, curves, settings.seed)
        state.stop = stop_reason(state, settings)
        log.info("adaptive round %d: %d points evaluated%s", len(state.rounds), len(state.targets),
                 f"; stop ({state.stop})" if state.stop else "")
        if state.stop:
            return state
        batch = next_batch(x, state, min(settings.batch or MIN_BATCH, budget - len(state.targets)), settings.level)


def _record(state: AdaptiveState, batch: list[int], results: Mapping[int, Mapping[str, float | None] | None],
            curves: Sequence[str]) -> None:
    state.rounds.append(list(batch))
    for index in batch:
        result = results.get(index)
        logs = None if result is None else {c: to_target(result.get(c)) for c in curves}
        state.targets[index] = None if logs is None or None in logs.values() else logs
