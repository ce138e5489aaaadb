"""The servicex backend: the request built from the config and the AGC list, the unreachable
endpoint on a closed loopback port, and checks of delivered files on real ROOT files written the
way ServiceX's uproot transformer writes them (its generated query run by func_adl_uproot).
No server is faked: what needs a live ServiceX is not tested here."""

import dataclasses
import logging
import socket
import time

import awkward as ak
import numpy as np
import pytest
import uproot

from agcflow import config
from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.analyses.cms_ttbar.query import LAYOUT, DeliveryQuery, preselection_mask
from agcflow.config import ServiceXSettings
from agcflow.delivery.backends import deliver
from agcflow.delivery.local import deliver_file, merge_sample, read_columns
from agcflow.delivery.servicex import (
    OUTPUT_TREE,
    SampleRequest,
    build_requests,
    check_delivered,
    collect,
    convert_delivered,
    find_config,
    read_endpoint,
    servicex_spec,
)
from agcflow.errors import BackendError, ConfigError, InputFileError, ServiceError
from agcflow.inputs.fileset import InputFile, SampleFiles, load_samples
from agcflow.inputs.generate import generate_file
from agcflow.util.io import read_json
from conftest import CONFIG, REFERENCE

AGC_LIST = REFERENCE / "agc-reference/nanoaod_inputs.json"
TOKEN = "SECRET-TOKEN-do-not-print"


@pytest.fixture()
def query(settings):
    return DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)


@pytest.fixture(scope="module")
def agc_samples(settings):
    return load_samples(AGC_LIST, settings.analysis, files_per_sample=2)


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "ttbar.root"
    generate_file(path, CMS_TTBAR, "ttbar", "nominal", 4_000, seed=5)
    return path


def request_for(query, n_inputs=1) -> SampleRequest:
    files = tuple(InputFile(f"root://eos.example.org//store/ttbar_{i}.root", 4_000) for i in range(n_inputs))
    return build_requests([SampleFiles("ttbar", "nominal", files)], query, "Events")[0]


def transformed(request: SampleRequest, source, path):
    """What ServiceX's uproot transformer writes for ``source``: the generated query's output,
    one branch per column, in tree 'servicex' (float64 placeholders when nothing passed)."""
    from func_adl_uproot import generate_function

    output = generate_function(request.qastle())(input_filenames=str(source))
    with uproot.recreate(path) as writer:
        if len(output):
            writer.mktree(OUTPUT_TREE, {field: output[field] for field in output.fields})
        else:
            writer.mktree(OUTPUT_TREE, {field: np.array([]) for field in output.fields})
    return path


@pytest.fixture(scope="module")
def delivered(settings, ttbar_file, tmp_path_factory):
    query = DeliveryQuery(settings.delivery.preselection, settings.analysis.options.cuts)
    return transformed(request_for(query), ttbar_file, tmp_path_factory.mktemp("servicex") / "ttbar.root")


@pytest.fixture()
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_servicex_yaml(path, endpoints, default=None):
    lines = ["api_endpoints:"]
    for name, url in endpoints.items():
        lines += [f"  - name: {name}", f"    endpoint: {url}", f"    token: {TOKEN}"]
    if default:
        lines.append(f"default-endpoint: {default}")
    path.write_text("\n".join(lines) + "\n")
    return path


# --- request construction ---------------------------------------------------------------


def test_one_request_per_sample_from_the_agc_list(agc_samples, query, settings):
    requests = build_requests(agc_samples, query, settings.analysis.tree)
    assert [r.name for r in requests] == [s.key for s in agc_samples]
    assert {"ttbar__nominal", "ttbar__PS_var", "wjets__nominal"} <= {r.name for r in requests}
    listed = read_json(AGC_LIST)
    for request, sample in zip(requests, agc_samples):
        assert request.query == query.func_adl_text()
        assert request.tree == "Events"
        assert request.dataset == "FileList" and request.expected_files == 2
        files = listed[sample.process][sample.variation]["files"][:2]
        assert request.inputs == tuple(f["path"] for f in files)
        assert request.nevts_total == sum(f["nevts"] for f in files)


def test_the_qastle_sent_selects_what_the_local_backend_selects(query, ttbar_file):
    from func_adl_uproot import generate_function

    request = request_for(query)
    assert "'Events'" in request.qastle() and "Electron_sip3d" in request.qastle()
    remote = generate_function(request.qastle())(input_filenames=str(ttbar_file))
    columns = uproot.open(ttbar_file)["Events"].arrays(LAYOUT.branch_names(), how=dict)
    mask = preselection_mask(columns, query)
    assert 0 < mask.sum() < len(mask) and len(remote) == mask.sum()
    for name in ("event", "Jet_pt", "Muon_pfRelIso04_all", "Electron_cutBased"):
        assert ak.to_list(remote[name]) == ak.to_list(columns[name][mask]), name


