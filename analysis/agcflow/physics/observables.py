"""Observables: HT and m_bjj. Awkward in, numpy out."""

from __future__ import annotations

import awkward as ak
import numpy as np


def ht(jet_pt: ak.Array) -> np.ndarray:
    """Scalar sum of the (selected) jet pt of each event."""
    return ak.to_numpy(ak.sum(jet_pt, axis=1))


def trijet_mass(jets: ak.Array, pt: ak.Array, is_btag: ak.Array) -> np.ndarray:
    """m_bjj: mass of the 3-jet combination with the largest vector-sum pt among the
    combinations holding at least one b-tagged jet (the first such on ties).

    ``jets`` carry eta, phi, mass; ``pt`` is the (possibly varied) pt of the same jets.
    Every event must have such a combination (true for >= 3 jets and >= 1 b-tag).
    """
    eta, phi = ak.values_astype(jets.eta, np.float64), ak.values_astype(jets.phi, np.float64)
    pt64 = ak.values_astype(pt, np.float64)
    px, py, pz = pt64 * np.cos(phi), pt64 * np.sin(phi), pt64 * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + ak.values_astype(jets.mass, np.float64) ** 2)
    four = ak.zip({"px": px, "py": py, "pz": pz, "e": energy, "b": is_btag})
    j1, j2, j3 = ak.unzip(ak.combinations(four, 3))
    sx, sy = j1.px + j2.px + j3.px, j1.py + j2.py + j3.py
    sz, se = j1.pz + j2.pz + j3.pz, j1.e + j2.e + j3.e
    has_b = j1.b | j2.b | j3.b
    trijet_pt = ak.where(has_b, np.hypot(sx, sy), -np.inf)
    best = ak.argmax(trijet_pt, axis=1, keepdims=True)
    mass2 = (se**2 - sx**2 - sy**2 - sz**2)[best]
    return np.sqrt(np.maximum(ak.to_numpy(ak.flatten(mass2)), 0.0))


OBSERVABLES = {"ht": "HT", "mbjj": "m_bjj"}
