"""Event assembly: the hard process, shower and detector steps in order, then the branches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

from agcflow.analyses.cms_ttbar.generator.decays import decay_taus
from agcflow.analyses.cms_ttbar.generator.jets import (
    jet_columns,
    lepton_jets,
    parton_jets,
    pileup_jets,
)
from agcflow.analyses.cms_ttbar.generator.leptons import (
    FAKE,
    HEAVY_FLAVOUR,
    PROMPT,
    fake_electrons,
    heavy_flavour_leptons,
    in_flight_muons,
    lepton_columns,
    prompt_isolation,
)
from agcflow.analyses.cms_ttbar.generator.nanoaod import (
    ELECTRON_FIELDS,
    JET_FIELDS,
    MUON_FIELDS,
    collection,
    concat_columns,
    event_ids,
    select_columns,
)
from agcflow.analyses.cms_ttbar.generator.particles import ELECTRON, MUON, Particles
from agcflow.analyses.cms_ttbar.generator.radiation import final_state_radiation
from agcflow.analyses.cms_ttbar.generator.samples import (
    SAMPLES,
    SIGNAL_MASS_MIN,
    TUNES,
    ZPRIME_MAX_RELATIVE_WIDTH,
    HardProcess,
    Tune,
)
from agcflow.analyses.cms_ttbar.generator.top import (
    ZPRIME_RELATIVE_WIDTH,
    single_top_s_chan,
    single_top_t_chan,
    single_top_tw,
    ttbar,
    zprime,
)
from agcflow.analyses.cms_ttbar.generator.wjets import wjets
from agcflow.errors import ConfigError

HARD_PROCESSES: dict[str, HardProcess] = {
    "ttbar": ttbar,
    "single_top_s_chan": single_top_s_chan,
    "single_top_t_chan": single_top_t_chan,
    "single_top_tW": single_top_tw,
    "wjets": wjets,
}


def simulate(rng: np.random.Generator, process: str, variation: str, n_events: int, first_event: int,
             parameters: Mapping[str, float]) -> dict[str, Any]:
    """The branches of ``n_events`` events of ``process__variation`` (a Z' signal when
    ``process`` is not a background: ``parameters["mass"]`` in GeV)."""
    hard = signal_process(process, parameters) if process not in SAMPLES else HARD_PROCESSES[process]
    return event_ids(first_event, n_events) | simulate_events(rng, hard, n_events, TUNES[variation])


def signal_process(process: str, parameters: Mapping[str, float]) -> HardProcess:
    """The Z' -> ttbar hard process of a signal's parameters: ``mass`` in GeV and optionally
    ``width``, the relative width Gamma/m (default ``ZPRIME_RELATIVE_WIDTH``)."""
    mass = parameters.get("mass")
    width = parameters.get("width", ZPRIME_RELATIVE_WIDTH)
    valid = (set(parameters) <= {"mass", "width"} and isinstance(mass, (int, float)) and mass > SIGNAL_MASS_MIN
             and isinstance(width, (int, float)) and 0 < width <= ZPRIME_MAX_RELATIVE_WIDTH)
    if not valid:
        raise ConfigError(f"signal {process!r}: parameters {dict(parameters)}: the Z' generator needs "
                          f"{{mass: <GeV above {SIGNAL_MASS_MIN:g}>, width: <Gamma/m in (0, "
                          f"{ZPRIME_MAX_RELATIVE_WIDTH:g}], optional, default {ZPRIME_RELATIVE_WIDTH:g}>}}")
    return zprime(float(mass), float(width))


def simulate_events(
    rng: np.random.Generator, hard: HardProcess, n_events: int, tune: Tune
) -> dict[str, ak.Array]:
    """Generate, shower and reconstruct events: the Electron, Muon and Jet collections."""
    truth = decay_taus(rng, hard(rng, n_events, tune))
    is_lepton = np.isin(truth.pdg, (ELECTRON, MUON))
    partons = final_state_radiation(rng, truth.select(~is_lepton), tune.fsr_probability)
    prompt = lepton_columns(
        rng, truth.select(is_lepton), prompt_isolation(rng, int(is_lepton.sum())), PROMPT
    )
    leptons = concat_columns(
        prompt,
        lepton_columns(rng, *heavy_flavour_leptons(rng, partons), HEAVY_FLAVOUR),
        lepton_columns(rng, *fake_electrons(rng, partons), FAKE),
        lepton_columns(rng, *in_flight_muons(rng, n_events), FAKE),
    )
    jets = Particles.concat(
        parton_jets(rng, partons, tune.jet_response),
        pileup_jets(rng, n_events),
        lepton_jets(rng, prompt),
    )
    return collections(rng, leptons, jets, n_events)


def collections(
    rng: np.random.Generator, leptons: dict[str, np.ndarray], jets: Particles, n_events: int
) -> dict[str, ak.Array]:
    """The jagged Electron, Muon and Jet collections of the reconstructed leptons and jets."""
    electrons = select_columns(leptons, leptons["pdg"] == ELECTRON)
    muons = select_columns(leptons, leptons["pdg"] == MUON)
    return {
        "Electron": collection(electrons, n_events, ELECTRON_FIELDS),
        "Muon": collection(muons, n_events, MUON_FIELDS),
        "Jet": collection(jet_columns(rng, jets), n_events, JET_FIELDS),
    }
