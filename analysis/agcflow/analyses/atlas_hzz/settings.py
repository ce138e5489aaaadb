"""The H->ZZ*->4l analysis' own settings: the four-lepton selection, the variations, the query's
preselection. Their JSON schema is ``schema.json`` beside this module (defaults there)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Selection:
    """``analysis.selection``: the total charge and the allowed sums of lepton types."""

    total_charge: int
    type_sums: tuple[int, ...]


@dataclass(frozen=True)
class Variations:
    """``analysis.variations``: relative scale-factor and m4l-scale variations."""

    scale_factor: float
    m4l_scale: float


@dataclass(frozen=True)
class HzzOptions:
    """The plugin's keys of the ``analysis`` block, typed."""

    selection: Selection
    variations: Variations


@dataclass(frozen=True)
class Preselection:
    """``delivery.preselection``: the number of leptons the query requires."""

    lep_n: int


@cache
def schema() -> dict[str, Any]:
    """The plugin's schema pieces: ``analysis`` and ``region`` properties, ``preselection``."""
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text())


def _with_defaults(block: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema()["analysis"]["properties"][block]["properties"]
    return {key: raw.get(key, spec["default"]) for key, spec in properties.items()}


def options(raw: Mapping[str, Any]) -> HzzOptions:
    """The typed ``selection`` and ``variations`` of a schema-valid ``analysis`` block."""
    selection = _with_defaults("selection", raw.get("selection", {}))
    variations = _with_defaults("variations", raw.get("variations", {}))
    return HzzOptions(
        Selection(int(selection["total_charge"]), tuple(int(s) for s in selection["type_sums"])),
        Variations(float(variations["scale_factor"]), float(variations["m4l_scale"])),
    )


def preselection(raw: Mapping[str, Any]) -> Preselection:
    """The typed ``delivery.preselection`` (its schema default filled in)."""
    default = schema()["preselection"]["properties"]["lep_n"]["default"]
    return Preselection(int(raw.get("lep_n", default)))
