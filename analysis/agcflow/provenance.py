"""The provenance block every JSON result carries."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agcflow import __version__
from agcflow.errors import ConfigError
from agcflow.stage_settings import changed_keys

log = logging.getLogger(__name__)

# Where a stage's settings record is kept in its JSON results (agcflow.stage_settings.record).
SETTINGS_KEY = "settings"


def digest_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A short digest of files by path, size and modification time (content-free, fast)."""
    h = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        stat = Path(path).stat() if Path(path).exists() else None
        h.update(f"{path}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}\n".encode())
    return h.hexdigest()[:16]


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
        "config_digest": config_digest,
        "input_digest": input_digest,
        "backend": backend or {},
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "host": platform.node(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }


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
