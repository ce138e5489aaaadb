"""Input filesets: generated files, a fileset JSON, or the AGC's list of real CMS files.

All three share the AGC's structure:
``{process: {variation: {"nevts_total": int, "files": [{"path": str, "nevts": int}]}}}``; a
sample may also state how it is normalised: ``"sum_weights"`` (the sum of generator weights of
the whole sample, when the files are a skim of it) and ``"filter_efficiency"`` (the fraction of
the cross section its events represent). The configuration's sample keys of the same names win.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from agcflow.config import AnalysisSettings, InputSettings
from agcflow.errors import ConfigError, InputFileError
from agcflow.util.io import read_json_object

log = logging.getLogger(__name__)

FILESET = "fileset.json"  # the name of a generated dataset's fileset JSON, in its folder


@dataclass(frozen=True)
class InputFile:
    path: str
    nevts: int | None


@dataclass(frozen=True)
class SampleFiles:
    process: str
    variation: str
    files: tuple[InputFile, ...]
    sum_weights: float | None = None
    filter_efficiency: float | None = None

    @property
    def key(self) -> str:
        return f"{self.process}__{self.variation}"


def fileset_path(inputs: InputSettings) -> Path:
    """The fileset JSON the configured source reads."""
    if inputs.source == "generate":
        return inputs.generate.directory / FILESET
    if inputs.source == "fileset":
        return Path(inputs.fileset)
    return Path(inputs.agc_list)


def load_samples(path: Path, analysis: AnalysisSettings, files_per_sample: int = -1) -> list[SampleFiles]:
    """The configured samples' files from a fileset JSON, the first N per sample when N > 0."""
    data = read_json_object(path, "a fileset JSON ({process: {variation: {'files': [...]}}})")
    return [
        sample_files(data, path, sample.name, variation, files_per_sample)
        for sample in analysis.samples
        for variation in sample.variations
    ]


def sample_files(data: dict, path: Path, process: str, variation: str, files_per_sample: int = -1) -> SampleFiles:
    """One sample's files from a loaded fileset JSON (read from ``path``)."""
    variations = data.get(process, {})
    entry = variations.get(variation) if isinstance(variations, dict) else None
    if entry is None:
        raise InputFileError(f"{path}: no entry for sample {process}/{variation}; it holds {sorted(data)}")
    files = _files(entry, path, f"{process}/{variation}")
    facts = {key: _positive(entry, key, path, f"{process}/{variation}") for key in ("sum_weights", "filter_efficiency")}
    return SampleFiles(process, variation, files[:files_per_sample] if files_per_sample > 0 else files, **facts)


def _positive(entry: dict, key: str, path: Path, where: str) -> float | None:
    """An optional positive number of a fileset entry (``filter_efficiency`` at most 1)."""
    value = entry.get(key)
    if value is None:
        return None
    ceiling = 1.0 if key == "filter_efficiency" else float("inf")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= ceiling:
        valid = "a number in (0, 1]" if key == "filter_efficiency" else "a number above 0"
        raise InputFileError(f"{path}: {where}: {key} = {value!r}; expected {valid}")
    return float(value)


def _files(entry: dict, path: Path, where: str) -> tuple[InputFile, ...]:
    try:
        files = tuple(InputFile(str(f["path"]), f.get("nevts")) for f in entry["files"])
    except (KeyError, TypeError, AttributeError) as err:
        raise InputFileError(f"{path}: {where}: expected 'files': [{{'path': ..., 'nevts': ...}}] ({err!r})") from err
    if not files:
        raise InputFileError(f"{path}: {where} lists no files")
    for file in files:
        if file.nevts is not None and (isinstance(file.nevts, bool) or not isinstance(file.nevts, int) or file.nevts < 0):
            raise InputFileError(f"{path}: {where}: {file.path}: nevts = {file.nevts!r}; expected a whole number >= 0")
    return files


def check_source(inputs: InputSettings) -> None:
    """Fail early, naming the key, when the configured fileset does not exist."""
    path = fileset_path(inputs)
    if inputs.source != "generate" and not path.is_file():
        key = "inputs.fileset" if inputs.source == "fileset" else "inputs.agc_list"
        raise ConfigError(f"{key} = {str(path)!r}: file not found")
