"""Local execution of the delivery query: one Dask task per input file, one skim per sample.

Each file's selected events are cached as flat numpy columns under a key of the query text,
the tree, the input file (path, size, mtime) and the code (package version and a digest of the
delivery modules): any change misses the cache. A sidecar JSON, written last, marks an entry
complete; a run killed earlier leaves no entry that is used. Sidecars name their files relative
to the cache directory (a moved cache still hits) with their sizes; a hit whose files differ
(truncated, another event count) is logged and recomputed. A sample's columns are then merged
into one NanoAOD-like ROOT skim (keyed by its files' keys) for coffea: few, larger chunks
instead of many tiny ones.

Reading a file is retried within a ``RetryBudget`` on transient errors only: a local file not
there yet (a shared file system catching up), a dropped connection or a timeout. A corrupt or
truncated file, a wrong tree, missing branches or an entry count other than the fileset's fail
at once.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import os
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from agcflow import __version__
from agcflow.analyses.base import DeliveryQuery, query_columns
from agcflow.delivery import remote as remote_inputs
from agcflow.errors import InputFileError
from agcflow.physics.columns import ColumnLayout
from agcflow.util.io import atomic_path, read_json, write_json
from agcflow.util.retry import Retryable, RetryBudget, is_transient, with_retries

log = logging.getLogger(__name__)

STEP_SIZE = 500_000
REMOTE_TIMEOUT_S = 30


class TransientReadError(InputFileError, Retryable):
    """A read that a second try may cure: a local file not there yet, a dropped connection."""


READ_RETRIES = RetryBudget(attempts=3, backoff_s=0.5)


@dataclass(frozen=True)
class FileRecord:
    """What delivering one input file produced: its selected events as flat columns."""

    source: str
    columns: str
    nevts_in: int
    nevts_out: int
    bytes_read: int
    wall_s: float
    cached: bool = False


@dataclass(frozen=True)
class SampleSkim:
    """One NanoAOD-like ROOT skim holding a whole sample's delivered events, and the same
    events as flat columns (what cached passes read: one file per sample, not one per input)."""

    path: str
    uuid: str  # the ROOT file UUID (hex): processing need not reopen the file to learn it
    nevts: int
    columns: str = ""
    cached: bool = False


def _code_identity() -> str:
    """The package version and a digest of the code that decides what a cache entry holds."""
    return f"{__version__}+{_digest(Path(__file__).read_text())[:12]}"


@functools.cache
def query_code(kind: type) -> str:
    """A digest of the source of the module defining a query type (its preselection on arrays)."""
    path = inspect.getsourcefile(kind)
    return _digest(Path(path).read_text())[:12] if path else kind.__qualname__


def cache_key(source: str, tree: str, query: DeliveryQuery) -> str:
    """Key of one file's delivery: query text, tree, file identity and code identity (this
    module's and the query's)."""
    identity = source
    if os.path.exists(source):
        stat = os.stat(source)
        identity = f"{os.path.abspath(source)}|{stat.st_size}|{stat.st_mtime_ns}"
    return _digest(query.func_adl_text(), tree, identity, CODE_IDENTITY, query_code(type(query)))


def deliver_file(
    source: str, tree: str, query: DeliveryQuery, cache_dir: str, expected: int | None,
    budget: RetryBudget = READ_RETRIES,
) -> FileRecord:
    """Select one file's events (or reuse the cached selection), retrying transient read errors
    within ``budget``; raise InputFileError naming a bad file."""
    try:
        return with_retries(lambda: _deliver_once(source, tree, query, cache_dir, expected), source, budget)
    except Exception as err:
        if not is_transient(err):
            raise
        reason = str(err) if isinstance(err, InputFileError) else f"{source}: {type(err).__name__}: {err}"
        raise InputFileError(f"{reason} (gave up after {budget.attempts} attempts)") from err


def _deliver_once(source: str, tree: str, query: DeliveryQuery, cache_dir: str, expected: int | None) -> FileRecord:
    if "://" not in source and not os.path.exists(source):
        raise TransientReadError(f"{source}: input file not found")
    columns = _cached(cache_dir, cache_key(source, tree, query), ".columns.npz")
    sidecar = columns.with_suffix("").with_suffix(".json")
    cached = cached_record(FileRecord, sidecar, cache_dir)
    if cached is not None:
        _check_count(source, cached.nevts_in, expected)  # a fileset edited since: as on a cold cache
        return cached
    start = time.perf_counter()
    selected, n_in, bytes_read = _read_selected(source, tree, query, expected)
    write_columns(columns, selected, query.layout)
    record = FileRecord(source, str(columns), n_in, event_count(selected), bytes_read, time.perf_counter() - start)
    store_record(sidecar, record, cache_dir)
    return record


def event_count(flat: dict[str, np.ndarray]) -> int:
    """The number of events of flat columns (their first column is per event)."""
    return len(next(iter(flat.values()))) if flat else 0


def merge_sample(columns: list[str], cache_dir: str, layout: ColumnLayout) -> SampleSkim:
    """Write (or reuse) the ROOT skim and the merged flat columns of one sample from its files'
    cached columns; a sample with no delivered file (all skipped) gets an empty skim, for the
    manifest to show."""
    skim = _cached(cache_dir, _digest(*(Path(path).name for path in columns)), ".root")  # names: keys of the files
    sidecar, merged_columns = skim.with_suffix(".json"), skim.with_suffix(".columns.npz")
    cached = cached_record(SampleSkim, sidecar, cache_dir)
    if cached is not None:
        return cached
    parts = [read_columns(path) for path in columns] or [layout.empty()]
    merged = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    write_columns(merged_columns, merged, layout)
    record = SampleSkim(str(skim), _write_skim(skim, merged, layout), event_count(merged), str(merged_columns))
    store_record(sidecar, record, cache_dir)
    return record


# Per record type: its fields naming files in the cache, and the field counting the events of its columns.
CACHE_FILES = {FileRecord: ("columns",), SampleSkim: ("path", "columns")}
EVENT_COUNTS = {FileRecord: "nevts_out", SampleSkim: "nevts"}


def store_record(sidecar: Path, record: FileRecord | SampleSkim, cache_dir: str) -> None:
    """Write the sidecar that completes a cache entry: the record, with its cache files relative to
    ``cache_dir`` (a moved cache stays valid) and their sizes (checked on a hit)."""
    data, sizes = asdict(record), {}
    for name in CACHE_FILES[type(record)]:
        if data[name]:
            sizes[name] = os.path.getsize(data[name])
            data[name] = Path(data[name]).relative_to(cache_dir).as_posix()
    write_json(sidecar, {**data, "bytes": sizes})


def cached_record(kind: type, sidecar: Path, cache_dir: str) -> FileRecord | SampleSkim | None:
    """The record of a complete, intact cache entry (its files under the current ``cache_dir``),
    else None: no entry, or a damaged one (a file missing, of another size than recorded or with
    another event count), which is logged and recomputed. Cheap: no file is read in full."""
    if not sidecar.exists():
        return None
    data = read_json(sidecar)
    sizes = data.pop("bytes", {})
    for name in CACHE_FILES[kind]:
        if data[name]:
            data[name] = str(Path(cache_dir) / data[name])
    record = kind(**{**data, "cached": True})
    problem = _damage(record, sizes)
    if problem:
        log.warning("delivery cache entry %s is damaged (%s): recomputing it", sidecar, problem)
        return None
    return record


def _damage(record: FileRecord | SampleSkim, sizes: dict[str, int]) -> str | None:
    """What is wrong with a cache entry's files, or None."""
    kind = type(record)
    for name in CACHE_FILES[kind]:
        path = getattr(record, name)
        if not path:
            continue
        if not os.path.exists(path):
            return f"{path} is missing"
        if os.path.getsize(path) != sizes.get(name):
            return f"{path} has {os.path.getsize(path)} bytes, {sizes.get(name)} when written"
    columns, expected = record.columns, getattr(record, EVENT_COUNTS[kind])
    if columns and _column_events(columns) != expected:
        return f"{columns} holds {_column_events(columns)} events, {expected} when written"
    return None


