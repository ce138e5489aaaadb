"""The provenance block every JSON result carries."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agcflow import __version__
from agcflow.config.stage_settings import changed_keys
from agcflow.errors import ConfigError

log = logging.getLogger(__name__)

# Where a stage's settings record is kept in its JSON results (agcflow.config.stage_settings.record).
SETTINGS_KEY = "settings"

# The packages whose versions decide a result: I/O, processing, statistics and the engine under them.
KEY_PACKAGES = ("numpy", "awkward", "uproot", "coffea", "dask", "distributed", "hist", "cabinetry", "pyhf",
                "iminuit", "jax", "snakemake")


def digest_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A short digest of files by path, size and modification time (content-free, fast)."""
    h = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        stat = Path(path).stat() if Path(path).exists() else None
        h.update(f"{path}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}\n".encode())
    return h.hexdigest()[:16]


def digest_options(options: dict[str, Any]) -> str:
    """A short digest of the options of a run that has no configuration file (a scan)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]


def block(
    config_digest: str,
    input_digest: str,
    started: dt.datetime,
    wall_s: float,
    backend: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Package version, config and input digests, backends, start time, wall time, host."""
    return {
        "package": "agcflow",
        "version": __version__,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "config_digest": config_digest,
        "input_digest": input_digest,
        "backend": backend or {},
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "host": platform.node(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }


@functools.cache
def package_versions() -> dict[str, str]:
    """The installed versions of ``KEY_PACKAGES`` (absent ones are left out)."""
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@functools.cache
def git_commit() -> str | None:
    """The commit of the agcflow source tree (with ``+dirty`` when it has uncommitted changes), or None
    when the package is not run from a git checkout (an installed wheel, a container image)."""
    source = Path(__file__).resolve().parents[1]  # the agcflow package, not this util/ folder
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no", "."],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit or None


def now() -> dt.datetime:
    """The current time, timezone-aware (UTC)."""
    return dt.datetime.now(dt.timezone.utc)


def settings_sidecar(path: str | os.PathLike[str]) -> Path:
    """Where the settings record of a result that cannot hold one (a pyhf workspace) is kept:
    ``NAME.settings.json`` beside ``NAME.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.settings.json")


def check_upstream(
    recorded: dict[str, Any] | None, current: dict[str, Any], path: str | os.PathLike[str], command: str,
    required: bool = True,
) -> None:
    """Refuse an upstream result written with other settings than ``current`` (both
    ``Settings.stage_record``s of the stage that wrote ``path``); ``command`` rewrites it.
    A result without a record is refused when ``required``, else used with a warning (a file
    agcflow did not write, e.g. reference histograms)."""
    stage = current["stage"]
    if not recorded and not required:
        log.warning("%s records no %s settings: not checked against the configuration", path, stage)
        return
    if not recorded or "digest" not in recorded:
        raise ConfigError(f"{path}: records no {stage} settings (written by an older agcflow); "
                          f"rerun `agcflow {command}`")
    if recorded["digest"] != current["digest"]:
        changed = changed_keys(recorded.get("settings", {}), current["settings"])
        raise ConfigError(f"{path} was written with other {stage} settings (changed: {', '.join(changed) or '?'}); "
                          f"rerun `agcflow {command}`")
