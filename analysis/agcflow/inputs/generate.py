"""The synthetic dataset of an analysis: its plugin simulates the events, this module writes them.

Files are written in parallel (a process pool), atomically, in a few large baskets, with the
plugin's branches (collections as jagged records: uproot writes ``n<Collection>`` counters,
typed uint32 as NanoAOD does). Every file's random stream is keyed by (seed, process,
variation, first event), so a file's content does not depend on the worker that wrote it. The
fileset JSON (``nanoaod_inputs.json`` structure) lists the files with their event counts.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uproot
from uproot.writing import _cascadetree

from agcflow.errors import ConfigError
from agcflow.inputs.fileset import FILESET
from agcflow.util.io import atomic_path, write_json

logger = logging.getLogger(__name__)

COMPRESSIONS: dict[str, Callable[[int], Any]] = {
    "zstd": uproot.ZSTD,
    "lz4": uproot.LZ4,
    "zlib": uproot.ZLIB,
    "lzma": uproot.LZMA,
}
_EVENTS_PER_BASKET = 100_000


@contextlib.contextmanager
def _uint32_counters() -> Iterator[None]:
    """Let uproot type the generated ``n<Collection>`` counter branches uint32, as NanoAOD does.

    uproot 5 always creates the counters of jagged branches as int32 and offers no option; the
    counter's type is fixed when the tree is created, so this is only needed around ``mktree``.
    """
    original = _cascadetree.Tree._branch_np

    def branch_np(
        self: Any,
        name: str,
        branch_type: Any,
        dtype: np.dtype,
        counter: Any = None,
        kind: str = "normal",
    ) -> dict[str, Any]:
        if kind == "counter":
            branch_type = dtype = np.dtype(np.uint32)
        return original(self, name, branch_type, dtype, counter=counter, kind=kind)

    _cascadetree.Tree._branch_np = branch_np
    try:
        yield
    finally:
        _cascadetree.Tree._branch_np = original


def _write_events(path: Path, branches: dict[str, Any], compression: str, level: int, tree_name: str = "Events",
                  counter: Callable[[str], str] | None = None) -> None:
    """Write the branches to tree ``tree_name`` of a new file, atomically, in large baskets;
    ``counter`` names the branch counting a collection's objects (``lep`` -> ``lep_n``; None:
    uproot's ``n{collection}``)."""
    n_events = len(next(iter(branches.values())))
    types = {
        name: values.dtype if isinstance(values, np.ndarray) else values.type.content
        for name, values in branches.items()
    }
    with (
        atomic_path(path) as tmp,
        uproot.recreate(tmp, compression=COMPRESSIONS[compression](level)) as file,
    ):
        with _uint32_counters():
            tree = file.mktree(tree_name, types, **({"counter_name": counter} if counter else {}))
        for start in range(0, n_events, _EVENTS_PER_BASKET):
            tree.extend(
                {
                    name: values[start : start + _EVENTS_PER_BASKET]
                    for name, values in branches.items()
                }
            )


# --------------------------------------------------------------------------------------
# public API


def generate_file(
    path: Path,
    plugin: Any,
    process: str,
    variation: str,
    n_events: int,
    seed: int,
    first_event: int = 0,
    compression: str = "zstd",
    level: int = 1,
    parameters: Mapping[str, float] | None = None,
    tree: str = "Events",
) -> int:
    """Write one file of ``plugin``'s synthetic events (tree ``tree``, counters named as the
    plugin's layout names them); return the number of events written. ``parameters`` are a
    signal's (a process the plugin does not list).

    The random stream is keyed by (seed, process, variation, first_event), so the files of a
    sample, which start at different event numbers, hold different events.
    """
    _check_sample(plugin, process, variation, parameters)
    _check_compression(compression)
    if n_events < 0 or seed < 0 or first_event < 0:
        raise ConfigError(
            f"n_events, seed and first_event must be >= 0, got {n_events}, {seed}, {first_event}"
        )
    rng = np.random.Generator(
        np.random.PCG64(_seed_sequence(seed, process, variation, first_event))
    )
    branches = plugin.simulate(rng, process, variation, n_events, first_event, dict(parameters or {}))
    layout = getattr(plugin, "layout", None)
    _write_events(Path(path), branches, compression, level, tree, layout.counter if layout is not None else None)
    logger.info("wrote %s: %s__%s, %d events", path, process, variation, n_events)
    return n_events


def generate_dataset(
    output_dir: Path,
    plugin: Any,
    *,
    events: dict[str, int] | None = None,
    signals: Mapping[str, Mapping[str, float]] | None = None,
    files_per_sample: int = 4,
    seed: int = 42,
    compression: str = "zstd",
    level: int = 1,
    workers: int = 1,
    progress: bool = False,
    tree: str = "Events",
) -> Path:
    """Write all samples under output_dir and a fileset JSON (`output_dir/fileset.json`); return its path.

    ``events`` maps ``process__variation`` to a number of events (default: the plugin's
    ``default_events``) and may name a subset of the samples, or signals: processes of
    ``signals`` (name -> parameters, e.g. ``{"mass": 750}``). Each sample is split into up to
    files_per_sample files, tree ``tree`` (the analysis' ``analysis.tree``).
    """
    events = dict(plugin.default_events() if events is None else events)
    signals = {name: dict(parameters) for name, parameters in (signals or {}).items()}
    _check_events(plugin, events, signals)
    _check_compression(compression)
    if files_per_sample < 1 or workers < 1:
        raise ConfigError(
            f"files_per_sample and workers must be >= 1, got {files_per_sample}, {workers}"
        )
    output_dir = Path(output_dir).resolve()
    jobs = _file_jobs(output_dir, plugin, events, signals, files_per_sample, seed, compression, level, tree)
    _run_jobs(jobs, workers, progress)
    return write_json(output_dir / FILESET, _fileset(jobs))


