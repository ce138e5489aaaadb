"""The delivery cache under damage and relocation, through real delivery and processing: a
moved cache directory is reused where it now is; a truncated or inconsistent cache file is
recomputed (identically), never trusted; the fileset's event count is checked on a warm cache
too; a cache directory with a non-ASCII name works."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from agcflow import stages as pipeline
from agcflow.delivery.local import read_columns
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import InputFileError
from agcflow.processing.histograms import load_root

from .conftest import fault_settings

pytestmark = pytest.mark.faults


def identical(a: dict, b: dict) -> bool:
    """The same histograms, bin for bin (values and variances), exactly."""
    return a.keys() == b.keys() and all(
        np.array_equal(a[n].values(), b[n].values()) and np.array_equal(a[n].variances(), b[n].variances()) for n in a)


def cache_paths(manifest: Manifest) -> list[str]:
    """Every cache file a manifest names: per file its columns, per sample its skim and columns."""
    paths = [f.columns for s in manifest.samples.values() for f in s.files if f.columns]
    return paths + [path for s in manifest.samples.values() for path in (s.skim.path, s.skim.columns) if path]


def deliver_and_process(settings, out: Path, client) -> tuple[Manifest, dict]:
    """Deliver and process into ``out``; the manifest and the histograms."""
    manifest = pipeline.run_delivery(settings, out / "manifest.json", client=client, progress=False)
    pipeline.run_processing(settings, out / "manifest.json", out / "h.root", out / "m.json", client=client,
                            progress=False)
    return manifest, load_root(out / "h.root")


@pytest.fixture()
def worker_warnings(dask_client):
    """Warnings the delivery logs on the Dask workers, forwarded to this process (caplog)."""
    dask_client.forward_logging("agcflow.delivery.local", level=logging.WARNING)
    yield
    dask_client.unforward_logging("agcflow.delivery.local")


@pytest.fixture(scope="module")
def cold(tmp_path_factory, fault_fileset, dask_client):
    """A cold delivery into a cache of this module's own, and its processing."""
    base = tmp_path_factory.mktemp("delivery_cache")
    settings = fault_settings(base, fault_fileset)
    manifest, hists = deliver_and_process(settings, base / "cold", dask_client)
    assert manifest.files_cached == 0
    return base, settings, manifest, hists


def test_truncated_cache_files_are_recomputed_identically(cold, dask_client, tmp_path, caplog, worker_warnings):
    base, settings, first, hists = cold
    sample = first.samples["ttbar__nominal"]
    damaged = [Path(sample.files[0].columns), Path(sample.skim.columns)]  # what cached passes read
    originals = [read_columns(path) for path in damaged]
    for path in damaged:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        again, rehists = deliver_and_process(settings, tmp_path, dask_client)
    n_files = sum(len(s.files) for s in first.samples.values())
    assert again.files_cached == n_files - 1
    for path, original in zip(damaged, originals):
        assert f"{path} has" in caplog.text  # named in the log, then recomputed
        recomputed = read_columns(path)
        assert recomputed.keys() == original.keys() and all(np.array_equal(recomputed[k], original[k]) for k in original)
    assert again.events_out == first.events_out and identical(rehists, hists)
    pipeline.run_cached_pass(settings, tmp_path / "manifest.json", tmp_path / "c.root", tmp_path / "c.json",
                             client=dask_client)
    assert identical(load_root(tmp_path / "c.root"), hists)


def test_a_sidecar_that_disagrees_with_its_file_is_a_miss(cold, dask_client, tmp_path, caplog, worker_warnings):
    base, settings, first, _ = cold
    record = first.samples["wjets__nominal"].files[0]
    sidecar = Path(record.columns).with_suffix("").with_suffix(".json")
    stored = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**stored, "nevts_out": stored["nevts_out"] + 1}))
    with caplog.at_level(logging.WARNING):
        again = pipeline.run_delivery(settings, tmp_path / "manifest.json", client=dask_client, progress=False)
    assert f"holds {record.nevts_out} events, {record.nevts_out + 1} when written" in caplog.text
    redone = next(r for r in again.samples["wjets__nominal"].files if r.source == record.source)
    assert not redone.cached and redone.nevts_out == record.nevts_out
    assert json.loads(sidecar.read_text())["nevts_out"] == record.nevts_out


def test_the_fileset_event_count_is_checked_on_a_warm_cache(cold, fault_fileset, dask_client, tmp_path):
    base, _, first, _ = cold
    fileset = json.loads(fault_fileset.read_text())
    entry = fileset["wjets"]["nominal"]["files"][0]
    entry["nevts"] += 1
    (tmp_path / "fileset.json").write_text(json.dumps(fileset))
    wrong = fault_settings(base, tmp_path / "fileset.json")  # the module's cache: every file cached
    with pytest.raises(InputFileError, match=f"{entry['path']}: {entry['nevts'] - 1} entries, but the fileset says"):
        pipeline.run_delivery(wrong, tmp_path / "manifest.json", client=dask_client, progress=False)


def test_a_non_ascii_cache_dir_gives_the_same_histograms(cold, fault_fileset, dask_client, tmp_path):
    _, _, _, hists = cold
    settings = fault_settings(tmp_path, fault_fileset, {"delivery.cache_dir": str(tmp_path / "cache" / "délivery")})
    manifest, again = deliver_and_process(settings, tmp_path, dask_client)
    assert manifest.files_cached == 0 and identical(again, hists)


def test_a_moved_cache_is_reused_where_it_now_is(cold, fault_fileset, dask_client, tmp_path):
    """Last in the module: it moves the module's cache away."""
    base, _, first, hists = cold
    moved = tmp_path / "moved"
    shutil.move(base / "cache", moved)
    settings = fault_settings(base, fault_fileset, {"delivery.cache_dir": str(moved)})
    manifest, again = deliver_and_process(settings, tmp_path, dask_client)
    assert manifest.files_cached == sum(len(s.files) for s in first.samples.values())
    assert all(Path(path).is_relative_to(moved) and Path(path).is_file() for path in cache_paths(manifest))
    assert identical(again, hists)
