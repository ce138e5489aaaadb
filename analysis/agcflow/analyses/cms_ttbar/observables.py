"""Observables: HT and m_bjj, on flat per-jet arrays with per-event counts.

The awkward-facing wrappers (``ht``, ``trijet_mass``) flatten once and call the flat versions.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

import awkward as ak
import numpy as np

from agcflow.physics.jagged import segment_sum

OBSERVABLES = {"ht": "HT", "mbjj": "m_bjj"}


def ht(jet_pt: ak.Array) -> np.ndarray:
    """Scalar sum of the (selected) jet pt of each event."""
    counts = ak.to_numpy(ak.num(jet_pt, axis=1))
    return ht_flat(ak.to_numpy(ak.flatten(jet_pt)), counts)


def ht_flat(pt: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """HT from flat jet pt and jets per event."""
    return segment_sum(pt, counts)


def trijet_mass(jets: ak.Array, pt: ak.Array, is_btag: ak.Array) -> np.ndarray:
    """m_bjj of jagged jets (fields eta, phi, mass) with (possibly varied) ``pt``."""
    flat = {name: ak.to_numpy(ak.flatten(jets[name])) for name in ("eta", "phi", "mass")}
    return trijet_mass_flat(
        ak.to_numpy(ak.flatten(pt)), flat["eta"], flat["phi"], flat["mass"],
        ak.to_numpy(ak.flatten(is_btag)), ak.to_numpy(ak.num(pt, axis=1)),
    )


def trijet_mass_flat(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray, is_btag: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """m_bjj: mass of the 3-jet combination with the largest vector-sum pt among those holding
    at least one b-tagged jet; combinations in lexicographic order, the first wins ties.

    Every event needs >= 3 jets and >= 1 b-tag (true in the analysis' regions).
    """
    pt, eta, phi = (np.asarray(x, dtype=np.float64) for x in (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + np.asarray(mass, dtype=np.float64) ** 2)
    result = np.zeros(len(counts))
    starts = np.cumsum(counts) - counts
    for n in np.unique(counts):
        events = np.flatnonzero(counts == n)
        index = starts[events, None, None] + jet_triplets(int(n))[None]  # (events, combos, 3)
        sx, sy, sz, se = (v[index].sum(axis=2) for v in (px, py, pz, energy))
        trijet_pt = np.where(is_btag[index].any(axis=2), np.hypot(sx, sy), -np.inf)
        best = np.argmax(trijet_pt, axis=1)[:, None]
        take = lambda v: np.take_along_axis(v, best, axis=1)[:, 0]  # noqa: E731
        mass2 = take(se) ** 2 - take(sx) ** 2 - take(sy) ** 2 - take(sz) ** 2
        result[events] = np.sqrt(np.maximum(mass2, 0.0))
    return result


@cache
def jet_triplets(n: int) -> np.ndarray:
    """All 3-combinations of range(n) in lexicographic order, shape (combos, 3)."""
    return np.array(list(combinations(range(n), 3)), dtype=np.int64).reshape(-1, 3)
