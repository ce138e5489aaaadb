"""What a SLURM site allows, read with ``sinfo`` before any job is submitted.

A worker job that asks for more CPUs, memory or time than any node of its partition offers,
or a pool whose awaited workers cannot all fit in the partition, would sit in the queue until
``cluster.startup_timeout_s`` ends the stage. :func:`check_slurm_limits` refuses such sizes at
once, naming the setting, its value and the site's limit. When ``sinfo`` cannot answer (a
login node without the client tools in ``PATH``, a controller that is down) nothing is refused:
the submission then reports what went wrong.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

from agcflow.errors import BackendError

log = logging.getLogger(__name__)

SINFO_FORMAT = "%P|%c|%m|%l|%D"  # partition (default marked *), CPUs and MB per node, time limit, nodes
SINFO_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Partition:
    """The largest node of a partition, the node count and the time limit (None: unlimited)."""

    name: str
    default: bool
    cpus_per_node: int
    memory_mb_per_node: int
    nodes: int
    time_limit_s: float | None


def slurm_seconds(text: str) -> float | None:
    """SLURM's ``[D-]HH:MM:SS`` / ``MM:SS`` / minutes in seconds; None for ``infinite`` or unparsable."""
    days, _, clock = text.strip().rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        day_s = int(days) * 86400 if days else 0
    except ValueError:
        return None
    if len(parts) == 1:
        return day_s + parts[0] * 60.0
    while len(parts) < 3:
        parts.insert(0, 0)
    return day_s + parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from ``sinfo -h -o SINFO_FORMAT``; a partition listed once per node configuration
    keeps its largest node and the sum of its nodes."""
    partitions: dict[str, Partition] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5:
            continue
        name, cpus, memory, limit, nodes = fields
        default = name.endswith("*")
        name = name.rstrip("*")
        try:
            entry = Partition(name, default, int(cpus.rstrip("+")), int(memory.rstrip("+")),
                              int(nodes), slurm_seconds(limit))
        except ValueError:
            log.debug("sinfo line not understood, skipped: %r", line)
            continue
        known = partitions.get(name)
        if known is not None:
            entry = Partition(name, default or known.default, max(entry.cpus_per_node, known.cpus_per_node),
                              max(entry.memory_mb_per_node, known.memory_mb_per_node),
                              entry.nodes + known.nodes, entry.time_limit_s)
        partitions[name] = entry
    return partitions


def read_partitions() -> dict[str, Partition] | None:
    """The site's partitions, or None when ``sinfo`` cannot tell."""
    try:
        done = subprocess.run(["sinfo", "-h", "-o", SINFO_FORMAT], capture_output=True, text=True,
                              timeout=SINFO_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.info("sinfo did not answer (%s): SLURM's partition limits not checked", err)
        return None
    if done.returncode != 0:
        log.info("sinfo failed (exit %d: %s): SLURM's partition limits not checked",
                 done.returncode, done.stderr.strip()[-300:])
        return None
    return parse_sinfo(done.stdout) or None


def check_slurm_limits(partitions: dict[str, Partition], queue: str | None, threads: int,
                       memory_bytes: int | None, walltime: str | None, awaited: tuple[str, int]) -> None:
    """Raise :class:`BackendError` when a worker job of this size can never start in ``queue``
    (the default partition when None), naming the setting, its value and the limit.

    ``awaited`` is the setting that decides how many workers the stage waits for and its value."""
    partition = _partition(partitions, queue)
    if partition is None:
        return
    where = f"SLURM partition {partition.name!r} (sinfo)"
    if threads > partition.cpus_per_node:
        raise BackendError(f"cluster.threads_per_worker = {threads}: the largest node of {where} has "
                           f"{partition.cpus_per_node} CPUs; lower it or choose another cluster.queue")
    if memory_bytes is not None and memory_bytes > partition.memory_mb_per_node * 2**20:
        raise BackendError(f"cluster.memory = {memory_bytes / 2**30:.1f} GiB per worker job: the largest node of "
                           f"{where} has {partition.memory_mb_per_node / 1024:.1f} GiB; lower it")
    seconds = slurm_seconds(walltime) if walltime else None
    if seconds is not None and partition.time_limit_s is not None and seconds > partition.time_limit_s:
        raise BackendError(f"cluster.walltime = {walltime!r}: {where} allows at most "
                           f"{partition.time_limit_s / 3600:g} h per job; lower it")
    key, workers = awaited
    capacity = partition.nodes * (partition.cpus_per_node // threads)
    if workers > capacity:
        raise BackendError(f"{key} = {workers} (workers awaited before the stage starts): "
                           f"{where} holds at most {capacity} workers of {threads} threads at once "
                           f"({partition.nodes} nodes x {partition.cpus_per_node} CPUs); lower it")


def _partition(partitions: dict[str, Partition], queue: str | None) -> Partition | None:
    if queue is None:
        return next((p for p in partitions.values() if p.default), None)
    if queue not in partitions:
        raise BackendError(f"cluster.queue = {queue!r}: SLURM has no such partition; partitions: "
                           f"{', '.join(sorted(partitions))}")
    return partitions[queue]
