"""Corrupt, truncated, tree-less and empty-but-valid input files through real delivery and
processing. Strict mode (processing.skip_bad_files: false) fails naming the file; skip mode
finishes and lists every skipped file in the manifest, the metrics and the log. A file with the
tree and 0 entries is valid: it contributes 0 events and is listed in the manifest."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hist
import pytest
import uproot

from agcflow import stages as pipeline
from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.errors import InputFileError
from agcflow.inputs.generate import generate_file

from .conftest import dataset_size, fault_settings, fileset_with, shared_cache

pytestmark = pytest.mark.faults

WJETS = ("wjets", "nominal")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, fault_fileset) -> dict[str, tuple[Path, int]]:
    """name: (path, the nevts a fileset would declare for it)."""
    base = tmp_path_factory.mktemp("bad_inputs")
    real = json.loads(fault_fileset.read_text())["wjets"]["nominal"]["files"][0]
    corrupt = base / "corrupt.root"
    corrupt.write_bytes(b"root" + bytes(range(256)) * 40)
    truncated = base / "truncated.root"
    truncated.write_bytes(Path(real["path"]).read_bytes()[: Path(real["path"]).stat().st_size // 2])
    notree = base / "notree.root"
    with uproot.recreate(notree) as out:
        out["jet_pt"] = hist.Hist.new.Reg(10, 0, 100).Double()
    empty = base / "empty.root"
    generate_file(empty, CMS_TTBAR, "wjets", "nominal", 0, seed=1)
    return {"corrupt": (corrupt, 100), "truncated": (truncated, real["nevts"]), "notree": (notree, 10),
            "empty": (empty, 0)}


@pytest.mark.parametrize("name", ["corrupt", "truncated", "notree"])
def test_strict_mode_fails_naming_the_file(name, bad_files, fault_fileset, fault_base, tmp_path, dask_client):
    path, nevts = bad_files[name]
    fileset = fileset_with(fault_fileset, tmp_path / "fileset.json", WJETS, [(path, nevts)])
    settings = fault_settings(tmp_path, fileset, shared_cache(fault_base))
    with pytest.raises(InputFileError, match=f"{path}: ") as err:
        pipeline.run_delivery(settings, tmp_path / "manifest.json", client=dask_client, progress=False)
    if name == "notree":
        assert "no tree 'Events' (no such key); trees in the file: []" in str(err.value)
    assert not (tmp_path / "manifest.json").exists()


def test_empty_but_valid_file_contributes_zero_events_and_is_listed(bad_files, fault_fileset, fault_base, tmp_path,
                                                                     dask_client):
    path, _ = bad_files["empty"]
    fileset = fileset_with(fault_fileset, tmp_path / "fileset.json", WJETS, [(path, 0)])
    settings = fault_settings(tmp_path, fileset, shared_cache(fault_base))
    manifest = pipeline.run_delivery(settings, tmp_path / "manifest.json", client=dask_client, progress=False)
    records = {r.source: r for r in manifest.samples["wjets__nominal"].files}
    assert (records[str(path)].nevts_in, records[str(path)].nevts_out) == (0, 0)
    assert manifest.skipped == () and len(records) == 3
    assert manifest.events_in == dataset_size(fault_fileset)[1]


def test_skip_mode_lists_every_skipped_file_in_manifest_metrics_and_log(bad_files, fault_fileset, fault_base, tmp_path,
                                                                         dask_client, caplog):
    fileset = fileset_with(fault_fileset, tmp_path / "fileset.json", WJETS, list(bad_files.values()))
    settings = fault_settings(tmp_path, fileset, {**shared_cache(fault_base), "processing.skip_bad_files": True})
    bad = {str(bad_files[name][0]) for name in ("corrupt", "truncated", "notree")}
    with caplog.at_level(logging.WARNING, logger="agcflow"):
        manifest = pipeline.run_delivery(settings, tmp_path / "manifest.json", client=dask_client, progress=False)
        metrics = pipeline.run_processing(settings, tmp_path / "manifest.json", tmp_path / "histograms.root",
                                          tmp_path / "metrics.json", client=dask_client, progress=False)
    assert {s.path for s in manifest.skipped} == bad
    assert {s["path"] for s in metrics["skipped_files"]} == bad
    logged = [r.getMessage() for r in caplog.records if "skipping bad input file" in r.getMessage()]
    assert len(logged) == 3 and all(any(path in line for line in logged) for path in bad)
    sources = {r.source for r in manifest.samples["wjets__nominal"].files}
    assert str(bad_files["empty"][0]) in sources and not bad & sources
    assert metrics["events_processed"] == manifest.events_out > 0
