"""Which configuration settings each stage's results depend on, and a stable digest of them.

Declared once, here, for both the CLI and the Snakefile: each stage records the digest of its
settings in its outputs and the stages reading them compare it with the current settings; the
Snakefile passes the same digest as a rule ``params`` value, so Snakemake reruns a rule exactly
when one of its settings changed. Settings that only size or place the computation (cluster,
workers, chunk sizes, fit device) are in no stage: changing them reruns nothing.

This module is loaded by the Snakefile from its path, without importing agcflow (REANA's
Snakemake parses the Snakefile where agcflow is not installed): it imports the standard
library only and must keep to Python 3.8 syntax at run time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any, Iterable, Mapping

# Dotted keys of the raw configuration; "*" matches every key of a mapping; "@stage" includes
# another stage's settings. A stage reading an upstream file need not repeat the upstream
# stage's settings: a changed upstream result reruns it (its input changed).
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    # the tree's name and which sample is data (its events are not scaled) are in the files
    "generate": ("analysis.kind", "analysis.tree", "analysis.samples.*.data", "inputs.generate"),
    # The delivery query reads the loose preselection and the analysis keys of "@query", and
    # which files of which samples.
    "deliver": (
        "inputs.source", "inputs.files_per_sample", "inputs.fileset", "inputs.agc_list", "inputs.generate.directory",
        "analysis.kind", "analysis.tree", "analysis.samples.*.variations", "@query",
        "delivery.backend", "delivery.cache_dir", "delivery.preselection", "delivery.servicex",
        "processing.skip_bad_files",
    ),
    # Random numbers are seeded per event (not per chunk): processing.chunk_size changes nothing.
    "process": ("analysis", "processing.seed"),
    # The POI's bounds and the fit binning are part of the workspace's measurement.
    "workspace": (
        "analysis.samples", "analysis.regions", "analysis.systematics", "fit.poi", "fit.poi_bounds", "fit.fit_edges",
    ),
    "fit": ("analysis.regions", "fit.backend", "fit.poi", "fit.poi_bounds", "fit.fit_edges", "fit.ranking",
            "fit.ranking_engine", "fit.hypothesis_tests"),
    "reinterpret": ("@deliver", "@process", "@workspace", "reinterpret"),
    "optimize": ("@process", "@workspace", "@fit"),
    "optimize_limit": ("@optimize", "reinterpret"),  # the expected-limit objective: its signal and POI
    "bench_processing": ("@deliver", "@process"),
    "bench_facility": ("@deliver", "@process", "benchmark"),
}

# The analysis keys each plugin's delivery query reads ("@query"), for the plugins shipped with
# agcflow (a test checks them against the query); any other plugin's delivery depends on its
# whole analysis block, so that no change can be missed.
QUERY_SETTINGS: dict[str, tuple[str, ...]] = {
    # agcflow.analyses.cms_ttbar.query.DeliveryQuery: the tight-lepton definition and jet id
    "cms_ttbar": (
        "analysis.objects.electron.abs_eta_max", "analysis.objects.electron.cut_based",
        "analysis.objects.electron.sip3d_max", "analysis.objects.muon.abs_eta_max",
        "analysis.objects.muon.sip3d_max", "analysis.objects.muon.iso_max", "analysis.objects.jet.id_mask",
    ),
    # agcflow.analyses.atlas_hzz.query.DeliveryQuery: the scale-factor variation it computes
    "atlas_hzz": ("analysis.variations.scale_factor",),
}

# The delivery preselection the Snakefile's optimisation delivers with, per shipped plugin: loose
# enough for the low end of every cut the plugin's grid varies (Analysis.cut_parameters; a test
# checks it). A plugin without an entry is optimised on its own preselection (atlas_hzz has no cuts
# to optimise: `agcflow optimize` says so).
OPTIMIZE_PRESELECTION: dict[str, dict[str, Any]] = {
    "cms_ttbar": {"delivery.preselection.btag_min": 0.3},  # the low end of the b-tag grid
}


def optimize_overrides(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The dotted-key overrides of the optimisation's delivery for the configured plugin."""
    return dict(OPTIMIZE_PRESELECTION.get((raw.get("analysis") or {}).get("kind"), {}))

