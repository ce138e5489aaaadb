"""Benchmark of the scan: points/s of the fast engine on the cluster against the naive
in-process pyhf loop, on the same subset of a pallet, with the largest CLs difference."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from agcflow.config import ClusterSettings
from agcflow.io import atomic_path, write_json
from agcflow.stats.pallet import Region, load_pallet
from agcflow.stats.scan import run_scan
from agcflow.stats.scan_engine import evaluate_points

log = logging.getLogger(__name__)


def scan_benchmark(pallet: Path, output: Path, n_points: int, cluster: ClusterSettings) -> dict[str, Any]:
    """Time both on ``n_points`` points spread over the pallet's regions; write ``output``
    (JSON: both rates, their ratio, max |dCLs|) and a bar chart next to it (.png)."""
    regions = _subset(load_pallet(pallet), n_points)
    n_total = sum(len(r.points) for r in regions)
    fast = run_scan(regions, cluster, "jax", progress=False)
    started = time.perf_counter()
    naive = {r.name: dict(evaluate_points(r.background, r.points, "numpy", False)) for r in regions}
    naive_s = time.perf_counter() - started
    report = {
        "pallet": str(pallet),
        "n_points": n_total,
        "cluster": {"kind": cluster.kind, "workers": cluster.n_workers, "address": cluster.address},
        "scan_wall_s": fast.wall_time_s,
        "naive_wall_s": naive_s,
        "scan_points_per_s": n_total / fast.wall_time_s,
        "naive_points_per_s": n_total / naive_s,
        "speedup": naive_s / fast.wall_time_s,
        "max_abs_delta_cls": _max_delta(fast.results, naive),
        "failed": {"scan": fast.n_failed, "naive": sum(r["status"] == "failed" for v in naive.values() for r in v.values())},
    }
    write_json(output, report)
    _bar_chart(report, Path(output).with_suffix(".png"))
    log.info("scan benchmark: x%.1f (%.2f vs %.2f points/s)", report["speedup"], report["scan_points_per_s"], report["naive_points_per_s"])
    return report


def _subset(regions: list[Region], n_points: int) -> list[Region]:
    """About ``n_points`` points, evenly strided through every region."""
    per_region = max(1, n_points // len(regions))
    subset = []
    for region in regions:
        stride = max(1, len(region.points) // per_region)
        subset.append(Region(region.name, region.background, region.points[::stride][:per_region]))
    return subset


def _max_delta(fast: dict[str, dict[str, Any]], naive: dict[str, dict[str, Any]]) -> float:
    deltas = [0.0]
    for region, records in naive.items():
        for point, reference in records.items():
            mine = fast[region][point]
            if reference["status"] == "ok" and mine["status"] == "ok":
                pairs = zip([mine["CLs_obs"], *mine["CLs_exp"]], [reference["CLs_obs"], *reference["CLs_exp"]])
                deltas += [abs(a - b) for a, b in pairs]
    return max(deltas)


def _bar_chart(report: dict[str, Any], output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    with plt.style.context(mplhep.style.ATLAS):
        fig, ax = plt.subplots(figsize=(6, 5))
        labels = ["naive pyhf loop", f"scan ({report['cluster']['workers']} workers)"]
        rates = [report["naive_points_per_s"], report["scan_points_per_s"]]
        ax.bar(labels, rates, color=["grey", "tab:blue"])
        ax.set_ylabel("points / s")
        ax.set_title(f"{report['n_points']} points, x{report['speedup']:.1f}", fontsize="medium")
        with atomic_path(output) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    return output
