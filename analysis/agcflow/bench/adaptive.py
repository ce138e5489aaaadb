"""Benchmark of the adaptive scan against the full scan on one pallet, in one run: points
fitted, wall time, how much of the grid the adaptive classification gets right (observed and
expected, excluded/allowed at CLs = 0.05) and the contours' largest excluded x on a slice."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agcflow.config import ClusterSettings
from agcflow.scan.adaptive import AdaptiveSettings
from agcflow.scan.adaptive_run import CLASSIFIED, AdaptiveOutcome, run_adaptive_scan
from agcflow.scan.contour import CURVES, ContourSettings, exclusion_contours, max_reach, select_points
from agcflow.scan.engine import CLS_LEVEL
from agcflow.scan.pallet import Region, load_pallet
from agcflow.scan.run import combine_best_expected, run_scan
from agcflow.util.figures import save_figure
from agcflow.util.io import write_json

log = logging.getLogger(__name__)


def adaptive_benchmark(pallet: Path | list[Region], output: Path, cluster: ClusterSettings, settings: AdaptiveSettings,
                       contour: ContourSettings) -> dict[str, Any]:
    """Full and adaptive scans (``--combine best-expected``) of every region of ``pallet``;
    write ``output`` (JSON) and a side-by-side figure next to it (.png)."""
    regions = load_pallet(pallet) if isinstance(pallet, Path) else pallet
    full = run_scan(regions, cluster, "jax", combine="best-expected", progress=False)
    adaptive = run_adaptive_scan(regions, cluster, "jax", settings=settings, combine="best-expected", contour=contour)
    reference = combine_best_expected(full.results)
    [outcome] = adaptive.outcomes.values()
    report = {
        "pallet": str(pallet) if isinstance(pallet, Path) else [r.name for r in regions],
        "cluster": {"kind": cluster.kind, "workers": cluster.n_workers, "address": cluster.address},
        "where": [list(w) for w in contour.where],
        "settings": {k: getattr(settings, k) for k in ("initial_fraction", "budget", "batch", "tolerance", "seed")},
        "full": {"points": len(reference), "fits": full.n_points, "wall_s": full.wall_time_s,
                 "max_x": full_reach(reference, contour)},
        "adaptive": {**outcome.report(), "fits": adaptive.scan.n_points, "wall_s": adaptive.scan.wall_time_s,
                     "max_x": adaptive.max_x[outcome.name]},
        "agreement": agreement(reference, outcome),
    }
    write_json(output, report)
    _figure(report, Path(output).with_suffix(".png"))
    log.info("adaptive benchmark: %s", report)
    return report


def full_reach(records: Mapping[str, Mapping[str, Any]], contour: ContourSettings) -> dict[str, float | None]:
    """The largest x of the full scan's observed and expected contours on ``contour``'s slice."""
    contours = exclusion_contours(select_points(records, contour, "the full scan"), CLS_LEVEL)
    return {curve: max_reach(contours[curve]) for curve in CLASSIFIED}


def agreement(reference: Mapping[str, Mapping[str, Any]], outcome: AdaptiveOutcome) -> dict[str, Any]:
    """Per curve the fraction of the full scan's ok points that the adaptive scan puts on the
    same side of CLs = 0.05, and the points it puts on the other side."""
    result: dict[str, Any] = {}
    for curve in CLASSIFIED:
        key, index = CURVES[curve]
        ok = {name: r for name, r in reference.items() if r["status"] == "ok"}
        wrong = [name for name, r in ok.items()
                 if ((r[key] if index is None else r[key][index]) < CLS_LEVEL) != (outcome.classification[name][curve]["class"] == "excluded")]
        result[curve] = {"fraction": 1 - len(wrong) / len(ok), "points": len(ok), "misclassified": wrong}
    return result


def _figure(report: dict[str, Any], output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    full, adaptive = report["full"], report["adaptive"]
    panels = [
        ("points fitted", [full["points"], adaptive["evaluated"]], "{:.0f}"),
        ("wall time [s]", [full["wall_s"], adaptive["wall_s"]], "{:.1f}"),
        ("agreement (obs, exp) [%]", [100 * report["agreement"][c]["fraction"] for c in CLASSIFIED], "{:.1f}"),
        ("largest excluded x (obs, exp)", [full["max_x"][c] or 0 for c in CLASSIFIED] + [adaptive["max_x"][c] or 0 for c in CLASSIFIED], "{:.0f}"),
    ]
    labels = [["full", "adaptive"], ["full", "adaptive"], ["obs", "exp"],
              ["full obs", "full exp", "adapt. obs", "adapt. exp"]]
    colors = {2: ["grey", "tab:blue"], 4: ["grey", "grey", "tab:blue", "tab:blue"]}
    with plt.style.context(mplhep.style.ATLAS):
        fig, axes = plt.subplots(1, 4, figsize=(16, 4.5))
        for ax, (title, values, form), names in zip(axes, panels, labels):
            bars = ax.bar(names, values, color=colors[len(names)])
            ax.bar_label(bars, [form.format(v) for v in values], fontsize="small")
            ax.set_title(title, fontsize="medium")
            ax.tick_params(axis="x", labelsize="small")
        fig.suptitle(f"adaptive: {adaptive['evaluated']} of {adaptive['grid_points']} points; {adaptive['stop'].split(':')[0]}",
                     fontsize="medium", y=1.04)
        save_figure(fig, output, dpi=100, bbox_inches="tight")
    return output