def test_rucio_and_xrootd_datasets_and_invalid_inputs(query, tmp_path):
    def kind(*paths, nevts=10):
        sample = SampleFiles("wjets", "nominal", tuple(InputFile(p, nevts) for p in paths))
        return build_requests([sample], query, "Events")[0]

    rucio = kind("rucio://cms:/WJetsToLNu/RunIIFall15/NANOAODSIM")
    assert (rucio.dataset, rucio.inputs, rucio.expected_files) == ("Rucio", ("cms:/WJetsToLNu/RunIIFall15/NANOAODSIM",),
                                                                  None)
    assert kind("root://eos.example.org//store/wjets/*.root").dataset == "XRootD"
    local = str(tmp_path / "wjets.root")
    with pytest.raises(ConfigError, match=r"sample wjets__nominal: .*wjets.root.* valid: file URLs"):
        kind("https://host.example.org/a.root", local)
    with pytest.raises(InputFileError, match="wjets__nominal: the fileset gives no 'nevts'"):
        kind("https://host.example.org/a.root", nevts=None)


def test_servicex_spec_carries_the_same_query(agc_samples, query):
    import servicex  # a dependency: never skipped
    requests = build_requests(agc_samples[:3], query, "Events")
    spec = servicex_spec(requests, ignore_cache=True)
    assert isinstance(spec, servicex.ServiceXSpec)
    assert spec.General.OutputFormat == servicex.OutputFormat.root_ttree
    assert spec.General.Delivery == servicex.Delivery.LocalCache
    assert [s.Name for s in spec.Sample] == [r.name for r in requests]
    for sample, request in zip(spec.Sample, requests):
        assert sample.dataset_identifier.files == list(request.inputs)
        assert sample.Query.generate_selection_string() == request.qastle()
        assert sample.Query.default_codegen == "uproot" and sample.IgnoreLocalCache
    rucio = build_requests([SampleFiles("wjets", "nominal", (InputFile("rucio://cms:ds", 5),))], query, "Events")
    assert servicex_spec(rucio).Sample[0].dataset_identifier.did == "rucio://cms:ds"


# --- endpoint configuration and reachability ---------------------------------------------


def test_unreachable_endpoint_fails_within_seconds_naming_it(agc_samples, settings, tmp_path, closed_port, caplog):
    url = f"http://127.0.0.1:{closed_port}"
    path = write_servicex_yaml(tmp_path / "servicex.yaml", {"uc-af": url})
    delivery = dataclasses.replace(settings.delivery, backend="servicex", servicex=ServiceXSettings(
        endpoint="uc-af", config=path, connect_timeout_s=1.0))
    start = time.perf_counter()
    with caplog.at_level(logging.DEBUG), pytest.raises(ServiceError) as err:
        # nothing reaches the cluster before the endpoint answers: no client is needed
        deliver(agc_samples, delivery, settings.analysis, client=None, progress=False)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert f"ServiceX endpoint 'uc-af' {url}: no connection to 127.0.0.1:{closed_port} within 1 s" in message
    assert str(path) in message and "connect_timeout_s" in message
    assert TOKEN not in message and TOKEN not in caplog.text


def test_endpoint_choice_and_config_errors(tmp_path, monkeypatch):
    path = write_servicex_yaml(tmp_path / "servicex.yaml", {"a": "https://a.example.org", "b": "https://b.example.org"},
                               default="b")
    assert read_endpoint(path, None).url == "https://b.example.org"
    assert read_endpoint(path, "a").name == "a"
    with pytest.raises(ConfigError, match="delivery.servicex.endpoint = 'c': no such endpoint .* valid: a, b"):
        read_endpoint(path, "c")
    bad = write_servicex_yaml(tmp_path / "bad.yaml", {"a": "servicex.example.org"})
    with pytest.raises(ConfigError, match="endpoint 'a' = 'servicex.example.org': not an http"):
        read_endpoint(bad, None)
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"api_endpoints:\n  - name: a\n    token: {TOKEN}: [\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        read_endpoint(broken, None)
    assert TOKEN not in str(err.value)
    with pytest.raises(ConfigError, match="delivery.servicex.config = .*nowhere.yaml.: file not found"):
        find_config(tmp_path / "nowhere.yaml")
    nested = tmp_path / "project" / "sub"
    nested.mkdir(parents=True)
    assert find_config(None, start=nested) == path.resolve()  # the client's search: up the tree
    monkeypatch.setenv("HOME", str(nested))
    path.unlink()
    with pytest.raises(ConfigError, match="no ServiceX configuration .* set delivery.servicex.config"):
        find_config(None, start=nested)


def test_backend_names_are_checked(settings):
    with pytest.raises(BackendError, match="delivery.backend = 'nope': unknown; valid: local, servicex"):
        deliver([], dataclasses.replace(settings.delivery, backend="nope"), settings.analysis, None)
    with pytest.raises(ConfigError, match='delivery.backend = "nope": unknown; valid: local, servicex'):
        config.load(CONFIG, {"delivery.backend": "nope"})
    assert config.load(CONFIG, {"delivery.backend": "servicex"}).delivery.servicex.connect_timeout_s == 5


# --- delivered files ---------------------------------------------------------------------


