"""Remote inputs (HTTPS, XRootD) and services: a quick TCP reachability probe, and opening a
ROOT file with a per-file timeout and a retry budget spent on transient network errors only.

Offline, both fail within seconds with a message naming the URL; a DNS failure, a missing
file or a missing XRootD plugin is never retried.
"""

from __future__ import annotations

import logging
import socket
from typing import Any
from urllib.parse import urlsplit

from agcflow.errors import InputFileError, ServiceError
from agcflow.util.retry import RetryBudget, is_transient, with_retries

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443, "root": 1094, "xroot": 1094}
OPEN_TIMEOUT_S = 30.0  # per remote file: uproot's timeout for each request
NETWORK_HINT = "is the network (HTTPS/XRootD) reachable from here?"


class TransientRemoteError(ConnectionError):
    """A remote read failure a second try may cure (timeout, dropped connection, HTTP 5xx)."""


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL read over the network (``file://`` is local)."""
    return "://" in path and not path.startswith("file://")


def host_port(url: str) -> tuple[str, int]:
    """The host and TCP port a URL connects to; the scheme's default port when none is given."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InputFileError(f"{url}: not a remote URL this reads; valid schemes: {', '.join(DEFAULT_PORTS)}")
    return parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme]


def check_reachable(url: str, timeout_s: float, what: str, hint: str = NETWORK_HINT) -> None:
    """Open (and close) a TCP connection to the URL's host; raise ServiceError naming ``what``
    and the URL when none is made within ``timeout_s``."""
    host, port = host_port(url)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise ServiceError(
            f"{what} {url}: no connection to {host}:{port} within {timeout_s:g} s "
            f"({type(err).__name__}: {err}); {hint}"
        ) from err


def open_root(source: str, timeout_s: float = OPEN_TIMEOUT_S, budget: RetryBudget = RetryBudget()) -> Any:
    """``uproot.open(source)``; a remote source gets ``timeout_s`` per request and ``budget``
    for transient errors, and raises InputFileError naming the URL once they are spent."""
    import uproot

    if not is_remote(source):
        return uproot.open(source)
    try:
        return with_retries(lambda: _open_once(source, timeout_s), f"open {source}", budget)
    except Exception as err:
        retried = isinstance(err, TransientRemoteError)
        cause = err.__cause__ if retried and err.__cause__ else err
        spent = f" after {budget.attempts} attempts" if retried else ""
        hint = "XRootD URLs need the fsspec-xrootd package" if isinstance(cause, ImportError) else NETWORK_HINT
        raise InputFileError(f"{source}: cannot open{spent} ({type(cause).__name__}: {cause}); {hint}") from err


def _open_once(source: str, timeout_s: float) -> Any:
    import uproot

    try:
        return uproot.open(source, timeout=timeout_s)
    except Exception as err:
        if is_transient(err):
            raise TransientRemoteError(f"{source}: {type(err).__name__}: {err}") from err
        raise
