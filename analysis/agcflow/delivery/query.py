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

import awkward as ak
import numpy as np

from agcflow.config import ObjectCuts, Preselection
from agcflow.physics import objects

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


def preselection_mask(columns: Mapping[str, ak.Array], query: DeliveryQuery) -> np.ndarray:
    """Boolean mask of the events passing the query's preselection."""
    p, c = query.preselection, query.cuts
    loose = dataclasses.replace(c, electron_pt_min=p.lepton_pt_min, muon_pt_min=p.lepton_pt_min)
    n_leptons = ak.sum(objects.electron_mask(_collection(columns, "Electron"), loose), axis=1) + ak.sum(
        objects.muon_mask(_collection(columns, "Muon"), loose), axis=1
    )
    jets = _collection(columns, "Jet")
    good_jets = (jets.pt > p.jet_pt_min) & objects.jet_id_mask(jets, c)
    n_jets = ak.sum(good_jets, axis=1)
    n_btags = ak.sum(good_jets & (jets.btagCSVV2 > p.btag_min), axis=1)
    mask = (n_leptons == 1) & (n_jets >= p.min_jets) & (n_btags >= p.min_btags)
    return ak.to_numpy(mask)


def _collection(columns: Mapping[str, ak.Array], name: str) -> ak.Array:
    """A record view of one collection's columns (no copy of the data)."""
    fields = OBJECT_COLUMNS[name]
    return ak.zip({f: columns[f"{name}_{f}"] for f in fields if f"{name}_{f}" in columns}, depth_limit=None)
