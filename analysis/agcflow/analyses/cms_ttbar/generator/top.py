"""Hard processes with top quarks: ttbar, single top (s, t channel and tW) and a Z' -> ttbar."""

from __future__ import annotations

import numpy as np

from agcflow.analyses.cms_ttbar.generator.decays import top_decay, w_decay
from agcflow.analyses.cms_ttbar.generator.kinematics import four_momentum, recoil
from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    LIGHT,
    MASSES,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    Particles,
)
from agcflow.analyses.cms_ttbar.generator.radiation import initial_state_radiation
from agcflow.analyses.cms_ttbar.generator.samples import HardProcess, Tune
from agcflow.physics.fourvectors import breit_wigner, two_body_decay

_TOP_PT_GAMMA = (2.2, 55.0)  # shape, scale [GeV] of the top-quark pt in ttbar
_SINGLE_TOP_PT_GAMMA = (2.2, 40.0)  # s-channel and tW
_SPECTATOR_B_PT_GAMMA, _SPECTATOR_B_ETA_WIDTH = (2.5, 18.0), 1.6
_TW_SPECTATOR_B_PROBABILITY = 0.65  # the b-bar of the g -> b b-bar that supplies the initial b


def recoiling_pair(
    rng: np.random.Generator,
    pt: np.ndarray,
    recoil_xy: tuple[np.ndarray, np.ndarray],
    masses: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Two back-to-back particles sharing the recoil against radiation; rapidities ~ N(0, 1)."""
    n = len(pt)
    phi = rng.uniform(-np.pi, np.pi, n)
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pair_rapidity, half_difference = rng.normal(0.0, 0.7, n), rng.normal(0.0, 0.75, n)
    recoil_x, recoil_y = recoil_xy
    first = four_momentum(
        px + recoil_x / 2, py + recoil_y / 2, pair_rapidity + half_difference, masses[0]
    )
    second = four_momentum(
        -px + recoil_x / 2, -py + recoil_y / 2, pair_rapidity - half_difference, masses[1]
    )
    return first, second


def ttbar(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
    """Top-quark pairs, all decay channels, with initial-state radiation."""
    radiation = initial_state_radiation(rng, n, "ttbar", tune)
    shape, scale = _TOP_PT_GAMMA
    masses = (
        breit_wigner(rng, TOP_MASS, TOP_WIDTH, n),
        breit_wigner(rng, TOP_MASS, TOP_WIDTH, n),
    )
    top, antitop = recoiling_pair(
        rng, rng.gamma(shape, scale * tune.top_pt_scale, n), recoil(radiation, n), masses
    )
    return Particles.concat(radiation, top_decay(rng, top, +1), top_decay(rng, antitop, -1))


def single_top_s_chan(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
    """q q' -> t b and its charge conjugate."""
    radiation = initial_state_radiation(rng, n, "single_top_s_chan", tune)
    top_mass = breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    top, b = recoiling_pair(
        rng,
        rng.gamma(*_SINGLE_TOP_PT_GAMMA, n),
        recoil(radiation, n),
        (top_mass, np.full(n, MASSES[BOTTOM])),
    )
    charge = top_charges(rng, n, top_fraction=0.66)
    return Particles.concat(radiation, Particles.from_p4(b, BOTTOM), top_decay(rng, top, charge))


def single_top_t_chan(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
    """b q -> t q' and its charge conjugate: a forward spectator quark, a soft second b."""
    radiation = initial_state_radiation(rng, n, "single_top_t_chan", tune)
    side = rng.choice([-1.0, 1.0], n)
    spectator = Particles.build(
        np.arange(n),
        rng.gamma(2.0, 22.0, n),
        side * rng.normal(2.5, 1.0, n),
        rng.uniform(-np.pi, np.pi, n),
        LIGHT,
    )
    second_b = spectator_b(rng, n, 1.0)
    recoil_x, recoil_y = recoil(Particles.concat(radiation, spectator, second_b), n)
    top = four_momentum(
        recoil_x + rng.normal(0.0, 10.0, n),
        recoil_y + rng.normal(0.0, 10.0, n),
        rng.normal(0.0, 1.2, n),
        breit_wigner(rng, TOP_MASS, TOP_WIDTH, n),
    )
    charge = top_charges(rng, n, top_fraction=0.63)
    return Particles.concat(radiation, spectator, second_b, top_decay(rng, top, charge))


def single_top_tw(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
    """g b -> tW- and its charge conjugate; both W bosons decay inclusively."""
    radiation = initial_state_radiation(rng, n, "single_top_tW", tune)
    masses = (
        breit_wigner(rng, TOP_MASS, TOP_WIDTH, n),
        breit_wigner(rng, W_MASS, W_WIDTH, n),
    )
    top, w = recoiling_pair(rng, rng.gamma(*_SINGLE_TOP_PT_GAMMA, n), recoil(radiation, n), masses)
    charge = top_charges(rng, n, top_fraction=0.5)
    return Particles.concat(
        radiation,
        spectator_b(rng, n, _TW_SPECTATOR_B_PROBABILITY),
        top_decay(rng, top, charge),
        w_decay(rng, w, -charge),
    )


def top_charges(rng: np.random.Generator, n: int, top_fraction: float) -> np.ndarray:
    """+1 for a top quark, -1 for an antitop, per event."""
    return np.where(rng.uniform(size=n) < top_fraction, 1, -1)


def spectator_b(rng: np.random.Generator, n_events: int, probability: float) -> Particles:
    """Soft, broad b quark left over from a gluon splitting into the initial-state b."""
    event = np.flatnonzero(rng.uniform(size=n_events) < probability)
    n = len(event)
    return Particles.build(
        event,
        rng.gamma(*_SPECTATOR_B_PT_GAMMA, n),
        rng.normal(0.0, _SPECTATOR_B_ETA_WIDTH, n),
        rng.uniform(-np.pi, np.pi, n),
        BOTTOM,
    )


ZPRIME_RELATIVE_WIDTH = 0.03  # Gamma / m of a generated Z' unless its parameters give `width`


def zprime(mass: float, relative_width: float = ZPRIME_RELATIVE_WIDTH) -> HardProcess:
    """Z' -> ttbar resonances of ``mass`` GeV and width ``relative_width * mass`` (Breit-Wigner),
    produced with the ISR recoil."""

    def hard_process(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
        radiation = initial_state_radiation(rng, n, "ttbar", tune)
        recoil_x, recoil_y = recoil(radiation, n)
        resonance = four_momentum(
            recoil_x, recoil_y, rng.normal(0.0, 0.8, n), breit_wigner(rng, mass, relative_width * mass, n)
        )
        masses = [breit_wigner(rng, TOP_MASS, TOP_WIDTH, n) for _ in range(2)]
        top, antitop = two_body_decay(rng, resonance, *masses)
        return Particles.concat(radiation, top_decay(rng, top, +1), top_decay(rng, antitop, -1))

    return hard_process
