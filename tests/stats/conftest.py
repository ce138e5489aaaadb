"""Fixtures of the statistics tests: the AGC reference histograms (N=5, variances from the
AGC's event weights) as the hand-off ROOT file, the workspace cabinetry builds from them, and one numpy fit of it shared by the tests."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

import pyhf
import pytest

from agcflow.config import FitSettings, Settings
from agcflow.processing.histograms import from_reference, save_root
from agcflow.stats.fit import FitOutcome, fit_workspace
from agcflow.stats.workspace import build_workspace, cabinetry_config

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"  # data/reference/README.md
REFERENCE_N5 = REFERENCE / "agc-reference" / "histos_5_file_per_process.json"
PALLET = REFERENCE / "sbottom-ins1748602" / "pallet.tar.gz"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def numpy_settings(settings: Settings, **changes: object) -> FitSettings:
    """The configured fit settings on numpy/cpu, without ranking or hypothesis tests unless asked
    for (the tests add 15-30 s to a fit of the AGC workspace; test_hypotests covers them)."""
    return dataclasses.replace(
        settings.fit, **{"backend": "numpy", "device": "cpu", "ranking": False, "hypothesis_tests": False, **changes}
    )


def assert_png(path: Path, min_bytes: int = 10_000) -> None:
    assert path.is_file(), f"{path} missing"
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert len(content) > min_bytes, f"{path} has only {len(content)} bytes"


@pytest.fixture(scope="session")
def extracted_pallet(tmp_path_factory) -> Path:
    """The sbottom pallet unpacked: a folder holding RegionA, RegionB and RegionC."""
    target = tmp_path_factory.mktemp("pallet")
    with tarfile.open(PALLET) as archive:
        archive.extractall(target, filter="data")
    return target


@pytest.fixture(scope="session")
def reference_root(tmp_path_factory, settings) -> Path:
    """The AGC's N=5 reference histograms, with variances from the AGC's per-event weights,
    written as the hand-off ROOT file."""
    histograms = from_reference(REFERENCE_N5, settings.analysis, settings.inputs.agc_list)
    return save_root(histograms, tmp_path_factory.mktemp("reference") / "histograms.root")


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("templates")


@pytest.fixture(scope="session")
def agc_config(reference_root, settings, template_dir) -> dict:
    return cabinetry_config(reference_root, settings.analysis, settings.fit, template_dir / "histograms")


@pytest.fixture(scope="session")
def agc_workspace(reference_root, settings, template_dir) -> dict:
    return build_workspace(reference_root, settings.analysis, settings.fit, template_dir)


@pytest.fixture(scope="session")
def agc_fit_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agc_fit")


@pytest.fixture(scope="session")
def agc_fit(agc_workspace, settings, agc_fit_dir) -> FitOutcome:
    """The numpy fit of the N=5 workspace, ranking off. A ranking.json left by an earlier
    run is planted first: a run without ranking must remove it."""
    agc_fit_dir.joinpath("ranking.json").write_text('{"stale": true}')
    axis_labels = {region.label: region.axis_label for region in settings.analysis.regions}
    return fit_workspace(
        agc_workspace, numpy_settings(settings), agc_fit_dir, agc_fit_dir / "figures", axis_labels=axis_labels
    )


@pytest.fixture(scope="session")
def small_workspace(agc_workspace) -> dict:
    """The N=5 workspace with three systematics and no MC-statistics parameters: quick to rank."""
    kept = {"ME variation", "PS variation", "Luminosity"}
    modifiers = {m["name"] for ch in agc_workspace["channels"] for s in ch["samples"] for m in s["modifiers"]}
    dropped = sorted(modifiers - kept - {"ttbar_norm"})
    return dict(pyhf.Workspace(agc_workspace).prune(modifiers=dropped))
