"""Impacts of the nuisance parameters on the POI: cabinetry's ranking, its fits in parallel.

``cabinetry.fit.ranking`` runs, one after another, a full maximum-likelihood fit per parameter
and shift (the parameter held at its best-fit value plus/minus its pre-fit and its post-fit
uncertainty; shifts of zero are skipped as impact 0). Those fits are independent: here each is
one Dask task on the configured cluster, run by cabinetry's own fit function from the same start
(pyhf's suggested initial values, the held parameter at its shifted value), so the impacts are
cabinetry's. Without a cluster the same tasks run in this process, one after another.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

from agcflow.config import ClusterSettings, FitSettings
from agcflow.errors import AgcflowError

log = logging.getLogger(__name__)

# The columns of cabinetry's impacts, in its order.
SHIFTS = ("prefit_up", "prefit_down", "postfit_up", "postfit_down")


class ImpactFitFailed(AgcflowError):
    """A fit with one parameter held at a shifted value did not converge."""


@dataclass(frozen=True)
class ImpactFit:
    """One fit of the ranking: ``parameter`` (index) held at ``value`` for impact ``shift``."""

    parameter: int
    label: str
    shift: int  # index into SHIFTS
    value: float


def impact_fits(model: Any, fit_results: Any, poi_index: int) -> list[ImpactFit]:
    """The fits cabinetry's ranking runs, in its order; shifts of zero need no fit."""
    import cabinetry

    prefit = cabinetry.model_utils.prefit_uncertainties(model)
    fits = []
    for i, label in enumerate(model.config.par_names):
        if i == poi_index:
            continue
        best, postfit = fit_results.bestfit[i], fit_results.uncertainty[i]
        for shift, value in enumerate((best + prefit[i], best - prefit[i], best + postfit, best - postfit)):
            if value != best:
                fits.append(ImpactFit(i, label, shift, float(value)))
    return fits


def rank(
    ws: dict[str, Any],
    fit_results: Any,
    poi: str,
    fit: FitSettings,
    strategy: int,
    cluster: ClusterSettings | None = None,
) -> Any:
    """``cabinetry.fit.ranking`` of ``ws`` around ``fit_results``, its fits run as Dask tasks on
    ``cluster`` (in this process when None). Returns cabinetry's ``RankingResults``.

    Raises:
        ImpactFitFailed: a fit did not converge; the message names the parameter and value.
    """
    import cabinetry

    model, _ = cabinetry.model_utils.model_and_data(ws)
    poi_index = model.config.par_names.index(poi)
    fits = impact_fits(model, fit_results, poi_index)
    task = functools.partial(
        poi_with_parameter_held, poi_index=poi_index, backend=fit.backend, device=fit.device, strategy=strategy
    )
    text = json.dumps(ws, sort_keys=True)
    log.info("ranking: %d fits (%d parameters), engine %s", len(fits), len(model.config.par_names) - 1,
             fit.ranking_engine)
    pois = fast_pois(ws, model, fits, poi_index) if fit.ranking_engine == "fast" else [None] * len(fits)
    rest = [impact for impact, poi_value in zip(fits, pois) if poi_value is None]
    if rest:
        log.info("ranking: %d fits by cabinetry%s", len(rest), "" if cluster is None else " on the cluster")
        done = iter([task(impact, text) for impact in rest] if cluster is None else _on_cluster(task, rest, text, cluster))
        pois = [next(done) if poi_value is None else poi_value for poi_value in pois]
    return _ranking_results(model, fit_results, poi_index, fits, pois)


