"""The ZZ* -> 4l continuum (``llll``: qq -> ZZ / Z gamma* / Z -> 4l): four components.

1. Single-resonant Z -> 4l: an s-channel Z (Breit-Wigner m4l around 91 GeV) decays to a lepton
   pair and a virtual photon radiated off a lepton: the peak near 91 GeV.
2. Z gamma*: an on-shell Z and a virtual photon (pair mass ~ 1/m above 4 GeV): the low, flat
   continuum between the Z peak and the ZZ threshold.
3. Low mass: two virtual photons (gamma* gamma* and the low-mass tail of Z gamma*), m4l mostly
   below 80 GeV with soft leptons: about three quarters of the sample's events, rarely in the
   skim and hardly ever in the analysis' mass window.
4. On-shell ZZ: two Breit-Wigner Z bosons whose momentum in the ZZ rest frame p* has a Gamma(3)
   density (phase space p*^2 times a falling parton luminosity): the threshold rise at
   2 m_Z ~ 182 GeV, a maximum near 190-200 GeV and the falling tail.

The four-lepton system is produced with a soft pt spectrum and a broad rapidity; all decays
are isotropic in their rest frames. Only e and mu final states are generated (the tau final
states of the sample enter the filter efficiency, see ``samples``).
"""

from __future__ import annotations

import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import Z_MASS, Z_WIDTH, Leptons, four_leptons, production
from agcflow.analyses.atlas_hzz.generator.masses import PAIR_MASS_MIN, pair_masses
from agcflow.physics.fourvectors import breit_wigner, log_uniform

# fractions of generated events (before the skim)
COMPONENTS = {"z_to_4l": 0.052, "z_gamma": 0.044, "low_mass": 0.74, "zz": 0.164}
_SYSTEM_PT = (1.5, 15.0)  # Gamma shape, scale [GeV] of the four-lepton system's pt
_SYSTEM_RAPIDITY_WIDTH = 1.5
_ZZ_MOMENTUM = (3.0, 28.0)  # Gamma shape, scale [GeV] of p* in the ZZ rest frame
_Z_GAMMA_MOMENTUM = (2.0, 30.0)
_LOW_MASS_MOMENTUM = (2.0, 5.0)
_LOW_MASS_PAIR_MAX = 40.0
_VIRTUAL_PHOTON_MASS_MAX = 60.0


def llll(rng: np.random.Generator, n: int) -> Leptons:
    """Truth leptons of ``n`` continuum events, the components in random order."""
    component = rng.choice(len(COMPONENTS), n, p=list(COMPONENTS.values()))
    parts = []
    for index, make in enumerate((_z_to_four_leptons, _z_gamma, _low_mass, _zz)):
        events = np.flatnonzero(component == index)
        parent, m1, m2 = make(rng, len(events))
        parts.append(four_leptons(rng, parent, m1, m2, events))
    return Leptons.concat(*parts)


def _z_to_four_leptons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single-resonant Z -> 4l: the Z four-momenta and the two pair masses."""
    mass = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    m1, m2 = pair_masses(rng, Z_MASS, n, ("Z", "gamma"))
    scale = mass / Z_MASS
    return production(rng, mass, n, _SYSTEM_PT, _SYSTEM_RAPIDITY_WIDTH), m1 * scale, m2 * scale


def _z_gamma(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z gamma*: an on-shell Z and a virtual photon with a falling momentum spectrum."""
    m1 = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    m2 = log_uniform(rng, PAIR_MASS_MIN, _VIRTUAL_PHOTON_MASS_MAX, n)
    return _pair_system(rng, m1, m2, rng.gamma(*_Z_GAMMA_MOMENTUM, n)), m1, m2


def _low_mass(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two virtual photons with a soft momentum spectrum."""
    m1 = log_uniform(rng, PAIR_MASS_MIN, _LOW_MASS_PAIR_MAX, n)
    m2 = log_uniform(rng, PAIR_MASS_MIN, _LOW_MASS_PAIR_MAX, n)
    return _pair_system(rng, m1, m2, rng.gamma(*_LOW_MASS_MOMENTUM, n)), m1, m2


def _zz(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """On-shell ZZ: two Breit-Wigner Z bosons above threshold."""
    m1 = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    m2 = breit_wigner(rng, Z_MASS, Z_WIDTH, n)
    return _pair_system(rng, m1, m2, rng.gamma(*_ZZ_MOMENTUM, n)), m1, m2


def _pair_system(rng: np.random.Generator, m1: np.ndarray, m2: np.ndarray, momentum: np.ndarray) -> np.ndarray:
    """Lab four-momenta of two-boson systems whose bosons have ``momentum`` in their rest frame."""
    mass = np.sqrt(m1**2 + momentum**2) + np.sqrt(m2**2 + momentum**2)
    return production(rng, mass, len(mass), _SYSTEM_PT, _SYSTEM_RAPIDITY_WIDTH)
