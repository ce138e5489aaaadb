"""The cut parameters an optimisation varies, their grid, and the settings at a point."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from agcflow.config import AnalysisSettings

DEFAULT_RANGES = {"jet_pt_min": (25.0, 60.0), "btag_min": (0.3, 0.9)}
DEFAULT_POINTS = {"jet_pt_min": 8, "btag_min": 7}


@dataclass(frozen=True)
class CutParameter:
    """One cut (an ``ObjectCuts`` field) scanned from ``low`` to ``high`` in ``points`` points."""

    name: str
    low: float
    high: float
    points: int

    @property
    def step(self) -> float:
        """The grid step."""
        return (self.high - self.low) / (self.points - 1)

    def values(self) -> np.ndarray:
        """The grid values."""
        return np.round(np.linspace(self.low, self.high, self.points), 10)


def default_parameters(min_jet_pt: float) -> tuple[CutParameter, ...]:
    """The default grid; the jet pt range starts no lower than ``min_jet_pt`` (what the
    delivered columns allow)."""
    low, high = DEFAULT_RANGES["jet_pt_min"]
    return (
        CutParameter("jet_pt_min", max(low, min_jet_pt), high, DEFAULT_POINTS["jet_pt_min"]),
        CutParameter("btag_min", *DEFAULT_RANGES["btag_min"], DEFAULT_POINTS["btag_min"]),
    )


def grid_points(parameters: Sequence[CutParameter]) -> list[dict[str, float]]:
    """Every point of the grid, the last parameter varying fastest."""
    mesh = np.meshgrid(*(p.values() for p in parameters), indexing="ij")
    return [{p.name: float(m.flat[i]) for p, m in zip(parameters, mesh)} for i in range(mesh[0].size)]


def with_cuts(analysis: AnalysisSettings, point: Mapping[str, float]) -> AnalysisSettings:
    """``analysis`` with the point's cut values."""
    options = analysis.options
    return dataclasses.replace(analysis, options=dataclasses.replace(options, cuts=dataclasses.replace(options.cuts, **point)))
