"""The objectives of a hard-cut analysis: a cached pass, the cabinetry workspace and pyhf's
model of it on its Asimov data (POI = 1); or, for a signal, the median expected upper limit
on its strength by ``pyhf.infer.intervals.upper_limits.upper_limit`` (numpy backend).

The Asimov best fit is the nominal parameter point, so the expected uncertainty is read
from pyhf's -ln L there: the POI's diagonal element of the inverse Hessian (automatic
differentiation of pyhf's jax backend), over the parameters that are not fixed. (A MINUIT
fit of the tiny test samples can wander off to parameter bounds; HESSE then differs.)"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agcflow.config import AnalysisSettings, FitSettings, ReinterpretSettings, SignalSettings
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import AgcflowError
from agcflow.processing.cached import delivered_samples, sample_histograms
from agcflow.processing.histograms import save_root
from agcflow.processing.run import complete
from agcflow.scan.engine import CLS_LEVEL, PYHF_CLS_MODIFIER_SETTINGS
from agcflow.stats.backend import use_backend
from agcflow.stats.workspace import asimov_closure_workspace, build_workspace, drop_empty_bins

log = logging.getLogger(__name__)


def expected_uncertainty(
    manifest: Manifest, analysis: AnalysisSettings, fit: FitSettings, seed: int, work_dir: Path
) -> float:
    """Expected uncertainty on the POI of the hard-cut analysis (POI = 1 Asimov data);
    histograms and templates are written under ``work_dir``."""
    import cabinetry

    hists: dict[str, Any] = {}
    for columns, meta in delivered_samples(manifest, analysis).values():
        hists.update(sample_histograms(columns, meta, analysis, seed))
    root = save_root(complete(hists, manifest, analysis), Path(work_dir) / "histograms.root")
    # bins only a variation populates are empty in the Asimov data: drop them as well
    ws = drop_empty_bins(asimov_closure_workspace(build_workspace(root, analysis, fit, Path(work_dir)), 1.0))
    use_backend("jax", "cpu")
    model, data = cabinetry.model_utils.model_and_data(ws)
    value = _hessian_uncertainty(model, data, fit.poi)
    log.info("hard cuts %s: expected uncertainty %.5f", analysis.options.cuts, value)
    return value


LIMIT_ENGINES = ("jax", "pyhf")


def expected_limit(
    manifest: Manifest, analysis: AnalysisSettings, fit: FitSettings, seed: int, work_dir: Path,
    signal: SignalSettings, reinterpret: ReinterpretSettings, engine: str = "pyhf",
) -> float:
    """Median expected 95 % CL upper limit on the strength (``reinterpret.poi``) of ``signal``
    in the hard-cut analysis, the signal one more sample and the fit's POI a free norm factor,
    on the background-only Asimov data; ``manifest`` delivers the signal too.

    ``pyhf``: the cabinetry workspace and ``pyhf.infer.intervals.upper_limits.upper_limit``
    (numpy backend; minutes per point on the test samples). ``jax``: the same histograms
    through :func:`agcflow.relaxed.limit.expected_limit` (the statistics checked against pyhf
    in ``tests/optimize/test_limit.py``; seconds), for the grid.
    """
    if engine not in LIMIT_ENGINES:
        raise AgcflowError(f"limit engine {engine!r} unknown; valid: {', '.join(LIMIT_ENGINES)}")
    full = analysis.with_signal(signal)
    hists = cached_histograms(manifest, full, seed)
    value = _pyhf_limit(hists, full, fit, work_dir, signal, reinterpret) if engine == "pyhf" else _jax_limit(
        hists, full, fit, signal, reinterpret)
    log.info("hard cuts %s: expected limit on %s %.5f (%s)", analysis.options.cuts, reinterpret.poi, value, engine)
    return value


def cached_histograms(manifest: Manifest, analysis: AnalysisSettings, seed: int) -> dict[str, Any]:
    """Every histogram of ``analysis`` from the delivered columns (a cached pass), pseudodata included."""
    hists: dict[str, Any] = {}
    for columns, meta in delivered_samples(manifest, analysis).values():
        hists.update(sample_histograms(columns, meta, analysis, seed))
    return complete(hists, manifest, analysis)


def limit_model(hists: dict[str, Any], analysis: AnalysisSettings, fit: FitSettings, work_dir: Path,
                signal: SignalSettings, reinterpret: ReinterpretSettings) -> tuple[Any, Any]:
    """pyhf's model of the hard-cut histograms of ``analysis`` (which has the signal) with the
    signal's strength as the POI (numpy backend, scipy optimiser), and its background-only Asimov data."""
    import pyhf

    root = save_root(hists, Path(work_dir) / "histograms.root")
    ws = with_signal_poi(build_workspace(root, analysis, fit, Path(work_dir)), signal.label, reinterpret)
    use_backend("numpy")
    pyhf.set_backend("numpy", "scipy")
    model = pyhf.Workspace(ws).model(modifier_settings=PYHF_CLS_MODIFIER_SETTINGS)
    pars = model.config.suggested_init()
    pars[model.config.poi_index] = 0.0
    return model, model.expected_data(pars)


