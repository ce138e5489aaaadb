"""RECAST reinterpretation commands: ``reinterpret`` and ``limit-plot``."""

from __future__ import annotations

from pathlib import Path

import click

from agcflow.cli.options import BKG_ONLY, CONFIG, OVERRIDES, load_settings


@click.command()
@CONFIG
@OVERRIDES
@click.option("--name", required=True, help="Signal name from reinterpret.signals, e.g. zprime_750.")
@click.option("--signal", "fileset", type=click.Path(path_type=Path), default=None,
              help="The signal's fileset JSON (default: generate it under reinterpret.directory).")
@click.option("--workspace", "workspace_path", type=click.Path(path_type=Path), default=Path("results/workspace") / BKG_ONLY, show_default=True,
              help="The preserved background-only workspace; the signal is patched into it.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None, help="Default: results/reinterpret/NAME.")
def reinterpret(config_path: Path, overrides: tuple[str, ...], name: str, fileset: Path | None,
                workspace_path: Path, output_dir: Path | None) -> None:
    """RECAST: a new signal through the same delivery and processor, patched into the preserved
    background-only workspace; CLs at mu = 1 and upper limits. Backgrounds are not reprocessed.
    Writes a pallet (BkgOnly.json + pyhf patchset.json) and result.json in the output folder."""
    from agcflow import reinterpret as recast
    from agcflow.compute import cluster
    from agcflow.processing.run import WORKER_MODULES
    from agcflow.util.io import check_writable

    settings = load_settings(config_path, overrides)
    signal = recast.signal_settings(settings, name)
    output_dir = output_dir or settings.results_dir / "reinterpret" / name
    check_writable(output_dir)
    recast.load_background(workspace_path)  # a wrong --workspace fails before any compute
    fileset = fileset or recast.generate_signal(settings, signal)
    with cluster.open_client(settings.cluster, preload=WORKER_MODULES) as client:
        result = recast.run(settings, signal, fileset, workspace_path, output_dir, client)
    click.echo(f"{name}: CLs_obs = {result['CLs_obs']:.3g}, 95% CL upper limit on {result['poi']} = "
               f"{result['upper_limit_obs']:.3g} (expected {result['upper_limit_exp'][2]:.3g}) -> {output_dir}")


@click.command("limit-plot")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/reinterpret/limits.png"), show_default=True)
def limit_plot(results: tuple[Path, ...], output: Path) -> None:
    """Upper limit vs signal mass with expected bands, from reinterpret result.json files."""
    from agcflow.reinterpret import plot_limits, read_limit_result

    click.echo(f"wrote {plot_limits([read_limit_result(path) for path in results], output)}")


COMMANDS = (reinterpret, limit_plot)
