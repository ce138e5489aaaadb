"""Detector response to leptons and the four-lepton skim of the ntuples.

For each truth lepton, in order:

1. final-state radiation and (for electrons) bremsstrahlung not recovered: with a small
   probability the lepton loses an exponentially distributed fraction of its energy (the low
   tail of the four-lepton mass);
2. acceptance: electrons |eta| < 2.47 and pt > 7 GeV, muons |eta| < 2.5 and pt > 5 GeV;
3. efficiency of reconstruction, identification, isolation and trigger: a plateau with a
   turn-on above threshold;
4. momentum resolution: muons ~2 % at low pt (multiple scattering) growing with pt
   (sagitta) and with |eta|; electrons a calorimeter stochastic term plus a constant term,
   growing with |eta|. The whole four-momentum is scaled (the lepton mass is kept).

The skim keeps events with at least four reconstructed leptons, as the "4lep" ntuples do.
"""

from __future__ import annotations

import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import ELECTRON, Leptons
from agcflow.physics.fourvectors import pt_eta_phi

SKIM_LEPTONS = 4
ETA_MAX = {ELECTRON: 2.47, "muon": 2.5}
PT_MIN = {ELECTRON: 7.0, "muon": 5.0}  # GeV
_PLATEAU_EFFICIENCY = {ELECTRON: 0.84, "muon": 0.90}
_TURN_ON = 6.0  # GeV: efficiency = plateau * (1 - 0.5 exp(-(pt - threshold) / _TURN_ON))
_RADIATION_PROBABILITY = {ELECTRON: 0.06, "muon": 0.03}
_RADIATION_FRACTION = (0.10, 0.08)  # minimum and mean excess of the energy fraction lost
# muon: constant term, sagitta term [1/GeV], |eta| growth; electron: stochastic [sqrt(GeV)], constant, |eta| growth
_MUON_RESOLUTION = (0.0215, 1.5e-4, 0.25)
_ELECTRON_RESOLUTION = (0.13, 0.021, 0.30)


def by_flavour(flavour: np.ndarray, table: dict) -> np.ndarray:
    """Per-lepton value of a table with an ELECTRON and a "muon" entry."""
    return np.where(flavour == ELECTRON, table[ELECTRON], table["muon"])


def resolution(flavour: np.ndarray, pt: np.ndarray, eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Relative momentum resolution of each lepton."""
    constant, sagitta, muon_eta = _MUON_RESOLUTION
    muon = np.hypot(constant, sagitta * pt) * (1.0 + muon_eta * np.abs(eta))
    stochastic, floor, electron_eta = _ELECTRON_RESOLUTION
    electron = np.hypot(stochastic / np.sqrt(energy), floor) * (1.0 + electron_eta * np.abs(eta))
    return np.where(flavour == ELECTRON, electron, muon)


def reconstruct(rng: np.random.Generator, truth: Leptons) -> Leptons:
    """The reconstructed leptons: radiation losses, acceptance, efficiency and resolution."""
    n = len(truth)
    loses = rng.uniform(size=n) < by_flavour(truth.flavour, _RADIATION_PROBABILITY)
    lost = np.minimum(_RADIATION_FRACTION[0] + rng.exponential(_RADIATION_FRACTION[1], n), 0.6)
    kept_fraction = 1.0 - np.where(loses, lost, 0.0)
    p4 = truth.p4 * kept_fraction
    pt, eta, _ = pt_eta_phi(p4)
    threshold = by_flavour(truth.flavour, PT_MIN)
    efficiency = by_flavour(truth.flavour, _PLATEAU_EFFICIENCY) * (
        1.0 - 0.5 * np.exp(-np.maximum(pt - threshold, 0.0) / _TURN_ON)
    )
    accepted = (
        (pt > threshold)
        & (np.abs(eta) < by_flavour(truth.flavour, ETA_MAX))
        & (rng.uniform(size=n) < efficiency)
    )
    leptons = Leptons(truth.event, p4, truth.flavour, truth.charge, truth.prompt).select(accepted)
    smear = rng.normal(1.0, resolution(leptons.flavour, pt[accepted], eta[accepted], leptons.p4[0]))
    leptons.p4 = leptons.p4 * np.maximum(smear, 0.05)
    return leptons


def skim(leptons: Leptons, n_events: int) -> tuple[Leptons, np.ndarray]:
    """The leptons of the events with at least four leptons, renumbered, and those events' indices."""
    counts = np.bincount(leptons.event, minlength=n_events)
    passed = np.flatnonzero(counts >= SKIM_LEPTONS)
    new_index = np.full(n_events, -1)
    new_index[passed] = np.arange(len(passed))
    kept = leptons.select(counts[leptons.event] >= SKIM_LEPTONS)
    kept.event = new_index[kept.event]
    return kept, passed
