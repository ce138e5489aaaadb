"""coffea wiring only: NanoEvents in, histograms out. The physics is the analysis plugin's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hist
from coffea import processor
from coffea.nanoevents import BaseSchema, NanoAODSchema

from agcflow.analyses.base import Chunk, DeliveryQuery, Filled, expected_variations, query_columns
from agcflow.config import AnalysisSettings
from agcflow.errors import AgcflowError
from agcflow.processing.histograms import empty_histogram, histogram_name

# Skims carry only the analysis' collections; cross-references to others are absent by design.
NanoAODSchema.warn_missing_crossrefs = False

SCHEMAS = {"nanoaod": NanoAODSchema, "base": BaseSchema}


class AnalysisProcessor(processor.ProcessorABC):
    """Fills the histograms of one chunk with the analysis plugin's physics; the dataset's
    metadata says which sample it is (keys ``process``, ``variation``, ``weight`` = xsec x lumi
    / events)."""

    def __init__(self, analysis: AnalysisSettings, seed: int, query: DeliveryQuery | None = None) -> None:
        self.analysis = analysis
        self.seed = seed
        self.query = query  # run on each chunk of input files that are not skims (run.run_fileset)

    def process(self, events) -> dict:
        meta = events.metadata
        if self.query is None:
            hists = fill_histograms(events, meta, self.analysis, self.seed)
        else:
            columns = {name: events[name] for name in self.query.layout.branch_names()}
            hists = fill_flat_histograms(query_columns(self.query, columns), meta, self.analysis, self.seed)
        return {"hists": hists, "entries": {meta["dataset"]: len(events)}}

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator


def chunk_of(meta: Mapping[str, Any], analysis: AnalysisSettings, seed: int) -> Chunk:
    """What the plugin is told of a chunk of the sample ``meta`` describes."""
    process, variation = meta["process"], meta["variation"]
    names = set(expected_variations(analysis, process, variation)) - {"nominal", variation}
    registry = tuple(v for v in analysis.plugin.variations(analysis) if v.name in names)
    return Chunk(process, variation, float(meta["weight"]), seed, registry, analysis, bool(meta.get("data", False)))


def fill_histograms(events: Any, meta: Mapping[str, Any], analysis: AnalysisSettings, seed: int) -> dict[str, hist.Hist]:
    """The histograms of one chunk of one sample (coffea NanoEvents) by the plugin's ``fill``."""
    chunk = chunk_of(meta, analysis, seed)
    return histograms_of(analysis.plugin.fill(events, chunk), chunk)


def fill_flat_histograms(columns: Mapping[str, Any], meta: Mapping[str, Any], analysis: AnalysisSettings,
                         seed: int) -> dict[str, hist.Hist]:
    """The histograms of one sample from flat delivered columns, by the plugin's ``fill_flat``."""
    chunk = chunk_of(meta, analysis, seed)
    return histograms_of(analysis.plugin.fill_flat(columns, chunk), chunk)


def histograms_of(filled: Filled, chunk: Chunk) -> dict[str, hist.Hist]:
    """The histograms of the plugin's (region, variation) values and weights. A name the sample
    should not have is an error, never dropped."""
    analysis = chunk.analysis
    allowed = {"nominal", *(v.name for v in chunk.variations)}
    regions = {r.name for r in analysis.regions}
    axis = analysis.histogram
    hists = {}
    for (region, name), (values, weights) in filled.items():
        if region not in regions or name not in allowed:
            raise AgcflowError(
                f"analysis {analysis.plugin.name}: filled ({region!r}, {name!r}) for {chunk.process}__{chunk.variation}, "
                f"which its settings do not declare (regions {sorted(regions)}, variations {sorted(allowed)}); "
                "declare the variation in Analysis.variations or the region in analysis.regions")
        h = empty_histogram(axis.bins, axis.low, axis.high)
        h.fill(observable=values, weight=weights)
        hists[histogram_name(region, chunk.process, chunk.variation if name == "nominal" else name)] = h
    return hists
