"""Four-vector helpers for the synthetic generators (pure numpy): momenta, boosts, isotropic
two-body decays, resonance masses and spectra.

Four-momenta are ``(4, n)`` arrays of (E, px, py, pz) columns, one column per particle.
"""

from __future__ import annotations

import numpy as np


def p4_from_pt_eta_phi(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray | float) -> np.ndarray:
    """(E, px, py, pz) from transverse momentum, pseudorapidity, azimuth and mass."""
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + np.asarray(mass) ** 2)
    return np.stack([energy, pt * np.cos(phi), pt * np.sin(phi), pz])


def p4_from_pt_y_phi(pt: np.ndarray, rapidity: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """(E, px, py, pz) of systems (with a mass) from transverse momentum, rapidity and azimuth."""
    mt = np.sqrt(pt**2 + mass**2)
    return np.stack([mt * np.cosh(rapidity), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity)])


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass of (E, px, py, pz) columns (0 where rounding makes it imaginary)."""
    return np.sqrt(np.maximum(p4[0] ** 2 - np.sum(p4[1:] ** 2, axis=0), 0.0))


def pt_eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transverse momentum, pseudorapidity and azimuth of (E, px, py, pz) columns."""
    pt = np.hypot(p4[1], p4[2])
    eta = np.arcsinh(p4[3] / np.maximum(pt, 1e-9))
    return pt, eta, np.arctan2(p4[2], p4[1])


def boost(rest: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost (E, px, py, pz) from the rest frame of ``parent`` into the lab."""
    beta = parent[1:] / parent[0]
    gamma = parent[0] / np.maximum(invariant_mass(parent), 1e-9)
    beta_dot_p = np.sum(beta * rest[1:], axis=0)
    momentum = rest[1:] + (gamma**2 / (gamma + 1.0) * beta_dot_p + gamma * rest[0]) * beta
    return np.vstack([gamma * (rest[0] + beta_dot_p), momentum])


def breakup_momentum(mass: np.ndarray, mass1: np.ndarray, mass2: np.ndarray) -> np.ndarray:
    """Momentum of either daughter in the rest frame of a two-body decay (0 below threshold)."""
    product = (mass**2 - (mass1 + mass2) ** 2) * (mass**2 - (mass1 - mass2) ** 2)
    return np.sqrt(np.maximum(product, 0.0)) / (2.0 * mass)


def two_body_decay(
    rng: np.random.Generator, parent: np.ndarray, mass1: np.ndarray | float, mass2: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Decay each parent isotropically in its rest frame; return both daughters' four-momenta."""
    n = parent.shape[1]
    mass1 = np.broadcast_to(mass1, (n,))
    mass2 = np.broadcast_to(mass2, (n,))
    p_star = breakup_momentum(invariant_mass(parent), mass1, mass2)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    momentum = p_star * np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])
    daughter1 = np.vstack([np.sqrt(p_star**2 + mass1**2), momentum])
    daughter2 = np.vstack([np.sqrt(p_star**2 + mass2**2), -momentum])
    return boost(daughter1, parent), boost(daughter2, parent)


def breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int, n_widths: float = 5.0) -> np.ndarray:
    """Resonance masses from a Cauchy distribution truncated at +- ``n_widths`` widths."""
    limit = np.arctan(2.0 * n_widths)
    return mass + 0.5 * width * np.tan(rng.uniform(-limit, limit, n))


def log_uniform(rng: np.random.Generator, low: float, high: np.ndarray | float, n: int) -> np.ndarray:
    """Values with density 1/x between ``low`` and ``high`` (the spectrum of a virtual photon)."""
    return low * (np.asarray(high) / low) ** rng.uniform(0.0, 1.0, n)


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuthal angles wrapped into [-pi, pi)."""
    return (phi + np.pi) % (2 * np.pi) - np.pi
