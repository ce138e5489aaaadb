"""The cabinetry configuration and the workspace built from the AGC reference histograms."""

from __future__ import annotations

import json

import cabinetry
import numpy as np
import pyhf
import pytest

from agcflow.errors import InputFileError
from agcflow.processing.histograms import empty_histogram, from_reference, load_root, save_root
from agcflow.stats.workspace import build_workspace, load_workspace, rebin, save_workspace

from .conftest import REFERENCE_N5

FIT_EDGES = [110.0 + 40.0 * i for i in range(12)]
CHANNELS = ["4j1b CR", "4j2b SR"]
MC_SAMPLES = ["ttbar", "single top, s-channel", "single top, t-channel", "tW", "W+jets"]
ALL_MC_SYSTEMATICS = ["Jet energy scale", "Jet energy resolution"] + [f"b-tag NP {i}" for i in range(1, 5)]
TTBAR_SYSTEMATICS = ["ME variation", "PS variation", "ttbar scale variations"]


def modifiers_of(ws: dict, channel: str, sample: str) -> set[tuple[str, str]]:
    ch = next(c for c in ws["channels"] if c["name"] == channel)
    s = next(s for s in ch["samples"] if s["name"] == sample)
    return {(m["name"], m["type"]) for m in s["modifiers"]}


def sample_data(ws: dict, channel: str, sample: str) -> np.ndarray:
    ch = next(c for c in ws["channels"] if c["name"] == channel)
    return np.array(next(s["data"] for s in ch["samples"] if s["name"] == sample))


def merged_reference(name: str) -> np.ndarray:
    """Reference contents in 40 GeV bins from 110 GeV: bins 3..24 of 50..550 merged in pairs."""
    values = from_reference(REFERENCE_N5)[name].values()
    return values[3:].reshape(11, 2).sum(axis=1)


def test_config_carries_fit_binning_norm_factor_and_systematics(agc_config):
    assert [r["Name"] for r in agc_config["Regions"]] == CHANNELS
    assert all(r["Binning"] == FIT_EDGES for r in agc_config["Regions"])
    data = [s for s in agc_config["Samples"] if s.get("Data")]
    assert [s["Name"] for s in data] == ["Pseudodata"]
    assert agc_config["NormFactors"] == [
        {"Name": "ttbar_norm", "Samples": "ttbar", "Nominal": 1.0, "Bounds": [0.0, 10.0]}
    ]
    systematics = {s["Name"]: s for s in agc_config["Systematics"]}
    assert systematics["ME variation"]["Down"] == {"Symmetrize": True}
    assert systematics["Jet energy scale"]["Down"] == {"Symmetrize": True}
    assert systematics["ttbar scale variations"]["Down"] == {"VariationPath": "_scaledown"}
    assert systematics["b-tag NP 4"]["Up"] == {"VariationPath": "_btag_var_3_up"}
    assert systematics["Luminosity"]["Type"] == "Normalization"
    assert systematics["Luminosity"]["Up"] == {"Normalization": 0.03}
    assert systematics["Luminosity"]["Down"] == {"Normalization": -0.03}
    assert systematics["Luminosity"]["Samples"] == MC_SAMPLES
    assert systematics["W+jets scale variations"]["Samples"] == ["W+jets"]


def test_workspace_is_schema_valid_with_two_eleven_bin_channels(agc_workspace):
    pyhf.schema.validate(agc_workspace, "workspace.json")
    assert [c["name"] for c in agc_workspace["channels"]] == CHANNELS
    assert {o["name"]: len(o["data"]) for o in agc_workspace["observations"]} == dict.fromkeys(CHANNELS, 11)
    for channel in agc_workspace["channels"]:
        assert [s["name"] for s in channel["samples"]] == MC_SAMPLES
        assert all(len(s["data"]) == 11 for s in channel["samples"])
    (measurement,) = agc_workspace["measurements"]
    assert measurement["name"] == "CMS_ttbar"
    assert measurement["config"]["poi"] == "ttbar_norm"
    assert measurement["config"]["parameters"][0]["bounds"] == [[0.0, 10.0]]


