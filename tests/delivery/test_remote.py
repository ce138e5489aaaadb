"""Remote inputs on real sockets: a closed loopback port, a host that cannot resolve, and a
listening port that drops every connection (a transient failure)."""

import importlib.util
import logging
import socket
import threading
import time

import pytest

from agcflow.analyses.cms_ttbar import ANALYSIS as CMS_TTBAR
from agcflow.delivery.remote import check_reachable, host_port, open_root
from agcflow.errors import InputFileError, ServiceError
from agcflow.inputs.generate import generate_file
from agcflow.util.retry import RetryBudget, is_transient

QUICK = RetryBudget(attempts=3, backoff_s=0.05)


@pytest.fixture()
def closed_port():
    """A loopback port with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def dropping_server():
    """A loopback port that accepts connections and closes them unanswered; yields (port, count)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()


def test_closed_port_fails_quickly_naming_the_url(closed_port):
    url = f"https://127.0.0.1:{closed_port}/store/ttbar.root"
    start = time.perf_counter()
    with pytest.raises(InputFileError, match="is the network") as err:
        open_root(url, timeout_s=2, budget=QUICK)
    assert url in str(err.value)
    assert time.perf_counter() - start < 10


def test_unresolvable_host_fails_at_once_without_retries(caplog):
    url = "https://agcflow-no-such-host.invalid/store/ttbar.root"
    with caplog.at_level(logging.WARNING), pytest.raises(InputFileError) as err:
        open_root(url, timeout_s=2, budget=RetryBudget(attempts=3, backoff_s=5.0))
    assert url in str(err.value)
    assert "transient" not in caplog.text  # a 5 s backoff would have been logged (and waited)


def test_dropped_connections_are_retried_until_the_budget_is_spent(dropping_server, caplog):
    port, accepted = dropping_server
    url = f"http://127.0.0.1:{port}/store/ttbar.root"
    with caplog.at_level(logging.WARNING), pytest.raises(InputFileError, match=f"127.0.0.1:{port}"):
        open_root(url, timeout_s=2, budget=QUICK)
    assert caplog.text.count("transient error") == QUICK.attempts - 1
    assert "giving up after 3 attempts" in caplog.text
    assert len(accepted) >= QUICK.attempts


def test_xrootd_without_its_plugin_fails_at_once_naming_the_url(closed_port, caplog):
    url = f"root://127.0.0.1:{closed_port}//store/ttbar.root"
    if importlib.util.find_spec("fsspec_xrootd") is None:
        with caplog.at_level(logging.WARNING), pytest.raises(InputFileError, match="need the fsspec-xrootd") as err:
            open_root(url, timeout_s=2, budget=QUICK)
        assert url in str(err.value) and "transient" not in caplog.text
    else:
        with pytest.raises(InputFileError, match="is the network"):
            open_root(url, timeout_s=2, budget=QUICK)


def test_local_files_open_as_before(tmp_path):
    path = tmp_path / "ttbar.root"
    generate_file(path, CMS_TTBAR, "ttbar", "nominal", 200, seed=1)
    with open_root(str(path)) as handle:
        assert handle["Events"].num_entries == 200


def test_reachability_probe(closed_port, dropping_server):
    port, _ = dropping_server
    check_reachable(f"https://127.0.0.1:{port}/", 2, "service")  # listening: no error
    start = time.perf_counter()
    with pytest.raises(ServiceError, match=rf"service https://127.0.0.1:{closed_port}/x: no connection"):
        check_reachable(f"https://127.0.0.1:{closed_port}/x", 2, "service")
    assert time.perf_counter() - start < 3


def test_default_ports_and_unknown_schemes():
    assert host_port("https://xrootd-local.unl.edu:1094//store/a.root") == ("xrootd-local.unl.edu", 1094)
    assert host_port("root://eospublic.cern.ch//eos/a.root") == ("eospublic.cern.ch", 1094)
    assert host_port("https://servicex.af.uchicago.edu") == ("servicex.af.uchicago.edu", 443)
    with pytest.raises(InputFileError, match="valid schemes: http, https, root, xroot"):
        host_port("gsiftp://host/a.root")


def test_only_transient_errors_are_retried():
    assert is_transient(TimeoutError("read timed out")) and is_transient(ConnectionResetError())
    assert not is_transient(FileNotFoundError("404")) and not is_transient(ImportError("fsspec-xrootd"))
    assert not is_transient(socket.gaierror(-2, "Name or service not known"))
    assert not is_transient(ValueError("not a ROOT file"))
