"""The delivery stage: run the query with the configured backend, write a manifest of skims."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from agcflow.config import AnalysisSettings, DeliverySettings
from agcflow.config.enums import DELIVERY_BACKENDS
from agcflow.delivery.local import FileRecord, deliver_file, merge_sample
from agcflow.delivery.manifest_types import FileEntry, Manifest, SampleEntry, ServiceXEndpoint, SkimEntry, SkippedFile
from agcflow.errors import BackendError, InputFileError
from agcflow.inputs.fileset import SampleFiles

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)



def deliver(
    samples: list[SampleFiles],
    delivery: DeliverySettings,
    analysis: AnalysisSettings,
    client: Client,
    skip_bad_files: bool = False,
    progress: bool = True,
) -> Manifest:
    """Deliver every sample's files with the configured backend; return the manifest (skims, event
    counts, skipped files), without the settings record and provenance ``agcflow deliver`` adds."""
    if delivery.backend not in DELIVERY_BACKENDS:
        raise BackendError(
            f"delivery.backend = {delivery.backend!r}: unknown; valid: {', '.join(DELIVERY_BACKENDS)}")
    query = analysis.plugin.delivery_query(analysis, delivery.preselection)
    tree = analysis.tree
    start = time.perf_counter()
    if delivery.backend == "servicex":
        return _deliver_servicex(samples, delivery, query, tree, client, skip_bad_files, progress, start)
    cache_dir = str(delivery.cache_dir)
    found, skipped, merges = _run_local(samples, query, cache_dir, tree, client, skip_bad_files, progress)
    records = {s.key: _in_file_order(s, found[s.key]) for s in samples}
    skims = dict(zip(merges, client.gather(list(merges.values()))))
    totals = {key: sum(r.nevts_in for r in rs) for key, rs in records.items()}
    return _manifest("local", samples, records, totals, skims, skipped, query, time.perf_counter() - start)


def _deliver_servicex(samples, delivery, query, tree, client, skip_bad_files, progress, start) -> Manifest:
    from agcflow.delivery.servicex import deliver_servicex

    if skip_bad_files:
        log.warning("processing.skip_bad_files does not apply to delivery.backend = 'servicex': "
                    "a partial transform could not be normalised, so any failed file fails the delivery")
    result = deliver_servicex(samples, query, tree, delivery, client, progress)
    manifest = _manifest("servicex", samples, result.records, result.nevts_total, result.skims, [], query,
                         time.perf_counter() - start)
    return replace(manifest, servicex=ServiceXEndpoint(result.endpoint.name, result.endpoint.url))


def _run_local(samples, query, cache_dir, tree, client, skip_bad_files, progress):
    from distributed import as_completed

    from agcflow.util.progress import progress as progress_display

    # largest files first: the last tasks to finish are then the short ones
    jobs = sorted(((s.key, f) for s in samples for f in s.files), key=lambda job: -(job[1].nevts or 0))
    run = uuid.uuid4().hex[:8]  # fresh task keys: a resubmission must not meet cancelled ones
    futures = {
        client.submit(deliver_file, f.path, tree, query, cache_dir, f.nevts, key=f"deliver-{run}-{i}", pure=False): (
            key,
            f.path,
        )
        for i, (key, f) in enumerate(jobs)
    }
    records: dict[str, list[FileRecord]] = {s.key: [] for s in samples}
    skipped: list[SkippedFile] = []
    remaining = {s.key: len(s.files) for s in samples}
    merges = {}  # a sample's merge starts as soon as its last file is delivered, while others still run
    with progress_display(len(futures), "deliver", "file", bar=progress) as bar:
        for future in as_completed(futures):
            key, path = futures[future]
            try:
                records[key].append(future.result())
                bar.update(events=records[key][-1].nevts_in)
            except InputFileError as err:
                bar.update()
                if not skip_bad_files:
                    client.cancel(list(futures) + list(merges.values()))
                    raise
                log.warning("skipping bad input file: %s", err)
                skipped.append(SkippedFile(key, path, str(err)))
            remaining[key] -= 1
            if not remaining[key]:
                merges[key] = _submit_merge(client, samples, key, records[key], cache_dir, query.layout)
    for key in remaining.keys() - merges.keys():  # samples without files
        merges[key] = _submit_merge(client, samples, key, records[key], cache_dir, query.layout)
    return records, skipped, {s.key: merges[s.key] for s in samples}


def _submit_merge(client, samples, key, records, cache_dir, layout):
    """One ROOT skim per sample, merged on the cluster from its files' columns (in file order)."""
    sample = next(s for s in samples if s.key == key)
    return client.submit(merge_sample, [r.columns for r in _in_file_order(sample, records)], cache_dir, layout,
                         pure=False)


def _in_file_order(sample: SampleFiles, records: list[FileRecord]) -> list[FileRecord]:
    order = {f.path: i for i, f in enumerate(sample.files)}
    return sorted(records, key=lambda r: order[r.source])


def _manifest(backend, samples, records, totals, skims, skipped, query, wall_s) -> Manifest:
    """The manifest processing reads: per sample its input events, file records and one skim."""
    entries = {
        sample.key: SampleEntry(
            sample.process, sample.variation, totals[sample.key],
            tuple(FileEntry(**asdict(r)) for r in records[sample.key]), SkimEntry(**asdict(skims[sample.key])),
            sum_weights=sample.sum_weights, filter_efficiency=sample.filter_efficiency,
        )
        for sample in samples
    }
    all_records = [r for rs in records.values() for r in rs]
    return Manifest(
        backend=backend,
        query=query.func_adl_text(),
        preselection=query.record(),
        samples=entries,
        skipped=tuple(skipped),
        events_in=sum(totals.values()),
        events_out=sum(r.nevts_out for r in all_records),
        bytes_read=sum(r.bytes_read for r in all_records if not r.cached),
        files_cached=sum(r.cached for r in all_records),
        wall_s=wall_s,
    )
