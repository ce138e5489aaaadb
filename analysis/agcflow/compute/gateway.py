"""Dask clusters from a dask-gateway server, as the AGC's analysis facilities hand them out.

Called by :func:`agcflow.compute.cluster.open_client` for ``cluster.kind`` = ``gateway``; use that, not
this module. Every value of ``cluster.gateway`` left None comes from the Dask config's
``gateway.*`` keys (a facility's JupyterHub image sets them), so on such a facility
``cluster: {kind: gateway}`` is enough. The pool is ``adapt(minimum_workers, workers)`` when a
minimum is set, else a fixed ``scale(workers)``; the cluster is shut down on exit.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agcflow.config import ClusterSettings, GatewaySettings
from agcflow.errors import BackendError, ServiceError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def gateway_for(settings: GatewaySettings):
    """A ``dask_gateway.Gateway`` for ``settings``, its server checked to answer."""
    try:
        import dask_gateway
    except ImportError as err:
        raise BackendError("cluster.kind = 'gateway' needs the dask-gateway package: pip install dask-gateway") from err
    import dask

    address = settings.address or dask.config.get("gateway.address", None)
    if not address:
        raise BackendError("cluster.kind = 'gateway': no gateway address; set cluster.gateway.address "
                           "(e.g. https://gateway.example.org) or the Dask config's gateway.address")
    gateway = dask_gateway.Gateway(address=address, proxy_address=settings.proxy_address, auth=_auth(settings))
    try:
        gateway.list_clusters()  # one authenticated request: reachability and credentials
    except Exception as err:  # noqa: BLE001  (aiohttp, auth and HTTP errors alike)
        gateway.close()
        raise ServiceError(f"the dask-gateway at {address} did not answer ({type(err).__name__}: {err}); "
                           "check cluster.gateway.address, the network and your credentials") from err
    return gateway


def _auth(settings: GatewaySettings):
    if settings.auth != "basic":
        return settings.auth  # None: the Dask config's gateway.auth; kerberos/jupyterhub by name
    from dask_gateway import BasicAuth

    return BasicAuth(settings.username or getpass.getuser(), os.environ.get(settings.password_env))


def _with_worker_env(gateway, settings: ClusterSettings) -> tuple[tuple[str, Any], ...]:
    """The configured options, plus ``cluster.worker_env`` as the ``environment`` option where the
    server offers one and it is not set explicitly (Dask's default malloc trim halves throughput)."""
    wanted = dict(settings.gateway.options)
    if "environment" in gateway.cluster_options().keys() and "environment" not in wanted:
        wanted["environment"] = dict(settings.worker_env)
    elif "environment" not in wanted:
        log.info("this gateway offers no 'environment' option: cluster.worker_env is not applied to its workers")
    return tuple(sorted(wanted.items()))


def cluster_options(gateway, wanted: tuple[tuple[str, Any], ...]):
    """The server's cluster options with ``wanted`` applied; an option it does not offer is an error."""
    options = gateway.cluster_options()
    offered = sorted(options.keys())
    for key, value in wanted:
        if key not in offered:
            raise BackendError(f"cluster.gateway.options.{key}: this gateway offers no such option; "
                               f"valid: {', '.join(offered) or '(none)'}")
        try:
            options[key] = value
        except (TypeError, ValueError) as err:
            raise BackendError(f"cluster.gateway.options.{key} = {value!r}: {err}") from err
    return options


@contextlib.contextmanager
def gateway_client(settings: ClusterSettings) -> Iterator[Client]:
    """A client of a new gateway cluster; the cluster is shut down on exit."""
    from agcflow.compute.cluster import close_quietly, log_dashboard

    gateway = gateway_for(settings.gateway)
    try:
        cluster = gateway.new_cluster(cluster_options(gateway, _with_worker_env(gateway, settings)))
        try:
            minimum, maximum = _pool(settings)
            if minimum < maximum:
                cluster.adapt(minimum=minimum, maximum=maximum)
            else:
                cluster.scale(maximum)
            client = cluster.get_client(set_as_default=False)
            try:
                _wait_for_workers(client, max(1, minimum), settings, cluster.name)
                log.info("dask-gateway cluster %s at %s: %d..%d workers", cluster.name, gateway.address,
                         minimum, maximum)
                log_dashboard(client, settings)
                yield client
            finally:
                close_quietly(settings, client)
        finally:
            close_quietly(settings, _Shutdown(cluster))
    finally:
        gateway.close()


def _pool(settings: ClusterSettings) -> tuple[int, int]:
    maximum = settings.workers or 1
    minimum = maximum if settings.minimum_workers is None else settings.minimum_workers
    if minimum > maximum:
        raise BackendError(f"cluster.minimum_workers = {minimum} exceeds cluster.workers = {maximum}")
    return minimum, maximum


def _wait_for_workers(client, wanted: int, settings: ClusterSettings, name: str) -> None:
    started = time.monotonic()
    try:
        client.wait_for_workers(wanted, timeout=settings.startup_timeout_s)
    except TimeoutError as err:
        have = len(client.scheduler_info().get("workers", {}))
        raise ServiceError(
            f"dask-gateway cluster {name}: {have} of {wanted} workers connected within cluster.startup_timeout_s = "
            f"{settings.startup_timeout_s} s; the facility may be busy (raise the timeout) or refuse the "
            "requested resources (check cluster.gateway.options)"
        ) from err
    log.debug("%d gateway worker(s) up in %.1f s", wanted, time.monotonic() - started)


class _Shutdown:
    """``close(timeout=...)`` for a gateway cluster: shut it down on the server, not only disconnect."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster

    def close(self, timeout: float | None = None) -> None:
        self.cluster.shutdown()
