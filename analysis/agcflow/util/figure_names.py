"""The names of the fit's figures, for the fit (agcflow.stats.plots) and the Snakefile.

Loaded by the Snakefile from its path, without importing agcflow: standard library only,
Python 3.8 syntax at run time.
"""

from __future__ import annotations

import re
from typing import Iterable, List

PULLS_PNG = "pulls.png"
CORRELATION_PNG = "correlation_matrix.png"
RANKING_PNG = "ranking.png"
STAGES = ("prefit", "postfit")


def safe_name(name: str) -> str:
    """A file-name-safe form of a region name: runs of other characters become ``-``."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", name).strip("-")


def data_mc_name(region_label: str, stage: str) -> str:
    """The data/MC figure of one region (its label, the workspace channel) and fit stage."""
    return f"{safe_name(region_label)}_{stage}.png"


def fit_figures(region_labels: Iterable[str], ranking: bool) -> List[str]:
    """Every figure a successful fit writes: data/MC per region and stage, pulls, correlations
    and, with the ranking, the impacts."""
    labels = list(region_labels)
    names = [data_mc_name(label, stage) for stage in STAGES for label in labels]
    return [*names, PULLS_PNG, CORRELATION_PNG, *([RANKING_PNG] if ranking else [])]