def fast_pois(ws: dict[str, Any], model: Any, fits: list[ImpactFit], poi_index: int) -> list[float | None]:
    """The POI of every impact fit by the compiled Newton engine of the scan
    (:func:`agcflow.fast.asymptotics.fit`: one program, the held parameter an argument), from
    pyhf's suggested start as cabinetry. None for a fit that did not converge, and for all when
    the model has a modifier the engine cannot express: cabinetry fits those.

    On the default ttbar workspace 130 of 132 impacts equal cabinetry's to 1e-3; in the other two
    MINUIT stops in a local minimum whose -2 ln L is higher by 3.9 and 22.7 than the engine's."""
    from agcflow.fast.hf_tensors import UnsupportedModel, model_tensors, parameter_names

    try:
        tensors, names = model_tensors(ws, pad=False), parameter_names(ws)
    except UnsupportedModel as err:
        log.info("ranking: the fast engine cannot express this model (%s); cabinetry fits all", err)
        return [None] * len(fits)
    import jax
    import jax.numpy as jnp

    from agcflow.fast.asymptotics import fit_program

    jax.config.update("jax_enable_x64", True)
    arrays = {key: jnp.asarray(value) for key, value in tensors.arrays().items()}
    slot = {name: i for i, name in enumerate(names)}
    poi_slot = slot[model.config.par_names[poi_index]]
    program, pois = fit_program(), []
    for impact in fits:
        held = slot[model.config.par_names[impact.parameter]]
        start = arrays["init"].at[held].set(impact.value)
        pars, _, converged = program(arrays, arrays["observed"], arrays["gauss_aux"], start,
                                     arrays["fixed"].at[held].set(True))
        pois.append(float(pars[poi_slot]) if bool(converged) else None)
    log.info("ranking: %d of %d fits converged in the fast engine", sum(p is not None for p in pois), len(fits))
    return pois


def _on_cluster(task: Any, fits: list[ImpactFit], text: str, cluster: ClusterSettings) -> list[float]:
    from agcflow.compute.cluster import open_client

    with open_client(cluster) as client:
        [workspace] = client.scatter([text], broadcast=True)
        futures = client.map(task, fits, ws_text=workspace, pure=False)
        return client.gather(futures)


def poi_with_parameter_held(
    impact: ImpactFit, ws_text: str, *, poi_index: int, backend: str, device: str, strategy: int
) -> float:
    """The POI's best-fit value with ``impact.parameter`` held at ``impact.value``: one task."""
    import cabinetry
    from pyhf.exceptions import FailedMinimization

    from agcflow.stats.backend import use_backend
    from agcflow.stats.fit import describe_failure

    use_backend(backend, device)
    model, data = _model_and_data(ws_text, backend)
    init = model.config.suggested_init()
    init[impact.parameter] = impact.value
    fixed = model.config.suggested_fixed()
    fixed[impact.parameter] = True
    try:
        result = cabinetry.fit._fit_model(model, data, init_pars=init, fix_pars=fixed, strategy=strategy)
    except FailedMinimization as err:
        raise ImpactFitFailed(f"{impact.label} held at {impact.value:.6g} ({SHIFTS[impact.shift]}): {err} "
                              f"({describe_failure(err)})") from None
    return float(result.bestfit[poi_index])


@functools.lru_cache(maxsize=2)
def _model_and_data(ws_text: str, backend: str) -> tuple[Any, list[float]]:
    """The pyhf model of a workspace, built once per worker process and backend."""
    import cabinetry

    return cabinetry.model_utils.model_and_data(json.loads(ws_text))


def _ranking_results(model: Any, fit_results: Any, poi_index: int, fits: list[ImpactFit], pois: list[float]) -> Any:
    """cabinetry's ``RankingResults`` (the POI's row removed, as cabinetry does)."""
    import cabinetry
    import numpy as np

    impacts = np.zeros((len(model.config.par_names), len(SHIFTS)))
    nominal = fit_results.bestfit[poi_index]
    for impact, poi_value in zip(fits, pois):
        impacts[impact.parameter, impact.shift] = poi_value - nominal
    impacts = np.delete(impacts, poi_index, axis=0)
    return cabinetry.fit.RankingResults(
        np.delete(fit_results.bestfit, poi_index),
        np.delete(fit_results.uncertainty, poi_index),
        np.delete(fit_results.labels, poi_index).tolist(),
        *(impacts[:, column] for column in range(len(SHIFTS))),
    )
