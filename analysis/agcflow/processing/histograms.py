"""Histogram hand-off: save/load the AGC's ROOT file and compare histograms the AGC's way.

Names follow the AGC: ``{region}_{process}`` for nominal, ``{region}_{process}_{variation}``
otherwise, plus ``{region}_pseudodata``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist
import numpy as np

from agcflow.config import AnalysisSettings
from agcflow.errors import InputFileError
from agcflow.inputs.fileset import sample_files
from agcflow.physics.weights import sample_weight
from agcflow.util.io import atomic_path, read_json_object

SETTINGS_OBJECT = "agcflow_settings"  # the TObjString holding the settings the histograms were filled with

_REFERENCE_NAME = re.compile(r"histos_(?P<n>\d+|all)_file_per_process\.json")


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


def from_reference(
    path: str | os.PathLike[str],
    analysis: AnalysisSettings | None = None,
    agc_list: str | os.PathLike[str] | None = None,
) -> dict[str, hist.Hist]:
    """Histograms from an AGC reference JSON, which holds contents but no variances.

    With ``analysis`` and the AGC's input list ``agc_list``, each bin's variance is its
    content times the sample's per-event weight (see :func:`reference_event_weights`); the
    pseudodata's follows from its recipe. Without them the variance is set to the content
    (enough for comparisons, which read contents only).
    """
    data = read_json_object(path, "histograms as JSON ({name: {'edges': [...], 'contents': [...]}})")
    contents = {name: _reference_contents(path, name, entry) for name, entry in data.items()}
    variances = {name: np.abs(values) for name, (_, values) in contents.items()}
    if analysis is not None and agc_list is not None:
        weights = reference_event_weights(analysis, Path(agc_list), reference_files_per_sample(path))
        variances = _weighted_variances(path, contents, analysis, weights)
    result = {}
    for name, (edges, values) in contents.items():
        h = hist.Hist(hist.axis.Variable(edges, name="observable"), storage=hist.storage.Weight())
        view = h.view(flow=True)
        view.value = values
        view.variance = variances[name]
        result[name] = h
    return result


def _reference_contents(path: str | os.PathLike[str], name: str, entry: dict) -> tuple[np.ndarray, np.ndarray]:
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
    return edges, contents


def reference_files_per_sample(path: str | os.PathLike[str]) -> int:
    """N of an AGC reference ``histos_<N>_file_per_process.json`` (-1 for ``all``)."""
    match = _REFERENCE_NAME.fullmatch(Path(path).name)
    if match is None:
        raise InputFileError(
            f"{path}: expected an AGC reference named histos_<N|all>_file_per_process.json "
            "(N tells which files the AGC normalised by)"
        )
    return -1 if match["n"] == "all" else int(match["n"])


def reference_event_weights(analysis: AnalysisSettings, agc_list: Path, files_per_sample: int) -> dict[tuple[str, str], float]:
    """Per-event weight of each (process, variation) in an AGC reference: xsec x lumi over the
    events of the first ``files_per_sample`` files of the AGC's list, as the AGC normalises
    (``nevts_total`` of the list only for ``all``)."""
    data = read_json_object(agc_list, "the AGC input list ({process: {variation: {files: [...]}}})")
    weights = {}
    for sample in analysis.samples:
        for variation in sample.variations:
            files = sample_files(data, agc_list, sample.name, variation, files_per_sample).files
            weights[sample.name, variation] = sample_weight(sample.xsec_pb, analysis.lumi_pb, sum(f.nevts or 0 for f in files))
    return weights


def _weighted_variances(
    path: str | os.PathLike[str],
    contents: Mapping[str, tuple[np.ndarray, np.ndarray]],
    analysis: AnalysisSettings,
    weights: Mapping[tuple[str, str], float],
) -> dict[str, np.ndarray]:
    """variance = content x weight; exact where every event has the sample's weight (nominal,
    sample variations, jet-pt variations), to first order for event-weight variations."""
    variances = {}
    for name, (_, values) in contents.items():
        region, rest = _split_region(path, name, analysis)
        if rest != "pseudodata":
            variances[name] = np.abs(values) * weights[_process_variation(path, name, rest, analysis)]
    for name in contents:
        region, rest = _split_region(path, name, analysis)
        if rest == "pseudodata":
            average = analysis.pseudodata_average
            parts = [variances[f"{region}_{part}"] / len(average) ** 2 for part in average]
            variances[name] = sum(parts) + sum(variances[f"{region}_{part}"] for part in analysis.pseudodata_add)
    return variances


def _split_region(path: str | os.PathLike[str], name: str, analysis: AnalysisSettings) -> tuple[str, str]:
    for region in analysis.regions:
        if name.startswith(f"{region.name}_"):
            return region.name, name[len(region.name) + 1:]
    raise InputFileError(f"{path}: histogram {name!r} names none of the regions {[r.name for r in analysis.regions]}")


def _process_variation(path: str | os.PathLike[str], name: str, rest: str, analysis: AnalysisSettings) -> tuple[str, str]:
    """(process, variation whose weight applies): object and weight variations use the nominal's."""
    for sample in sorted(analysis.samples, key=lambda s: -len(s.name)):
        if rest == sample.name or rest.startswith(f"{sample.name}_"):
            variation = rest[len(sample.name) + 1:] or "nominal"
            return sample.name, variation if variation in sample.variations else "nominal"
    raise InputFileError(f"{path}: histogram {name!r} names none of the samples {[s.name for s in analysis.samples]}")


