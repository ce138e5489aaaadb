"""The stage commands: generate, deliver, process, cached-pass, workspace, fit, validate."""

from __future__ import annotations

from pathlib import Path

import click

from agcflow.cli.options import BKG_ONLY, CONFIG, OVERRIDES, PROGRESS, load_settings
from agcflow.util.io import read_json


@click.command()
@CONFIG
@OVERRIDES
@PROGRESS
def generate(config_path: Path, overrides: tuple[str, ...], progress: bool) -> None:
    """Write the synthetic NanoAOD dataset (inputs.generate) and its fileset JSON."""
    from agcflow import stages as pipeline

    fileset = pipeline.generate(load_settings(config_path, overrides), progress)
    click.echo(f"wrote {fileset}")


@click.command()
@CONFIG
@OVERRIDES
@PROGRESS
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
def deliver(config_path: Path, overrides: tuple[str, ...], progress: bool, output: Path) -> None:
    """Run the delivery query on the inputs; write skims (cached) and their manifest."""
    from agcflow import stages as pipeline

    manifest = pipeline.run_delivery(load_settings(config_path, overrides), output, progress=progress)
    click.echo(f"delivered {manifest.events_out:,} of {manifest.events_in:,} events -> {output}")


@click.command()
@CONFIG
@OVERRIDES
@PROGRESS
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/histograms/histograms.root"), show_default=True)
@click.option("--metrics", type=click.Path(path_type=Path), default=Path("results/metrics/processing.json"), show_default=True)
def process(config_path: Path, overrides: tuple[str, ...], progress: bool, manifest: Path, output: Path, metrics: Path) -> None:
    """Fill the analysis histograms (all systematics) from the delivered skims with coffea."""
    from agcflow import stages as pipeline

    result = pipeline.run_processing(load_settings(config_path, overrides), manifest, output, metrics, progress=progress)
    click.echo(
        f"processed {result['events']:,} events in {result['wall_s']:.1f} s "
        f"({result['first_pass_events_per_s_per_core']:,.0f} events/s per core) -> {output}"
    )


@click.command("cached-pass")
@CONFIG
@OVERRIDES
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/optimize/histograms.root"), show_default=True)
@click.option("--metrics", type=click.Path(path_type=Path), default=Path("results/optimize/cached_pass.json"), show_default=True)
def cached_pass(config_path: Path, overrides: tuple[str, ...], manifest: Path, output: Path, metrics: Path) -> None:
    """Re-run the analysis on the cached delivered columns, e.g. with --set analysis.objects.jet.pt_min=35."""
    from agcflow import stages as pipeline

    result = pipeline.run_cached_pass(load_settings(config_path, overrides), manifest, output, metrics)
    click.echo(f"cached pass over {result['events']:,} events in {result['wall_s']:.2f} s -> {output}")


