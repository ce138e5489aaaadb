"""The delivery query, defined once: the columns the analysis reads and the loose preselection.

``func_adl_text`` renders it for func_adl (ServiceX's uproot transformer, func_adl_uproot);
``preselection_mask`` is the same selection on arrays, used by the local executor. A test
runs both on the same file and requires identical output.

Preselection (the AGC's): exactly one tight lepton, >= ``min_jets`` jets with pt above the
loose threshold and the tight-lepton-veto bit, >= ``min_btags`` of them b-tagged. It must stay
looser than every analysis selection it feeds (jet pt variations included).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from agcflow.config import ObjectCuts, Preselection
from agcflow.physics import objects
from agcflow.physics.jagged import Flat, count

EVENT_ID_COLUMNS = ("run", "luminosityBlock", "event")
OBJECT_COLUMNS = {
    "Electron": ("pt", "eta", "phi", "mass", "cutBased", "sip3d", "charge"),
    "Muon": ("pt", "eta", "phi", "mass", "tightId", "sip3d", "pfRelIso04_all", "charge"),
    "Jet": ("pt", "eta", "phi", "mass", "btagCSVV2", "jetId"),
}


def branch_names() -> tuple[str, ...]:
    """Every branch the query reads, counters included."""
    names = list(EVENT_ID_COLUMNS)
    for collection, fields in OBJECT_COLUMNS.items():
        names.append(f"n{collection}")
        names.extend(f"{collection}_{field}" for field in fields)
    return tuple(names)


@dataclass(frozen=True)
class DeliveryQuery:
    """The query's parameters: the loose preselection and the tight-lepton definition."""

    preselection: Preselection
    cuts: ObjectCuts

    def func_adl_text(self) -> str:
        """The query as func_adl method-chain text, e.g. for ``ds.Where(...).Select(...)``."""
        return "".join(f".Where({where!r})" for where in self.where_clauses()) + f".Select({self.select_clause()!r})"

    def where_clauses(self) -> tuple[str, ...]:
        """The ``Where`` lambdas of the query, in order."""
        p, c = self.preselection, self.cuts
        electron = (
            f"lambda e: {{'pt': e.Electron_pt, 'eta': e.Electron_eta, 'cb': e.Electron_cutBased, "
            f"'sip': e.Electron_sip3d}}.Zip().Where(lambda x: x.pt > {p.lepton_pt_min} "
            f"and abs(x.eta) < {c.electron_abs_eta_max} and x.cb == {c.electron_cut_based} "
            f"and x.sip < {c.electron_sip3d_max}).Count()"
        )
        muon = (
            f"{{'pt': e.Muon_pt, 'eta': e.Muon_eta, 'tid': e.Muon_tightId, 'sip': e.Muon_sip3d, "
            f"'iso': e.Muon_pfRelIso04_all}}.Zip().Where(lambda x: x.pt > {p.lepton_pt_min} "
            f"and abs(x.eta) < {c.muon_abs_eta_max} and x.tid and x.sip < {c.muon_sip3d_max} "
            f"and x.iso < {c.muon_iso_max}).Count() == 1"
        )
        jets = (
            f"{{'pt': e.Jet_pt, 'id': e.Jet_jetId, 'btag': e.Jet_btagCSVV2}}.Zip()"
            f".Where(lambda j: j.pt > {p.jet_pt_min} and (j.id & {c.jet_id_mask}) != 0)"
        )
        return (
            f"{electron} + {muon}",
            f"lambda e: {jets}.Count() >= {p.min_jets}",
            f"lambda e: {jets}.Where(lambda j: j.btag > {p.btag_min}).Count() >= {p.min_btags}",
        )

    def select_clause(self) -> str:
        """The ``Select`` lambda returning every delivered column."""
        columns = ", ".join(f"'{name}': e.{name}" for name in branch_names() if not _is_counter(name))
        return f"lambda e: {{{columns}}}"


def _is_counter(name: str) -> bool:
    return name[0] == "n" and name[1:] in OBJECT_COLUMNS


def preselection_mask(columns: Mapping[str, Any], query: DeliveryQuery) -> np.ndarray:
    """Boolean mask of the events passing the query's preselection; ``columns`` as read
    (jagged awkward arrays) or flat (:func:`flat_columns`)."""
    p, c = query.preselection, query.cuts
    loose = dataclasses.replace(c, electron_pt_min=p.lepton_pt_min, muon_pt_min=p.lepton_pt_min)
    flat = flat_columns(columns)
    electrons, muons, jets = (_collection(flat, name) for name in ("Electron", "Muon", "Jet"))
    n_leptons = count(objects.electron_mask(electrons, loose), electrons.counts) + count(
        objects.muon_mask(muons, loose), muons.counts
    )
    good_jets = (jets.pt > p.jet_pt_min) & objects.jet_id_mask(jets, c)
    n_jets = count(good_jets, jets.counts)
    n_btags = count(good_jets & (jets.btagCSVV2 > p.btag_min), jets.counts)
    return (n_leptons == 1) & (n_jets >= p.min_jets) & (n_btags >= p.min_btags)


def flat_columns(columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The delivered columns as flat numpy: the event ids, ``n{collection}`` objects per event
    and ``{collection}_{field}`` per object. Flat columns are returned as they are.
    (numpy on flat arrays: awkward's per-call broadcasting cost made the jagged version
    a third of the delivery time.)"""
    if all(isinstance(value, np.ndarray) for value in columns.values()):
        return dict(columns)
    flat = {name: ak.to_numpy(columns[name]) for name in EVENT_ID_COLUMNS if name in columns}
    for collection, fields in OBJECT_COLUMNS.items():
        present = [f for f in fields if f"{collection}_{f}" in columns]
        for f in present:
            counts, flat[f"{collection}_{f}"] = _counts_and_content(columns[f"{collection}_{f}"])
            flat[f"n{collection}"] = counts
    return flat


def _counts_and_content(array: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """Objects per event and the flat values of a jagged array; straight from the offsets
    of a list-offset layout (what uproot returns), without a copy."""
    layout = ak.to_layout(array)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        offsets = np.asarray(layout.offsets)
        return np.diff(offsets).astype(np.int64), np.asarray(layout.content.data)[offsets[0]:offsets[-1]]
    return ak.to_numpy(ak.num(array, axis=1)).astype(np.int64), ak.to_numpy(ak.flatten(array, axis=1))


def select_events(flat: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """Flat columns of the events where ``mask`` is true."""
    out = {name: flat[name][mask] for name in EVENT_ID_COLUMNS}
    for collection, fields in OBJECT_COLUMNS.items():
        counts = flat[f"n{collection}"]
        keep = np.repeat(mask, counts)
        out[f"n{collection}"] = counts[mask]
        out.update({f"{collection}_{f}": flat[f"{collection}_{f}"][keep] for f in fields})
    return out


def _collection(flat: Mapping[str, np.ndarray], name: str) -> Flat:
    """One collection of flat columns (no copy of the data)."""
    prefix = f"{name}_"
    return Flat(flat[f"n{name}"], {key[len(prefix):]: value for key, value in flat.items() if key.startswith(prefix)})
