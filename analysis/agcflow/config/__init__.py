"""Configuration: YAML -> JSON-schema validation -> semantic checks -> frozen settings.

The configuration is validated once, on entry; every stage then receives the typed settings
it needs. Errors name the file, the key path, the offending value and what is allowed.

The JSON schema declares every key once, with its description and, for an optional key, its
default: the loader fills the defaults in as the Snakefile's ``validate`` does, and the
dataclasses' field defaults are read from it.

Modules, from the bottom: :mod:`~agcflow.config.enums` (the closed choices),
:mod:`~agcflow.config.stage_settings` (each stage's settings and their digest),
:mod:`~agcflow.config.plugins` (finding the analysis plugin), :mod:`~agcflow.config.convert`
(the generic mapping -> dataclass converter), :mod:`~agcflow.config.schemas` (the schemas and
their defaults), :mod:`~agcflow.config.settings` (the dataclasses), :mod:`~agcflow.config.source`
(reading, defaults and schema validation), :mod:`~agcflow.config.checks` (semantic checks) and
:mod:`~agcflow.config.load`.
"""

from __future__ import annotations

from agcflow.config.load import analysis_plugin, from_dict, load
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
    SignalFamily,
    SignalSettings,
    Systematic,
    TlsSettings,
)
from agcflow.errors import ConfigError

__all__ = [
    "AnalysisSettings", "BenchmarkSettings", "ClusterSettings", "ConfigError", "DeliverySettings", "FitSettings",
    "GatewaySettings", "GenerateSettings", "HistogramAxis", "InputSettings", "ProcessingSettings", "Region",
    "ReinterpretSettings", "Sample", "ServiceXSettings", "Settings", "SignalFamily", "SignalSettings", "Systematic", "TlsSettings",
    "analysis_plugin", "base_schema", "from_dict", "load", "schema", "workflow_schema",
]
