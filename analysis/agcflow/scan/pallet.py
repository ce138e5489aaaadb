"""Signal-scan inputs: a background-only workspace and its signal patches, per region.

Accepted: a HEPData likelihood pallet (``.tar.gz``) holding one or more regions, a region
folder (``BkgOnly.json`` with ``patch.<name>.json`` files and/or a pyhf PatchSet such as the
``patchset.json`` that ``pyhf contrib download`` leaves), a folder of region folders (an
``agcflow reinterpret`` results folder is one), or a single workspace with a pyhf PatchSet file,
a folder of JSON-Patch files or one JSON-Patch file. The background-only workspace is checked
first (pyhf schema, model builds); a patch that cannot be read is kept as a point with an
error, so the scan records it as failed and goes on. :func:`write_pallet` writes the
``pyhf contrib`` layout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agcflow.errors import AgcflowError, InputFileError, ServiceError
from agcflow.util.io import read_json, write_json

log = logging.getLogger(__name__)

BACKGROUND = "BkgOnly.json"
PATCH_FILE = re.compile(r"^patch\.(?P<name>.+)\.json$")
PATCHSET = "patchset.json"  # the name write_pallet gives; any *patchset*.json is read
PATCHSET_FILE = re.compile(r"^.*patchset.*\.json$", re.IGNORECASE)
HEPDATA_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SignalPoint:
    """One signal hypothesis: its name, mass parameters and JSON patch (or why it has none)."""

    name: str
    values: tuple[float, ...]
    patch: list[dict[str, Any]] | None
    source: str
    error: str | None = None


@dataclass(frozen=True)
class Region:
    """A background-only workspace and the signal points patched onto it."""

    name: str
    background: dict[str, Any]
    points: tuple[SignalPoint, ...] = field(default_factory=tuple)

    def limited(self, n_points: int | None) -> Region:
        """The first ``n_points`` points (all when None)."""
        return Region(self.name, self.background, self.points[:n_points])


def load_pallet(path: Path) -> list[Region]:
    """Regions of a pallet archive, a region folder or a folder of region folders."""
    path = Path(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return _load_archive(path)
    if not path.is_dir():
        raise InputFileError(f"{path}: expected a pallet .tar.gz, a region folder or a folder of regions")
    if (path / BACKGROUND).is_file():
        return [load_region(path)]
    regions = [load_region(d) for d in sorted(path.iterdir()) if (d / BACKGROUND).is_file()]
    if not regions:
        raise InputFileError(f"{path}: no {BACKGROUND} in it nor in any sub-folder")
    return regions


def load_region(folder: Path, name: str | None = None) -> Region:
    """A region folder: ``BkgOnly.json`` plus ``patch.<name>.json`` files and/or PatchSet files."""
    folder = Path(folder)
    background = _read_workspace(folder / BACKGROUND)
    patchsets = sorted(p for p in folder.iterdir() if PATCHSET_FILE.match(p.name))
    points = [point for path in patchsets for point in load_patchset(path, background)]
    if not points or any(PATCH_FILE.match(p.name) for p in folder.iterdir()):
        points += load_patch_folder(folder, also=f"nor a {PATCHSET} (pyhf PatchSet)")
    return Region(name or folder.name, background, tuple(points))


def load_workspace(workspace: Path, patches: Path) -> Region:
    """A single workspace with a PatchSet file, a folder of JSON-Patch files or one JSON-Patch
    file (such as an older ``agcflow reinterpret`` ``patch.json``)."""
    workspace, patches = Path(workspace), Path(patches)
    background = _read_workspace(workspace)
    if patches.is_dir():
        points = load_patch_folder(patches)
    elif isinstance(read_json(patches), list):
        points = [_patch_file_point(patches, patches.parent.name or patches.stem)]
    else:
        points = load_patchset(patches, background)
    return Region(workspace.stem, background, tuple(points))


def load_patch_folder(folder: Path, also: str = "") -> list[SignalPoint]:
    """Every ``patch.<name>.json`` in ``folder``, sorted by name."""
    files = sorted(p for p in Path(folder).iterdir() if PATCH_FILE.match(p.name))
    if not files:
        raise InputFileError(f"{folder}: no patch.<name>.json files {also}".rstrip())
    return [_patch_file_point(p) for p in files]


def load_patchset(path: Path, background: dict[str, Any] | None = None) -> list[SignalPoint]:
    """The patches of a pyhf PatchSet file, with its metadata's names and values; checked
    against the digests of ``background`` when given."""
    import pyhf

    try:
        patchset = pyhf.PatchSet(read_json(path))
    except pyhf.exceptions.InvalidSpecification as err:
        raise InputFileError(f"{path}: not a valid pyhf PatchSet ({err})") from err
    if background is not None:
        try:
            patchset.verify(background)
        except pyhf.exceptions.PatchSetVerificationError as err:
            raise InputFileError(f"{path}: made for another background-only workspace ({err})") from err
    return [
        SignalPoint(p.name, tuple(float(v) for v in p.values), list(p.patch), f"{path}:{p.name}")
        for p in patchset.patches
    ]


def write_pallet(
    folder: Path, background: dict[str, Any], points: Sequence[SignalPoint], labels: Sequence[str],
    description: str, hepdata: str, name: str | None = None,
) -> list[Path]:
    """Write ``BkgOnly.json`` and a pyhf PatchSet ``patchset.json`` (the ``pyhf contrib
    download`` layout) into ``folder``; ``hepdata`` is the INSPIRE id pyhf's schema requires,
    ``name`` the PatchSet's name (default: the folder's)."""
    import pyhf

    patchset = {
        "metadata": {
            "name": name or Path(folder).name,
            "description": description,
            "digests": {"sha256": pyhf.utils.digest(background, algorithm="sha256")},
            "labels": list(labels),
            "references": {"hepdata": hepdata},
        },
        "patches": [{"metadata": {"name": p.name, "values": list(p.values)}, "patch": p.patch} for p in points],
        "version": "1.0.0",
    }
    try:
        pyhf.PatchSet(patchset)
    except pyhf.exceptions.InvalidSpecification as err:
        raise AgcflowError(f"{folder}: the PatchSet to write is not valid for pyhf ({err})") from err
    return [write_json(Path(folder) / BACKGROUND, background), write_json(Path(folder) / PATCHSET, patchset)]


def point_values(name: str) -> tuple[float, ...]:
    """Mass parameters from a point name: the numeric ``_``-separated fields
    (``sbottom_1000_131_1`` -> (1000.0, 131.0, 1.0))."""
    values = []
    for token in name.split("_"):
        try:
            values.append(float(token))
        except ValueError:
            continue
    return tuple(values)


def fetch_pallet(url: str, destination: Path, timeout_s: float = HEPDATA_TIMEOUT_S) -> Path:
    """Download a pallet archive from HEPData (a URL, or a DOI resolved through doi.org)."""
    if not url.startswith(("http://", "https://")):
        url = f"https://doi.org/{url.removeprefix('doi:')}"
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            destination.write_bytes(response.read())
    except (urllib.error.URLError, OSError) as err:
        raise ServiceError(
            f"cannot fetch the pallet {url} within {timeout_s} s ({err}); "
            "download it by hand and pass the .tar.gz path instead"
        ) from err
    return destination


@contextlib.contextmanager
def named_as(old: Path | str, new: str) -> Iterator[None]:
    """Errors raised inside name ``new`` where they said ``old`` (a temporary folder or
    download that is gone once the call returns)."""
    try:
        yield
    except AgcflowError as err:
        raise type(err)(str(err).replace(f"{old}/", new).replace(str(old), new.rstrip(":/"))) from err


def _load_archive(path: Path) -> list[Region]:
    with tempfile.TemporaryDirectory(prefix="pallet-") as tmp:
        try:
            with tarfile.open(path) as archive:
                archive.extractall(tmp, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise InputFileError(f"{path}: not a readable .tar.gz archive ({err})") from err
        with named_as(tmp, f"{path}:"):
            regions = load_pallet(Path(tmp))
    # Name archive members, not the temporary folder that is gone after this call.
    return [
        Region(r.name, r.background, tuple(_renamed(p, tmp, f"{path}:") for p in r.points)) for r in regions
    ]


def _renamed(point: SignalPoint, old: str, new: str) -> SignalPoint:
    fix = lambda text: text.replace(old + "/", new)  # noqa: E731
    return replace(point, source=fix(point.source), error=point.error and fix(point.error))


def _read_workspace(path: Path) -> dict[str, Any]:
    """The background-only workspace, checked (schema, model, observations) before any patch."""
    from agcflow.stats.workspace import check_workspace

    spec = read_json(path)
    if not isinstance(spec, dict) or not {"channels", "measurements", "observations"} <= set(spec):
        raise InputFileError(f"{path}: not a pyhf workspace (expected channels, measurements, observations)")
    check_workspace(spec, str(path), background_only=True)
    return spec


def _patch_file_point(path: Path, name: str | None = None) -> SignalPoint:
    name = name or PATCH_FILE.match(path.name)["name"]
    values = point_values(name)
    try:
        patch = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return SignalPoint(name, values, None, str(path), f"{path}: not valid JSON ({err})")
    if not isinstance(patch, list) or not all(isinstance(op, dict) and "op" in op for op in patch):
        return SignalPoint(name, values, None, str(path), f"{path}: not a JSON-Patch (expected a list of operations)")
    return SignalPoint(name, values, patch, str(path))
