"""NanoAOD layout: branch names and types, mantissa rounding, jagged collections, event ids."""

from __future__ import annotations

import awkward as ak
import numpy as np

_EVENTS_PER_LUMI_BLOCK = 1_000
_RUN_NUMBER = 1

_KINEMATICS = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "mass": np.float32}
ELECTRON_FIELDS = _KINEMATICS | {"sip3d": np.float32, "cutBased": np.int32, "charge": np.int32}
MUON_FIELDS = _KINEMATICS | {
    "sip3d": np.float32,
    "pfRelIso04_all": np.float32,
    "tightId": np.bool_,
    "charge": np.int32,
}
JET_FIELDS = _KINEMATICS | {"btagCSVV2": np.float32, "jetId": np.int32}
# NanoAOD stores floats with a reduced mantissa: bits kept (float32 has 23)
_MANTISSA_BITS = {
    "pt": 10,
    "eta": 12,
    "phi": 12,
    "mass": 10,
    "btagCSVV2": 10,
    "sip3d": 10,
    "pfRelIso04_all": 6,
}


def concat_columns(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Join flat column dictionaries that have the same keys."""
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def select_columns(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """The rows of every column where mask is true."""
    return {name: values[mask] for name, values in columns.items()}


def round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to ``bits`` mantissa bits, as NanoAOD stores them."""
    shift = 23 - bits
    if shift <= 0:
        return values
    as_int = values.view(np.uint32)
    mask = np.uint32((0xFFFFFFFF << shift) & 0xFFFFFFFF)
    return ((as_int + np.uint32(1 << (shift - 1))) & mask).view(np.float32)


def collection(columns: dict[str, np.ndarray], n_events: int, dtypes: dict[str, type]) -> ak.Array:
    """Jagged NanoAOD collection: objects of each event sorted by decreasing pt."""
    order = np.lexsort((-columns["pt"], columns["event"]))
    counts = np.bincount(columns["event"], minlength=n_events)
    record = {}
    for name, dtype in dtypes.items():
        values = columns[name][order].astype(dtype)
        record[name] = (
            round_mantissa(values, _MANTISSA_BITS[name]) if name in _MANTISSA_BITS else values
        )
    return ak.unflatten(ak.zip(record), counts)


def event_ids(first_event: int, n_events: int) -> dict[str, np.ndarray]:
    """run, luminosityBlock and event branches; event numbers start at first_event + 1."""
    event = np.arange(first_event + 1, first_event + n_events + 1, dtype=np.uint64)
    return {
        "run": np.full(n_events, _RUN_NUMBER, np.uint32),
        "luminosityBlock": ((event - 1) // _EVENTS_PER_LUMI_BLOCK + 1).astype(np.uint32),
        "event": event,
    }
