"""RECAST reinterpretation commands: ``reinterpret`` and ``limit-plot``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agcflow.cli.options import ADAPTIVE_OPTIONS, BKG_ONLY, CONFIG, OVERRIDES, adaptive_settings, load_settings


@click.command()
@CONFIG
@OVERRIDES
@click.option("--name", default=None, help="Signal name from reinterpret.signals, e.g. zprime_750.")
@click.option("--family", default=None, help="A signal family from reinterpret.families: its grid points instead of one signal.")
@click.option("--adaptive", is_flag=True, help="With --family: active learning chooses the points to fit (else every grid point).")
@ADAPTIVE_OPTIONS
@click.option("--signal", "fileset", type=click.Path(path_type=Path), default=None,
              help="The signal's fileset JSON (default: generate it under reinterpret.directory).")
@click.option("--workspace", "workspace_path", type=click.Path(path_type=Path), default=Path("results/workspace") / BKG_ONLY, show_default=True,
              help="The preserved background-only workspace; the signal is patched into it.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None, help="Default: results/reinterpret/NAME (or FAMILY).")
def reinterpret(config_path: Path, overrides: tuple[str, ...], name: str | None, family: str | None, adaptive: bool,
                fileset: Path | None, workspace_path: Path, output_dir: Path | None, **loop: Any) -> None:
    """RECAST: a new signal through the same delivery and processor, patched into the preserved
    background-only workspace; CLs at mu = 1 and upper limits. Backgrounds are not reprocessed.
    Writes a pallet (BkgOnly.json + pyhf patchset.json) and result.json in the output folder.

    With --family, every grid point of a signal family (or, with --adaptive, those an
    active-learning loop chooses) is run so, into OUTPUT_DIR/points/<signal>/; family.json
    classifies every grid point (excluded or allowed, observed and expected) and excluded.png
    draws the excluded region."""
    from agcflow import reinterpret as recast
    from agcflow.compute import cluster
    from agcflow.processing.run import WORKER_MODULES
    from agcflow.util.io import check_writable

    if (name is None) == (family is None):
        raise click.UsageError("give exactly one of --name SIGNAL and --family FAMILY")
    if family is None and adaptive:
        raise click.UsageError("--adaptive needs --family (a single signal has nothing to choose)")
    if family is not None and fileset is not None:
        raise click.UsageError("--signal takes one signal's fileset; a family's signals are generated")
    settings = load_settings(config_path, overrides)
    chosen = settings.reinterpret.family(family) if family else settings.reinterpret.signal(name)
    options = adaptive_settings(**loop) if adaptive else None  # bad loop options fail before any compute
    output_dir = output_dir or settings.results_dir / "reinterpret" / chosen.name
    check_writable(output_dir)
    recast.load_background(workspace_path)  # a wrong --workspace fails before any compute
    if family is None:
        fileset = fileset or recast.generate_signal(settings, chosen)
    with cluster.open_client(settings.cluster, preload=WORKER_MODULES) as client:
        if family is not None:
            _run_family(settings, chosen, workspace_path, output_dir, client, options)
            return
        result = recast.run(settings, chosen, fileset, workspace_path, output_dir, client)
    click.echo(f"{name}: CLs_obs = {result['CLs_obs']:.3g}, 95% CL upper limit on {result['poi']} = "
               f"{result['upper_limit_obs']:.3g} (expected {result['upper_limit_exp'][2]:.3g}) -> {output_dir}")


def _run_family(settings, family, workspace_path: Path, output_dir: Path, client, options) -> None:
    from agcflow.reinterpret.family import FIGURE, RESULT, run_family, signal_evaluator

    evaluate = signal_evaluator(settings, workspace_path, output_dir, client)
    result = run_family(settings, family, evaluate, output_dir, "adaptive" if options else "dense", options,
                        inputs=[workspace_path])
    excluded = sum(bool(p["excluded_obs"]) for p in result["points"])
    click.echo(f"{family.name}: {result['evaluations']} of {result['grid_points']} grid points fitted in "
               f"{result['wall_s']:.0f} s ({result['stopped']}); {excluded} excluded (observed) -> "
               f"{output_dir / RESULT}, {output_dir / FIGURE}")


@click.command("limit-plot")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/reinterpret/limits.png"), show_default=True)
def limit_plot(results: tuple[Path, ...], output: Path) -> None:
    """Upper limit vs signal mass with expected bands, from reinterpret result.json files."""
    from agcflow.reinterpret import plot_limits, read_limit_result

    click.echo(f"wrote {plot_limits([read_limit_result(path) for path in results], output)}")


COMMANDS = (reinterpret, limit_plot)