@pytest.mark.parametrize("channel", CHANNELS)
def test_workspace_has_the_modifiers_of_the_spec(agc_workspace, channel):
    staterror = (f"staterror_{channel.replace(' ', '-')}", "staterror")
    common = {staterror, ("Luminosity", "normsys")}
    common |= {(name, kind) for name in ALL_MC_SYSTEMATICS for kind in ("normsys", "histosys")}
    ttbar_only = {(name, kind) for name in TTBAR_SYSTEMATICS for kind in ("normsys", "histosys")}
    wjets_only = {("W+jets scale variations", "normsys"), ("W+jets scale variations", "histosys")}
    assert modifiers_of(agc_workspace, channel, "ttbar") == common | ttbar_only | {("ttbar_norm", "normfactor")}
    assert modifiers_of(agc_workspace, channel, "W+jets") == common | wjets_only
    for sample in ["single top, s-channel", "single top, t-channel", "tW"]:
        assert modifiers_of(agc_workspace, channel, sample) == common


def test_symmetrized_variation_mirrors_the_up_template(agc_workspace):
    ch = agc_workspace["channels"][0]
    ttbar = next(s for s in ch["samples"] if s["name"] == "ttbar")
    me = next(m for m in ttbar["modifiers"] if m["name"] == "ME variation" and m["type"] == "normsys")
    assert me["data"]["hi"] - 1 == pytest.approx(1 - me["data"]["lo"], rel=1e-9)
    assert me["data"]["hi"] != pytest.approx(1.0, abs=1e-3)


def test_fit_binning_is_applied_by_cabinetry(agc_workspace, agc_config):
    """cabinetry's templates have the fit edges, and their contents are the reference
    histograms cut at 110 GeV with bins merged in pairs."""
    region, sample = agc_config["Regions"][0], agc_config["Samples"][1]
    histo_folder = agc_config["General"]["HistogramFolder"]
    template = cabinetry.histo.Histogram.from_config(histo_folder, region, sample, {}, modified=True)
    assert template.axes[0].edges.tolist() == FIT_EDGES
    ttbar_cr = sample_data(agc_workspace, "4j1b CR", "ttbar")
    np.testing.assert_allclose(ttbar_cr, merged_reference("4j1b_ttbar"), rtol=1e-12)
    np.testing.assert_allclose(
        sample_data(agc_workspace, "4j2b SR", "W+jets"), merged_reference("4j2b_wjets"), rtol=1e-12
    )
    observed = {o["name"]: o["data"] for o in agc_workspace["observations"]}
    np.testing.assert_allclose(observed["4j2b SR"], merged_reference("4j2b_pseudodata"), rtol=1e-12)


def test_rebin_refuses_edges_the_histogram_does_not_have():
    histogram = empty_histogram(25, 50.0, 550.0)
    with pytest.raises(InputFileError, match=r"h\.root:4j1b_ttbar.*155"):
        rebin(histogram, [110.0, 155.0, 550.0], "h.root:4j1b_ttbar")


def test_missing_histogram_is_named_with_its_file(reference_root, settings, tmp_path):
    histograms = load_root(reference_root)
    del histograms["4j2b_wjets_scale_var_up"]
    incomplete = save_root(histograms, tmp_path / "incomplete.root")
    with pytest.raises(InputFileError, match=r"incomplete\.root: no histogram '4j2b_wjets_scale_var_up'"):
        build_workspace(incomplete, settings.analysis, settings.fit, tmp_path / "work")


def test_save_and_load_round_trip(agc_workspace, tmp_path):
    path = save_workspace(agc_workspace, tmp_path / "ws" / "workspace.json")
    assert load_workspace(path) == agc_workspace
    assert [p.name for p in path.parent.iterdir()] == ["workspace.json"]  # no temporary left


def test_load_names_the_file_of_malformed_json(tmp_path):
    path = tmp_path / "workspace.json"
    path.write_text('{"channels": [')
    with pytest.raises(InputFileError, match=r"workspace\.json: not valid JSON"):
        load_workspace(path)


def test_load_reports_pyhf_schema_complaint(agc_workspace, tmp_path):
    broken = json.loads(json.dumps(agc_workspace))
    del broken["channels"][0]["samples"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(InputFileError, match=r"broken\.json: not a valid pyhf workspace.*'samples' is a required property"):
        load_workspace(path)


def test_load_rejects_observations_that_do_not_match_the_bins(agc_workspace, tmp_path):
    broken = json.loads(json.dumps(agc_workspace))
    broken["observations"][1]["data"].append(1.0)
    path = tmp_path / "extra_bin.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(InputFileError, match=r"extra_bin\.json: channel '4j2b SR' has 11 bins but 12 observed"):
        load_workspace(path)


def test_load_rejects_json_that_is_not_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]")
    with pytest.raises(InputFileError, match=r"list\.json: expected a pyhf workspace \(a JSON object\), got list"):
        load_workspace(path)
