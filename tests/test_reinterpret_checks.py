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


def test_the_configured_family_is_a_grid_with_a_scaled_cross_section():
    from agcflow.reinterpret.family import grid_points, point_signal

    family = config.load(CONFIG).reinterpret.family("zprime_mw")
    points = grid_points(family)
    assert len(points) == 9 * 5 and points[0] == {"mass": 500.0, "width": 0.02} and points[1]["width"] == 0.09
    signal = point_signal(family, {"mass": 1000.0, "width": 0.09})
    assert signal.name == "zprime_mw_mass1000_width0p09" and signal.parameters == {"mass": 1000.0, "width": 0.09}
    assert signal.xsec_pb == pytest.approx(60.0 * 2.0**-4 * 3.0)


@pytest.mark.parametrize(("family", "message"), [
    ({"parameters": {"mass": [900, 500, 100]}}, r"parameters.mass = \[900.0, 500.0, 100.0\]: expected \[first, last, step\]"),
    ({"parameters": {"mass": [500, 900, 0]}}, r"step > 0"),
    ({"xsec_scaling": {"coupling": 2}}, r"xsec_scaling.coupling: not a grid parameter; valid: \['mass'\]"),
    ({"reference": {}}, r"reference: no value for 'mass', which xsec_scaling scales with"),
    ({"parameters": {"a": [1, 2, 1], "b": [1, 2, 1], "c": [1, 2, 1]}}, r"reinterpret.families.0.parameters = .* has too many properties"),
])
def test_family_mistakes_are_named(family, message):
    base = {"name": "f", "parameters": {"mass": [500, 900, 100]}, "xsec_pb": 1.0, "reference": {"mass": 500},
            "xsec_scaling": {"mass": -4}}
    with pytest.raises(ConfigError, match=message):
        config.load(CONFIG, {"reinterpret.families": [{**base, **family}]})
