"""The ATLAS Open Data H->ZZ*->4l analysis (the AGC's second vertical slice) as an agcflow plugin.

Flat ``mini`` ntuples (BaseSchema), energies in MeV; the delivery keeps events with exactly four
leptons and computes the product scale factor with its x1.1 / x0.9 variations; the selection
asks for total charge 0 and 4e, 2e2mu or 4mu; the observable is m4l. Systematics: the scale
factor (weights), the m4l scale (an observable shift); the ZZ* normalisation is configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from agcflow.analyses.atlas_hzz import settings as hzz_settings
from agcflow.analyses.atlas_hzz.query import LAYOUT, SCALE_FACTOR, SCALE_FACTOR_DOWN, SCALE_FACTOR_UP, DeliveryQuery
from agcflow.analyses.atlas_hzz.selection import FourLeptons, m4l, selected
from agcflow.analyses.base import Analysis, Chunk, Filled, Variation

if TYPE_CHECKING:
    from agcflow.config import AnalysisSettings

OBSERVABLES = {"m4l": "m_4l"}
# histogram suffix -> the delivered weight column it uses instead of the nominal scale factor
WEIGHT_VARIATIONS = {"sf_up": SCALE_FACTOR_UP, "sf_down": SCALE_FACTOR_DOWN}
SHIFT_VARIATIONS = {"m4l_up": 1.0, "m4l_down": -1.0}  # sign of the m4l scale shift


class AtlasHzz(Analysis):
    """H->ZZ*->4l with ATLAS Open Data: one four-lepton region, m4l, Signal_norm on the Higgs."""

    name = "atlas_hzz"
    description = "AGC ATLAS Open Data H->ZZ*->4l, flat ntuples"
    schema = "base"
    measurement = "HZZ"
    poi_sample = "Signal"
    layout = LAYOUT

    def options_schema(self) -> dict[str, Any]:
        return hzz_settings.schema()["analysis"]

    def region_schema(self) -> dict[str, Any]:
        return hzz_settings.schema()["region"]

    def preselection_schema(self) -> dict[str, Any]:
        return hzz_settings.schema()["preselection"]

    def options(self, raw: Mapping[str, Any]) -> hzz_settings.HzzOptions:
        return hzz_settings.options(raw)

    def preselection(self, raw: Mapping[str, Any]) -> hzz_settings.Preselection:
        return hzz_settings.preselection(raw)

    def observables(self) -> Mapping[str, str]:
        return OBSERVABLES

    def delivery_query(self, analysis: AnalysisSettings, preselection: Any) -> DeliveryQuery:
        return DeliveryQuery(preselection, analysis.options.variations)

    def variations(self, analysis: AnalysisSettings) -> tuple[Variation, ...]:
        return (*(Variation(name, "weight") for name in WEIGHT_VARIATIONS),
                *(Variation(name, "shift") for name in SHIFT_VARIATIONS))

    def fill(self, events: Any, chunk: Chunk) -> Filled:
        flat = {name: ak.to_numpy(events[name]) for name in (*LAYOUT.delivered_event, "nlep")}
        flat.update({f"lep_{f}": ak.to_numpy(ak.flatten(events[f"lep_{f}"])) for f in LAYOUT.collections["lep"]})
        return self.fill_flat(flat, chunk)

    def fill_flat(self, columns: Mapping[str, np.ndarray], chunk: Chunk) -> Filled:
        options = chunk.analysis.options
        leptons = FourLeptons.from_flat(columns)
        keep = selected(leptons, options.selection)
        mass = m4l(leptons)[keep]
        if chunk.data:
            return {(region.name, "nominal"): (mass, np.ones(mass.size)) for region in chunk.analysis.regions}
        event_weight = chunk.weight * np.asarray(columns["mcWeight"], np.float64)[keep]
        nominal = event_weight * np.asarray(columns[SCALE_FACTOR], np.float64)[keep]
        filled: Filled = {}
        for region in chunk.analysis.regions:
            filled[region.name, "nominal"] = (mass, nominal)
            for name, column in WEIGHT_VARIATIONS.items():
                if chunk.wants(name):
                    filled[region.name, name] = (mass, event_weight * np.asarray(columns[column], np.float64)[keep])
            for name, sign in SHIFT_VARIATIONS.items():
                if chunk.wants(name):
                    filled[region.name, name] = (mass * (1.0 + sign * options.variations.m4l_scale), nominal)
        return filled

    def samples(self) -> Mapping[str, Sequence[str]]:
        from agcflow.analyses.atlas_hzz import generator

        return generator.SAMPLES

    def default_events(self) -> Mapping[str, int]:
        from agcflow.analyses.atlas_hzz import generator

        return generator.DEFAULT_EVENTS

    def filter_efficiency(self, process: str, parameters: Mapping[str, float]) -> float | None:
        from agcflow.analyses.atlas_hzz import generator

        return generator.filter_efficiency(process, parameters)

    def simulate(self, rng: np.random.Generator, process: str, variation: str, n_events: int, first_event: int,
                 parameters: Mapping[str, float]) -> dict[str, Any]:
        from agcflow.analyses.atlas_hzz import generator

        return generator.simulate(rng, process, variation, n_events, first_event, parameters)
