"""Cached passes against full passes from ROOT, on a real cluster and real files."""

from __future__ import annotations

import json

import pytest

from agcflow import config
from agcflow import stages as pipeline
from agcflow.delivery.local import read_columns
from agcflow.delivery.manifest import check_serves
from agcflow.delivery.manifest_types import Manifest, read_manifest
from agcflow.errors import ConfigError, InputFileError
from agcflow.processing.cached import delivered_samples
from agcflow.processing.histograms import compare, load_root
from conftest import CONFIG, tiny_overrides

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, dask_client):
    base = tmp_path_factory.mktemp("cached")
    settings = config.load(CONFIG, tiny_overrides(base))
    pipeline.generate(settings, progress=False)
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    return base


@pytest.mark.parametrize(
    "changes",
    [{}, {"analysis.objects.jet.pt_min": 40.0}, {"analysis.objects.btag_min": 0.7},
     {"analysis.histogram": {"bins": 50, "low": 50.0, "high": 550.0}}],
    ids=["nominal", "jet-pt-40", "btag-0.7", "binning-50"],
)
def test_cached_pass_equals_a_full_pass_with_the_same_values(delivered, dask_client, changes, tmp_path):
    settings = config.load(CONFIG, {**tiny_overrides(delivered), **changes})
    manifest = delivered / "manifest.json"
    pipeline.run_processing(settings, manifest, tmp_path / "full.root", tmp_path / "full.json", client=dask_client,
                            progress=False)
    result = pipeline.run_cached_pass(settings, manifest, tmp_path / "cached.root", tmp_path / "cached.json",
                                      client=dask_client)
    full, cached = load_root(tmp_path / "full.root"), load_root(tmp_path / "cached.root")
    assert compare(cached, full) == []
    assert full["4j2b_ttbar"].values().sum() > 0
    assert result["events"] > result["events_delivered"] > 0


def test_changed_values_change_the_histograms(delivered, dask_client, tmp_path):
    manifest = delivered / "manifest.json"
    for name, changes in (("base", {}), ("tight", {"analysis.objects.jet.pt_min": 45.0})):
        settings = config.load(CONFIG, {**tiny_overrides(delivered), **changes})
        pipeline.run_cached_pass(settings, manifest, tmp_path / f"{name}.root", tmp_path / f"{name}.json",
                                 client=dask_client)
    base, tight = load_root(tmp_path / "base.root"), load_root(tmp_path / "tight.root")
    assert tight["4j2b_ttbar"].values().sum() < base["4j2b_ttbar"].values().sum()


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"analysis.objects.jet.pt_min": 25.0}, "analysis.objects.jet.pt_min is looser than the delivery preselection"),
     ({"analysis.objects.btag_min": 0.4}, "analysis.objects.btag_min is looser than the delivery preselection"),
     # a tighter preselection rather than a looser analysis: min_jets 3 would leave fewer b-tag
     # variations than the configured systematics name, which the config refuses first
     ({"delivery.preselection.min_jets": 5}, "analysis.objects.min_jets is looser than the delivery preselection")],
)
def test_settings_beyond_the_loose_bounds_are_refused(changes, message):
    settings = config.load(CONFIG, changes)
    with pytest.raises(ConfigError, match=message):
        check_serves(settings.analysis, settings.delivery.preselection)


def test_a_changed_query_refuses_the_old_cache(delivered, tmp_path):
    settings = config.load(CONFIG, {**tiny_overrides(delivered), "analysis.objects.muon.iso_max": 0.1})
    with pytest.raises(ConfigError, match="delivered with another query"):
        pipeline.run_cached_pass(settings, delivered / "manifest.json", tmp_path / "x.root", tmp_path / "x.json")
    assert not (tmp_path / "x.root").exists()


def test_each_sample_is_read_from_one_merged_column_file(delivered):
    settings = config.load(CONFIG, tiny_overrides(delivered))
    manifest = read_manifest(delivered / "manifest.json")
    samples = delivered_samples(manifest, settings.analysis)
    assert samples and set(samples) <= set(manifest.samples)
    for key, (columns, _) in samples.items():
        files = [read_columns(f.columns) for f in manifest.samples[key].files if f.nevts_out > 0]
        merged = read_columns(columns)
        assert len(merged["event"]) == manifest.samples[key].skim.nevts == sum(len(f["event"]) for f in files)
        assert merged["event"].tolist() == [e for f in files for e in f["event"].tolist()]  # in file order


def test_a_manifest_without_merged_columns_asks_for_a_new_delivery(delivered):
    settings = config.load(CONFIG, tiny_overrides(delivered))
    data = json.loads((delivered / "manifest.json").read_text())
    for entry in data["samples"].values():
        del entry["skim"]["columns"]  # as an older agcflow wrote it
    manifest = Manifest.from_json(data, delivered / "manifest.json")
    with pytest.raises(InputFileError, match="no merged columns .* run `agcflow deliver` again"):
        delivered_samples(manifest, settings.analysis)
