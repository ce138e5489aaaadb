"""``agcflow optimize``: choose the cuts (the analysis' cut parameters, e.g. the jet pt and
b-tag thresholds of ttbar) that minimise the expected uncertainty on the POI (or, with
``--objective expected-limit --signal NAME``, the expected upper limit on a configured
signal's strength), by a grid of hard-cut fits or by gradient descent through the
analysis' relaxed form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agcflow.cli.options import CONFIG, OVERRIDES, load_settings
from agcflow.optimize.options import EXPECTED_LIMIT, OBJECTIVES, POI_UNCERTAINTY, STARTS, GradientOptions, default_text, gradient_options


@click.command()
@click.option("--strategy", type=click.Choice(["grid", "gradient"]), required=True)
@CONFIG
@OVERRIDES
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("results/optimize"), show_default=True)
@click.option("--parameter", "parameter_specs", multiple=True, metavar="NAME=LOW:HIGH:POINTS",
              help="A cut to vary and its grid (repeatable; an empty field keeps the analysis' default, e.g. "
                   "jet_pt_min=::4). Default: every cut of the analysis' default grid.")
@click.option("--points", type=click.IntRange(min=2), default=None, help="Grid points of every varied cut.")
@click.option("--steepness", type=float, default=None, show_default=default_text("steepness"),
              help="Sigmoid width = grid step / steepness, at the last step.")
@click.option("--start-steepness", type=float, default=None, show_default=default_text("start_steepness"),
              help="Steepness at the first step (the cuts sharpen geometrically).")
@click.option("--start", type=click.Choice(STARTS), default=None, show_default=GradientOptions.start,
              help="Gradient start: the centre of the grid's box, or the configured cuts.")
@click.option("--bandwidth", type=float, default=None, show_default=default_text("bandwidth"),
              help="Soft-histogram kernel width [GeV] at the last step (it narrows with the sigmoids).")
@click.option("--steps", type=int, default=None, show_default=default_text("steps"), help="Adam iterations.")
@click.option("--learning-rate", type=float, default=None, show_default=default_text("learning_rate"),
              help="In grid steps per iteration, at the first step.")
@click.option("--final-learning-rate", type=float, default=None, show_default=default_text("final_learning_rate"),
              help="At the last step (the rate decays geometrically).")
@click.option("--objective", "objective_name", type=click.Choice(OBJECTIVES), default=POI_UNCERTAINTY, show_default=True,
              help="What to minimise: the expected uncertainty on the fit's POI, or the expected 95% CL upper "
                   "limit on the strength of --signal.")
@click.option("--signal", default=None, help="A signal of reinterpret.signals (for --objective expected-limit).")
@click.option("--generate-signal", is_flag=True,
              help="Generate the signal's sample under reinterpret.directory first (seeded: the same settings give the same events).")
def optimize(
    strategy: str,
    config_path: Path,
    overrides: tuple[str, ...],
    manifest: Path,
    output_dir: Path,
    parameter_specs: tuple[str, ...],
    points: int | None,
    objective_name: str,
    signal: str | None,
    generate_signal: bool,
    **given: Any,
) -> None:
    """Optimise the cuts; write <output-dir>/<strategy>.json (<strategy>-expected-limit-<signal>.json)
    and the figures."""
    from agcflow.optimize.objective import objective_of
    from agcflow.optimize.parameters import chosen_parameters
    from agcflow.optimize.run import optimize as run

    settings = load_settings(config_path, overrides)
    if generate_signal and objective_name == EXPECTED_LIMIT and signal is not None:
        from agcflow import reinterpret

        # always: an existing sample may be of other settings (reinterpret.events, the signal's parameters)
        reinterpret.generate_signal(settings, settings.reinterpret.signal(signal))
    objective = objective_of(settings, objective_name, signal)
    parameters = chosen_parameters(settings.analysis, settings.delivery.preselection, parameter_specs, points)
    options = gradient_options(objective_name, **given)
    record = run(strategy, settings, manifest, output_dir, parameters, options, objective)
    click.echo(f"{strategy}: optimum {record['optimum']}, {objective.label(settings)} {record['objective']:.4f} "
               f"({record['evaluations']} evaluations, {record['wall_s']:.1f} s on {record['device']}) -> {output_dir}")
    checked = record.get("hard_cuts")
    if checked and checked["objective"] is not None:
        click.echo(f"hard cuts at the optimum: {checked['objective']:.4f} (relaxed {100 * checked['relative_difference']:+.1f} %)")
    elif checked:
        click.echo(f"hard cuts at the optimum: not evaluated ({checked['error']})")
