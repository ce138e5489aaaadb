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
The profile fits are those of :func:`agcflow.fast.asymptotics.fit` (projected Newton with
the Fisher information, within bounds), polished by exact Newton steps so that the limit
is converged far below the changes a finite-difference check sees.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from scipy.stats import norm as scipy_norm

from agcflow.analyses.base import Templates
from agcflow.config import AnalysisSettings, FitSettings
from agcflow.fast.asymptotics import expected_rates, fit, twice_nll
from agcflow.relaxed.likelihood import Layout, model_arrays

POLISH_STEPS = 3  # exact Newton steps after each profile fit (quadratic convergence)
ROOT_STEPS = 10  # Newton steps of the POI towards CLs = level
ALPHA_BOUNDS = (-5.0, 5.0)  # of the systematics' nuisance parameters in the profile fits
FACTOR_BOUNDS = (0.0, 1e3)  # of the norm factors and gammas
EMPTY_BIN_FLOOR = 1e-9  # events added to every sample and bin


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
    nominal = jnp.asarray(layout.nominal_parameters).at[0].set(0.0)
    main = expected_rates(arrays, nominal)
    aux = nominal[arrays["gauss_par"]]
    const = {k: jax.lax.stop_gradient(v) if isinstance(v, jax.Array) else v for k, v in arrays.items()}
    main_c = jax.lax.stop_gradient(main)
    free = np.arange(len(layout.parameter_names)) > 0  # the POI is fixed in the profile fits

    def twice(arrs: Any, pars: Any, data: Any) -> Any:
        return twice_nll(arrs, pars, data, aux)

    gradient, hessian = jax.grad(twice, argnums=1), jax.hessian(twice, argnums=1)
    base = twice(const, nominal, main_c)
    z = -float(scipy_norm.ppf(level * scipy_norm.cdf(0.0)))  # sqrt(q_A) at CLs = level

    bounds = _bounds(layout)
    fixed = jnp.asarray(~free)

    def newton(_: int, pars: Any) -> Any:
        g = jnp.where(free, gradient(const, pars, main_c), 0.0)
        h = jnp.where(free[:, None] & free[None, :], hessian(const, pars, main_c), 0.0) + jnp.diag(~free)
        return pars - jnp.linalg.solve(h, g)

    def profile(pars: Any, mu: Any) -> Any:
        arrs = {**const, "lower": bounds[0], "upper": bounds[1]}
        fitted, _, _ = fit(arrs, main_c, aux, pars.at[0].set(mu), fixed)
        return jax.lax.fori_loop(0, POLISH_STEPS, newton, fitted)

    def towards_root(_: int, state: tuple[Any, Any]) -> tuple[Any, Any]:
        mu, pars = state
        pars = profile(pars, mu)
        sqrt_q = jnp.sqrt(jnp.maximum(twice(const, pars, main_c) - base, 1e-300))
        slope = gradient(const, pars, main_c)[0] / (2.0 * sqrt_q)
        return jnp.clip(mu - (sqrt_q - z) / slope, mu / 4.0, mu * 4.0), pars

    sigma = jnp.sqrt(jnp.linalg.inv(hessian(const, nominal, main_c) / 2.0)[0, 0])  # Asimov uncertainty at mu = 0
    mu, pars = jax.lax.fori_loop(0, ROOT_STEPS, towards_root, (z * sigma, nominal))
    mu = jax.lax.stop_gradient(mu)
    pars = jax.lax.stop_gradient(profile(pars, mu))

    def cls(poi: Any, arrs: Any, data: Any) -> Any:
        q = twice(arrs, pars.at[0].set(poi), data) - twice(arrs, nominal, data)
        return norm.cdf(-jnp.sqrt(jnp.maximum(q, 0.0))) / norm.cdf(0.0)

    live = cls(mu, arrays, main)  # carries d CLs / d theta
    slope = jax.grad(cls)(mu, const, main_c)  # d CLs / d mu, a constant
    return mu - (live - jax.lax.stop_gradient(live)) / slope


def _bounds(layout: Layout) -> tuple[Any, Any]:
    """Lower and upper bounds of the parameters in the profile fits."""
    n_factors, n_syst = 1 + len(layout.free_factors), len(layout.systematics)
    alpha = (np.arange(len(layout.parameter_names)) >= n_factors) & (np.arange(len(layout.parameter_names)) < n_factors + n_syst)
    return (jnp.asarray(np.where(alpha, ALPHA_BOUNDS[0], FACTOR_BOUNDS[0])),
            jnp.asarray(np.where(alpha, ALPHA_BOUNDS[1], FACTOR_BOUNDS[1])))