@dataclass(frozen=True)
class _FileJob:
    """Arguments of one generate_file call."""

    path: Path
    plugin: Any
    process: str
    variation: str
    n_events: int
    seed: int
    first_event: int
    compression: str
    level: int
    parameters: dict[str, float] = field(default_factory=dict)
    tree: str = "Events"


def _file_jobs(
    output_dir: Path,
    plugin: Any,
    events: dict[str, int],
    signals: dict[str, dict[str, float]],
    files_per_sample: int,
    seed: int,
    compression: str,
    level: int,
    tree: str = "Events",
) -> list[_FileJob]:
    """One job per file; the events of a sample are split evenly and numbered consecutively."""
    jobs = []
    for sample, n_events in events.items():
        process, variation = sample.split("__")
        n_files = min(files_per_sample, n_events)
        sizes = [n_events // n_files + (i < n_events % n_files) for i in range(n_files)]
        first_events = np.cumsum([0, *sizes[:-1]])
        for i, (size, first) in enumerate(zip(sizes, first_events, strict=True)):
            path = output_dir / sample / f"{sample}_{i:03d}.root"
            jobs.append(_FileJob(path, plugin, process, variation, size, seed, int(first), compression, level,
                                 signals.get(process, {}), tree))
    return jobs


def _run_jobs(jobs: list[_FileJob], workers: int, progress: bool) -> None:
    """Run the jobs, largest first, in this process or in a pool of worker processes."""
    from agcflow.util.progress import progress as progress_display

    ordered = sorted(jobs, key=lambda job: -job.n_events)
    with progress_display(len(jobs), "generate", "file", bar=progress) as bar:
        if workers == 1:
            for job in ordered:
                generate_file(**vars(job))
                bar.update()
            return
        # forkserver: forking a process that already runs threads (JAX, Dask) can deadlock
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_ignore_interrupts) as pool:
            futures = [pool.submit(generate_file, **vars(job)) for job in ordered]
            try:
                for future in as_completed(futures):
                    future.result()
                    bar.update()
            except BaseException:
                _stop_workers(pool)
                raise


def _ignore_interrupts() -> None:
    """In a pool worker: leave Ctrl-C to the parent, which stops the pool (no worker traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued files and end the running ones now: on an interrupt or a failure the
    run stops at once; a file cut short leaves only its hidden temporary (writes are atomic)."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((pool._processes or {}).values()):  # no public API before Python 3.14
        process.terminate()


def _fileset(jobs: list[_FileJob]) -> dict[str, dict[str, dict[str, Any]]]:
    """The nanoaod_inputs.json structure for the generated files, with each sample's filter
    efficiency where the plugin's generator has one (``Analysis.filter_efficiency``)."""
    fileset: dict[str, dict[str, dict[str, Any]]] = {}
    for job in jobs:
        variations = fileset.setdefault(job.process, {})
        if job.variation not in variations:
            variations[job.variation] = {"nevts_total": 0, "files": []}
            efficiency = getattr(job.plugin, "filter_efficiency", lambda *_: None)(job.process, job.parameters)
            if efficiency is not None:
                variations[job.variation]["filter_efficiency"] = efficiency
        sample = variations[job.variation]
        sample["nevts_total"] += job.n_events
        sample["files"].append({"path": str(job.path), "nevts": job.n_events})
    return fileset


def _seed_sequence(
    seed: int, process: str, variation: str, first_event: int
) -> np.random.SeedSequence:
    """Seed sequence of one file: stable across Python processes (no built-in hash)."""
    return np.random.SeedSequence(
        [seed, zlib.crc32(process.encode()), zlib.crc32(variation.encode()), first_event]
    )


def _check_sample(plugin: Any, process: str, variation: str, parameters: Mapping[str, float] | None) -> None:
    if parameters and variation == "nominal":
        return
    if variation not in plugin.samples().get(process, ()):
        raise ConfigError(
            f"unknown sample {process}__{variation} of analysis {plugin.name}; valid samples: "
            f"{', '.join(_sample_names(plugin))}, or a signal (process__nominal) with its parameters"
        )


def _check_events(plugin: Any, events: dict[str, int], signals: dict[str, dict[str, float]]) -> None:
    valid = _sample_names(plugin)
    for sample, n_events in events.items():
        if sample not in valid and sample.removesuffix("__nominal") not in signals:
            raise ConfigError(
                f"unknown sample {sample!r} in events; valid samples of analysis {plugin.name}: {', '.join(valid)}, "
                f"or a signal <name>__nominal with its parameters (signals: {sorted(signals)})"
            )
        if not isinstance(n_events, (int, np.integer)) or n_events < 1:
            raise ConfigError(f"events[{sample!r}] must be a positive integer, got {n_events!r}")


def _check_compression(compression: str) -> None:
    if compression not in COMPRESSIONS:
        raise ConfigError(f"unknown compression {compression!r}; valid: {', '.join(COMPRESSIONS)}")


def _sample_names(plugin: Any) -> list[str]:
    return [
        f"{process}__{variation}"
        for process, variations in plugin.samples().items()
        for variation in variations
    ]
