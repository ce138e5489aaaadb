"""The ttbar analysis of one chunk: selections, observables and all systematics.

Flat collections in, numpy out: ``analyse`` returns, per (region, variation), the observable
values and event weights to histogram. The cheapest cut (exactly one lepton) runs first and
every variation is computed only on the events that survive it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agcflow.physics import objects, observables, regions, systematics
from agcflow.physics.jagged import Flat, count

if TYPE_CHECKING:
    from agcflow.config import ObjectCuts, Region, Variations

Filled = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]

ELECTRON_FIELDS = ("pt", "eta", "cutBased", "sip3d")
MUON_FIELDS = ("pt", "eta", "tightId", "sip3d", "pfRelIso04_all")
JET_FIELDS = ("pt", "eta", "phi", "mass", "btagCSVV2", "jetId")


@dataclass(frozen=True)
class ChunkInput:
    """The collections of one chunk (``Flat``, fields named as in NanoAOD) and event ids."""

    electrons: Flat
    muons: Flat
    jets: Flat
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
    cuts = options.cuts
    n_leptons = count(objects.electron_mask(chunk.electrons, cuts), chunk.electrons.counts) + count(
        objects.muon_mask(chunk.muons, cuts), chunk.muons.counts
    )
    one_lepton = n_leptons == 1
    jets = chunk.jets.events(one_lepton)
    ids = (chunk.run[one_lepton], chunk.lumi[one_lepton], chunk.event[one_lepton])
    filled: Filled = {}
    for pt_variation, pt in _jet_pt_variations(jets, ids, options).items():
        _fill_variation(filled, jets.with_field("pt", pt), pt_variation, options)
    return filled


def _jet_pt_variations(jets: Flat, ids: tuple[np.ndarray, ...], options: Options) -> dict[str, np.ndarray]:
    pts = {"nominal": jets.pt}
    if options.systematics:
        v = options.variations
        pts["pt_scale_up"] = jets.pt * np.float32(v.pt_scale_factor)
        factors = systematics.resolution_factors_flat(*ids, jets.counts, v.pt_resolution, options.seed)
        pts["pt_res_up"] = jets.pt * factors
    return pts


def _fill_variation(filled: Filled, jets: Flat, pt_variation: str, options: Options) -> None:
    cuts = options.cuts
    selected = jets.objects(objects.jet_mask(jets, jets.pt, cuts))
    selected = selected.events(selected.counts >= cuts.min_jets)
    is_btag = objects.btag_mask(selected, cuts)
    n_btags = count(is_btag, selected.counts)
    for region in options.regions:
        in_region = regions.btag_region(n_btags, region.min_btags, region.max_btags)
        region_jets = selected.events(in_region)
        values = _observable(region.observable, region_jets, is_btag[np.repeat(in_region, selected.counts)])
        weights = np.full(len(values), options.weight)
        filled[(region.name, pt_variation)] = (values, weights)
        if pt_variation == "nominal" and options.systematics:
            for name, factor in _weight_factors(region_jets, options).items():
                filled[(region.name, name)] = (values, weights * factor)


def _weight_factors(jets: Flat, options: Options) -> dict[str, np.ndarray | float]:
    v = options.variations
    factors: dict[str, np.ndarray | float] = dict(
        systematics.btag_weight_factors_flat(jets.pt, jets.counts, v.btag_jets, v.btag_relative, v.btag_pt_ref)
    )
    if options.scale_variation:
        factors.update(systematics.scale_weight_factors(v.wjets_scale))
    return factors


def _observable(name: str, jets: Flat, is_btag: np.ndarray) -> np.ndarray:
    if name == "ht":
        return observables.ht_flat(jets.pt, jets.counts)
    if name == "mbjj":
        return observables.trijet_mass_flat(jets.pt, jets.eta, jets.phi, jets.mass, is_btag, jets.counts)
    raise ValueError(f"unknown observable {name!r}; valid: {', '.join(observables.OBSERVABLES)}")
