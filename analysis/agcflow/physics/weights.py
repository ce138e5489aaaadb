"""Event weights."""

from __future__ import annotations


def sample_weight(xsec_pb: float, lumi_pb: float, n_events: int) -> float:
    """Constant per-event weight: xsec x lumi / events in the files used for the sample."""
    if n_events <= 0:
        raise ValueError(f"cannot normalise a sample of {n_events} events")
    return xsec_pb * lumi_pb / n_events
