"""The H->ZZ*->4l slice's delivery settings: exactly the analysis keys its query reads."""

from __future__ import annotations

from pathlib import Path

import yaml

from agcflow import config
from agcflow.config import stage_settings

ROOT = Path(__file__).resolve().parents[2]
HZZ = ROOT / "configs/hzz.yaml"


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, node


def test_an_analysis_option_is_a_delivery_setting_exactly_when_it_changes_the_query():
    raw = yaml.safe_load(HZZ.read_text())
    deliver_keys = stage_settings.settings_of(raw, "deliver")
    base = config.load(HZZ)
    query = base.analysis.plugin.delivery_query(base.analysis, base.delivery.preselection).func_adl_text()
    checked = 0
    for block in ("selection", "variations"):
        for dotted, value in _leaves(raw["analysis"][block], f"analysis.{block}"):
            other = [v + 2 for v in value] if isinstance(value, list) else value / 2
            changed = config.load(HZZ, {dotted: other})
            text = changed.analysis.plugin.delivery_query(changed.analysis, changed.delivery.preselection).func_adl_text()
            assert (text != query) == (dotted in deliver_keys), dotted
            checked += 1
    assert checked == 4


def test_the_query_computes_the_configured_scale_factor_variation():
    settings = config.load(HZZ, {"analysis.variations.scale_factor": 0.2})
    text = settings.analysis.plugin.delivery_query(settings.analysis, settings.delivery.preselection).func_adl_text()
    product = "e.scaleFactor_ELE * e.scaleFactor_MUON * e.scaleFactor_LepTRIGGER * e.scaleFactor_PILEUP"
    assert text.startswith(".Where('lambda e: e.lep_n == 4')")
    assert f"'scaleFactor': {product}," in text
    assert f"'scaleFactorUP': {product} * 1.2," in text
    assert f"'scaleFactorDOWN': {product} * 0.8}}" in text
