"""dask-gateway for real: a dask-gateway-server on the loopback interface with its local backend
(workers are processes of this machine, as its UnsafeLocalBackend runs them), and agcflow's
``cluster.kind: gateway`` against it; a tls:// scheduler for ``cluster.kind: address``."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agcflow import stages as pipeline
from agcflow.compute.cluster import open_client
from agcflow.config import ClusterSettings, GatewaySettings, TlsSettings
from agcflow.errors import BackendError, ServiceError
from agcflow.processing import histograms

pytest.importorskip("dask_gateway_server")
pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
SERVER_CONFIG = """
from dask_gateway_server.options import Integer, Mapping, Options
c.DaskGateway.address = "127.0.0.1:{api_port}"
c.Proxy.address = "127.0.0.1:{proxy_port}"
c.DaskGateway.backend_class = "dask_gateway_server.backends.local.UnsafeLocalBackend"
c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = "agc-test"
c.ClusterConfig.scheduler_cmd = "{bin}/dask-scheduler"
c.ClusterConfig.worker_cmd = "{bin}/dask-worker"
c.ClusterConfig.idle_timeout = 120
c.Backend.cluster_options = Options(
    Integer("worker_cores", 1, min=1, max=2, label="Worker cores"),
    Mapping("environment", {{}}, label="Worker environment"),
    handler=lambda options: {{"worker_cores": options.worker_cores, "environment": options.environment}},
)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gateway_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("gateway")
    api_port, proxy_port = _free_port(), _free_port()
    (base / "config.py").write_text(SERVER_CONFIG.format(api_port=api_port, proxy_port=proxy_port, bin=BIN))
    log = open(base / "server.log", "w")
    server = subprocess.Popen([str(BIN / "dask-gateway-server"), "-f", "config.py"], cwd=base, stdout=log,
                              stderr=subprocess.STDOUT)
    address = f"http://127.0.0.1:{proxy_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{address}/api/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"dask-gateway-server did not start:\n{(base / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield address
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def _gateway_settings(address: str, **extra) -> ClusterSettings:
    os.environ["AGCFLOW_TEST_GATEWAY_PASSWORD"] = "agc-test"
    gateway = GatewaySettings(address=address, auth="basic", username="agc",
                              password_env="AGCFLOW_TEST_GATEWAY_PASSWORD", options=(("worker_cores", 1),))
    return ClusterSettings(**{"kind": "gateway", "workers": 2, "startup_timeout_s": 120, "gateway": gateway, **extra})


@pytest.mark.timeout(600)
def test_gateway_processing_pass_matches_local(gateway_server, tiny_settings, tiny_fileset, dask_client, tmp_path):
    def run(client, name):
        out = tmp_path / name
        settings = dataclasses.replace(
            tiny_settings, delivery=dataclasses.replace(tiny_settings.delivery, cache_dir=out / "cache"))
        pipeline.run_delivery(settings, out / "manifest.json", client=client, progress=False)
        metrics = pipeline.run_processing(settings, out / "manifest.json", out / "histograms.root",
                                          out / "metrics.json", client=client, progress=False)
        return histograms.load_root(out / "histograms.root"), metrics

    started = time.monotonic()
    with open_client(_gateway_settings(gateway_server)) as client:
        startup_s = time.monotonic() - started
        assert len(client.scheduler_info()["workers"]) == 2
        # cluster.worker_env reached the workers through the server's 'environment' option
        assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {"134217728"}
        gateway_hists, gateway_metrics = run(client, "gateway")
    local_hists, local_metrics = run(dask_client, "local")
    print(f"\n[gateway] 2 workers up in {startup_s:.1f} s; {len(gateway_hists)} histograms")
    assert gateway_metrics["events"] == local_metrics["events"] > 0
    assert len(gateway_hists) > 10 and histograms.compare(gateway_hists, local_hists) == []
    # the cluster is shut down on the server when the client closes
    from dask_gateway import BasicAuth, Gateway

    with Gateway(gateway_server, auth=BasicAuth("agc", "agc-test")) as gateway:
        deadline = time.monotonic() + 60
        while gateway.list_clusters():
            assert time.monotonic() < deadline, gateway.list_clusters()
            time.sleep(1)


def test_an_option_the_gateway_does_not_offer_is_refused(gateway_server):
    settings = _gateway_settings(gateway_server)
    settings = dataclasses.replace(settings, gateway=dataclasses.replace(settings.gateway, options=(("gpus", 1),)))
    with pytest.raises(BackendError, match="cluster.gateway.options.gpus: .* valid: environment, worker_cores"), \
            open_client(settings):
        pass


def test_an_unreachable_gateway_fails_naming_it():
    address = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ServiceError, match=f"the dask-gateway at {address} did not answer"), \
            open_client(_gateway_settings(address)):
        pass
    assert time.monotonic() - started < 30


def test_tls_scheduler_address(tmp_path):
    """A scheduler that speaks only TLS, reached through cluster.tls's PEM files."""
    from distributed import LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    files = {}
    for key, pem in (("ca_file", security.tls_ca_file), ("cert", security.tls_client_cert),
                     ("key", security.tls_client_key)):
        files[key] = tmp_path / f"{key}.pem"
        files[key].write_text(pem)
    with LocalCluster(n_workers=1, threads_per_worker=1, protocol="tls://", security=security,
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        tls = TlsSettings(**{key: str(path) for key, path in files.items()})
        with open_client(ClusterSettings(kind="address", address=cluster.scheduler_address, tls=tls)) as client:
            assert client.submit(sum, [1, 2, 3]).result() == 6
        missing = TlsSettings(ca_file=str(files["ca_file"]), cert=str(files["cert"]), key=str(tmp_path / "nope.pem"))
        with pytest.raises(BackendError, match="cluster.tls.key = .*nope.pem.*not a file"), \
                open_client(ClusterSettings(kind="address", address=cluster.scheduler_address, tls=missing)):
            pass
