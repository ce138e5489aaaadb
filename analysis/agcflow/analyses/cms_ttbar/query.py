"""The ttbar delivery query, defined once: the columns the analysis reads and the loose preselection.

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

import numpy as np

from agcflow.analyses.cms_ttbar import objects
from agcflow.analyses.cms_ttbar.selection import lepton_count
from agcflow.analyses.cms_ttbar.settings import ObjectCuts, Preselection
from agcflow.physics.columns import ColumnLayout
from agcflow.physics.jagged import count

LAYOUT = ColumnLayout(
    event=("run", "luminosityBlock", "event"),
    collections={
        "Electron": ("pt", "eta", "phi", "mass", "cutBased", "sip3d", "charge"),
        "Muon": ("pt", "eta", "phi", "mass", "tightId", "sip3d", "pfRelIso04_all", "charge"),
        "Jet": ("pt", "eta", "phi", "mass", "btagCSVV2", "jetId"),
    },
)


@dataclass(frozen=True)
class DeliveryQuery:
    """The query's parameters: the loose preselection and the tight-lepton definition."""

    preselection: Preselection
    cuts: ObjectCuts
    layout: ColumnLayout = LAYOUT

    def func_adl_text(self) -> str:
        """The query as func_adl method-chain text, e.g. for ``ds.Where(...).Select(...)``."""
        return "".join(f".Where({where!r})" for where in self.where_clauses()) + f".Select({self.select_clause()!r})"

    def record(self) -> dict[str, Any]:
        """The preselection, as the manifest records it."""
        return dataclasses.asdict(self.preselection)

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
        columns = ", ".join(f"'{name}': e.{name}" for name in self.layout.selected_names())
        return f"lambda e: {{{columns}}}"

    def preselection_mask(self, flat: Mapping[str, np.ndarray]) -> np.ndarray:
        """Boolean mask of the events passing the preselection; ``flat`` as ``LAYOUT.flat`` gives."""
        p, c = self.preselection, self.cuts
        loose = dataclasses.replace(c, electron_pt_min=p.lepton_pt_min, muon_pt_min=p.lepton_pt_min)
        electrons, muons, jets = (self.layout.collection(flat, name) for name in ("Electron", "Muon", "Jet"))
        n_leptons = lepton_count(electrons, muons, loose)
        good_jets = (jets.pt > p.jet_pt_min) & objects.jet_id_mask(jets, c)
        n_jets = count(good_jets, jets.counts)
        n_btags = count(good_jets & (jets.btagCSVV2 > p.btag_min), jets.counts)
        return (n_leptons == 1) & (n_jets >= p.min_jets) & (n_btags >= p.min_btags)


def preselection_mask(columns: Mapping[str, Any], query: DeliveryQuery) -> np.ndarray:
    """``query.preselection_mask`` of columns as read (jagged) or flat."""
    return query.preselection_mask(query.layout.flat(columns))
