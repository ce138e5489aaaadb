"""Four-vector helpers: momenta, boosts, two-body decays, resonance masses and spectra."""

from __future__ import annotations

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import Particles


def four_momentum(
    px: np.ndarray, py: np.ndarray, rapidity: np.ndarray, mass: np.ndarray
) -> np.ndarray:
    """(E, px, py, pz) from transverse momentum, rapidity and mass."""
    mt = np.sqrt(px**2 + py**2 + mass**2)
    return np.stack([mt * np.cosh(rapidity), px, py, mt * np.sinh(rapidity)])


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass of (E, px, py, pz) columns (0 where rounding makes it imaginary)."""
    return np.sqrt(np.maximum(p4[0] ** 2 - np.sum(p4[1:] ** 2, axis=0), 0.0))


def breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int) -> np.ndarray:
    """Resonance masses from a Cauchy distribution truncated at +- 5 widths."""
    limit = np.arctan(10.0)
    return mass + 0.5 * width * np.tan(rng.uniform(-limit, limit, n))


def boost(rest: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost (E, px, py, pz) from the rest frame of ``parent`` into the lab."""
    beta = parent[1:] / parent[0]
    gamma = parent[0] / np.maximum(invariant_mass(parent), 1e-9)
    beta_dot_p = np.sum(beta * rest[1:], axis=0)
    momentum = rest[1:] + (gamma**2 / (gamma + 1.0) * beta_dot_p + gamma * rest[0]) * beta
    return np.vstack([gamma * (rest[0] + beta_dot_p), momentum])


def two_body_decay(
    rng: np.random.Generator, parent: np.ndarray, mass1: np.ndarray, mass2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decay each parent isotropically in its rest frame; return both daughters' p4."""
    n = parent.shape[1]
    m = invariant_mass(parent)
    p_star = np.sqrt(
        np.maximum((m**2 - (mass1 + mass2) ** 2) * (m**2 - (mass1 - mass2) ** 2), 0.0)
    ) / (2 * m)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    momentum = p_star * np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])
    daughter1 = np.vstack([np.sqrt(p_star**2 + mass1**2), momentum])
    daughter2 = np.vstack([np.sqrt(p_star**2 + mass2**2), -momentum])
    return boost(daughter1, parent), boost(daughter2, parent)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuthal angles wrapped into [-pi, pi)."""
    return (phi + np.pi) % (2 * np.pi) - np.pi


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
