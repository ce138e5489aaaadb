"""``agcflow optimize``: run a strategy, write ``<strategy>.json`` and its figures (the
names of another objective's outputs: :class:`agcflow.optimize.objective.Objective`)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agcflow.analyses.base import CutParameter
from agcflow.compute.cluster import open_client
from agcflow.config import Settings
from agcflow.delivery.manifest import check_manifest
from agcflow.delivery.manifest_types import Manifest, read_manifest
from agcflow.errors import AgcflowError
from agcflow.optimize.gradient import enable_x64, run_gradient
from agcflow.optimize.grid import hard_objective, run_grid
from agcflow.optimize.objective import Objective
from agcflow.optimize.options import GradientOptions
from agcflow.optimize.parameters import with_cuts
from agcflow.processing.run import WORKER_MODULES
from agcflow.util.figures import save_figure
from agcflow.util.io import read_json, write_json

log = logging.getLogger(__name__)

STRATEGIES = ("grid", "gradient")
DEFAULT = Objective()


def optimize(
    strategy: str,
    settings: Settings,
    manifest_path: Path,
    output_dir: Path,
    parameters: Sequence[CutParameter],
    options: GradientOptions,
    objective: Objective = DEFAULT,
) -> dict[str, Any]:
    """Run ``strategy`` on ``objective``; write its JSON and figures to ``output_dir``; return the record."""
    manifest = read_manifest(manifest_path)
    check_manifest(settings, manifest, manifest_path)
    start = time.perf_counter()
    needs_client = strategy == "grid" or objective.signal is not None
    with open_client(settings.cluster, preload=WORKER_MODULES) if needs_client else contextlib.nullcontext() as client:
        manifest = objective.with_signal(settings, manifest, client)  # delivers the signal, if any
        if strategy == "grid":
            path = run_grid(settings, manifest, parameters, client, objective)
    if strategy == "grid":
        device = "cpu"
    else:
        device = enable_x64()
        relaxed_settings = objective.analysis_settings(settings)
        path = run_gradient(relaxed_settings, manifest, parameters, options, objective.measure(relaxed_settings))
    best = _optimum(strategy, path)
    checked = hard_cut_check(objective, settings, manifest, best, parameters) if strategy == "gradient" else None
    record = {
        "strategy": strategy,
        **objective.record(settings),
        "optimum": {p.name: best[p.name] for p in parameters},
        "objective": best["objective"],
        "evaluations": len(path),
        "wall_s": time.perf_counter() - start,
        "device": device,
        "path": path,
    }
    if checked is not None:
        record["hard_cuts"] = checked
    if strategy == "grid":
        record["grid_step"] = {p.name: p.step for p in parameters}
    else:
        record["relaxation"] = {"steepness": options.steepness, "start_steepness": options.start_steepness,
                                "bandwidth_gev": options.bandwidth, "learning_rate": options.learning_rate,
                                "final_learning_rate": options.final_learning_rate,
                                "steps": options.steps, "start": options.start}
    write_json(objective.result_path(output_dir, strategy), record)
    figures(output_dir, parameters, objective, objective.label(settings))
    log.info("%s optimum %s: %.5f (%d evaluations)", strategy, record["optimum"], best["objective"], len(path))
    return record


HARD_CUT_TOLERANCE = 0.10  # relative difference of the relaxed optimum from its hard-cut objective, before a warning


def hard_cut_check(objective: Objective, settings: Settings, manifest: Manifest, best: Mapping[str, Any],
                   parameters: Sequence[CutParameter]) -> dict[str, Any]:
    """The gradient optimum's cuts as a hard-cut analysis (evaluated as a grid point is): its
    objective and the relaxed one's relative difference from it, with a warning beyond
    :data:`HARD_CUT_TOLERANCE`; a model that cannot be built is recorded with the reason, the
    gradient's result kept."""
    point = {p.name: best[p.name] for p in parameters}
    with tempfile.TemporaryDirectory(prefix="agcflow-hard-check-", ignore_cleanup_errors=True) as scratch:
        checked = hard_objective(objective, manifest, with_cuts(settings.analysis, point), settings, Path(scratch))
    value = checked["objective"]
    if value is None:
        return {**checked, "relative_difference": None, "tolerance": HARD_CUT_TOLERANCE}
    difference = best["objective"] / value - 1.0
    log.info("hard cuts at the gradient optimum: %.5f (relaxed %.5f, %+.1f %%)", value, best["objective"],
             100 * difference)
    if abs(difference) > HARD_CUT_TOLERANCE:
        log.warning("the relaxed objective at the optimum is %+.1f %% off its hard-cut value (%.5f vs %.5f): the "
                    "relaxation does not represent the hard-cut analysis there; sharpen it (--steepness, --bandwidth) "
                    "or simulate more events", 100 * difference, best["objective"], value)
    return {"objective": value, "relative_difference": difference, "tolerance": HARD_CUT_TOLERANCE}


def _optimum(strategy: str, path: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The grid's lowest point; the gradient path's last (earlier ones are softer analyses,
    their objectives not comparable)."""
    if strategy == "gradient":
        return path[-1]
    evaluated = [entry for entry in path if entry["objective"] is not None]
    if not evaluated:
        raise AgcflowError("no grid point could be evaluated; see the errors in the log")
    return min(evaluated, key=lambda entry: entry["objective"])


def figures(output_dir: Path, parameters: Sequence[CutParameter], objective: Objective, label: str) -> list[Path]:
    """The landscape (grid, with the gradient path when both exist) and objective vs
    iteration of the results of ``objective`` found in ``output_dir``; ``label`` names the objective."""
    paths = {s: objective.result_path(output_dir, s) for s in STRATEGIES}
    results = {s: read_json(path) for s, path in paths.items() if path.exists()}
    written = [_iterations(results, objective.figure_path(output_dir, "objective_vs_iteration"), label)]
    if "grid" in results and len(parameters) == 2:
        written.append(_landscape(results, parameters, objective.figure_path(output_dir, "landscape"), label))
    return written


def _landscape(results: Mapping[str, Any], parameters: Sequence[CutParameter], output: Path, label: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = parameters
    grid = results["grid"]["path"]
    values = np.array([np.nan if p["objective"] is None else p["objective"] for p in grid]).reshape(x.points, y.points)
    figure, axes = plt.subplots(figsize=(6.4, 4.8))
    mesh = axes.pcolormesh(x.values(), y.values(), values.T, shading="nearest", cmap="viridis")
    figure.colorbar(mesh, label=label)
    optimum = results["grid"]["optimum"]
    axes.plot(optimum[x.name], optimum[y.name], "w*", markersize=14, label="grid optimum")
    if "gradient" in results:
        steps = results["gradient"]["path"]
        axes.plot([p[x.name] for p in steps], [p[y.name] for p in steps], "r.-", label="gradient path")
        axes.plot(results["gradient"]["optimum"][x.name], results["gradient"]["optimum"][y.name], "rx", markersize=12,
                  label="gradient optimum")
    axes.set_xlabel(x.name)
    axes.set_ylabel(y.name)
    axes.legend(loc="best", fontsize="small")
    return _save(figure, output)


def _iterations(results: Mapping[str, Any], output: Path, label: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for strategy, record in results.items():
        objectives = [np.nan if p["objective"] is None else p["objective"] for p in record["path"]]
        axes.plot(objectives, ".-" if strategy == "gradient" else ".", label=strategy)
    axes.set_xlabel("evaluation")
    axes.set_ylabel(label)
    axes.legend()
    return _save(figure, output)


def _save(figure: Any, output: Path) -> Path:
    return save_figure(figure, output, dpi=100, bbox_inches="tight")
