"""The ttbar analysis of one chunk: selections, observables and all systematics.

Awkward in, numpy out: ``analyse`` returns, per (region, variation), the observable values
and event weights to histogram. The cheapest cut (exactly one lepton) runs first and every
variation is computed only on the events that survive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from agcflow.physics import objects, observables, regions, systematics

if TYPE_CHECKING:
    from agcflow.config import ObjectCuts, Region, Variations

Filled = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ChunkInput:
    """The collections of one chunk: records with NanoAOD field names."""

    electrons: ak.Array
    muons: ak.Array
    jets: ak.Array
    run: np.ndarray
    lumi: np.ndarray
    event: np.ndarray


@dataclass(frozen=True)
class Options:
    """What to compute for a sample."""

    cuts: ObjectCuts
    regions: Sequence[Region]
    variations: Variations
    weight: float
    seed: int
    systematics: bool
    scale_variation: bool


def analyse(chunk: ChunkInput, options: Options) -> Filled:
    """Observable values and weights per (region, variation); "nominal" is the nominal."""
    chunk = _one_lepton_events(chunk, options.cuts)
    filled: Filled = {}
    for pt_variation, pt in _jet_pt_variations(chunk, options).items():
        _fill_variation(filled, chunk.jets, pt, pt_variation, options)
    return filled


def _one_lepton_events(chunk: ChunkInput, cuts: ObjectCuts) -> ChunkInput:
    n_leptons = ak.sum(objects.electron_mask(chunk.electrons, cuts), axis=1) + ak.sum(
        objects.muon_mask(chunk.muons, cuts), axis=1
    )
    keep = ak.to_numpy(n_leptons == 1)
    return ChunkInput(
        chunk.electrons[keep], chunk.muons[keep], chunk.jets[keep],
        chunk.run[keep], chunk.lumi[keep], chunk.event[keep],
    )


def _jet_pt_variations(chunk: ChunkInput, options: Options) -> dict[str, ak.Array]:
    pts = {"nominal": chunk.jets.pt}
    if options.systematics:
        v = options.variations
        pts["pt_scale_up"] = systematics.scaled_pt(chunk.jets.pt, v.pt_scale_factor)
        counts = ak.to_numpy(ak.num(chunk.jets, axis=1))
        factors = systematics.resolution_factors(
            chunk.run, chunk.lumi, chunk.event, counts, v.pt_resolution, options.seed
        )
        pts["pt_res_up"] = chunk.jets.pt * factors
    return pts


def _fill_variation(filled: Filled, jets: ak.Array, pt: ak.Array, pt_variation: str, options: Options) -> None:
    cuts = options.cuts
    selected = objects.jet_mask(jets, pt, cuts)
    enough = ak.to_numpy(ak.sum(selected, axis=1) >= cuts.min_jets)
    good_jets, good_pt = jets[enough][selected[enough]], pt[enough][selected[enough]]
    is_btag = objects.btag_mask(good_jets, cuts)
    n_btags = ak.to_numpy(ak.sum(is_btag, axis=1))
    for region in options.regions:
        in_region = regions.btag_region(n_btags, region.min_btags, region.max_btags)
        region_pt = good_pt[in_region]
        values = _observable(region.observable, good_jets[in_region], region_pt, is_btag[in_region])
        weights = np.full(len(values), options.weight)
        filled[(region.name, pt_variation)] = (values, weights)
        if pt_variation == "nominal" and options.systematics:
            for name, factor in _weight_factors(region_pt, options).items():
                filled[(region.name, name)] = (values, weights * factor)


def _weight_factors(selected_pt: ak.Array, options: Options) -> dict[str, np.ndarray | float]:
    v = options.variations
    factors: dict[str, np.ndarray | float] = dict(
        systematics.btag_weight_factors(selected_pt, v.btag_jets, v.btag_relative, v.btag_pt_ref)
    )
    if options.scale_variation:
        factors.update(systematics.scale_weight_factors(v.wjets_scale))
    return factors


def _observable(name: str, jets: ak.Array, pt: ak.Array, is_btag: ak.Array) -> np.ndarray:
    if name == "ht":
        return observables.ht(pt)
    if name == "mbjj":
        return observables.trijet_mass(jets, pt, is_btag)
    raise ValueError(f"unknown observable {name!r}; valid: {', '.join(observables.OBSERVABLES)}")
