"""Processes with non-prompt leptons (Z + jets, dileptonic ttbar) and extra fake leptons.

Z + jets and ttbar have two prompt leptons; they enter the four-lepton skim only with two (or
three) more non-prompt leptons: from semileptonic b and c decays in jets or faked by light
hadrons. These are soft (pt from a steeply falling spectrum just above the thresholds), close
to a jet direction, with random charge and flavour, so that only part of the skimmed events
pass the analysis' charge and flavour requirements. The generator produces only such events;
how rare they are is the filter efficiency (``samples``).

Every MC process also gets, with a small probability, one extra fake lepton: the events with
five leptons that the skim (>= 4 leptons) keeps and the analysis (exactly 4) removes.
"""

from __future__ import annotations

import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import (
    ELECTRON,
    MUON,
    Z_MASS,
    Z_WIDTH,
    Leptons,
    lepton_pairs,
    production,
    random_flavours,
    single_leptons,
)
from agcflow.physics.fourvectors import breit_wigner, wrap_phi

EXTRA_FAKE_PROBABILITY = 0.05  # per event of every MC process
THIRD_NONPROMPT_PROBABILITY = 0.25  # per Z + jets or ttbar event, on top of two
_NONPROMPT_PT = (3.5, 6.0)  # minimum and mean excess [GeV] of the exponential pt spectrum
_FAKE_PT = (4.0, 10.0)
_Z_PT = (1.3, 20.0)  # Gamma shape, scale [GeV]
_JET_SPREAD = 0.35  # spread of non-prompt leptons around their jet (eta and phi)


def zjets(rng: np.random.Generator, n: int, flavour: int) -> Leptons:
    """Z -> ee or mumu plus non-prompt leptons from the recoiling jets."""
    mass = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    z = production(rng, mass, n, _Z_PT, 1.8)
    event = np.arange(n)
    prompt = lepton_pairs(rng, event, z, np.full(n, flavour))
    jet_phi = np.arctan2(z[2], z[1]) + np.pi + rng.normal(0.0, 0.6, n)
    jet_eta = rng.normal(0.0, 1.4, n)
    return Leptons.concat(prompt, nonprompt_leptons(rng, jet_eta, jet_phi, rng.gamma(2.0, 15.0, n)))


def zee(rng: np.random.Generator, n: int) -> Leptons:
    """Z -> ee + jets."""
    return zjets(rng, n, ELECTRON)


def zmumu(rng: np.random.Generator, n: int) -> Leptons:
    """Z -> mumu + jets."""
    return zjets(rng, n, MUON)


def ttbar(rng: np.random.Generator, n: int) -> Leptons:
    """Dileptonic ttbar: two prompt opposite-charge leptons (e or mu) from the W decays, and
    non-prompt leptons from the b jets."""
    event = np.arange(n)
    charge = rng.choice([-1, 1], n)
    tops = [production(rng, np.full(n, 172.5), n, (1.8, 55.0), 1.3) for _ in range(2)]
    parts = []
    for top, sign in zip(tops, (1, -1), strict=True):
        pt, eta, phi = _decay_product(rng, top, 0.45)
        flavour = random_flavours(rng, n)
        parts.append(single_leptons(rng, event, pt, eta, phi, True, flavour, sign * charge))
    b_eta, b_phi = [], []
    for top in tops:
        _, eta, phi = _decay_product(rng, top, 0.35)
        b_eta.append(eta)
        b_phi.append(phi)
    jet = rng.integers(0, 2, n)
    jet_eta = np.where(jet == 0, b_eta[0], b_eta[1])
    jet_phi = np.where(jet == 0, b_phi[0], b_phi[1])
    return Leptons.concat(*parts, nonprompt_leptons(rng, jet_eta, jet_phi, rng.gamma(2.0, 20.0, n)))


def nonprompt_leptons(
    rng: np.random.Generator, jet_eta: np.ndarray, jet_phi: np.ndarray, jet_pt: np.ndarray
) -> Leptons:
    """Two or three soft leptons per event near its jet, random in charge and flavour."""
    n = len(jet_eta)
    multiplicity = 2 + (rng.uniform(size=n) < THIRD_NONPROMPT_PROBABILITY)
    event = np.repeat(np.arange(n), multiplicity)
    k = len(event)
    pt = _NONPROMPT_PT[0] + rng.exponential(_NONPROMPT_PT[1], k) + 0.05 * jet_pt[event] * rng.uniform(size=k)
    eta = jet_eta[event] + rng.normal(0.0, _JET_SPREAD, k)
    phi = wrap_phi(jet_phi[event] + rng.normal(0.0, _JET_SPREAD, k))
    return single_leptons(rng, event, pt, eta, phi, False)


def extra_fakes(rng: np.random.Generator, n: int) -> Leptons:
    """One fake lepton in a small fraction of ``n`` events (uniform in eta and phi, soft)."""
    event = np.flatnonzero(rng.uniform(size=n) < EXTRA_FAKE_PROBABILITY)
    k = len(event)
    pt = _FAKE_PT[0] + rng.exponential(_FAKE_PT[1], k)
    return single_leptons(rng, event, pt, rng.uniform(-2.5, 2.5, k), rng.uniform(-np.pi, np.pi, k), False)


def _decay_product(rng: np.random.Generator, top: np.ndarray, fraction: float) -> tuple[np.ndarray, ...]:
    """pt, eta, phi of a top decay product carrying about ``fraction`` of its momentum, near it."""
    n = top.shape[1]
    pt = np.hypot(top[1], top[2])
    eta = np.arcsinh(top[3] / np.maximum(pt, 1e-9))
    phi = np.arctan2(top[2], top[1])
    product_pt = pt * fraction * rng.uniform(0.3, 1.7, n) + rng.exponential(20.0, n)
    return product_pt, eta + rng.normal(0.0, 0.6, n), wrap_phi(phi + rng.normal(0.0, 0.8, n))

