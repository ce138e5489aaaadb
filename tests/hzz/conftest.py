"""Fixtures of the H->ZZ*->4l slice's tests: configs/hzz.yaml pointed at a small generated
dataset (every sample, a few thousand events), and its real local delivery."""

from __future__ import annotations

from pathlib import Path

import pytest

from agcflow import config
from conftest import HZZ_CONFIG, run_paths

# Every configured sample (the fileset must hold them all), small; data at its default size.
SMALL_EVENTS = {
    "data__nominal": 682,
    "ggH125_ZZ4lep__nominal": 3_000,
    "VBFH125_ZZ4lep__nominal": 600,
    "WH125_ZZ4lep__nominal": 600,
    "ZH125_ZZ4lep__nominal": 400,
    "llll__nominal": 3_000,
    "Zee__nominal": 1_500,
    "Zmumu__nominal": 1_500,
    "ttbar_lep__nominal": 1_500,
}


def hzz_overrides(base: Path) -> dict[str, object]:
    """Overrides that point configs/hzz.yaml at a small generated dataset under ``base``."""
    return {
        **run_paths(base),
        "inputs.generate.events": SMALL_EVENTS,
        "inputs.generate.files_per_sample": 2,
        "cluster.workers": 1,
        "fit.ranking": False,
    }


@pytest.fixture(scope="session")
def hzz_settings(tmp_path_factory) -> config.Settings:
    return config.load(HZZ_CONFIG, hzz_overrides(tmp_path_factory.mktemp("hzz")))


@pytest.fixture(scope="session")
def hzz_fileset(hzz_settings) -> Path:
    from agcflow import stages

    return stages.generate(hzz_settings, progress=False)


@pytest.fixture(scope="session")
def hzz_manifest(hzz_settings, hzz_fileset, dask_client):
    """The real local delivery of the small dataset (the shared two-worker cluster)."""
    from agcflow.delivery.backends import deliver
    from agcflow.inputs.fileset import load_samples

    samples = load_samples(hzz_fileset, hzz_settings.analysis)
    return deliver(samples, hzz_settings.delivery, hzz_settings.analysis, dask_client, progress=False)


@pytest.fixture(scope="session")
def hzz_histograms(hzz_settings, hzz_manifest, dask_client, tmp_path_factory):
    """The coffea processing of the delivered samples (its ``fill``), written as the hand-off
    ROOT file: (histograms, metrics, path)."""
    from agcflow.processing.histograms import save_root
    from agcflow.processing.run import run

    hists, metrics = run(hzz_manifest, hzz_settings.analysis, hzz_settings.processing, dask_client, progress=False)
    path = save_root(hists, tmp_path_factory.mktemp("hzz_histograms") / "histograms.root")
    return hists, metrics, path
