"""The ATLAS Open Data 2020 13 TeV ntuple layout: event ids, weights, scale factors, ``lep``.

Conventions of the real files: energies and momenta in MeV; MC events have run number 284500
(the MC campaign's run) and their DSID as ``channelNumber``; data events have the run number
as ``channelNumber``, ``mcWeight`` 0 and every scale factor 1 (data are unweighted).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from agcflow.analyses.atlas_hzz.generator.leptons import ELECTRON, MUON, Leptons
from agcflow.physics.fourvectors import pt_eta_phi

MC_RUN_NUMBER = 284500
MEV_PER_GEV = 1000.0
SCALE_FACTORS = ("scaleFactor_ELE", "scaleFactor_MUON", "scaleFactor_LepTRIGGER", "scaleFactor_PILEUP")
# 2016 data periods A-D: (first run, last run, integrated luminosity [fb^-1]), about 10 fb^-1 in all
DATA_PERIODS = {
    "A": (296939, 300287, 0.5),
    "B": (300345, 300908, 2.0),
    "C": (301912, 302393, 2.9),
    "D": (302737, 303560, 4.6),
}
LEPTON_FIELDS = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "E": np.float32,
                 "charge": np.int32, "type": np.uint32}
_SCALE_FACTOR_SPREAD = {"ELE": 0.02, "MUON": 0.01, "LepTRIGGER": 0.01, "PILEUP": 0.04}  # per lepton for ELE, MUON
_MC_WEIGHT_SPREAD = 0.15
_NEGATIVE_WEIGHT_FRACTION = 0.01  # of Z + jets and ttbar events (NLO generators)


def lepton_collection(leptons: Leptons, n_events: int) -> ak.Array:
    """The jagged ``lep`` records of each event, sorted by decreasing pt, in MeV."""
    pt, eta, phi = pt_eta_phi(leptons.p4)
    columns = {
        "pt": pt * MEV_PER_GEV,
        "eta": eta,
        "phi": phi,
        "E": leptons.p4[0] * MEV_PER_GEV,
        "charge": leptons.charge,
        "type": leptons.flavour,
    }
    order = np.lexsort((-pt, leptons.event))
    counts = np.bincount(leptons.event, minlength=n_events)
    record = {name: columns[name][order].astype(dtype) for name, dtype in LEPTON_FIELDS.items()}
    return ak.unflatten(ak.zip(record), counts)


def event_ids(first_event: int, run_number: np.ndarray, channel_number: np.ndarray) -> dict[str, np.ndarray]:
    """runNumber, eventNumber (first_event + 1, ...) and channelNumber, as int32."""
    n = len(run_number)
    return {
        "runNumber": run_number.astype(np.int32),
        "eventNumber": np.arange(first_event + 1, first_event + n + 1).astype(np.int32),
        "channelNumber": channel_number.astype(np.int32),
    }


def mc_event_ids(first_event: int, n_events: int, dsid: int) -> dict[str, np.ndarray]:
    """Event ids of MC events: run 284500, channelNumber the DSID."""
    return event_ids(first_event, np.full(n_events, MC_RUN_NUMBER), np.full(n_events, dsid))


def data_event_ids(rng: np.random.Generator, first_event: int, n_events: int) -> dict[str, np.ndarray]:
    """Event ids of data events: a run of periods A-D (chosen by luminosity); channelNumber the run."""
    first, last, luminosity = (np.array(column) for column in zip(*DATA_PERIODS.values(), strict=True))
    period = rng.choice(len(first), n_events, p=luminosity / luminosity.sum())
    run = rng.integers(first[period], last[period] + 1)
    return event_ids(first_event, run, run)


def mc_weights(rng: np.random.Generator, leptons: Leptons, n_events: int, negative_weights: bool) -> dict[str, np.ndarray]:
    """mcWeight (mean 1) and the four scale factors (each mean ~1, positive), as float32.

    The electron and muon scale factors are products over the event's electrons and muons.
    """
    weight = rng.normal(1.0, _MC_WEIGHT_SPREAD, n_events)
    if negative_weights:
        negative = rng.uniform(size=n_events) < _NEGATIVE_WEIGHT_FRACTION
        weight = np.where(negative, -weight, weight) / (1.0 - 2.0 * _NEGATIVE_WEIGHT_FRACTION)
    factors = {}
    for name, flavour in (("ELE", ELECTRON), ("MUON", MUON)):
        per_lepton = _positive_normal(rng, _SCALE_FACTOR_SPREAD[name], len(leptons))
        is_flavour = leptons.flavour == flavour
        log_sum = np.bincount(leptons.event[is_flavour], np.log(per_lepton[is_flavour]), n_events)
        factors[name] = np.exp(log_sum)
    for name in ("LepTRIGGER", "PILEUP"):
        factors[name] = _positive_normal(rng, _SCALE_FACTOR_SPREAD[name], n_events)
    return {"mcWeight": weight.astype(np.float32)} | {
        f"scaleFactor_{name}": values.astype(np.float32) for name, values in factors.items()
    }


def data_weights(n_events: int) -> dict[str, np.ndarray]:
    """The real data files' convention: mcWeight 0 and every scale factor 1."""
    return {"mcWeight": np.zeros(n_events, np.float32)} | {name: np.ones(n_events, np.float32) for name in SCALE_FACTORS}


def _positive_normal(rng: np.random.Generator, spread: float, n: int) -> np.ndarray:
    """N(1, spread) clipped to stay positive."""
    return np.clip(rng.normal(1.0, spread, n), 0.5, 1.5)
