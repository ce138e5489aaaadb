"""Continuous signal families: which grid points of ``reinterpret.families.<name>`` to generate,
deliver, process and fit, and the excluded region they give.

Every point is a signal of its own (``point_signal``) run through :func:`agcflow.reinterpret.run`
into ``<output_dir>/points/<signal>/``. A point is excluded where its CLs at the nominal signal
strength (mu = 1) is below 0.05, observed and expected (median). ``dense`` evaluates every grid
point; ``adaptive`` lets the scan's active-learning loop (:mod:`agcflow.scan.adaptive`: a
Gaussian-process surrogate of CLs over the parameters) choose the points that decide the
boundary and classifies the rest from the surrogate. ``family.json`` holds every grid point's
classification (from a fit, or from the surrogate with the probability of its class);
``excluded.png`` draws it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agcflow.config import Settings, SignalFamily, SignalSettings
from agcflow.errors import AgcflowError
from agcflow.scan.adaptive import (
    AdaptiveSettings,
    AdaptiveState,
    adaptive_loop,
    from_target,
    wrong_side_probability,
)
from agcflow.scan.engine import CLS_LEVEL
from agcflow.util import provenance
from agcflow.util.io import write_json

log = logging.getLogger(__name__)

RESULT = "family.json"
FIGURE = "excluded.png"
STRATEGIES = ("dense", "adaptive")
KINDS = ("obs", "exp")  # observed, and the median expected CLs
CURVES = ("observed", "expected")  # the same, as the adaptive loop names its curves


def grid_points(family: SignalFamily) -> list[dict[str, float]]:
    """The family's grid, the first parameter varying slowest."""
    axes = family.axes()
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return [{name: float(values.flat[i]) for name, values in zip(axes, mesh, strict=True)}
            for i in range(mesh[0].size)]


def point_name(family: SignalFamily, point: dict[str, float]) -> str:
    """The signal name of a grid point, e.g. ``zprime_mw_mass700_width0p09``."""
    parts = [f"{name}{value:g}".replace(".", "p").replace("-", "m") for name, value in point.items()]
    return "_".join([family.name, *parts])


def point_signal(family: SignalFamily, point: dict[str, float]) -> SignalSettings:
    """The grid point as a signal: its name, its cross section from the family's scaling."""
    label = f"{family.label} (" + ", ".join(f"{name} {value:g}" for name, value in point.items()) + ")"
    return SignalSettings(point_name(family, point), label, family.xsec(point), dict(point))


def classification(evaluation: dict[str, Any]) -> dict[str, Any]:
    """An evaluated point: excluded at 95 % CL where its CLs at mu = 1 is below the level (None
    for a point whose evaluation failed)."""
    if "error" in evaluation:
        return {f"{key}_{kind}": None for key in ("excluded", "probability") for kind in KINDS}
    return {**{f"excluded_{kind}": evaluation[f"CLs_{kind}"] < CLS_LEVEL for kind in KINDS},
            **{f"probability_{kind}": 1.0 for kind in KINDS}}


Evaluate = Callable[[SignalSettings], dict[str, Any]]


def signal_evaluator(settings: Settings, background_workspace: Path, output_dir: Path, client) -> Evaluate:
    """One signal generated, delivered, processed and patched into the preserved workspace; its
    pallet and result in ``output_dir/points/<signal>/``."""
    from agcflow import reinterpret as recast

    def evaluate(signal: SignalSettings) -> dict[str, Any]:
        fileset = recast.generate_signal(settings, signal)
        result = recast.run(settings, signal, fileset, background_workspace, output_dir / "points" / signal.name, client)
        return {"upper_limit_obs": result["upper_limit_obs"], "upper_limit_exp": result["upper_limit_exp"][2],
                "CLs_obs": result["CLs_obs"], "CLs_exp": result["CLs_exp"][2], "wall_s": result["wall_s"]}

    return evaluate


