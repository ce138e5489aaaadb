"""The facility sweep's outputs: the JSON document (runs, speed-ups, provenance), the runs as
CSV, and the plots; every file written atomically."""

from __future__ import annotations

import csv
import datetime as dt
import platform
from pathlib import Path
from typing import Any

from agcflow.bench.plots import median_by, plot_chunk_sizes, plot_workers
from agcflow.config import Settings
from agcflow.inputs import fileset as inputs
from agcflow.util import provenance
from agcflow.util.io import atomic_path, write_json


def document(settings: Settings, runs: list[dict[str, Any]], started: dt.datetime,
             load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The JSON document of a sweep: what was swept, the load average before it (other work on
    the machine; a run's own ``load_*_before`` also holds the sweep's previous runs), the
    speed-ups, every run, provenance."""
    sweep = settings.benchmark
    wall = (provenance.now() - started).total_seconds()
    return {
        "facility": sweep.facility or platform.node(),
        "sweep": {"workers": list(sweep.workers), "chunk_sizes": list(sweep.chunk_sizes),
                  "files_per_sample": list(sweep.files_per_sample), "repeats": sweep.repeats,
                  "delivery": sweep.delivery, "threads_per_worker": settings.cluster.threads_per_worker},
        "load_before_sweep": {"1m": load_before[0], "5m": load_before[1], "15m": load_before[2]},
        "speedup": speedups(runs),
        "runs": runs,
        "provenance": provenance.block(
            settings.digest, provenance.digest_files([inputs.fileset_path(settings.inputs)]), started, wall,
            {"cluster": settings.cluster.kind, "delivery": settings.delivery.backend}),
    }


def speedups(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per files-per-sample and chunk size: the processing and first-pass rates at each worker
    count over those at the fewest workers (medians over repeats)."""
    keys = ("files_per_sample", "chunk_size", "workers")
    processing = median_by(runs, keys, "events_per_s")
    first_pass = median_by(runs, keys, "first_pass_events_per_s")
    result = []
    for files, chunk, workers in processing:
        fewest = min(w for f, c, w in processing if (f, c) == (files, chunk))
        result.append({"files_per_sample": files, "chunk_size": chunk, "workers": workers, "baseline_workers": fewest,
                       "processing": processing[files, chunk, workers] / processing[files, chunk, fewest],
                       "first_pass": first_pass[files, chunk, workers] / first_pass[files, chunk, fewest]})
    return result


def write_outputs(result: dict[str, Any], output: Path) -> list[Path]:
    """Write the JSON document, its runs as ``.csv`` and the plots ``<stem>_workers.png`` and
    ``<stem>_chunk_size.png`` beside ``output``; return the four paths."""
    csv_path = output.with_suffix(".csv")
    workers_png = output.with_name(f"{output.stem}_workers.png")
    chunk_png = output.with_name(f"{output.stem}_chunk_size.png")
    write_json(output, result)
    write_csv(result["runs"], csv_path)
    plot_workers(result["runs"], workers_png)
    plot_chunk_sizes(result["runs"], chunk_png)
    return [output, csv_path, workers_png, chunk_png]


def write_csv(runs: list[dict[str, Any]], path: Path) -> Path:
    """The run records as CSV, one row per run, the columns in record order."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(runs[0]))
        writer.writeheader()
        writer.writerows(runs)
    return path
