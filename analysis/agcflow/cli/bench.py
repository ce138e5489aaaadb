"""``agcflow bench``: processing, cached-pass, facility and scan benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from agcflow.cli.options import CONFIG, OVERRIDES, PROGRESS, load_settings
from agcflow.cli.scan import scan_bench


@click.group()
def bench() -> None:
    """Benchmarks that write their figures to results/benchmark/."""


@bench.command("processing")
@CONFIG
@OVERRIDES
@click.option("--output", type=click.Path(path_type=Path), default=Path("results/benchmark/processing.json"), show_default=True)
def bench_processing(config_path: Path, overrides: tuple[str, ...], output: Path) -> None:
    """First pass (delivery + processing, all systematics) vs a read-only pass, side by side."""
    from agcflow.bench.processing import processing_benchmark
    from agcflow.util.io import check_writable

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
    from agcflow.bench.processing import cached_pass_benchmark
    from agcflow.util.io import check_writable

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
    from agcflow.bench.facility import facility_benchmark
    from agcflow.util.io import check_writable

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


bench.add_command(scan_bench, name="scan")
