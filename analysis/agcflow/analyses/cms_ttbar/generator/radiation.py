"""QCD radiation: initial-state partons of the hard processes and final-state splittings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from agcflow.analyses.cms_ttbar.generator.kinematics import pareto
from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    CHARM,
    GLUON,
    Particles,
)
from agcflow.analyses.cms_ttbar.generator.samples import Tune
from agcflow.physics.fourvectors import wrap_phi

# initial-state radiation: mean number of partons above _ISR_PT_MIN, power of their Pareto pt
_ISR = {
    "ttbar": (1.15, 1.2),
    "single_top_s_chan": (0.9, 1.5),
    "single_top_t_chan": (0.55, 1.2),
    "single_top_tW": (1.0, 1.2),
}
_ISR_PT_MIN = 15.0
_ISR_FLAVOURS = ((0.955, GLUON), (0.03, CHARM), (0.015, BOTTOM))  # g -> cc, bb splittings


def initial_state_radiation(
    rng: np.random.Generator, n_events: int, process: str, tune: Tune
) -> Particles:
    """Radiated partons: Poisson multiplicity, Pareto pt, broad rapidity, some g -> QQ."""
    rate, power = _ISR[process]
    event = np.repeat(np.arange(n_events), rng.poisson(rate * tune.radiation_scale, n_events))
    n = len(event)
    probabilities = [p for p, _ in _ISR_FLAVOURS]
    flavour = np.array([code for _, code in _ISR_FLAVOURS])[
        rng.choice(len(_ISR_FLAVOURS), n, p=probabilities)
    ]
    return Particles.build(
        event,
        pareto(rng, _ISR_PT_MIN, power, n),
        rng.normal(0.0, 1.9, n),
        rng.uniform(-np.pi, np.pi, n),
        flavour,
    )


def final_state_radiation(
    rng: np.random.Generator, partons: Particles, probability: float
) -> Particles:
    """Let some partons split off a gluon at an angle beyond the jet radius of 0.4."""
    splits = rng.uniform(size=len(partons)) < probability
    parents = partons.select(splits)
    n = len(parents)
    fraction = rng.uniform(0.08, 0.45, n)
    distance = 0.4 + rng.exponential(0.35, n)
    angle = rng.uniform(-np.pi, np.pi, n)
    emitted = Particles.build(
        parents.event,
        parents.pt * fraction,
        parents.eta + distance * np.cos(angle),
        wrap_phi(parents.phi + distance * np.sin(angle)),
        GLUON,
    )
    pt = partons.pt.copy()
    pt[splits] *= 1.0 - fraction
    return Particles.concat(replace(partons, pt=pt), emitted)
