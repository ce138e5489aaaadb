"""Grid strategy: the hard-cut objective at every grid point, one Dask task per point."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agcflow.analyses.base import CutParameter
from agcflow.config import Settings
from agcflow.delivery.manifest import check_serves, recorded_preselection
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import AgcflowError
from agcflow.optimize.objective import Objective
from agcflow.optimize.parameters import grid_points, with_cuts

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

DEFAULT = Objective()


def run_grid(
    settings: Settings, manifest: Manifest, parameters: Sequence[CutParameter], client: Client,
    objective: Objective = DEFAULT,
) -> list[dict[str, float]]:
    """``objective`` (hard cuts) at every grid point: ``[{parameter: value, ..., "objective": value}]``
    (``None``, with an ``error``, where the model cannot be built).
    Points the delivered columns cannot serve are refused before any work starts."""
    points = grid_points(parameters)
    analyses = [with_cuts(settings.analysis, point) for point in points]
    delivered = recorded_preselection(manifest, settings.analysis)
    for point, analysis in zip(points, analyses):
        check_serves(analysis, delivered, f"the manifest, at grid point {point}")
    with tempfile.TemporaryDirectory(prefix="agcflow-grid-", ignore_cleanup_errors=True) as scratch:
        futures = [
            client.submit(hard_objective, objective, manifest, analysis, settings, Path(scratch) / f"point{i}", pure=False)
            for i, analysis in enumerate(analyses)
        ]
        objectives = client.gather(futures)
    log.info("grid: %d points evaluated", len(points))
    return [{**point, **outcome} for point, outcome in zip(points, objectives)]


def hard_objective(objective: Objective, manifest: Manifest, analysis: Any, settings: Settings,
                   work_dir: Path) -> dict[str, Any]:
    """``objective`` of the hard-cut ``analysis`` (a grid point, or the gradient's optimum); a
    point whose model cannot be built (e.g. an empty varied template) is recorded with a null
    objective and the reason."""
    try:
        return {"objective": objective.hard(manifest, analysis, settings, work_dir)}
    except AgcflowError as err:
        log.warning("grid point %s skipped: %s", analysis.options.cuts, err)
        return {"objective": None, "error": str(err)}
