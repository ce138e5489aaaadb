"""The one place that creates Dask clusters and clients.

Kinds: ``local`` (a ``distributed.LocalCluster`` of worker processes), ``address`` (an
existing scheduler), and the batch systems ``slurm`` and ``htcondor`` (dask-jobqueue's
``SLURMCluster``/``HTCondorCluster``, one worker per batch job; see :mod:`agcflow.jobqueue`).
Every kind sets the Dask failure budget ``distributed.scheduler.allowed-failures`` from
``cluster.allowed_failures`` where it starts the scheduler.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from agcflow.config import ClusterSettings
from agcflow.errors import BackendError, ConfigError, ServiceError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

CLUSTER_KINDS = ("local", "address", "slurm", "htcondor")
BATCH_KINDS = ("slurm", "htcondor")


@contextlib.contextmanager
def open_client(settings: ClusterSettings) -> Iterator[Client]:
    """Yield a Dask client for ``settings.kind``; close what was started on exit."""
    if settings.kind == "local":
        with _local_client(settings) as client:
            yield client
    elif settings.kind == "address":
        with _address_client(settings) as client:
            yield client
    elif settings.kind in BATCH_KINDS:
        from agcflow.jobqueue import batch_client

        with batch_client(settings) as client:
            yield client
    else:
        raise BackendError(f"cluster kind {settings.kind!r} unknown; valid: {', '.join(CLUSTER_KINDS)}")


@contextlib.contextmanager
def _local_client(settings: ClusterSettings) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    # The nanny's default MALLOC_TRIM_THRESHOLD_=65536 halves coffea's throughput; the
    # worker environment is therefore set explicitly from the configuration.
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in settings.worker_env}
    environ["distributed.scheduler.allowed-failures"] = settings.allowed_failures
    with dask.config.set(environ):
        cluster = LocalCluster(
            n_workers=settings.n_workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            dashboard_address=None,
        )
    with cluster, Client(cluster) as client:
        client.wait_for_workers(settings.n_workers, timeout=settings.startup_timeout_s)
        client.run(_import_stage_modules)
        log.info("local Dask cluster: %d workers x %d threads; allowed-failures = %d",
                 settings.n_workers, settings.threads_per_worker, settings.allowed_failures)
        yield client


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot name a Dask scheduler (None when it can), before connecting."""
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(address)
    except (ValueError, TypeError) as err:
        return f"cluster.address = {address!r}: not a Dask scheduler address ({err}); expected e.g. tcp://host:8786"
    return None


@contextlib.contextmanager
def _address_client(settings: ClusterSettings) -> Iterator[Client]:
    from distributed import Client

    problem = address_problem(settings.address)
    if problem:
        raise ConfigError(problem)
    try:
        client = Client(settings.address, timeout=f"{settings.startup_timeout_s}s")
    except (OSError, TimeoutError) as err:
        raise ServiceError(
            f"cannot reach the Dask scheduler at cluster.address = {settings.address!r} "
            f"within {settings.startup_timeout_s} s ({err}); is the scheduler running?"
        ) from err
    with client:
        yield client


def _import_stage_modules() -> None:
    """Import the stages' modules on a worker at start-up rather than inside its first task."""
    import agcflow.delivery.local  # noqa: F401
    import agcflow.processor  # noqa: F401


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
