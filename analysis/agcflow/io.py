"""Atomic file output and JSON save/load.

Every final file is written under a temporary name in the same directory and renamed into
place, so an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_to_builtin) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, naming the file in the error when it is missing or malformed."""
    from agcflow.errors import InputFileError

    source = Path(path)
    try:
        return json.loads(source.read_text())
    except FileNotFoundError as err:
        raise InputFileError(f"{source}: file not found") from err
    except json.JSONDecodeError as err:
        raise InputFileError(f"{source}: not valid JSON ({err})") from err


def _to_builtin(value: Any) -> Any:
    """Convert numpy scalars/arrays and paths for JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
