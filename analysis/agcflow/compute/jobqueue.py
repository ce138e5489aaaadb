"""Dask clusters on batch systems (SLURM, HTCondor) through dask-jobqueue.

Called by :func:`agcflow.compute.cluster.open_client` for ``cluster.kind`` = ``slurm`` | ``htcondor``;
use that, not this module. One Dask worker per batch job (``processes=1``) with
``cluster.threads_per_worker`` cores and ``cluster.memory``; the pool is managed by
``adapt(minimum_workers, workers)`` so that workers retired by ``worker_lifetime`` (set it a
few minutes below ``walltime``) are replaced by fresh jobs instead of ending the run.

dask-jobqueue only logs a failed ``sbatch``/``condor_submit``; this module therefore checks
that the submit command exists before starting, waits ``startup_timeout_s`` for the workers,
and raises :class:`~agcflow.errors.ServiceError` with the job script, the submit errors it
saw and what to check when they do not arrive.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agcflow.compute.site_limits import check_slurm_limits, read_partitions, slurm_seconds
from agcflow.config import ClusterSettings
from agcflow.errors import BackendError, ServiceError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

JOB_NAME = "agcflow-dask"


class BatchSystem:
    """What differs between the batch systems: class, commands, and what to tell the user."""

    def __init__(self, kind: str, cluster_class: str, submit: str, status: str, cancel: str) -> None:
        self.kind, self.cluster_class = kind, cluster_class
        self.submit, self.status, self.cancel = submit, status, cancel


BATCH_SYSTEMS = {
    "slurm": BatchSystem("slurm", "SLURMCluster", "sbatch", f"squeue --name {JOB_NAME}", "scancel"),
    "htcondor": BatchSystem("htcondor", "HTCondorCluster", "condor_submit", "condor_q -nobatch", "condor_rm"),
}


def check_submit_command(settings: ClusterSettings) -> BatchSystem:
    """Fail fast (before any scheduler starts) when the batch system's tools are not here."""
    system = BATCH_SYSTEMS[settings.kind]
    missing = [tool for tool in (system.submit, system.cancel) if shutil.which(tool) is None]
    if missing:
        raise BackendError(
            f"cluster.kind = {settings.kind!r} needs {' and '.join(f'`{t}`' for t in missing)} in PATH, "
            f"and {'it is' if len(missing) == 1 else 'they are'} not found; run on a {settings.kind} submit "
            "host (or load its module), or use cluster.kind: local"
        )
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError as err:
        raise BackendError(
            f"cluster.kind = {settings.kind!r} needs the dask-jobqueue package: pip install dask-jobqueue"
        ) from err
    return system


def job_kwargs(settings: ClusterSettings) -> dict[str, Any]:
    """Keyword arguments of dask-jobqueue's job class (``SLURMJob``/``HTCondorJob``) for ``settings``;
    the cluster class passes them on to every job it submits.

    Only what the user set is passed: dask-jobqueue reads the site's ``jobqueue.yaml`` for every
    value given as None. The lists agcflow must extend (the worker's arguments and the job
    script's prologue) start from the site's own entries."""
    site = site_defaults(settings.kind)
    worker_args = list(site.get("worker-extra-args") or [])
    # --lifetime retires a worker gracefully (its tasks move elsewhere) before the walltime
    # kills it; adapt() then submits a replacement job. --lifetime-restart instead restarts the
    # worker inside the same job (only useful when jobs outlive the lifetime by far).
    if settings.worker_lifetime:
        worker_args += ["--lifetime", settings.worker_lifetime, "--lifetime-stagger", settings.worker_lifetime_stagger]
        if settings.worker_lifetime_restart:
            worker_args.append("--lifetime-restart")
    # The nanny reads its pre-spawn environment from existing variables first: exporting them in
    # the job script is what reaches the worker processes on the batch nodes.
    prologue = [*(site.get("job-script-prologue") or []), *settings.job_script_prologue,
                *(f"export {key}={_shell_quote(value)}" for key, value in settings.worker_env)]
    kwargs: dict[str, Any] = {
        "cores": settings.threads_per_worker,
        "processes": 1,
        "memory": settings.memory,
        "job_name": JOB_NAME,
        "python": sys.executable,
        "worker_extra_args": worker_args,
        "job_script_prologue": prologue,
        "log_directory": settings.log_directory,
        "interface": settings.interface,
    }
    if settings.kind == "slurm":
        kwargs.update(queue=settings.queue, account=settings.account, walltime=settings.walltime,
                      job_extra_directives=list(settings.job_extra_directives) or None)
    else:  # htcondor: submit-file attributes "Key = value"; walltime/queue have no generic form
        if settings.account:
            raise BackendError(f"cluster.account = {settings.account!r} applies to SLURM; for HTCondor set "
                               "cluster.job_extra_directives: ['accounting_group = <group>']")
        kwargs.update(disk=settings.disk,
                      job_extra_directives=_condor_directives(settings.job_extra_directives) or None)
    _require_memory(settings, site)
    return kwargs


