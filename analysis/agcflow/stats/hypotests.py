"""Hypothesis tests of the POI after the fit: discovery significance and CLs at POI = 1.

The numbers people look for next to a best-fit value, computed with pyhf's asymptotic
calculator on the model and data the fit used, with the model's own POI bounds and the
tensor backend and optimizer the fit set:

* discovery: ``pyhf.infer.hypotest(0, ..., test_stat="q0", return_expected=True)`` gives the
  observed p-value of the background-only hypothesis and the median p-value expected when
  the signal is there at POI = 1 (pyhf builds its Asimov data at POI = 1 for q0, the nuisance
  parameters fitted to the data); Z = Phi^-1(1 - p), ``scipy.stats.norm.isf``.
* CLs at POI = 1 with pyhf's default qtilde test statistic, observed and the expected set at
  (-2, -1, 0, +1, +2) sigma (pyhf's order: the median is the middle entry).

No upper limit on the POI: a CLs scan costs five fits per point; measured on the H->ZZ*->4l
model (44 parameters, numpy) about 8 s per point, a minute or more for a usable scan, against
2 s for the fit itself. ``agcflow reinterpret`` and ``agcflow scan`` compute limits.

A test that fails (a fit does not converge, or it is undefined, as when the background-only
model predicts no events in a bin with data) is recorded as ``{"error": ...}`` in its place
and logged as a warning; the other test still runs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

log = logging.getLogger(__name__)

DISCOVERY = "discovery"
CLS_POI = 1.0
CLS_AT_POI = "cls_at_poi_1"
# pyhf's optimizer logs a failed minimisation at ERROR with the whole MINUIT table; a failed
# test here is reported once, as a warning with pyhf's message.
PYHF_OPTIMIZER_LOGGER = "pyhf.optimize.mixins"


def significance(p_value: float) -> float | None:
    """The one-sided Gaussian significance Z = Phi^-1(1 - p) of a p-value.

    Args:
        p_value: A p-value in [0, 1].

    Returns:
        Z in standard deviations; None where it is not finite (p = 0 gives infinity, which
        JSON cannot hold: a p-value below about 1e-300, Z beyond about 38).
    """
    from scipy.stats import norm

    z = float(norm.isf(p_value))
    return z if math.isfinite(z) else None


def discovery(data: Sequence[float], model: Any) -> dict[str, Any]:
    """Discovery test of the POI's sample: the q0 test of POI = 0, asymptotic formulae.

    Args:
        data: Observed main and auxiliary data, as ``model`` orders them.
        model: The ``pyhf.pdf.Model`` whose POI scales the signal.

    Returns:
        ``p0_obs`` and ``Z_obs`` for the data; ``p0_exp`` and ``Z_exp``, the median expected
        for the signal at POI = 1 (pyhf's expected p-value of q0); ``test_stat``.
    """
    import pyhf

    p0_obs, p0_exp = pyhf.infer.hypotest(
        0.0, data, model, par_bounds=model.config.suggested_bounds(), test_stat="q0", return_expected=True
    )
    p0_obs, p0_exp = float(p0_obs), float(p0_exp)
    return {"test_stat": "q0", "p0_obs": p0_obs, "Z_obs": significance(p0_obs),
            "p0_exp": p0_exp, "Z_exp": significance(p0_exp)}


def cls(poi_value: float, data: Sequence[float], model: Any) -> dict[str, Any]:
    """CLs of the hypothesis POI = ``poi_value``, qtilde test statistic, asymptotic formulae.

    Args:
        poi_value: The tested value of the POI.
        data: Observed main and auxiliary data, as ``model`` orders them.
        model: The ``pyhf.pdf.Model``.

    Returns:
        ``CLs_obs``; ``CLs_exp``, the expected CLs at (-2, -1, 0, +1, +2) sigma in pyhf's
        order (the median in the middle); ``test_stat`` and ``poi``.
    """
    import pyhf

    cls_obs, cls_exp = pyhf.infer.hypotest(
        poi_value, data, model, par_bounds=model.config.suggested_bounds(), test_stat="qtilde",
        return_expected_set=True,
    )
    return {"test_stat": "qtilde", "poi": float(poi_value), "CLs_obs": float(cls_obs),
            "CLs_exp": [float(v) for v in cls_exp]}


def hypothesis_tests(model: Any, data: Sequence[float], poi: str) -> dict[str, Any]:
    """Discovery significance and CLs at POI = 1 of a fitted model, each failure recorded.

    Args:
        model: The ``pyhf.pdf.Model`` the fit used; its POI must be ``poi``.
        data: The data the fit used (main and auxiliary).
        poi: The POI's name, for the log.

    Returns:
        The ``hypothesis_tests`` block of ``fit_results.json``: ``discovery`` and
        ``cls_at_poi_1`` (each its numbers or ``{"error": reason}``) and ``wall_time_s``.
    """
    start = time.perf_counter()
    undefined = _empty_background_bins(model, data)
    tests: dict[str, Callable[[], dict[str, Any]]] = {
        DISCOVERY: lambda: discovery(data, model),
        CLS_AT_POI: lambda: cls(CLS_POI, data, model),
    }
    if undefined:
        log.warning("%s: hypothesis tests skipped: %s", poi, undefined)
    block: dict[str, Any] = {
        name: {"error": undefined} if undefined else _recorded(name, test) for name, test in tests.items()
    }
    block["wall_time_s"] = time.perf_counter() - start
    _log(block, poi)
    return block


def summary(block: dict[str, Any] | None) -> str:
    """The hypothesis tests in a few words for a one-line summary; "" when there are none.

    Args:
        block: The ``hypothesis_tests`` block, or None.

    Returns:
        E.g. "Z = 2.67 (exp. 3.30), CLs(1) = 0.318" or "hypothesis tests failed".
    """
    if not block:
        return ""
    parts = []
    found = block.get(DISCOVERY, {})
    if "Z_obs" in found:
        relation = "" if found["Z_obs"] is None else "= "
        parts.append(f"Z {relation}{_number(found['Z_obs'])} (exp. {_number(found['Z_exp'])})")
    at_poi = block.get(CLS_AT_POI, {})
    if "CLs_obs" in at_poi:
        parts.append(f"CLs({at_poi['poi']:g}) = {at_poi['CLs_obs']:.3g}")
    return ", ".join(parts) or "hypothesis tests failed"


def _recorded(name: str, test: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``test()``'s result, or ``{"error": reason}`` where it raises."""
    try:
        with _quiet_optimizer():
            return test()
    except Exception as err:  # noqa: BLE001 - any failure of one test is recorded, never fatal
        reason = f"{type(err).__name__}: {err}"
        log.warning("%s test failed: %s", name, reason)
        return {"error": reason}


def _empty_background_bins(model: Any, data: Sequence[float]) -> str | None:
    """Why both tests are undefined, or None: the model at POI = 0 (every other parameter
    at its initial value) predicts no events in a bin with data, so the likelihood of the
    background-only hypothesis vanishes (q0 is infinite) and no Asimov data at POI = 0 exist."""
    import numpy as np

    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 0.0
    expected = np.asarray(model.expected_actualdata(pars), dtype=float)
    observed = np.asarray(data[: model.config.nmaindata], dtype=float)
    empty = np.flatnonzero((expected <= 0) & (observed > 0))
    if not empty.size:
        return None
    names = [f"{channel} bin {i - model.config.channel_slices[channel].start}"
             for i in empty[:3] for channel in model.config.channels
             if model.config.channel_slices[channel].start <= i < model.config.channel_slices[channel].stop]
    more = f" and {empty.size - 3} more" if empty.size > 3 else ""
    return (f"the background-only model (POI = 0) predicts no events in {empty.size} bins with data "
            f"({', '.join(names)}{more}): its likelihood vanishes, q0 and the Asimov data at POI = 0 are undefined")


@contextlib.contextmanager
def _quiet_optimizer() -> Iterator[None]:
    optimizer_log = logging.getLogger(PYHF_OPTIMIZER_LOGGER)
    level = optimizer_log.level
    optimizer_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        optimizer_log.setLevel(level)


def _log(block: dict[str, Any], poi: str) -> None:
    found, at_poi = block[DISCOVERY], block[CLS_AT_POI]
    if "Z_obs" in found:
        log.info("%s: observed significance %s sigma (expected %s), p0 = %.3g (expected %.3g)", poi,
                 _number(found["Z_obs"]), _number(found["Z_exp"]), found["p0_obs"], found["p0_exp"])
    if "CLs_obs" in at_poi:
        log.info("%s = %g: CLs observed %.3g, expected %.3g [-2 sigma %.3g, +2 sigma %.3g]", poi, at_poi["poi"], at_poi["CLs_obs"], at_poi["CLs_exp"][2], at_poi["CLs_exp"][0], at_poi["CLs_exp"][4])
    log.info("%s: hypothesis tests took %.1f s", poi, block["wall_time_s"])


def _number(z: float | None) -> str:
    """Z for the log; None is a p-value that underflowed (or is NaN): beyond about 38 sigma."""
    return "> 38" if z is None else f"{z:.2f}"