def test_a_good_delivery_passes_with_its_entries(delivered, query, ttbar_file):
    entries = check_delivered(request_for(query), [str(delivered)])
    columns = uproot.open(ttbar_file)["Events"].arrays(LAYOUT.branch_names(), how=dict)
    assert entries == [int(preselection_mask(columns, query).sum())]


def test_bad_deliveries_are_named(delivered, query, tmp_path):
    empty, corrupt, wrong_tree = tmp_path / "empty.root", tmp_path / "corrupt.root", tmp_path / "events.root"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"not a ROOT file" * 200)
    with uproot.recreate(wrong_tree) as out:
        out["Events"] = {"event": np.arange(3)}
    cases = {
        str(empty): "empty.root: empty (0 bytes)",
        str(corrupt): "corrupt.root: not a readable ROOT file",
        str(tmp_path / "gone.root"): "gone.root: missing",
        str(wrong_tree): "events.root: no tree 'servicex'; the file holds ['Events']",
    }
    for path, problem in cases.items():
        with pytest.raises(ServiceError, match="ServiceX sample ttbar__nominal: unusable delivered files") as err:
            check_delivered(request_for(query), [str(delivered), path])
        assert problem in str(err.value) and str(delivered) not in str(err.value)


def test_a_short_delivery_is_named(delivered, query):
    with pytest.raises(ServiceError, match=r"ttbar__nominal: 1 files delivered for 2 expected .*ttbar_1.root") as err:
        check_delivered(request_for(query, n_inputs=2), [str(delivered)])
    assert str(delivered) in str(err.value)
    with pytest.raises(ServiceError, match="0 files delivered for at least 1 expected"):
        check_delivered(dataclasses.replace(request_for(query), dataset="Rucio"), [])


def test_missing_columns_are_named(query, tmp_path):
    partial = tmp_path / "partial.root"
    with uproot.recreate(partial) as out:
        out.mktree(OUTPUT_TREE, {"event": np.arange(3), "Jet_pt": ak.Array([[30.0], [], [40.0]])})
    with pytest.raises(ServiceError, match=r"partial.root: tree 'servicex' lacks the query's columns \['Electron_"):
        check_delivered(request_for(query), [str(partial)])


def test_delivered_files_become_the_same_columns_and_skim_as_local(delivered, query, ttbar_file, tmp_path):
    remote = convert_delivered(str(delivered), query, str(tmp_path))
    local = deliver_file(str(ttbar_file), "Events", query, str(tmp_path), None)
    assert remote.nevts_out == local.nevts_out > 0 and remote.nevts_in == 0
    ours, theirs = read_columns(remote.columns), read_columns(local.columns)
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert convert_delivered(str(delivered), query, str(tmp_path)).cached
    skim = merge_sample([remote.columns], str(tmp_path), LAYOUT)
    assert uproot.open(skim.path)["Events"].num_entries == skim.nevts == remote.nevts_out


def test_a_delivered_file_without_events_gives_no_columns(query, ttbar_file, tmp_path, settings):
    strict = DeliveryQuery(dataclasses.replace(settings.delivery.preselection, min_jets=99), settings.analysis.options.cuts)
    request = dataclasses.replace(request_for(query), query=strict.func_adl_text())
    path = transformed(request, ttbar_file, tmp_path / "none.root")
    assert check_delivered(request, [str(path)]) == [0]
    record = convert_delivered(str(path), strict, str(tmp_path))
    assert (record.nevts_out, record.columns) == (0, "")
    assert convert_delivered(str(path), strict, str(tmp_path)).cached


def test_collect_turns_deliveries_into_one_skim_per_sample(delivered, query, ttbar_file, settings, tmp_path,
                                                           dask_client):
    strict = DeliveryQuery(dataclasses.replace(settings.delivery.preselection, min_jets=99), settings.analysis.options.cuts)
    nothing = transformed(dataclasses.replace(request_for(query), query=strict.func_adl_text()), ttbar_file,
                          tmp_path / "none.root")
    requests = [request_for(query), dataclasses.replace(request_for(query), name="wjets__nominal")]
    files = {"ttbar__nominal": [str(delivered)], "wjets__nominal": [str(nothing)]}
    records, skims = collect(requests, files, query, str(tmp_path / "cache"), dask_client)
    assert [r.source for r in records["ttbar__nominal"]] == [str(delivered)]
    ttbar = skims["ttbar__nominal"]
    assert ttbar.nevts == records["ttbar__nominal"][0].nevts_out > 0
    events = uproot.open(ttbar.path)["Events"]
    assert {"nJet", "Jet_pt", "nMuon", "Muon_tightId", "event"} <= set(events.keys())
    assert events.file.fUUID.hex() == ttbar.uuid
    assert (skims["wjets__nominal"].nevts, records["wjets__nominal"][0].nevts_out) == (0, 0)
    with pytest.raises(ServiceError, match="wjets__nominal: 0 files delivered"):
        collect(requests, {"ttbar__nominal": [str(delivered)]}, query, str(tmp_path / "cache"), dask_client)
