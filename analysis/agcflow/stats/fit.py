"""Maximum-likelihood fit of a workspace: results, yield tables, impacts and figures.

Every JSON is written atomically. A fit that does not converge is recorded as failed, with
MINUIT's status, and nothing derived from it (post-fit yields, impacts, pulls) is written;
outputs of an earlier run that this run did not produce are removed, so no stale number
survives next to a failed fit. A minimum MINUIT calls valid is still a failure when the POI
sits on a bound of its range or its value or uncertainty is not finite: such a number is not a
measurement. ``fit_results.json`` of a failed fit holds ``success: false``, a ``status``
starting with "failed", the ``reason`` and MINUIT's flags, and no best-fit value; ``agcflow
fit`` reports "fit failed" (its exit status is the CLI's choice).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from agcflow.config import ClusterSettings, FitSettings
from agcflow.errors import AgcflowError
from agcflow.stats import hypotests, plots
from agcflow.stats.backend import use_backend
from agcflow.util.io import atomic_set, read_json, staged_to_final, write_json

log = logging.getLogger(__name__)

T = TypeVar("T")

FIT_RESULTS = "fit_results.json"
YIELDS_PREFIT = "yields_prefit.json"
YIELDS_POSTFIT = "yields_postfit.json"
RANKING = "ranking.json"
# MINUIT strategy for every fit, whatever the backend. pyhf picks 0 when the backend gives
# gradients (jax), and with 0 the HESSE run after MIGRAD can turn a valid minimum invalid
# (pyhf#1928, iminuit#746): the AGC fit then fails on jax. numpy already gets 1.
MINUIT_STRATEGY = 1
NLL_CONVENTION = (
    "best_twice_nll is cabinetry's -2 ln L at the minimum (pyhf's full likelihood: Poisson "
    "terms with their factorials plus constraint terms); min_nll = best_twice_nll / 2"
)


@dataclass(frozen=True)
class FitOutcome:
    """What a fit produced: status, POI result, cabinetry's results and the files written."""

    success: bool
    status: str
    backend: str
    device: str
    poi: str
    poi_bestfit: float | None = None
    poi_uncertainty: float | None = None
    fit_results: Any = None  # cabinetry.fit.FitResults, None when the fit failed
    ranking: Any = None  # cabinetry.fit.RankingResults, None when skipped or failed
    hypothesis_tests: dict[str, Any] | None = None  # hypotests.hypothesis_tests(), None when off
    files: tuple[Path, ...] = ()
    wall_times_s: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.success:
            return f"fit failed ({self.backend} on {self.device}): {self.status.removeprefix('failed: ')}"
        tests = hypotests.summary(self.hypothesis_tests)
        return (
            f"{self.poi} = {self.poi_bestfit:.4f} +/- {self.poi_uncertainty:.4f}{'; ' + tests if tests else ''} "
            f"({self.backend} on {self.device}; {len(self.files)} files written)"
        )


def fit_workspace(
    ws: dict[str, Any],
    fit: FitSettings,
    output_dir: Path,
    figures_dir: Path,
    *,
    axis_labels: Mapping[str, str] | None = None,
    binnings: Mapping[str, Sequence[float]] | None = None,
    cluster: ClusterSettings | None = None,
    provenance_for: Callable[[float], dict[str, Any]] | None = None,
) -> FitOutcome:
    """Fit ``ws`` to its observations; write results, yields, impacts and figures.

    ``axis_labels`` maps channel names to the x-axis labels of the data/MC figures,
    e.g. ``{r.label: r.axis_label for r in analysis.regions}``; "observable" otherwise;
    ``binnings`` maps them to their bin edges where not ``fit.fit_edges``.
    The files are written as one set (``io.atomic_set``): an interrupted or failing run leaves
    the previous set whole, never part of a new one beside part of an old one.
    The impact fits run in parallel on ``cluster`` (in this process when None).
    ``provenance_for(wall_s)`` gives the provenance block ``fit_results.json`` carries.
    """
    output_dir, figures_dir = Path(output_dir), Path(figures_dir)
    owned = [output_dir / name for name in (FIT_RESULTS, YIELDS_PREFIT, YIELDS_POSTFIT, RANKING)]
    owned += [figures_dir / name for name in (plots.PULLS_PNG, plots.CORRELATION_PNG, plots.RANKING_PNG)]
    owned += plots.stage_figures(figures_dir, "prefit") + plots.stage_figures(figures_dir, "postfit")
    with atomic_set(output_dir, figures_dir, replaces=owned) as staging:
        outcome = _fit_into(ws, fit, staging[output_dir], staging[figures_dir], axis_labels or {}, binnings or {},
                            cluster)
        if provenance_for is not None:
            staged = staging[output_dir] / FIT_RESULTS
            write_json(staged, {**read_json(staged), "provenance": provenance_for(sum(outcome.wall_times_s.values()))})
    return replace(outcome, files=tuple(staged_to_final(path, staging) for path in outcome.files))


