"""A retry budget for transient errors (network reads, flaky file systems), and the one
classifier of what is transient (:func:`is_transient`); nothing else retries."""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Local I/O errors a second try can cure (NFS/EOS hiccups); EIO on a bad disk would also be retried.
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.ESTALE, errno.ETIMEDOUT, errno.EIO, errno.ENOTCONN})


class Retryable(Exception):
    """Mixin for an error raised to say that a second try may cure it (e.g. a local file
    that is not there yet); :func:`is_transient` treats every subclass as transient."""


def is_transient(err: BaseException) -> bool:
    """Whether a second try may cure ``err``: a :class:`Retryable`, timeouts, refused or dropped
    connections, HTTP 5xx and 429, and the errnos of a flaky file system. DNS failures,
    missing files and missing plugins are permanent; so is anything else (a corrupt file, a
    wrong tree name), which fails at once."""
    if isinstance(err, Retryable):
        return True
    if isinstance(err, (socket.gaierror, FileNotFoundError, ImportError)) or _is_dns_error(err):
        return False
    if isinstance(err, (TimeoutError, ConnectionError, InterruptedError)):
        return True
    if isinstance(err, OSError) and err.errno in TRANSIENT_ERRNOS:
        return True
    try:
        import aiohttp
    except ImportError:  # fsspec's HTTP backend absent: only the builtin types above apply
        return False
    if isinstance(err, aiohttp.ClientResponseError):
        return err.status >= 500 or err.status == 429
    return isinstance(err, aiohttp.ClientConnectionError)


def _is_dns_error(err: BaseException) -> bool:
    try:
        from aiohttp import ClientConnectorDNSError
    except ImportError:
        return False
    return isinstance(err, ClientConnectorDNSError)


@dataclass(frozen=True)
class RetryBudget:
    """At most ``attempts`` tries, sleeping ``backoff_s * 2**k`` between them."""

    attempts: int = 3
    backoff_s: float = 0.5


def with_retries(action: Callable[[], T], what: str, budget: RetryBudget = RetryBudget()) -> T:
    """``action()``, retried on transient errors (:func:`is_transient`) within ``budget``; the
    last error is raised once the budget is spent. ``what`` names the thing being done, for the log."""
    for attempt in range(1, budget.attempts + 1):
        try:
            return action()
        except Exception as err:
            if not is_transient(err):
                raise
            if attempt == budget.attempts:
                log.error("%s: giving up after %d attempts: %s", what, attempt, err)
                raise
            delay = budget.backoff_s * 2 ** (attempt - 1)
            log.warning("%s: transient error (attempt %d of %d), retrying in %.1f s: %s", what, attempt,
                        budget.attempts, delay, err)
            time.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
