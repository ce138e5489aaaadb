"""Soft templates of every sample and variation: the relaxed counterpart of a cached pass.

Templates are keyed ``(region, process, variation)`` with ``variation`` as in the histogram
names ("nominal", "pt_scale_up", "btag_var_0_up", "ME_var", ...) and hold the yields and
squared-weight sums in the fit bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from agcflow.config import AnalysisSettings
from agcflow.physics.systematics import scale_weight_factors
from agcflow.relaxed import selection
from agcflow.relaxed.columns import JetTable, SampleColumns

Templates = dict[tuple[str, str, str], tuple[Any, Any]]


@dataclass(frozen=True)
class Relaxation:
    """How soft the analysis is: sigmoid width per cut parameter (0: hard) and the
    Gaussian kernel width of the histograms in GeV (0: hard bins)."""

    widths: Mapping[str, float]
    bandwidth: float


def sample_templates(
    cuts: Mapping[str, Any],
    tables: Mapping[str, JetTable],
    sample: SampleColumns,
    analysis: AnalysisSettings,
    edges: Any,
    relaxation: Relaxation,
) -> Templates:
    """The soft histograms of one sample (``tables`` are its jet tables, as JAX arrays)."""
    out: Templates = {}
    for pt_variation, jets in tables.items():
        name = sample.variation if pt_variation == "nominal" else pt_variation
        weights = _region_fills(cuts, jets, sample, analysis, relaxation, pt_variation == "nominal")
        for (region, variation), (values, weight) in weights.items():
            key = (region, sample.process, name if variation == "nominal" else variation)
            out[key] = selection.soft_histogram(values, weight, edges, relaxation.bandwidth)
    return out


def _region_fills(
    cuts: Mapping[str, Any],
    jets: JetTable,
    sample: SampleColumns,
    analysis: AnalysisSettings,
    relaxation: Relaxation,
    weight_variations: bool,
) -> dict[tuple[str, str], tuple[Any, Any]]:
    selected, tagged = selection.jet_probabilities(jets, cuts, relaxation.widths)
    in_region = selection.region_probabilities(selected, tagged, analysis.cuts.min_jets, analysis.regions)
    observables = {"ht": lambda: selection.ht(selected, jets.pt), "mbjj": lambda: selection.mbjj(selected, tagged, jets)}
    factors = _weight_factors(selected, jets, sample, analysis) if weight_variations and sample.variation == "nominal" else {}
    fills = {}
    for region in analysis.regions:
        values = observables[region.observable]()
        weight = sample.weight * in_region[region.name]
        fills[(region.name, "nominal")] = (values, weight)
        fills.update({(region.name, name): (values, weight * factor) for name, factor in factors.items()})
    return fills


def _weight_factors(selected: Any, jets: JetTable, sample: SampleColumns, analysis: AnalysisSettings) -> dict[str, Any]:
    """The event-weight variations, with the pt of the i-th selected jet as its expectation."""
    v = analysis.variations
    leading = selection.ordered_jet_pt(selected, jets.pt, v.btag_jets)
    factors: dict[str, Any] = {}
    for i in range(v.btag_jets):
        shift = v.btag_relative * leading[:, i] / v.btag_pt_ref
        factors[f"btag_var_{i}_up"], factors[f"btag_var_{i}_down"] = 1.0 + shift, 1.0 - shift
    if sample.scale_variation:
        factors.update(scale_weight_factors(v.wjets_scale))
    return factors


def all_templates(
    cuts: Mapping[str, Any],
    tables: Mapping[str, Mapping[str, JetTable]],
    samples: Mapping[str, SampleColumns],
    analysis: AnalysisSettings,
    edges: Any,
    relaxation: Relaxation,
) -> Templates:
    """The soft histograms of all samples; ``tables`` maps sample key to its jet tables."""
    out: Templates = {}
    for key, sample in samples.items():
        out.update(sample_templates(cuts, tables[key], sample, analysis, jnp.asarray(edges), relaxation))
    return out