# Configured paths: the Snakefile puts them into shell commands (quoted) and file names.
PATH_KEYS = (
    "outputs.results_dir", "inputs.generate.directory", "inputs.fileset", "inputs.agc_list",
    "delivery.cache_dir", "delivery.servicex.config", "reinterpret.directory",
)
# Characters a shell or Snakemake's wildcards would interpret even inside a quoted path.
UNSAFE_PATH = re.compile(r"[$`\\\"'!;&|<>(){}\[\]*?\n\r\t]")


def settings_of(raw: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The values of ``stage``'s settings in the configuration ``raw`` as validated, the schema's
    defaults filled in (``analysis.kind`` among them), by dotted key (``None`` for an absent key)."""
    if stage not in STAGE_SETTINGS:
        raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(STAGE_SETTINGS)}")
    values: dict[str, Any] = {}
    for key in STAGE_SETTINGS[stage]:
        if key == "@query":
            kind = (raw.get("analysis") or {}).get("kind")  # none: the whole analysis block
            for dotted in QUERY_SETTINGS.get(kind, ("analysis",)):
                values.update(_lookup(raw, dotted.split("."), ""))
        elif key.startswith("@"):
            values.update(settings_of(raw, key[1:]))
        else:
            values.update(_lookup(raw, key.split("."), ""))
    return dict(sorted(values.items()))


def digest(raw: Mapping[str, Any], stage: str, overrides: Mapping[str, Any] | None = None) -> str:
    """A stable digest (16 hex digits) of ``stage``'s settings in ``raw`` with dotted-key
    ``overrides`` (e.g. a rule's ``--set``) applied."""
    effective = with_overrides(raw, overrides)
    text = json.dumps(settings_of(effective, stage), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record(raw: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """What a stage writes into its outputs: the stage, its settings and their digest."""
    return {"stage": stage, "digest": digest(raw, stage), "settings": settings_of(raw, stage)}


def changed_keys(recorded: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two ``settings_of`` mappings, down to the
    deepest differing key (``analysis.objects.jet.pt_min``, not ``analysis``)."""
    changed = []
    for key in sorted({*recorded, *current}):
        old, new = recorded.get(key), current.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += changed_keys(old, new, f"{prefix}{key}.")
        else:
            changed.append(f"{prefix}{key}")
    return changed


def with_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``raw`` with dotted-key ``overrides`` applied."""
    effective = copy.deepcopy(dict(raw))
    for dotted, value in (overrides or {}).items():
        set_dotted(effective, dotted, value)
    return effective


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``dotted = "a.b.c"``, creating mappings on the way;
    ValueError when a key on the way holds a value, not a section."""
    node = raw
    *parents, leaf = dotted.split(".")
    for depth, key in enumerate(parents):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            shown = json.dumps(node, default=str)
            raise ValueError(f"{'.'.join(parents[: depth + 1])} = {shown[:77] + '...' if len(shown) > 80 else shown} "
                             f"is not a section; it has no key {'.'.join(parents[depth + 1:] + [leaf])!r}")
    node[leaf] = value


def path_problems(raw: Mapping[str, Any], keys: Iterable[str] = PATH_KEYS) -> list[str]:
    """One line per configured path holding a character a shell would interpret."""
    problems = []
    for key in keys:
        for dotted, value in _lookup(raw, key.split("."), "").items():
            if isinstance(value, str) and UNSAFE_PATH.search(value):
                problems.append(unsafe_path_message(dotted, value))
    return problems


def unsafe_path_message(key: str, value: str) -> str:
    """The error line for a path ``value`` of ``key`` with shell metacharacters."""
    found = "".join(sorted(set(UNSAFE_PATH.findall(value))))
    return (f"{key} = {value!r}: a path must not contain the characters {found!r} "
            "(shell metacharacters, quotes, brackets or braces); spaces are allowed")


def _lookup(node: Any, parts: list[str], prefix: str) -> dict[str, Any]:
    """The values at the dotted path ``parts`` below ``node``, keyed by their full dotted key."""
    if not parts:
        return {prefix: node}
    head, rest = parts[0], parts[1:]
    here = f"{prefix}.{head}" if prefix else head
    if not isinstance(node, Mapping):
        return {".".join([here, *rest]): None}
    if head == "*":
        found: dict[str, Any] = {}
        for key in node:
            found.update(_lookup(node[key], rest, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return _lookup(node.get(head), rest, here)
