"""The delivery manifest (``results/delivery/manifest.json``), typed: per sample its input
events, file records and one skim; the query and preselection it was delivered with; totals,
skipped files, the backend; the settings record and provenance ``agcflow deliver`` adds.

``Manifest.from_json`` checks a manifest read from a file (an error names the file, the key and
what to do); ``Manifest.to_json`` gives back the JSON the delivery writes, key for key in the
same order, so the file format is this module's and nobody else's. Keys this agcflow does not
know are kept (``extra``) and written back after the known ones.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agcflow.errors import InputFileError
from agcflow.util import provenance
from agcflow.util.io import read_json

JSONObject = Mapping[str, Any]

# JSON kinds a manifest value may have, by the name an error gives them.
STRING, INTEGER, NUMBER, BOOLEAN, OBJECT, ARRAY = "a string", "an integer", "a number", "a boolean", "an object", "an array"


@dataclass(frozen=True)
class FileEntry:
    """One delivered input file: its selected events as flat columns (a ``delivery.local.FileRecord``)."""

    source: str
    columns: str  # "" where the file kept no event (servicex)
    nevts_in: int
    nevts_out: int
    bytes_read: int
    wall_s: float
    cached: bool
    extra: JSONObject = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str, path: str) -> FileEntry:
        keys = _Keys(data, where, path)
        return cls(keys.take("source", STRING), keys.take("columns", STRING), keys.take("nevts_in", INTEGER),
                   keys.take("nevts_out", INTEGER), keys.take("bytes_read", INTEGER), keys.take("wall_s", NUMBER),
                   keys.take("cached", BOOLEAN), keys.extra())

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "columns": self.columns, "nevts_in": self.nevts_in, "nevts_out": self.nevts_out,
                "bytes_read": self.bytes_read, "wall_s": self.wall_s, "cached": self.cached, **_copy(self.extra)}


@dataclass(frozen=True)
class SkimEntry:
    """A sample's NanoAOD-like ROOT skim and its merged flat columns (a ``delivery.local.SampleSkim``)."""

    path: str  # "" for a sample without events (servicex)
    uuid: str  # the ROOT file UUID (hex), "" when unknown
    nevts: int
    columns: str | None  # the merged columns; None: not recorded (a manifest of an older agcflow)
    cached: bool
    extra: JSONObject = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str, path: str) -> SkimEntry:
        keys = _Keys(data, where, path)
        return cls(keys.take("path", STRING), keys.take("uuid", STRING), keys.take("nevts", INTEGER),
                   keys.take("columns", STRING, required=False), keys.take("cached", BOOLEAN), keys.extra())

    def to_json(self) -> dict[str, Any]:
        columns = {} if self.columns is None else {"columns": self.columns}
        return {"path": self.path, "uuid": self.uuid, "nevts": self.nevts, **columns, "cached": self.cached,
                **_copy(self.extra)}


@dataclass(frozen=True)
class SampleEntry:
    """One delivered sample (``process__variation``): its input events (its normalisation), one
    record per delivered file in fileset order, and its skim."""

    process: str
    variation: str
    nevts_total: int
    files: tuple[FileEntry, ...]
    skim: SkimEntry
    extra: JSONObject = field(default_factory=dict)
    # the fileset's normalisation facts of the sample, where it has them (inputs.fileset.SampleFiles)
    sum_weights: float | None = None
    filter_efficiency: float | None = None

    @classmethod
    def from_json(cls, data: Any, where: str, path: str) -> SampleEntry:
        keys = _Keys(data, where, path)
        files = tuple(FileEntry.from_json(f, f"{where}.files[{i}]", path) for i, f in enumerate(keys.take("files", ARRAY)))
        sum_weights, efficiency = keys.take("sum_weights", NUMBER, False), keys.take("filter_efficiency", NUMBER, False)
        return cls(keys.take("process", STRING), keys.take("variation", STRING), keys.take("nevts_total", INTEGER),
                   files, SkimEntry.from_json(keys.take("skim", OBJECT), f"{where}.skim", path), keys.extra(),
                   sum_weights, efficiency)

    def to_json(self) -> dict[str, Any]:
        facts = {key: value for key, value in (("sum_weights", self.sum_weights),
                                               ("filter_efficiency", self.filter_efficiency)) if value is not None}
        return {"process": self.process, "variation": self.variation, "nevts_total": self.nevts_total, **facts,
                "files": [f.to_json() for f in self.files], "skim": self.skim.to_json(), **_copy(self.extra)}


@dataclass(frozen=True)
class SkippedFile:
    """An input file skip mode (``processing.skip_bad_files``) left out, and why."""

    sample: str
    path: str
    reason: str
    extra: JSONObject = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str, path: str) -> SkippedFile:
        keys = _Keys(data, where, path)
        return cls(keys.take("sample", STRING), keys.take("path", STRING), keys.take("reason", STRING), keys.extra())

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample, "path": self.path, "reason": self.reason, **_copy(self.extra)}


@dataclass(frozen=True)
class ServiceXEndpoint:
    """The ServiceX endpoint a servicex delivery used (its token is never recorded)."""

    endpoint: str  # its name in servicex.yaml
    url: str
    extra: JSONObject = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str, path: str) -> ServiceXEndpoint:
        keys = _Keys(data, where, path)
        return cls(keys.take("endpoint", STRING), keys.take("url", STRING), keys.extra())

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "url": self.url, **_copy(self.extra)}


