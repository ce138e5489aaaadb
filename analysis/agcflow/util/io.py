"""Atomic file output and JSON save/load.

Every final file is written under a temporary name in the same directory and renamed into
place, so an interrupted run never leaves a half-written result behind: a failed write (disk
full, read-only file system) removes its temporary file and leaves an older result intact. A
process killed mid-write (SIGKILL) can leave its hidden temporary file (``.NAME.*.tmp*``), which
nothing reads. ``check_writable`` lets a stage fail before any compute when an output directory
cannot take files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agcflow.errors import AgcflowError

# Write errors that say the output location, not the data, is at fault.
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                 errno.ENOTDIR, errno.EEXIST}
PROBE_BYTES = 4096


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success. A write
    that fails for want of space or permission raises ``AgcflowError`` naming ``path``."""
    target = Path(path)
    with _output_errors(target.parent, target.name):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _output_errors(target.parent, target.name):
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are meant to be shared
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_set(*directories: str | os.PathLike[str], replaces: Iterable[Path] = ()) -> Iterator[dict[Path, Path]]:
    """Write a set of files that belong together (a fit's results, yields and ranking) all or
    nothing. Yields ``{directory: staging directory}``: write each file into the staging
    directory of its final directory. On success every staged file is renamed into place and
    the files in ``replaces`` that this run did not write are removed (an older set leaves no
    stale member); on any failure or interrupt the staging directories are removed and the
    older set stays as it was."""
    targets = list(dict.fromkeys(Path(d) for d in directories))
    check_writable(*targets)
    staging = {target: Path(tempfile.mkdtemp(prefix=".agcflow-staging.", dir=target)) for target in targets}
    try:
        yield staging
        written = {target / path.name for target, stage in staging.items() for path in stage.iterdir() if path.is_file()}
        for target, stage in staging.items():
            for path in sorted(stage.iterdir()):
                if path.is_file():
                    with _output_errors(target, path.name):
                        os.replace(path, target / path.name)
        for path in set(map(Path, replaces)) - written:
            path.unlink(missing_ok=True)
    finally:
        for stage in staging.values():
            shutil.rmtree(stage, ignore_errors=True)


def staged_to_final(path: Path, staging: dict[Path, Path]) -> Path:
    """Where a file written into a staging directory of ``atomic_set`` ends up."""
    for target, stage in staging.items():
        if path.parent == stage:
            return target / path.name
    return path


def check_writable(*directories: str | os.PathLike[str]) -> None:
    """Fail fast, before any compute, when an output directory cannot be created or cannot
    take a small file (read-only, full, or a path through a regular file)."""
    for directory in dict.fromkeys(map(Path, directories)):
        with _output_errors(directory, "a test file"):
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(prefix=".agcflow-probe.", dir=directory) as probe:
                probe.write(b"\0" * PROBE_BYTES)
                probe.flush()
                os.fsync(probe.fileno())


@contextlib.contextmanager
def _output_errors(directory: Path, what: str) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        if err.errno not in OUTPUT_ERRNOS:
            raise
        raise AgcflowError(
            f"{directory}: cannot write {what} in this output directory ({err.strerror}); "
            "it must be a writable directory with free space"
        ) from err


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


def read_json_object(path: str | os.PathLike[str], what: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a JSON file that must hold an object (with the ``required`` keys); the error names
    the file and ``what`` it should have been, e.g. "a reinterpret result.json"."""
    from agcflow.errors import InputFileError

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected {what} (a JSON object), got a JSON {_json_kind(data)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise InputFileError(f"{path}: expected {what}; it lacks {', '.join(map(repr, missing))}")
    return data


def _json_kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


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
