"""``agcflow optimize``: choose the jet pt and b-tag thresholds that minimise the expected
uncertainty on ttbar_norm, by a grid of hard-cut fits or by gradient descent through the
relaxed analysis. Register with ``cli.add_command(optimize)``."""

from __future__ import annotations

from pathlib import Path

import click

from agcflow.cli.options import CONFIG, OVERRIDES, load_settings


@click.command()
@click.option("--strategy", type=click.Choice(["grid", "gradient"]), required=True)
@CONFIG
@OVERRIDES
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("results/optimize"), show_default=True)
@click.option("--jet-pt-range", type=(float, float), default=None, help="Grid range of jet_pt_min [GeV] (default 25..60, "
              "raised to what the delivered columns allow).")
@click.option("--btag-range", type=(float, float), default=(0.3, 0.9), show_default=True, help="Grid range of btag_min.")
@click.option("--jet-pt-points", type=int, default=8, show_default=True)
@click.option("--btag-points", type=int, default=7, show_default=True)
@click.option("--steepness", type=float, default=4.0, show_default=True,
              help="Sigmoid width = grid step / steepness, at the last step.")
@click.option("--start-steepness", type=float, default=2.0, show_default=True,
              help="Steepness at the first step (the cuts sharpen geometrically).")
@click.option("--start", type=click.Choice(["centre", "configured"]), default="centre", show_default=True,
              help="Gradient start: the centre of the grid's box, or the configured cuts.")
@click.option("--bandwidth", type=float, default=10.0, show_default=True, help="Soft-histogram kernel width [GeV].")
@click.option("--steps", type=int, default=10, show_default=True, help="Adam iterations.")
@click.option("--learning-rate", type=float, default=1.0, show_default=True, help="In grid steps per iteration.")
def optimize(
    strategy: str,
    config_path: Path,
    overrides: tuple[str, ...],
    manifest: Path,
    output_dir: Path,
    jet_pt_range: tuple[float, float] | None,
    btag_range: tuple[float, float],
    jet_pt_points: int,
    btag_points: int,
    steepness: float,
    start_steepness: float,
    start: str,
    bandwidth: float,
    steps: int,
    learning_rate: float,
) -> None:
    """Optimise the cuts; write <output-dir>/<strategy>.json and the figures."""
    from agcflow.optimize.gradient import GradientOptions
    from agcflow.optimize.parameters import CutParameter, default_parameters
    from agcflow.optimize.run import optimize as run

    settings = load_settings(config_path, overrides)
    lowest_pt = settings.delivery.preselection.jet_pt_min * settings.analysis.options.variations.pt_scale_factor
    pt = default_parameters(lowest_pt)[0]
    low, high = jet_pt_range or (pt.low, pt.high)
    parameters = (CutParameter("jet_pt_min", max(low, lowest_pt), high, jet_pt_points),
                  CutParameter("btag_min", *btag_range, btag_points))
    record = run(strategy, settings, manifest, output_dir, parameters,
                 GradientOptions(steepness=steepness, start_steepness=start_steepness, bandwidth=bandwidth, steps=steps,
                                 learning_rate=learning_rate, start=start))
    click.echo(f"{strategy}: optimum {record['optimum']}, expected uncertainty {record['objective']:.4f} "
               f"({record['evaluations']} evaluations, {record['wall_s']:.1f} s on {record['device']}) -> {output_dir}")
