"""Progress of long stages: a tqdm bar on a terminal, bounded-rate log lines otherwise.

With ``--no-progress`` (as every Snakemake rule runs) a multi-hour stage would say nothing in its
log until it ends; :func:`progress` then logs ``done/total``, the rate, events/s when known and
an ETA at INFO, at most once every ``interval_s`` and once at the end. :func:`watch_scheduler`
does the same for work whose futures agcflow does not hold (coffea's executor), from the Dask
scheduler's task counts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 10.0  # at most one progress line per this many seconds, per stage


class LogProgress:
    """The part of tqdm's interface the stages use (``update``), as log lines."""

    def __init__(self, total: int, desc: str, unit: str, interval_s: float = LOG_INTERVAL_S) -> None:
        self.total, self.desc, self.unit, self.interval_s = total, desc, unit, interval_s
        self.done, self.events = 0, 0
        self.started = self.last = time.monotonic()

    def update(self, n: int = 1, events: int = 0) -> None:
        self.done += n
        self.events += events
        now = time.monotonic()
        if now - self.last >= self.interval_s or self.done >= self.total:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """``deliver: 12/36 files (33%), 1.2 file/s, 450,000 events/s, ETA 20 s``."""
        elapsed = max(now - self.started, 1e-9)
        parts = [f"{self.desc}: {self.done}/{self.total} {self.unit}s ({100 * self.done / max(self.total, 1):.0f}%)",
                 f"{self.done / elapsed:.2g} {self.unit}/s"]
        if self.events:
            parts.append(f"{self.events / elapsed:,.0f} events/s")
        if 0 < self.done < self.total:
            parts.append(f"ETA {elapsed * (self.total - self.done) / self.done:.0f} s")
        elif self.done >= self.total:
            parts.append(f"done in {elapsed:.0f} s")
        return ", ".join(parts)


@contextlib.contextmanager
def progress(total: int, desc: str, unit: str, bar: bool, interval_s: float = LOG_INTERVAL_S) -> Iterator[Any]:
    """A tqdm bar when ``bar``, else a :class:`LogProgress`; both take ``update(n)``."""
    if bar:
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, unit=unit) as shown:
            yield _TqdmEvents(shown)
    else:
        yield LogProgress(total, desc, unit, interval_s)


class _TqdmEvents:
    def __init__(self, bar) -> None:
        self.bar = bar

    def update(self, n: int = 1, events: int = 0) -> None:
        self.bar.update(n)


@contextlib.contextmanager
def watch_scheduler(client, desc: str, interval_s: float = LOG_INTERVAL_S) -> Iterator[None]:
    """Log the Dask scheduler's finished/total task counts every ``interval_s`` while the block
    runs (for executors whose futures agcflow does not hold); a failing poll only stops the log."""
    stop = threading.Event()
    baseline = _task_counts(client)

    started = time.monotonic()

    def report() -> bool:
        try:
            done, total = (now - before for now, before in zip(_task_counts(client), baseline))
        except Exception as err:  # noqa: BLE001  (the scheduler went away: the stage will say why)
            log.debug("%s: progress poll stopped (%s)", desc, err)
            return False
        elapsed = time.monotonic() - started
        eta = f", ETA {elapsed * (total - done) / done:.0f} s" if 0 < done < total else ""
        log.info("%s: %d/%d tasks done (%.0f s)%s", desc, done, total, elapsed, eta)
        return True

    def poll() -> None:
        while not stop.wait(interval_s) and report():
            pass

    thread = threading.Thread(target=poll, name=f"agcflow-progress-{desc}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
    report()


def _task_counts(client) -> tuple[int, int]:
    """(finished, all) tasks the scheduler has seen since it started."""
    return client.run_on_scheduler(_scheduler_task_counts)


def _scheduler_task_counts(dask_scheduler=None) -> tuple[int, int]:
    """Cumulative transitions: every task enters ``waiting`` once before it runs, and
    ``memory`` (or ``erred``) once it has run."""
    counts = [prefix.state_counts for prefix in dask_scheduler.task_prefixes.values()]
    done = sum(c.get("memory", 0) + c.get("erred", 0) for c in counts)
    return done, sum(c.get("waiting", 0) for c in counts)
