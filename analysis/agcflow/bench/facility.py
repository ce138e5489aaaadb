"""``agcflow bench facility``: the first pass swept over workers x chunk size x files per sample,
one flat record per run in JSON and CSV, and plots of throughput vs workers and chunk size.

For every files-per-sample value, worker count and repeat, delivery runs on a fresh cluster of
that many workers (``benchmark.delivery``: ``cold`` into an empty cache, a real first pass;
``cached`` through ``delivery.cache_dir``); then every chunk size is processed (coffea over the
delivered skims, all systematics) on a fresh cluster of its own. A worker's peak memory is its
process's maximum resident set size at the end of the stage, so each stage's peak is its own.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import platform
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from agcflow import __version__
from agcflow.compute import cluster
from agcflow.config import Settings
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest import check_serves
from agcflow.delivery.manifest_types import Manifest
from agcflow.inputs import fileset as inputs
from agcflow.processing import run as processing
from agcflow.util import provenance

log = logging.getLogger(__name__)

FRESH_WORKER_KINDS = ("local", "slurm", "htcondor")  # kinds whose workers start with each run


def facility_benchmark(settings: Settings, output: Path, progress: bool = True) -> dict[str, Any]:
    """Run the sweep of ``settings.benchmark``; write ``output`` (JSON), its ``.csv`` and the
    plots ``<stem>_workers.png`` and ``<stem>_chunk_size.png``; return the JSON document."""
    from agcflow.bench.report import document, write_outputs

    inputs.check_source(settings.inputs)
    check_serves(settings.analysis, settings.delivery.preselection, "the settings")  # before any delivery
    _warn_unless_fresh_workers(settings)
    started, load = provenance.now(), os.getloadavg()
    runs = [_ordered(settings, run) for run in _sweep(settings, progress)]
    result = document(settings, runs, started, load)
    write_outputs(result, output)
    return result


def _sweep(settings: Settings, progress: bool) -> list[dict[str, Any]]:
    """Every run of the sweep: per repeat, files-per-sample value and worker count one delivery,
    then every chunk size processed. Repeats are the outer loop, so a burst of other work on the
    machine spreads over the worker counts instead of hitting one."""
    from tqdm import tqdm

    sweep = settings.benchmark
    runs: list[dict[str, Any]] = []
    outer = list(itertools.product(range(sweep.repeats), sweep.files_per_sample, sweep.workers))
    with tqdm(total=len(outer) * len(sweep.chunk_sizes), desc="facility sweep", unit="run",
              disable=not progress) as bar:
        for repeat, files, workers in outer:
            with _delivery_cache(settings) as cache_dir:
                manifest, delivered = _deliver(settings, files, workers, cache_dir)
                for chunk_size in sweep.chunk_sizes:
                    runs.append({**_process(settings, manifest, workers, chunk_size), **delivered,
                                 "files_per_sample": files, "repeat": repeat})
                    bar.update()
    return runs


def _warn_unless_fresh_workers(settings: Settings) -> None:
    if settings.cluster.kind not in FRESH_WORKER_KINDS:
        log.warning("cluster.kind = %r: workers are not started per run, so benchmark.workers is not applied and "
                    "peak memory is the workers' lifetime peak; a sweep needs one of: %s",
                    settings.cluster.kind, ", ".join(FRESH_WORKER_KINDS))


@contextlib.contextmanager
def _delivery_cache(settings: Settings) -> Iterator[Path]:
    """``delivery.cache_dir`` (cached) or an empty directory beside it, removed after (cold)."""
    cache_dir = settings.delivery.cache_dir
    if settings.benchmark.delivery == "cached":
        yield cache_dir
        return
    cache_dir.parent.mkdir(parents=True, exist_ok=True)  # beside it: on the workers' shared filesystem
    with tempfile.TemporaryDirectory(prefix="bench-cold-", dir=cache_dir.parent) as empty:
        yield Path(empty)


def _deliver(settings: Settings, files: int, workers: int, cache_dir: Path) -> tuple[Manifest, dict[str, Any]]:
    """Deliver the first ``files`` files per sample on a fresh cluster; the manifest and the
    delivery's part of the run record."""
    samples = inputs.load_samples(inputs.fileset_path(settings.inputs), settings.analysis, files)
    delivery = replace(settings.delivery, cache_dir=cache_dir)
    load = os.getloadavg()
    with cluster.open_client(replace(settings.cluster, workers=workers), preload=processing.WORKER_MODULES) as client:
        manifest = deliver(samples, delivery, settings.analysis, client,
                           skip_bad_files=settings.processing.skip_bad_files, progress=False)
        peaks = client.run(_peak_rss_mb)
    n_files = sum(len(entry.files) for entry in manifest.samples.values())
    log.info("%d files/sample, %d workers: delivered %d of %d events from %d files (%d cached) in %.1f s",
             files, workers, manifest.events_out, manifest.events_in, n_files, manifest.files_cached, manifest.wall_s)
    return manifest, {
        "delivery_mode": settings.benchmark.delivery, "input_files": n_files, "input_events": manifest.events_in,
        "events_delivered": manifest.events_out, "delivery_wall_s": manifest.wall_s,
        "delivery_files_cached": manifest.files_cached, "delivery_bytes_read": manifest.bytes_read,
        "delivery_peak_memory_per_worker_mb": max(peaks.values()), "delivery_load_1m_before": load[0]}


