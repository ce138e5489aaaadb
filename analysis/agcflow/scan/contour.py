"""Exclusion contours from scan results: CLs = 0.05 in two mass parameters.

log10(CLs) of each curve (observed, expected median, +/-1 and +/-2 sigma) is interpolated
linearly on the Delaunay triangulation of the scan points (scipy ``griddata``) onto a
regular grid, and matplotlib traces the level. Output: a PNG and the segments as JSON.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agcflow.errors import AgcflowError, InputFileError
from agcflow.scan.engine import CLS_LEVEL
from agcflow.util.figures import save_figure
from agcflow.util.io import write_json

log = logging.getLogger(__name__)

GRID_POINTS = 200
# Curve name -> how to take CLs from a record. CLs_exp is ordered -2..+2 sigma of the
# test statistic, i.e. from the most to the least excluding expectation.
CURVES: dict[str, tuple[str, int | None]] = {
    "observed": ("CLs_obs", None),
    "expected": ("CLs_exp", 2),
    "expected_1sigma_up": ("CLs_exp", 1),
    "expected_1sigma_down": ("CLs_exp", 3),
    "expected_2sigma_up": ("CLs_exp", 0),
    "expected_2sigma_down": ("CLs_exp", 4),
}


@dataclass(frozen=True)
class ContourSettings:
    """Which values span the plane, which points to keep, and the axis labels."""

    x_index: int = 0
    y_index: int = 1
    where: tuple[tuple[int, float], ...] = ()
    x_label: str = "m(x) [GeV]"
    y_label: str = "m(y) [GeV]"
    title: str | None = None


def parse_where(items: Sequence[str]) -> tuple[tuple[int, float], ...]:
    """``["2=60"]`` -> ((2, 60.0),): keep points whose values[2] == 60."""
    parsed = []
    for item in items:
        index, sep, value = item.partition("=")
        try:
            parsed.append((int(index), float(value)))
        except ValueError as err:
            raise AgcflowError(f"--where {item!r}: expected INDEX=VALUE, e.g. 2=60") from err
        if not sep:
            raise AgcflowError(f"--where {item!r}: expected INDEX=VALUE, e.g. 2=60")
    return tuple(parsed)


RECORD_FORM = "{'values': [x, y, ...], 'status': 'ok', 'CLs_obs': float, 'CLs_exp': [5 floats]}"


def select_points(records: Mapping[str, Mapping[str, Any]], settings: ContourSettings,
                  source: str = "scan results") -> dict[str, np.ndarray]:
    """x, y and the CLs of every curve for the ok points passing ``settings.where``; an error
    names ``source`` when a record is not a scan record or the points span no area."""
    rows = []
    wanted = max([settings.x_index, settings.y_index, *(i for i, _ in settings.where)])
    for name, record in records.items():
        try:
            row = _point_row(record, settings, wanted)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as err:
            raise InputFileError(f"{source}: point {name!r} is not a scan record {RECORD_FORM} ({err!r})") from err
        if row is not None:
            rows.append(row)
    if len(rows) < 3:
        raise AgcflowError(f"only {len(rows)} ok points match {settings.where or 'no filter'}; a contour needs 3 or more")
    table = np.asarray(rows, dtype=float)
    if np.linalg.matrix_rank(table[:, :2] - table[:, :2].mean(axis=0), tol=1e-9 * np.ptp(table[:, :2]) or None) < 2:
        raise InputFileError(f"{source}: the {len(rows)} points lie on one line in (x, y) = values[{settings.x_index}], "
                             f"values[{settings.y_index}]; a contour needs points that span an area")
    return {"x": table[:, 0], "y": table[:, 1], **{name: table[:, 2 + i] for i, name in enumerate(CURVES)}}


def _point_row(record: Mapping[str, Any], settings: ContourSettings, wanted: int) -> list[float] | None:
    values = record.get("values") or []
    if record.get("status") != "ok" or len(values) <= wanted:
        return None
    if not all(math.isclose(values[i], v) for i, v in settings.where):
        return None
    curves = [record[key] if idx is None else record[key][idx] for key, idx in CURVES.values()]
    return [float(x) for x in (values[settings.x_index], values[settings.y_index], *curves)]


def exclusion_contours(points: Mapping[str, np.ndarray], level: float = CLS_LEVEL) -> dict[str, list[list[list[float]]]]:
    """Segments ([[x, y], ...] lists) of CLs = ``level`` for each curve in ``points``."""
    grid_x, grid_y, surfaces = _surfaces(points)
    return {name: _level_segments(grid_x, grid_y, surface, math.log10(level)) for name, surface in surfaces.items()}


def draw_contours(
    points: Mapping[str, np.ndarray],
    contours: Mapping[str, list[list[list[float]]]],
    settings: ContourSettings,
    output: Path,
    marked: tuple[np.ndarray, np.ndarray, str] | None = None,
) -> Path:
    """HEP-style figure: the scan points, the +/-1 and +/-2 sigma bands' edges, expected
    and observed contours; ``marked`` (x, y, label) highlights some points (e.g. those an
    adaptive scan evaluated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    styles = {
        "expected_2sigma_up": dict(color="gold", linestyle="-", linewidth=1.5, label=r"Expected $\pm 2\sigma$"),
        "expected_2sigma_down": dict(color="gold", linestyle="-", linewidth=1.5),
        "expected_1sigma_up": dict(color="limegreen", linestyle="-", linewidth=1.5, label=r"Expected $\pm 1\sigma$"),
        "expected_1sigma_down": dict(color="limegreen", linestyle="-", linewidth=1.5),
        "expected": dict(color="black", linestyle="--", linewidth=2, label="Expected"),
        "observed": dict(color="red", linestyle="-", linewidth=2.5, label="Observed"),
    }
    with plt.style.context(mplhep.style.ATLAS):
        fig, ax = plt.subplots(figsize=(8, 7))
        ax.scatter(points["x"], points["y"], s=6, color="grey", alpha=0.5, label="Scan points")
        if marked is not None:
            ax.scatter(marked[0], marked[1], s=30, facecolors="none", edgecolors="tab:blue", label=marked[2])
        for name, style in styles.items():
            for i, segment in enumerate(contours.get(name, [])):
                xy = np.asarray(segment)
                ax.plot(xy[:, 0], xy[:, 1], **(style if i == 0 else {k: v for k, v in style.items() if k != "label"}))
        ax.set_xlabel(settings.x_label)
        ax.set_ylabel(settings.y_label)
        if settings.title:
            ax.set_title(settings.title)
        ax.legend(loc="upper left", fontsize="small")
        save_figure(fig, output, dpi=120)
    return Path(output)


def contour_from_results(records: Mapping[str, Mapping[str, Any]], settings: ContourSettings, output_png: Path,
                         output_json: Path, source: str = "scan results") -> dict[str, Any]:
    """Select, interpolate, draw and write; returns the contours with their extent."""
    points = select_points(records, settings, source)
    contours = exclusion_contours(points)
    write_json(output_json, contours)
    draw_contours(points, contours, settings, output_png)
    reach = {name: max_reach(segments) for name, segments in contours.items()}
    log.info("contours from %d points: largest x reached %s", len(points["x"]), reach)
    return {"contours": contours, "max_x": reach, "n_points": len(points["x"])}


def max_reach(segments: list[list[list[float]]]) -> float | None:
    """The largest x of a contour's segments (None when there is no contour)."""
    xs = [x for segment in segments for x, _ in segment]
    return max(xs) if xs else None


def _surfaces(points: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    from scipy.interpolate import griddata

    x, y = points["x"], points["y"]
    grid_x, grid_y = np.meshgrid(np.linspace(x.min(), x.max(), GRID_POINTS), np.linspace(y.min(), y.max(), GRID_POINTS))
    surfaces = {}
    for name in CURVES:
        if name not in points:
            continue
        log_cls = np.log10(np.clip(points[name], 1e-300, None))  # CLs can underflow to 0
        surfaces[name] = griddata((x, y), log_cls, (grid_x, grid_y), method="linear")
    return grid_x, grid_y, surfaces


def _level_segments(grid_x: np.ndarray, grid_y: np.ndarray, surface: np.ndarray, level: float) -> list[list[list[float]]]:
    import contourpy

    generator = contourpy.contour_generator(grid_x, grid_y, np.ma.masked_invalid(surface))
    return [segment.tolist() for segment in generator.lines(level) if len(segment) > 1]
