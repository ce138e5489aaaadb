"""The synthetic ATLAS Open Data 4lep generator: layout, determinism, physics and normalisation."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from agcflow.analyses.atlas_hzz import generator
from agcflow.analyses.atlas_hzz.generator.events import skim_fraction
from agcflow.analyses.atlas_hzz.generator.ntuple import DATA_PERIODS
from agcflow.analyses.atlas_hzz.generator.samples import SKIM_FRACTION, data_event_count
from agcflow.inputs.generate import generate_file

EVENT_TYPES = {
    "runNumber": np.int32,
    "eventNumber": np.int32,
    "channelNumber": np.int32,
    "mcWeight": np.float32,
    "scaleFactor_ELE": np.float32,
    "scaleFactor_MUON": np.float32,
    "scaleFactor_LepTRIGGER": np.float32,
    "scaleFactor_PILEUP": np.float32,
}
LEPTON_TYPES = {"pt": np.float32, "eta": np.float32, "phi": np.float32, "E": np.float32, "charge": np.int32,
                "type": np.uint32}
MC = [process for process in generator.SAMPLES if process != "data"]
N_MC = 20_000
WINDOW = (80.0, 250.0)


def simulate(process: str, n: int, seed: int = 1, parameters: dict | None = None) -> dict:
    return generator.simulate(np.random.default_rng(seed), process, "nominal", n, 0, parameters or {})


def select(branches: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The analysis selection: m4l [GeV], event weight factor (mcWeight x SF) and type sum."""
    lep = branches["lep"]
    four = ak.to_numpy(ak.num(lep) == 4)
    lep = lep[four]
    type_sum = ak.to_numpy(ak.sum(lep["type"], axis=1)).astype(int)
    good = (ak.to_numpy(ak.sum(lep["charge"], axis=1)) == 0) & np.isin(type_sum, (44, 48, 52))
    lep = lep[good]
    pt, eta, phi, energy = (ak.to_numpy(lep[name]).astype(float) for name in ("pt", "eta", "phi", "E"))
    pt, eta, phi, energy = (x.reshape(-1, 4) for x in (pt, eta, phi, energy))
    px, py, pz = (pt * np.cos(phi)).sum(1), (pt * np.sin(phi)).sum(1), (pt * np.sinh(eta)).sum(1)
    m4l = np.sqrt(np.maximum(energy.sum(1) ** 2 - px**2 - py**2 - pz**2, 0.0)) / 1000.0
    weight = branches["mcWeight"].astype(float)
    for name in EVENT_TYPES:
        if name.startswith("scaleFactor"):
            weight = weight * branches[name]
    return m4l, weight[four][good], type_sum[good]


def core(m4l: np.ndarray) -> tuple[float, float]:
    """Mean and sigma of an iterative Gaussian fit of the peak's core (+- 1.5 sigma)."""
    values = m4l[(m4l > 115) & (m4l < 135)]
    mean, sigma = float(np.median(values)), float(np.std(values))
    for _ in range(30):
        core_values = values[np.abs(values - mean) < 1.5 * sigma]
        mean, sigma = float(core_values.mean()), float(core_values.std() / 0.7737)  # truncated-Gaussian std
    return mean, sigma


