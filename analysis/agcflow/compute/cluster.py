"""The one place that creates Dask clusters and clients.

Kinds: ``local`` (a ``distributed.LocalCluster`` of worker processes), ``address`` (an
existing scheduler, ``tcp://`` or ``tls://`` with ``cluster.tls``), ``gateway`` (a cluster from a
dask-gateway server; see :mod:`agcflow.compute.gateway`) and the batch systems ``slurm`` and ``htcondor``
(dask-jobqueue's ``SLURMCluster``/``HTCondorCluster``, one worker per batch job; see
:mod:`agcflow.compute.jobqueue`).
Every kind sets the Dask failure budget ``distributed.scheduler.allowed-failures`` from
``cluster.allowed_failures`` where it starts the scheduler.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from agcflow.config import ClusterSettings
from agcflow.config.enums import BATCH_KINDS, CLUSTER_KINDS, address_problem
from agcflow.errors import BackendError, ConfigError, ServiceError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)



@contextlib.contextmanager
def open_client(settings: ClusterSettings, preload: Sequence[str] = ()) -> Iterator[Client]:
    """Yield a Dask client for ``settings.kind``; close what was started on exit.

    Args:
        settings: the cluster settings.
        preload: modules every worker imports at start-up rather than inside its first task
            (the caller's stage names them; this module knows no stage).
    """
    with _client_of_kind(settings) as client:
        if preload:
            client.run(import_modules, tuple(preload))
        yield client


def _client_of_kind(settings: ClusterSettings) -> contextlib.AbstractContextManager[Client]:
    if settings.kind == "local":
        return _local_client(settings)
    if settings.kind == "address":
        return _address_client(settings)
    if settings.kind == "gateway":
        from agcflow.compute.gateway import gateway_client

        return gateway_client(settings)
    if settings.kind in BATCH_KINDS:
        from agcflow.compute.jobqueue import batch_client

        return batch_client(settings)
    raise BackendError(f"cluster kind {settings.kind!r} unknown; valid: {', '.join(CLUSTER_KINDS)}")


def import_modules(names: tuple[str, ...]) -> None:
    """Import ``names`` (run on each worker by :func:`open_client`)."""
    for name in names:
        importlib.import_module(name)


@contextlib.contextmanager
def _local_client(settings: ClusterSettings) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    check_local_size(settings)
    # The nanny's default MALLOC_TRIM_THRESHOLD_=65536 halves coffea's throughput; the
    # worker environment is therefore set explicitly from the configuration.
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in settings.worker_env}
    environ["distributed.scheduler.allowed-failures"] = settings.allowed_failures
    with dask.config.set(environ):
        cluster = LocalCluster(
            n_workers=settings.n_workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            dashboard_address=settings.dashboard,  # None: no dashboard (the bare HTTP server stays)
        )
    client = Client(cluster)
    try:
        try:
            client.wait_for_workers(settings.n_workers, timeout=settings.startup_timeout_s)
        except TimeoutError as err:
            raise ServiceError(
                f"{len(client.scheduler_info()['workers'])} of {settings.n_workers} local Dask workers started "
                f"within cluster.startup_timeout_s = {settings.startup_timeout_s} s (load average "
                f"{os.getloadavg()[0]:.1f} on {usable_cores()} cores); check the machine's load and memory, "
                "then raise cluster.startup_timeout_s or lower cluster.workers"
            ) from err
        log.info("local Dask cluster: %d workers x %d threads; allowed-failures = %d",
                 settings.n_workers, settings.threads_per_worker, settings.allowed_failures)
        log_dashboard(client, settings)
        yield client
    finally:
        close_quietly(settings, client, cluster)


@contextlib.contextmanager
def _address_client(settings: ClusterSettings) -> Iterator[Client]:
    from distributed import Client

    problem = address_problem(settings.address)
    if problem:
        raise ConfigError(problem)
    try:
        client = Client(settings.address, timeout=f"{settings.startup_timeout_s}s", security=_security(settings))
    except (OSError, TimeoutError) as err:
        raise ServiceError(
            f"cannot reach the Dask scheduler at cluster.address = {settings.address!r} "
            f"within {settings.startup_timeout_s} s ({err}); is the scheduler running?"
        ) from err
    try:
        log_dashboard(client, settings)
        yield client
    finally:
        close_quietly(settings, client)


def _security(settings: ClusterSettings):
    """TLS client security for a ``tls://`` scheduler address (None for plain TCP)."""
    if not str(settings.address).startswith("tls://"):
        return None
    from distributed.security import Security

    tls = settings.tls
    for key in ("ca_file", "cert", "key"):
        path = getattr(tls, key)
        if not path or not os.path.isfile(path):
            raise BackendError(f"cluster.tls.{key} = {path!r}: not a file; a tls:// cluster.address needs the "
                               "CA, certificate and key as PEM files")
    return Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert, tls_client_key=tls.key,
                    require_encryption=True)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_local_size(settings: ClusterSettings) -> None:
    """Refuse a local cluster larger than this machine before starting any process."""
    wanted, cores = settings.n_workers * settings.threads_per_worker, usable_cores()
    if wanted > cores:
        raise BackendError(
            f"cluster.workers = {settings.n_workers} x cluster.threads_per_worker = {settings.threads_per_worker} "
            f"= {wanted} threads, but this machine gives {cores} cores; use at most {cores} in all "
            "(cluster.workers: 0 takes one worker per core), or a batch cluster.kind for more"
        )


def log_dashboard(client: Client, settings: ClusterSettings) -> None:
    """Log the Dask dashboard's link at INFO, as the AGC's notebooks print it (``cluster.dashboard``
    null: none is served, and the scheduler's bare HTTP server is not announced as one)."""
    if not settings.dashboard:
        return
    try:
        link = client.dashboard_link
    except (KeyError, AttributeError):
        link = None
    if link:
        log.info("Dask dashboard: %s", link)


def close_quietly(settings: ClusterSettings, *closables) -> None:
    """Close clients and clusters within ``cluster.shutdown_timeout_s``; a slow or failing
    shutdown (a busy node's nanny not joining in time) is logged, never raised: the stage's
    results are already written when this runs."""
    for closable in closables:
        try:
            closable.close(timeout=settings.shutdown_timeout_s)
        except Exception as err:  # noqa: BLE001  (any failure to close must not fail the finished stage)
            log.warning("closing the Dask %s failed or took longer than cluster.shutdown_timeout_s = %s s "
                        "(%s: %s); left to exit with this process", type(closable).__name__,
                        settings.shutdown_timeout_s, type(err).__name__, err)


def allowed_failures(client: Client) -> int:
    """The failure budget the scheduler behind ``client`` runs with: how many workers may die
    while holding a task before the task is declared failed (``KilledWorker``)."""
    return client.run_on_scheduler(_scheduler_allowed_failures)


def _scheduler_allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


def worker_count(client: Client) -> tuple[int, int]:
    """Number of workers and total threads of the cluster behind ``client``."""
    workers = client.scheduler_info()["workers"]
    return len(workers), sum(w["nthreads"] for w in workers.values())
