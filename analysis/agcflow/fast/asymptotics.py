"""Asymptotic CLs of many models at once, written directly in JAX.

The same statistics as ``pyhf cls``: the qtilde test statistic, asymptotic formulae, Asimov
data at mu = 0, normsys interpolation code 4 and histosys code 4p. The likelihood takes the
model's arrays (:class:`~agcflow.fast.hf_tensors.ModelTensors`) as arguments rather than
constants, so one compiled fit program serves every model of the same array shapes (pyhf
0.7.6 compiles anew for each model). Batching models with ``jax.vmap`` was measured slower
on CPU: a batch runs until its slowest fit has converged. The fits are projected Newton
minimisations with box constraints; their curvature matrix is the Fisher information
(Jacobian of the expected rates, P times cheaper than the exact Hessian), the gradient exact.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from agcflow.fast.hf_tensors import ModelTensors

N_SIGMAS = (2.0, 1.0, 0.0, -1.0, -2.0)  # the order of pyhf's expected CLs set
MAX_NEWTON_STEPS = 200
MAX_DAMPING = 1e8
STEP_SIZES = (1.0, 0.5, 0.25, 0.1, 0.03, 0.01)
CONVERGED_DECREMENT = 1e-8  # predicted decrease of 2*NLL, relative to it, at which a fit has converged


def twice_nll(arrays: dict[str, Any], pars: Any, main: Any, aux: Any) -> Any:
    """-2 ln L of one model, as ``pyhf.infer.mle.twice_nll`` (constants included)."""
    return _twice_nll_of_rates(arrays, expected_rates(arrays, pars), pars, main, aux)


def _twice_nll_of_rates(arrays: dict[str, Any], rates: Any, pars: Any, main: Any, aux: Any) -> Any:
    import jax.numpy as jnp
    from jax.scipy.special import gammaln, xlogy

    poisson = jnp.sum(xlogy(main, rates) - rates - gammaln(main + 1.0))
    pulls = (aux - pars[arrays["gauss_par"]]) / arrays["gauss_sigma"]
    gauss = -0.5 * pulls**2 - jnp.log(arrays["gauss_sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    return -2.0 * (poisson + jnp.sum(arrays["gauss_weight"] * gauss))


def expected_rates(arrays: dict[str, Any], pars: Any) -> Any:
    """Expected events per bin: (nominal + histosys deltas) x normsys x per-bin factors."""
    return rates_and_jacobian(arrays, _code4_coefficients(arrays), pars, jacobian=False)[0]


def rates_and_jacobian(arrays: dict[str, Any], code4: Any, pars: Any, jacobian: bool = True) -> tuple[Any, Any]:
    """Expected rates [B] and, analytically, their Jacobian [B, P] (None unless asked)."""
    import jax.numpy as jnp

    alpha_h = pars[arrays["histosys_par"]][:, None, None]
    deltas, deltas_slope = _code4p(alpha_h, arrays["histosys_up"], arrays["histosys_down"])
    alpha_n = pars[arrays["normsys_par"]][:, None, None]
    normsys, normsys_slope = _code4(alpha_n, arrays["normsys_hi"], arrays["normsys_lo"], code4)
    per_bin = jnp.where(arrays["factor_mask"], pars[arrays["factor_par"]][:, None, :], 1.0)
    additive = arrays["nominal"] + deltas.sum(axis=0)
    normsys_product, factor_product = normsys.prod(axis=0), per_bin.prod(axis=0)
    by_sample = additive * normsys_product * factor_product
    rates = by_sample.sum(axis=0)
    if not jacobian:
        return rates, None
    # d rate / d parameter, one modifier type at a time; products without the differentiated
    # factor are exclusive cumulative products, so a factor at 0 (mu = 0) is handled exactly.
    d_histosys = (deltas_slope * normsys_product * factor_product).sum(axis=1)  # [H, B]
    d_normsys = (additive * _product_of_others(normsys) * normsys_slope * factor_product).sum(axis=1)
    d_factor = jnp.where(
        arrays["factor_mask"], additive * normsys_product * _product_of_others(per_bin), 0.0
    ).sum(axis=1)  # [M, B]
    n_bins, n_pars = rates.shape[0], pars.shape[0]
    jac = jnp.zeros((n_bins, n_pars))
    jac = jac.at[:, arrays["histosys_par"]].add(d_histosys.T)
    jac = jac.at[:, arrays["normsys_par"]].add(d_normsys.T)
    jac = jac.at[jnp.arange(n_bins)[None, :], arrays["factor_par"]].add(d_factor)
    return rates, jac


def _product_of_others(factors: Any) -> Any:
    """For each entry along axis 0, the product of all other entries."""
    import jax.numpy as jnp

    ones = jnp.ones_like(factors[:1])
    before = jnp.cumprod(jnp.concatenate([ones, factors[:-1]]), axis=0)
    after = jnp.cumprod(jnp.concatenate([ones, factors[::-1][:-1]]), axis=0)[::-1]
    return before * after


def _code4p(alpha: Any, up: Any, down: Any) -> tuple[Any, Any]:
    """pyhf's histosys code 4p (linear beyond |alpha| = 1, a polynomial inside): the
    additive deltas and their derivatives in alpha."""
    import jax.numpy as jnp

    mean, asym = 0.5 * (up + down), 0.0625 * (up - down)
    a2 = alpha * alpha
    inside = alpha * (mean + alpha * asym * (15.0 + a2 * (-10.0 + a2 * 3.0)))
    inside_slope = mean + asym * alpha * (30.0 + a2 * (-40.0 + a2 * 18.0))
    value = jnp.where(alpha > 1.0, alpha * up, jnp.where(alpha < -1.0, alpha * down, inside))
    slope = jnp.where(alpha > 1.0, up, jnp.where(alpha < -1.0, down, inside_slope))
    return value, slope


def _code4_coefficients(arrays: dict[str, Any]) -> Any:
    """The polynomial coefficients [6, N, S, B] of normsys code 4 (depend on the model only)."""
    import jax.numpy as jnp

    hi, lo = arrays["normsys_hi"], arrays["normsys_lo"]
    log_hi, log_lo = jnp.log(hi), jnp.log(lo)
    b = jnp.stack([hi - 1.0, lo - 1.0, log_hi * hi, -log_lo * lo, log_hi**2 * hi, log_lo**2 * lo])
    return jnp.einsum("rc,c...->r...", jnp.asarray(_CODE4_A_INVERSE), b)


def _code4(alpha: Any, hi: Any, lo: Any, coefficients: Any) -> tuple[Any, Any]:
    """pyhf's normsys code 4 (exponential beyond |alpha| = 1, a 6th-order polynomial inside
    matching value, first and second derivative at |alpha| = 1): factors and derivatives."""
    import jax.numpy as jnp

    powers = jnp.stack([jnp.ones_like(alpha)] + [alpha**i for i in range(1, 7)])
    inside = 1.0 + jnp.sum(coefficients * powers[1:], axis=0)
    orders = jnp.arange(1.0, 7.0).reshape(-1, *([1] * alpha.ndim))
    inside_slope = jnp.sum(orders * coefficients * powers[:-1], axis=0)
    magnitude = jnp.abs(alpha)
    hi_power, lo_power = hi**magnitude, lo**magnitude
    value = jnp.where(alpha >= 1.0, hi_power, jnp.where(alpha <= -1.0, lo_power, inside))
    slope = jnp.where(
        alpha >= 1.0, jnp.log(hi) * hi_power, jnp.where(alpha <= -1.0, -jnp.log(lo) * lo_power, inside_slope)
    )
    return value, slope


# pyhf.interpolators.code4's inverse boundary-condition matrix for alpha0 = 1.
_CODE4_A_INVERSE = [
    [15 / 16, -15 / 16, -7 / 16, -7 / 16, 1 / 16, -1 / 16],
    [3 / 2, 3 / 2, -9 / 16, 9 / 16, 1 / 16, 1 / 16],
    [-5 / 8, 5 / 8, 5 / 8, 5 / 8, -1 / 8, 1 / 8],
    [-3 / 2, -3 / 2, 7 / 8, -7 / 8, -1 / 8, -1 / 8],
    [3 / 16, -3 / 16, -3 / 16, -3 / 16, 1 / 16, -1 / 16],
    [1 / 2, 1 / 2, -5 / 16, 5 / 16, 1 / 16, 1 / 16],
]


def minimize(problem: Any, start: Any, lower: Any, upper: Any, fixed: Any) -> tuple[Any, Any, Any]:
    """Minimise within [lower, upper], ``fixed`` parameters held at ``start``.

    ``problem(x, with_derivatives)`` returns the objective and, when asked, its gradient
    and a positive semi-definite approximation of its Hessian (which converges only linearly
    where data and model disagree, e.g. mu = 1 fits of strongly excluded points: the
    step limit and tolerance are set for that). Projected Newton:
    parameters at a bound whose gradient points outwards are held, the others take a
    damped Newton step; the best of a few step lengths is kept, and the damping grows when
    none improves. Returns (parameters, minimum, converged).
    """
    import jax
    import jax.numpy as jnp

    steps = jnp.asarray(STEP_SIZES)

    def value(x):
        return problem(x, False)[0]

    def body(state):
        x, fx, damping, iteration, _ = state
        _, g, h = problem(x, True)
        held = fixed | ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        free = ~held
        g_free = jnp.where(free, g, 0.0)
        scale = jnp.maximum(jnp.abs(jnp.diag(h)), 1e-8)
        h_free = jnp.where(free[:, None] & free[None, :], h, 0.0)
        h_free = h_free + jnp.diag(jnp.where(free, damping * scale, 1.0))
        direction = -jnp.linalg.solve(h_free, g_free)
        decrement = -jnp.dot(g_free, direction)
        candidates = jnp.clip(x + steps[:, None] * direction, lower, upper)
        values = jax.vmap(value)(candidates)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf)
        best = jnp.argmin(values)
        improved = values[best] <= fx
        converged = (decrement >= 0) & (decrement < CONVERGED_DECREMENT * (1.0 + jnp.abs(fx))) & (damping < 1.0)
        x = jnp.where(improved, candidates[best], x)
        fx = jnp.where(improved, values[best], fx)
        damping = jnp.where(improved, jnp.where(best == 0, damping * 0.1, damping), damping * 10.0 + 1e-6)
        return x, fx, damping, iteration + 1, converged | ~(damping < MAX_DAMPING)

    def keep_going(state):
        return (~state[4]) & (state[3] < MAX_NEWTON_STEPS)

    start = jnp.where(fixed, start, jnp.clip(start, lower, upper))
    state = (start, value(start), jnp.asarray(0.0), 0, jnp.asarray(False))
    x, fx, damping, _, done = jax.lax.while_loop(keep_going, body, state)
    return x, fx, done & (damping < MAX_DAMPING)


def hypotest(model: ModelTensors, mu: float = 1.0) -> dict[str, Any]:
    """CLs_obs and the expected CLs set at POI value ``mu`` (see module doc), and whether
    all fits converged.

    Five fits, as pyhf's asymptotic calculator: free and mu-fixed fits to the observed
    data, the mu = 0 fit that defines the Asimov data, and free and mu-fixed fits to it.
    One compiled fit program per array shape serves all of them.
    """
    from scipy.stats import norm

    arrays = model.arrays()
    poi, init, fixed = model.poi, model.init, model.fixed
    poi_fixed = fixed.copy()
    poi_fixed[poi] = True
    fit, rates = fit_program(), _rates_program()

    def with_poi(pars, value):
        pars = np.array(pars)
        pars[poi] = value
        return pars

    observed, aux = arrays["observed"], arrays["gauss_aux"]
    free_pars, free_nll, ok_free = fit(arrays, observed, aux, init, fixed)
    _, fixed_nll, ok_fixed = fit(arrays, observed, aux, with_poi(init, mu), poi_fixed)
    asimov_pars, _, ok_asimov = fit(arrays, observed, aux, with_poi(init, 0.0), poi_fixed)
    asimov_main = rates(arrays, asimov_pars)
    asimov_aux = np.asarray(asimov_pars)[model.gauss_par]
    free_pars_a, free_nll_a, ok_free_a = fit(arrays, asimov_main, asimov_aux, asimov_pars, fixed)
    _, fixed_nll_a, ok_fixed_a = fit(arrays, asimov_main, asimov_aux, with_poi(asimov_pars, mu), poi_fixed)

    qmu = 0.0 if free_pars[poi] > mu else max(float(fixed_nll - free_nll), 0.0)
    qmu_a = 0.0 if free_pars_a[poi] > mu else max(float(fixed_nll_a - free_nll_a), 0.0)
    sqrt_q, sqrt_qa = np.sqrt(qmu), np.sqrt(qmu_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        teststat = sqrt_q - sqrt_qa if sqrt_q <= sqrt_qa else (qmu - qmu_a) / (2 * sqrt_qa)
        n_sigmas = np.asarray(N_SIGMAS)
        return {
            "CLs_obs": float(norm.cdf(-(teststat + sqrt_qa)) / norm.cdf(-teststat)),
            "CLs_exp": (norm.cdf(-(n_sigmas + sqrt_qa)) / norm.cdf(-n_sigmas)).tolist(),
            "converged": bool(ok_free and ok_fixed and ok_asimov and ok_free_a and ok_fixed_a),
        }


def fit(arrays: dict[str, Any], main: Any, aux: Any, start: Any, fixed: Any) -> tuple[Any, Any, Any]:
    """Minimise :func:`twice_nll` of one model for data (``main``, ``aux``) within the
    parameter bounds; returns (parameters, minimum, converged)."""
    code4 = _code4_coefficients(arrays)

    def problem(x, with_derivatives):
        rates, jac = rates_and_jacobian(arrays, code4, x, jacobian=with_derivatives)
        value = _twice_nll_of_rates(arrays, rates, x, main, aux)
        if not with_derivatives:
            return value, None, None
        return value, *_gradient_and_fisher(arrays, rates, jac, x, main, aux)

    return minimize(problem, start, arrays["lower"], arrays["upper"], fixed)


def _gradient_and_fisher(arrays, rates, jac, pars, main, aux) -> tuple[Any, Any]:
    """Exact gradient of :func:`twice_nll` and its expected Hessian (Fisher information)."""
    import jax.numpy as jnp

    weights = arrays["gauss_weight"] / arrays["gauss_sigma"] ** 2
    pulls = weights * (pars[arrays["gauss_par"]] - aux)
    n_pars = pars.shape[0]
    gradient = jac.T @ (2.0 * (1.0 - main / rates)) + jnp.zeros(n_pars).at[arrays["gauss_par"]].add(2.0 * pulls)
    constraints = jnp.zeros(n_pars).at[arrays["gauss_par"]].add(2.0 * weights)
    curvature = jnp.where(main > 0, main / rates**2, 1.0 / rates)  # d2(-ln Poisson)/d rate2, Fisher at n = 0
    return gradient, 2.0 * jac.T @ (jac * curvature[:, None]) + jnp.diag(constraints)


@functools.cache
def fit_program() -> Any:
    import jax

    return jax.jit(fit)


@functools.cache
def _rates_program() -> Any:
    import jax

    return jax.jit(expected_rates)
