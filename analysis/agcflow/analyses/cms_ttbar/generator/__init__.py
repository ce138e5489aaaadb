"""Synthetic CMS NanoAOD events: the embedded default input of the AGC ttbar analysis.

Events are generated in three vectorised steps:

1. Hard process: top quarks and W bosons with their two-body decays (isotropic in the rest
   frame, boosted to the lab) and initial-state radiation; W+jets is a leptonically decaying
   W recoiling against a steeply falling number of light and heavy-flavour partons; a Z'
   signal decays to ttbar at the mass its parameters give.
2. Shower and detector, the same for every process: tau decays, final-state splittings, jet
   response and resolution, pileup jets, jets made by leptons, jet ID, CSVv2 scores by hadron
   flavour, and prompt, heavy-flavour and fake leptons with their ID, isolation and sip3d.
3. Output: NanoAOD branch names and types (uint64 event numbers), floats rounded to
   NanoAOD-like mantissa precision; ``agcflow.generate`` writes the files.

The constants are tuned so that the selection efficiencies of the AGC selection and the shapes
of HT (4j1b) and m_bjj (4j2b) come close to the AGC reference histograms of the real inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import awkward as ak
import numpy as np

from agcflow.errors import ConfigError

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

_EVENTS_PER_LUMI_BLOCK = 1_000
_RUN_NUMBER = 1

# particle codes: absolute PDG ids, plus the visible part of a hadronic tau decay
_LIGHT, _CHARM, _BOTTOM, _GLUON = 1, 4, 5, 21
_ELECTRON, _MUON, _TAU, _HADRONIC_TAU = 11, 13, 15, 115
_PILEUP = 0

# masses and widths [GeV]
_TOP_MASS, _TOP_WIDTH = 172.5, 1.4
_W_MASS, _W_WIDTH = 80.4, 2.1
_MASSES = {
    _LIGHT: 0.0,
    _CHARM: 1.5,
    _BOTTOM: 4.8,
    _GLUON: 0.0,
    _ELECTRON: 0.000511,
    _MUON: 0.10566,
    _TAU: 1.777,
}

# W decays: (branching fraction, charged daughter, other visible daughter or 0); leptons first
_W_DECAYS = (
    (0.1071, _ELECTRON, 0),
    (0.1063, _MUON, 0),
    (0.1138, _TAU, 0),
    (0.3364, _LIGHT, _LIGHT),
    (0.3364, _CHARM, _LIGHT),
)

# hard-process kinematics
_TOP_PT_GAMMA = (2.2, 55.0)  # shape, scale [GeV] of the top-quark pt in ttbar
_SINGLE_TOP_PT_GAMMA = (2.2, 40.0)  # s-channel and tW
_SPECTATOR_B_PT_GAMMA, _SPECTATOR_B_ETA_WIDTH = (2.5, 18.0), 1.6
# initial-state radiation: mean number of partons above _ISR_PT_MIN, power of their Pareto pt
_ISR = {
    "ttbar": (1.15, 1.2),
    "single_top_s_chan": (0.9, 1.5),
    "single_top_t_chan": (0.55, 1.2),
    "single_top_tW": (1.0, 1.2),
}
_ISR_PT_MIN = 15.0
_TW_SPECTATOR_B_PROBABILITY = 0.65  # the b-bar of the g -> b b-bar that supplies the initial b
_ISR_FLAVOURS = ((0.955, _GLUON), (0.03, _CHARM), (0.015, _BOTTOM))  # g -> cc, bb splittings
_WJETS_JET_RATIO = 0.31  # P(n+1 partons) / P(n partons) above _WJETS_PT_MIN: Berends scaling
_WJETS_PT_MIN, _WJETS_PT_POWER = 30.0, 1.5
_WJETS_BB_PER_PARTON = 0.025  # P(W + bb) per parton beyond the first
_WJETS_CC_PER_PARTON = 0.03
_WJETS_C_FRACTION = 0.05  # P(W + c) in events with a parton

# shower, jets and b-tagging
_JET_PT_MIN, _JET_ETA_MAX = 15.0, 4.7
_JET_RESPONSE_B, _JET_RESPONSE_LIGHT = 1.0, 1.02  # mean jet pt / parton pt
_JET_RESOLUTION = (2.5, 1.0, 0.05)  # noise [GeV], stochastic [GeV^1/2], constant terms
_PILEUP_JETS_PER_EVENT = 1.0
_PILEUP_JET_PT_SLOPE = 5.0  # [GeV], exponential above _JET_PT_MIN
_LEPTON_JET_PROBABILITY = 0.9  # an isolated e/mu also appears in the Jet collection
_TRACKER_ETA = 2.5
# b-tagging by hadron flavour (light, c, b): P(btagCSVV2 > 0.5) and the Beta(a, b) shapes of
# the score within (0.5, 1] when tagged and within [0, 0.5] when not
_BTAG_EFFICIENCY = np.array([0.06, 0.38, 0.82])
_BTAG_TAGGED_BETA = np.array([[1.0, 3.0], [1.2, 1.5], [3.0, 1.0]])
_BTAG_UNTAGGED_BETA = np.array([[0.7, 2.5], [1.5, 1.5], [2.0, 1.5]])

# leptons
_LEPTON_ACCEPTANCE = {_ELECTRON: (5.0, 2.5, 0.88), _MUON: (3.0, 2.4, 0.94)}  # pt, |eta|, eff
_LEPTON_PT_RESOLUTION = {_ELECTRON: 0.02, _MUON: 0.015}
_HEAVY_FLAVOUR_LEPTON_RATE = {_BOTTOM: 0.2, _CHARM: 0.1}  # per quark, half e, half mu
_FAKE_ELECTRON_RATE = 0.02  # per light parton above _FAKE_ELECTRON_PT_MIN
_FAKE_ELECTRON_PT_MIN = 20.0
_IN_FLIGHT_MUONS_PER_EVENT = 0.05


@dataclass(frozen=True)
class _LeptonOrigin:
    """Identification and impact-parameter properties of leptons of one origin."""

    electron_id: tuple[float, float, float, float, float]  # P(cutBased = 0, ..., 4)
    muon_tight_id: float  # P(tightId)
    sip3d_tail_fraction: float  # sip3d ~ |N(0, 1.2)|, or exponential for this fraction
    sip3d_tail_mean: float


# The prompt-lepton ID efficiencies are lower than CMS's published ones: they absorb whatever
# else makes the real files' selection efficiency low, so that the yields match the reference.
_PROMPT = _LeptonOrigin((0.08, 0.12, 0.20, 0.32, 0.28), 0.55, 0.10, 5.0)
_HEAVY_FLAVOUR = _LeptonOrigin((0.30, 0.30, 0.20, 0.12, 0.08), 0.85, 0.8, 6.0)
_FAKE = _LeptonOrigin((0.60, 0.25, 0.10, 0.04, 0.01), 0.5, 0.5, 3.0)

_KINEMATICS = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "mass": np.float32}
_ELECTRON_FIELDS = _KINEMATICS | {"sip3d": np.float32, "cutBased": np.int32, "charge": np.int32}
_MUON_FIELDS = _KINEMATICS | {
    "sip3d": np.float32,
    "pfRelIso04_all": np.float32,
    "tightId": np.bool_,
    "charge": np.int32,
}
_JET_FIELDS = _KINEMATICS | {"btagCSVV2": np.float32, "jetId": np.int32}
# NanoAOD stores floats with a reduced mantissa: bits kept (float32 has 23)
_MANTISSA_BITS = {
    "pt": 10,
    "eta": 12,
    "phi": 12,
    "mass": 10,
    "btagCSVV2": 10,
    "sip3d": 10,
    "pfRelIso04_all": 6,
}


@dataclass(frozen=True)
class _Tune:
    """Generator settings varied by the ttbar systematic samples."""

    top_pt_scale: float = 1.0  # hardness of the matrix-element top-quark pt spectrum
    radiation_scale: float = 1.0  # multiplies the initial-state radiation rate
    fsr_probability: float = 0.22  # chance that a parton splits off a separate jet
    jet_response: float = 1.0  # hadronisation: jet response relative to nominal


# scaleup/scaledown: shower scale (more/less radiation); ME_var: another matrix-element
# generator (harder top quarks); PS_var: another shower/hadronisation (softer jets, more FSR).
_TUNES: dict[str, _Tune] = {
    "nominal": _Tune(),
    "scaleup": _Tune(radiation_scale=1.08, fsr_probability=0.24),
    "scaledown": _Tune(radiation_scale=0.92, fsr_probability=0.20),
    "ME_var": _Tune(top_pt_scale=1.08),
    "PS_var": _Tune(fsr_probability=0.26, jet_response=0.975),
}


# --------------------------------------------------------------------------------------
# particles and kinematics


@dataclass
class _Particles:
    """Flat list of the particles of many events, one entry per particle."""

    event: np.ndarray  # index of the event in the file
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    pdg: np.ndarray  # particle code (see above)
    charge: np.ndarray

    @classmethod
    def concat(cls, *parts: _Particles) -> _Particles:
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
    ) -> _Particles:
        """Particles at their nominal mass (from the particle code)."""
        codes = np.broadcast_to(pdg, pt.shape).astype(np.int64)
        return cls(
            event,
            pt,
            eta,
            phi,
            _mass_of(codes),
            codes,
            np.broadcast_to(charge, pt.shape).astype(np.int64),
        )

    @classmethod
    def from_p4(
        cls, p4: np.ndarray, pdg: int | np.ndarray, charge: int | np.ndarray = 0
    ) -> _Particles:
        """One particle per event from (E, px, py, pz) columns."""
        energy, px, py, pz = p4
        pt = np.hypot(px, py)
        mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
        particles = cls.build(
            np.arange(len(pt)), pt, np.arcsinh(pz / pt), np.arctan2(py, px), pdg, charge
        )
        particles.mass = mass
        return particles

    def select(self, mask: np.ndarray) -> _Particles:
        """The particles where mask is true."""
        return _Particles(*(getattr(self, f.name)[mask] for f in fields(self)))

    def __len__(self) -> int:
        return len(self.pt)


def _mass_of(codes: np.ndarray) -> np.ndarray:
    """Nominal mass of each particle code (0 for unknown codes)."""
    table = np.zeros(_HADRONIC_TAU + 1)
    for code, mass in _MASSES.items():
        table[code] = mass
    return table[codes]


def _p4(px: np.ndarray, py: np.ndarray, rapidity: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """(E, px, py, pz) from transverse momentum, rapidity and mass."""
    mt = np.sqrt(px**2 + py**2 + mass**2)
    return np.stack([mt * np.cosh(rapidity), px, py, mt * np.sinh(rapidity)])


def _invariant_mass(p4: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p4[0] ** 2 - np.sum(p4[1:] ** 2, axis=0), 0.0))


def _breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int) -> np.ndarray:
    """Resonance masses from a Cauchy distribution truncated at +- 5 widths."""
    limit = np.arctan(10.0)
    return mass + 0.5 * width * np.tan(rng.uniform(-limit, limit, n))


def _boost(rest: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost (E, px, py, pz) from the rest frame of ``parent`` into the lab."""
    beta = parent[1:] / parent[0]
    gamma = parent[0] / np.maximum(_invariant_mass(parent), 1e-9)
    beta_dot_p = np.sum(beta * rest[1:], axis=0)
    momentum = rest[1:] + (gamma**2 / (gamma + 1.0) * beta_dot_p + gamma * rest[0]) * beta
    return np.vstack([gamma * (rest[0] + beta_dot_p), momentum])


