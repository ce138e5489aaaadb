"""``agcflow scan``, ``agcflow contour`` and ``agcflow bench scan``: the signal scan
of published likelihoods (HEPData pallets) and its exclusion contours."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from agcflow.cli.options import ADAPTIVE_OPTIONS, adaptive_settings
from agcflow.config import ClusterSettings
from agcflow.errors import AgcflowError

X_LABEL, Y_LABEL = r"$m(\tilde{b}_1)$ [GeV]", r"$m(\tilde{\chi}^0_2)$ [GeV]"  # the sbottom pallet's axes

CLUSTER_OPTIONS = [
    click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Local Dask workers (0: one per core)."),
    click.option("--address", default=None, metavar="TCP://HOST:PORT", help="Use a running Dask scheduler instead."),
]


def cluster_options(command):
    for option in reversed(CLUSTER_OPTIONS):
        command = option(command)
    return command


def cluster_settings(workers: int, address: str | None) -> ClusterSettings:
    """``--address`` selects an existing scheduler, otherwise a local cluster."""
    if address:
        return ClusterSettings(kind="address", address=address)
    return ClusterSettings(kind="local", workers=workers)


@click.command()
@click.argument("source")
@click.option("--patches", type=click.Path(exists=True, path_type=Path), help="PatchSet file or folder of patch.<name>.json (SOURCE is then a workspace).")
@click.option("--output", type=click.Path(path_type=Path), help="Result file for a single workspace (with --patches).")
@click.option("--output-dir", type=click.Path(path_type=Path), default=Path("results/scan"), show_default=True)
@cluster_options
@click.option("--backend", type=click.Choice(["jax", "numpy"]), default="jax", show_default=True, help="jax: the fast engine; numpy: pyhf per point.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Scan only the first N points of each region.")
@click.option("--upper-limits/--no-upper-limits", default=False, show_default=True, help="Also the 95% CL upper limits on the POI.")
@click.option("--combine", type=click.Choice(["best-expected"]), default=None, help="Write combined.json: per point the region of lowest expected CLs (no region may be called 'combined').")
@click.option("--adaptive", is_flag=True, help="Fit only the points a Gaussian-process surrogate picks near CLs = 0.05 "
              "and classify the rest (writes <name>.classification.json, <name>.adaptive.json, <name>.contour.png).")
@ADAPTIVE_OPTIONS
@click.option("--where", "where", multiple=True, metavar="INDEX=VALUE", help="--adaptive: the figure's slice, e.g. 2=60 (as agcflow contour).")
@click.option("--progress/--no-progress", default=True)
def scan(
    source: str,
    patches: Path | None,
    output: Path | None,
    output_dir: Path,
    workers: int,
    address: str | None,
    backend: str,
    limit: int | None,
    upper_limits: bool,
    combine: str | None,
    progress: bool,
    **adaptive_options,
) -> None:
    """CLs at mu = 1 of every signal patch (with --adaptive: of the patches that resolve the
    CLs = 0.05 boundary).

    SOURCE: a pallet .tar.gz, a region folder (BkgOnly.json with patch.<name>.json files or a
    pyhf PatchSet, as `pyhf contrib download` leaves it), a folder of region folders (e.g. the
    results/reinterpret folder), an HTTP(S) URL or DOI of a pallet on HEPData, or (with
    --patches) a background-only workspace.
    """
    from agcflow.scan import pallet
    from agcflow.scan.run import check_region_names, run_scan
    from agcflow.util import provenance
    from agcflow.util.io import check_writable, write_json

    if patches is not None and output is None:
        raise click.UsageError("--patches needs --output FILE")
    adaptive = scan_adaptive_settings(**adaptive_options)
    if adaptive and upper_limits:
        raise AgcflowError("--adaptive cannot compute --upper-limits (it fits CLs at mu = 1 only); drop one of them")
    check_writable(output.parent if output else output_dir)
    started = provenance.now()
    with tempfile.TemporaryDirectory(prefix="agcflow-pallet-") as tmp:
        if patches is not None:
            regions = [pallet.load_workspace(Path(source), patches)]
        elif source.startswith(("http://", "https://", "doi:", "10.")):
            with pallet.named_as(Path(tmp) / "pallet.tar.gz", source):
                regions = pallet.load_pallet(pallet.fetch_pallet(source, Path(tmp) / "pallet.tar.gz"))
        else:
            regions = pallet.load_pallet(Path(source))
    check_region_names(regions, combine)
    regions = [r.limited(limit) for r in regions]
    settings = cluster_settings(workers, address)
    if adaptive:
        run_adaptive(regions, settings, backend, adaptive, output or output_dir, combine, source, patches, started, limit)
        return
    summary = run_scan(
        regions,
        settings,
        backend,
        output_dir=None if output else output_dir,
        upper_limits=upper_limits,
        combine=combine,
        progress=progress,
    )
    files = list(summary.files)
    if output:
        files.append(write_json(output, summary.results[regions[0].name]))
    files.append(write_scan_provenance(output.with_suffix(".provenance.json") if output else output_dir / "provenance.json",
                                       source, patches, summary, started, backend=backend, limit=limit,
                                       upper_limits=upper_limits, combine=combine))
    click.echo(f"scanned {summary}")
    for region, failures in summary.failed.items():
        for point, reason in failures.items():
            click.echo(f"  failed {region}/{point}: {reason}")
    click.echo("wrote " + ", ".join(str(f) for f in files))


def scan_adaptive_settings(adaptive: bool, where: tuple[str, ...], **loop):
    """The adaptive loop's settings and the figure's slice (None without --adaptive), checked
    before any compute."""
    from agcflow.scan.contour import parse_where

    if not adaptive:
        return None
    return adaptive_settings(**loop), parse_where(where)


def run_adaptive(regions, cluster, backend: str, adaptive, output: Path, combine: str | None, source: str,
                 patches: Path | None, started, limit: int | None) -> None:
    """``scan --adaptive``: the loop(s), their files and the provenance."""
    import dataclasses

    from agcflow.scan.adaptive_run import run_adaptive_scan
    from agcflow.scan.contour import ContourSettings

    settings, where = adaptive
    folder = output if output.suffix != ".json" else output.parent
    summary = run_adaptive_scan(regions, cluster, backend, settings=settings, output_dir=folder, combine=combine,
                                contour=ContourSettings(where=where, x_label=X_LABEL, y_label=Y_LABEL))
    options = {"backend": backend, "limit": limit, "combine": combine, "adaptive": dataclasses.asdict(settings), "where": list(where)}
    provenance_file = write_scan_provenance(folder / "provenance.json", source, patches, summary.scan, started, **options)
    click.echo(f"scanned {summary}")
    for outcome in summary.outcomes.values():
        reach = ", ".join(f"{k} {v:.0f}" for k, v in summary.max_x[outcome.name].items() if v is not None)
        click.echo(f"  {outcome.name}: largest x excluded: {reach or 'none'}")
    click.echo("wrote " + ", ".join(str(f) for f in (*summary.scan.files, provenance_file)))


def write_scan_provenance(path: Path, source: str, patches: Path | None, summary, started, **options) -> Path:
    """The scan's provenance beside its results (their JSON maps point names to records): the
    package and its versions, the options' digest, the inputs' digest, the files written."""
    from agcflow.util import provenance
    from agcflow.util.io import write_json

    inputs = [p for p in (Path(source), patches) if p is not None and p.exists()]
    block = provenance.block(provenance.digest_options(options), provenance.digest_files(inputs), started,
                             summary.wall_time_s, {"engine": options["backend"]})
    return write_json(path, {"source": source, "patches": str(patches) if patches else None, "options": options,
                             "files": [str(f) for f in summary.files], "points": summary.points,
                             "provenance": block})


@click.command()
@click.argument("results", type=click.Path(exists=True, path_type=Path))
@click.option("--x-index", type=int, default=0, show_default=True, help="Index in values of the x axis.")
@click.option("--y-index", type=int, default=1, show_default=True, help="Index in values of the y axis.")
@click.option("--where", "where", multiple=True, metavar="INDEX=VALUE", help="Keep points with values[INDEX] == VALUE, e.g. 2=60.")
@click.option("--x-label", default=X_LABEL, show_default=True)
@click.option("--y-label", default=Y_LABEL, show_default=True)
@click.option("--title", default=None)
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/scan/contour.png"), show_default=True, help="PNG; the JSON goes next to it.")
def contour(
    results: Path, x_index: int, y_index: int, where: tuple[str, ...], x_label: str, y_label: str, title: str | None, output: Path
) -> None:
    """Observed and expected CLs = 0.05 contours (+/-1, 2 sigma) from a scan result JSON."""
    from agcflow.scan.contour import ContourSettings, contour_from_results, parse_where
    from agcflow.util.io import read_json_object

    settings = ContourSettings(x_index, y_index, parse_where(where), x_label, y_label, title)
    records = read_json_object(results, "a scan result JSON (point name -> record)")
    outcome = contour_from_results(records, settings, output, output.with_suffix(".json"), source=str(results))
    reach = ", ".join(f"{k} {v:.0f}" for k, v in outcome["max_x"].items() if v is not None)
    click.echo(f"{outcome['n_points']} points; largest x excluded: {reach or 'none'}")
    click.echo(f"wrote {output}, {output.with_suffix('.json')}")


@click.command("scan-bench")
@click.argument("pallet_path", metavar="PALLET", type=click.Path(exists=True, path_type=Path))
@click.option("--points", "n_points", type=int, default=24, show_default=True, help="Points in the compared subset.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/benchmark/scan.json"), show_default=True)
@cluster_options
@click.option("--adaptive", is_flag=True, help="Instead: the full scan and the adaptive scan of every point (--combine best-expected), side by side.")
@ADAPTIVE_OPTIONS
@click.option("--where", "where", multiple=True, default=("2=60",), show_default=True, metavar="INDEX=VALUE",
              help="--adaptive: the slice whose contours' largest excluded x is compared.")
def scan_bench(pallet_path: Path, n_points: int, output: Path, workers: int, address: str | None, **adaptive_options) -> None:
    """Points/s of the scan against the naive pyhf loop on the same subset (with --adaptive:
    the adaptive scan against the full scan)."""
    from agcflow.bench.scan import scan_benchmark
    from agcflow.util.io import check_writable

    if n_points < 1:
        raise AgcflowError("--points must be at least 1")
    adaptive = scan_adaptive_settings(**adaptive_options)
    if adaptive and click.get_current_context().get_parameter_source("output") == click.core.ParameterSource.DEFAULT:
        output = output.with_name("scan_adaptive.json")
    check_writable(output.parent)  # before the timed runs
    if adaptive:
        adaptive_bench(pallet_path, output, cluster_settings(workers, address), adaptive)
        return
    report = scan_benchmark(pallet_path, output, n_points, cluster_settings(workers, address))
    click.echo(
        f"scan {report['scan_points_per_s']:.2f} points/s, naive {report['naive_points_per_s']:.2f} points/s "
        f"(x{report['speedup']:.1f}); max |dCLs| {report['max_abs_delta_cls']:.2e} -> {output}"
    )
    for point in report["rechecked_converged"]:
        converged = point["delta_vs_pyhf_converged"]
        click.echo(f"  {point['region']}/{point['point']} (CLs_obs {point['CLs_obs']:.4f}): |dCLs| "
                   f"{point['delta_vs_pyhf_default']:.1e} vs pyhf default, "
                   + (f"{converged:.1e} vs pyhf with {point['converged_optimizer']}" if converged is not None
                      else f"converged pyhf failed ({point['converged_error']})"))
    if report["rechecked_converged"]:
        worst = report["max_abs_delta_cls_after_recheck"]
        click.echo("max |dCLs| with those points against converged pyhf: "
                   + (f"{worst:.1e}" if worst is not None else "unknown (a converged pyhf fit failed)"))


def adaptive_bench(pallet_path: Path, output: Path, cluster: ClusterSettings, adaptive) -> None:
    """``bench scan --adaptive``: run both scans, write the report and echo it side by side."""
    from agcflow.bench.adaptive import adaptive_benchmark
    from agcflow.scan.contour import ContourSettings

    settings, where = adaptive
    report = adaptive_benchmark(pallet_path, output, cluster, settings, ContourSettings(where=where))
    full, mine = report["full"], report["adaptive"]
    agree = report["agreement"]
    click.echo(f"full: {full['points']} points, {full['wall_s']:.1f} s, largest x excluded obs {full['max_x']['observed']}, "
               f"exp {full['max_x']['expected']}")
    click.echo(f"adaptive: {mine['evaluated']} points ({100 * mine['fraction_evaluated']:.1f} %), {mine['wall_s']:.1f} s, "
               f"largest x excluded obs {mine['max_x']['observed']}, exp {mine['max_x']['expected']}; stop: {mine['stop']}")
    click.echo(f"agreement: observed {100 * agree['observed']['fraction']:.1f} %, expected "
               f"{100 * agree['expected']['fraction']:.1f} % -> {output}")
