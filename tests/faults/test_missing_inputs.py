"""A missing file or a wrong tree name: a clear error naming the file and the tree and listing
the trees present; never an empty result that looks fine, in skip mode neither."""

from __future__ import annotations

import json
import re

import hist
import pytest
import uproot

from agcflow import stages as pipeline
from agcflow.analyses.cms_ttbar.query import DeliveryQuery
from agcflow.delivery.local import deliver_file
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import InputFileError
from agcflow.processing import run as processing

from .conftest import fault_settings, fileset_with, shared_cache

pytestmark = pytest.mark.faults


def test_missing_file_is_named(fault_fileset, fault_base, tmp_path, dask_client):
    gone = tmp_path / "gone.root"
    fileset = fileset_with(fault_fileset, tmp_path / "fileset.json", ("wjets", "nominal"), [(gone, 10)])
    settings = fault_settings(tmp_path, fileset, shared_cache(fault_base))
    with pytest.raises(InputFileError, match=f"{gone}: input file not found \\(gave up after 3 attempts\\)"):
        pipeline.run_delivery(settings, tmp_path / "m.json", client=dask_client, progress=False)
    assert not (tmp_path / "m.json").exists()


def test_wrong_tree_name_names_file_and_tree_and_lists_the_trees(fault_fileset, tmp_path, dask_client):
    settings = fault_settings(tmp_path, fault_fileset, {"analysis.tree": "events"})
    expected = r"no tree 'events' \(no such key\); trees in the file: \['Events'\]"
    with pytest.raises(InputFileError, match=expected) as err:
        pipeline.run_delivery(settings, tmp_path / "m.json", client=dask_client, progress=False)
    paths = {f["path"] for vs in json.loads(fault_fileset.read_text()).values() for v in vs.values()
             for f in v["files"]}
    assert str(err.value).partition(": no tree")[0] in paths


def test_a_key_that_is_not_a_tree_is_named(settings, tmp_path):
    path = tmp_path / "histogram.root"
    with uproot.recreate(path) as out:
        out["Events"] = hist.Hist.new.Reg(10, 0, 100).Double()
    query = DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)
    expected = f"{path}: no tree 'Events' (a TH1D, not a TTree); trees in the file: []"
    with pytest.raises(InputFileError, match=re.escape(expected)):
        deliver_file(str(path), "Events", query, str(tmp_path / "cache"), None)


def test_skip_mode_never_turns_a_wrong_tree_into_an_empty_result(fault_fileset, tmp_path, dask_client):
    settings = fault_settings(tmp_path, fault_fileset, {"analysis.tree": "events", "processing.skip_bad_files": True})
    with pytest.raises(InputFileError, match=r"sample \w+: no input file could be read \(skipped: \['/"):
        pipeline.run_delivery(settings, tmp_path / "m.json", client=dask_client, progress=False)
    assert not (tmp_path / "m.json").exists()


def test_processing_refuses_a_manifest_with_a_sample_left_without_files(fault_manifest, fault_base, dask_client):
    data = json.loads(fault_manifest.read_text())
    lost = data["samples"]["wjets__nominal"]["files"]
    data["samples"]["wjets__nominal"]["files"] = []
    data["skipped"] = [{"sample": "wjets__nominal", "path": r["source"], "reason": "test"} for r in lost]
    manifest = Manifest.from_json(data, fault_manifest)
    settings = fault_settings(fault_base)
    with pytest.raises(InputFileError, match="sample wjets__nominal: no input file could be read"):
        processing.run_samples(manifest, settings.analysis, settings.processing, dask_client, progress=False)
