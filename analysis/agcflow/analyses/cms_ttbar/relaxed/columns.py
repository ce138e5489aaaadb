"""The cached columns of all samples as padded per-event jet tables, for the relaxed analysis.

The cuts that are not optimised (leptons, jet |eta| and id) are applied here, exactly;
the jet pt and b-tag thresholds are left to :mod:`agcflow.analyses.cms_ttbar.relaxed.selection`. Events with
fewer jets than the region minimum can never be selected and are dropped. The 3-jet
combinations of every event are listed largest trijet pt first (ties in lexicographic
order, as the hard-cut m_bjj), with their masses, for each jet-pt variation.

Events are split into tables by jet multiplicity, each padded to its own largest count:
the combinations grow as n^3, and one table padded to the busiest event (15 jets, 455
combinations) takes 25 times the memory and time of the split ones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from agcflow.analyses.base import DeliveredSample, expected_variations
from agcflow.analyses.cms_ttbar import objects
from agcflow.analyses.cms_ttbar.observables import jet_triplets
from agcflow.analyses.cms_ttbar.selection import chunk_from_flat, jet_pts, one_lepton_jets
from agcflow.config import AnalysisSettings
from agcflow.physics.jagged import Flat

log = logging.getLogger(__name__)


class JetTable(NamedTuple):
    """Padded jets of many events, ``[events, jets]`` (a JAX pytree)."""

    pt: np.ndarray  # [E, J] GeV, 0 for padding
    btag: np.ndarray  # [E, J]
    real: np.ndarray  # [E, J] 1 for a jet passing the fixed cuts, 0 for padding
    combos: np.ndarray  # [E, C, 3] jet indices, largest trijet pt first
    combo_mass: np.ndarray  # [E, C]
    weight: np.ndarray  # [E] the sample's event weight
    group: np.ndarray  # [E] index into ``Events.groups``


@dataclass(frozen=True)
class Group:
    """The events of one sample under one jet-pt variation; ``variation`` names its
    histograms ("nominal", "pt_scale_up", "ME_var", ...). Event-weight variations are
    filled for the nominal jets of nominal samples (``weight_variations``)."""

    process: str
    variation: str
    weight_variations: bool
    scale_variation: bool


@dataclass(frozen=True)
class Events:
    """Every delivered sample and jet-pt variation, in :class:`JetTable` s by jet multiplicity."""

    tables: tuple[JetTable, ...]
    groups: tuple[Group, ...]


def load_events(samples: Mapping[str, DeliveredSample], analysis: AnalysisSettings, seed: int) -> Events:
    """All delivered samples' events, each jet-pt variation of a nominal sample a group;
    ``samples``: per sample a function reading its flat columns, and its metadata (process, variation, weight)."""
    groups: list[Group] = []
    parts: list[tuple[Flat, float]] = []
    for key, (read, meta) in samples.items():
        chunk = chunk_from_flat(dict(read()))
        nominal = meta["variation"] == "nominal"
        for name, jets in _jet_variations(chunk, analysis, seed, with_variations=nominal).items():
            groups.append(Group(meta["process"], meta["variation"] if name == "nominal" else name,
                                nominal and name == "nominal",
                                "scale_var_up" in expected_variations(analysis, meta["process"], meta["variation"])))
            parts.append((jets, float(meta["weight"])))
        log.info("relaxed analysis: %s, %d events", key, len(chunk.run))
    most = max(int(jets.counts.max(initial=0)) for jets, _ in parts)
    tables = []
    for low, high in multiplicity_buckets(analysis.options.cuts.min_jets, most):
        pieces = [_table(jets.events((jets.counts >= low) & (jets.counts <= high)), max(high, 3), weight, index)
                  for index, (jets, weight) in enumerate(parts)]
        tables.append(JetTable(*(np.concatenate(field) for field in zip(*pieces))))
    return Events(tuple(t for t in tables if len(t.weight)), tuple(groups))


def multiplicity_buckets(min_jets: int, most: int) -> list[tuple[int, int]]:
    """Jet-count ranges ``(low, high)``, both included, covering ``min_jets..most``: single
    counts where events are many, wider ranges in the sparse tail."""
    highs = sorted({h for h in (min_jets, min_jets + 1, min_jets + 2, min_jets + 4, min_jets + 6) if h < most} | {most})
    lows = [min_jets] + [h + 1 for h in highs[:-1]]
    return [(low, high) for low, high in zip(lows, highs) if low <= high]


def _jet_variations(chunk: Any, analysis: AnalysisSettings, seed: int, with_variations: bool) -> dict[str, Flat]:
    """Jets passing the fixed cuts in events with one lepton, per jet-pt variation."""
    cuts = analysis.options.cuts
    jets, ids = one_lepton_jets(chunk, cuts)
    pts = jet_pts(jets, ids, analysis.options.variations, seed, with_variations)
    fixed = (np.abs(jets.eta) < cuts.jet_abs_eta_max) & objects.jet_id_mask(jets, cuts)
    kept = jets.objects(fixed)
    return {name: kept.with_field("pt", pt[fixed]) for name, pt in pts.items()}


def _table(jets: Flat, n_jets: int, weight: float, group: int) -> JetTable:
    slot = np.arange(len(jets.pt)) - np.repeat(jets.starts, jets.counts)
    event = jets.event_index()

    def padded(values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(jets.counts), n_jets))
        out[event, slot] = values
        return out

    pt, eta, phi = padded(jets.pt), padded(jets.eta), padded(jets.phi)
    mass, real = padded(jets.mass), padded(np.ones(len(jets.pt)))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    combos = jet_triplets(n_jets)  # [C, 3], lexicographic
    sx, sy, sz, se = (v[:, combos].sum(axis=2) for v in (px, py, pz, energy))
    order = np.argsort(-np.hypot(sx, sy), axis=1, kind="stable")
    combo_mass = np.sqrt(np.maximum(se**2 - sx**2 - sy**2 - sz**2, 0.0))
    return JetTable(
        pt=pt,
        btag=padded(jets.btagCSVV2),
        real=real,
        combos=combos[order],
        combo_mass=np.take_along_axis(combo_mass, order, axis=1),
        weight=np.full(len(jets.counts), weight),
        group=np.full(len(jets.counts), group),
    )
