"""PNG figures of the fit, drawn by cabinetry's visualisation and written atomically.

cabinetry saves PDFs under fixed names; here its figures are taken back unsaved,
written as PNG and closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agcflow.util.figure_names import CORRELATION_PNG, PULLS_PNG, RANKING_PNG, data_mc_name
from agcflow.util.figures import save_figure


def data_mc_figures(
    prediction: Any, data: Sequence[float], config: dict[str, Any], figures_dir: Path
) -> list[Path]:
    """Data/MC figures, one per region: ``{region}_{prefit|postfit}.png``.

    ``prediction`` is a ``cabinetry.model_utils.ModelPrediction``; ``config`` supplies the
    regions' ``Binning`` and ``Variable`` (axis label).
    """
    import cabinetry

    _use_agg()
    stage = prediction.label.replace("-", "")  # "pre-fit" -> "prefit"
    figures = cabinetry.visualize.data_mc(
        prediction, list(data), config=config, save_figure=False, close_figure=False
    )
    return [
        save_figure(entry["figure"], Path(figures_dir) / data_mc_name(entry["region"], stage))
        for entry in figures or []
    ]


def pulls_figure(fit_results: Any, poi: str, figures_dir: Path) -> Path:
    """Pulls of the nuisance parameters (POI and MC-statistics parameters left out)."""
    import cabinetry

    _use_agg()
    figure = cabinetry.visualize.pulls(fit_results, exclude=poi, save_figure=False, close_figure=False)
    return save_figure(figure, Path(figures_dir) / PULLS_PNG)


def correlation_figure(fit_results: Any, figures_dir: Path) -> Path:
    """The parameters' correlation matrix."""
    import cabinetry

    _use_agg()
    figure = cabinetry.visualize.correlation_matrix(fit_results, save_figure=False, close_figure=False)
    return save_figure(figure, Path(figures_dir) / CORRELATION_PNG)


def ranking_figure(ranking: Any, figures_dir: Path, max_parameters: int = 20) -> Path:
    """Impacts of the leading ``max_parameters`` nuisance parameters on the POI."""
    import cabinetry

    _use_agg()
    figure = cabinetry.visualize.ranking(
        ranking, max_pars=max_parameters, save_figure=False, close_figure=False
    )
    return save_figure(figure, Path(figures_dir) / RANKING_PNG)


def stage_figures(figures_dir: Path, stage: str) -> list[Path]:
    """The data/MC figures of one stage ("prefit" or "postfit") present in ``figures_dir``."""
    return sorted(Path(figures_dir).glob(f"*_{stage}.png"))




def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")
