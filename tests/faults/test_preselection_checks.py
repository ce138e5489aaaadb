"""A delivery preselection tighter than the analysis cuts (jets delivered above 100 GeV, an
analysis that selects jets above 30) would give histograms that silently lack events. Every
stage that reads a manifest or delivers for itself refuses it before any compute, naming the cut,
both values and what to do: one check (``agcflow.delivery.manifest``) for all."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from agcflow import reinterpret
from agcflow import stages as pipeline
from agcflow.analyses.base import CutParameter
from agcflow.bench import processing as bench
from agcflow.errors import ConfigError
from agcflow.optimize.options import GradientOptions
from agcflow.optimize.run import optimize

from .conftest import fault_settings, shared_cache, write_fault_config

pytestmark = pytest.mark.faults

TIGHT = {"delivery.preselection.jet_pt_min": 100.0}
NAMED = r"analysis\.objects\.jet\.pt_min is looser than the delivery preselection: 30 .*< delivery\.preselection\.jet_pt_min = 100"


@pytest.fixture(scope="module")
def tight_manifest(fault_base, fault_fileset, dask_client, tmp_path_factory):
    """The small dataset delivered with jets above 100 GeV (the shared cache: other keys)."""
    manifest = tmp_path_factory.mktemp("tight") / "manifest.json"
    settings = fault_settings(fault_base, fault_fileset, {**TIGHT, **shared_cache(fault_base)})
    pipeline.run_delivery(settings, manifest, client=dask_client, progress=False)
    return manifest


def test_the_manifest_records_its_preselection(tight_manifest):
    assert json.loads(tight_manifest.read_text())["preselection"]["jet_pt_min"] == 100.0


@pytest.mark.parametrize("stage", ["process", "cached-pass"])
def test_process_and_cached_pass_refuse_a_tighter_preselection(stage, tight_manifest, fault_base, fault_fileset, tmp_path):
    config = write_fault_config(tmp_path, fault_fileset, shared_cache(fault_base))
    result = subprocess.run(
        [sys.executable, "-m", "agcflow", stage, "--config", str(config), "--set", "delivery.preselection.jet_pt_min=100",
         "--manifest", str(tight_manifest), "--output", str(tmp_path / "h.root"), "--metrics", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
    assert str(tight_manifest) in result.stderr and "deliver again" in result.stderr
    assert re.search(NAMED, result.stderr), result.stderr
    assert not (tmp_path / "h.root").exists()


def test_optimize_refuses_a_tighter_preselection(tight_manifest, fault_base, fault_fileset, tmp_path):
    settings = fault_settings(fault_base, fault_fileset, {**TIGHT, **shared_cache(fault_base)})
    parameters = (CutParameter("jet_pt_min", 30.0, 120.0, 4), CutParameter("btag_min", 0.5, 0.7, 2))
    for strategy in ("grid", "gradient"):
        with pytest.raises(ConfigError, match=NAMED):
            optimize(strategy, settings, tight_manifest, tmp_path, parameters, GradientOptions())
    assert not list(tmp_path.iterdir())


def test_stages_that_deliver_for_themselves_refuse_before_delivering(fault_base, fault_fileset, dask_client, tmp_path):
    settings = fault_settings(tmp_path, fault_fileset, TIGHT)  # their own, empty cache
    signal = settings.reinterpret.signals[0]
    with pytest.raises(ConfigError, match=NAMED):
        reinterpret.signal_histograms(settings, signal, fault_fileset, dask_client)
    for benchmark in (bench.processing_benchmark, bench.cached_pass_benchmark):
        with pytest.raises(ConfigError, match=NAMED):
            benchmark(settings, tmp_path / "bench.json")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "bench.json").exists()
