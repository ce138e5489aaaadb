"""Soft templates of every sample and variation: the relaxed counterpart of a cached pass.

Templates are keyed ``(region, process, variation)`` with ``variation`` as in the histogram
names ("nominal", "pt_scale_up", "btag_var_0_up", "ME_var", ...) and hold the yields and
squared-weight sums in the fit bins. All samples and jet-pt variations are computed in one
vectorised pass over each table of :class:`~agcflow.analyses.cms_ttbar.relaxed.columns.Events`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp

from agcflow.analyses.base import Relaxation, Templates
from agcflow.analyses.cms_ttbar.relaxed import selection
from agcflow.analyses.cms_ttbar.relaxed.columns import Group, JetTable
from agcflow.analyses.cms_ttbar.systematics import scale_weight_factors
from agcflow.config import AnalysisSettings


def all_templates(
    cuts: Mapping[str, Any],
    tables: Sequence[JetTable],
    groups: tuple[Group, ...],
    analysis: AnalysisSettings,
    edges: Any,
    relaxation: Relaxation,
    scale: Any = 1.0,
) -> Templates:
    """The soft histograms of every group (sample and jet-pt variation) and region; the
    sigmoid widths and the kernel width are multiplied by ``scale``."""
    names: list[str] = []
    totals: dict[str, tuple[Any, Any]] = {}
    for table in tables:
        names, filled = _table_histograms(cuts, table, len(groups), analysis, edges, relaxation, scale)
        totals = {r: tuple(a + b for a, b in zip(totals[r], h)) if r in totals else h for r, h in filled.items()}
    out: Templates = {}
    for region, (yields, sumw2) in totals.items():
        for g, group in enumerate(groups):
            out[(region, group.process, group.variation)] = (yields[g, 0], sumw2[g, 0])
            if group.weight_variations:
                out.update({(region, group.process, name): (yields[g, w], sumw2[g, w])
                            for w, name in enumerate(names) if w and (group.scale_variation or "scale_var" not in name)})
    return out


def _table_histograms(cuts: Mapping[str, Any], table: JetTable, n_groups: int, analysis: AnalysisSettings, edges: Any,
                      relaxation: Relaxation, scale: Any) -> tuple[list[str], dict[str, tuple[Any, Any]]]:
    """Weight names, and per region ``[groups, weights, bins]`` yields and squared weights of one table."""
    selected, tagged = selection.jet_probabilities(table, cuts, relaxation.widths, scale)
    in_region = selection.region_probabilities(selected, tagged, analysis.options.cuts.min_jets, analysis.regions)
    names, factors = _weight_factors(selected, table, analysis)
    observables = {"ht": selection.ht(selected, table.pt), "mbjj": selection.mbjj(selected, tagged, table)}
    filled = {}
    for region in analysis.regions:
        weights = (table.weight * in_region[region.name])[:, None] * factors
        filled[region.name] = selection.soft_histogram(observables[region.observable], weights, table.group, n_groups,
                                                       jnp.asarray(edges), relaxation.bandwidth, scale)
    return names, filled


def _weight_factors(selected: Any, table: JetTable, analysis: AnalysisSettings) -> tuple[list[str], Any]:
    """Names and ``[E, W]`` factors of the nominal weight and the event-weight variations;
    the pt of the i-th selected jet enters as its expectation."""
    v = analysis.options.variations
    leading = selection.ordered_jet_pt(selected, table.pt, v.btag_jets)
    names, columns = ["nominal"], [jnp.ones(len(table.weight))]
    for i in range(v.btag_jets):
        shift = v.btag_relative * leading[:, i] / v.btag_pt_ref
        names += [f"btag_var_{i}_up", f"btag_var_{i}_down"]
        columns += [1.0 + shift, 1.0 - shift]
    for name, factor in scale_weight_factors(v.wjets_scale).items():
        names.append(name)
        columns.append(jnp.full(len(table.weight), factor))
    return names, jnp.stack(columns, axis=1)
