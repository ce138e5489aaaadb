"""The generator's sample table: processes and variations, default sizes and variation tunes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agcflow.analyses.cms_ttbar.generator.particles import Particles

SAMPLES: dict[str, tuple[str, ...]] = {
    "ttbar": ("nominal", "scaledown", "scaleup", "ME_var", "PS_var"),
    "single_top_s_chan": ("nominal",),
    "single_top_t_chan": ("nominal",),
    "single_top_tW": ("nominal",),
    "wjets": ("nominal",),
}

DEFAULT_EVENTS: dict[str, int] = {
    "ttbar__nominal": 300_000,
    "ttbar__scaledown": 150_000,
    "ttbar__scaleup": 150_000,
    "ttbar__ME_var": 150_000,
    "ttbar__PS_var": 150_000,
    "single_top_s_chan__nominal": 300_000,
    "single_top_t_chan__nominal": 300_000,
    "single_top_tW__nominal": 150_000,
    "wjets__nominal": 1_800_000,
}
SIGNAL_MASS_MIN = 400.0  # GeV: a Z' -> ttbar needs twice the top mass and some room
ZPRIME_MAX_RELATIVE_WIDTH = 0.5  # Gamma/m: beyond it a Breit-Wigner is no description of a resonance


@dataclass(frozen=True)
class Tune:
    """Generator settings varied by the ttbar systematic samples."""

    top_pt_scale: float = 1.0  # hardness of the matrix-element top-quark pt spectrum
    radiation_scale: float = 1.0  # multiplies the initial-state radiation rate
    fsr_probability: float = 0.22  # chance that a parton splits off a separate jet
    jet_response: float = 1.0  # hadronisation: jet response relative to nominal


# scaleup/scaledown: shower scale (more/less radiation); ME_var: another matrix-element
# generator (harder top quarks); PS_var: another shower/hadronisation (softer jets, more FSR).
TUNES: dict[str, Tune] = {
    "nominal": Tune(),
    "scaleup": Tune(radiation_scale=1.08, fsr_probability=0.24),
    "scaledown": Tune(radiation_scale=0.92, fsr_probability=0.20),
    "ME_var": Tune(top_pt_scale=1.08),
    "PS_var": Tune(fsr_probability=0.26, jet_response=0.975),
}

# A hard process: (random generator, number of events, tune) -> the truth particles.
HardProcess = Callable[[np.random.Generator, int, Tune], Particles]