def _two_body_decay(
    rng: np.random.Generator, parent: np.ndarray, mass1: np.ndarray, mass2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decay each parent isotropically in its rest frame; return both daughters' p4."""
    n = parent.shape[1]
    m = _invariant_mass(parent)
    p_star = np.sqrt(
        np.maximum((m**2 - (mass1 + mass2) ** 2) * (m**2 - (mass1 - mass2) ** 2), 0.0)
    ) / (2 * m)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    momentum = p_star * np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])
    daughter1 = np.vstack([np.sqrt(p_star**2 + mass1**2), momentum])
    daughter2 = np.vstack([np.sqrt(p_star**2 + mass2**2), -momentum])
    return _boost(daughter1, parent), _boost(daughter2, parent)


def _wrap_phi(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2 * np.pi) - np.pi


def _pareto(rng: np.random.Generator, minimum: float, power: float, n: int) -> np.ndarray:
    """Falling spectrum dN/dpt ~ pt^-(power + 1) above ``minimum``."""
    return minimum * rng.uniform(0.0, 1.0, n) ** (-1.0 / power)


def _recoil(particles: _Particles, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Minus the vector sum of the transverse momenta of the particles of each event."""
    px = np.bincount(particles.event, particles.pt * np.cos(particles.phi), n_events)
    py = np.bincount(particles.event, particles.pt * np.sin(particles.phi), n_events)
    return -px, -py


def _event_rank(event: np.ndarray, n_events: int) -> np.ndarray:
    """Position of each particle within its event, for particles grouped by event."""
    counts = np.bincount(event, minlength=n_events)
    return np.arange(len(event)) - (np.cumsum(counts) - counts)[event]


# --------------------------------------------------------------------------------------
# hard processes


def _w_decay(
    rng: np.random.Generator, w: np.ndarray, charge: np.ndarray, leptonic_only: bool = False
) -> _Particles:
    """Visible daughters of one W per event (neutrinos dropped); charge is the W charge."""
    modes = _W_DECAYS[:3] if leptonic_only else _W_DECAYS
    fractions = np.array([mode[0] for mode in modes])
    choice = rng.choice(len(modes), size=w.shape[1], p=fractions / fractions.sum())
    charged = np.array([mode[1] for mode in modes])[choice]
    other = np.array([mode[2] for mode in modes])[choice]
    p4_charged, p4_other = _two_body_decay(rng, w, _mass_of(charged), _mass_of(other))
    return _Particles.concat(
        _Particles.from_p4(p4_charged, charged, charge),
        _Particles.from_p4(p4_other, other).select(other != 0),
    )


def _top_decay(rng: np.random.Generator, top: np.ndarray, charge: int | np.ndarray) -> _Particles:
    """t -> W b with the W decayed inclusively; charge +1 for tops, -1 for antitops."""
    n = top.shape[1]
    w_mass = np.minimum(_breit_wigner(rng, _W_MASS, _W_WIDTH, n), _TOP_MASS - 10.0)
    w, b = _two_body_decay(rng, top, w_mass, np.full(n, _MASSES[_BOTTOM]))
    w_charge = np.broadcast_to(charge, (n,))
    return _Particles.concat(_Particles.from_p4(b, _BOTTOM), _w_decay(rng, w, w_charge))


def _initial_state_radiation(
    rng: np.random.Generator, n_events: int, process: str, tune: _Tune
) -> _Particles:
    """Radiated partons: Poisson multiplicity, Pareto pt, broad rapidity, some g -> QQ."""
    rate, power = _ISR[process]
    event = np.repeat(np.arange(n_events), rng.poisson(rate * tune.radiation_scale, n_events))
    n = len(event)
    probabilities = [p for p, _ in _ISR_FLAVOURS]
    flavour = np.array([code for _, code in _ISR_FLAVOURS])[
        rng.choice(len(_ISR_FLAVOURS), n, p=probabilities)
    ]
    return _Particles.build(
        event,
        _pareto(rng, _ISR_PT_MIN, power, n),
        rng.normal(0.0, 1.9, n),
        rng.uniform(-np.pi, np.pi, n),
        flavour,
    )


def _recoiling_pair(
    rng: np.random.Generator,
    pt: np.ndarray,
    recoil: tuple[np.ndarray, np.ndarray],
    masses: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Two back-to-back particles sharing the recoil against radiation; rapidities ~ N(0, 1)."""
    n = len(pt)
    phi = rng.uniform(-np.pi, np.pi, n)
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pair_rapidity, half_difference = rng.normal(0.0, 0.7, n), rng.normal(0.0, 0.75, n)
    first = _p4(px + recoil[0] / 2, py + recoil[1] / 2, pair_rapidity + half_difference, masses[0])
    second = _p4(
        -px + recoil[0] / 2, -py + recoil[1] / 2, pair_rapidity - half_difference, masses[1]
    )
    return first, second


def _ttbar(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
    """Top-quark pairs, all decay channels, with initial-state radiation."""
    radiation = _initial_state_radiation(rng, n, "ttbar", tune)
    shape, scale = _TOP_PT_GAMMA
    masses = (
        _breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n),
        _breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n),
    )
    top, antitop = _recoiling_pair(
        rng, rng.gamma(shape, scale * tune.top_pt_scale, n), _recoil(radiation, n), masses
    )
    return _Particles.concat(radiation, _top_decay(rng, top, +1), _top_decay(rng, antitop, -1))


