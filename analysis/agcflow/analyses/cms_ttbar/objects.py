"""Object definitions: tight leptons, analysis jets, b-tags. Awkward in, awkward out.

Each function takes a collection (records with NanoAOD field names) and the cut values;
``cuts`` is any object with the attributes of ``agcflow.analyses.cms_ttbar.settings.ObjectCuts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

if TYPE_CHECKING:
    from agcflow.analyses.cms_ttbar.settings import ObjectCuts


def electron_mask(electrons: ak.Array, cuts: ObjectCuts) -> ak.Array:
    """Tight electrons: pt, |eta|, cutBased == tight, sip3d."""
    return (
        (electrons.pt > cuts.electron_pt_min)
        & (np.abs(electrons.eta) < cuts.electron_abs_eta_max)
        & (electrons.cutBased == cuts.electron_cut_based)
        & (electrons.sip3d < cuts.electron_sip3d_max)
    )


def muon_mask(muons: ak.Array, cuts: ObjectCuts) -> ak.Array:
    """Tight, isolated muons: pt, |eta|, tightId, sip3d, pfRelIso04_all."""
    return (
        (muons.pt > cuts.muon_pt_min)
        & (np.abs(muons.eta) < cuts.muon_abs_eta_max)
        & muons.tightId
        & (muons.sip3d < cuts.muon_sip3d_max)
        & (muons.pfRelIso04_all < cuts.muon_iso_max)
    )


def jet_id_mask(jets: ak.Array, cuts: ObjectCuts) -> ak.Array:
    """Jets with the tight-lepton-veto bit (``jetId & id_mask``) set."""
    return (jets.jetId & cuts.jet_id_mask) != 0


def jet_mask(jets: ak.Array, pt: ak.Array, cuts: ObjectCuts) -> ak.Array:
    """Analysis jets: (possibly varied) ``pt`` above threshold, |eta|, jet id."""
    return (pt > cuts.jet_pt_min) & (np.abs(jets.eta) < cuts.jet_abs_eta_max) & jet_id_mask(jets, cuts)


def btag_mask(jets: ak.Array, cuts: ObjectCuts) -> ak.Array:
    """b-tagged jets: btagCSVV2 strictly above the working point."""
    return jets.btagCSVV2 > cuts.btag_min
