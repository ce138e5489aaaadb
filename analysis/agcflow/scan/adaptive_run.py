"""The adaptive scan on the Dask cluster: :mod:`agcflow.scan.adaptive` chooses the points, the
scan engine (:func:`agcflow.scan.run.scan_on_client`) fits them, a batch per round.

With ``--combine best-expected`` one loop runs on the combination: at each chosen point every
region is fitted and the surrogates learn the region of lowest expected CLs; without it each
region has its own loop. Output per loop (``combined`` or the region's name):
``<output_dir>/<region>.json`` with the evaluated points (the full scan's format; plus
``combined.json``), ``<name>.classification.json`` (every grid point: its values, whether it
was evaluated and, for observed and expected, its class at CLs = 0.05, the CLs estimate and the
probability of the class), ``<name>.adaptive.json`` (rounds, why the loop stopped) and, when the
points of ``contour`` span a plane, ``<name>.contour.png`` with the evaluated points marked.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agcflow.compute.cluster import open_client
from agcflow.config import ClusterSettings
from agcflow.errors import AgcflowError
from agcflow.scan.adaptive import MIN_BATCH, AdaptiveSettings, AdaptiveState, adaptive_loop, from_target, wrong_side_probability
from agcflow.scan.contour import CURVES, ContourSettings, draw_contours, exclusion_contours, max_reach, select_points
from agcflow.scan.engine import CLS_LEVEL, ENGINES
from agcflow.scan.pallet import Region
from agcflow.scan.run import COMBINED, ScanSummary, check_region_names, combine_best_expected, scan_on_client
from agcflow.util.io import write_json

log = logging.getLogger(__name__)

CLASSIFIED = ("observed", "expected")  # the curves the loop resolves (names of contour.CURVES)
TASKS_PER_WORKER = 4


@dataclass(frozen=True)
class AdaptiveOutcome:
    """One loop's result: the grid, what it evaluated and why it stopped, every point's class."""

    name: str
    n_grid: int
    n_evaluated: int
    rounds: list[int]
    stop: str
    classification: dict[str, dict[str, Any]] = field(repr=False)

    def report(self) -> dict[str, Any]:
        """The JSON-ready summary (without the per-point classification)."""
        return {"name": self.name, "grid_points": self.n_grid, "evaluated": self.n_evaluated,
                "fraction_evaluated": self.n_evaluated / self.n_grid, "rounds": self.rounds, "stop": self.stop}


@dataclass(frozen=True)
class AdaptiveSummary:
    """The scan of the evaluated points (as the full scan reports it) and each loop's outcome."""

    scan: ScanSummary
    outcomes: dict[str, AdaptiveOutcome]
    max_x: dict[str, dict[str, float | None]]  # loop -> curve -> largest x of its contour

    def __str__(self) -> str:
        parts = [f"{o.name}: {o.n_evaluated} of {o.n_grid} points ({o.stop})" for o in self.outcomes.values()]
        return f"adaptive {'; '.join(parts)}; {self.scan.wall_time_s:.1f} s"


def run_adaptive_scan(
    regions: list[Region], cluster: ClusterSettings, engine: str = "jax", *, settings: AdaptiveSettings = AdaptiveSettings(),
    output_dir: Path | None = None, combine: str | None = None, contour: ContourSettings | None = None,
) -> AdaptiveSummary:
    """Run the adaptive loop(s) on a cluster opened from ``cluster``; write the files listed in
    the module's docstring when ``output_dir`` is set."""
    if engine not in ENGINES:
        raise AgcflowError(f"scan backend {engine!r} unknown; valid: {', '.join(ENGINES)}")
    check_region_names(regions, combine)
    settings.check()
    groups = {Path(COMBINED).stem: regions} if combine else {r.name: [r] for r in regions}
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {r.name: {} for r in regions}
    states = {}
    with open_client(cluster) as client:
        workers = len(client.scheduler_info()["workers"]) or 1
        settings = replace(settings, batch=settings.batch or max(MIN_BATCH, TASKS_PER_WORKER * workers))
        for name, members in groups.items():
            states[name] = _loop(client, members, engine, settings, results)
    wall = time.perf_counter() - started
    outcomes = {name: _outcome(name, states[name], _grid(members), settings,
                               combine_best_expected({r.name: results[r.name] for r in members}))
                for name, members in groups.items()}
    files, reach = _write(output_dir, results, outcomes, combine, contour)
    scan = ScanSummary(
        points={name: len(records) for name, records in results.items()},
        failed={name: {p: r["error"] for p, r in records.items() if r["status"] == "failed"} for name, records in results.items()},
        files=tuple(files), wall_time_s=wall, results=results,
    )
    summary = AdaptiveSummary(scan, outcomes, reach)
    log.info("%s", summary)
    return summary


def _grid(regions: list[Region]) -> dict[str, tuple[float, ...]]:
    """Every point name of ``regions`` (first appearance first) and its values."""
    grid: dict[str, tuple[float, ...]] = {}
    for region in regions:
        for point in region.points:
            grid.setdefault(point.name, point.values)
    return grid


