"""One function per stage: read the stage's inputs, run it, write its outputs atomically.

The CLI, the benchmarks and the tests call these; Snakemake calls the CLI.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from agcflow.compute import cluster
from agcflow.config import Settings
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest import check_manifest
from agcflow.delivery.manifest_types import Manifest, read_manifest
from agcflow.inputs import fileset as inputs
from agcflow.processing import run as processing
from agcflow.processing.histograms import save_root
from agcflow.util import provenance
from agcflow.util.io import check_writable, write_json

log = logging.getLogger(__name__)


def generate(settings: Settings, progress: bool = True) -> Path:
    """Write the synthetic dataset of ``inputs.generate``; return its fileset JSON."""
    from agcflow.inputs.generate import generate_dataset

    gen = settings.inputs.generate
    plugin = settings.analysis.plugin
    events = dict(gen.events) if gen.events else plugin.default_events()
    data = settings.analysis.data_sample
    unscaled = {f"{data.name}__nominal"} if data is not None else set()  # recorded data: the luminosity's events
    events = {key: n if key in unscaled else max(1, round(n * gen.scale)) for key, n in events.items()}
    workers = settings.cluster.n_workers
    return generate_dataset(
        gen.directory, plugin, events=events, files_per_sample=gen.files_per_sample, seed=gen.seed,
        workers=workers, progress=progress, tree=settings.analysis.tree,
    )


def run_delivery(settings: Settings, output: Path, client=None, progress: bool = True) -> Manifest:
    """Deliver the configured inputs; write the manifest to ``output``."""
    inputs.check_source(settings.inputs)
    fileset = inputs.fileset_path(settings.inputs)
    samples = inputs.load_samples(fileset, settings.analysis, settings.inputs.files_per_sample)
    check_writable(Path(output).parent, settings.delivery.cache_dir)
    started = provenance.now()
    with _client(settings, client) as active:
        manifest = deliver(
            samples, settings.delivery, settings.analysis, active,
            skip_bad_files=settings.processing.skip_bad_files, progress=progress,
        )
    processing.check_delivered(manifest)
    manifest = replace(
        manifest,
        settings=settings.stage_record("deliver"),
        provenance=provenance.block(
            settings.digest, provenance.digest_files([fileset]), started, manifest.wall_s,
            {"delivery": settings.delivery.backend, "cluster": settings.cluster.kind},
        ),
    )
    write_json(output, manifest.to_json())
    log.info("delivered %d of %d events in %.1f s", manifest.events_out, manifest.events_in, manifest.wall_s)
    return manifest


def run_processing(
    settings: Settings, manifest_path: Path, histograms: Path, metrics_path: Path, client=None, progress: bool = True
) -> dict[str, Any]:
    """Process the delivered skims; write ``histograms`` (ROOT) and the metrics JSON."""
    manifest = read_manifest(manifest_path)
    check_manifest(settings, manifest, manifest_path)
    check_writable(Path(histograms).parent, Path(metrics_path).parent)
    started = provenance.now()
    with _client(settings, client) as active:
        workers, threads = cluster.worker_count(active)
        metrics = {"allowed_failures": cluster.allowed_failures(active)}
        hists, run_metrics = processing.run(manifest, settings.analysis, settings.processing, active, progress)
    metrics.update(run_metrics)
    save_root(hists, histograms, settings.stage_record("process"))
    result = _metrics(manifest, metrics, workers, threads)
    result[provenance.SETTINGS_KEY] = settings.stage_record("process")
    result["provenance"] = provenance.block(
        settings.digest, provenance.digest_files([manifest_path]), started, metrics["wall_s"],
        {"cluster": settings.cluster.kind, "delivery": manifest.backend},
    )
    write_json(metrics_path, result)
    log.info("processed %d events: %.0f events/s per core (delivery + processing)",
             result["events"], result["first_pass_events_per_s_per_core"])
    return result


def run_cached_pass(
    settings: Settings, manifest_path: Path, histograms: Path, metrics_path: Path, client=None
) -> dict[str, Any]:
    """Re-run the analysis on the delivered columns with the current settings; no ROOT input
    is read. Refused when the settings need events the delivery did not keep."""
    from agcflow.processing.cached import cached_pass

    manifest = read_manifest(manifest_path)
    check_manifest(settings, manifest, manifest_path)
    check_writable(Path(histograms).parent, Path(metrics_path).parent)
    started = provenance.now()
    with _client(settings, client) as active:
        _, cores = cluster.worker_count(active)
        hists, metrics = cached_pass(manifest, settings.analysis, settings.processing, active)
    save_root(hists, histograms, settings.stage_record("process"))
    result = {"events": manifest.events_in, "events_delivered": manifest.events_out, "cores": cores,
              **metrics, "provenance": provenance.block(settings.digest, provenance.digest_files([manifest_path]),
                                                        started, metrics["wall_s"], {"cluster": settings.cluster.kind})}
    write_json(metrics_path, result)
    return result


def _metrics(manifest: Manifest, metrics: dict[str, Any], workers: int, threads: int) -> dict[str, Any]:
    events = manifest.events_in
    first_pass_s = manifest.wall_s + metrics["wall_s"]
    return {
        "events": events,
        "events_delivered": manifest.events_out,
        "events_processed": metrics["entries"],
        "chunks": metrics["chunks"],
        "bytes_read": manifest.bytes_read + metrics["bytes_read"],
        "delivery_wall_s": manifest.wall_s,
        "processing_wall_s": metrics["wall_s"],
        "wall_s": first_pass_s,
        "events_per_s": events / first_pass_s if first_pass_s else 0.0,
        "first_pass_events_per_s_per_core": events / first_pass_s / max(threads, 1) if first_pass_s else 0.0,
        "delivery_cached_files": manifest.files_cached,
        "workers": workers,
        "cores": threads,
        "skipped_files": [s.to_json() for s in manifest.skipped],
        "allowed_failures": metrics["allowed_failures"],
    }


@contextlib.contextmanager
def _client(settings: Settings, client=None) -> Iterator:
    """Use the given client, or open one from the settings for the duration."""
    if client is not None:
        yield client
    else:
        with cluster.open_client(settings.cluster, preload=processing.WORKER_MODULES) as opened:
            yield opened
