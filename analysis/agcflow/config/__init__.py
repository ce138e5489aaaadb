"""Configuration: YAML -> JSON-schema validation -> semantic checks -> frozen settings.

The configuration is validated once, on entry; every stage then receives the typed settings
it needs. Errors name the file, the key path, the offending value and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from agcflow.config import plugins, stage_settings
from agcflow.config.checks import check_semantics
from agcflow.config.schemas import base_schema, schema, workflow_schema
from agcflow.config.settings import (
    AnalysisSettings,
    BenchmarkSettings,
    ClusterSettings,
    DeliverySettings,
    FitSettings,
    GatewaySettings,
    GenerateSettings,
    HistogramAxis,
    InputSettings,
    ProcessingSettings,
    Region,
    ReinterpretSettings,
    Sample,
    ServiceXSettings,
    Settings,
    SignalSettings,
    Systematic,
    TlsSettings,
)
from agcflow.config.source import read_yaml, set_dotted, validate_schema
from agcflow.errors import ConfigError

__all__ = [
    "AnalysisSettings", "BenchmarkSettings", "ClusterSettings", "ConfigError", "DeliverySettings", "FitSettings",
    "GatewaySettings", "GenerateSettings", "HistogramAxis", "InputSettings", "ProcessingSettings", "Region",
    "ReinterpretSettings", "Sample", "ServiceXSettings", "Settings", "SignalSettings", "Systematic", "TlsSettings",
    "analysis_plugin", "base_schema", "from_dict", "load", "schema", "workflow_schema",
]


def analysis_plugin(raw: dict[str, Any], source: Path) -> Any:
    """The plugin ``analysis.kind`` names (default ``cms_ttbar``), its errors naming the file."""
    analysis = raw.get("analysis")
    kind = analysis.get("kind", plugins.DEFAULT_KIND) if isinstance(analysis, dict) else plugins.DEFAULT_KIND
    if not isinstance(kind, str):
        raise ConfigError(f"{source}: analysis.kind = {kind!r}: expected a plugin name or package.module:OBJECT")
    try:
        return plugins.load(kind)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def load(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> Settings:
    """Load, validate and freeze a configuration file; ``overrides`` are dotted keys."""
    source = Path(path)
    raw = read_yaml(source)
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    return from_dict(raw, source)


def from_dict(raw: dict[str, Any], source: Path = Path("<dict>")) -> Settings:
    """Validate a configuration mapping and build the frozen settings."""
    plugin = analysis_plugin(raw, source)
    validate_schema(raw, schema(plugin), source)
    unsafe = stage_settings.path_problems(raw)
    if unsafe:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(unsafe))
    settings = _build(raw, source, plugin)
    check_semantics(settings, source)
    return settings


def _build(raw: dict[str, Any], source: Path, plugin: Any) -> Settings:
    return Settings(
        source=source,
        digest=hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16],
        analysis=_build_analysis(raw["analysis"], plugin),
        inputs=_build_inputs(raw["inputs"]),
        delivery=_build_delivery(raw["delivery"], plugin),
        cluster=_build_cluster(raw["cluster"]),
        processing=ProcessingSettings(**raw.get("processing", {})),
        fit=_build_fit(raw.get("fit", {})),
        results_dir=Path(raw["outputs"]["results_dir"]),
        reinterpret=_build_reinterpret(raw.get("reinterpret", {})),
        benchmark=_build_benchmark(raw.get("benchmark", {})),
        raw=copy.deepcopy(raw),
    )


REGION_KEYS = ("label", "observable", "axis_label")


def _build_analysis(raw: dict[str, Any], plugin: Any) -> AnalysisSettings:
    return AnalysisSettings(
        name=raw["name"],
        tree=raw["tree"],
        lumi_pb=float(raw["lumi_pb"]),
        samples=tuple(
            Sample(name, s["label"], float(s["xsec_pb"]), tuple(s.get("variations", ["nominal"])))
            for name, s in raw["samples"].items()
        ),
        regions=tuple(
            Region(name, r["label"], r["observable"], r.get("axis_label", r["observable"]),
                   {k: v for k, v in r.items() if k not in REGION_KEYS})
            for name, r in raw["regions"].items()
        ),
        histogram=HistogramAxis(**raw["histogram"]),
        pseudodata_average=tuple(raw["pseudodata"]["average"]),
        pseudodata_add=tuple(raw["pseudodata"]["add"]),
        systematics=tuple(_build_systematic(s) for s in raw["systematics"]),
        kind=raw.get("kind", plugins.DEFAULT_KIND),
        options=plugin.options(raw),
        plugin=plugin,
    )


def _build_systematic(raw: dict[str, Any]) -> Systematic:
    samples = raw.get("samples")
    return Systematic(**{**raw, "samples": tuple(samples) if samples else None})


def _build_inputs(raw: dict[str, Any]) -> InputSettings:
    gen = dict(raw.get("generate") or {})
    if "directory" in gen:
        gen["directory"] = Path(gen["directory"])
    if "events" in gen:
        gen["events"] = tuple(sorted(gen["events"].items()))
    return InputSettings(
        source=raw["source"],
        files_per_sample=raw.get("files_per_sample", -1),
        generate=GenerateSettings(**gen),
        fileset=_optional_path(raw.get("fileset")),
        agc_list=_optional_path(raw.get("agc_list")),
    )


def _build_delivery(raw: dict[str, Any], plugin: Any) -> DeliverySettings:
    return DeliverySettings(
        backend=raw["backend"],
        cache_dir=Path(raw.get("cache_dir", "cache/delivery")),
        preselection=plugin.preselection(raw.get("preselection", {})),
        servicex=_build_servicex(raw.get("servicex", {})),
    )


def _build_servicex(raw: dict[str, Any]) -> ServiceXSettings:
    values = dict(raw)
    values["config"] = _optional_path(values.get("config"))
    return ServiceXSettings(**values)


def _build_cluster(raw: dict[str, Any]) -> ClusterSettings:
    values = dict(raw)
    if "worker_env" in values:
        values["worker_env"] = tuple(sorted(values["worker_env"].items()))
    if "gateway" in values:
        gateway = dict(values["gateway"])
        gateway["options"] = tuple(sorted((gateway.get("options") or {}).items()))
        values["gateway"] = GatewaySettings(**gateway)
    if "tls" in values:
        values["tls"] = TlsSettings(**values["tls"])
    return ClusterSettings(**values)


def _build_fit(raw: dict[str, Any]) -> FitSettings:
    values = dict(raw)
    if "poi_bounds" in values:
        values["poi_bounds"] = tuple(values["poi_bounds"])
    if "fit_edges" in values:
        values["fit_edges"] = tuple(float(x) for x in values["fit_edges"])
    return FitSettings(**values)


def _build_reinterpret(raw: dict[str, Any]) -> ReinterpretSettings:
    values = dict(raw)
    if "poi_bounds" in values:
        values["poi_bounds"] = tuple(values["poi_bounds"])
    if "directory" in values:
        values["directory"] = Path(values["directory"])
    values["signals"] = tuple(
        SignalSettings(s["name"], s.get("label", s["name"]), float(s["xsec_pb"]),
                       {k: float(v) for k, v in s["parameters"].items()})
        for s in values.get("signals", [])
    )
    return ReinterpretSettings(**values)


def _build_benchmark(raw: dict[str, Any]) -> BenchmarkSettings:
    values = dict(raw)
    for key in ("workers", "chunk_sizes", "files_per_sample"):
        if key in values:
            values[key] = tuple(values[key])
    return BenchmarkSettings(**values)


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None
