"""The H->ZZ*->4l delivery query: its func_adl text run by func_adl_uproot (what ServiceX's
uproot transformer runs) on a generated ``mini`` file selects the same events and computes the
same scale-factor columns as the local backend; the ServiceX request of the slice is built from
the real ATLAS Open Data file list. No server is faked; the network is never used."""

from __future__ import annotations

import dataclasses
import re

import awkward as ak
import numpy as np
import pytest
import uproot

from agcflow.analyses.atlas_hzz import ANALYSIS as ATLAS_HZZ
from agcflow.analyses.atlas_hzz.query import LAYOUT, SCALE_FACTORS
from agcflow.delivery.local import deliver_file, read_columns
from agcflow.delivery.servicex import OUTPUT_TREE, build_requests, check_delivered, convert_delivered, servicex_spec
from agcflow.inputs.fileset import InputFile, SampleFiles
from agcflow.inputs.generate import generate_file
from agcflow.util.io import read_json
from conftest import REFERENCE

N_EVENTS = 3_000
OPEN_DATA = REFERENCE / "atlas-open-data-4lep" / "inputs.json"
DERIVED = ("scaleFactor", "scaleFactorUP", "scaleFactorDOWN")


@pytest.fixture(scope="module")
def query(hzz_settings):
    return ATLAS_HZZ.delivery_query(hzz_settings.analysis, hzz_settings.delivery.preselection)


@pytest.fixture(scope="module")
def mini_file(tmp_path_factory):
    """WH: the W's lepton makes five-lepton events, which the query drops."""
    path = tmp_path_factory.mktemp("mini") / "WH.root"
    generate_file(path, ATLAS_HZZ, "WH125_ZZ4lep", "nominal", N_EVENTS, seed=11, tree="mini")
    return path


@pytest.fixture(scope="module")
def inputs(mini_file):
    """Every input branch of the file, and which events have exactly four leptons."""
    columns = uproot.open(mini_file)["mini"].arrays(LAYOUT.branch_names())
    four = ak.to_numpy(columns["lep_n"] == 4)
    assert 0 < four.sum() < len(four)
    return columns, four


@pytest.fixture(scope="module")
def local(mini_file, query, tmp_path_factory):
    record = deliver_file(str(mini_file), "mini", query, str(tmp_path_factory.mktemp("cache")), N_EVENTS)
    return record, read_columns(record.columns)


def assert_same_delivery(delivered, local_columns, inputs):
    """func_adl's output (one field per selected column, per-lepton lists) equals the local
    backend's flat columns and the input events with four leptons."""
    columns, four = inputs
    assert len(delivered) == four.sum() == len(local_columns["eventNumber"])
    assert set(delivered.fields) == set(LAYOUT.selected_names())
    for name in LAYOUT.event:
        np.testing.assert_array_equal(ak.to_numpy(delivered[name]), local_columns[name], err_msg=name)
        np.testing.assert_array_equal(local_columns[name], ak.to_numpy(columns[name][four]), err_msg=name)
    for field in LAYOUT.collections["lep"]:
        name = f"lep_{field}"
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(delivered[name])), local_columns[name], err_msg=name)
        assert ak.to_list(delivered[name]) == ak.to_list(columns[name][four]), name
    np.testing.assert_array_equal(local_columns["nlep"], np.full(four.sum(), 4))
    for name in DERIVED:
        np.testing.assert_array_equal(ak.to_numpy(delivered[name]), local_columns[name], err_msg=name)


def test_func_adl_uproot_runs_the_same_query_with_the_same_result(mini_file, query, inputs, local):
    from func_adl_uproot import UprootDataset

    delivered = UprootDataset(str(mini_file), "mini").Where(query.where_clause()).Select(query.select_clause()).value()
    _, columns = local
    assert_same_delivery(delivered, columns, inputs)


