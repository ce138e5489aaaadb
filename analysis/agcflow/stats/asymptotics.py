"""Asymptotic CLs of many models at once, written directly in JAX.

The same statistics as ``pyhf cls``: the qtilde test statistic, asymptotic formulae, Asimov
data at mu = 0, normsys interpolation code 4 and histosys code 4p. The likelihood takes the
model's arrays (:class:`~agcflow.stats.hf_tensors.ModelTensors`) as arguments rather than
constants, so one compiled program serves every model of the same array shapes, and
``jax.vmap`` evaluates a batch of models together. The fits are projected Newton
minimisations with exact Hessians and box constraints.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from agcflow.stats.hf_tensors import ModelTensors

N_SIGMAS = (2.0, 1.0, 0.0, -1.0, -2.0)  # the order of pyhf's expected CLs set
MAX_NEWTON_STEPS = 60
STEP_SIZES = (1.0, 0.5, 0.25, 0.1, 0.03, 0.01)
CONVERGED_DECREMENT = 1e-9  # predicted decrease of 2*NLL at which a fit has converged


def batched_cls(models: list[ModelTensors], mu: float = 1.0) -> dict[str, np.ndarray]:
    """CLs_obs [n], CLs_exp [n, 5] and the four fits' convergence flags [n] of models
    sharing one ``shape_key``, at POI value ``mu``."""
    import jax.numpy as jnp

    stacked = {k: jnp.asarray(np.stack([m.arrays()[k] for m in models])) for k in models[0].arrays()}
    result = _cls_program()(stacked, jnp.full(len(models), mu, dtype=float))
    return {k: np.asarray(v) for k, v in result.items()}


def twice_nll(arrays: dict[str, Any], pars: Any, main: Any, aux: Any) -> Any:
    """-2 ln L of one model, as ``pyhf.infer.mle.twice_nll`` (constants included)."""
    import jax.numpy as jnp
    from jax.scipy.special import gammaln, xlogy

    rates = expected_rates(arrays, pars)
    poisson = jnp.sum(xlogy(main, rates) - rates - gammaln(main + 1.0))
    pulls = (aux - pars[arrays["gauss_par"]]) / arrays["gauss_sigma"]
    gauss = -0.5 * pulls**2 - jnp.log(arrays["gauss_sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    return -2.0 * (poisson + jnp.sum(arrays["gauss_weight"] * gauss))


def expected_rates(arrays: dict[str, Any], pars: Any) -> Any:
    """Expected events per bin: (nominal + histosys deltas) x normsys x per-bin factors."""
    import jax.numpy as jnp

    alpha_h = pars[arrays["histosys_par"]][:, None, None]
    deltas = _code4p(alpha_h, arrays["histosys_up"], arrays["histosys_down"]).sum(axis=0)
    alpha_n = pars[arrays["normsys_par"]][:, None, None]
    normsys = _code4(alpha_n, arrays["normsys_hi"], arrays["normsys_lo"]).prod(axis=0)
    per_bin = pars[arrays["factor_par"]][:, None, :]
    factors = jnp.where(arrays["factor_mask"], per_bin, 1.0).prod(axis=0)
    return ((arrays["nominal"] + deltas) * normsys * factors).sum(axis=0)


def _code4p(alpha: Any, up: Any, down: Any) -> Any:
    """pyhf's histosys code 4p: linear beyond |alpha| = 1, a polynomial inside."""
    import jax.numpy as jnp

    mean, asym = 0.5 * (up + down), 0.0625 * (up - down)
    a2 = alpha * alpha
    inside = alpha * (mean + alpha * asym * (15.0 + a2 * (-10.0 + a2 * 3.0)))
    return jnp.where(alpha > 1.0, alpha * up, jnp.where(alpha < -1.0, alpha * down, inside))


def _code4(alpha: Any, hi: Any, lo: Any) -> Any:
    """pyhf's normsys code 4: exponential beyond |alpha| = 1, a 6th-order polynomial inside
    matching value, first and second derivative at |alpha| = 1."""
    import jax.numpy as jnp

    log_hi, log_lo = jnp.log(hi), jnp.log(lo)
    b = jnp.stack([hi - 1.0, lo - 1.0, log_hi * hi, -log_lo * lo, log_hi**2 * hi, log_lo**2 * lo])
    coefficients = jnp.einsum("rc,c...->r...", jnp.asarray(_CODE4_A_INVERSE), b)
    powers = jnp.stack([alpha**i for i in range(1, 7)])
    inside = 1.0 + jnp.sum(coefficients * powers, axis=0)
    magnitude = jnp.abs(alpha)
    return jnp.where(alpha >= 1.0, hi**magnitude, jnp.where(alpha <= -1.0, lo**magnitude, inside))


# pyhf.interpolators.code4's inverse boundary-condition matrix for alpha0 = 1.
_CODE4_A_INVERSE = [
    [15 / 16, -15 / 16, -7 / 16, -7 / 16, 1 / 16, -1 / 16],
    [3 / 2, 3 / 2, -9 / 16, 9 / 16, 1 / 16, 1 / 16],
    [-5 / 8, 5 / 8, 5 / 8, 5 / 8, -1 / 8, 1 / 8],
    [-3 / 2, -3 / 2, 7 / 8, -7 / 8, -1 / 8, -1 / 8],
    [3 / 16, -3 / 16, -3 / 16, -3 / 16, 1 / 16, -1 / 16],
    [1 / 2, 1 / 2, -5 / 16, 5 / 16, 1 / 16, 1 / 16],
]


