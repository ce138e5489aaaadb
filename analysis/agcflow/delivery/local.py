"""Local execution of the delivery query: one Dask task per input file, one skim per file.

Skims are NanoAOD-like ROOT files holding only the events that pass the preselection, with
every delivered column. Each skim is cached under a key of the query text, the input file
(path, size, mtime) and the package version; a sidecar JSON, written last, marks it complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from agcflow import __version__
from agcflow.delivery.query import EVENT_ID_COLUMNS, OBJECT_COLUMNS, DeliveryQuery, branch_names, preselection_mask
from agcflow.errors import InputFileError
from agcflow.io import atomic_path, read_json, write_json

log = logging.getLogger(__name__)

STEP_SIZE = 500_000
REMOTE_TIMEOUT_S = 30


@dataclass(frozen=True)
class SkimRecord:
    """What delivering one input file produced."""

    source: str
    skim: str
    nevts_in: int
    nevts_out: int
    bytes_read: int
    wall_s: float
    uuid: str = ""  # the skim's ROOT file UUID (hex), so processing need not reopen it
    cached: bool = False


def cache_key(source: str, tree: str, query: DeliveryQuery) -> str:
    """Key of one file's skim: query text, tree, file identity and package version."""
    identity = source
    if os.path.exists(source):
        stat = os.stat(source)
        identity = f"{os.path.abspath(source)}|{stat.st_size}|{stat.st_mtime_ns}"
    text = "\n".join([query.func_adl_text(), tree, identity, __version__])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def deliver_file(source: str, tree: str, query: DeliveryQuery, cache_dir: str, expected: int | None) -> SkimRecord:
    """Skim one file (or reuse its cached skim); raise InputFileError naming a bad file."""
    key = cache_key(source, tree, query)
    skim = Path(cache_dir) / key[:2] / f"{key}.root"
    sidecar = skim.with_suffix(".json")
    if sidecar.exists() and skim.exists() and columns_path(skim).exists():
        return SkimRecord(**{**read_json(sidecar), "cached": True})
    start = time.perf_counter()
    selected, n_in, bytes_read = _read_selected(source, tree, query, expected)
    uuid = _write_skim(skim, selected)
    _write_columns(columns_path(skim), selected)
    record = SkimRecord(source, str(skim), n_in, len(selected["run"]), bytes_read, time.perf_counter() - start, uuid)
    write_json(sidecar, asdict(record))
    return record


def _read_selected(source: str, tree: str, query: DeliveryQuery, expected: int | None) -> tuple[dict, int, int]:
    import uproot

    remote = "://" in source
    if not remote and not os.path.exists(source):
        raise InputFileError(f"{source}: input file not found")
    try:
        with uproot.open(source, timeout=REMOTE_TIMEOUT_S) as handle:
            events = _tree(handle, source, tree)
            _check_entries(events, source, expected)
            names = branch_names()
            bytes_read = sum(events[name].compressed_bytes for name in names)
            parts = [_select(chunk, query) for chunk in events.iterate(names, step_size=STEP_SIZE, how=dict)]
            parts = parts or [events.arrays(names, entry_stop=0, how=dict)]
            n_in = events.num_entries
    except InputFileError:
        raise
    except Exception as err:  # uproot raises many types for damaged files
        hint = "; is the network (HTTPS/XRootD) reachable from here?" if remote else ""
        raise InputFileError(f"{source}: cannot read tree {tree!r} ({type(err).__name__}: {err}){hint}") from err
    selected = {name: ak.concatenate([p[name] for p in parts]) for name in parts[0]}
    return selected, n_in, bytes_read


def _tree(handle, source: str, tree: str):
    if tree not in handle:
        raise InputFileError(f"{source}: no tree {tree!r}; the file holds {handle.keys(cycle=False)}")
    events = handle[tree]
    missing = sorted(set(branch_names()) - set(events.keys()))
    if missing:
        raise InputFileError(f"{source}: tree {tree!r} lacks branches the query needs: {missing}")
    return events


def _check_entries(events, source: str, expected: int | None) -> None:
    if expected is not None and events.num_entries != expected:
        raise InputFileError(
            f"{source}: {events.num_entries} entries, but the fileset says {expected} (truncated or wrong file?)"
        )


def _select(chunk: dict[str, ak.Array], query: DeliveryQuery) -> dict[str, ak.Array]:
    mask = preselection_mask(chunk, query)
    return {name: array[mask] for name, array in chunk.items()}


def columns_path(skim: str | Path) -> Path:
    """The flat-column copy of a skim (numpy .npz), read by cached passes."""
    return Path(skim).with_suffix(".columns.npz")


def read_columns(skim: str | Path) -> dict[str, np.ndarray]:
    """A skim's delivered columns, flat: ``{collection}_{field}`` per object, ``n{collection}``
    objects per event, and the event ids."""
    with np.load(columns_path(skim)) as data:
        return {name: data[name] for name in data.files}


def _write_columns(path: Path, columns: dict[str, ak.Array]) -> None:
    flat = {name: ak.to_numpy(columns[name]) for name in EVENT_ID_COLUMNS}
    for collection, fields in OBJECT_COLUMNS.items():
        flat[f"n{collection}"] = ak.to_numpy(ak.num(columns[f"{collection}_{fields[0]}"], axis=1))
        flat.update({f"{collection}_{f}": ak.to_numpy(ak.flatten(columns[f"{collection}_{f}"])) for f in fields})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **flat)


def _write_skim(path: Path, columns: dict[str, ak.Array]) -> str:
    import uproot

    tree = {name: ak.Array(columns[name]) for name in EVENT_ID_COLUMNS}
    for collection, fields in OBJECT_COLUMNS.items():
        tree[collection] = ak.zip({f: columns[f"{collection}_{f}"] for f in fields})
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp, compression=uproot.ZSTD(1)) as out:
            out.mktree("Events", {name: array.type for name, array in tree.items()})
            out["Events"].extend(tree)
        with uproot.open(tmp) as written:
            return written.file.fUUID.hex()
