"""``agcflow bench facility`` on the tiny dataset: a 2 x 1 x 1 sweep through the CLI, its files,
fields and internal consistency (the figures themselves are measurements, not asserted here)."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from agcflow.cli.main import cli
from agcflow.errors import ConfigError
from conftest import write_tiny_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIELDS = {
    "wall_s", "entries", "bytes_read", "process_time_s", "chunks", "workers", "cores", "chunk_size", "events_per_s",
    "events_per_s_per_core", "mb_per_s", "peak_memory_per_worker_mb", "facility", "data_source", "delivery_backend",
    "package_version", "files_per_sample", "load_1m_before", "load_1m_after", "delivery_wall_s", "input_events",
    "first_pass_wall_s", "first_pass_events_per_s_per_core",
}


@pytest.fixture(scope="module")
def sweep(tiny_settings, tiny_fileset, tmp_path_factory):
    """Workers 1 and 2, one chunk size, the first file of each sample: the JSON document, the
    output directory and the fileset."""
    config = write_tiny_config(tiny_settings.inputs.generate.directory.parent)
    output = tmp_path_factory.mktemp("facility") / "facility.json"
    args = ["bench", "facility", "--config", str(config), "--workers", "1,2", "--chunk-sizes", "20000",
            "--files-per-sample", "1", "--facility", "test-site", "--output", str(output), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return json.loads(output.read_text()), output.parent, json.loads(tiny_fileset.read_text())


@pytest.mark.integration
@pytest.mark.slow
def test_every_run_is_recorded_with_its_fields(sweep, tiny_settings):
    document, _, fileset = sweep
    runs = document["runs"]
    assert [(r["workers"], r["cores"], r["chunk_size"], r["files_per_sample"]) for r in runs] == [
        (1, 1, 20_000, 1), (2, 2, 20_000, 1)]
    for run in runs:
        assert FIELDS <= set(run), FIELDS - set(run)
        assert (run["facility"], run["data_source"], run["delivery_backend"]) == ("test-site", "generate", "local")
        assert run["input_files"] == len(tiny_settings.analysis.samples) + 4  # ttbar has 5 variations
        assert run["input_events"] == sum(v["files"][0]["nevts"] for p in fileset.values() for v in p.values())
        assert run["delivery_files_cached"] == 0  # cold: a real first pass
        assert run["entries"] == run["events_delivered"] > 0
        assert run["chunks"] >= 1 and run["bytes_read"] > 0 and run["process_time_s"] > 0
        assert 0 < run["baseline_memory_per_worker_mb"] <= run["peak_memory_per_worker_mb"] < 8000
        assert run["load_1m_before"] >= 0 and run["load_1m_after"] >= 0
    assert document["provenance"]["version"] == runs[0]["package_version"]
    assert set(document["load_before_sweep"]) == {"1m", "5m", "15m"}


@pytest.mark.integration
@pytest.mark.slow
def test_rates_are_derived_from_the_counts(sweep):
    document, _, _ = sweep
    for run in document["runs"]:
        assert run["events_per_s"] == pytest.approx(run["entries"] / run["wall_s"])
        assert run["events_per_s_per_core"] == pytest.approx(run["events_per_s"] / run["cores"])
        assert run["mb_per_s"] == pytest.approx(run["bytes_read"] / 1e6 / run["wall_s"])
        assert run["first_pass_wall_s"] == pytest.approx(run["delivery_wall_s"] + run["wall_s"])
        assert run["first_pass_events_per_s_per_core"] == pytest.approx(
            run["input_events"] / run["first_pass_wall_s"] / run["cores"])
    one, two = document["runs"]
    speedup = {s["workers"]: s for s in document["speedup"]}
    assert speedup[1]["processing"] == 1.0
    assert speedup[2]["processing"] == pytest.approx(two["events_per_s"] / one["events_per_s"])


@pytest.mark.integration
@pytest.mark.slow
def test_csv_holds_the_json_runs(sweep):
    document, directory, _ = sweep
    with (directory / "facility.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(document["runs"])
    for row, run in zip(rows, document["runs"]):
        assert list(row) == list(run)
        assert float(row["events_per_s"]) == pytest.approx(run["events_per_s"])
        assert int(row["workers"]) == run["workers"]


@pytest.mark.integration
@pytest.mark.slow
def test_plots_are_pngs(sweep):
    _, directory, _ = sweep
    for name in ("facility_workers.png", "facility_chunk_size.png"):
        assert (directory / name).read_bytes().startswith(PNG_SIGNATURE), name


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--workers", "0", "benchmark.workers.0 = 0"),
    ("--chunk-sizes", "big", "benchmark.chunk_sizes.0 = \"big\""),
    ("--files-per-sample", "0", "benchmark.files_per_sample.0 = 0"),
])
def test_a_bad_sweep_is_refused_before_any_compute(option, value, expected):
    result = CliRunner().invoke(cli, ["bench", "facility", option, value, "--output", "/nonexistent/f.json"])
    assert isinstance(result.exception, ConfigError) and expected in str(result.exception)
