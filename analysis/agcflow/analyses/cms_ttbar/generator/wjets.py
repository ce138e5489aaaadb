"""The W+jets hard process: a leptonic W recoiling against light and heavy-flavour partons."""

from __future__ import annotations

import numpy as np

from agcflow.analyses.cms_ttbar.generator.decays import w_decay
from agcflow.analyses.cms_ttbar.generator.kinematics import (
    event_rank,
    four_momentum,
    pareto,
    recoil,
)
from agcflow.analyses.cms_ttbar.generator.particles import (
    BOTTOM,
    CHARM,
    GLUON,
    W_MASS,
    W_WIDTH,
    Particles,
)
from agcflow.analyses.cms_ttbar.generator.samples import Tune
from agcflow.physics.fourvectors import breit_wigner

_WJETS_JET_RATIO = 0.31  # P(n+1 partons) / P(n partons) above _WJETS_PT_MIN: Berends scaling
_WJETS_PT_MIN, _WJETS_PT_POWER = 30.0, 1.5
_WJETS_BB_PER_PARTON = 0.025  # P(W + bb) per parton beyond the first
_WJETS_CC_PER_PARTON = 0.03
_WJETS_C_FRACTION = 0.05  # P(W + c) in events with a parton


def wjets(rng: np.random.Generator, n: int, tune: Tune) -> Particles:
    """W -> l nu recoiling against a geometric number of partons with a falling pt spectrum."""
    n_partons = rng.geometric(1.0 - _WJETS_JET_RATIO, n) - 1
    event = np.repeat(np.arange(n), n_partons)
    size = len(event)
    partons = Particles.build(
        event,
        pareto(rng, _WJETS_PT_MIN, _WJETS_PT_POWER, size),
        rng.normal(0.0, 2.0, size),
        rng.uniform(-np.pi, np.pi, size),
        wjets_flavours(rng, event, n_partons),
    )
    recoil_x, recoil_y = recoil(partons, n)
    w = four_momentum(
        recoil_x + rng.normal(0.0, 6.0, n),
        recoil_y + rng.normal(0.0, 6.0, n),
        rng.normal(0.0, 2.0, n),
        breit_wigner(rng, W_MASS, W_WIDTH, n),
    )
    charge = np.where(rng.uniform(size=n) < 0.58, 1, -1)
    return Particles.concat(partons, w_decay(rng, w, charge, leptonic_only=True))


def wjets_flavours(
    rng: np.random.Generator, event: np.ndarray, n_partons: np.ndarray
) -> np.ndarray:
    """Flavour of W+jets partons: W+bb and W+cc grow with the multiplicity, W+c is flat."""
    extra = np.maximum(n_partons - 1, 0)
    p_bb, p_cc = _WJETS_BB_PER_PARTON * extra, _WJETS_CC_PER_PARTON * extra
    p_c = np.where(n_partons > 0, _WJETS_C_FRACTION, 0.0)
    u = rng.uniform(size=len(n_partons))
    classes = [u < p_bb, u < p_bb + p_cc, u < p_bb + p_cc + p_c]  # W+bb, W+cc, W+c
    heavy_flavour = np.select(classes, [BOTTOM, CHARM, CHARM], GLUON)
    n_heavy = np.select(classes, [2, 2, 1], 0)
    is_heavy = event_rank(event, len(n_partons)) < n_heavy[event]
    return np.where(is_heavy, heavy_flavour[event], GLUON)
