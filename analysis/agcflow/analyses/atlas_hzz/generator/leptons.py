"""The flat lepton list that all generator steps exchange, and vector-boson decays into it."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from agcflow.physics.fourvectors import p4_from_pt_eta_phi, p4_from_pt_y_phi, two_body_decay

ELECTRON, MUON = 11, 13  # the ntuple's lep_type codes (absolute PDG ids)
LEPTON_MASS = {ELECTRON: 0.000511, MUON: 0.10566}  # GeV
Z_MASS, Z_WIDTH = 91.1876, 2.4952  # GeV
W_MASS, W_WIDTH = 80.379, 2.085
H_MASS = 125.0


@dataclass
class Leptons:
    """Leptons of many events, one entry per lepton, momenta in GeV."""

    event: np.ndarray  # index of the event in the batch
    p4: np.ndarray  # (4, n): E, px, py, pz
    flavour: np.ndarray  # ELECTRON or MUON
    charge: np.ndarray  # +1 or -1
    prompt: np.ndarray  # from a W, Z or H decay (false: heavy-flavour decay or fake)

    @classmethod
    def concat(cls, *parts: Leptons) -> Leptons:
        """Join lepton lists; the order within an event does not matter."""
        return cls(
            np.concatenate([p.event for p in parts]),
            np.concatenate([p.p4 for p in parts], axis=1),
            np.concatenate([p.flavour for p in parts]),
            np.concatenate([p.charge for p in parts]),
            np.concatenate([p.prompt for p in parts]),
        )

    @classmethod
    def build(
        cls, event: np.ndarray, p4: np.ndarray, flavour: np.ndarray | int, charge: np.ndarray | int, prompt: bool
    ) -> Leptons:
        """Leptons from their event indices and four-momenta; scalars are broadcast."""
        n = len(event)
        return cls(
            np.asarray(event, np.int64),
            p4,
            np.broadcast_to(flavour, (n,)).astype(np.int64),
            np.broadcast_to(charge, (n,)).astype(np.int64),
            np.full(n, prompt),
        )

    def select(self, mask: np.ndarray) -> Leptons:
        """The leptons where ``mask`` is true."""
        return Leptons(*(getattr(self, f.name)[..., mask] for f in fields(self)))

    def __len__(self) -> int:
        return len(self.event)


def random_flavours(rng: np.random.Generator, n: int, electron_fraction: float = 0.5) -> np.ndarray:
    """ELECTRON or MUON for ``n`` lepton pairs or single leptons."""
    return np.where(rng.uniform(size=n) < electron_fraction, ELECTRON, MUON)


def mass_of(flavour: np.ndarray) -> np.ndarray:
    """Lepton mass of each flavour code."""
    return np.where(flavour == ELECTRON, LEPTON_MASS[ELECTRON], LEPTON_MASS[MUON])


def lepton_pairs(
    rng: np.random.Generator, event: np.ndarray, parent: np.ndarray, flavour: np.ndarray
) -> Leptons:
    """Opposite-charge lepton pairs of the given flavours from isotropic decays of ``parent``."""
    mass = mass_of(flavour)
    first, second = two_body_decay(rng, parent, mass, mass)
    charge = rng.choice([-1, 1], len(event))
    return Leptons.concat(
        Leptons.build(event, first, flavour, charge, True),
        Leptons.build(event, second, flavour, -charge, True),
    )


def single_leptons(
    rng: np.random.Generator, event: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, prompt: bool,
    flavour: np.ndarray | None = None, charge: np.ndarray | None = None,
) -> Leptons:
    """Leptons from kinematics; flavour and charge random unless given."""
    n = len(event)
    flavour = random_flavours(rng, n) if flavour is None else flavour
    charge = rng.choice([-1, 1], n) if charge is None else charge
    return Leptons.build(event, p4_from_pt_eta_phi(pt, eta, phi, mass_of(flavour)), flavour, charge, prompt)


def production(
    rng: np.random.Generator, mass: np.ndarray, n: int, pt_shape: tuple[float, float], rapidity_width: float
) -> np.ndarray:
    """Lab four-momenta of produced resonances: pt from a Gamma spectrum, Gaussian rapidity."""
    pt = rng.gamma(pt_shape[0], pt_shape[1], n)
    return p4_from_pt_y_phi(pt, rng.normal(0.0, rapidity_width, n), rng.uniform(-np.pi, np.pi, n), mass)


def four_leptons(
    rng: np.random.Generator, parent: np.ndarray, m1: np.ndarray, m2: np.ndarray, event: np.ndarray | None = None
) -> Leptons:
    """Decay parents to two Z bosons of masses m1, m2 and each Z to an e or mu pair."""
    n = parent.shape[1]
    event = np.arange(n) if event is None else event
    z1, z2 = two_body_decay(rng, parent, m1, m2)
    return Leptons.concat(
        lepton_pairs(rng, event, z1, random_flavours(rng, n)),
        lepton_pairs(rng, event, z2, random_flavours(rng, n)),
    )
