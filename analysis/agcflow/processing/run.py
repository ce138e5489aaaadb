"""The processing stage: coffea ``Runner`` + ``DaskExecutor`` over the delivered skims."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import hist

from agcflow.analyses.base import DeliveryQuery, expected_variations
from agcflow.config import AnalysisSettings, ProcessingSettings
from agcflow.delivery.manifest import check_manifest_serves
from agcflow.delivery.manifest_types import Manifest, SampleEntry, SkimEntry
from agcflow.errors import AgcflowError, InputFileError
from agcflow.inputs.fileset import SampleFiles
from agcflow.physics.weights import sample_weight
from agcflow.processing.histograms import empty_histogram, histogram_name
from agcflow.processing.processor import SCHEMAS, AnalysisProcessor
from agcflow.util.progress import watch_scheduler

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

# What a processing worker imports at start-up (cluster.open_client's preload).
WORKER_MODULES = ("agcflow.delivery.local", "agcflow.processing.processor")

def check_delivered(manifest: Manifest) -> None:
    """Fail, naming the sample and its skipped files, when every input file of a sample was
    skipped: its histograms would be empty and look fine. A sample whose files are all valid
    but empty (0 entries) is not an error; the manifest lists them with ``nevts_in`` 0."""
    for key, entry in manifest.samples.items():
        if not entry.files:
            raise InputFileError(
                f"sample {key}: no input file could be read (skipped: {manifest.skipped_in(key)}); fix or remove them, "
                "skip mode (processing.skip_bad_files) only tolerates losing some files of a sample"
            )


def coffea_fileset(manifest: Manifest, analysis: AnalysisSettings) -> dict[str, dict]:
    """The coffea fileset of the non-empty sample skims, with each sample's metadata; refused
    when the manifest's preselection is tighter than the analysis."""
    check_delivered(manifest)
    check_manifest_serves(manifest, analysis)
    return {
        key: {"treename": "Events", "files": [entry.skim.path], "metadata": entry_metadata(key, entry, analysis)}
        for key, entry in manifest.samples.items()
        if entry.skim.nevts > 0
    }


def sample_metadata(key: str, process: str, variation: str, nevts_total: int, analysis: AnalysisSettings,
                    sum_weights: float | None = None, filter_efficiency: float | None = None) -> dict[str, Any]:
    """What the processor needs to know of a sample: names, event weight, weight systematics.

    The weight is xsec x lumi x filter efficiency / the sum of weights of the whole sample (for
    a skim; else ``nevts_total``, its input events); the configuration's ``sum_weights`` and
    ``filter_efficiency`` win over the fileset's (the arguments), which win over the defaults."""
    if nevts_total == 0:
        raise AgcflowError(f"sample {key}: no readable input events (all files skipped?)")
    sample = analysis.sample(process)
    if sample.data:
        return {"process": process, "variation": variation, "weight": 1.0, "data": True}
    normalised_by = sample.sum_weights or sum_weights or nevts_total
    efficiency = sample.filter_efficiency or filter_efficiency or 1.0
    return {
        "process": process,
        "variation": variation,
        "weight": sample_weight(sample.xsec_pb * efficiency, analysis.lumi_pb, normalised_by),
    }


def entry_metadata(key: str, entry: SampleEntry, analysis: AnalysisSettings) -> dict[str, Any]:
    """``sample_metadata`` of a delivered sample (with its fileset's normalisation facts)."""
    return sample_metadata(key, entry.process, entry.variation, entry.nevts_total, analysis, entry.sum_weights,
                           entry.filter_efficiency)


def input_metadata(sample: SampleFiles, analysis: AnalysisSettings) -> dict[str, Any]:
    """``sample_metadata`` of a fileset's sample read directly (no delivery): its files' events
    and its normalisation facts."""
    return sample_metadata(sample.key, sample.process, sample.variation, sum(f.nevts or 0 for f in sample.files),
                           analysis, sample.sum_weights, sample.filter_efficiency)


def delivered_samples(manifest: Manifest, analysis: AnalysisSettings) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per non-empty delivered sample: its merged column file and its metadata; refused when the
    manifest's preselection is tighter than the analysis."""
    check_manifest_serves(manifest, analysis)
    samples = {}
    for key, entry in manifest.samples.items():
        if entry.skim.nevts == 0:
            continue
        if not entry.skim.columns:
            raise InputFileError(f"the manifest's sample {key!r} has no merged columns (written by an older "
                                 "agcflow?): run `agcflow deliver` again to refresh the cache")
        samples[key] = (entry.skim.columns, entry_metadata(key, entry, analysis))
    return samples


def run(
    manifest: Manifest,
    analysis: AnalysisSettings,
    processing: ProcessingSettings,
    client: Client,
    progress: bool = True,
) -> tuple[dict[str, hist.Hist], dict[str, Any]]:
    """Fill every histogram of the analysis from the delivered skims; return them (pseudodata
    included) and metrics."""
    hists, metrics = run_samples(manifest, analysis, processing, client, progress)
    return add_pseudodata(hists, analysis), metrics


def run_samples(
    manifest: Manifest,
    analysis: AnalysisSettings,
    processing: ProcessingSettings,
    client: Client,
    progress: bool = True,
) -> tuple[dict[str, hist.Hist], dict[str, Any]]:
    """Every histogram of the delivered samples (empty where no event reached it), no pseudodata."""
    fileset = coffea_fileset(manifest, analysis)
    output, metrics = run_fileset(fileset, analysis, processing, client, progress, known_file_metadata(manifest, fileset))
    check_event_total(metrics["entries"], {key: manifest.samples[key].skim for key in fileset})
    return fill_missing(output, manifest, analysis), metrics


