"""The cut parameters an optimisation varies, their grid, and the settings at a point.

The cuts and their default grid are the analysis plugin's
(:meth:`~agcflow.analyses.base.Analysis.cut_parameters`); the command line may narrow or
replace them (``--parameter NAME=LOW:HIGH:POINTS``, ``--points N``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agcflow.analyses.base import CutParameter
from agcflow.config import AnalysisSettings
from agcflow.errors import ConfigError


def parse_parameter(text: str) -> tuple[str, float | None, float | None, int | None]:
    """``NAME=LOW:HIGH:POINTS`` (any of the three may be empty: the default) as a tuple."""
    name, sep, spec = text.partition("=")
    parts = spec.split(":") if sep else []
    if not name or len(parts) != 3:
        raise ConfigError(f"--parameter {text!r}: expected NAME=LOW:HIGH:POINTS, e.g. btag_min=0.3:0.9:7 "
                          "(an empty field keeps the default: jet_pt_min=::4)")
    try:
        low, high = (float(part) if part else None for part in parts[:2])
        points = int(parts[2]) if parts[2] else None
    except ValueError as err:
        raise ConfigError(f"--parameter {text!r}: {err}; LOW and HIGH are numbers, POINTS an integer") from err
    return name, low, high, points


def chosen_parameters(analysis: AnalysisSettings, preselection: Any, specs: Sequence[str] = (),
                      points: int | None = None) -> tuple[CutParameter, ...]:
    """The plugin's default grid with ``specs`` (``NAME=LOW:HIGH:POINTS``) applied: when any
    spec is given, only the named cuts are varied; ``points`` sets every grid's point count."""
    defaults = {p.name: p for p in analysis.plugin.cut_parameters(analysis, preselection)}
    if not defaults:
        raise ConfigError(f"analysis {analysis.plugin.name!r} declares no cut parameters to optimise "
                          "(Analysis.cut_parameters)")
    chosen = dict(defaults) if not specs else {}
    for name, low, high, count in map(parse_parameter, specs):
        if name not in defaults:
            raise ConfigError(f"--parameter {name}: not a cut of analysis {analysis.plugin.name!r}; "
                              f"valid: {', '.join(defaults)}")
        base = defaults[name]
        chosen[name] = CutParameter(name, base.low if low is None else low, base.high if high is None else high,
                                    base.points if count is None else count)
    if points is not None:
        chosen = {name: dataclasses.replace(p, points=points) for name, p in chosen.items()}
    for p in chosen.values():
        if p.points < 2 or not p.low < p.high:
            raise ConfigError(f"--parameter {p.name}={p.low:g}:{p.high:g}:{p.points}: needs LOW < HIGH and at least "
                              "2 points")
    return tuple(chosen.values())


def grid_points(parameters: Sequence[CutParameter]) -> list[dict[str, float]]:
    """Every point of the grid, the last parameter varying fastest."""
    mesh = np.meshgrid(*(p.values() for p in parameters), indexing="ij")
    return [{p.name: float(m.flat[i]) for p, m in zip(parameters, mesh)} for i in range(mesh[0].size)]


def with_cuts(analysis: AnalysisSettings, point: Mapping[str, float]) -> AnalysisSettings:
    """``analysis`` with the point's cut values (the plugin's :meth:`~agcflow.analyses.base.Analysis.with_cuts`)."""
    return analysis.plugin.with_cuts(analysis, point)