def _column_events(path: str) -> int | None:
    """The number of events of a column file, from one array header (no data read); None when
    the file cannot be read."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
            version = np.lib.format.read_magic(member)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return header(member)[0][0]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _cached(cache_dir: str, key: str, suffix: str) -> Path:
    return Path(cache_dir) / key[:2] / f"{key}{suffix}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


CODE_IDENTITY = _code_identity()


def _read_selected(source: str, tree: str, query: DeliveryQuery, expected: int | None) -> tuple[dict, int, int]:
    import uproot

    remote = remote_inputs.is_remote(source)
    try:
        with uproot.open(source, timeout=REMOTE_TIMEOUT_S) as handle:
            events = _tree(handle, source, tree, query.layout)
            _check_count(source, events.num_entries, expected)
            names = list(query.layout.branch_names())
            bytes_read = sum(events[name].compressed_bytes for name in names)
            parts = _select_all(events, names, query, source, tree)
            n_in = events.num_entries
    except InputFileError:
        raise
    except Exception as err:  # uproot raises many types for damaged files
        hint = f"; {remote_inputs.NETWORK_HINT}" if remote else ""
        error = TransientReadError if is_transient(err) else InputFileError
        raise error(f"{source}: cannot read tree {tree!r} ({type(err).__name__}: {err}){hint}") from err
    selected = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return selected, n_in, bytes_read


def _tree(handle, source: str, tree: str, layout: ColumnLayout):
    trees = handle.keys(filter_classname="TTree", cycle=False)
    if tree not in trees:
        found = f"a {handle.classname_of(tree)}, not a TTree" if tree in handle else "no such key"
        raise InputFileError(f"{source}: no tree {tree!r} ({found}); trees in the file: {sorted(trees)}")
    events = handle[tree]
    missing = sorted(set(layout.branch_names()) - set(events.keys()))
    if missing:
        raise InputFileError(f"{source}: tree {tree!r} lacks branches the query needs: {missing}")
    return events


def _check_count(source: str, entries: int, expected: int | None) -> None:
    if expected is not None and entries != expected:
        raise InputFileError(f"{source}: {entries} entries, but the fileset says {expected} (truncated or wrong file?)")


def _select_all(events, names: list[str], query: DeliveryQuery, source: str, tree: str) -> list[dict[str, ak.Array]]:
    """The selected events chunk by chunk; a short read (fewer events than the tree's entry
    count) is an error, not a smaller sample."""
    parts, read = [], 0
    for chunk in events.iterate(names, step_size=STEP_SIZE, how=dict):
        read += len(chunk[names[0]])
        parts.append(_select(chunk, query))
    if read != events.num_entries:
        raise InputFileError(f"{source}: read {read} of the {events.num_entries} entries of tree {tree!r} (short read)")
    return parts or [_select(events.arrays(names, entry_stop=0, how=dict), query)]


def _select(chunk: dict[str, ak.Array], query: DeliveryQuery) -> dict[str, np.ndarray]:
    return query_columns(query, chunk)


def read_columns(path: str | Path) -> dict[str, np.ndarray]:
    """Delivered columns, flat: ``{collection}_{field}`` per object, ``n{collection}`` objects
    per event, and the event ids."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def write_columns(path: Path, columns: dict[str, Any], layout: ColumnLayout) -> None:
    """Write one file's selected events (jagged or flat columns) to the column cache."""
    flat = layout.flat(columns)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **flat)


def _write_skim(path: Path, flat: dict[str, np.ndarray], layout: ColumnLayout) -> str:
    import uproot

    tree = layout.tree(flat)
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp, compression=uproot.ZSTD(1)) as out:
            out.mktree("Events", {name: array.type for name, array in tree.items()})
            out["Events"].extend(tree)
        with uproot.open(tmp) as written:
            return written.file.fUUID.hex()
