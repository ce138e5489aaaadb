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

from agcflow.config import AnalysisSettings, ProcessingSettings
from agcflow.delivery.local import read_columns
from agcflow.delivery.manifest_types import Manifest
from agcflow.processing.processor import fill_flat_histograms
from agcflow.processing.run import complete, delivered_samples

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def cached_pass(
    manifest: Manifest,
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


def sample_histograms(columns: str, meta: Mapping[str, Any], analysis: AnalysisSettings, seed: int) -> dict[str, hist.Hist]:
    """The histograms of one sample from its cached flat columns."""
    return fill_flat_histograms(read_columns(columns), meta, analysis, seed)