def site_defaults(kind: str) -> dict[str, Any]:
    """The site's dask-jobqueue settings for ``kind`` (``jobqueue.<kind>`` of the Dask config:
    ``~/.config/dask/jobqueue.yaml``, ``/etc/dask/``, ``$DASK_CONFIG``)."""
    import dask
    import dask_jobqueue  # noqa: F401  (registers its defaults in the Dask config)

    return dict(dask.config.get(f"jobqueue.{kind}", default={}) or {})


def effective(settings: ClusterSettings, key: str) -> Any:
    """A batch setting as the job will get it: the user's value, else the site's jobqueue.yaml."""
    value = getattr(settings, key)
    return value if value is not None else site_defaults(settings.kind).get(key)


def _require_memory(settings: ClusterSettings, site: dict[str, Any]) -> None:
    if settings.memory is None and not site.get("memory"):
        raise BackendError(
            f"cluster.memory is unset and the site's Dask config sets no jobqueue.{settings.kind}.memory; "
            "set cluster.memory (e.g. 4GB per worker job) or add it to jobqueue.yaml"
        )


def _condor_directives(lines: tuple[str, ...]) -> dict[str, str]:
    directives = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BackendError(
                f"cluster.job_extra_directives: {line!r}: HTCondor directives must read 'Key = value'"
            )
        directives[key.strip()] = value.strip()
    return directives


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def _check_lifetime(settings: ClusterSettings) -> None:
    """Warn when workers would be killed by the walltime before ``worker_lifetime`` retires them."""
    from dask.utils import parse_timedelta

    walltime_text = effective(settings, "walltime") if settings.kind == "slurm" else None
    walltime = slurm_seconds(str(walltime_text)) if walltime_text else None
    if walltime is None:
        return
    if settings.worker_lifetime is None:
        log.info("cluster.worker_lifetime unset: workers end with their job's walltime %s; set it a few "
                 "minutes below so that adapt() replaces them gracefully", walltime_text)
        return
    latest = parse_timedelta(settings.worker_lifetime) + parse_timedelta(settings.worker_lifetime_stagger)
    if latest >= walltime:
        log.warning("cluster.worker_lifetime %s + stagger %s >= walltime %s: SLURM may kill workers with "
                    "tasks in flight", settings.worker_lifetime, settings.worker_lifetime_stagger, walltime_text)


def check_site_limits(settings: ClusterSettings, minimum: int) -> None:
    """Refuse, before any job is submitted, worker jobs the SLURM site can never start."""
    if settings.kind != "slurm":  # HTCondor matches jobs to machines later; no limit to read up front
        return
    partitions = read_partitions()
    if partitions is None:
        return
    from dask.utils import parse_bytes

    memory = effective(settings, "memory")
    walltime = effective(settings, "walltime")
    awaited = ("cluster.workers" if settings.minimum_workers is None else "cluster.minimum_workers", max(1, minimum))
    check_slurm_limits(partitions, effective(settings, "queue"), settings.threads_per_worker,
                       parse_bytes(memory) if memory else None, str(walltime) if walltime else None, awaited)


def pool_bounds(settings: ClusterSettings) -> tuple[int, int]:
    """``(minimum, maximum)`` of the adaptive worker pool."""
    maximum = settings.n_workers
    minimum = maximum if settings.minimum_workers is None else settings.minimum_workers
    if minimum > maximum:
        raise BackendError(
            f"cluster.minimum_workers = {minimum} exceeds cluster.workers = {maximum}"
        )
    return minimum, maximum


