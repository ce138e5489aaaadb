import json

import jsonschema
import pytest
import yaml

from agcflow import config
from agcflow.errors import ConfigError
from conftest import CONFIG, ROOT


def _raw():
    return yaml.safe_load(CONFIG.read_text())


def test_default_config_loads_into_frozen_settings(settings):
    assert [s.name for s in settings.analysis.samples] == [
        "ttbar", "single_top_s_chan", "single_top_t_chan", "single_top_tW", "wjets"]
    assert settings.analysis.sample("ttbar").variations == ("nominal", "scaledown", "scaleup", "ME_var", "PS_var")
    assert [r.name for r in settings.analysis.regions] == ["4j1b", "4j2b"]
    assert settings.fit.fit_edges == tuple(float(x) for x in range(110, 551, 40))
    with pytest.raises(AttributeError):
        settings.fit.backend = "jax"  # frozen


def test_schema_in_configs_is_the_packaged_one():
    """configs/schema/ is written by: json.dumps(config.workflow_schema(), indent=2) + "\\n"."""
    text = (ROOT / "configs" / "schema" / "config.schema.json").read_text()
    assert text == json.dumps(config.workflow_schema(), indent=2) + "\n", "regenerate configs/schema/config.schema.json"
    on_disk = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(on_disk)
    jsonschema.Draft202012Validator.check_schema(config.schema())


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("cluster.workers", -1, "cluster.workers = -1"),
        ("cluster.kind", "kubernetes", "cluster.kind = \"kubernetes\": unknown; valid: local, address"),
        ("fit.backend", "torch", "fit.backend = \"torch\": unknown; valid: numpy, jax"),
        ("delivery.backend", "ftp", "delivery.backend = \"ftp\": unknown; valid: local"),
        ("fit.fit_edges", [110, 155], "fit.fit_edges: 155.0 is not a histogram bin edge"),
        ("analysis.lumi_pb", "lots", "analysis.lumi_pb = \"lots\""),
        ("inputs.source", "s3", "inputs.source = \"s3\": unknown; valid: generate, fileset, agc"),
        ("processing.chunksize", 10, "processing: Additional properties are not allowed ('chunksize' was unexpected)"),
        ("analysis.pseudodata.add", ["zjets"], "analysis.pseudodata.add: 'zjets' is not a sample histogram"),
        ("cluster.kind", "address", "cluster.address: required when cluster.kind = 'address'"),
        ("analysis.histogram", {"bins": 2, "low": 5, "high": 5}, "analysis.histogram: high = 5.0 must exceed low = 5.0"),
    ],
)
def test_bad_values_are_rejected_naming_key_value_and_what_is_allowed(dotted, value, expected):
    with pytest.raises(ConfigError) as err:
        config.load(CONFIG, {dotted: value})
    assert str(CONFIG) in str(err.value)
    assert expected in str(err.value)


def test_unknown_key_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match="allowed keys: backend, device, fit_edges, hypothesis_tests, poi, poi_bounds, ranking"):
        config.load(CONFIG, {"fit.optimiser": "adam"})


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: configuration file not found"):
        config.load(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("analysis: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        config.load(broken)


def test_config_digest_changes_with_content():
    a = config.load(CONFIG)
    b = config.load(CONFIG, {"processing.chunk_size": 1000})
    assert a.digest != b.digest
    assert a.digest == config.load(CONFIG).digest
