"""The synthetic NanoAOD generator: file layout, types, determinism, fileset and errors."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.analyses.cms_ttbar.generator import DEFAULT_EVENTS, SAMPLES
from agcflow.errors import ConfigError
from agcflow.inputs.generate import generate_dataset, generate_file

EXPECTED_TYPES = {
    "run": np.uint32,
    "luminosityBlock": np.uint32,
    "event": np.uint64,
    "nElectron": np.uint32,
    "Electron_pt": np.float32,
    "Electron_eta": np.float32,
    "Electron_phi": np.float32,
    "Electron_mass": np.float32,
    "Electron_sip3d": np.float32,
    "Electron_cutBased": np.int32,
    "Electron_charge": np.int32,
    "nMuon": np.uint32,
    "Muon_pt": np.float32,
    "Muon_eta": np.float32,
    "Muon_phi": np.float32,
    "Muon_mass": np.float32,
    "Muon_sip3d": np.float32,
    "Muon_pfRelIso04_all": np.float32,
    "Muon_tightId": np.bool_,
    "Muon_charge": np.int32,
    "nJet": np.uint32,
    "Jet_pt": np.float32,
    "Jet_eta": np.float32,
    "Jet_phi": np.float32,
    "Jet_mass": np.float32,
    "Jet_btagCSVV2": np.float32,
    "Jet_jetId": np.int32,
}
TINY = {"ttbar__nominal": 3_000, "wjets__nominal": 2_000}


def read_all(path: Path) -> dict[str, ak.Array]:
    with uproot.open(path) as file:
        return file["Events"].arrays(library="ak", how=dict)


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "ttbar.root"
    assert generate_file(path, CMS_TTBAR, "ttbar", "nominal", 4_000, seed=1) == 4_000
    return path


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("dataset"), CMS_TTBAR, events=TINY, files_per_sample=2, seed=5
    )


def test_samples_and_default_events_cover_the_spec():
    assert set(SAMPLES) == {
        "ttbar",
        "single_top_s_chan",
        "single_top_t_chan",
        "single_top_tW",
        "wjets",
    }
    assert SAMPLES["ttbar"] == ("nominal", "scaledown", "scaleup", "ME_var", "PS_var")
    assert set(DEFAULT_EVENTS) == {f"{p}__{v}" for p, vs in SAMPLES.items() for v in vs}
    assert sum(DEFAULT_EVENTS.values()) >= 2_000_000


def test_branch_names_and_exact_types(ttbar_file):
    with uproot.open(ttbar_file) as file:
        tree = file["Events"]
        assert tree.num_entries == 4_000
        assert set(tree.keys()) == set(EXPECTED_TYPES)
        for name, dtype in EXPECTED_TYPES.items():
            array = (
                tree[name].array(library="np")
                if name in ("run", "luminosityBlock", "event") or name.startswith("n")
                else ak.to_numpy(ak.flatten(tree[name].array()))
            )
            assert array.dtype == np.dtype(dtype), name
        assert tree["nJet"].title == "nJet/i"  # an unsigned TLeafI, as in NanoAOD
        assert np.array_equal(
            tree["nJet"].array(library="np"), ak.to_numpy(ak.num(tree["Jet_pt"].array()))
        )


def test_nanoaod_schema_builds_the_collections(ttbar_file):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing cross-reference branches of full NanoAOD
        events = NanoEventsFactory.from_root(
            {str(ttbar_file): "Events"}, schemaclass=NanoAODSchema, mode="eager"
        ).events()
    assert len(events) == 4_000
    assert ak.sum(ak.num(events.Jet.pt)) > 4 * 4_000
    assert set(np.unique(ak.to_numpy(ak.flatten(events.Electron.charge)))) == {-1, 1}
    assert ak.to_numpy(ak.flatten(events.Muon.tightId)).dtype == np.bool_


def test_content_is_nanoaod_like(ttbar_file):
    arrays = read_all(ttbar_file)
    for collection in ("Jet", "Electron", "Muon"):
        pt = arrays[f"{collection}_pt"]
        assert ak.all(pt > 0)
        assert ak.all(pt[:, :-1] >= pt[:, 1:]), f"{collection} not sorted by pt"
    assert set(np.unique(ak.to_numpy(ak.flatten(arrays["Jet_jetId"])))) == {0, 2, 6}
    btag = ak.to_numpy(ak.flatten(arrays["Jet_btagCSVV2"]))
    assert btag.min() >= 0.0 and btag.max() <= 1.0
    assert 0.1 < np.mean(btag > 0.5) < 0.5
    assert set(np.unique(ak.to_numpy(ak.flatten(arrays["Electron_cutBased"])))) == {0, 1, 2, 3, 4}
    assert np.array_equal(ak.to_numpy(arrays["event"]), np.arange(1, 4_001, dtype=np.uint64))


def test_same_seed_gives_identical_arrays_and_another_seed_differs(tmp_path, ttbar_file):
    generate_file(tmp_path / "same.root", CMS_TTBAR, "ttbar", "nominal", 4_000, seed=1)
    generate_file(tmp_path / "other.root", CMS_TTBAR, "ttbar", "nominal", 4_000, seed=2)
    reference, same, other = (
        read_all(p) for p in (ttbar_file, tmp_path / "same.root", tmp_path / "other.root")
    )
    for name in EXPECTED_TYPES:
        assert ak.array_equal(reference[name], same[name]), name
    assert not ak.array_equal(reference["Jet_pt"], other["Jet_pt"])


def test_fileset_lists_every_file_with_its_event_count(tiny_dataset):
    fileset = json.loads(tiny_dataset.read_text())
    assert tiny_dataset.name == "fileset.json"
    assert fileset.keys() == {"ttbar", "wjets"}
    for sample, n_events in TINY.items():
        process, variation = sample.split("__")
        entry = fileset[process][variation]
        assert entry["nevts_total"] == n_events
        assert [Path(f["path"]).name for f in entry["files"]] == [
            f"{sample}_000.root",
            f"{sample}_001.root",
        ]
        for file in entry["files"]:
            path = Path(file["path"])
            assert path.is_absolute() and path.parent == tiny_dataset.parent / sample
            with uproot.open(path) as root_file:
                assert root_file["Events"].num_entries == file["nevts"]
        assert sum(f["nevts"] for f in entry["files"]) == n_events


def test_files_of_a_sample_differ_and_number_events_uniquely(tiny_dataset):
    files = json.loads(tiny_dataset.read_text())["ttbar"]["nominal"]["files"]
    first, second = (read_all(Path(f["path"])) for f in files)
    assert not ak.array_equal(first["Jet_pt"][:100], second["Jet_pt"][:100])
    events = np.concatenate([ak.to_numpy(first["event"]), ak.to_numpy(second["event"])])
    assert np.array_equal(events, np.arange(1, TINY["ttbar__nominal"] + 1))


def test_writes_are_atomic(tiny_dataset):
    leftovers = [p for p in tiny_dataset.parent.rglob("*") if re.search(r"\.tmp", p.name)]
    assert leftovers == []


def test_worker_processes_write_the_same_files(tmp_path, tiny_dataset):
    pooled = generate_dataset(tmp_path, CMS_TTBAR, events=TINY, files_per_sample=2, seed=5, workers=2)
    serial_files = json.loads(tiny_dataset.read_text())["wjets"]["nominal"]["files"]
    pooled_files = json.loads(pooled.read_text())["wjets"]["nominal"]["files"]
    for serial, parallel in zip(serial_files, pooled_files, strict=True):
        assert ak.array_equal(
            read_all(Path(serial["path"]))["Muon_pt"], read_all(Path(parallel["path"]))["Muon_pt"]
        )


@pytest.mark.parametrize("compression", ["zstd", "lz4", "zlib", "lzma"])
def test_compression_codecs(tmp_path, compression):
    path = tmp_path / f"{compression}.root"
    generate_file(path, CMS_TTBAR, "single_top_tW", "nominal", 500, seed=3, compression=compression, level=1)
    with uproot.open(path) as file:
        assert type(file.file.compression).__name__.lower() == compression
        assert file["Events"].num_entries == 500


def test_unknown_sample_is_rejected_with_the_valid_names(tmp_path):
    with pytest.raises(ConfigError, match=r"'ttbar__nominl'.*ttbar__nominal.*wjets__nominal"):
        generate_dataset(tmp_path, CMS_TTBAR, events={"ttbar__nominl": 10})
    assert not (tmp_path / "fileset.json").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "bz2"}, "unknown compression 'bz2'"),
        ({"events": {"wjets__nominal": 0}}, "positive integer"),
        ({"workers": 0}, "workers must be >= 1"),
    ],
)
def test_invalid_arguments_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_dataset(tmp_path, CMS_TTBAR, **({"events": TINY} | kwargs))


def test_generate_file_rejects_unknown_variation(tmp_path):
    with pytest.raises(ConfigError, match="wjets__scaleup"):
        generate_file(tmp_path / "x.root", CMS_TTBAR, "wjets", "scaleup", 10, seed=1)
