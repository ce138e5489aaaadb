"""The signal scan: CLs of every patch of every region on the Dask cluster.

Each region's background is sent to the workers once; points go out in small tasks of
:data:`POINTS_PER_TASK`. Output per region: ``<output_dir>/<region>.json`` mapping each
point name to ``CLs_obs``, ``CLs_exp`` (5 values, -2 to +2 sigma order of pyhf), ``values``,
``status``, ``error`` and ``fit_time``; ``--combine best-expected`` adds ``combined.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agcflow.compute.cluster import open_client
from agcflow.config import ClusterSettings
from agcflow.errors import AgcflowError
from agcflow.scan.engine import ENGINES, evaluate_points
from agcflow.scan.pallet import Region
from agcflow.util.io import write_json

log = logging.getLogger(__name__)

POINTS_PER_TASK = 8
COMBINE_METHODS = ("best-expected",)
COMBINED = "combined.json"
MEDIAN = 2  # index of the median in CLs_exp


@dataclass(frozen=True)
class ScanSummary:
    """What a scan did: points per region, how many failed and why, files, wall time."""

    points: dict[str, int]
    failed: dict[str, dict[str, str]]
    files: tuple[Path, ...]
    wall_time_s: float
    results: dict[str, dict[str, Any]] = field(repr=False)

    @property
    def n_points(self) -> int:
        return sum(self.points.values())

    @property
    def n_failed(self) -> int:
        return sum(len(f) for f in self.failed.values())

    def __str__(self) -> str:
        return (
            f"{self.n_points} points in {len(self.points)} regions, {self.n_failed} failed, "
            f"{self.wall_time_s:.1f} s ({self.n_points / self.wall_time_s:.1f} points/s)"
        )


def run_scan(
    regions: list[Region],
    cluster: ClusterSettings,
    engine: str = "jax",
    *,
    output_dir: Path | None = None,
    upper_limits: bool = False,
    combine: str | None = None,
    progress: bool = True,
) -> ScanSummary:
    """Scan every point of ``regions`` on a cluster opened from ``cluster``.

    Writes ``<output_dir>/<region>.json`` (and ``combined.json`` when ``combine`` is given)
    when ``output_dir`` is set.
    """
    if engine not in ENGINES:
        raise AgcflowError(f"scan backend {engine!r} unknown; valid: {', '.join(ENGINES)}")
    check_region_names(regions, combine)
    started = time.perf_counter()
    with open_client(cluster) as client:
        results = scan_on_client(client, regions, engine, upper_limits=upper_limits, progress=progress)
    files: list[Path] = []
    if output_dir is not None:
        files = [write_json(Path(output_dir) / f"{name}.json", records) for name, records in results.items()]
        if combine:
            files.append(write_json(Path(output_dir) / COMBINED, combine_best_expected(results)))
    summary = ScanSummary(
        points={name: len(records) for name, records in results.items()},
        failed={
            name: {point: r["error"] for point, r in records.items() if r["status"] == "failed"}
            for name, records in results.items()
        },
        files=tuple(files),
        wall_time_s=time.perf_counter() - started,
        results=results,
    )
    log.info("scan: %s", summary)
    return summary


def check_region_names(regions: list[Region], combine: str | None) -> None:
    """Before any compute: unique region names, a known ``combine`` method, and no region
    whose ``<name>.json`` would be overwritten by the combination."""
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise AgcflowError(f"region names must be unique, got {names}")
    if combine is None:
        return
    if combine not in COMBINE_METHODS:
        raise AgcflowError(f"--combine {combine!r} unknown; valid: {', '.join(COMBINE_METHODS)}")
    clash = Path(COMBINED).stem
    if clash in names:
        raise AgcflowError(
            f"a region is named {clash!r}: --combine {combine} would overwrite its {COMBINED}; "
            "rename that region folder or scan without --combine"
        )


def scan_on_client(
    client: Any, regions: list[Region], engine: str, *, upper_limits: bool = False, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Point records per region name, computed on the workers behind ``client``."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    check_region_names(regions, None)
    futures = {}
    for region in regions:
        [background] = client.scatter([region.background], broadcast=True)
        for start in range(0, len(region.points), POINTS_PER_TASK):
            chunk = region.points[start : start + POINTS_PER_TASK]
            future = client.submit(evaluate_points, background, chunk, engine, upper_limits, pure=False)
            futures[future] = region.name
    results: dict[str, dict[str, Any]] = {r.name: {} for r in regions}
    total = sum(len(r.points) for r in regions)
    with tqdm(total=total, unit="point", desc="scan", disable=not progress) as bar:
        for future in as_completed(futures):
            records = future.result()
            results[futures[future]].update(records)
            bar.update(len(records))
    order = {r.name: [p.name for p in r.points] for r in regions}
    return {name: {p: records[p] for p in order[name]} for name, records in results.items()}


def combine_best_expected(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per point, the record of the region with the lowest median expected CLs, with its
    ``region``; a point failed in every region keeps its first failure."""
    combined: dict[str, Any] = {}
    for region, records in results.items():
        for point, record in records.items():
            current = combined.get(point)
            if current is None or _better(record, current):
                combined[point] = {**record, "region": region}
    return combined


def _better(candidate: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    if candidate["status"] != "ok":
        return False
    return current["status"] != "ok" or candidate["CLs_exp"][MEDIAN] < current["CLs_exp"][MEDIAN]