@contextlib.contextmanager
def batch_client(settings: ClusterSettings) -> Iterator[Client]:
    """A client of a dask-jobqueue cluster of ``settings.kind``; the jobs are cancelled on exit."""
    import dask
    import dask_jobqueue
    from distributed import Client

    system = check_submit_command(settings)
    minimum, maximum = pool_bounds(settings)
    check_site_limits(settings, minimum)
    _check_lifetime(settings)
    cluster_class = getattr(dask_jobqueue, system.cluster_class)
    # The scheduler runs here and reads its failure budget when it is created.
    with dask.config.set({"distributed.scheduler.allowed-failures": settings.allowed_failures}):
        # ":0" (the default): a free port for the dashboard, not a clash on a shared login node.
        dashboard = {"dashboard_address": settings.dashboard} if settings.dashboard else {"dashboard": False}
        cluster = cluster_class(**job_kwargs(settings), scheduler_options=dashboard)
    with cluster, _SubmitErrors() as submit_errors:
        try:
            cluster.adapt(minimum=minimum, maximum=maximum)
            with Client(cluster) as client:
                wait_for = max(1, minimum)
                _wait_for_workers(settings, system, cluster, client, wait_for, submit_errors)
                budget = client.run_on_scheduler(_scheduler_allowed_failures)
                log.info(
                    "%s Dask cluster (dask-jobqueue %s): adaptive %d..%d workers x %d threads, memory %s, "
                    "walltime %s, queue %s, worker lifetime %s; allowed-failures = %d",
                    settings.kind, dask_jobqueue.__version__, minimum, maximum, settings.threads_per_worker,
                    effective(settings, "memory"), effective(settings, "walltime"),
                    effective(settings, "queue") or "(default)",
                    settings.worker_lifetime or "unlimited", budget,
                )
                from agcflow.compute.cluster import log_dashboard

                log_dashboard(client, settings)
                yield client
        finally:
            _mark_unsubmitted_failed(cluster)


def _wait_for_workers(settings, system, cluster, client, wanted: int, submit_errors: _SubmitErrors) -> None:
    """Wait up to ``startup_timeout_s``; stop early when a submission has already failed."""
    deadline = time.monotonic() + settings.startup_timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            client.wait_for_workers(wanted, timeout=max(0.1, min(2.0, remaining)))
            return
        except TimeoutError as err:
            if submit_errors.submit_failed or time.monotonic() >= deadline:
                raise ServiceError(
                    _startup_message(settings, system, cluster, client, wanted, submit_errors.messages)
                ) from err


def _mark_unsubmitted_failed(cluster) -> None:
    """Let the cluster close after a refused submission.

    A job whose submit command failed stays in ``Status.created``, and distributed 2025.3's
    ``SpecCluster._close`` asserts that every job it created is closed or failed, which would
    replace the clear error with an AssertionError and leave the cluster half closed. Such jobs
    never reached the batch system; they are marked failed before the cluster closes.
    """
    from distributed.core import Status

    for job in list(getattr(cluster, "_created", ())):
        if getattr(job, "status", None) == Status.created:
            job.status = Status.failed


def _scheduler_allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


def _startup_message(settings, system: BatchSystem, cluster, client, wanted: int, errors: list[str]) -> str:
    workers = len(client.scheduler_info().get("workers", {}))
    jobs = sorted(job.job_id for job in cluster.workers.values() if getattr(job, "job_id", None))
    seen = "\n".join(f"    {line}" for line in errors[-5:]) or "    (none logged)"
    script = "\n".join(f"    {line}" for line in cluster.job_script().splitlines())
    if errors and any("Command exited with non-zero exit code" in m for m in errors):
        headline = f"`{system.submit}` failed: the batch system refused the worker job(s)"
    else:
        headline = (f"{workers} of {wanted} Dask worker(s) connected within "
                    f"cluster.startup_timeout_s = {settings.startup_timeout_s} s")
    return (
        f"cluster.kind = {settings.kind!r}: {headline}.\n"
        f"  submit command: {system.submit} (found at {shutil.which(system.submit)}); "
        f"jobs submitted: {', '.join(jobs) or 'none'}\n"
        f"  submit/start errors:\n{seen}\n"
        f"  check: `{system.status}` (pending? wrong queue/partition {effective(settings, 'queue')!r}, "
        f"memory {effective(settings, 'memory')}, walltime {effective(settings, 'walltime')}?), the job logs in cluster.log_directory = {settings.log_directory!r}, "
        f"that `{system.submit}` works from this shell, and that the batch nodes can reach this host "
        f"(cluster.interface = {settings.interface!r}); raise cluster.startup_timeout_s for a busy queue.\n"
        f"  job script:\n{script}"
    )


class _SubmitErrors(logging.Handler):
    """Collect the errors dask-jobqueue/distributed only log while a cluster starts."""

    # A failed submit surfaces as an exception of SpecCluster's state-correcting task, which
    # tornado logs; the others are where distributed/dask-jobqueue log their own failures.
    LOGGERS = ("tornado.application", "asyncio", "distributed.deploy", "dask_jobqueue")

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._lock_messages = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        text = f"{type(error).__name__}: {error}" if error is not None else record.getMessage()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        with self._lock_messages:
            self.messages.append(" | ".join(lines)[:800])

    @property
    def submit_failed(self) -> bool:
        """A submit command failed (dask-jobqueue's ``_call`` raised)."""
        return any("Command exited with non-zero exit code" in m for m in self.messages)

    def __enter__(self) -> _SubmitErrors:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)