@dataclass(frozen=True)
class Mismatch:
    name: str
    reason: str


COMPARE_MODES = ("strict", "agc")
# The AGC's validate_histograms.py does not check the contents of histograms whose name holds
# this (the jet-resolution smearing is random there), and tolerates missing pseudodata.
RANDOM_IN_AGC = "pt_res_up"
PSEUDODATA_SUFFIX = "_pseudodata"


def compare(
    candidate: Mapping[str, hist.Hist],
    reference: Mapping[str, hist.Hist],
    max_bin_difference: float = 2.0,
    mode: str = "strict",
) -> list[Mismatch]:
    """Compare bin by bin with ``np.isclose``; a run of adjacent mismatching bins passes only
    when each bin is within ``max_bin_difference`` (``np.allclose`` atol) and the run's sums match.

    ``strict``: every histogram of either side must be in the other, ``pt_res_up`` included.
    ``agc``: the AGC's validate_histograms.py: only the reference's histograms are checked,
    a missing ``{region}_pseudodata`` is no error, the contents of ``pt_res_up`` histograms
    are not compared (their edges are).
    """
    if mode not in COMPARE_MODES:
        raise ValueError(f"compare mode {mode!r} unknown; valid: {', '.join(COMPARE_MODES)}")
    agc = mode == "agc"
    missing = sorted(set(reference) - set(candidate))
    mismatches = [Mismatch(n, "missing from candidate") for n in missing if not (agc and n.endswith(PSEUDODATA_SUFFIX))]
    if not agc:
        mismatches += [Mismatch(n, "not in reference") for n in sorted(set(candidate) - set(reference))]
    for name in sorted(set(reference) & set(candidate)):
        check_contents = not (agc and RANDOM_IN_AGC in name)
        reason = _compare_one(candidate[name], reference[name], max_bin_difference, check_contents)
        if reason:
            mismatches.append(Mismatch(name, reason))
    return mismatches


def agc_tolerances(candidate: Mapping[str, hist.Hist], reference: Mapping[str, hist.Hist]) -> list[str]:
    """What ``compare(..., mode="agc")`` let pass that ``strict`` would check, one line each."""
    missing = sorted(n for n in set(reference) - set(candidate) if n.endswith(PSEUDODATA_SUFFIX))
    unchecked = sorted(n for n in set(reference) & set(candidate) if RANDOM_IN_AGC in n)
    extra = sorted(set(candidate) - set(reference))
    lines = [f"contents not compared ({RANDOM_IN_AGC}, random in the AGC): {', '.join(unchecked)}" if unchecked else "",
             f"missing pseudodata tolerated: {', '.join(missing)}" if missing else "",
             f"not in reference, ignored: {', '.join(extra)}" if extra else ""]
    return [line for line in lines if line]


def _compare_one(candidate: hist.Hist, reference: hist.Hist, max_diff: float, check_contents: bool = True) -> str | None:
    got, want = candidate.values(flow=True), reference.values(flow=True)
    if got.shape != want.shape:
        return f"{got.size} bins (with flow) vs {want.size} in reference"
    if not np.allclose(candidate.axes[0].edges, reference.axes[0].edges):
        return "bin edges differ"
    if not check_contents:
        return None
    bad = ~np.isclose(got, want)
    for start, stop in _runs(bad):
        group, ref_group = got[start:stop], want[start:stop]
        if not np.allclose(group, ref_group, atol=max_diff) or not np.isclose(group.sum(), ref_group.sum()):
            return (
                f"bins {start}..{stop - 1} (flow-inclusive index) differ: "
                f"{np.round(group, 4).tolist()} vs {np.round(ref_group, 4).tolist()}"
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
