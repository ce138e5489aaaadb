"""Event selection and signal/control regions."""

from __future__ import annotations

import numpy as np


def preselection(n_leptons: np.ndarray, n_jets: np.ndarray, min_jets: int) -> np.ndarray:
    """Exactly one selected lepton and at least ``min_jets`` selected jets."""
    return (n_leptons == 1) & (n_jets >= min_jets)


def btag_region(n_btags: np.ndarray, min_btags: int, max_btags: int | None) -> np.ndarray:
    """Events with ``min_btags <= n_btags <= max_btags`` (no upper bound when None)."""
    mask = n_btags >= min_btags
    return mask if max_btags is None else mask & (n_btags <= max_btags)
