"""The ttbar analysis relaxed: sigmoid cuts and soft histograms, differentiable in JAX.

``columns`` prepares each sample's delivered columns as padded jet tables, ``selection``
relaxes the selection and observables, ``templates`` fills soft histograms of every sample
and variation. :class:`RelaxedTtbar` is the plugin's :class:`~agcflow.analyses.base.RelaxedForm`;
the generic likelihood of the templates is :mod:`agcflow.relaxed.likelihood`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agcflow.analyses.base import DeliveredSample, Relaxation, Templates
from agcflow.analyses.cms_ttbar.relaxed.columns import Events, load_events
from agcflow.analyses.cms_ttbar.relaxed.templates import all_templates

if TYPE_CHECKING:
    from agcflow.config import AnalysisSettings


class RelaxedTtbar:
    """The jet pt and b-tag thresholds as sigmoids; HT and m_bjj as soft histograms."""

    cuts = ("jet_pt_min", "btag_min")

    def events(self, samples: Mapping[str, DeliveredSample], analysis: AnalysisSettings, seed: int) -> Events:
        """Every delivered sample and jet-pt variation as padded jet tables."""
        return load_events(samples, analysis, seed)

    def tables(self, events: Events) -> Any:
        """The arrays of ``events`` (the argument of the compiled objective)."""
        return events.tables

    def templates(self, cuts: Mapping[str, Any], tables: Any, events: Events, analysis: AnalysisSettings, edges: Any,
                  relaxation: Relaxation, scale: Any) -> Templates:
        """Soft histograms of every sample, variation and region."""
        return all_templates(cuts, tables, events.groups, analysis, edges, relaxation, scale)
