"""Loading a configuration: YAML -> overrides -> the schema's defaults -> JSON-schema validation
-> frozen settings -> semantic checks. The analysis plugin ``analysis.kind`` names adds its keys
(and their defaults) to the schema and builds its own typed settings (``Analysis.options``,
``Analysis.preselection``).

The schema declares every default once. ``Settings.raw``, of which the stages' settings digests
are computed, is the mapping filled with the workflow schema's defaults (the generic keys'), as
the Snakefile's ``validate`` fills its configuration: the CLI's digests and those the Snakefile
passes (``--expect-settings``) agree. The settings are built from it filled with the plugin's
defaults too."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from agcflow.config import plugins, stage_settings
from agcflow.config.checks import check_semantics
from agcflow.config.convert import build
from agcflow.config.schemas import default, schema, workflow_schema
from agcflow.config.settings import AnalysisSettings, DeliverySettings, Settings
from agcflow.config.source import fill_defaults, read_yaml, set_dotted, validate_schema
from agcflow.errors import ConfigError


def load(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> Settings:
    """Load, validate and freeze a configuration file.

    Args:
        path: The YAML configuration file.
        overrides: Dotted keys and their values (``--set``), applied before validation.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: The file cannot be read or is invalid; the message names the file and key.
    """
    source = Path(path)
    raw = read_yaml(source)
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    return from_dict(raw, source)


def from_dict(raw: dict[str, Any], source: Path = Path("<dict>")) -> Settings:
    """Validate a configuration mapping and build the frozen settings.

    Args:
        raw: The configuration's sections (not changed; kept, with the workflow schema's
            defaults filled in, as ``Settings.raw``).
        source: Where it came from, named in errors.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: The mapping fails the schema, names unsafe paths or fails a semantic check.
    """
    raw = copy.deepcopy(raw)
    fill_defaults(raw, workflow_schema())  # what the Snakefile's validate() does to its configuration
    plugin = analysis_plugin(raw, source)
    values = copy.deepcopy(raw)
    validate_schema(values, schema(plugin), source, fill=True)  # and the plugin's keys' defaults
    unsafe = stage_settings.path_problems(values)
    if unsafe:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(unsafe))
    settings = build_settings(values, source, plugin, raw)
    check_semantics(settings, source)
    return settings


def analysis_plugin(raw: dict[str, Any], source: Path) -> Any:
    """The plugin ``analysis.kind`` names (the schema's default when there is no analysis block).

    Args:
        raw: The configuration mapping, its defaults filled in (not yet validated).
        source: The configuration file, named in errors.

    Returns:
        The ``agcflow.analyses.base.Analysis`` object.

    Raises:
        ConfigError: ``analysis.kind`` is not a plugin name or cannot be loaded.
    """
    analysis = raw.get("analysis")
    kind = analysis.get("kind", default("analysis.kind")) if isinstance(analysis, dict) else default("analysis.kind")
    if not isinstance(kind, str):
        raise ConfigError(f"{source}: analysis.kind = {kind!r}: expected a plugin name or package.module:OBJECT")
    try:
        return plugins.load(kind)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def build_settings(values: dict[str, Any], source: Path, plugin: Any, raw: dict[str, Any] | None = None) -> Settings:
    """The settings of a schema-valid mapping, before the semantic checks.

    Args:
        values: The validated configuration mapping, every default filled in.
        source: The configuration file.
        plugin: The analysis plugin; it builds the typed form of its own keys.
        raw: The mapping kept as ``Settings.raw``, of which the digests are (default: ``values``).

    Returns:
        The frozen settings, their ``digest`` that of ``raw``.
    """
    raw = values if raw is None else raw
    analysis = build(AnalysisSettings, values["analysis"], options=plugin.options(values["analysis"]), plugin=plugin)
    delivery = build(DeliverySettings, values["delivery"],
                     preselection=plugin.preselection(values["delivery"].get("preselection", {})))
    return build(Settings, values, source=source, digest=digest(raw), analysis=analysis, delivery=delivery,
                 raw=copy.deepcopy(raw))


def digest(raw: dict[str, Any]) -> str:
    """A short, stable digest of a configuration mapping (16 hex digits of its SHA-256)."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]
