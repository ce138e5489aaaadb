"""Issue acceptance on the default dataset: the gradient optimum lies within one grid step
of the grid optimum with at most a fifth of its evaluations, and a hard-cut run at the
gradient optimum reproduces the predicted expected uncertainty within 10 %.
(Slow: 3.45 M generated events, 56 hard-cut fits and a compiled relaxed analysis.)"""

from __future__ import annotations

import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.delivery.manifest_types import read_manifest
from agcflow.optimize import hard
from agcflow.optimize.options import GradientOptions
from agcflow.optimize.parameters import chosen_parameters, with_cuts
from agcflow.optimize.run import optimize
from agcflow.util.io import read_json
from conftest import CONFIG

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(2400)
def test_gradient_reaches_the_grid_optimum_with_a_fifth_of_the_evaluations(tmp_path):
    settings = config.load(CONFIG, {
        "inputs.generate.directory": str(tmp_path / "generated"),
        "delivery.cache_dir": str(tmp_path / "cache"),
        "delivery.preselection.btag_min": 0.3,
        "cluster.workers": 2,
    })
    pipeline.generate(settings, progress=False)
    manifest = tmp_path / "manifest.json"
    pipeline.run_delivery(settings, manifest, progress=False)
    parameters = chosen_parameters(settings.analysis, settings.delivery.preselection)
    out = tmp_path / "optimize"
    grid = optimize("grid", settings, manifest, out, parameters, GradientOptions())
    gradient = optimize("gradient", settings, manifest, out, parameters, GradientOptions())

    assert grid["evaluations"] == 56
    assert 5 * gradient["evaluations"] <= grid["evaluations"]
    for p in parameters:
        assert abs(gradient["optimum"][p.name] - grid["optimum"][p.name]) <= grid["grid_step"][p.name] + 1e-9
    assert {"optimum", "objective", "evaluations", "wall_s", "device", "path"} <= set(read_json(out / "gradient.json"))
    assert (out / "landscape.png").read_bytes()[:4] == b"\x89PNG"

    at_optimum = hard.expected_uncertainty(read_manifest(manifest), with_cuts(settings.analysis, gradient["optimum"]),
                                           settings.fit, settings.processing.seed, tmp_path / "check")
    assert at_optimum == pytest.approx(gradient["objective"], rel=0.10)
    # the run's own hard-cut check of its optimum is that value
    assert gradient["hard_cuts"]["objective"] == pytest.approx(at_optimum, rel=1e-9)
    assert gradient["hard_cuts"]["relative_difference"] == pytest.approx(gradient["objective"] / at_optimum - 1)
    assert "hard_cuts" not in grid
