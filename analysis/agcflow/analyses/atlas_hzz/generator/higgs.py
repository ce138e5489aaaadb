"""Resonances decaying to four leptons: the Higgs boson (ggH, VBF, WH, ZH) and an RS graviton.

Each hard process returns the truth leptons of ``n`` events. The Higgs boson (width
negligible) decays to an on-shell Z and an off-shell Z* (``masses.pair_masses``), each Z to
an electron or muon pair with equal probability (4e : 4mu : 2e2mu = 1 : 1 : 2); all decays are
isotropic in the rest frame of the decaying particle, then boosted with the production
kinematics: a transverse-momentum spectrum and a rapidity distribution per production mode.
In WH and ZH the W or Z recoils against the Higgs boson and decays leptonically (to e or mu)
with its branching fraction, which gives events with five or six leptons.
"""

from __future__ import annotations

import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import (
    H_MASS,
    W_MASS,
    W_WIDTH,
    Z_MASS,
    Z_WIDTH,
    Leptons,
    four_leptons,
    lepton_pairs,
    mass_of,
    production,
    random_flavours,
)
from agcflow.analyses.atlas_hzz.generator.masses import pair_masses
from agcflow.physics.fourvectors import breit_wigner, p4_from_pt_y_phi, two_body_decay

GRAVITON_RELATIVE_WIDTH = 0.06  # Gamma / M of an RS graviton with k / M_Pl = 1.0
W_TO_LEPTON = 0.2136  # BR(W -> e nu) + BR(W -> mu nu)
Z_TO_LEPTONS = 0.0673  # BR(Z -> ee) + BR(Z -> mumu)

# production: (Gamma shape, Gamma scale [GeV]) of the Higgs pt, and the rapidity width
_HIGGS_PT = {"ggH": (1.4, 14.0), "VBF": (2.2, 30.0), "WH": (2.0, 28.0), "ZH": (2.0, 30.0)}
_HIGGS_RAPIDITY_WIDTH = {"ggH": 1.7, "VBF": 1.5, "WH": 1.2, "ZH": 1.2}


def higgs_to_four_leptons(rng: np.random.Generator, n: int, mode: str) -> tuple[Leptons, np.ndarray]:
    """H -> ZZ* -> 4l of one production mode; the leptons and the Higgs boson four-momenta."""
    higgs = production(rng, np.full(n, H_MASS), n, _HIGGS_PT[mode], _HIGGS_RAPIDITY_WIDTH[mode])
    m1, m2 = pair_masses(rng, H_MASS, n)
    return four_leptons(rng, higgs, m1, m2), higgs


def ggh(rng: np.random.Generator, n: int) -> Leptons:
    """Gluon-fusion Higgs production."""
    return higgs_to_four_leptons(rng, n, "ggH")[0]


def vbf(rng: np.random.Generator, n: int) -> Leptons:
    """Vector-boson-fusion Higgs production (harder Higgs boson pt; the jets are not stored)."""
    return higgs_to_four_leptons(rng, n, "VBF")[0]


def wh(rng: np.random.Generator, n: int) -> Leptons:
    """WH production: the W recoils against the Higgs boson and sometimes gives a fifth lepton."""
    leptons, higgs = higgs_to_four_leptons(rng, n, "WH")
    leptonic = np.flatnonzero(rng.uniform(size=n) < W_TO_LEPTON)
    w = _recoil(rng, higgs[:, leptonic], breit_wigner(rng, W_MASS, W_WIDTH, len(leptonic)))
    flavour = random_flavours(rng, len(leptonic))
    lepton, _ = two_body_decay(rng, w, mass_of(flavour), 0.0)
    charge = rng.choice([-1, 1], len(leptonic))
    return Leptons.concat(leptons, Leptons.build(leptonic, lepton, flavour, charge, True))


def zh(rng: np.random.Generator, n: int) -> Leptons:
    """ZH production: the Z recoils against the Higgs boson and sometimes gives two more leptons."""
    leptons, higgs = higgs_to_four_leptons(rng, n, "ZH")
    leptonic = np.flatnonzero(rng.uniform(size=n) < Z_TO_LEPTONS)
    z = _recoil(rng, higgs[:, leptonic], breit_wigner(rng, Z_MASS, Z_WIDTH, len(leptonic)))
    return Leptons.concat(leptons, lepton_pairs(rng, leptonic, z, random_flavours(rng, len(leptonic))))


def graviton(rng: np.random.Generator, n: int, mass: float) -> Leptons:
    """RS graviton G -> ZZ -> 4l: Breit-Wigner mass (width 6 % of ``mass``), two on-shell Z."""
    m1 = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    m2 = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    resonance = breit_wigner(rng, mass, GRAVITON_RELATIVE_WIDTH * mass, n, n_widths=4.0)
    resonance = np.maximum(resonance, m1 + m2 + 1.0)
    parent = production(rng, resonance, n, (1.5, 0.04 * mass + 10.0), 1.0)
    return four_leptons(rng, parent, m1, m2)


def _recoil(rng: np.random.Generator, higgs: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Four-momenta of vector bosons balancing the Higgs boson's pt, at a nearby rapidity."""
    pt = np.hypot(higgs[1], higgs[2])
    phi = np.arctan2(higgs[2], higgs[1]) + np.pi
    rapidity = np.arcsinh(higgs[3] / np.sqrt(pt**2 + H_MASS**2)) + rng.normal(0.0, 1.0, len(pt))
    return p4_from_pt_y_phi(pt, rapidity, phi, mass)
