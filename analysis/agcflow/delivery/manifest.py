"""Checks every stage that reads a delivery manifest (``manifest_types.Manifest``) makes before
using it: the manifest was delivered with the current query and deliver settings, and its
preselection kept every event the analysis needs.

(Kept out of the query's module: its source is part of the cache key.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agcflow.config import AnalysisSettings, Settings
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import ConfigError
from agcflow.util import provenance


def check_manifest(settings: Settings, manifest: Manifest, manifest_path: Path) -> None:
    """Refuse a manifest of another delivery query (results are never reused across queries),
    of other delivery settings (inputs, samples, tree, cache), or one whose preselection is
    tighter than the analysis cuts."""
    query = settings.analysis.plugin.delivery_query(settings.analysis, settings.delivery.preselection)
    if manifest.query != query.func_adl_text():
        raise ConfigError(
            f"{manifest_path}: delivered with another query (object definitions or delivery.preselection "
            "changed); run `agcflow deliver` again"
        )
    check_manifest_serves(manifest, settings.analysis, str(manifest_path))
    provenance.check_upstream(manifest.settings, settings.stage_record("deliver"), manifest_path, "deliver")


def recorded_preselection(manifest: Manifest, analysis: AnalysisSettings) -> Any:
    """The preselection a manifest's events were delivered with (recorded by the delivery), in
    the analysis plugin's typed form."""
    return analysis.plugin.preselection(manifest.preselection)


def check_manifest_serves(manifest: Manifest, analysis: AnalysisSettings, origin: str = "the manifest") -> None:
    """``check_serves`` against the preselection recorded in ``manifest``."""
    check_serves(analysis, recorded_preselection(manifest, analysis), origin)


def check_serves(analysis: AnalysisSettings, preselection: Any, origin: str = "the delivery") -> None:
    """Refuse an analysis that needs events ``preselection`` did not keep (its histograms would
    silently lack them), naming each looser cut, both values and what to do. ``origin`` names
    where the preselection comes from (a manifest, the settings)."""
    problems = analysis.plugin.serves(analysis, preselection)
    if problems:
        raise ConfigError(f"{origin}: this analysis needs events the delivery preselection drops: " + "; ".join(problems)
                          + "; deliver again with a delivery.preselection no tighter than the analysis cuts "
                          "(or tighten the analysis cuts)")
