"""``agcflow <stage>``: one command per stage, explicit inputs and outputs.

Every command takes ``--config`` and any number of ``--set key.path=value`` overrides, and
exits non-zero with a one-line cause on failure.
"""

from __future__ import annotations

import json
import logging
import platform
import os
import sys
from pathlib import Path
from typing import Any

import click

from agcflow import __version__
from agcflow import config as config_module
from agcflow import stage_settings
from agcflow.errors import AgcflowError, redact
from agcflow.io import read_json

log = logging.getLogger("agcflow")

CONFIG = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("configs/ttbar.yaml"),
    show_default=True, help="Analysis configuration (YAML).",
)
OVERRIDES = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config value, e.g. --set cluster.workers=1 (value parsed as YAML).",
)
PROGRESS = click.option("--progress/--no-progress", default=True, help="Show progress bars.")


def load_settings(config_path: Path, overrides: tuple[str, ...]) -> config_module.Settings:
    """Validate the configuration once, with ``--set`` overrides applied; check the digest the
    workflow expects (``agcflow --expect-settings STAGE=DIGEST``) when it gave one."""
    from agcflow.config_source import parse_override

    settings = config_module.load(config_path, dict(parse_override(item) for item in overrides))
    context = click.get_current_context(silent=True)
    expected = context.find_root().params.get("expect_settings") if context else None
    if expected:
        stage, _, digest = expected.partition("=")
        if stage not in stage_settings.STAGE_SETTINGS:
            raise config_module.ConfigError(f"--expect-settings {expected}: unknown stage {stage!r}; "
                                            f"valid: {', '.join(stage_settings.STAGE_SETTINGS)}")
        computed = settings.stage_record(stage)["digest"]  # an unknown stage fails there, naming the valid ones
        if digest != computed:
            raise config_module.ConfigError(
                f"--expect-settings {expected}: agcflow computes {computed} for the {stage} settings of "
                f"{config_path}; the workflow and the package disagree on them (rerun with matching versions)")
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="agcflow",
                      message="%(prog)s %(version)s (python " + platform.python_version() + ")")
@click.option("-v", "--verbose", count=True,
              help="-v: agcflow's progress (INFO); -vv: agcflow's debug; -vvv: every library's debug.")
@click.option("--expect-settings", metavar="STAGE=DIGEST", default=None,
              help="Fail unless the settings STAGE depends on have this digest (Snakemake passes the one it reran for).")