def _loop(client: Any, regions: list[Region], engine: str, settings: AdaptiveSettings,
          results: dict[str, dict[str, Any]]) -> AdaptiveState:
    """One adaptive loop over the union of ``regions``' points; records land in ``results``."""
    names = list(_grid(regions))
    if len({len(v) for v in _grid(regions).values()}) > 1:
        raise AgcflowError(f"the points of {', '.join(r.name for r in regions)} have different numbers of values; "
                           "the adaptive scan needs one parameter space (scan without --adaptive)")

    def evaluate(indices: list[int]) -> dict[int, dict[str, float | None] | None]:
        wanted = {names[i] for i in indices}
        batch = [Region(r.name, r.background, tuple(p for p in r.points if p.name in wanted)) for r in regions]
        records = scan_on_client(client, [r for r in batch if r.points], engine, progress=False)
        for region, found in records.items():
            results[region].update(found)
        combined = combine_best_expected(records)
        return {i: _curves(combined.get(names[i])) for i in indices}

    return adaptive_loop(list(_grid(regions).values()), evaluate, settings, CLASSIFIED)


def _curves(record: Mapping[str, Any] | None) -> dict[str, float | None] | None:
    """CLs of each classified curve from a scan record (None for a failed point)."""
    if record is None or record["status"] != "ok":
        return None
    return {curve: record[CURVES[curve][0]] if CURVES[curve][1] is None else record[CURVES[curve][0]][CURVES[curve][1]]
            for curve in CLASSIFIED}


def _outcome(name: str, state: AdaptiveState, grid: dict[str, tuple[float, ...]], settings: AdaptiveSettings,
             records: Mapping[str, Mapping[str, Any]]) -> AdaptiveOutcome:
    """Every grid point's class per curve: from its fit (``records``) where evaluated and ok,
    else from the surrogate."""
    evaluated = state.evaluated
    classification = {}
    for i, (point, values) in enumerate(grid.items()):
        entry: dict[str, Any] = {"values": list(values), "evaluated": bool(evaluated[i])}
        fitted = _curves(records.get(point))
        for curve in CLASSIFIED:
            cls = fitted[curve] if fitted else float(from_target(state.mean[curve][i]))
            wrong = float(wrong_side_probability(state.mean[curve][i:i + 1], state.std[curve][i:i + 1], settings.level)[0])
            entry[curve] = {"class": "excluded" if cls < settings.level else "allowed", "CLs": cls, "probability": 1.0 - wrong}
        classification[point] = entry
    return AdaptiveOutcome(name, len(grid), int(evaluated.sum()), [len(r) for r in state.rounds], state.stop or "", classification)


def _write(output_dir: Path | None, results: dict[str, dict[str, Any]], outcomes: dict[str, AdaptiveOutcome],
           combine: str | None, contour: ContourSettings | None) -> tuple[list[Path], dict[str, dict[str, float | None]]]:
    """The evaluated records, classifications, loop reports and figures; the contours' reach."""
    files: list[Path] = []
    reach = {name: classified_reach(o.classification, contour or ContourSettings()) for name, o in outcomes.items()}
    if output_dir is None:
        return files, reach
    out = Path(output_dir)
    files += [write_json(out / f"{name}.json", records) for name, records in results.items()]
    if combine:
        files.append(write_json(out / COMBINED, combine_best_expected(results)))
    for name, outcome in outcomes.items():
        files.append(write_json(out / f"{name}.classification.json", outcome.classification))
        files.append(write_json(out / f"{name}.adaptive.json", {**outcome.report(), "max_x": reach[name]}))
        figure = draw_classified(outcome.classification, contour or ContourSettings(), out / f"{name}.contour.png")
        files += [figure] if figure else []
    return files, reach


def classified_points(classification: Mapping[str, Mapping[str, Any]], settings: ContourSettings) -> dict[str, np.ndarray] | None:
    """x, y and the observed and expected CLs estimates of the classified points passing
    ``settings.where`` (None when they span no plane)."""
    records = {name: {"values": e["values"], "status": "ok", "CLs_obs": e["observed"]["CLs"],
                      "CLs_exp": [math.nan, math.nan, e["expected"]["CLs"], math.nan, math.nan]}
               for name, e in classification.items()}
    try:
        points = select_points(records, settings, "the classification")
    except AgcflowError as err:
        log.warning("no contour from the classification: %s", err)
        return None
    return {k: points[k] for k in ("x", "y", *CLASSIFIED)}


def classified_reach(classification: Mapping[str, Mapping[str, Any]], settings: ContourSettings) -> dict[str, float | None]:
    """The largest x of the observed and expected CLs = 0.05 contours of the classification."""
    points = classified_points(classification, settings)
    if points is None:
        return {curve: None for curve in CLASSIFIED}
    return {name: max_reach(segments) for name, segments in exclusion_contours(points, CLS_LEVEL).items()}


def draw_classified(classification: Mapping[str, Mapping[str, Any]], settings: ContourSettings, output: Path) -> Path | None:
    """The observed and expected contours of the classification with the evaluated points marked."""
    points = classified_points(classification, settings)
    if points is None:
        return None
    kept = [e for e in classification.values() if _passes(e["values"], settings)]
    marked = np.array([[e["values"][settings.x_index], e["values"][settings.y_index]] for e in kept if e["evaluated"]]).reshape(-1, 2)
    return draw_contours(points, exclusion_contours(points, CLS_LEVEL), settings, output,
                         marked=(marked[:, 0], marked[:, 1], "Evaluated"))


def _passes(values: list[float], settings: ContourSettings) -> bool:
    return all(len(values) > i and math.isclose(values[i], v) for i, v in settings.where)
