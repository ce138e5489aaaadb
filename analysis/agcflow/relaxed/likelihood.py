"""The HistFactory model of the fit, built in JAX from templates, and its expected
uncertainty on the POI.

The model is the one :func:`agcflow.stats.workspace.build_workspace` asks cabinetry for:
the POI as a norm factor on the plugin's ``poi_sample``, each NormPlusShape systematic as a normsys (code 4)
plus a histosys (code 4p) normalised to the nominal yield (symmetrised ones as
``2 * nominal - up``), normalisations as normsys, and one staterror gamma per bin with
pyhf's combined relative uncertainty. The arrays follow
:class:`agcflow.fast.hf_tensors.ModelTensors`, so the likelihood is
:func:`agcflow.fast.asymptotics.twice_nll`; here they are functions of the templates,
so the expected uncertainty is differentiable with respect to whatever made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agcflow.analyses.base import Templates
from agcflow.config import AnalysisSettings, FitSettings, Systematic
from agcflow.fast.asymptotics import expected_rates, twice_nll
from agcflow.processing.histograms import histogram_name
from agcflow.stats.workspace import rebin


@dataclass(frozen=True)
class Layout:
    """The model's structure: channels, samples and parameters (POI first, then the other
    unconstrained norm factors ``free_factors`` (name, sample), one alpha per systematic,
    a gamma per bin), in the order of :attr:`parameter_names`."""

    regions: tuple[str, ...]
    region_labels: tuple[str, ...]
    processes: tuple[str, ...]
    systematics: tuple[Systematic, ...]
    n_bins: int  # per channel
    poi: str
    poi_sample: str  # the process the POI scales
    free_factors: tuple[tuple[str, str], ...] = ()  # other norm factors: (name, the process it scales)

    @classmethod
    def of(cls, analysis: AnalysisSettings, fit: FitSettings) -> Layout:
        """The layout of the fit of ``analysis`` with ``fit``'s binning and POI."""
        return cls(
            regions=tuple(r.name for r in analysis.regions),
            region_labels=tuple(r.label for r in analysis.regions),
            processes=tuple(s.name for s in analysis.samples),
            systematics=analysis.systematics,
            n_bins=len(fit.fit_edges) - 1,
            poi=fit.poi,
            poi_sample=analysis.plugin.poi_sample,
        )

    @property
    def parameter_names(self) -> list[str]:
        """Parameter names as pyhf labels them."""
        gammas = [f"staterror_{label.replace(' ', '-')}[{i}]" for label in self.region_labels for i in range(self.n_bins)]
        return [self.poi, *(name for name, _ in self.free_factors), *(s.label for s in self.systematics), *gammas]

    @property
    def nominal_parameters(self) -> np.ndarray:
        """Every parameter at its nominal value (1 for the POI and gammas, 0 for alphas)."""
        return np.concatenate([np.ones(1 + len(self.free_factors)), np.zeros(len(self.systematics)),
                               np.ones(len(self.regions) * self.n_bins)])


def model_arrays(templates: Templates, layout: Layout) -> dict[str, Any]:
    """The arrays of :func:`agcflow.fast.asymptotics.twice_nll` from the templates."""
    n_syst, bins = len(layout.systematics), len(layout.regions) * layout.n_bins
    nominal = _stacked(templates, layout, "nominal", 0)
    hi, lo, up, down = [], [], [], []
    for syst in layout.systematics:
        arrays = _systematic(templates, layout, syst, nominal)
        for target, value in zip((hi, lo, up, down), arrays):
            target.append(value)
    n_free = 1 + len(layout.free_factors)  # the POI and the other norm factors
    alphas = n_free + np.arange(n_syst)
    gamma = n_free + n_syst + np.arange(bins)
    total = nominal.sum(axis=0)
    sumw2 = _stacked(templates, layout, "nominal", 1).sum(axis=0)
    relative = jnp.sqrt(sumw2) / jnp.where(total > 0, total, 1.0)
    scaled = [layout.poi_sample, *(sample for _, sample in layout.free_factors)]
    masks = [np.broadcast_to(np.array([p == s for p in layout.processes])[:, None], nominal.shape) for s in scaled]
    return {
        "nominal": nominal,
        "normsys_par": alphas,
        "normsys_hi": jnp.stack(hi),
        "normsys_lo": jnp.stack(lo),
        "histosys_par": alphas,
        "histosys_up": jnp.stack(up),
        "histosys_down": jnp.stack(down),
        "factor_par": np.stack([*(np.full(bins, i) for i in range(n_free)), gamma]),
        "factor_mask": np.stack([*masks, np.ones(nominal.shape, bool)]),
        "gauss_par": np.concatenate([alphas, gamma]),
        "gauss_sigma": jnp.concatenate([jnp.ones(n_syst), jnp.where(relative > 0, relative, 1.0)]),
        "gauss_weight": np.ones(n_syst + bins),
    }