def minimize(objective: Any, start: Any, lower: Any, upper: Any, fixed: Any) -> tuple[Any, Any, Any]:
    """Minimise ``objective`` within [lower, upper], ``fixed`` parameters held at ``start``.

    Projected Newton: parameters at a bound whose gradient points outwards are held, the
    others take a damped Newton step; the best of a few step lengths is kept, and the
    damping grows when none improves. Returns (parameters, minimum, converged).
    """
    import jax
    import jax.numpy as jnp

    grad, hessian = jax.grad(objective), jax.hessian(objective)
    steps = jnp.asarray(STEP_SIZES)

    def body(state):
        x, fx, damping, iteration, _ = state
        g, h = grad(x), hessian(x)
        held = fixed | ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        free = ~held
        g_free = jnp.where(free, g, 0.0)
        scale = jnp.maximum(jnp.abs(jnp.diag(h)), 1e-8)
        h_free = jnp.where(free[:, None] & free[None, :], h, 0.0)
        h_free = h_free + jnp.diag(jnp.where(free, damping * scale, 1.0))
        direction = -jnp.linalg.solve(h_free, g_free)
        decrement = -jnp.dot(g_free, direction)
        candidates = jnp.clip(x + steps[:, None] * direction, lower, upper)
        values = jax.vmap(objective)(candidates)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf)
        best = jnp.argmin(values)
        improved = values[best] <= fx
        converged = (decrement >= 0) & (decrement < CONVERGED_DECREMENT) & (damping < 1.0)
        x = jnp.where(improved, candidates[best], x)
        fx = jnp.where(improved, values[best], fx)
        damping = jnp.where(improved, jnp.where(best == 0, damping * 0.1, damping), damping * 10.0 + 1e-6)
        damping = jnp.maximum(damping, 0.0)
        return x, fx, damping, iteration + 1, converged | ~(damping < 1e8)

    def keep_going(state):
        return (~state[4]) & (state[3] < MAX_NEWTON_STEPS)

    start = jnp.where(fixed, start, jnp.clip(start, lower, upper))
    state = (start, objective(start), jnp.asarray(0.0), 0, jnp.asarray(False))
    x, fx, damping, _, done = jax.lax.while_loop(keep_going, body, state)
    return x, fx, done & (damping < 1e8)


def hypotest(arrays: dict[str, Any], mu: Any) -> dict[str, Any]:
    """CLs_obs and the expected CLs set at POI value ``mu`` for one model (see module doc)."""
    import jax.numpy as jnp
    from jax.scipy.stats import norm

    poi = arrays["poi"]
    lower, upper, fixed = arrays["lower"], arrays["upper"], arrays["fixed"]
    init = arrays["init"]
    poi_fixed = fixed.at[poi].set(True)

    def fit(main, aux, start, poi_value=None):
        objective = functools.partial(_objective, arrays, main=main, aux=aux)
        if poi_value is None:
            return minimize(objective, start, lower, upper, fixed)
        return minimize(objective, start.at[poi].set(poi_value), lower, upper, poi_fixed)

    observed, aux = arrays["observed"], arrays["gauss_aux"]
    free_pars, free_nll, ok_free = fit(observed, aux, init)
    fixed_pars, fixed_nll, ok_fixed = fit(observed, aux, init, mu)
    asimov_pars, _, ok_asimov = fit(observed, aux, init, 0.0)
    asimov_main = expected_rates(arrays, asimov_pars)
    asimov_aux = asimov_pars[arrays["gauss_par"]]
    free_a_pars, free_a_nll, ok_free_a = fit(asimov_main, asimov_aux, asimov_pars)
    _, fixed_a_nll, ok_fixed_a = fit(asimov_main, asimov_aux, asimov_pars, mu)

    qmu = jnp.where(free_pars[poi] > mu, 0.0, jnp.clip(fixed_nll - free_nll, 0.0))
    qmu_a = jnp.where(free_a_pars[poi] > mu, 0.0, jnp.clip(fixed_a_nll - free_a_nll, 0.0))
    sqrt_q, sqrt_qa = jnp.sqrt(qmu), jnp.sqrt(qmu_a)
    teststat = jnp.where(sqrt_q <= sqrt_qa, sqrt_q - sqrt_qa, (qmu - qmu_a) / (2 * sqrt_qa))
    n_sigmas = jnp.asarray(N_SIGMAS)
    return {
        "CLs_obs": norm.cdf(-(teststat + sqrt_qa)) / norm.cdf(-teststat),
        "CLs_exp": norm.cdf(-(n_sigmas + sqrt_qa)) / norm.cdf(-n_sigmas),
        "converged": ok_free & ok_fixed & ok_asimov & ok_free_a & ok_fixed_a,
    }


def _objective(arrays: dict[str, Any], pars: Any, main: Any, aux: Any) -> Any:
    return twice_nll(arrays, pars, main, aux)


@functools.cache
def _cls_program() -> Any:
    import jax

    return jax.jit(jax.vmap(hypotest))
