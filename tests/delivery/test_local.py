"""The local delivery executor on real ROOT files written with uproot."""

import os
import shutil

import awkward as ak
import pytest
import uproot

from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.analyses.cms_ttbar.query import LAYOUT, DeliveryQuery, preselection_mask
from agcflow.delivery.backends import deliver
from agcflow.delivery.local import deliver_file, merge_sample, read_columns
from agcflow.errors import InputFileError
from agcflow.inputs.fileset import InputFile, SampleFiles
from agcflow.inputs.generate import generate_file


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "ttbar.root"
    generate_file(path, CMS_TTBAR, "ttbar", "nominal", 5_000, seed=3)
    return path


@pytest.fixture()
def query(settings):
    return DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)


def test_func_adl_uproot_runs_the_same_query_with_the_same_result(ttbar_file, query):
    from func_adl_uproot import UprootDataset

    stream = UprootDataset(str(ttbar_file), "Events")
    for clause in query.where_clauses():
        stream = stream.Where(clause)
    reference = stream.Select(query.select_clause()).value()
    columns = uproot.open(ttbar_file)["Events"].arrays(LAYOUT.branch_names(), how=dict)
    mask = preselection_mask(columns, query)
    assert 0 < mask.sum() < len(mask)
    assert len(reference) == mask.sum()
    for name in ("event", "Jet_pt", "Electron_cutBased", "Muon_tightId"):
        assert ak.to_list(reference[name]) == ak.to_list(columns[name][mask]), name


def test_selection_is_cached_and_merged_into_a_nanoaod_skim(ttbar_file, query, tmp_path):
    first = deliver_file(str(ttbar_file), "Events", query, str(tmp_path), 5_000)
    assert (first.nevts_in, first.cached) == (5_000, False)
    columns = read_columns(first.columns)
    assert len(columns["event"]) == first.nevts_out > 0
    assert columns["nJet"].sum() == len(columns["Jet_pt"])
    second = deliver_file(str(ttbar_file), "Events", query, str(tmp_path), 5_000)
    assert second.cached and second.columns == first.columns and second.nevts_out == first.nevts_out
    skim = merge_sample([first.columns, first.columns], str(tmp_path), LAYOUT)
    events = uproot.open(skim.path)["Events"]
    assert events.num_entries == skim.nevts == 2 * first.nevts_out
    assert {"nJet", "Jet_pt", "Electron_charge", "Muon_tightId", "event"} <= set(events.keys())
    assert events.file.fUUID.hex() == skim.uuid
    assert ak.to_list(events["Jet_pt"].array()[: first.nevts_out]) == ak.to_list(
        ak.unflatten(columns["Jet_pt"], columns["nJet"]))
    assert merge_sample([first.columns, first.columns], str(tmp_path), LAYOUT).cached


def test_cache_misses_when_the_query_or_the_file_changes(ttbar_file, query, tmp_path, settings):
    import dataclasses

    first = deliver_file(str(ttbar_file), "Events", query, str(tmp_path), None)
    looser = DeliveryQuery(dataclasses.replace(query.preselection, jet_pt_min=20.0), query.cuts)
    again = deliver_file(str(ttbar_file), "Events", looser, str(tmp_path), None)
    assert again.columns != first.columns and not again.cached and again.nevts_out > first.nevts_out
    copy = tmp_path / "copy.root"
    shutil.copy(ttbar_file, copy)
    os.utime(copy, ns=(1, 1))
    assert deliver_file(str(copy), "Events", query, str(tmp_path), None).columns != first.columns


def test_missing_file_is_named(query, tmp_path):
    with pytest.raises(InputFileError, match="nowhere.root: input file not found"):
        deliver_file(str(tmp_path / "nowhere.root"), "Events", query, str(tmp_path), None)


def test_corrupt_and_truncated_files_are_named(ttbar_file, query, tmp_path):
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(b"this is not a ROOT file" * 100)
    with pytest.raises(InputFileError, match="corrupt.root: cannot read tree 'Events'"):
        deliver_file(str(corrupt), "Events", query, str(tmp_path), None)
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(ttbar_file.read_bytes()[: ttbar_file.stat().st_size // 2])
    with pytest.raises(InputFileError, match="truncated.root"):
        deliver_file(str(truncated), "Events", query, str(tmp_path), None)


def test_wrong_tree_and_short_file_are_named(ttbar_file, query, tmp_path):
    with pytest.raises(InputFileError, match="no tree 'Tree'"):
        deliver_file(str(ttbar_file), "Tree", query, str(tmp_path), None)
    with pytest.raises(InputFileError, match="5000 entries, but the fileset says 6000"):
        deliver_file(str(ttbar_file), "Events", query, str(tmp_path), 6_000)


def test_strict_mode_fails_and_skip_mode_records_bad_files(ttbar_file, settings, tmp_path, dask_client):
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"\0" * 1000)
    sample = SampleFiles("ttbar", "nominal", (InputFile(str(ttbar_file), 5_000), InputFile(str(bad), 100)))
    args = ([sample], settings.delivery, settings.analysis, dask_client)
    import dataclasses

    delivery = dataclasses.replace(settings.delivery, cache_dir=tmp_path / "cache")
    with pytest.raises(InputFileError, match="bad.root"):
        deliver([sample], delivery, *args[2:], progress=False)
    manifest = deliver([sample], delivery, *args[2:], skip_bad_files=True, progress=False)
    assert [s.path for s in manifest.skipped] == [str(bad)]
    assert manifest.samples["ttbar__nominal"].nevts_total == 5_000
    assert manifest.events_in == 5_000


def test_unreachable_remote_file_fails_clearly_and_quickly(query, tmp_path):
    import socket
    import time

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"https://127.0.0.1:{port}/store/ttbar.root"
    start = time.perf_counter()
    with pytest.raises(InputFileError, match="is the network") as err:
        deliver_file(url, "Events", query, str(tmp_path), None)
    assert url in str(err.value)
    assert time.perf_counter() - start < 60
