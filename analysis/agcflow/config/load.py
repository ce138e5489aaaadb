"""Loading a configuration: YAML -> overrides -> JSON-schema validation -> frozen settings ->
semantic checks. The analysis plugin ``analysis.kind`` names adds its keys to the schema and
builds its own typed settings (``Analysis.options``, ``Analysis.preselection``)."""

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
from agcflow.config.schemas import schema
from agcflow.config.settings import AnalysisSettings, DeliverySettings, Settings
from agcflow.config.source import read_yaml, set_dotted, validate_schema
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
        raw: The configuration's sections (kept, deep-copied, as ``Settings.raw``).
        source: Where it came from, named in errors.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: The mapping fails the schema, names unsafe paths or fails a semantic check.
    """
    plugin = analysis_plugin(raw, source)
    validate_schema(raw, schema(plugin), source)
    unsafe = stage_settings.path_problems(raw)
    if unsafe:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(unsafe))
    settings = build_settings(raw, source, plugin)
    check_semantics(settings, source)
    return settings


def analysis_plugin(raw: dict[str, Any], source: Path) -> Any:
    """The plugin ``analysis.kind`` names (default ``cms_ttbar``).

    Args:
        raw: The configuration mapping (not yet validated).
        source: The configuration file, named in errors.

    Returns:
        The ``agcflow.analyses.base.Analysis`` object.

    Raises:
        ConfigError: ``analysis.kind`` is not a plugin name or cannot be loaded.
    """
    analysis = raw.get("analysis")
    kind = analysis.get("kind", plugins.DEFAULT_KIND) if isinstance(analysis, dict) else plugins.DEFAULT_KIND
    if not isinstance(kind, str):
        raise ConfigError(f"{source}: analysis.kind = {kind!r}: expected a plugin name or package.module:OBJECT")
    try:
        return plugins.load(kind)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def build_settings(raw: dict[str, Any], source: Path, plugin: Any) -> Settings:
    """The settings of a schema-valid mapping, before the semantic checks.

    Args:
        raw: The validated configuration mapping.
        source: The configuration file.
        plugin: The analysis plugin; it builds the typed form of its own keys.

    Returns:
        The frozen settings, their ``digest`` that of ``raw``.
    """
    analysis = build(AnalysisSettings, raw["analysis"], options=plugin.options(raw["analysis"]), plugin=plugin)
    delivery = build(DeliverySettings, raw["delivery"],
                     preselection=plugin.preselection(raw["delivery"].get("preselection", {})))
    return build(
        Settings, raw, source=source, digest=digest(raw), analysis=analysis, delivery=delivery, raw=copy.deepcopy(raw))


def digest(raw: dict[str, Any]) -> str:
    """A short, stable digest of a configuration mapping (16 hex digits of its SHA-256)."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16]