@pytest.fixture(scope="module")
def mc() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Selected events of every MC process: m4l, normalised weight at 10 fb^-1, type sum."""
    selected = {}
    for process in MC:
        m4l, weight, type_sum = select(simulate(process, N_MC))
        norm = generator.XSEC_PB[process] * generator.LUMI_PB * generator.FILTER_EFFICIENCY[process] / N_MC
        selected[process] = m4l, weight * norm, type_sum
    return selected


def yield_in_window(selected: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    m4l, weight, _ = selected
    return float(weight[(m4l > WINDOW[0]) & (m4l < WINDOW[1])].sum())


def test_deterministic_for_a_seed():
    first, second, other = simulate("llll", 500), simulate("llll", 500), simulate("llll", 500, seed=2)
    assert ak.to_list(first["lep"]) == ak.to_list(second["lep"])
    assert all(np.array_equal(first[name], second[name]) for name in EVENT_TYPES)
    assert ak.to_list(first["lep"]) != ak.to_list(other["lep"])


@pytest.mark.parametrize("process", ["ggH125_ZZ4lep", "Zee", "data"])
def test_branches_types_and_units(process):
    branches = simulate(process, 300)
    assert set(branches) == set(EVENT_TYPES) | {"lep"}
    for name, dtype in EVENT_TYPES.items():
        assert branches[name].dtype == dtype and len(branches[name]) == 300, name
    lep = branches["lep"]
    assert set(lep.fields) == set(LEPTON_TYPES)
    for name, dtype in LEPTON_TYPES.items():
        assert ak.flatten(lep[name]).to_numpy().dtype == dtype, name
    assert np.array_equal(branches["eventNumber"], np.arange(1, 301))
    assert ak.all(ak.num(lep) >= 4)
    pt = ak.flatten(lep["pt"]).to_numpy()
    assert np.median(pt) > 1000.0 and pt.min() > 4000.0  # MeV
    assert ak.all(lep["pt"][:, :-1] >= lep["pt"][:, 1:])  # sorted by pt
    assert set(np.unique(ak.flatten(lep["type"]))) == {11, 13}
    assert set(np.unique(ak.flatten(lep["charge"]))) == {-1, 1}


def test_mc_event_ids_and_weights():
    branches = simulate("ttbar_lep", 2000)
    assert np.all(branches["runNumber"] == 284500) and np.all(branches["channelNumber"] == 410000)
    assert abs(branches["mcWeight"].mean() - 1.0) < 0.03
    for name in EVENT_TYPES:
        if name.startswith("scaleFactor"):
            assert np.all(branches[name] > 0) and abs(branches[name].mean() - 1.0) < 0.03, name


def test_some_events_have_five_leptons():
    counts = ak.to_numpy(ak.num(simulate("ggH125_ZZ4lep", 5000)["lep"]))
    assert 0.005 < np.mean(counts == 5) < 0.1
    assert np.mean(ak.to_numpy(ak.num(simulate("WH125_ZZ4lep", 5000)["lep"])) >= 5) > 0.05  # the W's lepton


def test_higgs_peak_position_and_resolution(mc):
    m4l, _, type_sum = mc["ggH125_ZZ4lep"]
    mean, sigma = core(m4l)
    assert abs(mean - 125.0) < 0.5 and 1.2 < sigma < 2.8
    widths = {channel: core(m4l[type_sum == code])[1] for channel, code in (("4e", 44), ("4mu", 52), ("2e2mu", 48))}
    assert widths["4mu"] < widths["2e2mu"] < widths["4e"]
    assert all(1.2 < width < 2.8 for width in widths.values()), widths


def test_llll_has_the_z_peak_and_the_zz_threshold(mc):
    m4l, weight, _ = mc["llll"]
    histogram, edges = np.histogram(m4l, bins=34, range=WINDOW, weights=weight)
    centres = 0.5 * (edges[1:] + edges[:-1])
    z_bin = int(np.argmax(np.where(centres < 120, histogram, 0)))
    assert 85 < centres[z_bin] < 95 and histogram[z_bin] > 3 * histogram[z_bin + 3]  # a peak near 91
    below, above = histogram[(centres > 160) & (centres < 175)].mean(), histogram[(centres > 185) & (centres < 205)].mean()
    assert above > 2.5 * below  # the ZZ threshold rise
    assert histogram[-1] < 0.8 * histogram[(centres > 185) & (centres < 205)].max()  # the falling tail


def test_selected_yields_at_10_inverse_fb(mc):
    signal = sum(yield_in_window(mc[process]) for process in MC if "H125" in process)
    zz = yield_in_window(mc["llll"])
    z_ttbar = sum(yield_in_window(mc[process]) for process in ("Zee", "Zmumu", "ttbar_lep"))
    assert 10 <= signal <= 14 and yield_in_window(mc["ggH125_ZZ4lep"]) > 0.7 * signal
    assert 200 <= zz <= 350
    assert 15 <= z_ttbar <= 40


def test_skim_fractions_are_the_generators():
    for process in MC:
        measured = skim_fraction(np.random.default_rng(7), process, 100_000)
        assert measured == pytest.approx(SKIM_FRACTION[process], rel=0.06), process


def test_data_follow_the_model():
    expected = sum(generator.expected_skim_yields().values())
    n_data = generator.DEFAULT_EVENTS["data__nominal"]
    assert n_data == data_event_count() and abs(n_data - expected) < 4 * np.sqrt(expected)
    branches = simulate("data", n_data)
    assert np.all(branches["mcWeight"] == 0) and all(
        np.all(branches[name] == 1) for name in EVENT_TYPES if name.startswith("scaleFactor"))
    runs = branches["runNumber"]
    assert np.array_equal(runs, branches["channelNumber"])
    assert np.all((runs >= min(p[0] for p in DATA_PERIODS.values())) & (runs <= max(p[1] for p in DATA_PERIODS.values())))
    m4l, _, _ = select(branches)
    in_window = np.sum((m4l > WINDOW[0]) & (m4l < WINDOW[1]))
    assert 200 < in_window < 450  # ~ signal + ZZ* + Z/ttbar


def test_graviton_peaks_at_its_mass():
    m4l, _, _ = select(simulate("RS_G_ZZ_llll_c10_m0500", 3000, parameters={"mass": 500.0}))
    assert abs(np.median(m4l) - 500.0) < 15.0
    assert np.all(simulate("RS_G_500", 10, parameters={"mass": 500})["channelNumber"] > 0)


def test_unknown_process_is_a_value_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match="ggH125_ZZ4lep"):
        simulate("Wjets", 10)
    with pytest.raises(ValueError, match="mass"):
        simulate("graviton", 10, parameters={"width": 3.0})


class TinyPlugin:
    """The plugin interface that the file writer uses."""

    name = "atlas_hzz"

    def samples(self):
        return generator.SAMPLES

    def simulate(self, rng, process, variation, n_events, first_event, parameters):
        return generator.simulate(rng, process, variation, n_events, first_event, parameters)


def test_the_file_writer_writes_readable_files(tmp_path):
    path = tmp_path / "ggH.root"
    assert generate_file(path, TinyPlugin(), "ggH125_ZZ4lep", "nominal", 200, seed=3, first_event=1000) == 200
    with uproot.open(path) as file:
        tree = file[file.keys(filter_classname="TTree")[0].split(";")[0]]
        assert {"lep_pt", "lep_eta", "lep_phi", "lep_E", "lep_charge", "lep_type", "mcWeight", "eventNumber"} <= set(tree.keys())
        arrays = tree.arrays(["lep_pt", "eventNumber"])
    assert arrays["eventNumber"][0] == 1001 and ak.all(ak.num(arrays["lep_pt"]) >= 4)
