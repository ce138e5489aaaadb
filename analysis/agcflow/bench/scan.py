"""Benchmark of the scan: points/s of the fast engine on the cluster against the naive
in-process pyhf loop, on the same subset of a pallet, with the largest CLs difference.

Near CLs = 1 pyhf's own optimizer, at its default tolerance, stops before the minimum (its
CLs moves by up to ~1e-2 with the tolerance), so every point that differs by more than
``CLS_TOLERANCE`` is recomputed by pyhf with a tightly converged optimizer and both
differences are recorded: the scan is right when it agrees with the converged pyhf."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from agcflow.config import ClusterSettings
from agcflow.scan.engine import evaluate_points
from agcflow.scan.pallet import Region, load_pallet
from agcflow.scan.run import run_scan
from agcflow.util.figures import save_figure
from agcflow.util.io import write_json

log = logging.getLogger(__name__)

CLS_TOLERANCE = 1e-3
CONVERGED_OPTIMIZERS = (("minuit", 1e-6), ("scipy", 1e-8))  # tried in order: one may fail where the other converges


def scan_benchmark(pallet: Path, output: Path, n_points: int, cluster: ClusterSettings) -> dict[str, Any]:
    """Time both on ``n_points`` points spread over the pallet's regions; write ``output``
    (JSON: both rates, their ratio, max |dCLs|) and a bar chart next to it (.png)."""
    regions = _subset(load_pallet(pallet), n_points)
    n_total = sum(len(r.points) for r in regions)
    fast = run_scan(regions, cluster, "jax", progress=False)
    started = time.perf_counter()
    naive = {r.name: dict(evaluate_points(r.background, r.points, "numpy", False)) for r in regions}
    naive_s = time.perf_counter() - started
    deltas = _deltas(fast.results, naive)
    rechecked = _recheck(regions, fast.results, naive, deltas)
    report = {
        "pallet": str(pallet),
        "n_points": n_total,
        "cluster": {"kind": cluster.kind, "workers": cluster.n_workers, "address": cluster.address},
        "scan_wall_s": fast.wall_time_s,
        "naive_wall_s": naive_s,
        "scan_points_per_s": n_total / fast.wall_time_s,
        "naive_points_per_s": n_total / naive_s,
        "speedup": naive_s / fast.wall_time_s,
        "max_abs_delta_cls": max(deltas.values(), default=0.0),
        "rechecked_converged": rechecked,
        "max_abs_delta_cls_after_recheck": _worst_after_recheck(deltas, rechecked),
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


def _deltas(fast: dict[str, dict[str, Any]], naive: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    """|dCLs| of every (region, point) against the naive loop."""
    return {(region, point): _delta(fast[region][point], reference)
            for region, records in naive.items() for point, reference in records.items()}


def _delta(mine: dict[str, Any], reference: dict[str, Any]) -> float:
    """Largest |dCLs| over CLs_obs and the five CLs_exp; 0 when either failed."""
    if reference["status"] != "ok" or mine["status"] != "ok":
        return 0.0
    pairs = zip([mine["CLs_obs"], *mine["CLs_exp"]], [reference["CLs_obs"], *reference["CLs_exp"]])
    return max(abs(a - b) for a, b in pairs)


def _recheck(regions: list[Region], fast: dict[str, dict[str, Any]], naive: dict[str, dict[str, Any]],
             deltas: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """The points beyond ``CLS_TOLERANCE`` recomputed by pyhf with a tightly converged
    optimizer: per point its |dCLs| against the default pyhf and against the converged one
    (None, with the reason, where no converged optimizer succeeds)."""
    rechecked = []
    for region in regions:
        for point in region.points:
            if deltas[region.name, point.name] <= CLS_TOLERANCE:
                continue
            optimizer, converged = _converged_pyhf(region.background, point)
            mine = fast[region.name][point.name]
            rechecked.append({"region": region.name, "point": point.name, "CLs_obs": mine["CLs_obs"],
                              "delta_vs_pyhf_default": deltas[region.name, point.name],
                              "converged_optimizer": optimizer,
                              "delta_vs_pyhf_converged": _delta(mine, converged) if optimizer else None,
                              "converged_error": converged["error"]})
            log.info("recheck %s/%s: %s", region.name, point.name, rechecked[-1])
    return rechecked


def _worst_after_recheck(deltas: dict[tuple[str, str], float], rechecked: list[dict[str, Any]]) -> float | None:
    """The largest |dCLs| once each re-checked point counts against converged pyhf (None when
    a re-check found no converged optimizer)."""
    converged = {(r["region"], r["point"]): r["delta_vs_pyhf_converged"] for r in rechecked}
    if None in converged.values():
        return None
    return max({**deltas, **converged}.values(), default=0.0)


def _converged_pyhf(background: dict[str, Any], point: Any) -> tuple[str | None, dict[str, Any]]:
    """pyhf's record of ``point`` from the first optimizer in ``CONVERGED_OPTIMIZERS`` that
    succeeds, and its name (None and the last failure when none does)."""
    import pyhf

    from agcflow.scan.engine import evaluate_point, pyhf_hypotest

    previous, record = pyhf.get_backend(), {}
    try:
        for name, tolerance in CONVERGED_OPTIMIZERS:
            optimizer = getattr(pyhf.optimize, f"{name}_optimizer")(tolerance=tolerance)
            pyhf.set_backend("numpy", optimizer)
            record = evaluate_point(background, point, pyhf_hypotest)
            if record["status"] == "ok":
                return f"{name} (tolerance {tolerance:g})", record
    finally:
        pyhf.set_backend(*previous)
    return None, record


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
        save_figure(fig, output, dpi=100)
    return output
