"""Particle codes, masses and the flat per-particle list that all generator steps exchange."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# particle codes: absolute PDG ids, plus the visible part of a hadronic tau decay
LIGHT, CHARM, BOTTOM, GLUON = 1, 4, 5, 21
ELECTRON, MUON, TAU, HADRONIC_TAU = 11, 13, 15, 115
PILEUP = 0

# masses and widths [GeV]
TOP_MASS, TOP_WIDTH = 172.5, 1.4
W_MASS, W_WIDTH = 80.4, 2.1
MASSES = {
    LIGHT: 0.0,
    CHARM: 1.5,
    BOTTOM: 4.8,
    GLUON: 0.0,
    ELECTRON: 0.000511,
    MUON: 0.10566,
    TAU: 1.777,
}


@dataclass
class Particles:
    """Flat list of the particles of many events, one entry per particle."""

    event: np.ndarray  # index of the event in the file
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    pdg: np.ndarray  # particle code (see above)
    charge: np.ndarray

    @classmethod
    def concat(cls, *parts: Particles) -> Particles:
        """Join particle lists; the order within an event does not matter."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    @classmethod
    def build(
        cls,
        event: np.ndarray,
        pt: np.ndarray,
        eta: np.ndarray,
        phi: np.ndarray,
        pdg: int | np.ndarray,
        charge: int | np.ndarray = 0,
    ) -> Particles:
        """Particles at their nominal mass (from the particle code)."""
        codes = np.broadcast_to(pdg, pt.shape).astype(np.int64)
        return cls(
            event,
            pt,
            eta,
            phi,
            mass_of(codes),
            codes,
            np.broadcast_to(charge, pt.shape).astype(np.int64),
        )

    @classmethod
    def from_p4(
        cls, p4: np.ndarray, pdg: int | np.ndarray, charge: int | np.ndarray = 0
    ) -> Particles:
        """One particle per event from (E, px, py, pz) columns."""
        energy, px, py, pz = p4
        pt = np.hypot(px, py)
        mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
        particles = cls.build(
            np.arange(len(pt)), pt, np.arcsinh(pz / pt), np.arctan2(py, px), pdg, charge
        )
        particles.mass = mass
        return particles

    def select(self, mask: np.ndarray) -> Particles:
        """The particles where mask is true."""
        return Particles(*(getattr(self, f.name)[mask] for f in fields(self)))

    def __len__(self) -> int:
        return len(self.pt)


def mass_of(codes: np.ndarray) -> np.ndarray:
    """Nominal mass of each particle code (0 for unknown codes)."""
    table = np.zeros(HADRONIC_TAU + 1)
    for code, mass in MASSES.items():
        table[code] = mass
    return table[codes]
