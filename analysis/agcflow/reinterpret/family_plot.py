"""The excluded region of a signal family (``family.json``): CLs at mu = 1 over the grid, the
CLs = 0.05 contours (observed solid, expected dashed), and which points were fitted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agcflow.config import SignalFamily
from agcflow.scan.engine import CLS_LEVEL
from agcflow.util.figures import save_figure


def point_cls(point: dict[str, Any], kind: str) -> float:
    """A grid point's CLs: from its fit, else the surrogate's; NaN for a failed point."""
    value = point.get(f"CLs_{kind}", point.get(f"CLs_{kind}_surrogate"))
    return float("nan") if value is None else float(value)


def plot_family(result: dict[str, Any], family: SignalFamily, path: Path) -> Path:
    """One parameter: CLs against it; two: the CLs map with its contours. Fitted points are
    marked; the surrogate's classification fills the rest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = family.axes()
    names = list(axes)
    points = result["points"]
    fitted = np.array([p["evaluated"] for p in points])
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    if len(names) == 1:
        x = axes[names[0]]
        for kind, style, label in (("obs", "k-", "observed"), ("exp", "k--", "expected")):
            ax.plot(x, [point_cls(p, kind) for p in points], style, label=label)
        ax.plot(x[fitted], [point_cls(p, "obs") for p in np.array(points)[fitted]], "ko", label="fitted")
        ax.axhline(CLS_LEVEL, color="red", lw=1, label=f"CLs = {CLS_LEVEL:g}")
        ax.set_yscale("log")
        ax.set_xlabel(names[0])
        ax.set_ylabel("CLs at the nominal cross section")
    else:
        _draw_map(ax, axes, names, points, fitted)
    ax.set_title(f"{result['label']}: {result['strategy']}, {result['evaluations']} of {result['grid_points']} "
                 "points fitted")
    ax.legend(loc="lower right" if len(names) > 1 else "best", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def _draw_map(ax, axes: dict[str, np.ndarray], names: list[str], points: list[dict[str, Any]], fitted: np.ndarray) -> None:
    x, y = axes[names[0]], axes[names[1]]
    shape = (len(x), len(y))
    cls = {kind: np.array([point_cls(p, kind) for p in points]).reshape(shape) for kind in ("obs", "exp")}
    mesh = ax.pcolormesh(x, y, np.log10(np.clip(cls["obs"], 1e-6, 1)).T, shading="nearest", cmap="RdYlBu", vmin=-4, vmax=0)
    ax.figure.colorbar(mesh, ax=ax, label="log10 CLs (observed) at the nominal cross section")
    for kind, style in (("obs", "-"), ("exp", "--")):
        if np.nanmin(cls[kind]) < CLS_LEVEL < np.nanmax(cls[kind]):  # log CLs: about linear in the signal yield
            ax.contour(x, y, np.log(np.clip(cls[kind], 1e-300, 1)).T, levels=[np.log(CLS_LEVEL)], colors="k",
                       linestyles=style)
        ax.plot([], [], "k" + style, label=f"CLs = {CLS_LEVEL:g} ({'observed' if kind == 'obs' else 'expected'})")
    gx, gy = np.meshgrid(x, y, indexing="ij")
    ax.plot(gx.ravel()[fitted], gy.ravel()[fitted], "kx", ms=7, label="fitted")
    excluded = np.array([bool(p.get("excluded_obs")) for p in points])
    ax.plot(gx.ravel()[excluded], gy.ravel()[excluded], "s", mfc="none", mec="0.3", ms=4, label="excluded (observed)")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
