"""coffea wiring only: NanoEvents in, histograms out. The physics is in ``agcflow.physics``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import hist
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from agcflow.config import AnalysisSettings
from agcflow.histograms import empty_histogram, histogram_name
from agcflow.physics.analysis import ELECTRON_FIELDS, JET_FIELDS, MUON_FIELDS, ChunkInput, Options, analyse
from agcflow.physics.jagged import from_awkward


# Skims carry only the analysis' collections; cross-references to others are absent by design.
NanoAODSchema.warn_missing_crossrefs = False


class TtbarProcessor(processor.ProcessorABC):
    """Fills the AGC histograms of one chunk; the dataset's metadata says which sample it is.

    Metadata keys: ``process``, ``variation``, ``weight`` (xsec x lumi / events) and
    ``scale_variation`` (whether the sample gets the scale_var weight systematic).
    """

    def __init__(self, analysis: AnalysisSettings, seed: int) -> None:
        self.analysis = analysis
        self.seed = seed

    def process(self, events) -> dict:
        meta = events.metadata
        chunk = ChunkInput(
            electrons=from_awkward(events.Electron, ELECTRON_FIELDS),
            muons=from_awkward(events.Muon, MUON_FIELDS),
            jets=from_awkward(events.Jet, JET_FIELDS),
            run=ak.to_numpy(events.run),
            lumi=ak.to_numpy(events.luminosityBlock),
            event=ak.to_numpy(events.event),
        )
        return {"hists": fill_histograms(chunk, meta, self.analysis, self.seed),
                "entries": {meta["dataset"]: len(events)}}

    def postprocess(self, accumulator: dict) -> dict:
        return accumulator


def fill_histograms(chunk: ChunkInput, meta: Mapping[str, Any], analysis: AnalysisSettings, seed: int) -> dict[str, hist.Hist]:
    """The AGC histograms of one chunk of one sample (metadata as for ``TtbarProcessor``)."""
    variation = meta["variation"]
    options = Options(
        cuts=analysis.cuts,
        regions=analysis.regions,
        variations=analysis.variations,
        weight=float(meta["weight"]),
        seed=seed,
        systematics=variation == "nominal",
        scale_variation=variation == "nominal" and bool(meta["scale_variation"]),
    )
    axis = analysis.histogram
    hists = {}
    for (region, name), (values, weights) in analyse(chunk, options).items():
        h = empty_histogram(axis.bins, axis.low, axis.high)
        h.fill(observable=values, weight=weights)
        hists[histogram_name(region, meta["process"], variation if name == "nominal" else name)] = h
    return hists
