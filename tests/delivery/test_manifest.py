"""The typed delivery manifest: ``Manifest.to_json`` gives back exactly the JSON it was read from
(key order included, unknown keys kept), and a manifest with a missing key or a value of the
wrong type is refused naming the file, the key and what to do."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest_types import FileEntry, Manifest, SkimEntry, read_manifest
from agcflow.errors import InputFileError
from agcflow.inputs.fileset import InputFile, SampleFiles
from agcflow.inputs.generate import generate_file
from agcflow.util.io import write_json

PATH = "results/delivery/manifest.json"


def manifest_json() -> dict:
    """A manifest as ``agcflow deliver`` writes it (servicex backend: every optional key present)."""
    file = {"source": "root://eos/a.root", "columns": "cache/ab/ab.columns.npz", "nevts_in": 0, "nevts_out": 10,
            "bytes_read": 1234, "wall_s": 0.5, "cached": False}
    return {
        "backend": "servicex",
        "query": ".Where(lambda e: e.nJet >= 4)",
        "preselection": {"jet_pt_min": 25.0, "min_jets": 4},
        "samples": {
            "ttbar__nominal": {"process": "ttbar", "variation": "nominal", "nevts_total": 1000,
                               "files": [file, {**file, "source": "root://eos/b.root", "cached": True}],
                               "skim": {"path": "cache/cd/cd.root", "uuid": "00ff", "nevts": 20,
                                        "columns": "cache/cd/cd.columns.npz", "cached": False}},
            "wjets__nominal": {"process": "wjets", "variation": "nominal", "nevts_total": 0, "files": [],
                               "skim": {"path": "", "uuid": "", "nevts": 0, "columns": "", "cached": False}},
        },
        "skipped": [{"sample": "wjets__nominal", "path": "root://eos/c.root", "reason": "c.root: corrupt"}],
        "events_in": 1000,
        "events_out": 20,
        "bytes_read": 1234,
        "files_cached": 1,
        "wall_s": 2.75,
        "servicex": {"endpoint": "uc-af", "url": "https://servicex.example.org"},
        "settings": {"stage": "deliver", "digest": "0123", "settings": {"delivery.backend": "servicex"}},
        "provenance": {"package": "agcflow", "version": "0.1.0", "backend": {"delivery": "servicex"}},
    }


def test_to_json_gives_back_the_json_it_was_read_from():
    data = manifest_json()
    manifest = Manifest.from_json(copy.deepcopy(data), PATH)
    assert json.dumps(manifest.to_json(), indent=2) == json.dumps(data, indent=2)  # the same keys in the same order
    assert manifest.servicex.url == "https://servicex.example.org" and manifest.settings["digest"] == "0123"
    assert manifest.samples["ttbar__nominal"].files[1] == FileEntry("root://eos/b.root", "cache/ab/ab.columns.npz", 0, 10,
                                                                     1234, 0.5, True)
    assert manifest.skipped_in("wjets__nominal") == ["root://eos/c.root"]
    assert Manifest.from_json(manifest.to_json(), PATH) == manifest


def test_optional_keys_stay_absent_and_unknown_keys_are_kept():
    data = manifest_json()
    for key in ("servicex", "settings", "provenance"):  # what delivery.backends.deliver returns lacks them
        del data[key]
    del data["samples"]["ttbar__nominal"]["skim"]["columns"]  # as an older agcflow wrote it
    data["samples"]["ttbar__nominal"]["files"][0]["checksum"] = "adler32:1"
    data["samples"]["ttbar__nominal"]["skim"]["compression"] = "ZSTD(1)"
    data["samples"]["wjets__nominal"]["note"] = {"why": "all skipped"}
    data["skipped"][0]["attempts"] = 3
    data["wall_s"] = 3  # an integer is a number too: kept as it is
    data["site"] = "T2_XX"
    manifest = Manifest.from_json(copy.deepcopy(data), PATH)
    assert (manifest.servicex, manifest.settings, manifest.provenance) == (None, None, None)
    assert manifest.samples["ttbar__nominal"].skim.columns is None
    assert manifest.extra == {"site": "T2_XX"} and manifest.samples["ttbar__nominal"].skim.extra == {"compression": "ZSTD(1)"}
    assert json.dumps(manifest.to_json()) == json.dumps(data)


def test_a_manifest_is_frozen_and_to_json_hands_out_copies():
    manifest = Manifest.from_json(manifest_json(), PATH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.events_in = 0
    manifest.to_json()["preselection"]["jet_pt_min"] = 0.0
    assert manifest.preselection["jet_pt_min"] == 25.0


def drop(data: dict, *keys) -> None:
    *parents, last = keys
    for key in parents:
        data = data[key]
    del data[last]


def put(data: dict, value, *keys) -> None:
    *parents, last = keys
    for key in parents:
        data = data[key]
    data[last] = value


@pytest.mark.parametrize(("keys", "named"), [
    (("events_in",), "key 'events_in' is missing"),
    (("query",), "key 'query' is missing"),
    (("samples", "ttbar__nominal", "skim", "nevts"), "key \"samples['ttbar__nominal'].skim.nevts\" is missing"),
    (("samples", "ttbar__nominal", "files", 1, "source"), "key \"samples['ttbar__nominal'].files[1].source\" is missing"),
    (("skipped", 0, "reason"), "key 'skipped[0].reason' is missing"),
    (("servicex", "url"), "key 'servicex.url' is missing"),
])
def test_a_missing_key_is_named_with_the_file(keys, named):
    data = manifest_json()
    drop(data, *keys)
    with pytest.raises(InputFileError) as err:
        Manifest.from_json(data, PATH)
    assert str(err.value).startswith(f"{PATH}: not a delivery manifest this agcflow reads: {named}; ")
    assert "run `agcflow deliver` again" in str(err.value)


@pytest.mark.parametrize(("keys", "value", "named"), [
    (("events_in",), "many", "'events_in' is a string ('many'), not an integer"),
    (("events_out",), 1.5, "'events_out' is a number (1.5), not an integer"),
    (("wall_s",), True, "'wall_s' is a boolean (True), not a number"),
    (("samples",), [], "'samples' is an array ([]), not an object"),
    (("samples", "ttbar__nominal", "files", 0, "cached"), "no", "files[0].cached\" is a string ('no'), not a boolean"),
    (("samples", "ttbar__nominal", "skim"), None, "skim\" is null (None), not an object"),
    (("samples", "wjets__nominal"), "wjets", "samples['wjets__nominal'] is a string, not an object"),
    (("preselection",), None, "'preselection' is null (None), not an object"),
    (("settings",), "eff118f6", "'settings' is a string ('eff118f6'), not an object"),
])
def test_a_value_of_the_wrong_type_is_named_with_the_file(keys, value, named):
    data = manifest_json()
    put(data, value, *keys)
    with pytest.raises(InputFileError, match=f"^{PATH}: not a delivery manifest") as err:
        Manifest.from_json(data, PATH)
    assert named in str(err.value) and "run `agcflow deliver` again" in str(err.value)


def test_read_manifest_names_the_file_that_is_no_manifest(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match=f"^{path}: not a delivery manifest this agcflow reads: the file is an array"):
        read_manifest(path)
    with pytest.raises(InputFileError, match=f"^{tmp_path / 'absent.json'}: file not found"):
        read_manifest(tmp_path / "absent.json")


def test_a_delivered_manifest_survives_writing_and_reading_byte_for_byte(settings, tmp_path, dask_client):
    source = tmp_path / "ttbar.root"
    generate_file(source, CMS_TTBAR, "ttbar", "nominal", 2_000, seed=5)
    delivery = dataclasses.replace(settings.delivery, cache_dir=tmp_path / "cache")
    sample = SampleFiles("ttbar", "nominal", (InputFile(str(source), 2_000),))
    manifest = deliver([sample], delivery, settings.analysis, dask_client, progress=False)
    assert manifest.backend == "local" and manifest.events_in == 2_000 and manifest.settings is None
    assert isinstance(manifest.samples["ttbar__nominal"].skim, SkimEntry) and manifest.samples["ttbar__nominal"].skim.columns
    first = write_json(tmp_path / "first.json", manifest.to_json())
    again = read_manifest(first)
    assert again == manifest
    assert write_json(tmp_path / "again.json", again.to_json()).read_bytes() == first.read_bytes()
