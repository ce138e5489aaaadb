"""Histogram hand-off: save/load the AGC's ROOT file and compare histograms the AGC's way.

Names follow the AGC: ``{region}_{process}`` for nominal, ``{region}_{process}_{variation}``
otherwise, plus ``{region}_pseudodata``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist
import numpy as np

from agcflow.errors import InputFileError
from agcflow.io import atomic_path, read_json_object

SETTINGS_OBJECT = "agcflow_settings"  # the TObjString holding the settings the histograms were filled with


def histogram_name(region: str, process: str, variation: str = "nominal") -> str:
    """The AGC's name of one histogram."""
    return f"{region}_{process}" if variation == "nominal" else f"{region}_{process}_{variation}"


def empty_histogram(bins: int, low: float, high: float, label: str = "observable") -> hist.Hist:
    """A weighted histogram with under- and overflow, the AGC's storage."""
    axis = hist.axis.Regular(bins, low, high, name="observable", label=label)
    return hist.Hist(axis, storage=hist.storage.Weight())


def save_root(
    histograms: Mapping[str, hist.Hist], path: str | os.PathLike[str], settings: Mapping[str, Any] | None = None
) -> Path:
    """Write histograms as TH1D into one ROOT file, atomically; ``settings`` (the record of the
    settings they were filled with) as a JSON TObjString named ``SETTINGS_OBJECT``."""
    import uproot

    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as out:
            for name in sorted(histograms):
                out[name] = histograms[name]
            if settings is not None:
                out[SETTINGS_OBJECT] = json.dumps(settings, sort_keys=True)
    return Path(path)


def settings_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The settings record ``save_root`` wrote into a histogram file; None when there is none."""
    import uproot

    source = Path(path)
    if not source.is_file():
        raise InputFileError(f"{source}: histogram file not found")
    try:
        with uproot.open(source) as handle:
            return json.loads(str(handle[SETTINGS_OBJECT])) if SETTINGS_OBJECT in handle else None
    except (OSError, ValueError) as err:
        raise InputFileError(f"{source}: not a readable ROOT histogram file ({err})") from err


def load_root(path: str | os.PathLike[str]) -> dict[str, hist.Hist]:
    """Read every TH1 of a ROOT file into ``hist`` objects (flow bins kept)."""
    import uproot

    source = Path(path)
    if not source.is_file():
        raise InputFileError(f"{source}: histogram file not found")
    try:
        with uproot.open(source) as handle:
            names = handle.keys(cycle=False, filter_classname="TH1*")
            return {name: handle[name].to_hist() for name in names}
    except (OSError, ValueError) as err:
        raise InputFileError(f"{source}: not a readable ROOT histogram file ({err})") from err


def from_reference(path: str | os.PathLike[str]) -> dict[str, hist.Hist]:
    """Histograms from an AGC reference JSON (variances unknown there: set to the values)."""
    data = read_json_object(path, "histograms as JSON ({name: {'edges': [...], 'contents': [...]}})")
    result = {}
    for name, entry in data.items():
        try:
            edges = np.asarray(entry["edges"], dtype=float)
            contents = np.asarray(entry["contents"], dtype=float)
        except (KeyError, TypeError, ValueError) as err:
            raise InputFileError(f"{path}: {name!r} is not a histogram {{'edges': [numbers], 'contents': [numbers]}} "
                                 f"({err!r})") from err
        if edges.ndim != 1 or edges.size < 2 or contents.size != edges.size + 1:
            raise InputFileError(
                f"{path}: {name} has {contents.size} contents for {edges.size} edges; "
                "expected edges+1 (under- and overflow included)"
            )
        h = hist.Hist(hist.axis.Variable(edges, name="observable"), storage=hist.storage.Weight())
        view = h.view(flow=True)
        view.value = contents
        view.variance = np.abs(contents)
        result[name] = h
    return result


@dataclass(frozen=True)
class Mismatch:
    name: str
    reason: str


def compare(
    candidate: Mapping[str, hist.Hist],
    reference: Mapping[str, hist.Hist],
    max_bin_difference: float = 2.0,
) -> list[Mismatch]:
    """The AGC's comparison: bin-by-bin ``np.isclose``; a run of adjacent mismatching bins
    passes only when each bin is within ``max_bin_difference`` and the run's sum matches."""
    mismatches = [Mismatch(n, "missing from candidate") for n in sorted(set(reference) - set(candidate))]
    mismatches += [Mismatch(n, "not in reference") for n in sorted(set(candidate) - set(reference))]
    for name in sorted(set(reference) & set(candidate)):
        reason = _compare_one(candidate[name], reference[name], max_bin_difference)
        if reason:
            mismatches.append(Mismatch(name, reason))
    return mismatches


def _compare_one(candidate: hist.Hist, reference: hist.Hist, max_diff: float) -> str | None:
    got, want = candidate.values(flow=True), reference.values(flow=True)
    if got.shape != want.shape:
        return f"{got.size} bins (with flow) vs {want.size} in reference"
    if not np.allclose(candidate.axes[0].edges, reference.axes[0].edges):
        return "bin edges differ"
    bad = ~np.isclose(got, want)
    for start, stop in _runs(bad):
        diff = np.abs(got[start:stop] - want[start:stop])
        if diff.max() > max_diff or not np.isclose(got[start:stop].sum(), want[start:stop].sum()):
            return (
                f"bins {start}..{stop - 1} (flow-inclusive index) differ: "
                f"{np.round(got[start:stop], 4).tolist()} vs {np.round(want[start:stop], 4).tolist()}"
            )
    return None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges of consecutive True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    changes = np.flatnonzero(np.diff(padded))
    return list(zip(changes[::2], changes[1::2]))


def load_any(path: str | os.PathLike[str]) -> dict[str, hist.Hist]:
    """Histograms from a ROOT file or an AGC reference JSON, by suffix."""
    return from_reference(path) if Path(path).suffix == ".json" else load_root(path)
