"""The four-lepton selection and m4l on flat numpy arrays: pure array logic, no I/O.

Every delivered event has exactly four leptons (the query's ``lep_n == 4``), so the per-lepton
arrays are reshaped to (events, 4) and summed along the second axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from agcflow.analyses.atlas_hzz.settings import Selection

MEV_PER_GEV = 1000.0
LEPTONS = 4


@dataclass(frozen=True)
class FourLeptons:
    """Per-lepton arrays of shape (events, 4): momenta and energies in MeV, charges, types."""

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    energy: np.ndarray
    charge: np.ndarray
    type: np.ndarray

    @classmethod
    def from_flat(cls, flat: Mapping[str, np.ndarray]) -> FourLeptons:
        """From flat delivered columns (``nlep``, ``lep_pt``, ...); every event must have four."""
        counts = np.asarray(flat["nlep"])
        if counts.size and not np.all(counts == LEPTONS):
            bad = sorted(set(np.unique(counts).tolist()) - {LEPTONS})
            raise ValueError(f"the H->ZZ*->4l selection needs exactly {LEPTONS} leptons per event; delivered events "
                             f"have {bad} (delivery.preselection.lep_n must be {LEPTONS})")

        def per_event(name: str, dtype: type) -> np.ndarray:
            return np.asarray(flat[f"lep_{name}"], dtype=dtype).reshape(-1, LEPTONS)

        return cls(per_event("pt", np.float64), per_event("eta", np.float64), per_event("phi", np.float64),
                   per_event("E", np.float64), per_event("charge", np.int64), per_event("type", np.int64))


def m4l(leptons: FourLeptons) -> np.ndarray:
    """The invariant mass of the four leptons in GeV."""
    px = (leptons.pt * np.cos(leptons.phi)).sum(axis=1)
    py = (leptons.pt * np.sin(leptons.phi)).sum(axis=1)
    pz = (leptons.pt * np.sinh(leptons.eta)).sum(axis=1)
    energy = leptons.energy.sum(axis=1)
    return np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0)) / MEV_PER_GEV


def selected(leptons: FourLeptons, selection: Selection) -> np.ndarray:
    """The AGC's selection: total charge ``total_charge`` and a sum of lepton types in
    ``type_sums`` (4e, 2e2mu or 4mu)."""
    charge_ok = leptons.charge.sum(axis=1) == selection.total_charge
    flavour_ok = np.isin(leptons.type.sum(axis=1), selection.type_sums)
    return charge_ok & flavour_ok