def test_the_derived_columns_are_the_product_of_the_scale_factors_and_its_variations(inputs, local, hzz_settings):
    events, four = inputs
    _, columns = local
    product = np.prod([ak.to_numpy(events[name][four]).astype(np.float64) for name in SCALE_FACTORS], axis=0)
    assert np.std(product) > 0.01  # per-event scale factors, not a constant
    np.testing.assert_allclose(columns["scaleFactor"], product, rtol=1e-6)
    x = hzz_settings.analysis.options.variations.scale_factor
    np.testing.assert_allclose(columns["scaleFactorUP"], product * (1 + x), rtol=1e-6)
    np.testing.assert_allclose(columns["scaleFactorDOWN"], product * (1 - x), rtol=1e-6)
    assert not set(SCALE_FACTORS) & set(columns)  # the factors are read, not delivered


def test_func_adl_text_carries_the_configured_lepton_count_and_variation(hzz_settings):
    analysis = hzz_settings.analysis
    looser = dataclasses.replace(analysis.options, variations=dataclasses.replace(analysis.options.variations,
                                                                                   scale_factor=0.2))
    text = ATLAS_HZZ.delivery_query(dataclasses.replace(analysis, options=looser),
                                    dataclasses.replace(hzz_settings.delivery.preselection, lep_n=5)).func_adl_text()
    assert "e.lep_n == 5" in text and "* 1.2" in text and "* 0.8" in text


# --- the ServiceX request -----------------------------------------------------------------


def open_data_samples(analysis) -> list[SampleFiles]:
    """The configured samples with the real ATLAS Open Data files (data: periods A-D); the event
    counts only serve the normalisation bookkeeping here."""
    listed = [url for urls in read_json(OPEN_DATA)["files"].values() for url in urls]
    samples = []
    for sample in analysis.samples:
        pattern = r"/data_[A-D]\.4lep\.root$" if sample.data else rf"\.{re.escape(sample.name)}\.4lep\.root$"
        urls = [url for url in listed if re.search(pattern, url)]
        assert urls, sample.name
        samples.append(SampleFiles(sample.name, "nominal", tuple(InputFile(url, 1_000) for url in urls)))
    return samples


def test_one_servicex_sample_per_dataset_with_the_query_and_tree_mini(hzz_settings, query):
    import servicex  # a dependency: never skipped

    samples = open_data_samples(hzz_settings.analysis)
    requests = build_requests(samples, query, hzz_settings.analysis.tree)
    assert [r.name for r in requests] == [f"{s.name}__nominal" for s in hzz_settings.analysis.samples]
    data = next(r for r in requests if r.name == "data__nominal")
    assert len(data.inputs) == 4 and data.nevts_total == 4_000
    for request, sample in zip(requests, samples):
        assert request.query == query.func_adl_text() and request.tree == "mini"
        assert request.dataset == "FileList" and request.inputs == tuple(f.path for f in sample.files)
        assert request.columns == LAYOUT.selected_names()
        qastle = request.qastle()
        assert "'mini'" in qastle and "lep_n" in qastle and "scaleFactor_PILEUP" in qastle and "Events" not in qastle
    spec = servicex_spec(requests)
    assert spec.General.OutputFormat == servicex.OutputFormat.root_ttree
    assert [s.Name for s in spec.Sample] == [r.name for r in requests]
    for sample, request in zip(spec.Sample, requests):
        assert sample.dataset_identifier.files == list(request.inputs)
        assert sample.Query.generate_selection_string() == request.qastle()
        assert sample.Query.default_codegen == "uproot"


def test_what_servicex_would_deliver_becomes_the_local_columns(hzz_settings, query, mini_file, inputs, local, tmp_path):
    from func_adl_uproot import generate_function

    request = build_requests([SampleFiles("WH125_ZZ4lep", "nominal", (InputFile("root://eos.example.org//WH.root",
                                                                                   N_EVENTS),))],
                             query, "mini")[0]
    output = generate_function(request.qastle())(input_filenames=str(mini_file))  # the transformer's code
    _, columns = local
    assert_same_delivery(output, columns, inputs)
    delivered = tmp_path / "servicex.root"
    with uproot.recreate(delivered) as writer:
        writer.mktree(OUTPUT_TREE, {field: output[field] for field in output.fields})
    assert check_delivered(request, [str(delivered)]) == [len(columns["eventNumber"])]
    remote = read_columns(convert_delivered(str(delivered), query, str(tmp_path)).columns)
    assert remote.keys() == columns.keys()
    for name in columns:
        np.testing.assert_array_equal(remote[name], columns[name], err_msg=name)
