"""`agcflow reinterpret` refuses wrong settings and inputs before any compute."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agcflow import config
from agcflow.cli.main import cli
from agcflow.errors import ConfigError
from conftest import CONFIG, tiny_overrides, write_config


@pytest.mark.parametrize(("bounds", "message"), [
    ([100.0, 0.0], r"reinterpret\.poi_bounds = \[.*\]: expected finite bounds with the lower"),
    ([1.0, 1.0], r"reinterpret\.poi_bounds = \[.*\]: expected finite bounds with the lower"),
    ([0.0, float("inf")], r"reinterpret\.poi_bounds\.1 = inf: must be a finite number"),  # the schema's check
])
def test_poi_bounds_are_validated_with_the_config(bounds, message):
    with pytest.raises(ConfigError, match=message):
        config.load(CONFIG, {"reinterpret.poi_bounds": bounds})


def test_wrong_workspace_or_output_fails_before_the_signal_is_generated(tmp_path):
    signals = tmp_path / "signals"
    path = write_config(tmp_path / "c.yaml", {**tiny_overrides(tmp_path), "reinterpret.directory": str(signals)})
    hello = tmp_path / "hello.json"
    hello.write_text(json.dumps({"hello": "world"}))
    args = ["reinterpret", "--config", str(path), "--name", "zprime_500"]
    result = CliRunner().invoke(cli, [*args, "--workspace", str(hello), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code != 0 and str(result.exception).startswith(f"{hello}: not a valid pyhf workspace")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, [*args, "--workspace", str(hello), "--output-dir", str(blocker / "out")])
    assert result.exit_code != 0 and "cannot write a test file in this output directory" in str(result.exception)
    assert not signals.exists()  # nothing was generated
