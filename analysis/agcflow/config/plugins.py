"""Find an analysis plugin from ``analysis.kind``: a built-in name, an installed package's entry
point in the ``agcflow.analyses`` group, or an import path ``package.module:OBJECT``.

Plugins are imported by name at run time (``importlib``), so this module, at the bottom of the
package with the configuration, depends on no analysis.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from importlib import metadata
from typing import Any

from agcflow.errors import ConfigError

ENTRY_POINT_GROUP = "agcflow.analyses"
BUILTIN = {"cms_ttbar": "agcflow.analyses.cms_ttbar:ANALYSIS", "atlas_hzz": "agcflow.analyses.atlas_hzz:ANALYSIS"}


def available() -> dict[str, str]:
    """Every analysis name that can be used as ``analysis.kind``, with its import path."""
    found = dict(BUILTIN)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(entry.name, entry.value)
    return found


@cache
def load(kind: str) -> Any:
    """The plugin object ``kind`` names (a name from :func:`available` or ``module:OBJECT``)."""
    target = kind if ":" in kind else available().get(kind)
    if target is None:
        raise ConfigError(f"analysis.kind = {kind!r}: unknown analysis; valid: {', '.join(sorted(available()))}, "
                          "or an import path package.module:OBJECT")
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"analysis.kind = {kind!r}: cannot import {module_name!r} ({err}); "
                          f"is it installed or on PYTHONPATH? (sys.path[0] = {sys.path[0]!r})") from err
    plugin = getattr(module, attribute, None)
    if plugin is None:
        raise ConfigError(f"analysis.kind = {kind!r}: module {module_name!r} has no {attribute!r}")
    missing = [name for name in ("name", "fill", "delivery_query", "variations") if not hasattr(plugin, name)]
    if missing:
        raise ConfigError(f"analysis.kind = {kind!r}: {target} is not an analysis plugin (lacks {missing}); "
                          "expected an instance of agcflow.analyses.base.Analysis")
    return plugin
