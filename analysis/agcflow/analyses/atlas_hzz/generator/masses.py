"""Masses of the lepton pairs of a four-lepton decay: on-shell Z, off-shell Z* and virtual photons.

A parent of fixed mass M decays to two lepton pairs of masses m1, m2 with the density

    P1(m1) P2(m2) lambda^(1/2)(1, x1, x2) (lambda(1, x1, x2) + 12 x1 x2),   x_i = m_i^2 / M^2,

the decay of a scalar to two vector bosons (H -> ZZ*), where P is a pair's propagator: a
relativistic Breit-Wigner for a Z (``"Z"``) or 1/m for a virtual photon (``"gamma"``). The
density is tabulated on a fine grid once per (M, propagators) and sampled cell by cell, with
a uniform position inside the cell; pairs lighter than ``PAIR_MASS_MIN`` are not generated
(the samples' generator cut).
"""

from __future__ import annotations

import functools

import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import Z_MASS, Z_WIDTH

PAIR_MASS_MIN = 4.0  # GeV
_GRID_STEP = 0.1  # GeV


def propagator(shape: str, mass: np.ndarray) -> np.ndarray:
    """Density in m of a lepton pair from a Z (``"Z"``) or a virtual photon (``"gamma"``)."""
    if shape == "Z":
        return 2.0 * mass / ((mass**2 - Z_MASS**2) ** 2 + (Z_MASS * Z_WIDTH) ** 2)
    if shape == "gamma":
        return 1.0 / mass
    raise ValueError(f"unknown propagator {shape!r}; valid: 'Z', 'gamma'")


@functools.lru_cache(maxsize=8)
def _pair_mass_table(parent_mass: float, shapes: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Grid cell lower edges, cumulative probabilities of the cells and the grid size."""
    edges = np.arange(PAIR_MASS_MIN, parent_mass - PAIR_MASS_MIN, _GRID_STEP)
    centres = edges + 0.5 * _GRID_STEP
    m1, m2 = np.meshgrid(centres, centres, indexing="ij")
    x1, x2 = (m1 / parent_mass) ** 2, (m2 / parent_mass) ** 2
    lam = np.maximum((1.0 - x1 - x2) ** 2 - 4.0 * x1 * x2, 0.0)
    allowed = (m1 + m2 + _GRID_STEP) < parent_mass
    density = propagator(shapes[0], m1) * propagator(shapes[1], m2) * np.sqrt(lam) * (lam + 12.0 * x1 * x2)
    cumulative = np.cumsum(np.where(allowed, density, 0.0).ravel())
    return edges, cumulative / cumulative[-1], len(edges)


def pair_masses(
    rng: np.random.Generator, parent_mass: float, n: int, shapes: tuple[str, str] = ("Z", "Z")
) -> tuple[np.ndarray, np.ndarray]:
    """Masses of the two lepton pairs of ``n`` decays of a parent of mass ``parent_mass``."""
    edges, cumulative, size = _pair_mass_table(float(parent_mass), shapes)
    cell = np.minimum(np.searchsorted(cumulative, rng.uniform(size=n), side="right"), size * size - 1)
    m1 = edges[cell // size] + rng.uniform(0.0, _GRID_STEP, n)
    m2 = edges[cell % size] + rng.uniform(0.0, _GRID_STEP, n)
    return m1, m2
