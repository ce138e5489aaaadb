"""Decays of the heavy particles: W bosons, top quarks and tau leptons."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    CHARM,
    ELECTRON,
    HADRONIC_TAU,
    LIGHT,
    MASSES,
    MUON,
    TAU,
    TOP_MASS,
    W_MASS,
    W_WIDTH,
    Particles,
    mass_of,
)
from agcflow.physics.fourvectors import breit_wigner, two_body_decay

# W decays: (branching fraction, charged daughter, other visible daughter or 0); leptons first
_W_DECAYS = (
    (0.1071, ELECTRON, 0),
    (0.1063, MUON, 0),
    (0.1138, TAU, 0),
    (0.3364, LIGHT, LIGHT),
    (0.3364, CHARM, LIGHT),
)


def w_decay(
    rng: np.random.Generator, w: np.ndarray, charge: np.ndarray, leptonic_only: bool = False
) -> Particles:
    """Visible daughters of one W per event (neutrinos dropped); charge is the W charge."""
    modes = _W_DECAYS[:3] if leptonic_only else _W_DECAYS
    fractions = np.array([mode[0] for mode in modes])
    choice = rng.choice(len(modes), size=w.shape[1], p=fractions / fractions.sum())
    charged = np.array([mode[1] for mode in modes])[choice]
    other = np.array([mode[2] for mode in modes])[choice]
    p4_charged, p4_other = two_body_decay(rng, w, mass_of(charged), mass_of(other))
    return Particles.concat(
        Particles.from_p4(p4_charged, charged, charge),
        Particles.from_p4(p4_other, other).select(other != 0),
    )


def top_decay(rng: np.random.Generator, top: np.ndarray, charge: int | np.ndarray) -> Particles:
    """t -> W b with the W decayed inclusively; charge +1 for tops, -1 for antitops."""
    n = top.shape[1]
    w_mass = np.minimum(breit_wigner(rng, W_MASS, W_WIDTH, n), TOP_MASS - 10.0)
    w, b = two_body_decay(rng, top, w_mass, np.full(n, MASSES[BOTTOM]))
    w_charge = np.broadcast_to(charge, (n,))
    return Particles.concat(Particles.from_p4(b, BOTTOM), w_decay(rng, w, w_charge))


def decay_taus(rng: np.random.Generator, particles: Particles) -> Particles:
    """Replace taus by their visible decay product (e, mu or hadrons), collinear with the tau."""
    is_tau = particles.pdg == TAU
    n = int(is_tau.sum())
    u = rng.uniform(size=n)
    code = np.select([u < 0.178, u < 0.352], [ELECTRON, MUON], HADRONIC_TAU)
    visible_fraction = np.where(
        code == HADRONIC_TAU, rng.uniform(0.35, 1.0, n), rng.beta(1.3, 2.3, n)
    )
    pdg, pt = particles.pdg.copy(), particles.pt.copy()
    pdg[is_tau] = code
    pt[is_tau] *= visible_fraction
    return replace(particles, pdg=pdg, pt=pt, mass=mass_of(pdg))
