"""A retry budget for transient errors (network reads, flaky file systems); nothing else retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors a second try can cure. Anything else (a corrupt file, a wrong tree name) fails at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, BrokenPipeError, InterruptedError)


@dataclass(frozen=True)
class RetryBudget:
    """At most ``attempts`` tries, sleeping ``backoff_s * 2**k`` between them."""

    attempts: int = 3
    backoff_s: float = 0.5
    transient: tuple[type[BaseException], ...] = TRANSIENT_ERRORS


def with_retries(action: Callable[[], T], what: str, budget: RetryBudget = RetryBudget()) -> T:
    """``action()``, retried on transient errors within ``budget``; the last error is raised
    once the budget is spent. ``what`` names the thing being done, for the log."""
    for attempt in range(1, budget.attempts + 1):
        try:
            return action()
        except budget.transient as err:
            if attempt == budget.attempts:
                log.error("%s: giving up after %d attempts: %s", what, attempt, err)
                raise
            delay = budget.backoff_s * 2 ** (attempt - 1)
            log.warning("%s: transient error (attempt %d of %d), retrying in %.1f s: %s", what, attempt,
                        budget.attempts, delay, err)
            time.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