def _single_top_s_chan(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
    """q q' -> t b and its charge conjugate."""
    radiation = _initial_state_radiation(rng, n, "single_top_s_chan", tune)
    top_mass = _breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n)
    top, b = _recoiling_pair(
        rng,
        rng.gamma(*_SINGLE_TOP_PT_GAMMA, n),
        _recoil(radiation, n),
        (top_mass, np.full(n, _MASSES[_BOTTOM])),
    )
    charge = _top_charges(rng, n, top_fraction=0.66)
    return _Particles.concat(
        radiation, _Particles.from_p4(b, _BOTTOM), _top_decay(rng, top, charge)
    )


def _single_top_t_chan(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
    """b q -> t q' and its charge conjugate: a forward spectator quark, a soft second b."""
    radiation = _initial_state_radiation(rng, n, "single_top_t_chan", tune)
    side = rng.choice([-1.0, 1.0], n)
    spectator = _Particles.build(
        np.arange(n),
        rng.gamma(2.0, 22.0, n),
        side * rng.normal(2.5, 1.0, n),
        rng.uniform(-np.pi, np.pi, n),
        _LIGHT,
    )
    second_b = _spectator_b(rng, n, 1.0)
    recoil_x, recoil_y = _recoil(_Particles.concat(radiation, spectator, second_b), n)
    top = _p4(
        recoil_x + rng.normal(0.0, 10.0, n),
        recoil_y + rng.normal(0.0, 10.0, n),
        rng.normal(0.0, 1.2, n),
        _breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n),
    )
    charge = _top_charges(rng, n, top_fraction=0.63)
    return _Particles.concat(radiation, spectator, second_b, _top_decay(rng, top, charge))