def run_family(settings: Settings, family: SignalFamily, evaluate: Evaluate, output_dir: Path, strategy: str,
               options: AdaptiveSettings | None = None, inputs: Sequence[Path] = ()) -> dict[str, Any]:
    """Evaluate the family by ``strategy``; write ``family.json`` and ``excluded.png`` under
    ``output_dir``; return the record (its provenance digests ``inputs``, the preserved workspace)."""
    if strategy not in STRATEGIES:
        raise AgcflowError(f"family strategy {strategy!r} unknown; valid: {', '.join(STRATEGIES)}")
    start, started = time.perf_counter(), provenance.now()
    points = grid_points(family)
    signals = [point_signal(family, point) for point in points]
    evaluated: dict[int, dict[str, Any]] = {}

    def evaluate_indices(indices: Sequence[int]) -> dict[int, dict[str, Any]]:
        for index in indices:
            log.info("%s: evaluating %s (%d of %d grid points so far)", family.name, signals[index].name,
                     len(evaluated) + 1, len(points))
            try:
                evaluated[index] = evaluate(signals[index])
            except AgcflowError as err:  # recorded; the loop goes on without the point
                log.warning("%s: %s failed: %s", family.name, signals[index].name, err)
                evaluated[index] = {"error": str(err)}
        return {index: evaluated[index] for index in indices}

    if strategy == "dense":
        evaluate_indices(range(len(points)))
        record = {"stopped": "every grid point evaluated"}
        classified = {i: classification(evaluated[i]) for i in evaluated}
    else:
        options = options or AdaptiveSettings()
        state = adaptive_loop([list(point.values()) for point in points], lambda batch: _curves(evaluate_indices(batch)),
                              options, curves=CURVES)
        record = {"stopped": state.stop, "rounds": state.rounds}
        classified = {i: classification(evaluated[i]) if i in evaluated else _surrogate_class(state, i, options.level)
                      for i in range(len(points))}
    result = {
        "family": family.name, "label": family.label, "strategy": strategy, "poi": settings.reinterpret.poi,
        "parameters": list(family.parameters), "grid_points": len(points), "evaluations": len(evaluated),
        **record, "options": dataclasses.asdict(options) if options else None,
        "points": [_point_record(signals[i], points[i], evaluated.get(i), classified[i]) for i in range(len(points))],
    }
    result["wall_s"] = time.perf_counter() - start
    result["provenance"] = provenance.block(settings.digest, provenance.digest_files(inputs), started, result["wall_s"], {"cluster": settings.cluster.kind})
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(output_dir / RESULT, result)
    from agcflow.reinterpret.family_plot import plot_family

    plot_family(result, family, output_dir / FIGURE)
    log.info("%s (%s): %d of %d grid points evaluated in %.0f s; %s", family.name, strategy, len(evaluated),
             len(points), result["wall_s"], result["stopped"])
    return result


def _curves(evaluations: dict[int, dict[str, Any]]) -> dict[int, dict[str, float]]:
    """The adaptive loop's view of evaluated points: CLs per curve."""
    return {i: {curve: e.get(f"CLs_{kind}") for curve, kind in zip(CURVES, KINDS, strict=True)} for i, e in evaluations.items()}


def _surrogate_class(state: AdaptiveState, index: int, level: float) -> dict[str, Any]:
    """An unevaluated point classified by the surrogates' means, with the probability of its class."""
    record: dict[str, Any] = {}
    for curve, kind in zip(CURVES, KINDS, strict=True):
        mean, std = state.mean[curve][index:index + 1], state.std[curve][index:index + 1]
        record[f"excluded_{kind}"] = bool(from_target(mean)[0] < level)
        record[f"probability_{kind}"] = float(1.0 - wrong_side_probability(mean, std, level)[0])
        record[f"CLs_{kind}_surrogate"] = float(from_target(mean)[0])
    return record


def _point_record(signal: SignalSettings, point: dict[str, float], evaluation: dict[str, Any] | None,
                  classified: dict[str, Any]) -> dict[str, Any]:
    record = {"signal": signal.name, "parameters": point, "xsec_pb": signal.xsec_pb, "evaluated": evaluation is not None,
              **classified}
    if evaluation is not None:
        record.update({key: value for key, value in evaluation.items() if not (isinstance(value, float) and math.isnan(value))})
    return record