@dataclass(frozen=True)
class Manifest:
    """What a delivery wrote: the manifest every later stage reads.

    ``settings`` (the deliver stage's settings record, kept under ``provenance.SETTINGS_KEY``)
    and ``provenance`` are added by ``agcflow deliver`` (``stages.run_delivery``): None in the
    manifest ``delivery.backends.deliver`` returns. ``servicex`` is set by the servicex backend only.
    """

    backend: str
    query: str  # the delivery query's func_adl text: its identity
    preselection: JSONObject  # the preselection as the query records it (DeliveryQuery.record)
    samples: Mapping[str, SampleEntry]  # by ``process__variation``, in fileset order
    skipped: tuple[SkippedFile, ...]
    events_in: int
    events_out: int
    bytes_read: int  # by reads of input files (cache hits read nothing)
    files_cached: int
    wall_s: float
    servicex: ServiceXEndpoint | None = None
    settings: JSONObject | None = None
    provenance: JSONObject | None = None
    extra: JSONObject = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike[str] = "the manifest") -> Manifest:
        """The manifest ``data`` (JSON read from ``path``, which errors name); InputFileError
        naming the key when one is missing or of the wrong type."""
        path = str(path)
        keys = _Keys(data, "", path)
        samples = keys.take("samples", OBJECT)
        skipped = keys.take("skipped", ARRAY)
        servicex = keys.take("servicex", OBJECT, required=False)
        return cls(
            backend=keys.take("backend", STRING),
            query=keys.take("query", STRING),
            preselection=keys.take("preselection", OBJECT),
            samples={key: SampleEntry.from_json(entry, f"samples[{key!r}]", path) for key, entry in samples.items()},
            skipped=tuple(SkippedFile.from_json(s, f"skipped[{i}]", path) for i, s in enumerate(skipped)),
            events_in=keys.take("events_in", INTEGER),
            events_out=keys.take("events_out", INTEGER),
            bytes_read=keys.take("bytes_read", INTEGER),
            files_cached=keys.take("files_cached", INTEGER),
            wall_s=keys.take("wall_s", NUMBER),
            servicex=None if servicex is None else ServiceXEndpoint.from_json(servicex, "servicex", path),
            settings=keys.take(provenance.SETTINGS_KEY, OBJECT, required=False),
            provenance=keys.take("provenance", OBJECT, required=False),
            extra=keys.extra(),
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest as the delivery writes it (``util.io.write_json``)."""
        data = {
            "backend": self.backend,
            "query": self.query,
            "preselection": _copy(self.preselection),
            "samples": {key: entry.to_json() for key, entry in self.samples.items()},
            "skipped": [s.to_json() for s in self.skipped],
            "events_in": self.events_in,
            "events_out": self.events_out,
            "bytes_read": self.bytes_read,
            "files_cached": self.files_cached,
            "wall_s": self.wall_s,
        }
        if self.servicex is not None:
            data["servicex"] = self.servicex.to_json()
        if self.settings is not None:
            data[provenance.SETTINGS_KEY] = _copy(self.settings)
        if self.provenance is not None:
            data["provenance"] = _copy(self.provenance)
        return {**data, **_copy(self.extra)}

    def skipped_in(self, sample: str) -> list[str]:
        """The paths of the skipped input files of ``sample``."""
        return [s.path for s in self.skipped if s.sample == sample]


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """The manifest at ``path``; InputFileError naming the file when it is missing, not JSON or
    not a manifest this agcflow reads."""
    return Manifest.from_json(read_json(path), path)


class _Keys:
    """The keys of one JSON object of a manifest, taken one by one and type-checked; errors name
    the file and the key (``where`` locates the object: ``samples['ttbar__nominal'].skim``)."""

    def __init__(self, data: Any, where: str, path: str) -> None:
        if not isinstance(data, dict):
            raise _invalid(path, f"{where or 'the file'} is {_kind(data)}, not {OBJECT}")
        self.data, self.where, self.path, self.taken = data, where, path, set()

    def take(self, key: str, kind: str, required: bool = True) -> Any:
        self.taken.add(key)
        name = f"{self.where}.{key}" if self.where else key
        if key not in self.data:
            if not required:
                return None
            raise _invalid(self.path, f"key {name!r} is missing")
        value = self.data[key]
        if _kind(value) != kind and not (kind == NUMBER and _kind(value) == INTEGER):
            raise _invalid(self.path, f"{name!r} is {_kind(value)} ({value!r:.60}), not {kind}")
        return value

    def extra(self) -> dict[str, Any]:
        return {key: value for key, value in self.data.items() if key not in self.taken}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return BOOLEAN
    kinds = {str: STRING, int: INTEGER, float: NUMBER, dict: OBJECT, list: ARRAY}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "null" if value is None else "?")


def _invalid(path: str, problem: str) -> InputFileError:
    return InputFileError(f"{path}: not a delivery manifest this agcflow reads: {problem}; run `agcflow deliver` "
                          "again to write it anew (cached files are reused)")


def _copy(data: JSONObject) -> dict[str, Any]:
    return copy.deepcopy(dict(data))
