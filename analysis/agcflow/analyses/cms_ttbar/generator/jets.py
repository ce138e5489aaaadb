"""Detector-level jets: parton, pileup and lepton jets with their response, jet ID and CSVv2."""

from __future__ import annotations

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    CHARM,
    ELECTRON,
    MUON,
    PILEUP,
    Particles,
)
from agcflow.physics.fourvectors import wrap_phi

_JET_PT_MIN, _JET_ETA_MAX = 15.0, 4.7
_JET_RESPONSE_B, _JET_RESPONSE_LIGHT = 1.0, 1.02  # mean jet pt / parton pt
_JET_RESOLUTION = (2.5, 1.0, 0.05)  # noise [GeV], stochastic [GeV^1/2], constant terms
_PILEUP_JETS_PER_EVENT = 1.0
_PILEUP_JET_PT_SLOPE = 5.0  # [GeV], exponential above _JET_PT_MIN
_LEPTON_JET_PROBABILITY = 0.9  # an isolated e/mu also appears in the Jet collection
_TRACKER_ETA = 2.5
# b-tagging by hadron flavour (light, c, b): P(btagCSVV2 > 0.5) and the Beta(a, b) shapes of
# the score within (0.5, 1] when tagged and within [0, 0.5] when not
_BTAG_EFFICIENCY = np.array([0.06, 0.38, 0.82])
_BTAG_TAGGED_BETA = np.array([[1.0, 3.0], [1.2, 1.5], [3.0, 1.0]])
_BTAG_UNTAGGED_BETA = np.array([[0.7, 2.5], [1.5, 1.5], [2.0, 1.5]])


def parton_jets(rng: np.random.Generator, partons: Particles, response_scale: float) -> Particles:
    """Jets from partons: flavour-dependent response, pt-dependent resolution, a jet mass."""
    n = len(partons)
    noise, stochastic, constant = _JET_RESOLUTION
    resolution = np.sqrt((noise / partons.pt) ** 2 + stochastic**2 / partons.pt + constant**2)
    mean = np.where(partons.pdg == BOTTOM, _JET_RESPONSE_B, _JET_RESPONSE_LIGHT) * response_scale
    pt = partons.pt * np.maximum(rng.normal(mean, resolution), 0.05)
    return Particles(
        partons.event,
        pt,
        partons.eta + rng.normal(0.0, 0.02, n),
        wrap_phi(partons.phi + rng.normal(0.0, 0.02, n)),
        pt * rng.gamma(4.0, 0.03, n),
        partons.pdg,
        np.zeros(n, np.int64),
    )


def pileup_jets(rng: np.random.Generator, n_events: int) -> Particles:
    """Soft jets from additional proton-proton collisions, uniform in eta."""
    event = np.repeat(np.arange(n_events), rng.poisson(_PILEUP_JETS_PER_EVENT, n_events))
    n = len(event)
    pt = _JET_PT_MIN + rng.exponential(_PILEUP_JET_PT_SLOPE, n)
    jets = Particles.build(
        event,
        pt,
        rng.uniform(-_JET_ETA_MAX, _JET_ETA_MAX, n),
        rng.uniform(-np.pi, np.pi, n),
        PILEUP,
    )
    jets.mass = pt * rng.gamma(4.0, 0.03, n)
    return jets


def lepton_jets(rng: np.random.Generator, leptons: dict[str, np.ndarray]) -> Particles:
    """Isolated electrons and muons are clustered into jets too (failing the lepton veto)."""
    keep = (leptons["pt"] > _JET_PT_MIN / 1.2) & (
        rng.uniform(size=len(leptons["pt"])) < _LEPTON_JET_PROBABILITY
    )
    n = int(keep.sum())
    pt = leptons["pt"][keep] * rng.uniform(1.0, 1.2, n)
    jets = Particles.build(
        leptons["event"][keep], pt, leptons["eta"][keep], leptons["phi"][keep], leptons["pdg"][keep]
    )
    jets.mass = pt * rng.gamma(2.0, 0.02, n)
    return jets


def jet_id(rng: np.random.Generator, origin: np.ndarray) -> np.ndarray:
    """jetId bit flags: 6 (tight + lepton veto) for most jets, 2 or 0 for some and for leptons."""
    u = rng.uniform(size=len(origin))
    hadronic = np.select([u < 0.94, u < 0.98], [6, 2], 0)
    electron = np.where(u < 0.6, 2, 0)
    flags = np.select([origin == ELECTRON, origin == MUON], [electron, 2], hadronic)
    return flags.astype(np.int32)


def btag_scores(rng: np.random.Generator, origin: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """CSVv2 scores: a flavour-dependent chance to be above 0.5, then Beta-shaped within."""
    flavour = np.select([origin == BOTTOM, origin == CHARM], [2, 1], 0)
    in_tracker = np.abs(eta) < _TRACKER_ETA
    tagged = in_tracker & (rng.uniform(size=len(origin)) < _BTAG_EFFICIENCY[flavour])
    scores = np.empty(len(origin))
    shapes = zip(_BTAG_TAGGED_BETA, _BTAG_UNTAGGED_BETA, strict=True)
    for index, (above, below) in enumerate(shapes):
        for is_tagged, (a, b), offset in ((True, above, 0.5), (False, below, 0.0)):
            jets = (flavour == index) & (tagged == is_tagged)
            scores[jets] = offset + 0.5 * rng.beta(a, b, np.count_nonzero(jets))
    return scores


def jet_columns(rng: np.random.Generator, jets: Particles) -> dict[str, np.ndarray]:
    """NanoAOD jet columns of the jets above the NanoAOD threshold."""
    jets = jets.select((jets.pt > _JET_PT_MIN) & (np.abs(jets.eta) < _JET_ETA_MAX))
    return {
        "event": jets.event,
        "pt": jets.pt,
        "eta": jets.eta,
        "phi": jets.phi,
        "mass": jets.mass,
        "btagCSVV2": btag_scores(rng, jets.pdg, jets.eta),
        "jetId": jet_id(rng, jets.pdg),
    }