def _pyhf_limit(hists: dict[str, Any], analysis: AnalysisSettings, fit: FitSettings, work_dir: Path,
                signal: SignalSettings, reinterpret: ReinterpretSettings) -> float:
    import pyhf

    model, data = limit_model(hists, analysis, fit, work_dir, signal, reinterpret)
    _, expected = pyhf.infer.intervals.upper_limits.upper_limit(data, model, level=CLS_LEVEL)
    return float(expected[2])


def _jax_limit(hists: dict[str, Any], analysis: AnalysisSettings, fit: FitSettings, signal: SignalSettings,
               reinterpret: ReinterpretSettings) -> float:
    import jax

    from agcflow.relaxed.likelihood import hard_templates
    from agcflow.relaxed.limit import compiled_limit, signal_layout

    jax.config.update("jax_enable_x64", True)
    layout = signal_layout(analysis, fit, signal.name, reinterpret.poi)
    return float(compiled_limit(layout, CLS_LEVEL)(hard_templates(hists, layout, fit.fit_edges)))


def with_signal_poi(ws: dict[str, Any], sample: str, reinterpret: ReinterpretSettings) -> dict[str, Any]:
    """``ws`` with the norm factor ``reinterpret.poi`` on ``sample`` (a sample name) as its POI."""
    if not any(s["name"] == sample for channel in ws["channels"] for s in channel["samples"]):
        raise AgcflowError(f"the workspace has no sample {sample!r} (no signal events selected?)")
    for channel in ws["channels"]:
        for s in channel["samples"]:
            if s["name"] == sample:
                s["modifiers"].append({"name": reinterpret.poi, "type": "normfactor", "data": None})
    for measurement in ws["measurements"]:
        measurement["config"]["parameters"].append(
            {"name": reinterpret.poi, "inits": [1.0], "bounds": [list(reinterpret.poi_bounds)]})
        measurement["config"]["poi"] = reinterpret.poi
    return ws


def _hessian_uncertainty(model: Any, data: Any, poi: str) -> float:
    import jax
    import jax.numpy as jnp
    import numpy as np

    free = ~np.asarray(model.config.suggested_fixed())
    pars = jnp.asarray(model.config.suggested_init())
    hessian = np.asarray(jax.hessian(lambda p: -model.logpdf(p, jnp.asarray(data))[0])(pars))[np.ix_(free, free)]
    index = int(np.flatnonzero(free).tolist().index(model.config.poi_index))
    if model.config.poi_name != poi:
        raise AgcflowError(f"workspace POI {model.config.poi_name!r}, fit settings expect {poi!r}")
    return float(np.sqrt(np.linalg.inv(hessian)[index, index]))
