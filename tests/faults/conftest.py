"""Fixtures of the fault-injection tests: a small generated dataset, delivered once, and
settings that point a run at it from a directory of the test's own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from agcflow import config
from agcflow import stages as pipeline
from conftest import CONFIG, TINY_EVENTS, tiny_overrides, write_config

# A quarter of the tiny dataset: 100k events in 18 files, about 1,300 delivered.
FAULT_EVENTS = {key: n // 4 for key, n in TINY_EVENTS.items()}


def fault_overrides(base: Path, fileset: Path | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Overrides for a run under ``base``: the small dataset (the generated ``fileset`` when
    given, read as an input fileset), two workers; ``extra`` (dotted keys) on top."""
    overrides = {**tiny_overrides(base), "inputs.generate.events": FAULT_EVENTS, "processing.chunk_size": 5_000}
    if fileset is not None:
        overrides.update({"inputs.source": "fileset", "inputs.fileset": str(fileset)})
    return {**overrides, **(extra or {})}


def fault_settings(base: Path, fileset: Path | None = None, extra: dict[str, Any] | None = None) -> config.Settings:
    """The analysis settings with ``fault_overrides``."""
    return config.load(CONFIG, fault_overrides(base, fileset, extra))


def shared_cache(base: Path) -> dict[str, str]:
    """The override that delivers into the session's cache under ``base``: files delivered
    before are reused (the cache key makes that safe), a test's own files are added."""
    return {"delivery.cache_dir": str(base / "cache")}


def write_fault_config(base: Path, fileset: Path, extra: dict[str, Any] | None = None) -> Path:
    """``fault_overrides`` written into a config file (for Snakemake and the CLI)."""
    return write_config(base / "faults.yaml", fault_overrides(base, fileset, extra))


def fileset_with(fileset: Path, target: Path, sample: tuple[str, str], files: list[tuple[Path, int]]) -> Path:
    """A copy of ``fileset`` at ``target`` with ``files`` (path, nevts) added to ``sample``."""
    data = json.loads(fileset.read_text())
    entry = data[sample[0]][sample[1]]
    entry["files"] += [{"path": str(path), "nevts": nevts} for path, nevts in files]
    entry["nevts_total"] += sum(nevts for _, nevts in files)
    target.write_text(json.dumps(data))
    return target


def dataset_size(fileset: Path) -> tuple[int, int]:
    """Number of files and of events a fileset JSON declares."""
    entries = [v for vs in json.loads(fileset.read_text()).values() for v in vs.values()]
    return sum(len(e["files"]) for e in entries), sum(e["nevts_total"] for e in entries)


@pytest.fixture(scope="session")
def fault_base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="session")
def fault_fileset(fault_base) -> Path:
    """The generated small dataset's fileset JSON."""
    return pipeline.generate(fault_settings(fault_base), progress=False)


@pytest.fixture(scope="session")
def fault_manifest(fault_base, fault_fileset, dask_client) -> Path:
    """The small dataset delivered (into ``fault_base/cache``) by an undisturbed run."""
    manifest = fault_base / "results" / "manifest.json"
    pipeline.run_delivery(fault_settings(fault_base, fault_fileset), manifest, client=dask_client, progress=False)
    return manifest


@pytest.fixture()
def wjets_file(fault_fileset) -> Path:
    """One real input file of the small dataset."""
    return Path(json.loads(fault_fileset.read_text())["wjets"]["nominal"]["files"][0]["path"])


def copy_of(path: Path, target: Path) -> Path:
    """A byte copy of ``path`` at ``target``."""
    shutil.copyfile(path, target)
    return target
