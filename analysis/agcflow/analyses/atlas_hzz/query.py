"""The H->ZZ*->4l delivery query, defined once: exactly four leptons, the lepton columns, the
event weight and the product of the scale factors with its up and down variations computed in
the delivery (as the AGC's ServiceX query does).

``func_adl_text`` renders it for func_adl (ServiceX's uproot transformer, func_adl_uproot);
``preselection_mask`` and ``derived_columns`` are the same on arrays, run by the local backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agcflow.analyses.atlas_hzz.settings import Preselection, Variations
from agcflow.physics.columns import ColumnLayout

SCALE_FACTORS = ("scaleFactor_ELE", "scaleFactor_MUON", "scaleFactor_LepTRIGGER", "scaleFactor_PILEUP")
# the derived columns: the product of the scale factors, and it times (1 + x), (1 - x)
SCALE_FACTOR, SCALE_FACTOR_UP, SCALE_FACTOR_DOWN = "scaleFactor", "scaleFactorUP", "scaleFactorDOWN"

LAYOUT = ColumnLayout(
    event=("runNumber", "eventNumber", "channelNumber", "mcWeight"),
    collections={"lep": ("pt", "eta", "phi", "E", "charge", "type")},
    counters={"lep": "lep_n"},
    derived=(SCALE_FACTOR, SCALE_FACTOR_UP, SCALE_FACTOR_DOWN),
    derived_from=SCALE_FACTORS,
)


@dataclass(frozen=True)
class DeliveryQuery:
    """The query's parameters: the number of leptons and the scale-factor variation."""

    preselection: Preselection
    variations: Variations
    layout: ColumnLayout = LAYOUT

    def func_adl_text(self) -> str:
        """The query as func_adl method-chain text: ``.Where(...).Select(...)``."""
        return f".Where({self.where_clause()!r}).Select({self.select_clause()!r})"

    def record(self) -> dict[str, Any]:
        """The preselection, as the manifest records it."""
        return dataclasses.asdict(self.preselection)

    def where_clause(self) -> str:
        """The ``Where`` lambda: exactly ``lep_n`` leptons."""
        return f"lambda e: e.lep_n == {self.preselection.lep_n}"

    def select_clause(self) -> str:
        """The ``Select`` lambda: the delivered columns, the scale factors multiplied."""
        product = " * ".join(f"e.{name}" for name in SCALE_FACTORS)
        up, down = self.factors()
        read = [f"'{name}': e.{name}" for name in (*self.layout.event, *self.lepton_columns())]
        derived = [f"'{SCALE_FACTOR}': {product}", f"'{SCALE_FACTOR_UP}': {product} * {up!r}",
                   f"'{SCALE_FACTOR_DOWN}': {product} * {down!r}"]
        return "lambda e: {" + ", ".join([*read, *derived]) + "}"

    def lepton_columns(self) -> tuple[str, ...]:
        """The delivered per-lepton branches (``lep_pt``, ...)."""
        return tuple(f"lep_{name}" for name in self.layout.collections["lep"])

    def factors(self) -> tuple[float, float]:
        """The up and down factors of the scale-factor variation (1.1, 0.9 by default)."""
        return 1.0 + self.variations.scale_factor, 1.0 - self.variations.scale_factor

    def preselection_mask(self, flat: Mapping[str, np.ndarray]) -> np.ndarray:
        """Events with exactly ``lep_n`` leptons; ``flat`` as ``LAYOUT.flat`` gives."""
        return flat["nlep"] == self.preselection.lep_n

    def derived_columns(self, flat: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The product scale factor and its variations, float32 as func_adl_uproot computes them."""
        product = np.ones(len(flat["nlep"]), np.float32)
        for name in SCALE_FACTORS:
            product = product * flat[name].astype(np.float32)
        up, down = self.factors()
        return {SCALE_FACTOR: product, SCALE_FACTOR_UP: product * np.float32(up),
                SCALE_FACTOR_DOWN: product * np.float32(down)}
