"""`agcflow validate` in its two modes, checked against the AGC's own validate_histograms.py on
the same ROOT files, and the reference histograms' variances from the AGC's event weights."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agcflow.errors import InputFileError
from agcflow.processing.histograms import from_reference, reference_event_weights, save_root
from conftest import REFERENCE, ROOT

AGC_REFERENCE = REFERENCE / "agc-reference"
REFERENCE_N5 = AGC_REFERENCE / "histos_5_file_per_process.json"
AGC_VALIDATOR = AGC_REFERENCE / "validate_histograms.py"  # the AGC's own script, unchanged
TOLERATED_BY_AGC = {"4j1b_pseudodata": "missing from candidate", "4j1b_extra": "not in reference",
                    "4j2b_ttbar_pt_res_up": "differ"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def validate(candidate: Path, mode: str) -> subprocess.CompletedProcess:
    return run("-m", "agcflow", "validate", "--histograms", str(candidate), "--reference", str(REFERENCE_N5),
               "--mode", mode)


def mismatched(result: subprocess.CompletedProcess) -> dict[str, str]:
    lines = [line.removeprefix("MISMATCH ") for line in result.stdout.splitlines() if line.startswith("MISMATCH ")]
    return dict(line.split(": ", 1) for line in lines)


def agc_validator_failures(candidate: Path) -> tuple[int, set[str]]:
    """Exit status and failing histogram names of the AGC's validate_histograms.py."""
    result = run(str(AGC_VALIDATOR), "--histos", str(candidate), "--reference", str(REFERENCE_N5))
    names = {line for line in result.stdout.splitlines() if line and not line.startswith(("\t", "Validating", "All good"))}
    return result.returncode, names


def shift(histogram, index: int, amount: float) -> None:
    values = histogram.values(flow=True).copy()
    values[index] += amount
    histogram.view(flow=True).value = values


def tolerable_changes() -> dict:
    """The N=5 reference with what the AGC's validator lets pass: pseudodata missing, an extra
    histogram, other pt_res_up contents, and 1.5 (below atol 2) migrating between two bins."""
    histograms = from_reference(REFERENCE_N5)
    del histograms["4j1b_pseudodata"]
    histograms["4j1b_extra"] = histograms["4j1b_wjets"].copy()
    histograms["4j2b_ttbar_pt_res_up"] = histograms["4j2b_ttbar_pt_res_up"] * 1.1
    shift(histograms["4j1b_single_top_tW"], 8, -1.5)
    shift(histograms["4j1b_single_top_tW"], 9, 1.5)
    return histograms


@pytest.fixture(scope="module")
def tolerable(tmp_path_factory) -> Path:
    return save_root(tolerable_changes(), tmp_path_factory.mktemp("validate") / "tolerable.root")


@pytest.fixture(scope="module")
def wrong(tmp_path_factory) -> Path:
    """The tolerable changes plus one bin of 4j2b_wjets off by 5 (above atol 2)."""
    histograms = tolerable_changes()
    shift(histograms["4j2b_wjets"], 10, 5.0)
    return save_root(histograms, tmp_path_factory.mktemp("validate") / "wrong.root")


def test_agc_mode_passes_what_the_agc_validator_passes(tolerable):
    assert agc_validator_failures(tolerable) == (0, set())
    result = validate(tolerable, "agc")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches" in result.stdout and "(agc mode)" in result.stdout
    unchecked = next(line for line in result.stdout.splitlines() if line.startswith("agc mode: contents not compared"))
    assert "(pt_res_up, random in the AGC)" in unchecked and unchecked.count("_pt_res_up") == 10
    assert "4j2b_ttbar_pt_res_up" in unchecked
    assert "agc mode: missing pseudodata tolerated: 4j1b_pseudodata" in result.stdout
    assert "agc mode: not in reference, ignored: 4j1b_extra" in result.stdout


