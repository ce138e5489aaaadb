"""The benchmark commands on the tiny dataset: their files and internal cross-checks (the
figures themselves are measurements, not asserted here)."""

from __future__ import annotations

import json

import pytest

from agcflow.bench import processing as bench

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