def asimov(arrays: Mapping[str, Any], layout: Layout) -> tuple[Any, Any]:
    """Main and auxiliary Asimov data at the nominal parameters."""
    pars = jnp.asarray(layout.nominal_parameters)
    return expected_rates(arrays, pars), pars[arrays["gauss_par"]]


def nll(arrays: Mapping[str, Any], pars: Any, main: Any, aux: Any) -> Any:
    """-ln L, pyhf's convention (constants included)."""
    return twice_nll(dict(arrays), pars, main, aux) / 2.0


def expected_uncertainty(templates: Templates, layout: Layout) -> Any:
    """Expected uncertainty on the POI: sqrt of its diagonal element of the inverse Hessian
    of -ln L on Asimov data at the nominal parameters (its best fit).

    On Asimov data the Hessian at the best fit is the Fisher information
    ``J^T diag(1 / rates) J + diag(1 / sigma^2)`` (J the Jacobian of the expected rates),
    one derivative order less to differentiate; ``tests/optimize`` checks it against
    ``jax.hessian`` of pyhf's -ln L.
    """
    arrays = model_arrays(templates, layout)
    pars = jnp.asarray(layout.nominal_parameters)
    rates = expected_rates(arrays, pars)
    jacobian = jax.jacfwd(lambda p: expected_rates(arrays, p))(pars)
    constraints = jnp.zeros(len(pars)).at[arrays["gauss_par"]].add(1.0 / arrays["gauss_sigma"] ** 2)
    hessian = jacobian.T @ (jacobian / rates[:, None]) + jnp.diag(constraints)
    unit = jnp.zeros(len(pars)).at[0].set(1.0)
    return jnp.sqrt(jnp.linalg.solve(hessian, unit)[0])


def hard_templates(histograms: Mapping[str, Any], layout: Layout, edges: tuple[float, ...]) -> Templates:
    """Templates from hard-cut histograms (a cached pass), cut and rebinned to ``edges``
    as the workspace builder does."""
    templates: Templates = {}
    for name, histogram in histograms.items():
        for region in layout.regions:
            for process in layout.processes:
                prefix = histogram_name(region, process)
                if name == prefix or name.startswith(prefix + "_"):
                    variation = name[len(prefix) + 1:] or "nominal"
                    cut = rebin(histogram, list(edges), name)
                    templates[(region, process, variation)] = (jnp.asarray(cut.values()), jnp.asarray(cut.variances()))
    return templates


def _stacked(templates: Templates, layout: Layout, variation: str, part: int) -> Any:
    """``[samples, bins]``: one template part of every process, channels concatenated."""
    return jnp.stack([
        jnp.concatenate([templates[(r, p, variation)][part] for r in layout.regions]) for p in layout.processes
    ])


def _systematic(templates: Templates, layout: Layout, syst: Systematic, nominal: Any) -> tuple[Any, Any, Any, Any]:
    """normsys hi/lo factors and histosys up/down deltas ``[samples, bins]`` of one systematic."""
    hi, lo, up, down = [], [], [], []
    for s, process in enumerate(layout.processes):
        for r, region in enumerate(layout.regions):
            nom = nominal[s, r * layout.n_bins:(r + 1) * layout.n_bins]
            parts = _variation(templates, region, process, syst, nom)
            for target, value in zip((hi, lo, up, down), parts):
                target.append(value)
    return tuple(jnp.stack([jnp.concatenate(x[s * len(layout.regions):(s + 1) * len(layout.regions)])
                            for s in range(len(layout.processes))]) for x in (hi, lo, up, down))


def _variation(templates: Templates, region: str, process: str, syst: Systematic, nom: Any) -> tuple[Any, ...]:
    ones, zeros = jnp.ones_like(nom), jnp.zeros_like(nom)
    if syst.samples is not None and process not in syst.samples:
        return ones, ones, zeros, zeros
    if syst.normalization is not None:
        return ones * (1 + syst.normalization), ones * (1 - syst.normalization), zeros, zeros
    # a sample with no nominal events in the channel (hard cuts; the workspace drops it): no
    # normalisation effect, the variation's events as the shape difference (not 0/0)
    reached = nom.sum() > 0
    total = jnp.where(reached, nom.sum(), 1.0)
    upper = templates[(region, process, syst.up)][0]
    norm_up = jnp.where(reached, upper.sum() / total, 1.0)
    shape_up = upper / norm_up
    if syst.down is None and syst.symmetrize:
        norm_down, shape_down = 2 - norm_up, 2 * nom - shape_up
    else:
        lower = templates[(region, process, syst.down)][0] if syst.down else nom
        norm_down = jnp.where(reached, lower.sum() / total, 1.0)
        shape_down = lower / norm_down
    return ones * norm_up, ones * norm_down, shape_up - nom, nom - shape_down