def check_event_total(processed: int, skims: dict[str, SkimEntry]) -> None:
    """Every delivered event processed exactly once: a chunk lost (a short read, a skim with
    fewer entries than its manifest says) or counted twice fails here."""
    delivered = sum(skim.nevts for skim in skims.values())
    if processed != delivered:
        raise InputFileError(
            f"processed {processed} events, but the skims of samples {sorted(skims)} hold {delivered} by "
            "the manifest: a chunk was lost or counted twice"
        )


def run_fileset(
    fileset: dict[str, dict],
    analysis: AnalysisSettings,
    processing: ProcessingSettings,
    client: Client,
    progress: bool = True,
    metadata_cache: dict | None = None,
    query: DeliveryQuery | None = None,
) -> tuple[dict[str, hist.Hist], dict[str, Any]]:
    """The coffea Runner over a fileset (NanoAOD files, sample metadata as ``sample_metadata``);
    with a delivery ``query``, the files are inputs, not skims: each chunk goes through the query
    (preselection, derived columns) before the plugin fills it."""
    from coffea import processor

    hash_any_file_path()
    runner = processor.Runner(
        executor=processor.DaskExecutor(client=client, status=progress, treereduction=8),
        schema=SCHEMAS[analysis.plugin.schema],
        chunksize=processing.chunk_size,
        savemetrics=True,
        metadata_cache=metadata_cache,
    )
    start = time.perf_counter()
    # Without a progress bar (Snakemake rules), the scheduler's task counts go to the log.
    watch = contextlib.nullcontext() if progress else watch_scheduler(client, "process")
    with watch:
        output, metrics = runner(fileset, processor_instance=AnalysisProcessor(analysis, processing.seed, query),
                                 treename="Events")
    wall = time.perf_counter() - start
    return output.get("hists", {}), {
        "wall_s": wall, "chunks": metrics.get("chunks", 0), "bytes_read": metrics.get("bytesread", 0),
        "entries": metrics.get("entries", 0), "processtime_s": metrics.get("processtime", 0.0)}


def hash_any_file_path() -> None:
    """Let coffea hash file paths that are not ASCII (a cache_dir such as ``cache/délivery``).

    coffea keys its per-file metadata by ``FileMeta``, whose hash encodes the dataset, path and
    tree as ASCII (``coffea.util._hash``): a non-ASCII path raises UnicodeEncodeError before any
    chunk runs. No other spelling of a local path opens the same file (uproot does not decode a
    percent-encoded ``file://`` URI), so the hash is given ASCII text instead: non-ASCII
    characters backslash-escaped, ASCII text unchanged (the same hash as coffea's). Only the
    driver hashes FileMeta (equality still compares the real paths)."""
    from coffea.processor import executor

    if getattr(executor.FileMeta.__hash__, "escapes_non_ascii", False):
        return

    def __hash__(meta) -> int:
        return executor._hash(tuple(str(part).encode("ascii", "backslashreplace").decode("ascii")
                                    for part in (meta.dataset, meta.filename, meta.treename)))

    __hash__.escapes_non_ascii = True
    executor.FileMeta.__hash__ = __hash__


def known_file_metadata(manifest: Manifest, fileset: dict[str, dict]) -> dict:
    """coffea's per-file metadata (entries, UUID) from the manifest: no skim is reopened to
    count its entries. Skims without a recorded UUID are left to coffea."""
    from coffea.processor.executor import FileMeta

    hash_any_file_path()
    cache = {}
    for key, entry in fileset.items():
        skim = manifest.samples[key].skim
        if skim.uuid:
            meta = {**entry["metadata"], "numentries": skim.nevts, "uuid": bytes.fromhex(skim.uuid)}
            cache[FileMeta(key, skim.path, "Events")] = meta
    return cache


def complete(hists: dict[str, hist.Hist], manifest: Manifest, analysis: AnalysisSettings) -> dict[str, hist.Hist]:
    """Add empty histograms for names no event reached, and the pseudodata."""
    return add_pseudodata(fill_missing(hists, manifest, analysis), analysis)


def fill_missing(hists: dict[str, hist.Hist], manifest: Manifest, analysis: AnalysisSettings) -> dict[str, hist.Hist]:
    """Every histogram the delivered samples should have; empty where no event reached it."""
    axis = analysis.histogram
    return {name: hists.get(name) or empty_histogram(axis.bins, axis.low, axis.high)
            for name in expected_names(manifest, analysis)}


def add_pseudodata(hists: dict[str, hist.Hist], analysis: AnalysisSettings) -> dict[str, hist.Hist]:
    """The spec's pseudodata per region, added to the histograms (none with a data sample)."""
    result = dict(hists)
    if not analysis.pseudodata_average:
        return result
    for region in analysis.regions:
        average = [result[f"{region.name}_{s}"] for s in analysis.pseudodata_average]
        added = [result[f"{region.name}_{s}"] for s in analysis.pseudodata_add]
        pseudo = sum(average[1:], average[0].copy()) * (1.0 / len(average))
        result[f"{region.name}_pseudodata"] = sum(added, pseudo)
    return result


def expected_names(manifest: Manifest, analysis: AnalysisSettings) -> list[str]:
    """Every histogram the processor fills for the delivered samples: each sample's own, and
    for nominal samples every variation of the plugin's registry that applies to them."""
    return [histogram_name(r.name, entry.process, v)
            for entry in manifest.samples.values()
            for r in analysis.regions
            for v in expected_variations(analysis, entry.process, entry.variation)]