def _fit_into(ws: dict[str, Any], fit: FitSettings, output_dir: Path, figures_dir: Path,
              axis_labels: Mapping[str, str], binnings: Mapping[str, Sequence[float]],
              cluster: ClusterSettings | None) -> FitOutcome:
    import cabinetry
    from pyhf.exceptions import FailedMinimization

    device = use_backend(fit.backend, fit.device)
    model, data = cabinetry.model_utils.model_and_data(ws)
    _check_poi(model, fit.poi)
    plot_config = _plot_config(model, fit, axis_labels, binnings)
    files = _write_predictions(model, data, None, plot_config, output_dir, figures_dir)
    record = {"backend": fit.backend, "device": device, "poi": fit.poi}
    try:
        results, fit_time = _timed(lambda: cabinetry.fit.fit(model, data, strategy=MINUIT_STRATEGY))
    except FailedMinimization as err:
        minuit = _minuit_status(err)
        return _record_failure(f"{err} ({_describe(minuit)})", minuit, record, files, output_dir, figures_dir)
    poi_index = results.labels.index(fit.poi)
    bogus = _bogus_poi(model, results, poi_index, fit.poi)
    if bogus:
        return _record_failure(bogus, {}, record, files, output_dir, figures_dir)
    outcome = FitOutcome(
        success=True,
        status="converged",
        **record,
        poi_bestfit=float(results.bestfit[poi_index]),
        poi_uncertainty=float(results.uncertainty[poi_index]),
        fit_results=results,
        wall_times_s={"fit": fit_time},
    )
    log.info("%s = %.4f +/- %.4f", fit.poi, outcome.poi_bestfit, outcome.poi_uncertainty)
    if fit.hypothesis_tests:
        tests = hypotests.hypothesis_tests(model, data, fit.poi)
        outcome = replace(outcome, hypothesis_tests=tests,
                          wall_times_s={**outcome.wall_times_s, "hypotests": tests["wall_time_s"]})
    files += [
        write_json(output_dir / FIT_RESULTS, fit_results_record(outcome)),
        *_write_predictions(model, data, results, plot_config, output_dir, figures_dir),
        plots.pulls_figure(results, fit.poi, figures_dir),
        plots.correlation_figure(results, figures_dir),
    ]
    if not fit.ranking:
        _remove_stale([output_dir / RANKING, figures_dir / plots.RANKING_PNG])
        return replace(outcome, files=tuple(files))
    return _rank(ws, fit, cluster, outcome, files, output_dir, figures_dir)


def _check_poi(model: Any, poi: str) -> None:
    if model.config.poi_name != poi:
        raise AgcflowError(
            f"workspace measurement has POI {model.config.poi_name!r}, fit settings expect {poi!r}"
        )


