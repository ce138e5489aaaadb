"""Reconstructed electrons and muons: prompt, heavy-flavour and fake, with ID, isolation, sip3d."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    CHARM,
    ELECTRON,
    MUON,
    Particles,
)
from agcflow.physics.fourvectors import wrap_phi

_LEPTON_ACCEPTANCE = {ELECTRON: (5.0, 2.5, 0.88), MUON: (3.0, 2.4, 0.94)}  # pt, |eta|, eff
_LEPTON_PT_RESOLUTION = {ELECTRON: 0.02, MUON: 0.015}
_HEAVY_FLAVOUR_LEPTON_RATE = {BOTTOM: 0.2, CHARM: 0.1}  # per quark, half e, half mu
_FAKE_ELECTRON_RATE = 0.02  # per light parton above _FAKE_ELECTRON_PT_MIN
_FAKE_ELECTRON_PT_MIN = 20.0
_IN_FLIGHT_MUONS_PER_EVENT = 0.05


@dataclass(frozen=True)
class LeptonOrigin:
    """Identification and impact-parameter properties of leptons of one origin."""

    electron_id: tuple[float, float, float, float, float]  # P(cutBased = 0, ..., 4)
    muon_tight_id: float  # P(tightId)
    sip3d_tail_fraction: float  # sip3d ~ |N(0, 1.2)|, or exponential for this fraction
    sip3d_tail_mean: float


# The prompt-lepton ID efficiencies are lower than CMS's published ones: they absorb whatever
# else makes the real files' selection efficiency low, so that the yields match the reference.
PROMPT = LeptonOrigin((0.08, 0.12, 0.20, 0.32, 0.28), 0.55, 0.10, 5.0)
HEAVY_FLAVOUR = LeptonOrigin((0.30, 0.30, 0.20, 0.12, 0.08), 0.85, 0.8, 6.0)
FAKE = LeptonOrigin((0.60, 0.25, 0.10, 0.04, 0.01), 0.5, 0.5, 3.0)


def prompt_isolation(rng: np.random.Generator, n: int) -> np.ndarray:
    """pfRelIso04_all of leptons from W decays: mostly tiny, a tail when close to a jet."""
    near_jet = rng.uniform(size=n) < 0.3
    return np.where(near_jet, rng.exponential(0.2, n), rng.exponential(0.03, n))


def heavy_flavour_leptons(
    rng: np.random.Generator, partons: Particles
) -> tuple[Particles, np.ndarray]:
    """Leptons from semileptonic b and c decays inside jets, and their (large) isolation."""
    rate = np.select(
        [partons.pdg == BOTTOM, partons.pdg == CHARM],
        [_HEAVY_FLAVOUR_LEPTON_RATE[BOTTOM], _HEAVY_FLAVOUR_LEPTON_RATE[CHARM]],
        0.0,
    )
    parents = partons.select(rng.uniform(size=len(partons)) < rate)
    n = len(parents)
    momentum_fraction = rng.beta(1.6, 5.0, n)
    flavour = rng.choice([ELECTRON, MUON], n)
    leptons = collinear_leptons(rng, parents, momentum_fraction, flavour)
    isolation = (1.0 - momentum_fraction) / momentum_fraction * rng.uniform(0.3, 1.0, n)
    return leptons, isolation


def fake_electrons(rng: np.random.Generator, partons: Particles) -> tuple[Particles, np.ndarray]:
    """Electron candidates faked by light jets (conversions, pi0 overlaps)."""
    light = ~np.isin(partons.pdg, (BOTTOM, CHARM)) & (partons.pt > _FAKE_ELECTRON_PT_MIN)
    parents = partons.select(light & (rng.uniform(size=len(partons)) < _FAKE_ELECTRON_RATE))
    n = len(parents)
    momentum_fraction = rng.uniform(0.3, 0.95, n)
    electrons = collinear_leptons(rng, parents, momentum_fraction, ELECTRON)
    isolation = (1.0 - momentum_fraction) / momentum_fraction * rng.uniform(0.2, 1.0, n)
    return electrons, isolation


def in_flight_muons(rng: np.random.Generator, n_events: int) -> tuple[Particles, np.ndarray]:
    """Soft muons from pion and kaon decays in flight."""
    event = np.repeat(np.arange(n_events), rng.poisson(_IN_FLIGHT_MUONS_PER_EVENT, n_events))
    n = len(event)
    muons = Particles.build(
        event,
        3.0 + rng.exponential(4.0, n),
        rng.uniform(-2.4, 2.4, n),
        rng.uniform(-np.pi, np.pi, n),
        MUON,
        rng.choice([-1, 1], n),
    )
    return muons, 0.1 + rng.exponential(0.8, n)


def collinear_leptons(
    rng: np.random.Generator,
    parents: Particles,
    momentum_fraction: np.ndarray,
    pdg: int | np.ndarray,
) -> Particles:
    """Leptons carrying a fraction of their parent's momentum, close to its direction."""
    n = len(parents)
    return Particles.build(
        parents.event,
        parents.pt * momentum_fraction,
        parents.eta + rng.normal(0.0, 0.05, n),
        wrap_phi(parents.phi + rng.normal(0.0, 0.05, n)),
        pdg,
        rng.choice([-1, 1], n),
    )


def lepton_columns(
    rng: np.random.Generator, leptons: Particles, isolation: np.ndarray, origin: LeptonOrigin
) -> dict[str, np.ndarray]:
    """Reconstructed leptons (acceptance, efficiency, resolution) with ID and sip3d by origin."""
    pt_min, eta_max, efficiency = (
        np.where(leptons.pdg == ELECTRON, e, mu)
        for e, mu in zip(_LEPTON_ACCEPTANCE[ELECTRON], _LEPTON_ACCEPTANCE[MUON], strict=True)
    )
    keep = (
        (leptons.pt > pt_min)
        & (np.abs(leptons.eta) < eta_max)
        & (rng.uniform(size=len(leptons)) < efficiency)
    )
    leptons, isolation = leptons.select(keep), isolation[keep]
    n = len(leptons)
    resolution = np.where(
        leptons.pdg == ELECTRON, _LEPTON_PT_RESOLUTION[ELECTRON], _LEPTON_PT_RESOLUTION[MUON]
    )
    in_tail = rng.uniform(size=n) < origin.sip3d_tail_fraction
    return {
        "event": leptons.event,
        "pdg": leptons.pdg,
        "pt": leptons.pt * rng.normal(1.0, resolution),
        "eta": leptons.eta,
        "phi": leptons.phi,
        "mass": leptons.mass,
        "charge": leptons.charge,
        "sip3d": np.where(
            in_tail, rng.exponential(origin.sip3d_tail_mean, n), np.abs(rng.normal(0.0, 1.2, n))
        ),
        "pfRelIso04_all": isolation,
        "cutBased": rng.choice(5, n, p=origin.electron_id),
        "tightId": rng.uniform(size=n) < origin.muon_tight_id,
    }
