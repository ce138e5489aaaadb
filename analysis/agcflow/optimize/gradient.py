"""Gradient strategy: the relaxed analysis and its JAX likelihood, minimised with Adam.

The parameters are optimised in grid units, ``(value - low) / step``, so that one learning
rate suits cuts of different scales; they are kept inside the grid's box. The cuts start
very soft and sharpen step by step (graduated non-convexity): wide sigmoids average the
objective over neighbouring cut values, so the first steps follow the broad trend instead
of the nearest bump that finite simulated samples leave in the landscape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agcflow.analyses.base import CutParameter, Relaxation, RelaxedForm, Templates
from agcflow.config import Settings
from agcflow.delivery.local import read_columns
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import AgcflowError, ConfigError
from agcflow.optimize.options import STARTS, GradientOptions
from agcflow.processing.run import delivered_samples
from agcflow.relaxed.likelihood import Layout, expected_uncertainty

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


def relaxed_form_of(settings: Settings) -> RelaxedForm:
    """The analysis' relaxed form; a clear error when the plugin has none."""
    form = settings.analysis.plugin.relaxed_form()
    if form is None:
        raise ConfigError(f"analysis {settings.analysis.plugin.name!r} has no relaxed form (Analysis.relaxed_form): "
                          "gradient optimisation needs one; use --strategy grid")
    return form


def load_relaxed_events(settings: Settings, manifest: Manifest, form: RelaxedForm) -> Any:
    """Every delivered sample, prepared once by the relaxed form."""
    samples = {key: (lambda columns=columns: read_columns(columns), meta)
               for key, (columns, meta) in delivered_samples(manifest, settings.analysis).items()}
    return form.events(samples, settings.analysis, settings.processing.seed)


def relaxed_objective(
    settings: Settings, form: RelaxedForm, events: Any, parameters: Sequence[CutParameter], relaxation: Relaxation,
    measure: Callable[[Templates], Any] | None = None,
) -> Callable[..., tuple[float, dict[str, float]]]:
    """A compiled function: (cut values, width scale) -> (objective, its gradient with
    respect to the cuts); the sigmoid widths are those of ``relaxation`` times the scale
    (default 1). The objective is ``measure`` of the templates (JAX), by default the expected
    uncertainty on the fit's POI."""
    import jax
    import jax.numpy as jnp

    if measure is None:
        layout = Layout.of(settings.analysis, settings.fit)

        def measure(templates: Templates) -> Any:
            return expected_uncertainty(templates, layout)
    configured = settings.analysis.plugin.cut_values(settings.analysis)
    fixed = {name: configured[name] for name in form.cuts}
    edges = np.asarray(settings.fit.fit_edges)

    def objective(cuts: dict[str, Any], scale: Any, tables: Any) -> Any:
        templates = form.templates({**fixed, **cuts}, tables, events, settings.analysis, edges, relaxation, scale)
        return measure(templates)

    compiled = jax.jit(jax.value_and_grad(objective))

    def evaluate(point: Mapping[str, float], scale: float = 1.0) -> tuple[float, dict[str, float]]:
        cuts = {p.name: jnp.asarray(float(point[p.name])) for p in parameters}
        value, grad = compiled(cuts, jnp.asarray(float(scale)), form.tables(events))
        return float(value), {name: float(g) for name, g in grad.items()}

    return evaluate


def relaxation_of(form: RelaxedForm, parameters: Sequence[CutParameter], options: GradientOptions) -> Relaxation:
    """Sigmoid widths of one grid step over the steepness for the varied cuts; the others hard."""
    unknown = [p.name for p in parameters if p.name not in form.cuts]
    if unknown:
        raise ConfigError(f"the relaxed analysis cannot vary {', '.join(unknown)}; valid: {', '.join(form.cuts)}")
    widths = dict.fromkeys(form.cuts, 0.0)
    widths.update({p.name: p.step / options.steepness for p in parameters})
    return Relaxation(widths, options.bandwidth)


