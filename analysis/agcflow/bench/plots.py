"""Plots of the facility sweep (``agcflow bench facility``): throughput vs workers and vs chunk
size, from the flat run records; repeats are summarised by their median."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from agcflow.util.figures import save_figure


def median_by(runs: list[dict[str, Any]], keys: tuple[str, ...], field: str) -> dict[tuple, float]:
    """The median of ``field`` over the runs sharing the values of ``keys``, sorted by them."""
    groups: dict[tuple, list[float]] = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in keys), []).append(run[field])
    return {key: statistics.median(values) for key, values in sorted(groups.items())}


def plot_workers(runs: list[dict[str, Any]], path: Path) -> Path:
    """Events/s vs workers of the processing stage and of the first pass (delivery +
    processing, input events), one line per files-per-sample and chunk size; dashed: linear
    scaling from the fewest workers."""
    keys = ("files_per_sample", "chunk_size", "workers")
    fig, axes = _figure(runs, "workers")
    for axis, field in zip(axes, ("events_per_s", "first_pass_events_per_s")):
        for (files, chunk), points in _lines(median_by(runs, keys, field)).items():
            xs, ys = zip(*points)
            line = axis.plot(xs, [y / 1e3 for y in ys], marker="o", label=_label(files, "chunk", chunk))[0]
            axis.plot(xs, [ys[0] / 1e3 * x / xs[0] for x in xs], ls="--", color=line.get_color(), alpha=0.5)
        axis.set_xticks(sorted({run["workers"] for run in runs}))
    axes[0].set_ylabel("processing: delivered events / s [k]")
    axes[1].set_ylabel("first pass: input events / s [k]")
    return _save(fig, path)


def plot_chunk_sizes(runs: list[dict[str, Any]], path: Path) -> Path:
    """Events/s per core and peak memory per worker vs chunk size, one line per files-per-sample
    and worker count."""
    keys = ("files_per_sample", "workers", "chunk_size")
    fig, (rate, memory) = _figure(runs, "chunk_size")
    for axis, field, scale in ((rate, "events_per_s_per_core", 1e3), (memory, "peak_memory_per_worker_mb", 1.0)):
        for (files, workers), points in _lines(median_by(runs, keys, field)).items():
            xs, ys = zip(*points)
            axis.plot(xs, [y / scale for y in ys], marker="o", label=_label(files, "workers", workers))
    rate.set_ylabel("processing: delivered events / s / core [k]")
    memory.set_ylabel("processing: peak memory per worker [MB]")
    chunk_sizes = sorted({run["chunk_size"] for run in runs})
    for axis in (rate, memory):
        axis.set_xscale("log")
        axis.set_xticks(chunk_sizes, [f"{size:,}" for size in chunk_sizes])
        axis.minorticks_off()
    return _save(fig, path)


def _lines(medians: dict[tuple, float]) -> dict[tuple, list[tuple[float, float]]]:
    """(a, b, x) -> y into (a, b) -> [(x, y), ...]."""
    lines: dict[tuple, list[tuple[float, float]]] = {}
    for (first, second, x), y in medians.items():
        lines.setdefault((first, second), []).append((x, y))
    return lines


def _label(files: int, name: str, value: int) -> str:
    return f"{name} {value:,}, files/sample: {'all' if files < 0 else files}"


def _figure(runs: list[dict[str, Any]], xname: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    load = max(run["load_1m_before"] for run in runs)
    fig.suptitle(f"{runs[0]['facility']} ({runs[0]['cluster_kind']} cluster): all systematics, "
                 f"{runs[0]['delivery_mode']} delivery; highest 1-min load before a run {load:.2f}")
    for axis in axes:
        axis.set_xlabel(xname.replace("_", " "))
        axis.grid(alpha=0.3)
    return fig, axes


def _save(fig, path: Path) -> Path:
    for axis in fig.axes:
        axis.set_ylim(bottom=0)
        axis.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
