"""The AGC CMS open-data ttbar analysis as an agcflow plugin (spec: docs/agc-ttbar.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from agcflow.analyses.base import Analysis, Chunk, CutParameter, Filled, RelaxedForm, Variation
from agcflow.analyses.cms_ttbar import settings as ttbar_settings
from agcflow.analyses.cms_ttbar.query import LAYOUT, DeliveryQuery
from agcflow.analyses.cms_ttbar.selection import (
    ELECTRON_FIELDS,
    JET_FIELDS,
    JET_PT_SHIFTS,
    MUON_FIELDS,
    ChunkInput,
    Options,
    analyse,
    chunk_from_flat,
)
from agcflow.physics.jagged import from_awkward

if TYPE_CHECKING:
    from agcflow.config import AnalysisSettings

OBSERVABLES = {"ht": "HT", "mbjj": "m_bjj"}
SCALE_VARIATIONS = ("scale_var_up", "scale_var_down")
# the default optimisation grid: (low, high, points) per cut; jet pt raised to what was delivered
CUT_GRID = {"jet_pt_min": (25.0, 60.0, 8), "btag_min": (0.3, 0.9, 7)}


class CmsTtbar(Analysis):
    """ttbar in the lepton+jets channel: 4j1b (HT) and 4j2b (m_bjj) regions, jet energy
    scale/resolution shifts, per-jet b-tag weights and the W+jets scale weight."""

    name = "cms_ttbar"
    description = "AGC CMS open-data ttbar (lepton+jets), NanoAOD"
    schema = "nanoaod"
    measurement = "CMS_ttbar"
    poi_sample = "ttbar"
    layout = LAYOUT

    def options_schema(self) -> dict[str, Any]:
        return ttbar_settings.schema()["analysis"]

    def region_schema(self) -> dict[str, Any]:
        return ttbar_settings.schema()["region"]

    def preselection_schema(self) -> dict[str, Any]:
        return ttbar_settings.schema()["preselection"]

    def options(self, raw: Mapping[str, Any]) -> ttbar_settings.TtbarOptions:
        return ttbar_settings.options(raw)

    def preselection(self, raw: Mapping[str, Any]) -> ttbar_settings.Preselection:
        return ttbar_settings.preselection(raw)

    def observables(self) -> Mapping[str, str]:
        return OBSERVABLES

    def problems(self, analysis: AnalysisSettings) -> list[str]:
        cuts, variations = analysis.options.cuts, analysis.options.variations
        if variations.btag_jets > cuts.min_jets:
            return [f"analysis.variations.btag_jets = {variations.btag_jets}: "
                    f"must not exceed analysis.objects.min_jets = {cuts.min_jets}"]
        return []

    def delivery_query(self, analysis: AnalysisSettings, preselection: Any) -> DeliveryQuery:
        return DeliveryQuery(preselection, analysis.options.cuts)

    def serves(self, analysis: AnalysisSettings, preselection: Any) -> list[str]:
        cuts, scale = analysis.options.cuts, analysis.options.variations.pt_scale_factor
        limits = [  # (analysis key, its value, the value compared, preselection field)
            ("analysis.objects.jet.pt_min", cuts.jet_pt_min, cuts.jet_pt_min / scale, "jet_pt_min"),
            ("analysis.objects.btag_min", cuts.btag_min, cuts.btag_min, "btag_min"),
            ("analysis.objects.min_jets", cuts.min_jets, cuts.min_jets, "min_jets"),
            ("analysis.objects.electron.pt_min", cuts.electron_pt_min, cuts.electron_pt_min, "lepton_pt_min"),
            ("analysis.objects.muon.pt_min", cuts.muon_pt_min, cuts.muon_pt_min, "lepton_pt_min"),
        ]
        problems = []
        for key, value, compared, name in limits:
            bound = getattr(preselection, name)
            if compared < bound:
                scaled = f" ({compared:.4g} with the x{scale:g} jet energy scale variation)" if compared != value else ""
                problems.append(f"{key} is looser than the delivery preselection: {value:g}{scaled} < "
                                f"delivery.preselection.{name} = {bound:g}")
        return problems

    def variations(self, analysis: AnalysisSettings) -> tuple[Variation, ...]:
        btag = [f"btag_var_{i}_{d}" for i in range(analysis.options.variations.btag_jets) for d in ("up", "down")]
        scaled = tuple(sorted({p for s in analysis.systematics if s.up == SCALE_VARIATIONS[0] and s.samples
                               for p in s.samples}))
        return (
            *(Variation(name, "shift") for name in JET_PT_SHIFTS),
            *(Variation(name, "weight") for name in btag),
            *(Variation(name, "weight", scaled) for name in SCALE_VARIATIONS),
        )

    def fill(self, events: Any, chunk: Chunk) -> Filled:
        data = ChunkInput(
            electrons=from_awkward(events.Electron, ELECTRON_FIELDS),
            muons=from_awkward(events.Muon, MUON_FIELDS),
            jets=from_awkward(events.Jet, JET_FIELDS),
            run=ak.to_numpy(events.run),
            lumi=ak.to_numpy(events.luminosityBlock),
            event=ak.to_numpy(events.event),
        )
        return analyse(data, self._options(chunk))

    def fill_flat(self, columns: Mapping[str, np.ndarray], chunk: Chunk) -> Filled:
        return analyse(chunk_from_flat(dict(columns)), self._options(chunk))

    @staticmethod
    def _options(chunk: Chunk) -> Options:
        analysis = chunk.analysis
        return Options(
            cuts=analysis.options.cuts, regions=analysis.regions, variations=analysis.options.variations,
            weight=chunk.weight, seed=chunk.seed, systematics=bool(chunk.variations),
            scale_variation=chunk.wants(SCALE_VARIATIONS[0]),
        )

    def cut_values(self, analysis: AnalysisSettings) -> dict[str, float]:
        cuts = analysis.options.cuts
        return {name: float(getattr(cuts, name)) for name in CUT_GRID}

    def with_cuts(self, analysis: AnalysisSettings, values: Mapping[str, float]) -> AnalysisSettings:
        super().with_cuts(analysis, values)  # refuses unknown names
        options = analysis.options
        return dataclasses.replace(analysis, options=dataclasses.replace(options, cuts=dataclasses.replace(options.cuts, **values)))

    def cut_parameters(self, analysis: AnalysisSettings, preselection: Any) -> tuple[CutParameter, ...]:
        lowest = {"jet_pt_min": preselection.jet_pt_min * analysis.options.variations.pt_scale_factor}
        return tuple(CutParameter(name, max(low, lowest.get(name, low)), high, points)
                     for name, (low, high, points) in CUT_GRID.items())

    def relaxed_form(self) -> RelaxedForm:
        from agcflow.analyses.cms_ttbar.relaxed import RelaxedTtbar

        return RelaxedTtbar()

    def samples(self) -> Mapping[str, Sequence[str]]:
        from agcflow.analyses.cms_ttbar import generator

        return generator.SAMPLES

    def default_events(self) -> Mapping[str, int]:
        from agcflow.analyses.cms_ttbar import generator

        return generator.DEFAULT_EVENTS

    def simulate(self, rng: np.random.Generator, process: str, variation: str, n_events: int, first_event: int,
                 parameters: Mapping[str, float]) -> dict[str, Any]:
        from agcflow.analyses.cms_ttbar import generator

        return generator.simulate(rng, process, variation, n_events, first_event, parameters)