def cli(verbose: int, expect_settings: str | None) -> None:
    """agcflow: the AGC ttbar analysis from data delivery to a fitted result."""
    configure_logging(verbose)


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks credentials in URLs (``agcflow.errors.redact``)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(verbose: int) -> None:
    """Warnings only by default; ``-v`` and ``-vv`` raise agcflow's own logger to INFO and DEBUG
    while other libraries (matplotlib, distributed, ...) stay at WARNING; ``-vvv`` debugs all.
    Dask's ``distributed`` logs through handlers of its own, set from its configuration when it
    is imported (here and in worker processes): ``DASK_LOGGING__DISTRIBUTED`` sets that level."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "debug" if verbose >= 3 else "warning")
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose >= 3 else logging.WARNING, handlers=[handler], force=True)
    log.setLevel({0: logging.NOTSET, 1: logging.INFO}.get(verbose, logging.DEBUG))  # NOTSET: the root's WARNING
    if verbose < 3:
        logging.getLogger("cabinetry.histo").setLevel(logging.ERROR)  # one warning per empty template bin


@cli.command()
@CONFIG
@OVERRIDES
@PROGRESS
def generate(config_path: Path, overrides: tuple[str, ...], progress: bool) -> None:
    """Write the synthetic NanoAOD dataset (inputs.generate) and its fileset JSON."""
    from agcflow import pipeline

    fileset = pipeline.generate(load_settings(config_path, overrides), progress)
    click.echo(f"wrote {fileset}")


@cli.command()
@CONFIG
@OVERRIDES
@PROGRESS
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
def deliver(config_path: Path, overrides: tuple[str, ...], progress: bool, output: Path) -> None:
    """Run the delivery query on the inputs; write skims (cached) and their manifest."""
    from agcflow import pipeline

    manifest = pipeline.run_delivery(load_settings(config_path, overrides), output, progress=progress)
    click.echo(f"delivered {manifest['events_out']:,} of {manifest['events_in']:,} events -> {output}")


@cli.command()
@CONFIG
@OVERRIDES
@PROGRESS
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/histograms/histograms.root"), show_default=True)
@click.option("--metrics", type=click.Path(path_type=Path), default=Path("results/metrics/processing.json"), show_default=True)
def process(config_path: Path, overrides: tuple[str, ...], progress: bool, manifest: Path, output: Path, metrics: Path) -> None:
    """Fill the analysis histograms (all systematics) from the delivered skims with coffea."""
    from agcflow import pipeline

    result = pipeline.run_processing(load_settings(config_path, overrides), manifest, output, metrics, progress=progress)
    click.echo(
        f"processed {result['events']:,} events in {result['wall_s']:.1f} s "
        f"({result['first_pass_events_per_s_per_core']:,.0f} events/s per core) -> {output}"
    )


@cli.command("cached-pass")
@CONFIG
@OVERRIDES
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("results/delivery/manifest.json"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/optimize/histograms.root"), show_default=True)
@click.option("--metrics", type=click.Path(path_type=Path), default=Path("results/optimize/cached_pass.json"), show_default=True)
def cached_pass(config_path: Path, overrides: tuple[str, ...], manifest: Path, output: Path, metrics: Path) -> None:
    """Re-run the analysis on the cached delivered columns, e.g. with --set analysis.objects.jet.pt_min=35."""
    from agcflow import pipeline

    result = pipeline.run_cached_pass(load_settings(config_path, overrides), manifest, output, metrics)
    click.echo(f"cached pass over {result['events']:,} events in {result['wall_s']:.2f} s -> {output}")


BKG_ONLY = "bkg_only.json"


@cli.command()
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
    from agcflow import provenance
    from agcflow.histograms import settings_record
    from agcflow.io import atomic_set, check_writable, write_json
    from agcflow.stats.workspace import build_workspace, save_workspace

    settings = load_settings(config_path, overrides)
    bkg_only = bkg_only or output.parent / BKG_ONLY
    check_writable(output.parent, bkg_only.parent)
    provenance.check_upstream(settings_record(histograms), settings.stage_record("process"), histograms, "process",
                              required=False)
    started = provenance.now()
    ws = build_workspace(histograms, settings.analysis, settings.fit, output.parent / "templates")
    # A pyhf workspace holds no other keys: its settings (for the fit's check) and provenance go beside it.
    record = provenance.settings_sidecar(output)
    wall_s = (provenance.now() - started).total_seconds()
    sidecar = {**settings.stage_record("workspace"),
               "provenance": provenance.block(settings.digest, provenance.digest_files([histograms]), started, wall_s,
                                              {"histograms": str(histograms)})}
    with atomic_set(output.parent, bkg_only.parent) as staging:  # all or none
        for path in (output, bkg_only):
            save_workspace(ws, staging[path.parent] / path.name)
        write_json(staging[record.parent] / record.name, sidecar)
    click.echo(f"wrote {output} and {bkg_only}")


@cli.command()
@CONFIG
@OVERRIDES
@click.option("--workspace", "workspace_path", type=click.Path(path_type=Path), default=Path("results/workspace/workspace.json"), show_default=True)
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("results/fit"), show_default=True)
@click.option("--figures-dir", type=click.Path(path_type=Path), default=Path("results/figures"), show_default=True)
def fit(config_path: Path, overrides: tuple[str, ...], workspace_path: Path, output_dir: Path, figures_dir: Path) -> None:
    """Maximum-likelihood fit, yields, impacts (fits in parallel on the cluster) and figures (backend: fit.backend)."""
    from agcflow import provenance
    from agcflow.io import check_writable
    from agcflow.stats.fit import fit_workspace
    from agcflow.stats.workspace import load_workspace

    settings = load_settings(config_path, overrides)
    check_writable(output_dir, figures_dir)
    sidecar = provenance.settings_sidecar(workspace_path)
    recorded = read_json(sidecar) if sidecar.is_file() else None
    provenance.check_upstream(recorded, settings.stage_record("workspace"), workspace_path, "workspace", required=False)
    labels = {region.label: region.axis_label for region in settings.analysis.regions}
    started, inputs = provenance.now(), provenance.digest_files([workspace_path])

    def provenance_for(wall_s: float) -> dict:
        return provenance.block(settings.digest, inputs, started, wall_s,
                                {"fit": settings.fit.backend, "ranking": settings.fit.ranking_engine})

    outcome = fit_workspace(load_workspace(workspace_path), settings.fit, output_dir, figures_dir, axis_labels=labels,
                            cluster=settings.cluster, provenance_for=provenance_for)
    click.echo(f"fit written to {output_dir}: {outcome}")
    if not outcome.success:  # the record says why; a workflow must not go on with it
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--histograms", type=click.Path(path_type=Path), required=True, help="Candidate histograms (.root or reference .json).")
@click.option("--reference", type=click.Path(path_type=Path), required=True, help="Reference histograms (.root or AGC reference .json).")
@click.option("--max-bin-difference", type=float, default=2.0, show_default=True,
              help="Largest difference of one bin in a run of mismatching bins (the AGC's atol).")
@click.option("--mode", type=click.Choice(["strict", "agc"]), default="strict", show_default=True,
              help="strict: every histogram on both sides, all compared. agc: the AGC's validate_histograms.py "
                   "(reference histograms only, missing pseudodata tolerated, pt_res_up contents skipped).")
def validate(histograms: Path, reference: Path, max_bin_difference: float, mode: str) -> None:
    """Compare histograms bin by bin; exit 1 listing every mismatch."""
    from agcflow.histograms import agc_tolerances, compare, load_any

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


@cli.command()
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
    from agcflow import cluster
    from agcflow import reinterpret as recast
    from agcflow.io import check_writable

    settings = load_settings(config_path, overrides)
    signal = recast.signal_settings(settings, name)
    output_dir = output_dir or settings.results_dir / "reinterpret" / name
    check_writable(output_dir)
    recast.load_background(workspace_path)  # a wrong --workspace fails before any compute
    fileset = fileset or recast.generate_signal(settings, signal)
    with cluster.open_client(settings.cluster) as client:
        result = recast.run(settings, signal, fileset, workspace_path, output_dir, client)
    click.echo(f"{name}: CLs_obs = {result['CLs_obs']:.3g}, 95% CL upper limit on {result['poi']} = "
               f"{result['upper_limit_obs']:.3g} (expected {result['upper_limit_exp'][2]:.3g}) -> {output_dir}")


@cli.command("limit-plot")
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/reinterpret/limits.png"), show_default=True)
def limit_plot(results: tuple[Path, ...], output: Path) -> None:
    """Upper limit vs signal mass with expected bands, from reinterpret result.json files."""
    from agcflow.reinterpret import plot_limits, read_limit_result

    click.echo(f"wrote {plot_limits([read_limit_result(path) for path in results], output)}")


@cli.group()
def bench() -> None:
    """Benchmarks that write their figures to results/benchmark/."""


@bench.command("processing")
@CONFIG
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/benchmark/processing.json"), show_default=True)
def bench_processing(config_path: Path, overrides: tuple[str, ...], output: Path) -> None:
    """First pass (delivery + processing, all systematics) vs a read-only pass, side by side."""
    from agcflow.bench import processing_benchmark
    from agcflow.io import check_writable

    check_writable(output.parent)  # before minutes of compute
    result = processing_benchmark(load_settings(config_path, overrides), output)
    click.echo(
        f"first pass {result['first_pass']['events_per_s_per_core']:,.0f} events/s/core, read-only "
        f"{result['read_only']['events_per_s_per_core']:,.0f} events/s/core "
        f"(ratio {result['ratio_to_read_only']:.2f}) -> {output}"
    )


@bench.command("cached-pass")
@CONFIG
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/benchmark/cached_pass.json"), show_default=True)
def bench_cached_pass(config_path: Path, overrides: tuple[str, ...], output: Path) -> None:
    """First pass vs a cached pass over the delivered columns, side by side."""
    from agcflow.bench import cached_pass_benchmark
    from agcflow.io import check_writable

    check_writable(output.parent)
    result = cached_pass_benchmark(load_settings(config_path, overrides), output)
    click.echo(f"first pass {result['first_pass_s']:.2f} s, cached pass {result['cached_pass_s']:.3f} s "
               f"(ratio {result['ratio']:.1f}, identical histograms: {result['identical_histograms']}) -> {output}")


@bench.command("facility")
@CONFIG
@OVERRIDES
@PROGRESS
@click.option("--workers", metavar="N,N,...", help="Worker counts to sweep (default: benchmark.workers).")
@click.option("--chunk-sizes", metavar="N,N,...", help="coffea chunk sizes to sweep (default: benchmark.chunk_sizes).")
@click.option("--files-per-sample", metavar="N,N,...",
              help="First N input files per sample, -1 = all (default: benchmark.files_per_sample).")
@click.option("--repeats", type=int, help="Runs per combination (default: benchmark.repeats).")
@click.option("--facility", help="Facility name recorded with each run (default: benchmark.facility, else the host).")
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/benchmark/facility.json"), show_default=True,
              help="JSON of the runs; the CSV and the PNGs are written beside it.")
def bench_facility(config_path: Path, overrides: tuple[str, ...], progress: bool, output: Path, **sweep: Any) -> None:
    """Processing throughput and memory swept over workers x chunk size x files per sample,
    each point on a fresh cluster of cluster.kind."""
    from agcflow.bench_facility import facility_benchmark
    from agcflow.io import check_writable

    check_writable(output.parent)
    result = facility_benchmark(load_settings(config_path, overrides + _sweep_overrides(sweep)), output, progress)
    best = max(result["runs"], key=lambda run: run["events_per_s_per_core"])
    click.echo(f"{len(result['runs'])} runs; best processing {best['events_per_s_per_core']:,.0f} delivered events/s/core"
               f" ({best['workers']} workers, chunk {best['chunk_size']:,}) -> {output} (+ .csv, _workers.png, "
               "_chunk_size.png)")


def _sweep_overrides(sweep: dict[str, Any]) -> tuple[str, ...]:
    """The bench facility options as ``benchmark.*`` overrides, validated with the configuration:
    ``--workers 1,2,4`` becomes ``benchmark.workers=[1,2,4]``."""
    lists = ("workers", "chunk_sizes", "files_per_sample")
    return tuple(f"benchmark.{key}=" + (f"[{value.strip('[] ')}]" if key in lists else json.dumps(value))
                 for key, value in sweep.items() if value is not None)


def _register_stage_groups() -> None:
    """Commands that live in their own modules: pallet scans, contours, optimisation."""
    from agcflow.cli_optimize import optimize
    from agcflow.cli_scan import contour, scan, scan_bench

    cli.add_command(scan)
    cli.add_command(contour)
    cli.add_command(optimize)
    bench.add_command(scan_bench, name="scan")


_register_stage_groups()


def main() -> None:
    """Entry point: run the CLI; an agcflow error becomes a one-line message and exit 1, an
    interrupt (Ctrl-C, SIGINT) a one-line notice and exit 130."""
    try:
        code = cli.main(standalone_mode=False)  # returns the code of a click Exit
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        log.warning("interrupted; files already written stay complete (outputs are written atomically)")
        sys.exit(130)
    except AgcflowError as err:
        message = str(err).replace("\n", " | ")
        click.echo(f"agcflow: error: {message}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
