"""Flat ("jagged numpy") collections: per-object numpy fields plus per-event counts.

Per-chunk work is dominated by fixed per-call costs when every step is an awkward broadcast;
converting each collection to flat numpy once keeps the analysis at numpy speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import awkward as ak
import numpy as np


@dataclass(frozen=True)
class Flat:
    """One collection: ``fields`` are flat per-object arrays, ``counts`` objects per event."""

    counts: np.ndarray
    fields: Mapping[str, np.ndarray]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def starts(self) -> np.ndarray:
        """Index of each event's first object in the flat arrays."""
        return np.cumsum(self.counts) - self.counts

    def event_index(self) -> np.ndarray:
        """The event each object belongs to."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def events(self, mask: np.ndarray) -> Flat:
        """The collection restricted to the events where ``mask`` is true."""
        keep = np.repeat(mask, self.counts)
        return Flat(self.counts[mask], {k: v[keep] for k, v in self.fields.items()})

    def objects(self, mask: np.ndarray) -> Flat:
        """The collection restricted to the objects where ``mask`` is true."""
        return Flat(count(mask, self.counts), {k: v[mask] for k, v in self.fields.items()})

    def with_field(self, name: str, values: np.ndarray) -> Flat:
        """A copy with one field replaced or added."""
        return Flat(self.counts, {**self.fields, name: values})


def from_awkward(collection: ak.Array, fields: tuple[str, ...]) -> Flat:
    """Flatten a jagged collection of records (e.g. ``events.Jet``) into a ``Flat``."""
    counts = ak.to_numpy(ak.num(collection, axis=1)).astype(np.int64)
    return Flat(counts, {f: ak.to_numpy(ak.flatten(collection[f], axis=1)) for f in fields})


def count(mask: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Number of true values of a per-object ``mask`` in each event."""
    return segment_sum(mask.astype(np.int64), counts)


def segment_sum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-event sums of per-object ``values`` (each summed in object order)."""
    out = np.zeros(len(counts), dtype=np.int64 if values.dtype.kind in "biu" else np.float64)
    nonempty = counts > 0
    if nonempty.any():
        starts = (np.cumsum(counts) - counts)[nonempty]
        out[nonempty] = np.add.reduceat(values.astype(out.dtype, copy=False), starts)
    return out


def unflatten(values: np.ndarray, counts: np.ndarray) -> ak.Array:
    """Back to a jagged awkward array."""
    return ak.unflatten(values, counts)
