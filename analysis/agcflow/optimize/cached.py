"""Cached passes: the analysis re-run on the delivered columns, no ROOT input read.

Reads the flat numpy columns the delivery merged per sample. They hold every event that passes
the loose preselection, so any analysis that is at least as tight gives exactly the histograms
of a full pass. Looser settings are refused (``delivery.manifest``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import hist
import numpy as np

from agcflow.config import AnalysisSettings, ProcessingSettings
from agcflow.delivery.manifest import check_manifest_serves
from agcflow.delivery.local import read_columns
from agcflow.errors import InputFileError
from agcflow.physics import jagged
from agcflow.physics.analysis import ELECTRON_FIELDS, JET_FIELDS, MUON_FIELDS, ChunkInput
from agcflow.processing import complete, sample_metadata
from agcflow.processor import fill_histograms

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def cached_pass(
    manifest: Mapping[str, Any],
    analysis: AnalysisSettings,
    processing: ProcessingSettings,
    client: Client,
) -> tuple[dict[str, hist.Hist], dict[str, float]]:
    """All histograms from the cached columns, one Dask task per sample."""
    start = time.perf_counter()
    futures = [client.submit(sample_histograms, columns, meta, analysis, processing.seed, pure=False)
               for columns, meta in delivered_samples(manifest, analysis).values()]
    hists: dict[str, hist.Hist] = {}
    for part in client.gather(futures):
        hists.update(part)
    wall = time.perf_counter() - start
    return complete(hists, manifest, analysis), {"wall_s": wall, "tasks": len(futures)}


def delivered_samples(manifest: Mapping[str, Any], analysis: AnalysisSettings) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per non-empty delivered sample: its merged column file and its metadata; refused when the
    manifest's preselection is tighter than the analysis."""
    check_manifest_serves(manifest, analysis)
    samples = {}
    for key, entry in manifest["samples"].items():
        if entry["skim"]["nevts"] == 0:
            continue
        if not entry["skim"].get("columns"):
            raise InputFileError(f"the manifest's sample {key!r} has no merged columns (written by an older "
                                 "agcflow?): run `agcflow deliver` again to refresh the cache")
        samples[key] = (entry["skim"]["columns"], sample_metadata(key, entry, analysis))
    return samples


def sample_histograms(columns: str, meta: Mapping[str, Any], analysis: AnalysisSettings, seed: int) -> dict[str, hist.Hist]:
    """The histograms of one sample from its cached flat columns."""
    return fill_histograms(chunk_input(read_columns(columns)), meta, analysis, seed)


def chunk_input(columns: dict[str, np.ndarray]) -> ChunkInput:
    """The analysis' input from flat delivered columns."""

    def collection(name: str, fields: tuple[str, ...]) -> jagged.Flat:
        return jagged.Flat(columns[f"n{name}"].astype(np.int64), {f: columns[f"{name}_{f}"] for f in fields})

    return ChunkInput(
        electrons=collection("Electron", ELECTRON_FIELDS),
        muons=collection("Muon", MUON_FIELDS),
        jets=collection("Jet", JET_FIELDS),
        run=columns["run"],
        lumi=columns["luminosityBlock"],
        event=columns["event"],
    )
