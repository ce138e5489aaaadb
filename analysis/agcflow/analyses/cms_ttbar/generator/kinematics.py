"""The ttbar generator's kinematics: momenta from rapidity, falling spectra, recoils, particle
ranks (boosts, decays and resonances: :mod:`agcflow.physics.fourvectors`)."""

from __future__ import annotations

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import Particles


def four_momentum(
    px: np.ndarray, py: np.ndarray, rapidity: np.ndarray, mass: np.ndarray
) -> np.ndarray:
    """(E, px, py, pz) from transverse momentum, rapidity and mass."""
    mt = np.sqrt(px**2 + py**2 + mass**2)
    return np.stack([mt * np.cosh(rapidity), px, py, mt * np.sinh(rapidity)])


def pareto(rng: np.random.Generator, minimum: float, power: float, n: int) -> np.ndarray:
    """Falling spectrum dN/dpt ~ pt^-(power + 1) above ``minimum``."""
    return minimum * rng.uniform(0.0, 1.0, n) ** (-1.0 / power)


def recoil(particles: Particles, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Minus the vector sum of the transverse momenta of the particles of each event."""
    px = np.bincount(particles.event, particles.pt * np.cos(particles.phi), n_events)
    py = np.bincount(particles.event, particles.pt * np.sin(particles.phi), n_events)
    return -px, -py


def event_rank(event: np.ndarray, n_events: int) -> np.ndarray:
    """Position of each particle within its event, for particles grouped by event."""
    counts = np.bincount(event, minlength=n_events)
    return np.arange(len(event)) - (np.cumsum(counts) - counts)[event]
