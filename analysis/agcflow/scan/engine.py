"""CLs of signal points against one background workspace: the work of one scan task.

Two engines: ``jax`` (the fast path of :mod:`agcflow.fast.asymptotics`, one compiled fit
program per array shape) and ``numpy`` (pyhf itself, a model and a hypotest per point, as
``pyhf cls``). Each point ends as a record with status ``ok`` or ``failed`` and the reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from agcflow.errors import BackendError
from agcflow.scan.pallet import SignalPoint
from agcflow.stats.backend import use_backend

log = logging.getLogger(__name__)

ENGINES = ("jax", "numpy")
# The model settings of the `pyhf cls` command line (pyhf's library defaults differ).
PYHF_CLS_MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
CLS_LEVEL = 0.05  # 95 % CL: CLs below it excludes (scans, contours, limits, adaptive loops, optimisation)
UPPER_LIMIT_SCAN = tuple(np.geomspace(0.01, 10.0, 31).tolist())  # POI values of the limit scan


def evaluate_points(
    background: dict[str, Any], points: Iterable[SignalPoint], engine: str, upper_limits: bool,
    limit_scan: Sequence[float] = UPPER_LIMIT_SCAN,
) -> list[tuple[str, dict[str, Any]]]:
    """(point name, record) for each point; never raises for a bad point. Upper limits are
    interpolated on the POI values ``limit_scan``."""
    use_backend("jax" if engine == "jax" else "numpy", "auto")
    hypotest = _fast_hypotest if engine == "jax" else pyhf_hypotest
    scan = limit_scan if upper_limits else ()
    return [(p.name, evaluate_point(background, p, hypotest, scan)) for p in points]


def pyhf_hypotest(background: dict[str, Any], patch: list[dict[str, Any]], mu: float = 1.0) -> dict[str, Any]:
    """CLs_obs and CLs_exp at ``mu`` computed by pyhf exactly as ``pyhf cls`` does."""
    import pyhf

    workspace = pyhf.Workspace(background)
    model = workspace.model(patches=[patch], modifier_settings=PYHF_CLS_MODIFIER_SETTINGS)
    data = workspace.data(model)
    cls_obs, cls_exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
    return {"CLs_obs": float(cls_obs), "CLs_exp": [float(v) for v in cls_exp], "converged": True}


def _fast_hypotest(background: dict[str, Any], patch: list[dict[str, Any]], mu: float = 1.0) -> dict[str, Any]:
    from agcflow.fast.asymptotics import hypotest
    from agcflow.fast.hf_tensors import UnsupportedModel, model_tensors

    try:
        tensors = model_tensors(_patched(background, patch))
    except UnsupportedModel as err:
        raise BackendError(f"the jax scan engine cannot express this model: {err}; scan it with --backend numpy "
                           "(pyhf per point)") from err
    return hypotest(tensors, mu)


def evaluate_point(background: dict[str, Any], point: SignalPoint, hypotest: Any, limit_scan: Sequence[float] = ()) -> dict[str, Any]:
    """One point's record with ``hypotest`` (status "failed" and the reason where it fails)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"CLs_obs": None, "CLs_exp": None, "values": list(point.values)}
    try:
        error = point.error or _fill(record, background, point, hypotest, limit_scan)
    except Exception as err:  # noqa: BLE001 - any failure of one point is recorded, the scan goes on
        error = f"{point.source}: {type(err).__name__}: {err}"
    record.update(status="failed" if error else "ok", error=error, fit_time=time.perf_counter() - started)
    if error:
        log.warning("point %s failed: %s", point.name, error)
    return record


def _fill(record: dict[str, Any], background: dict[str, Any], point: SignalPoint, hypotest: Any, limit_scan: Sequence[float]) -> str | None:
    """Put CLs (and limits) into ``record``; return why the point failed, or None."""
    result = hypotest(background, point.patch)
    record["CLs_obs"], record["CLs_exp"] = result["CLs_obs"], result["CLs_exp"]
    if not all(math.isfinite(v) for v in [result["CLs_obs"], *result["CLs_exp"]]):
        return f"{point.source}: CLs not finite (CLs_obs={result['CLs_obs']}, CLs_exp={result['CLs_exp']})"
    if not result["converged"]:
        return f"{point.source}: a fit did not converge"
    if len(limit_scan):
        record["upper_limit_obs"], record["upper_limit_exp"] = _upper_limits(background, point.patch, hypotest, limit_scan)
    return None


def _upper_limits(
    background: dict[str, Any], patch: list[dict[str, Any]], hypotest: Any, limit_scan: Sequence[float]
) -> tuple[float, list[float]]:
    """Observed and expected 95% CL upper limits on the POI: CLs on ``limit_scan``, interpolated
    linearly at CLs = 0.05 as pyhf's ``linear_grid_scan`` (NaN beyond the scan)."""
    scan = np.asarray(limit_scan)
    results = [hypotest(background, patch, mu) for mu in scan]
    curves = np.array([[r["CLs_obs"], *r["CLs_exp"]] for r in results]).T  # [6, n_scan]
    limits = [
        float(np.interp(CLS_LEVEL, curve[::-1], scan[::-1])) if curve.min() <= CLS_LEVEL <= curve.max() else math.nan
        for curve in curves
    ]
    return limits[0], limits[1:]


def _patched(background: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    import jsonpatch

    return jsonpatch.apply_patch(_copy_json(background), patch, in_place=True)


def _copy_json(value: Any) -> Any:
    """Deep copy of parsed JSON (dicts, lists, scalars): several times faster than deepcopy."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value
