"""The provenance block every JSON result carries."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agcflow import __version__


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
