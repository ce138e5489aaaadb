"""The ttbar analysis of one chunk: selections, observables and all systematics.

Flat collections in, numpy out: ``analyse`` returns, per (region, variation), the observable
values and event weights to histogram. The cheapest cut (exactly one lepton) runs first and
every variation is computed only on the events that survive it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agcflow.analyses.cms_ttbar import objects, observables, regions, systematics
from agcflow.analyses.cms_ttbar.settings import ObjectCuts, Variations
from agcflow.physics.jagged import Flat, count

if TYPE_CHECKING:
    from agcflow.config import Region

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


def chunk_from_flat(columns: dict[str, np.ndarray]) -> ChunkInput:
    """The analysis' input from flat delivered columns (``ColumnLayout.flat``)."""

    def collection(name: str, fields: tuple[str, ...]) -> Flat:
        return Flat(columns[f"n{name}"].astype(np.int64), {f: columns[f"{name}_{f}"] for f in fields})

    return ChunkInput(
        electrons=collection("Electron", ELECTRON_FIELDS),
        muons=collection("Muon", MUON_FIELDS),
        jets=collection("Jet", JET_FIELDS),
        run=columns["run"],
        lumi=columns["luminosityBlock"],
        event=columns["event"],
    )


def lepton_count(electrons: Flat, muons: Flat, cuts: ObjectCuts) -> np.ndarray:
    """Tight leptons (electrons and muons) per event."""
    return count(objects.electron_mask(electrons, cuts), electrons.counts) + count(
        objects.muon_mask(muons, cuts), muons.counts)


def one_lepton_jets(chunk: ChunkInput, cuts: ObjectCuts) -> tuple[Flat, tuple[np.ndarray, ...]]:
    """The jets of the events with exactly one tight lepton, and those events' ids (run, lumi,
    event): the cheapest cut, applied before any variation is computed."""
    one_lepton = lepton_count(chunk.electrons, chunk.muons, cuts) == 1
    return chunk.jets.events(one_lepton), (chunk.run[one_lepton], chunk.lumi[one_lepton], chunk.event[one_lepton])


# The jet-pt shifts, each once: name -> per-jet pt of (jets, event ids, variations, seed). The
# plugin's variation registry and the relaxed analysis are derived from this table.
JET_PT_SHIFTS: dict[str, Callable[[Flat, tuple[np.ndarray, ...], Variations, int], np.ndarray]] = {
    "pt_scale_up": lambda jets, ids, v, seed: jets.pt * np.float32(v.pt_scale_factor),
    "pt_res_up": lambda jets, ids, v, seed: jets.pt * systematics.resolution_factors_flat(
        *ids, jets.counts, v.pt_resolution, seed),
}


def jet_pts(jets: Flat, ids: tuple[np.ndarray, ...], variations: Variations, seed: int,
            shifts: bool) -> dict[str, np.ndarray]:
    """Per-jet pt: ``nominal``, and every shift of ``JET_PT_SHIFTS`` when ``shifts``."""
    pts = {"nominal": jets.pt}
    if shifts:
        pts.update({name: shift(jets, ids, variations, seed) for name, shift in JET_PT_SHIFTS.items()})
    return pts


def analyse(chunk: ChunkInput, options: Options) -> Filled:
    """Observable values and weights per (region, variation); "nominal" is the nominal."""
    jets, ids = one_lepton_jets(chunk, options.cuts)
    filled: Filled = {}
    for pt_variation, pt in jet_pts(jets, ids, options.variations, options.seed, options.systematics).items():
        _fill_variation(filled, jets.with_field("pt", pt), pt_variation, options)
    return filled


def _fill_variation(filled: Filled, jets: Flat, pt_variation: str, options: Options) -> None:
    cuts = options.cuts
    selected = jets.objects(objects.jet_mask(jets, jets.pt, cuts))
    selected = selected.events(selected.counts >= cuts.min_jets)
    is_btag = objects.btag_mask(selected, cuts)
    n_btags = count(is_btag, selected.counts)
    for region in options.regions:
        in_region = regions.btag_region(n_btags, region.selection["min_btags"], region.selection.get("max_btags"))
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