def _single_top_tw(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
    """g b -> tW- and its charge conjugate; both W bosons decay inclusively."""
    radiation = _initial_state_radiation(rng, n, "single_top_tW", tune)
    masses = (
        _breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n),
        _breit_wigner(rng, _W_MASS, _W_WIDTH, n),
    )
    top, w = _recoiling_pair(
        rng, rng.gamma(*_SINGLE_TOP_PT_GAMMA, n), _recoil(radiation, n), masses
    )
    charge = _top_charges(rng, n, top_fraction=0.5)
    return _Particles.concat(
        radiation,
        _spectator_b(rng, n, _TW_SPECTATOR_B_PROBABILITY),
        _top_decay(rng, top, charge),
        _w_decay(rng, w, -charge),
    )


def _top_charges(rng: np.random.Generator, n: int, top_fraction: float) -> np.ndarray:
    """+1 for a top quark, -1 for an antitop, per event."""
    return np.where(rng.uniform(size=n) < top_fraction, 1, -1)


def _spectator_b(rng: np.random.Generator, n_events: int, probability: float) -> _Particles:
    """Soft, broad b quark left over from a gluon splitting into the initial-state b."""
    event = np.flatnonzero(rng.uniform(size=n_events) < probability)
    n = len(event)
    return _Particles.build(
        event,
        rng.gamma(*_SPECTATOR_B_PT_GAMMA, n),
        rng.normal(0.0, _SPECTATOR_B_ETA_WIDTH, n),
        rng.uniform(-np.pi, np.pi, n),
        _BOTTOM,
    )


