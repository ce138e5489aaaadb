"""Benchmarks: throughput figures written to results/benchmark/, ratios side by side."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agcflow.compute import cluster
from agcflow.config import Settings
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest import check_serves
from agcflow.delivery.manifest_types import Manifest
from agcflow.inputs import fileset as inputs
from agcflow.processing import run as processing
from agcflow.util import provenance
from agcflow.util.figures import save_figure
from agcflow.util.io import write_json

log = logging.getLogger(__name__)


def processing_benchmark(settings: Settings, output: Path) -> dict[str, Any]:
    """Events/s per core of: a read-only pass over the delivered columns (the I/O ceiling),
    the first pass (delivery + processing, all systematics, cold cache), and the same
    coffea processor run directly on the input files (the AGC's way), on one cluster."""
    check_serves(settings.analysis, settings.delivery.preselection, "the settings")  # before any delivery
    samples = inputs.load_samples(inputs.fileset_path(settings.inputs), settings.analysis, settings.inputs.files_per_sample)
    branches = settings.analysis.plugin.layout.branch_names()
    files = [(f.path, settings.analysis.tree, branches) for s in samples for f in s.files]
    started = provenance.now()
    with cluster.open_client(settings.cluster, preload=processing.WORKER_MODULES) as client:
        _, cores = cluster.worker_count(client)
        read_only = _rate(_read_only(client, files), cores)
        first_pass = _rate(_first_pass(settings, samples, client), cores)
        direct = _rate(_direct_coffea(settings, samples, client), cores)
    result = {
        "cores": cores,
        "read_only": read_only,
        "first_pass": first_pass,
        "coffea_on_inputs": direct,
        "ratio_to_read_only": first_pass["events_per_s"] / read_only["events_per_s"],
        "speedup_vs_coffea_on_inputs": first_pass["events_per_s"] / direct["events_per_s"],
    }
    result["provenance"] = provenance.block(settings.digest, "", started, (provenance.now() - started).total_seconds(),
                                            {"cluster": settings.cluster.kind})
    write_json(output, result)
    _plot(result, output.with_suffix(".png"))
    return result


def cached_pass_benchmark(settings: Settings, output: Path) -> dict[str, Any]:
    """First pass (cold delivery + processing) vs a cached pass over the delivered columns,
    on one cluster; the cached pass's histograms are checked against the first pass's."""
    check_serves(settings.analysis, settings.delivery.preselection, "the settings")  # before any delivery
    from agcflow.processing.cached import cached_pass
    from agcflow.processing.histograms import compare

    samples = inputs.load_samples(inputs.fileset_path(settings.inputs), settings.analysis, settings.inputs.files_per_sample)
    started = provenance.now()
    with tempfile.TemporaryDirectory(prefix="agcflow-bench-") as cache, cluster.open_client(settings.cluster, preload=processing.WORKER_MODULES) as client:
        manifest, full, timings = _cold_first_pass(settings, samples, client, Path(cache))
        first_pass_s = timings["wall_s"]
        start = time.perf_counter()
        cached, _ = cached_pass(manifest, settings.analysis, settings.processing, client)
        cached_pass_s = time.perf_counter() - start
    mismatches = compare(cached, full)
    result = {"events": manifest.events_in, "first_pass_s": first_pass_s, "cached_pass_s": cached_pass_s,
              "ratio": first_pass_s / cached_pass_s, "identical_histograms": not mismatches}
    result["provenance"] = provenance.block(settings.digest, "", started, (provenance.now() - started).total_seconds(),
                                            {"cluster": settings.cluster.kind})
    write_json(output, result)
    _bars(output.with_suffix(".png"), ["first pass\n(delivery+processing)", "cached pass"],
          [first_pass_s, cached_pass_s], "wall time [s]", f"cached pass {result['ratio']:.0f}x faster")
    return result


def _rate(measured: tuple[int, float, dict[str, float]], cores: int) -> dict[str, float]:
    events, wall, parts = measured
    return {"events": events, "wall_s": wall, "events_per_s": events / wall,
            "events_per_s_per_core": events / wall / cores, **parts}


def _read_only(client, files: list[tuple[str, str, tuple[str, ...]]]) -> tuple[int, float]:
    start = time.perf_counter()
    counts = client.gather(client.map(_read_columns, files, pure=False))
    return sum(counts), time.perf_counter() - start, {}


def _read_columns(item: tuple[str, str, tuple[str, ...]]) -> int:
    import uproot

    path, tree, branches = item
    with uproot.open(path) as handle:
        events = handle[tree]
        for _ in events.iterate(list(branches), step_size=500_000, how=dict):
            pass
        return events.num_entries


def _first_pass(settings: Settings, samples, client) -> tuple[int, float, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="agcflow-bench-") as cache:
        manifest, _, timings = _cold_first_pass(settings, samples, client, Path(cache))
    wall = timings.pop("wall_s")
    return manifest.events_in, wall, timings


def _cold_first_pass(settings: Settings, samples, client, cache_dir: Path) -> tuple[Manifest, dict, dict[str, float]]:
    """Delivery into the empty ``cache_dir``, then processing: the manifest, the histograms and
    the timings (total, delivery, processing)."""
    delivery = replace(settings.delivery, cache_dir=cache_dir)
    start = time.perf_counter()
    manifest = deliver(samples, delivery, settings.analysis, client, progress=False)
    delivered = time.perf_counter()
    hists, metrics = processing.run(manifest, settings.analysis, settings.processing, client, progress=False)
    end = time.perf_counter()
    return manifest, hists, {
        "wall_s": end - start, "delivery_wall_s": delivered - start, "processing_wall_s": end - delivered,
        "events_delivered": manifest.events_out, "processing_chunks": metrics["chunks"]}


def _direct_coffea(settings: Settings, samples, client) -> tuple[int, float, dict]:
    """The same processor run directly on the input files, as the AGC does (no delivery)."""
    fileset = {
        s.key: {"treename": settings.analysis.tree, "files": [f.path for f in s.files],
                "metadata": processing.input_metadata(s, settings.analysis)}
        for s in samples
    }
    # NanoAOD inputs read as their NanoAOD-like skims do. Flat ntuples (atlas_hzz) differ from their
    # skims (counter names, the query's derived columns): the processor runs the delivery query on
    # each chunk, as the AGC's coffea-only notebooks compute the scale factors in the processor.
    plugin = settings.analysis.plugin
    query = None if plugin.schema == "nanoaod" else plugin.delivery_query(settings.analysis, settings.delivery.preselection)
    start = time.perf_counter()
    processing.run_fileset(fileset, settings.analysis, settings.processing, client, progress=False, query=query)
    return sum(f.nevts or 0 for s in samples for f in s.files), time.perf_counter() - start, {}


def _plot(result: dict[str, Any], path: Path) -> None:
    labels = ["read-only\n(I/O ceiling)", "first pass\n(delivery+processing)", "coffea on inputs\n(AGC style)"]
    rates = [result[k]["events_per_s_per_core"] / 1e3 for k in ("read_only", "first_pass", "coffea_on_inputs")]
    _bars(path, labels, rates, "events / s / core [k]",
          f"agcflow processing throughput ({result['cores']} cores, all systematics)")


def _bars(path: Path, labels: list[str], values: list[float], ylabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(labels, values, color=["#999999", "#1f77b4", "#ff7f0e"][: len(values)])
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
