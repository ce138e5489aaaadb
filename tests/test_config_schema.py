"""The configuration's JSON schema is its reference and the one place of its defaults: every
property has a description (a closed choice's says what each choice means), every optional key a
valid default, and the loader fills the defaults in exactly as the Snakefile's
``snakemake.utils.validate`` does, so that both compute the same settings digests."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from agcflow import config
from agcflow.config import stage_settings
from agcflow.config.source import fill_defaults
from conftest import CONFIG, ROOT


def properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every property below ``node``: its dotted path ("*" for an item or a mapping's value), its
    schema and whether its object requires it; ``$defs`` included."""
    for name, sub in node.get("$defs", {}).items():
        yield from properties(sub, f"$defs.{name}")
    required = set(node.get("required", ()))
    for name, sub in node.get("properties", {}).items():
        dotted = f"{path}.{name}" if path else name
        yield dotted, sub, name in required
        yield from properties(sub, dotted)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from properties(node[key], f"{path}.*")


ALL = list(properties(config.schema()))  # the generic keys and the default plugin's (cms_ttbar)


def test_the_walk_finds_every_section():
    found = {dotted for dotted, _, _ in ALL}
    assert {"analysis.kind", "cluster.gateway.auth", "$defs.systematic.up", "reinterpret.signals.*.label",
            "analysis.objects.electron.pt_min", "delivery.preselection.lepton_pt_min", "$defs.region.max_btags"} <= found
    assert len(found) > 130


@pytest.mark.parametrize(("dotted", "node", "required"), ALL, ids=[dotted for dotted, _, _ in ALL])
def test_every_property_has_a_description(dotted, node, required):
    text = node.get("description")
    assert isinstance(text, str) and text.strip() and "\n" not in text, f"{dotted} has no one-line description"
    for choice in node.get("enum", ()):
        if dotted != "$defs.region.observable":  # the plugin's observables (Analysis.observables)
            assert ("null" if choice is None else str(choice)) in text, f"{dotted}: the description omits {choice!r}"


@pytest.mark.parametrize(("dotted", "node", "required"), ALL, ids=[dotted for dotted, _, _ in ALL])
def test_every_optional_key_has_a_default_its_schema_accepts(dotted, node, required):
    if required:
        assert "default" not in node, f"{dotted} is required: a default would never apply"
        return
    assert "default" in node, f"{dotted} is optional and has no default"
    root = config.schema()
    jsonschema.Draft202012Validator({**node, "$defs": root["$defs"]}).validate(node["default"])


def minimal() -> dict[str, Any]:
    """The default configuration with only the required keys (and two systematics)."""
    raw = yaml.safe_load(CONFIG.read_text())
    analysis = {key: raw["analysis"][key] for key in config.schema()["properties"]["analysis"]["required"]}
    analysis["samples"] = {name: {"label": s["label"], "xsec_pb": s["xsec_pb"]} for name, s in analysis["samples"].items()}
    analysis["regions"] = {name: {"label": r["label"], "observable": r["observable"], "min_btags": r["min_btags"]}
                           for name, r in analysis["regions"].items()}
    analysis["pseudodata"] = {"average": ["ttbar"], "add": []}
    analysis["systematics"] = [{"name": "jes", "label": "JES", "up": "pt_scale_up"},
                               {"name": "lumi", "label": "Lumi", "normalization": 0.03}]
    return {"analysis": analysis, "inputs": {"source": "generate"}, "delivery": {"backend": "local"},
            "cluster": {"kind": "local"}, "processing": {}, "fit": {}, "outputs": {"results_dir": "results"}}


def with_sections() -> dict[str, Any]:
    """Optional sections given, empty or partly: their keys' defaults fill them."""
    raw = minimal()
    raw.update(reinterpret={"signals": [{"name": "z", "xsec_pb": 1.0, "parameters": {"mass": 500}}]}, benchmark={})
    raw["inputs"]["generate"] = {"seed": 7}
    raw["cluster"].update(gateway={}, tls={"cert": "c.pem"})
    raw["delivery"].update(preselection={"jet_pt_min": 30.0}, servicex={"endpoint": "uc-af"})
    return raw


CONFIGS = {"default": lambda: yaml.safe_load(CONFIG.read_text()), "minimal": minimal, "sections": with_sections}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_loader_fills_defaults_exactly_as_snakemake_validate(name):
    from snakemake.utils import validate

    raw = CONFIGS[name]()
    by_snakemake = copy.deepcopy(raw)
    validate(by_snakemake, str(ROOT / "configs" / "schema" / "config.schema.json"), set_default=True)
    filled = copy.deepcopy(raw)
    fill_defaults(filled, config.workflow_schema())
    settings = config.from_dict(raw)
    assert raw == CONFIGS[name](), "the caller's mapping is not changed"
    as_json = [json.dumps(value, sort_keys=True) for value in (by_snakemake, filled, settings.raw)]
    assert as_json[0] == as_json[1] == as_json[2]
    for stage in stage_settings.STAGE_SETTINGS:
        assert settings.stage_record(stage)["digest"] == stage_settings.digest(by_snakemake, stage), stage


def test_absent_keys_take_the_schema_defaults():
    settings = config.from_dict(with_sections())
    assert settings.fit.fit_edges == tuple(config.schemas.default("fit.fit_edges"))
    assert settings.cluster.worker_env == (("MALLOC_TRIM_THRESHOLD_", "134217728"),)
    assert settings.inputs.generate.seed == 7 and settings.inputs.generate.files_per_sample == 4
    assert settings.reinterpret.signals[0].label == "z" and settings.cluster.tls.cert == "c.pem"
    assert settings.delivery.preselection.jet_pt_min == 30.0 and settings.delivery.preselection.lepton_pt_min == 30.0
    assert [r.axis_label for r in settings.analysis.regions] == ["ht", "mbjj"]  # null: the observable's name
    assert settings.analysis.regions[1].selection == {"min_btags": 2, "max_btags": None}  # the plugin's default
    assert "max_btags" not in settings.raw["analysis"]["regions"]["4j2b"]  # the workflow schema has no plugin keys
    jes, lumi = settings.analysis.systematics
    assert (jes.up, jes.down, jes.samples, jes.symmetrize, jes.normalization) == ("pt_scale_up", None, None, False, None)
    assert (lumi.up, lumi.normalization) == (None, 0.03)


@pytest.mark.parametrize(("systematic", "valid"), [
    ({"up": "pt_scale_up"}, True), ({"normalization": 0.1}, True), ({"up": "pt_scale_up", "normalization": None}, True),
    ({}, False), ({"up": None}, False), ({"up": "pt_scale_up", "normalization": 0.1}, False)])
def test_a_systematic_takes_exactly_one_of_up_and_normalization(systematic, valid):
    raw = minimal()
    raw["analysis"]["systematics"] = [{"name": "s", "label": "S", **systematic}]
    if valid:
        config.from_dict(raw)
    else:
        with pytest.raises(config.ConfigError, match="analysis.systematics.0"):
            config.from_dict(raw)
