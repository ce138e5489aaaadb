"""The benchmark commands on the tiny dataset: their files and internal cross-checks (the
figures themselves are measurements, not asserted here)."""

from __future__ import annotations

import json

import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.bench import processing as bench
from agcflow.compute.cluster import open_client
from agcflow.inputs import fileset as inputs
from agcflow.processing import run as processing
from agcflow.processing.histograms import compare
from conftest import HZZ_CONFIG, tiny_hzz_overrides

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_processing_benchmark_measures_three_passes_side_by_side(tiny_settings, tiny_fileset, tmp_path):
    result = bench.processing_benchmark(tiny_settings, tmp_path / "processing.json")
    events = sum(v["nevts_total"] for p in json.loads(tiny_fileset.read_text()).values() for v in p.values())
    for name in ("read_only", "first_pass", "coffea_on_inputs"):
        assert result[name]["events"] == events and result[name]["events_per_s_per_core"] > 0
    first = result["first_pass"]
    assert first["wall_s"] == pytest.approx(first["delivery_wall_s"] + first["processing_wall_s"], rel=1e-6)
    assert 0 < first["events_delivered"] < events
    assert json.loads((tmp_path / "processing.json").read_text())["cores"] == 2
    assert (tmp_path / "processing.png").read_bytes().startswith(PNG_SIGNATURE)


def test_cached_pass_benchmark_reproduces_the_first_pass(tiny_settings, tiny_fileset, tmp_path):
    result = bench.cached_pass_benchmark(tiny_settings, tmp_path / "cached_pass.json")
    assert result["identical_histograms"] is True
    assert result["ratio"] == pytest.approx(result["first_pass_s"] / result["cached_pass_s"])
    assert set(json.loads((tmp_path / "cached_pass.json").read_text())) >= {"first_pass_s", "cached_pass_s", "ratio"}
    assert (tmp_path / "cached_pass.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.fixture(scope="module")
def hzz_settings(tmp_path_factory) -> config.Settings:
    """The H->ZZ*->4l slice (flat ntuples, a query with derived columns) on a tiny generated dataset."""
    base = tmp_path_factory.mktemp("hzz")
    settings = config.load(HZZ_CONFIG, {**tiny_hzz_overrides(base), "cluster.workers": 2})
    pipeline.generate(settings, progress=False)
    return settings


def test_hzz_benchmarks_run_on_flat_ntuples(hzz_settings, tmp_path):
    result = bench.processing_benchmark(hzz_settings, tmp_path / "processing.json")
    events = result["read_only"]["events"]
    assert events > 0 and result["first_pass"]["events"] == result["coffea_on_inputs"]["events"] == events
    assert bench.cached_pass_benchmark(hzz_settings, tmp_path / "cached_pass.json")["identical_histograms"] is True


def test_coffea_on_the_input_ntuples_fills_the_first_pass_histograms(hzz_settings, tmp_path):
    """The benchmark's AGC-style pass (coffea on the input files, the delivery query run per chunk
    in the processor) fills exactly the histograms of delivery + processing."""
    settings = hzz_settings
    samples = inputs.load_samples(inputs.fileset_path(settings.inputs), settings.analysis, settings.inputs.files_per_sample)
    plugin = settings.analysis.plugin
    fileset = {s.key: {"treename": settings.analysis.tree, "files": [f.path for f in s.files],
                       "metadata": processing.input_metadata(s, settings.analysis)}
               for s in samples}
    with open_client(settings.cluster, preload=processing.WORKER_MODULES) as client:
        _, first, _ = bench._cold_first_pass(settings, samples, client, tmp_path / "cache")
        direct, _ = processing.run_fileset(fileset, settings.analysis, settings.processing, client, progress=False,
                                           query=plugin.delivery_query(settings.analysis, settings.delivery.preselection))
    assert compare(direct, first) == []