def test_strict_mode_names_each_tolerated_difference(tolerable):
    result = validate(tolerable, "strict")
    assert result.returncode == 1
    found = mismatched(result)
    assert set(found) == set(TOLERATED_BY_AGC)  # the 1.5 migration passes in both modes
    for name, reason in TOLERATED_BY_AGC.items():
        assert reason in found[name]


def test_both_modes_and_the_agc_validator_fail_a_bin_off_by_five(wrong):
    returncode, names = agc_validator_failures(wrong)
    assert (returncode, names) == (1, {"4j2b_wjets"})
    agc = validate(wrong, "agc")
    assert agc.returncode == 1 and set(mismatched(agc)) == names
    assert "bins 10..10" in mismatched(agc)["4j2b_wjets"]
    strict = validate(wrong, "strict")
    assert strict.returncode == 1 and set(mismatched(strict)) == {*TOLERATED_BY_AGC, "4j2b_wjets"}


def test_strict_is_the_default_mode(tolerable):
    default = run("-m", "agcflow", "validate", "--histograms", str(tolerable), "--reference", str(REFERENCE_N5))
    assert default.returncode == 1 and mismatched(default) == mismatched(validate(tolerable, "strict"))


def test_unknown_mode_is_a_usage_error(tolerable):
    result = validate(tolerable, "lenient")
    assert result.returncode == 2 and "'lenient' is not one of 'strict', 'agc'" in result.stderr


@pytest.mark.parametrize("n_files", ["1", "5", "all"])
def test_reference_variances_count_whole_events(settings, n_files):
    """variance = content x weight, so content^2 / variance is the number of events: whole for
    every histogram whose events all carry the sample's weight (the AGC normalises by the
    events of the first N files of its list)."""
    path = AGC_REFERENCE / f"histos_{n_files}_file_per_process.json"
    histograms = from_reference(path, settings.analysis, settings.inputs.agc_list)
    unweighted = [name for name in histograms if "btag_var" not in name and "scale_var" not in name
                  and not name.endswith("pseudodata")]
    assert len(unweighted) == 38  # 2 regions x (5 samples x {nominal, pt_scale_up, pt_res_up} + 4 ttbar samples)
    for name in unweighted:
        view = histograms[name].view(flow=True)
        filled = view.value != 0
        events = view.value[filled] ** 2 / view.variance[filled]
        np.testing.assert_allclose(events, np.round(events), atol=1e-3, err_msg=name)
        assert events.min() >= 1, name


def test_reference_weights_are_xsec_lumi_over_the_events_of_the_first_n_files(settings):
    weights = reference_event_weights(settings.analysis, settings.inputs.agc_list, 5)
    ttbar = settings.analysis.sample("ttbar")
    first_five = [1334428, 1297266, 1337402, 1228708, 1191997]  # the list's first 5 ttbar nominal files
    assert len(weights) == 9
    assert weights["ttbar", "nominal"] == pytest.approx(ttbar.xsec_pb * settings.analysis.lumi_pb / sum(first_five))


def test_pseudodata_variance_follows_its_recipe(settings):
    histograms = from_reference(REFERENCE_N5, settings.analysis, settings.inputs.agc_list)
    for region in ("4j1b", "4j2b"):
        def variance(name):
            return histograms[f"{region}_{name}"].variances(flow=True)

        expected = (variance("ttbar_ME_var") + variance("ttbar_PS_var")) / 4 + variance("wjets")
        np.testing.assert_allclose(variance("pseudodata"), expected, rtol=1e-12)


def test_without_settings_the_variance_is_the_content():
    h = from_reference(REFERENCE_N5)["4j1b_wjets"]
    np.testing.assert_array_equal(h.variances(flow=True), np.abs(h.values(flow=True)))


def test_reference_without_n_in_its_name_is_named(settings, tmp_path):
    renamed = shutil.copy(REFERENCE_N5, tmp_path / "histos.json")
    with pytest.raises(InputFileError, match=r"histos\.json: expected an AGC reference named histos_<N\|all>"):
        from_reference(renamed, settings.analysis, settings.inputs.agc_list)
