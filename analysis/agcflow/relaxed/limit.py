"""The median expected upper limit on a signal strength from the relaxed model, differentiable
with respect to whatever made the templates.

Asymptotic CLs with the qmu-tilde test statistic, as pyhf's asymptotic calculator computes
the median expected CLs: on the background-only Asimov data (every parameter nominal, the
POI 0) the best fit is that point, ``q_A(mu) = -2 ln L(mu, profiled) + 2 ln L(nominal)``
and ``CLs(mu) = Phi(-sqrt(q_A(mu))) / Phi(0)``. The expected limit is the root of
``CLs(mu) = level``.

The root is found by Newton's method in ``sqrt(q_A)`` (nearly linear in mu), the nuisance
parameters profiled at each step by Newton's method with the exact Hessian; neither loop is
differentiated. At the root the implicit function theorem gives
``d mu_up / d theta = -(dCLs/dtheta) / (dCLs/dmu)``, and by the envelope theorem the
derivatives of the profiled likelihood are its partial derivatives at the fitted nuisance
parameters, so one evaluation of CLs at the root carries the whole gradient.
The profile fits are damped Newton steps with the exact Hessian (quadratic convergence near
the minimum), so that the limit is converged far below the changes a finite-difference
check sees; a fixed number of steps keeps the compiled program small.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.stats import norm as scipy_norm

from agcflow.analyses.base import Templates
from agcflow.config import AnalysisSettings, FitSettings
from agcflow.fast.asymptotics import expected_rates, twice_nll
from agcflow.relaxed.likelihood import Layout, model_arrays

PROFILE_STEPS = 12  # damped Newton steps of the nuisance parameters per POI value (warm-started)
ROOT_STEPS = 10  # Newton steps of the POI towards CLs = level
ALPHA_BOUNDS = (-5.0, 5.0)  # of the systematics' nuisance parameters in the profile fits
FACTOR_BOUNDS = (0.0, 1e3)  # of the norm factors and gammas
EMPTY_BIN_FLOOR = 1e-9  # events added to every sample and bin
NORMSYS_FLOOR = 1e-3  # the smallest normalisation factor of a systematic


def signal_layout(analysis: AnalysisSettings, fit: FitSettings, signal: str, poi: str) -> Layout:
    """The layout of ``analysis`` (its samples including ``signal``) with ``poi`` scaling the
    signal; the fit's own POI stays as a free norm factor of its sample, as in the workspace
    a reinterpretation patches."""
    base = Layout.of(analysis, fit)
    return Layout(regions=base.regions, region_labels=base.region_labels, processes=base.processes,
                  systematics=base.systematics, n_bins=base.n_bins, poi=poi, poi_sample=signal,
                  free_factors=((base.poi, base.poi_sample),))


def expected_limit(templates: Templates, layout: Layout, level: float) -> Any:
    """The median expected upper limit at CLs = ``level`` on the POI of ``layout``
    (see the module doc); a JAX scalar whose gradient is that of the limit."""
    arrays = model_arrays(templates, layout)
    # a bin no sample reaches (hard cuts) carries no information, but 0/0 in the derivatives
    arrays["nominal"] = arrays["nominal"] + EMPTY_BIN_FLOOR
    # a symmetrised normalisation effect beyond 100 % (a sample of a few events at tight cuts)
    # has a factor <= 0 below, which code 4 (logarithms) cannot interpolate: floored
    for key in ("normsys_hi", "normsys_lo"):
        arrays[key] = jnp.maximum(arrays[key], NORMSYS_FLOOR)
    floats = {k: v for k, v in arrays.items() if isinstance(v, jax.Array)}  # what the templates made
    structure = {k: v for k, v in arrays.items() if k not in floats}  # indices and masks
    nominal = jnp.asarray(layout.nominal_parameters).at[0].set(0.0)
    aux = nominal[structure["gauss_par"]]

    def model(values: Any) -> tuple[dict[str, Any], Any, Any]:
        """The model's arrays and its background-only Asimov data (main, auxiliary)."""
        arrs = {**structure, **values}
        return arrs, expected_rates(arrs, nominal), aux

    def twice(values: Any, pars: Any) -> Any:
        return twice_nll(*_args(model(values), pars))

    def cls(mu: Any, values: Any, pars: Any) -> Any:
        """Median expected CLs at ``mu``, the nuisance parameters at ``pars``."""
        q = twice(values, pars.at[0].set(mu)) - twice(values, nominal)
        return norm.cdf(-jnp.sqrt(jnp.maximum(q, 0.0))) / norm.cdf(0.0)

    @jax.custom_vjp
    def limit(values: Any) -> Any:
        return _root(model(values), layout, level)[0]

    def forward(values: Any) -> tuple[Any, Any]:
        mu, pars = _root(model(values), layout, level)
        return mu, (values, mu, pars)

    def backward(residuals: Any, cotangent: Any) -> tuple[Any]:
        values, mu, pars = residuals
        slope = jax.grad(cls)(mu, values, pars)  # d CLs / d mu
        _, pullback = jax.vjp(lambda v: cls(mu, v, pars), values)
        return pullback(-cotangent / slope)  # d mu / d theta = -(dCLs/dtheta) / (dCLs/dmu)

    limit.defvjp(forward, backward)
    return limit(floats)


