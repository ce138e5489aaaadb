"""A change of configuration, query, tree, input file or code (package version) misses the
delivery cache, and a manifest of another query is never processed: old results are never
reused. Unchanged settings reuse everything (the control that makes the misses meaningful)."""

from __future__ import annotations

import os

import pytest

from agcflow import __version__
from agcflow import stages as pipeline
from agcflow.analyses.cms_ttbar.query import DeliveryQuery
from agcflow.delivery import local
from agcflow.delivery.local import cache_key, deliver_file
from agcflow.delivery.manifest_types import read_manifest
from agcflow.errors import ConfigError

from .conftest import copy_of, fault_settings

pytestmark = pytest.mark.faults

LOOSER = {"delivery.preselection.jet_pt_min": 20.0}


def test_unchanged_settings_reuse_every_cached_file(fault_manifest, fault_fileset, fault_base, dask_client, tmp_path):
    again = pipeline.run_delivery(fault_settings(fault_base, fault_fileset), tmp_path / "m.json", client=dask_client,
                                  progress=False)
    first = read_manifest(fault_manifest)
    assert again.files_cached == sum(len(s.files) for s in first.samples.values()) > 0
    assert again.events_out == first.events_out


def test_a_query_change_misses_the_cache_and_refuses_the_old_manifest(fault_manifest, fault_fileset, fault_base,
                                                                      dask_client, tmp_path):
    looser = fault_settings(fault_base, fault_fileset, LOOSER)  # same cache directory
    for stage in (pipeline.run_processing, pipeline.run_cached_pass):
        with pytest.raises(ConfigError, match=f"{fault_manifest}: delivered with another query"):
            stage(looser, fault_manifest, tmp_path / "h.root", tmp_path / "m.json", client=dask_client)
    manifest = pipeline.run_delivery(looser, tmp_path / "manifest.json", client=dask_client, progress=False)
    assert manifest.files_cached == 0
    assert manifest.events_out > read_manifest(fault_manifest).events_out


def test_a_code_version_change_misses_the_cache(wjets_file, settings, tmp_path, monkeypatch):
    query = DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)
    assert local.CODE_IDENTITY.startswith(f"{__version__}+")
    first = deliver_file(str(wjets_file), "Events", query, str(tmp_path), None)
    monkeypatch.setattr(local, "CODE_IDENTITY", "0.2.0+0123456789ab")  # as after an upgrade
    upgraded = deliver_file(str(wjets_file), "Events", query, str(tmp_path), None)
    assert not upgraded.cached and upgraded.columns != first.columns
    monkeypatch.undo()
    assert deliver_file(str(wjets_file), "Events", query, str(tmp_path), None).columns == first.columns


def test_a_tree_or_file_change_changes_the_key(wjets_file, settings, tmp_path):
    query = DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)
    copy = copy_of(wjets_file, tmp_path / "copy.root")
    key = cache_key(str(copy), "Events", query)
    assert cache_key(str(copy), "Events2", query) != key
    os.utime(copy, ns=(1, 1))  # rewritten in place: same size, new mtime
    assert cache_key(str(copy), "Events", query) != key