def _plot_config(model: Any, fit: FitSettings, axis_labels: Mapping[str, str],
                 binnings: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """The part of a cabinetry configuration its data/MC figures read: binning and axis label.
    A channel with another number of bins than its edges give (bins dropped as empty, edges
    not passed on) is drawn against bin numbers."""
    regions = []
    for channel in model.config.channels:
        edges, label = list(binnings.get(channel) or fit.fit_edges), axis_labels.get(channel, "observable")
        if len(edges) != model.config.channel_nbins[channel] + 1:
            log.warning("channel %s: %d bins, but %d edges are given for its figures; drawn against bin numbers",
                        channel, model.config.channel_nbins[channel], len(edges))
            edges, label = list(range(model.config.channel_nbins[channel] + 1)), f"{label} (bin number)"
        regions.append({"Name": channel, "Binning": edges, "Variable": label})
    return {"Regions": regions}


def _write_predictions(
    model: Any,
    data: list[float],
    results: Any,
    config: dict[str, Any],
    output_dir: Path,
    figures_dir: Path,
) -> list[Path]:
    """Yield table and data/MC figures, pre-fit (``results`` None) or post-fit."""
    import cabinetry

    prediction = _finite_uncertainties(cabinetry.model_utils.prediction(model, fit_results=results))
    name = YIELDS_PREFIT if results is None else YIELDS_POSTFIT
    return [
        write_json(output_dir / name, yields_record(prediction, data)),
        *plots.data_mc_figures(prediction, data, config, figures_dir),
    ]


def _finite_uncertainties(prediction: Any) -> Any:
    """Bins without any predicted yield get a zero (not NaN) model uncertainty."""
    import numpy as np

    bins = [np.nan_to_num(np.asarray(b, dtype=float)) for b in prediction.total_stdev_model_bins]
    channels = np.nan_to_num(np.asarray(prediction.total_stdev_model_channels, dtype=float))
    if any(not np.array_equal(a, np.asarray(b, dtype=float)) for a, b in zip(bins, prediction.total_stdev_model_bins)):
        log.warning("%s: bins with no predicted yield have an undefined uncertainty; set to 0", prediction.label)
    return prediction._replace(
        total_stdev_model_bins=[b.tolist() for b in bins], total_stdev_model_channels=channels.tolist()
    )


def _bogus_poi(model: Any, results: Any, poi_index: int, poi: str) -> str | None:
    """Why a minimum MINUIT accepted gives no measurement of the POI; None when it does."""
    value, error = float(results.bestfit[poi_index]), float(results.uncertainty[poi_index])
    if not (math.isfinite(value) and math.isfinite(error)):
        return f"{poi} = {value} +/- {error} is not finite (HESSE failed?)"
    low, high = model.config.suggested_bounds()[model.config.par_slice(poi).start]
    tolerance = 1e-6 * (high - low)
    for name, bound in (("lower", low), ("upper", high)):
        if abs(value - bound) <= tolerance:
            return (f"{poi} = {value:.6g} is at its {name} bound (range [{low:g}, {high:g}]): no interior "
                    "minimum; widen the POI bounds or check the workspace")
    return None


def _record_failure(
    reason: str, minuit: dict[str, Any], record: dict[str, str], files: list[Path], output_dir: Path, figures_dir: Path
) -> FitOutcome:
    outcome = FitOutcome(success=False, status=f"failed: {reason}", **record)
    log.error("fit %s", outcome.status)
    figures = [plots.PULLS_PNG, plots.CORRELATION_PNG, plots.RANKING_PNG]
    _remove_stale([output_dir / YIELDS_POSTFIT, output_dir / RANKING, *(figures_dir / f for f in figures)])
    _remove_stale(plots.stage_figures(figures_dir, "postfit"))
    content = {**fit_results_record(outcome), "reason": reason, "minuit": minuit}
    path = write_json(output_dir / FIT_RESULTS, content)
    return replace(outcome, files=(*files, path))


def describe_failure(err: Exception) -> str:
    """MINUIT's status of a failed minimisation, in one line."""
    return _describe(_minuit_status(err))


def _minuit_status(err: Exception) -> dict[str, Any]:
    minuit = getattr(getattr(err, "result", None), "minuit", None)
    if minuit is None:
        return {}
    fmin = minuit.fmin
    return {
        "valid": fmin.is_valid,
        "edm": _finite_or_none(fmin.edm),
        "edm_goal": fmin.edm_goal,
        "fval": _finite_or_none(fmin.fval),
        "nfcn": fmin.nfcn,
        "above_max_edm": fmin.is_above_max_edm,
        "reached_call_limit": fmin.has_reached_call_limit,
        "hesse_failed": fmin.hesse_failed,
    }


def _finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: such values are recorded as null."""
    return float(value) if math.isfinite(value) else None


def _describe(minuit: dict[str, Any]) -> str:
    if not minuit:
        return "no MINUIT status available"
    edm = "NaN" if minuit["edm"] is None else f"{minuit['edm']:.3g}"
    flags = [name for name in ("above_max_edm", "reached_call_limit", "hesse_failed") if minuit[name]]
    return ", ".join([f"MINUIT valid={minuit['valid']}", f"EDM={edm}", f"calls={minuit['nfcn']}", *flags])


def _rank(
    ws: dict[str, Any],
    fit: FitSettings,
    cluster: ClusterSettings | None,
    outcome: FitOutcome,
    files: list[Path],
    output_dir: Path,
    figures_dir: Path,
) -> FitOutcome:
    from agcflow.stats.ranking import ImpactFitFailed, rank

    try:
        ranking, seconds = _timed(
            lambda: rank(ws, outcome.fit_results, outcome.poi, fit, MINUIT_STRATEGY, cluster)
        )
    except ImpactFitFailed as err:
        status = f"a fit with one parameter held fixed failed: {err}"
        log.error("ranking failed: %s", status)
        _remove_stale([figures_dir / plots.RANKING_PNG])
        path = write_json(output_dir / RANKING, {"success": False, "status": status, "poi": outcome.poi})
        return replace(outcome, files=(*files, path))
    files += [
        write_json(output_dir / RANKING, ranking_record(ranking, outcome.poi, seconds)),
        plots.ranking_figure(ranking, figures_dir),
    ]
    wall_times_s = {**outcome.wall_times_s, "ranking": seconds}
    return replace(outcome, ranking=ranking, files=tuple(files), wall_times_s=wall_times_s)


def fit_results_record(outcome: FitOutcome) -> dict[str, Any]:
    """The content of ``fit_results.json``; numbers only for a converged fit."""
    record: dict[str, Any] = {
        "success": outcome.success,
        "status": outcome.status,
        "backend": outcome.backend,
        "device": outcome.device,
        "poi": outcome.poi,
    }
    results = outcome.fit_results
    if results is None:
        return record
    return {
        **record,
        "poi_bestfit": outcome.poi_bestfit,
        "poi_uncertainty": outcome.poi_uncertainty,
        "labels": list(results.labels),
        "bestfit": results.bestfit.tolist(),
        "uncertainty": results.uncertainty.tolist(),
        "correlation": results.corr_mat.tolist(),
        "best_twice_nll": float(results.best_twice_nll),
        "min_nll": float(results.best_twice_nll) / 2,
        "nll_convention": NLL_CONVENTION,
        "wall_time_s": outcome.wall_times_s.get("fit"),
        **({"hypothesis_tests": outcome.hypothesis_tests} if outcome.hypothesis_tests is not None else {}),
    }


def yields_record(prediction: Any, data: list[float]) -> dict[str, Any]:
    """Per region: each sample's yields and uncertainties per bin and in total, the sum of
    samples, and the observed data. ``prediction`` is a ``cabinetry.model_utils.ModelPrediction``."""
    model = prediction.model
    samples = model.config.samples
    regions = {}
    for i, channel in enumerate(model.config.channels):
        per_bin = prediction.total_stdev_model_bins[i]
        per_region = prediction.total_stdev_model_channels[i]
        yields = prediction.model_yields[i]
        entries = {
            sample: _entry(yields[j], per_bin[j], per_region[j]) for j, sample in enumerate(samples)
        }
        total = [sum(column) for column in zip(*yields)]
        observed = data[model.config.channel_slices[channel]]
        regions[channel] = {
            "samples": entries,
            "total": _entry(total, per_bin[-1], per_region[-1]),
            "data": {"per_bin": list(map(float, observed)), "total": float(sum(observed))},
        }
    return {"label": prediction.label, "regions": regions}


def _entry(yields: list[float], stdev: list[float], total_stdev: float) -> dict[str, Any]:
    return {
        "per_bin": [float(y) for y in yields],
        "per_bin_uncertainty": [float(s) for s in stdev],
        "total": float(sum(yields)),
        "total_uncertainty": float(total_stdev),
    }


def ranking_record(ranking: Any, poi: str, wall_time_s: float) -> dict[str, Any]:
    """The content of ``ranking.json``: impacts on the POI, largest post-fit impact first."""
    parameters = [
        {
            "name": name,
            "bestfit": float(ranking.bestfit[i]),
            "uncertainty": float(ranking.uncertainty[i]),
            "prefit_impact_up": float(ranking.prefit_up[i]),
            "prefit_impact_down": float(ranking.prefit_down[i]),
            "postfit_impact_up": float(ranking.postfit_up[i]),
            "postfit_impact_down": float(ranking.postfit_down[i]),
        }
        for i, name in enumerate(ranking.labels)
    ]
    parameters.sort(key=lambda p: -max(abs(p["postfit_impact_up"]), abs(p["postfit_impact_down"])))
    return {"success": True, "poi": poi, "parameters": parameters, "wall_time_s": wall_time_s}


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def _remove_stale(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