@functools.cache
def compiled_limit(layout: Layout, level: float) -> Any:
    """:func:`expected_limit` of templates, compiled once per layout and level (per process)."""
    return jax.jit(lambda templates: expected_limit(templates, layout, level))


def _args(model: tuple[dict[str, Any], Any, Any], pars: Any) -> tuple[Any, ...]:
    arrays, main, aux = model
    return arrays, pars, main, aux


def _root(model: tuple[dict[str, Any], Any, Any], layout: Layout, level: float) -> tuple[Any, Any]:
    """The POI value where the median expected CLs is ``level``, and the profiled parameters there;
    ``model``: the arrays and the background-only Asimov data (main, auxiliary)."""

    def twice(pars: Any) -> Any:
        return twice_nll(*_args(model, pars))

    free = np.arange(len(layout.parameter_names)) > 0  # the POI is fixed in the profile fits
    nominal = jnp.asarray(layout.nominal_parameters).at[0].set(0.0)
    gradient, hessian = jax.grad(twice), jax.hessian(twice)
    base = twice(nominal)  # the unconditional minimum: Asimov data
    z = -float(scipy_norm.ppf(level * scipy_norm.cdf(0.0)))  # sqrt(q_A) at CLs = level
    lower, upper = _bounds(layout)

    def newton(_: int, state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        """A damped Newton step of the nuisance parameters (Levenberg-Marquardt): kept when
        -2 ln L decreases (the damping then shrinks), else refused (the damping grows)."""
        pars, value, damping = state
        g = jnp.where(free, gradient(pars), 0.0)
        h = jnp.where(free[:, None] & free[None, :], hessian(pars), 0.0)
        scale = jnp.abs(jnp.diag(h)) + 1e-12
        trial = jnp.clip(pars - jnp.linalg.solve(h + jnp.diag(damping * scale + ~free), g), lower, upper)
        trial_value = twice(trial)
        better = jnp.isfinite(trial_value) & (trial_value <= value)
        return (jnp.where(better, trial, pars), jnp.where(better, trial_value, value),
                jnp.where(better, damping * 0.1, damping * 10.0 + 1e-6))

    def profile(pars: Any, mu: Any) -> Any:
        start = pars.at[0].set(mu)
        return jax.lax.fori_loop(0, PROFILE_STEPS, newton, (start, twice(start), jnp.asarray(1e-3)))[0]

    def towards_root(_: int, state: tuple[Any, Any]) -> tuple[Any, Any]:
        mu, pars = state
        pars = profile(pars, mu)
        sqrt_q = jnp.sqrt(jnp.maximum(twice(pars) - base, 1e-300))
        slope = gradient(pars)[0] / (2.0 * sqrt_q)
        return jnp.clip(mu - (sqrt_q - z) / slope, mu / 4.0, mu * 4.0), pars

    sigma = jnp.sqrt(jnp.linalg.inv(hessian(nominal) / 2.0)[0, 0])  # Asimov uncertainty at mu = 0
    mu, pars = jax.lax.fori_loop(0, ROOT_STEPS, towards_root, (z * sigma, nominal))
    return mu, profile(pars, mu)


def _bounds(layout: Layout) -> tuple[Any, Any]:
    """Lower and upper bounds of the parameters in the profile fits."""
    n_factors, n_syst = 1 + len(layout.free_factors), len(layout.systematics)
    alpha = (np.arange(len(layout.parameter_names)) >= n_factors) & (np.arange(len(layout.parameter_names)) < n_factors + n_syst)
    return (jnp.asarray(np.where(alpha, ALPHA_BOUNDS[0], FACTOR_BOUNDS[0])),
            jnp.asarray(np.where(alpha, ALPHA_BOUNDS[1], FACTOR_BOUNDS[1])))