@click.command()
@CONFIG
@OVERRIDES
@click.option("--histograms", type=click.Path(path_type=Path), default=Path("results/histograms/histograms.root"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/workspace/workspace.json"), show_default=True)
@click.option("--bkg-only", type=click.Path(path_type=Path), default=None,
              help=f"Where to preserve the background-only workspace (default: {BKG_ONLY} beside --output).")
def workspace(config_path: Path, overrides: tuple[str, ...], histograms: Path, output: Path, bkg_only: Path | None) -> None:
    """Build the HistFactory workspace from the histograms with cabinetry; a copy preserves
    the same Standard-Model model as the background of reinterpretations (RECAST patches add
    a signal to it)."""
    from agcflow.processing.histograms import settings_record
    from agcflow.stats.workspace import build_workspace, figure_binnings, save_workspace
    from agcflow.util import provenance
    from agcflow.util.io import atomic_set, check_writable, write_json

    settings = load_settings(config_path, overrides)
    bkg_only = bkg_only or output.parent / BKG_ONLY
    check_writable(output.parent, bkg_only.parent)
    provenance.check_upstream(settings_record(histograms), settings.stage_record("process"), histograms, "process",
                              required=False)
    started = provenance.now()
    dropped: dict[str, list[int]] = {}
    ws = build_workspace(histograms, settings.analysis, settings.fit, output.parent / "templates", dropped)
    # A pyhf workspace holds no other keys: its settings (for the fit's check), the edges of its
    # channels' bins (some may be dropped as empty) and provenance go beside it.
    record = provenance.settings_sidecar(output)
    wall_s = (provenance.now() - started).total_seconds()
    sidecar = {**settings.stage_record("workspace"), "binnings": figure_binnings(settings.analysis, settings.fit, dropped),
               "provenance": provenance.block(settings.digest, provenance.digest_files([histograms]), started, wall_s,
                                              {"histograms": str(histograms)})}
    with atomic_set(output.parent, bkg_only.parent) as staging:  # all or none
        for path in (output, bkg_only):
            save_workspace(ws, staging[path.parent] / path.name)
        write_json(staging[record.parent] / record.name, sidecar)
    click.echo(f"wrote {output} and {bkg_only}")


@click.command()
@CONFIG
@OVERRIDES
@click.option("--workspace", "workspace_path", type=click.Path(path_type=Path), default=Path("results/workspace/workspace.json"), show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("results/fit"), show_default=True)
@click.option("--figures-dir", type=click.Path(path_type=Path), default=Path("results/figures"), show_default=True)
def fit(config_path: Path, overrides: tuple[str, ...], workspace_path: Path, output_dir: Path, figures_dir: Path) -> None:
    """Maximum-likelihood fit, yields, impacts (fits in parallel on the cluster) and figures (backend: fit.backend)."""
    from agcflow.stats.fit import fit_workspace
    from agcflow.stats.workspace import figure_binnings, load_workspace
    from agcflow.util import provenance
    from agcflow.util.io import check_writable

    settings = load_settings(config_path, overrides)
    check_writable(output_dir, figures_dir)
    sidecar = provenance.settings_sidecar(workspace_path)
    recorded = read_json(sidecar) if sidecar.is_file() else None
    provenance.check_upstream(recorded, settings.stage_record("workspace"), workspace_path, "workspace", required=False)
    labels = {region.label: region.axis_label for region in settings.analysis.regions}
    # the workspace's own edges (without bins dropped as empty) where its sidecar records them
    binnings = {**figure_binnings(settings.analysis, settings.fit), **(recorded or {}).get("binnings", {})}
    started, inputs = provenance.now(), provenance.digest_files([workspace_path])

    def provenance_for(wall_s: float) -> dict:
        return provenance.block(settings.digest, inputs, started, wall_s,
                                {"fit": settings.fit.backend, "ranking": settings.fit.ranking_engine})

    outcome = fit_workspace(load_workspace(workspace_path), settings.fit, output_dir, figures_dir, axis_labels=labels,
                            binnings=binnings, cluster=settings.cluster, provenance_for=provenance_for)
    click.echo(f"fit written to {output_dir}: {outcome}")
    if not outcome.success:  # the record says why; a workflow must not go on with it
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--histograms", type=click.Path(path_type=Path), required=True, help="Candidate histograms (.root or reference .json).")
@click.option("--reference", type=click.Path(path_type=Path), required=True, help="Reference histograms (.root or AGC reference .json).")
@click.option("--max-bin-difference", type=float, default=2.0, show_default=True,
              help="Largest difference of one bin in a run of mismatching bins (the AGC's atol).")
@click.option("--mode", type=click.Choice(["strict", "agc"]), default="strict", show_default=True,
              help="strict: every histogram on both sides, all compared. agc: the AGC's validate_histograms.py "
                   "(reference histograms only, missing pseudodata tolerated, pt_res_up contents skipped).")
def validate(histograms: Path, reference: Path, max_bin_difference: float, mode: str) -> None:
    """Compare histograms bin by bin; exit 1 listing every mismatch."""
    from agcflow.processing.histograms import agc_tolerances, compare, load_any

    candidate, expected = load_any(histograms), load_any(reference)
    mismatches = compare(candidate, expected, max_bin_difference, mode)
    for mismatch in mismatches:
        click.echo(f"MISMATCH {mismatch.name}: {mismatch.reason}")
    if mode == "agc":
        for line in agc_tolerances(candidate, expected):
            click.echo(f"agc mode: {line}")
    if mismatches:
        raise click.exceptions.Exit(1)
    click.echo(f"{histograms} matches {reference} ({mode} mode)")


COMMANDS = (generate, deliver, process, cached_pass, workspace, fit, validate)