def run_gradient(
    settings: Settings,
    manifest: Manifest,
    parameters: Sequence[CutParameter],
    options: GradientOptions,
    measure: Callable[[Templates], Any] | None = None,
) -> list[dict[str, Any]]:
    """Adam from ``options.start``; the path: per evaluation the cut values, the steepness,
    the objective (``measure`` of the templates, see :func:`relaxed_objective`) and its
    gradient. Evaluations: ``options.steps + 1``, fewer when the descent stops early (:func:`descend`)."""
    enable_x64()
    form = relaxed_form_of(settings)
    relaxation = relaxation_of(form, parameters, options)  # refuses a cut it cannot relax, before loading
    start = _start(settings, parameters, options.start)
    events = load_relaxed_events(settings, manifest, form)
    evaluate = relaxed_objective(settings, form, events, parameters, relaxation, measure)
    return descend(evaluate, parameters, start, options)


def descend(evaluate: Callable[[Mapping[str, float], float], tuple[float, dict[str, float]]],
            parameters: Sequence[CutParameter], units: np.ndarray, options: GradientOptions) -> list[dict[str, Any]]:
    """Adam in grid units from ``units`` (a point in grid units), ``evaluate(point, width
    scale) -> (objective, gradient)`` sharpening as ``options.schedule()``; the path (see
    :func:`run_gradient`). A non-finite objective or gradient ends it (see :func:`_refuse_non_finite`)."""
    steepness = options.schedule()
    low = np.array([p.low for p in parameters])
    step = np.array([p.step for p in parameters])
    upper = np.array([p.points - 1.0 for p in parameters])
    moments = (np.zeros_like(units), np.zeros_like(units))
    rates = options.learning_rates()
    path: list[dict[str, Any]] = []
    for iteration in range(options.steps + 1):
        point = {p.name: float(v) for p, v in zip(parameters, low + units * step)}
        value, grad = evaluate(point, options.steepness / steepness[iteration])
        if not _finite(value, grad):
            _refuse_non_finite(path, point, float(steepness[iteration]), value)
            break
        path.append({**point, "steepness": float(steepness[iteration]), "objective": value, "gradient": grad})
        log.info("gradient step %d (steepness %.2f): %s -> %.5f", iteration, steepness[iteration], point, value)
        if iteration < options.steps:
            units, moments = _adam(units, np.array([grad[p.name] for p in parameters]) * step, moments, iteration + 1,
                                   rates[iteration])
            units = np.clip(units, 0, upper)
    return path


def _finite(value: float, grad: Mapping[str, float]) -> bool:
    return bool(np.isfinite(value) and np.isfinite(list(grad.values())).all())


def _refuse_non_finite(path: list[dict[str, Any]], point: Mapping[str, float], steepness: float, value: float) -> None:
    """A relaxed objective or gradient that is not finite (a model the sharp relaxation of a
    small sample cannot fit) ends the descent at the last finite point, which is recorded
    with the reason; at the first point it is an error."""
    where = f"at {dict(point)} (steepness {steepness:.3g})"
    if not path:
        raise AgcflowError(f"the relaxed objective is not finite {where}: {value}; soften the relaxation "
                           "(--steepness, --start-steepness, --bandwidth) or use more simulated events")
    path[-1]["stopped"] = f"objective or gradient not finite {where}"
    log.warning("gradient descent stopped after %d steps: the objective or its gradient is not finite %s; "
                "the last finite point is the optimum (softer --steepness/--bandwidth avoid this)", len(path) - 1, where)


def _start(settings: Settings, parameters: Sequence[CutParameter], start: str) -> np.ndarray:
    """The first point in grid units."""
    upper = np.array([p.points - 1.0 for p in parameters])
    if start == "centre":
        return upper / 2
    if start != "configured":
        raise ConfigError(f"gradient start {start!r} unknown; valid: {', '.join(STARTS)}")
    values = settings.analysis.plugin.cut_values(settings.analysis)
    configured = np.array([values[p.name] for p in parameters])
    return np.clip((configured - np.array([p.low for p in parameters])) / np.array([p.step for p in parameters]), 0, upper)


def _adam(x: np.ndarray, grad: np.ndarray, moments: tuple[np.ndarray, np.ndarray], t: int,
          rate: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    b1, b2 = ADAM_BETAS
    m, v = b1 * moments[0] + (1 - b1) * grad, b2 * moments[1] + (1 - b2) * grad**2
    step = rate * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + ADAM_EPSILON)
    return x - step, (m, v)


def enable_x64() -> str:
    """Double precision in JAX (the likelihood needs it); return the device ("gpu"/"cpu")."""
    import jax

    jax.config.update("jax_enable_x64", True)
    return "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