def _wjets(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
    """W -> l nu recoiling against a geometric number of partons with a falling pt spectrum."""
    n_partons = rng.geometric(1.0 - _WJETS_JET_RATIO, n) - 1
    event = np.repeat(np.arange(n), n_partons)
    size = len(event)
    partons = _Particles.build(
        event,
        _pareto(rng, _WJETS_PT_MIN, _WJETS_PT_POWER, size),
        rng.normal(0.0, 2.0, size),
        rng.uniform(-np.pi, np.pi, size),
        _wjets_flavours(rng, event, n_partons),
    )
    recoil_x, recoil_y = _recoil(partons, n)
    w = _p4(
        recoil_x + rng.normal(0.0, 6.0, n),
        recoil_y + rng.normal(0.0, 6.0, n),
        rng.normal(0.0, 2.0, n),
        _breit_wigner(rng, _W_MASS, _W_WIDTH, n),
    )
    charge = np.where(rng.uniform(size=n) < 0.58, 1, -1)
    return _Particles.concat(partons, _w_decay(rng, w, charge, leptonic_only=True))


def _wjets_flavours(
    rng: np.random.Generator, event: np.ndarray, n_partons: np.ndarray
) -> np.ndarray:
    """Flavour of W+jets partons: W+bb and W+cc grow with the multiplicity, W+c is flat."""
    extra = np.maximum(n_partons - 1, 0)
    p_bb, p_cc = _WJETS_BB_PER_PARTON * extra, _WJETS_CC_PER_PARTON * extra
    p_c = np.where(n_partons > 0, _WJETS_C_FRACTION, 0.0)
    u = rng.uniform(size=len(n_partons))
    classes = [u < p_bb, u < p_bb + p_cc, u < p_bb + p_cc + p_c]  # W+bb, W+cc, W+c
    heavy_flavour = np.select(classes, [_BOTTOM, _CHARM, _CHARM], _GLUON)
    n_heavy = np.select(classes, [2, 2, 1], 0)
    is_heavy = _event_rank(event, len(n_partons)) < n_heavy[event]
    return np.where(is_heavy, heavy_flavour[event], _GLUON)


def _zprime(mass: float) -> Callable[[np.random.Generator, int, _Tune], _Particles]:
    """Z' -> ttbar resonances of ``mass`` GeV (width 3 %), produced with the ISR recoil."""

    def hard_process(rng: np.random.Generator, n: int, tune: _Tune) -> _Particles:
        radiation = _initial_state_radiation(rng, n, "ttbar", tune)
        recoil = _recoil(radiation, n)
        resonance = _p4(recoil[0], recoil[1], rng.normal(0.0, 0.8, n), _breit_wigner(rng, mass, 0.03 * mass, n))
        masses = [_breit_wigner(rng, _TOP_MASS, _TOP_WIDTH, n) for _ in range(2)]
        top, antitop = _two_body_decay(rng, resonance, *masses)
        return _Particles.concat(radiation, _top_decay(rng, top, +1), _top_decay(rng, antitop, -1))

    return hard_process


_HARD_PROCESSES: dict[str, Callable[[np.random.Generator, int, _Tune], _Particles]] = {
    "ttbar": _ttbar,
    "single_top_s_chan": _single_top_s_chan,
    "single_top_t_chan": _single_top_t_chan,
    "single_top_tW": _single_top_tw,
    "wjets": _wjets,
}

# --------------------------------------------------------------------------------------
# shower and detector


def _decay_taus(rng: np.random.Generator, particles: _Particles) -> _Particles:
    """Replace taus by their visible decay product (e, mu or hadrons), collinear with the tau."""
    is_tau = particles.pdg == _TAU
    n = int(is_tau.sum())
    u = rng.uniform(size=n)
    code = np.select([u < 0.178, u < 0.352], [_ELECTRON, _MUON], _HADRONIC_TAU)
    visible_fraction = np.where(
        code == _HADRONIC_TAU, rng.uniform(0.35, 1.0, n), rng.beta(1.3, 2.3, n)
    )
    pdg, pt = particles.pdg.copy(), particles.pt.copy()
    pdg[is_tau] = code
    pt[is_tau] *= visible_fraction
    return replace(particles, pdg=pdg, pt=pt, mass=_mass_of(pdg))


def _final_state_radiation(
    rng: np.random.Generator, partons: _Particles, probability: float
) -> _Particles:
    """Let some partons split off a gluon at an angle beyond the jet radius of 0.4."""
    splits = rng.uniform(size=len(partons)) < probability
    parents = partons.select(splits)
    n = len(parents)
    fraction = rng.uniform(0.08, 0.45, n)
    distance = 0.4 + rng.exponential(0.35, n)
    angle = rng.uniform(-np.pi, np.pi, n)
    emitted = _Particles.build(
        parents.event,
        parents.pt * fraction,
        parents.eta + distance * np.cos(angle),
        _wrap_phi(parents.phi + distance * np.sin(angle)),
        _GLUON,
    )
    pt = partons.pt.copy()
    pt[splits] *= 1.0 - fraction
    return _Particles.concat(replace(partons, pt=pt), emitted)


def _parton_jets(
    rng: np.random.Generator, partons: _Particles, response_scale: float
) -> _Particles:
    """Jets from partons: flavour-dependent response, pt-dependent resolution, a jet mass."""
    n = len(partons)
    noise, stochastic, constant = _JET_RESOLUTION
    resolution = np.sqrt((noise / partons.pt) ** 2 + stochastic**2 / partons.pt + constant**2)
    mean = np.where(partons.pdg == _BOTTOM, _JET_RESPONSE_B, _JET_RESPONSE_LIGHT) * response_scale
    pt = partons.pt * np.maximum(rng.normal(mean, resolution), 0.05)
    return _Particles(
        partons.event,
        pt,
        partons.eta + rng.normal(0.0, 0.02, n),
        _wrap_phi(partons.phi + rng.normal(0.0, 0.02, n)),
        pt * rng.gamma(4.0, 0.03, n),
        partons.pdg,
        np.zeros(n, np.int64),
    )


def _pileup_jets(rng: np.random.Generator, n_events: int) -> _Particles:
    """Soft jets from additional proton-proton collisions, uniform in eta."""
    event = np.repeat(np.arange(n_events), rng.poisson(_PILEUP_JETS_PER_EVENT, n_events))
    n = len(event)
    pt = _JET_PT_MIN + rng.exponential(_PILEUP_JET_PT_SLOPE, n)
    jets = _Particles.build(
        event,
        pt,
        rng.uniform(-_JET_ETA_MAX, _JET_ETA_MAX, n),
        rng.uniform(-np.pi, np.pi, n),
        _PILEUP,
    )
    jets.mass = pt * rng.gamma(4.0, 0.03, n)
    return jets


def _lepton_jets(rng: np.random.Generator, leptons: dict[str, np.ndarray]) -> _Particles:
    """Isolated electrons and muons are clustered into jets too (failing the lepton veto)."""
    keep = (leptons["pt"] > _JET_PT_MIN / 1.2) & (
        rng.uniform(size=len(leptons["pt"])) < _LEPTON_JET_PROBABILITY
    )
    n = int(keep.sum())
    pt = leptons["pt"][keep] * rng.uniform(1.0, 1.2, n)
    jets = _Particles.build(
        leptons["event"][keep], pt, leptons["eta"][keep], leptons["phi"][keep], leptons["pdg"][keep]
    )
    jets.mass = pt * rng.gamma(2.0, 0.02, n)
    return jets


def _jet_id(rng: np.random.Generator, origin: np.ndarray) -> np.ndarray:
    """jetId bit flags: 6 (tight + lepton veto) for most jets, 2 or 0 for some and for leptons."""
    u = rng.uniform(size=len(origin))
    hadronic = np.select([u < 0.94, u < 0.98], [6, 2], 0)
    electron = np.where(u < 0.6, 2, 0)
    jet_id = np.select([origin == _ELECTRON, origin == _MUON], [electron, 2], hadronic)
    return jet_id.astype(np.int32)


def _btag_scores(rng: np.random.Generator, origin: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """CSVv2 scores: a flavour-dependent chance to be above 0.5, then Beta-shaped within."""
    flavour = np.select([origin == _BOTTOM, origin == _CHARM], [2, 1], 0)
    in_tracker = np.abs(eta) < _TRACKER_ETA
    tagged = in_tracker & (rng.uniform(size=len(origin)) < _BTAG_EFFICIENCY[flavour])
    scores = np.empty(len(origin))
    shapes = zip(_BTAG_TAGGED_BETA, _BTAG_UNTAGGED_BETA, strict=True)
    for index, (above, below) in enumerate(shapes):
        for is_tagged, (a, b), offset in ((True, above, 0.5), (False, below, 0.0)):
            jets = (flavour == index) & (tagged == is_tagged)
            scores[jets] = offset + 0.5 * rng.beta(a, b, np.count_nonzero(jets))
    return scores


def _jet_columns(rng: np.random.Generator, jets: _Particles) -> dict[str, np.ndarray]:
    """NanoAOD jet columns of the jets above the NanoAOD threshold."""
    jets = jets.select((jets.pt > _JET_PT_MIN) & (np.abs(jets.eta) < _JET_ETA_MAX))
    return {
        "event": jets.event,
        "pt": jets.pt,
        "eta": jets.eta,
        "phi": jets.phi,
        "mass": jets.mass,
        "btagCSVV2": _btag_scores(rng, jets.pdg, jets.eta),
        "jetId": _jet_id(rng, jets.pdg),
    }


def _prompt_isolation(rng: np.random.Generator, n: int) -> np.ndarray:
    """pfRelIso04_all of leptons from W decays: mostly tiny, a tail when close to a jet."""
    near_jet = rng.uniform(size=n) < 0.3
    return np.where(near_jet, rng.exponential(0.2, n), rng.exponential(0.03, n))


def _heavy_flavour_leptons(
    rng: np.random.Generator, partons: _Particles
) -> tuple[_Particles, np.ndarray]:
    """Leptons from semileptonic b and c decays inside jets, and their (large) isolation."""
    rate = np.select(
        [partons.pdg == _BOTTOM, partons.pdg == _CHARM],
        [_HEAVY_FLAVOUR_LEPTON_RATE[_BOTTOM], _HEAVY_FLAVOUR_LEPTON_RATE[_CHARM]],
        0.0,
    )
    parents = partons.select(rng.uniform(size=len(partons)) < rate)
    n = len(parents)
    momentum_fraction = rng.beta(1.6, 5.0, n)
    flavour = rng.choice([_ELECTRON, _MUON], n)
    leptons = _collinear_leptons(rng, parents, momentum_fraction, flavour)
    isolation = (1.0 - momentum_fraction) / momentum_fraction * rng.uniform(0.3, 1.0, n)
    return leptons, isolation


def _fake_electrons(rng: np.random.Generator, partons: _Particles) -> tuple[_Particles, np.ndarray]:
    """Electron candidates faked by light jets (conversions, pi0 overlaps)."""
    light = ~np.isin(partons.pdg, (_BOTTOM, _CHARM)) & (partons.pt > _FAKE_ELECTRON_PT_MIN)
    parents = partons.select(light & (rng.uniform(size=len(partons)) < _FAKE_ELECTRON_RATE))
    n = len(parents)
    momentum_fraction = rng.uniform(0.3, 0.95, n)
    electrons = _collinear_leptons(rng, parents, momentum_fraction, _ELECTRON)
    isolation = (1.0 - momentum_fraction) / momentum_fraction * rng.uniform(0.2, 1.0, n)
    return electrons, isolation


def _in_flight_muons(rng: np.random.Generator, n_events: int) -> tuple[_Particles, np.ndarray]:
    """Soft muons from pion and kaon decays in flight."""
    event = np.repeat(np.arange(n_events), rng.poisson(_IN_FLIGHT_MUONS_PER_EVENT, n_events))
    n = len(event)
    muons = _Particles.build(
        event,
        3.0 + rng.exponential(4.0, n),
        rng.uniform(-2.4, 2.4, n),
        rng.uniform(-np.pi, np.pi, n),
        _MUON,
        rng.choice([-1, 1], n),
    )
    return muons, 0.1 + rng.exponential(0.8, n)


def _collinear_leptons(
    rng: np.random.Generator,
    parents: _Particles,
    momentum_fraction: np.ndarray,
    pdg: int | np.ndarray,
) -> _Particles:
    """Leptons carrying a fraction of their parent's momentum, close to its direction."""
    n = len(parents)
    return _Particles.build(
        parents.event,
        parents.pt * momentum_fraction,
        parents.eta + rng.normal(0.0, 0.05, n),
        _wrap_phi(parents.phi + rng.normal(0.0, 0.05, n)),
        pdg,
        rng.choice([-1, 1], n),
    )


def _lepton_columns(
    rng: np.random.Generator, leptons: _Particles, isolation: np.ndarray, origin: _LeptonOrigin
) -> dict[str, np.ndarray]:
    """Reconstructed leptons (acceptance, efficiency, resolution) with ID and sip3d by origin."""
    pt_min, eta_max, efficiency = (
        np.where(leptons.pdg == _ELECTRON, e, mu)
        for e, mu in zip(_LEPTON_ACCEPTANCE[_ELECTRON], _LEPTON_ACCEPTANCE[_MUON], strict=True)
    )
    keep = (
        (leptons.pt > pt_min)
        & (np.abs(leptons.eta) < eta_max)
        & (rng.uniform(size=len(leptons)) < efficiency)
    )
    leptons, isolation = leptons.select(keep), isolation[keep]
    n = len(leptons)
    resolution = np.where(
        leptons.pdg == _ELECTRON, _LEPTON_PT_RESOLUTION[_ELECTRON], _LEPTON_PT_RESOLUTION[_MUON]
    )
    in_tail = rng.uniform(size=n) < origin.sip3d_tail_fraction
    return {
        "event": leptons.event,
        "pdg": leptons.pdg,
        "pt": leptons.pt * rng.normal(1.0, resolution),
        "eta": leptons.eta,
        "phi": leptons.phi,
        "mass": leptons.mass,
        "charge": leptons.charge,
        "sip3d": np.where(
            in_tail, rng.exponential(origin.sip3d_tail_mean, n), np.abs(rng.normal(0.0, 1.2, n))
        ),
        "pfRelIso04_all": isolation,
        "cutBased": rng.choice(5, n, p=origin.electron_id),
        "tightId": rng.uniform(size=n) < origin.muon_tight_id,
    }


def _concat_columns(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _select_columns(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {name: values[mask] for name, values in columns.items()}


def _simulate_events(
    rng: np.random.Generator, hard: Callable[[np.random.Generator, int, _Tune], _Particles], n_events: int, tune: _Tune
) -> dict[str, ak.Array]:
    """Generate, shower and reconstruct events: the Electron, Muon and Jet collections."""
    truth = _decay_taus(rng, hard(rng, n_events, tune))
    is_lepton = np.isin(truth.pdg, (_ELECTRON, _MUON))
    partons = _final_state_radiation(rng, truth.select(~is_lepton), tune.fsr_probability)
    prompt = _lepton_columns(
        rng, truth.select(is_lepton), _prompt_isolation(rng, int(is_lepton.sum())), _PROMPT
    )
    leptons = _concat_columns(
        prompt,
        _lepton_columns(rng, *_heavy_flavour_leptons(rng, partons), _HEAVY_FLAVOUR),
        _lepton_columns(rng, *_fake_electrons(rng, partons), _FAKE),
        _lepton_columns(rng, *_in_flight_muons(rng, n_events), _FAKE),
    )
    jets = _Particles.concat(
        _parton_jets(rng, partons, tune.jet_response),
        _pileup_jets(rng, n_events),
        _lepton_jets(rng, prompt),
    )
    electrons = _select_columns(leptons, leptons["pdg"] == _ELECTRON)
    muons = _select_columns(leptons, leptons["pdg"] == _MUON)
    return {
        "Electron": _collection(electrons, n_events, _ELECTRON_FIELDS),
        "Muon": _collection(muons, n_events, _MUON_FIELDS),
        "Jet": _collection(_jet_columns(rng, jets), n_events, _JET_FIELDS),
    }


def _round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to ``bits`` mantissa bits, as NanoAOD stores them."""
    shift = 23 - bits
    if shift <= 0:
        return values
    as_int = values.view(np.uint32)
    mask = np.uint32((0xFFFFFFFF << shift) & 0xFFFFFFFF)
    return ((as_int + np.uint32(1 << (shift - 1))) & mask).view(np.float32)


def _collection(columns: dict[str, np.ndarray], n_events: int, dtypes: dict[str, type]) -> ak.Array:
    """Jagged NanoAOD collection: objects of each event sorted by decreasing pt."""
    order = np.lexsort((-columns["pt"], columns["event"]))
    counts = np.bincount(columns["event"], minlength=n_events)
    record = {}
    for name, dtype in dtypes.items():
        values = columns[name][order].astype(dtype)
        record[name] = (
            _round_mantissa(values, _MANTISSA_BITS[name]) if name in _MANTISSA_BITS else values
        )
    return ak.unflatten(ak.zip(record), counts)


def _event_ids(first_event: int, n_events: int) -> dict[str, np.ndarray]:
    """run, luminosityBlock and event branches; event numbers start at first_event + 1."""
    event = np.arange(first_event + 1, first_event + n_events + 1, dtype=np.uint64)
    return {
        "run": np.full(n_events, _RUN_NUMBER, np.uint32),
        "luminosityBlock": ((event - 1) // _EVENTS_PER_LUMI_BLOCK + 1).astype(np.uint32),
        "event": event,
    }


def simulate(rng: np.random.Generator, process: str, variation: str, n_events: int, first_event: int,
             parameters: Mapping[str, float]) -> dict[str, Any]:
    """The branches of ``n_events`` events of ``process__variation`` (a Z' signal when
    ``process`` is not a background: ``parameters["mass"]`` in GeV)."""
    hard = _signal(process, parameters) if process not in SAMPLES else _HARD_PROCESSES[process]
    return _event_ids(first_event, n_events) | _simulate_events(rng, hard, n_events, _TUNES[variation])


def _signal(process: str, parameters: Mapping[str, float]) -> Callable[[np.random.Generator, int, _Tune], _Particles]:
    mass = parameters.get("mass")
    if set(parameters) != {"mass"} or not isinstance(mass, (int, float)) or mass <= SIGNAL_MASS_MIN:
        raise ConfigError(f"signal {process!r}: parameters {dict(parameters)}: the Z' generator needs exactly "
                          f"{{mass: <GeV above {SIGNAL_MASS_MIN:g}>}}")
    return _zprime(float(mass))
