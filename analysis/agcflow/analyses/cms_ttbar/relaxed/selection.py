"""The relaxed selection: sigmoid cut weights, soft region membership and observables.

Each jet is selected with probability ``s = sigmoid((pt - pt_min) / width)`` and, once
selected, b-tagged with probability ``t = sigmoid((btag - btag_min) / width)``. Jets are
treated as independent: the joint distribution of (selected jets, b-tagged jets) per
event follows by a recursion over the jets, and gives each event's probability to be in
each region. HT is the expected scalar sum ``sum(s * pt)``. m_bjj weighs each 3-jet
combination (largest trijet pt first) by the probability that it is the first whose jets
are all selected with at least one b-tag among them. As the widths shrink every quantity
becomes the hard-cut one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from agcflow.analyses.cms_ttbar.relaxed.columns import JetTable
from agcflow.config import Region

_TINY = 1e-12  # keeps m_bjj and its gradient finite in events without a usable combination


def soft_cut(values: Any, threshold: Any, width: float, scale: Any = 1.0) -> Any:
    """Sigmoid weight of ``values > threshold`` of width ``width * scale`` (``scale`` may be
    traced, so a schedule of widths needs no recompilation); a step when ``width`` is 0."""
    if width == 0:
        return (values > threshold).astype(jnp.float64)
    return jax.nn.sigmoid((values - threshold) / (width * scale))


def jet_probabilities(jets: JetTable, cuts: dict[str, Any], widths: dict[str, float], scale: Any = 1.0) -> tuple[Any, Any]:
    """Per jet: probability to be selected, and to be b-tagged once selected."""
    selected = jets.real * soft_cut(jets.pt, cuts["jet_pt_min"], widths["jet_pt_min"], scale)
    return selected, soft_cut(jets.btag, cuts["btag_min"], widths["btag_min"], scale)


def region_probabilities(selected: Any, tagged: Any, min_jets: int, regions: Sequence[Region]) -> dict[str, Any]:
    """Per event and region: probability of >= ``min_jets`` selected jets and the region's
    b-tag multiplicity (counts above the largest one that matters are merged)."""
    bounds = {r.name: (r.selection["min_btags"], r.selection.get("max_btags")) for r in regions}
    btag_cap = max(max(low, (high or 0) + 1) for low, high in bounds.values())
    n_events = selected.shape[0]
    start = jnp.zeros((n_events, min_jets + 1, btag_cap + 1)).at[:, 0, 0].set(1.0)

    def add_jet(state, jet):
        s, t = jet
        one_more = _shift(state, axis=1)
        tagged_more = _shift(one_more, axis=2)
        return state * (1 - s)[:, None, None] + one_more * (s * (1 - t))[:, None, None] + tagged_more * (
            s * t)[:, None, None], None

    final, _ = jax.lax.scan(add_jet, start, (selected.T, tagged.T))
    enough = final[:, min_jets, :]  # [E, btag_cap + 1]
    return {name: enough[:, low:(btag_cap if high is None else high) + 1].sum(axis=1)
            for name, (low, high) in bounds.items()}


def ordered_jet_pt(selected: Any, pt: Any, n_first: int) -> Any:
    """Expected pt of the first ``n_first`` selected jets of each event, ``[E, n_first]``."""
    start = jnp.zeros((selected.shape[0], n_first + 1)).at[:, 0].set(1.0)

    def add_jet(before, jet):
        s, p = jet
        contribution = before[:, :n_first] * (s * p)[:, None]
        return before * (1 - s)[:, None] + _shift(before, axis=1) * s[:, None], contribution

    _, contributions = jax.lax.scan(add_jet, start, (selected.T, pt.T))
    return contributions.sum(axis=0)


def ht(selected: Any, pt: Any) -> Any:
    """Expected HT: the sum of jet pt weighted by the selection probability."""
    return (selected * pt).sum(axis=1)


def mbjj(selected: Any, tagged: Any, jets: JetTable) -> Any:
    """Expected m_bjj: combinations weighted by the probability of being the first usable one."""
    index = jets.combos.reshape(jets.combos.shape[0], -1)
    s = jnp.take_along_axis(selected, index, axis=1).reshape(jets.combos.shape)
    t = jnp.take_along_axis(tagged, index, axis=1).reshape(jets.combos.shape)
    usable = s.prod(axis=2) * (1 - (1 - t).prod(axis=2))  # [E, C]
    none_before = jnp.cumprod(jnp.concatenate([jnp.ones_like(usable[:, :1]), 1 - usable[:, :-1]], axis=1), axis=1)
    chosen = usable * none_before
    return (chosen * jets.combo_mass).sum(axis=1) / (chosen.sum(axis=1) + _TINY)


def soft_histogram(values: Any, weights: Any, groups: Any, n_groups: int, edges: Any, bandwidth: float,
                   scale: Any = 1.0) -> tuple[Any, Any]:
    """Per group and weight column ``[G, W, bins]``: yields and sums of squared weights.

    ``weights`` is ``[E, W]``; each event is spread over the bins by a Gaussian kernel of
    width ``bandwidth * scale`` (``scale`` may be traced, as in :func:`soft_cut`; hard bins
    ``[low, high)`` when ``bandwidth`` is 0).
    """
    if bandwidth == 0:
        fractions = ((values[:, None] >= edges[None, :-1]) & (values[:, None] < edges[None, 1:])).astype(jnp.float64)
    else:
        cdf = jax.scipy.stats.norm.cdf((edges[None, :] - values[:, None]) / (bandwidth * scale))
        fractions = cdf[:, 1:] - cdf[:, :-1]
    contributions = weights[:, :, None] * fractions[:, None, :]
    return (jax.ops.segment_sum(contributions, groups, n_groups),
            jax.ops.segment_sum(contributions**2, groups, n_groups))


def _shift(state: Any, axis: int) -> Any:
    """Move each count one up along ``axis``; the last entry keeps "this many or more"."""
    moved = jnp.moveaxis(state, axis, -1)
    shifted = jnp.concatenate([jnp.zeros_like(moved[..., :1]), moved[..., :-2], moved[..., -2:].sum(-1, keepdims=True)],
                              axis=-1)
    return jnp.moveaxis(shifted, -1, axis)
