"""The ttbar analysis' own settings: object cuts, systematic variations, the loose preselection.

Their JSON schema is ``schema.json`` beside this module; the configuration validates the
``analysis`` block and ``delivery.preselection`` against it before anything is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ObjectCuts:
    electron_pt_min: float
    electron_abs_eta_max: float
    electron_cut_based: int
    electron_sip3d_max: float
    muon_pt_min: float
    muon_abs_eta_max: float
    muon_sip3d_max: float
    muon_iso_max: float
    jet_pt_min: float
    jet_abs_eta_max: float
    jet_id_mask: int
    btag_min: float
    min_jets: int


@dataclass(frozen=True)
class Variations:
    pt_scale_factor: float
    pt_resolution: float
    btag_jets: int
    btag_relative: float
    btag_pt_ref: float
    wjets_scale: float


@dataclass(frozen=True)
class Preselection:
    """``delivery.preselection``; its defaults (the AGC's values) are the schema's."""

    lepton_pt_min: float
    jet_pt_min: float
    min_jets: int
    min_btags: int
    btag_min: float


@dataclass(frozen=True)
class TtbarOptions:
    """``analysis.objects`` and ``analysis.variations``, typed."""

    cuts: ObjectCuts
    variations: Variations


@cache
def schema() -> dict[str, Any]:
    """The plugin's schema pieces: ``analysis`` and ``region`` properties, ``preselection``."""
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text())


def with_floats(cls: type, **values: Any) -> Any:
    """``cls(**values)`` with the values of its float fields as floats: ``--set ...=100`` and
    ``100.0`` in the file are the same cut, and render the same delivery query (its cache key)."""
    types = {f.name: f.type for f in fields(cls)}
    return cls(**{k: float(v) if types[k] == "float" and isinstance(v, int) and not isinstance(v, bool) else v
                  for k, v in values.items()})


def options(raw: Mapping[str, Any]) -> TtbarOptions:
    """The typed ``analysis.objects`` and ``analysis.variations`` of a validated analysis block."""
    objects = raw["objects"]
    cuts = with_floats(
        ObjectCuts,
        **{f"electron_{k}": v for k, v in objects["electron"].items()},
        **{f"muon_{k}": v for k, v in objects["muon"].items()},
        **{f"jet_{k}": v for k, v in objects["jet"].items()},
        btag_min=objects["btag_min"],
        min_jets=objects["min_jets"],
    )
    return TtbarOptions(cuts, with_floats(Variations, **raw["variations"]))


def preselection(raw: Mapping[str, Any]) -> Preselection:
    """The typed ``delivery.preselection``, validated and its defaults filled in."""
    return with_floats(Preselection, **raw)
