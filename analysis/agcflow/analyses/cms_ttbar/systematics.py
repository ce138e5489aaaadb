"""Systematic variations: jet-pt variations and event-weight factors.

The jet-resolution smearing is a deterministic function of (seed, run, lumi, event, jet index),
so it does not depend on chunking, worker count or the order of processing.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def scaled_pt(pt: ak.Array, factor: float) -> ak.Array:
    """Every jet pt times ``factor`` (jet energy scale)."""
    return pt * np.float32(factor)


def resolution_factors(
    run: np.ndarray, lumi: np.ndarray, event: np.ndarray, counts: np.ndarray, sigma: float, seed: int
) -> ak.Array:
    """Per-jet factors r ~ Normal(1, sigma), jagged like jets with ``counts`` per event."""
    return ak.unflatten(resolution_factors_flat(run, lumi, event, counts, sigma, seed), counts)


def resolution_factors_flat(
    run: np.ndarray, lumi: np.ndarray, event: np.ndarray, counts: np.ndarray, sigma: float, seed: int
) -> np.ndarray:
    """``resolution_factors`` as one flat float32 array over all jets."""
    counts = np.asarray(counts, dtype=np.int64)
    per_jet = [np.repeat(np.asarray(x, dtype=np.uint64), counts) for x in (run, lumi, event)]
    jet_index = (np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts))
    key = _hash(np.full(counts.sum(), seed, dtype=np.uint64), *per_jet, jet_index.astype(np.uint64))
    normal = _box_muller(_unit(key), _unit(_splitmix64(key ^ _GOLDEN)))
    return (1.0 + sigma * normal).astype(np.float32)


def btag_weight_factors(
    jet_pt: ak.Array, n_jets: int, relative: float, pt_ref: float
) -> dict[str, np.ndarray]:
    """Weight factors ``btag_var_{i}_{up,down}`` = 1 +/- relative * pt_i / pt_ref for the
    i-th selected jet (events must have at least ``n_jets`` selected jets)."""
    counts = ak.to_numpy(ak.num(jet_pt, axis=1))
    return btag_weight_factors_flat(ak.to_numpy(ak.flatten(jet_pt)), counts, n_jets, relative, pt_ref)


def btag_weight_factors_flat(
    pt: np.ndarray, counts: np.ndarray, n_jets: int, relative: float, pt_ref: float
) -> dict[str, np.ndarray]:
    """``btag_weight_factors`` on flat selected-jet pt with jets per event."""
    starts = np.cumsum(counts) - counts
    factors = {}
    for i in range(n_jets):
        shift = relative * pt[starts + i].astype(np.float64) / pt_ref
        factors[f"btag_var_{i}_up"] = 1.0 + shift
        factors[f"btag_var_{i}_down"] = 1.0 - shift
    return factors


def scale_weight_factors(relative: float) -> dict[str, float]:
    """Constant weight factors ``scale_var_{up,down}`` = 1 +/- relative."""
    return {"scale_var_up": 1.0 + relative, "scale_var_down": 1.0 - relative}


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _hash(*keys: np.ndarray) -> np.ndarray:
    state = np.zeros_like(keys[0])
    for key in keys:
        state = _splitmix64(state ^ key)
    return state


def _unit(bits: np.ndarray) -> np.ndarray:
    """Uniform in (0, 1] from the top 53 bits."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53


def _box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
