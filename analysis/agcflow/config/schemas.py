"""The configuration's JSON schemas (draft 2020-12): the packaged generic one with the closed
choices of :mod:`agcflow.config.enums`, one with an analysis plugin's keys, and the workflow's.

The schema is where a key's description and default are declared; :func:`default` reads a
default for the code that needs one (the settings dataclasses' field defaults)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from agcflow.config import plugins
from agcflow.config.enums import SCHEMA_ENUMS


@cache
def base_schema() -> dict[str, Any]:
    """The JSON schema of a configuration file's generic keys.

    Returns:
        ``schema/config.schema.json`` with each closed choice of ``SCHEMA_ENUMS`` as its ``enum``
        (cached: copy it before changing it).
    """
    text = resources.files("agcflow").joinpath("config/schema/config.schema.json").read_text()
    loaded = json.loads(text)
    for (section, key), choices in SCHEMA_ENUMS.items():
        loaded["properties"][section]["properties"][key]["enum"] = list(choices)
    return loaded


def schema(plugin: Any = None) -> dict[str, Any]:
    """The configuration's JSON schema with an analysis plugin's keys.

    Args:
        plugin: The analysis plugin (default: that of the default ``analysis.kind``, ``cms_ttbar``).

    Returns:
        The generic schema with the plugin's ``analysis`` and region properties, its observables
        (the region's ``observable`` enum) and its ``delivery.preselection`` (over the generic one's
        keys: the plugin's description, properties and defaults win).
    """
    plugin = plugin or plugins.load(default("analysis.kind"))
    full = copy.deepcopy(base_schema())
    analysis = full["properties"]["analysis"]
    extra = plugin.options_schema()
    analysis["properties"].update(extra.get("properties", {}))
    analysis["required"] = [*analysis["required"], *extra.get("required", [])]
    region = full["$defs"]["region"]
    extra = plugin.region_schema()
    region["properties"].update(extra.get("properties", {}))
    region["required"] = [*region["required"], *extra.get("required", [])]
    region["properties"]["observable"]["enum"] = sorted(plugin.observables())
    delivery = full["properties"]["delivery"]["properties"]
    delivery["preselection"] = {**delivery["preselection"], **plugin.preselection_schema()}
    return full


def workflow_schema() -> dict[str, Any]:
    """The schema the Snakefile validates a configuration with (``configs/schema/``).

    Returns:
        The generic keys, any plugin's keys allowed (the CLI validates them with the plugin's schema).
    """
    full = copy.deepcopy(base_schema())
    full["properties"]["analysis"]["additionalProperties"] = True
    full["$defs"]["region"]["additionalProperties"] = True
    return full


def default(dotted: str, node: Mapping[str, Any] | None = None) -> Any:
    """The ``default`` a schema declares for a key.

    Args:
        dotted: The key's path: keys joined by dots, ``*`` for a list's items or a mapping's
            values (e.g. ``cluster.workers``, ``analysis.systematics.*.symmetrize``).
        node: The schema, or a piece of one whose ``$ref`` s point into the configuration's
            schema (default: :func:`base_schema`).

    Returns:
        A copy of the default, as JSON gives it.

    Raises:
        KeyError: The schema has no such key, or it has no default.
    """
    root = base_schema()
    here: Any = root if node is None else node
    for part in dotted.split("."):
        while "$ref" in here:  # "#/$defs/NAME"
            here = root["$defs"][here["$ref"].rpartition("/")[2]]
        if part == "*":
            here = here["items"] if "items" in here else here["additionalProperties"]
        elif part in here.get("properties", {}):
            here = here["properties"][part]
        else:
            raise KeyError(f"{dotted}: the schema has no key {part!r}")
    if "default" not in here:
        raise KeyError(f"{dotted}: the schema declares no default")
    return copy.deepcopy(here["default"])