def _process(settings: Settings, manifest: Manifest, workers: int, chunk_size: int) -> dict[str, Any]:
    """The processing stage on a fresh cluster: its figures, worker memory and machine load."""
    load_before = os.getloadavg()
    started = provenance.now()
    with cluster.open_client(replace(settings.cluster, workers=workers), preload=processing.WORKER_MODULES) as client:
        n_workers, cores = cluster.worker_count(client)
        baseline = client.run(_current_rss_mb)
        _, metrics = processing.run(manifest, settings.analysis, replace(settings.processing, chunk_size=chunk_size),
                                    client, progress=False)
        peaks = client.run(_peak_rss_mb)
    record = {"started": started.isoformat(timespec="seconds"), "workers": n_workers, "cores": cores,
              "chunk_size": chunk_size, **_throughput(metrics, cores),
              "peak_memory_per_worker_mb": max(peaks.values()),
              "mean_peak_memory_per_worker_mb": sum(peaks.values()) / len(peaks),
              "baseline_memory_per_worker_mb": sum(baseline.values()) / len(baseline),
              **_load("before", load_before), **_load("after", os.getloadavg())}
    log.info("%d workers, chunk %d: %.0f events/s/core, peak %.0f MB/worker, load %.2f before", n_workers,
             chunk_size, record["events_per_s_per_core"], record["peak_memory_per_worker_mb"], load_before[0])
    return record


def _throughput(metrics: dict[str, Any], cores: int) -> dict[str, Any]:
    """The processing stage's figures; every rate is derived from the counts beside it."""
    wall, entries = metrics["wall_s"], metrics["entries"]
    return {
        "wall_s": wall, "entries": entries, "bytes_read": metrics["bytes_read"],
        "process_time_s": metrics["processtime_s"], "chunks": metrics["chunks"],
        "events_per_s": entries / wall, "events_per_s_per_core": entries / wall / cores,
        "mb_per_s": metrics["bytes_read"] / 1e6 / wall,
        "cpu_efficiency": metrics["processtime_s"] / (wall * cores),
    }


def _ordered(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """The run record in a fixed column order, with the first pass (delivery + processing,
    input events) and what ran where."""
    first_pass_s = run["delivery_wall_s"] + run["wall_s"]
    ordered = {key: run[key] for key in ("started", "repeat", "files_per_sample", "workers", "cores", "chunk_size")}
    ordered.update({key: value for key, value in run.items() if key not in ordered})
    ordered.update({
        "first_pass_wall_s": first_pass_s,
        "first_pass_events_per_s": run["input_events"] / first_pass_s,
        "first_pass_events_per_s_per_core": run["input_events"] / first_pass_s / run["cores"],
        "facility": settings.benchmark.facility or platform.node(), "host": platform.node(),
        "cluster_kind": settings.cluster.kind, "data_source": settings.inputs.source,
        "delivery_backend": settings.delivery.backend, "package_version": __version__})
    return ordered


def _peak_rss_mb() -> float:
    """This process's maximum resident set size so far, in MB (Linux reports KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def _current_rss_mb() -> float:
    """This process's resident set size now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def _load(when: str, load: tuple[float, float, float]) -> dict[str, float]:
    return {f"load_1m_{when}": load[0], f"load_5m_{when}": load[1], f"load_15m_{when}": load[2]}
