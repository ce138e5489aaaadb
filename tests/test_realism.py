"""The embedded synthetic default against the AGC's reference yields on real CMS data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.processing.histograms import from_reference
from conftest import CONFIG, REFERENCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKED = ("ttbar", "wjets", "single_top_tW", "single_top_t_chan")


@pytest.fixture(scope="module")
def default_histograms(tmp_path_factory, dask_client):
    """The default dataset (full size), delivered and processed."""
    base = tmp_path_factory.mktemp("default")
    settings = config.load(CONFIG, {
        "inputs.generate.directory": str(base / "generated"),
        "delivery.cache_dir": str(base / "cache"),
        "cluster.workers": 2,
    })
    pipeline.generate(settings, progress=False)
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    pipeline.run_processing(settings, base / "manifest.json", base / "histograms.root", base / "metrics.json",
                            client=dask_client, progress=False)
    from agcflow.processing.histograms import load_root

    return settings, load_root(base / "histograms.root"), json.loads((base / "metrics.json").read_text())


def _efficiency(total: float, settings, process: str) -> float:
    return total / (settings.analysis.sample(process).xsec_pb * settings.analysis.lumi_pb)


@pytest.mark.parametrize("region", ["4j1b", "4j2b"])
@pytest.mark.parametrize("process", CHECKED)
def test_selection_efficiency_within_30_percent_of_the_agc(default_histograms, process, region):
    settings, hists, _ = default_histograms
    reference = from_reference(REFERENCE / "agc-reference/histos_all_file_per_process.json")
    name = f"{region}_{process}"
    ours = _efficiency(hists[name].values(flow=True).sum(), settings, process)
    theirs = _efficiency(reference[name].values(flow=True).sum(), settings, process)
    assert ours == pytest.approx(theirs, rel=0.30), f"{name}: {ours:.3e} vs AGC {theirs:.3e}"


@pytest.mark.parametrize("name", ["4j1b_ttbar", "4j2b_ttbar", "4j1b_wjets"])
def test_shapes_peak_near_the_agc_peak(default_histograms, name):
    _, hists, _ = default_histograms
    reference = from_reference(REFERENCE / "agc-reference/histos_all_file_per_process.json")
    ours, theirs = hists[name].values(), reference[name].values()
    assert abs(int(np.argmax(ours)) - int(np.argmax(theirs))) <= 2
    # the normalised shapes overlap substantially (1 - half the L1 distance)
    overlap = np.minimum(ours / ours.sum(), theirs / theirs.sum()).sum()
    assert overlap > 0.8, f"{name}: shape overlap {overlap:.2f}"


def test_default_dataset_size_and_metrics(default_histograms):
    _, _, metrics = default_histograms
    assert metrics["events"] >= 2_000_000
    assert metrics["chunks"] > 0 and metrics["bytes_read"] > 0
