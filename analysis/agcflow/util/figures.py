"""The one helper that writes figures: PNG, atomically, and the figure closed afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agcflow.util.io import atomic_path


def save_figure(figure: Any, path: str | os.PathLike[str], dpi: int = 100, **savefig: Any) -> Path:
    """Write ``figure`` (matplotlib) to ``path`` as PNG atomically and close it, also on failure.

    Args:
        figure: the matplotlib figure.
        path: the PNG to write; its folder must exist.
        dpi: resolution.
        **savefig: further ``Figure.savefig`` options (e.g. ``bbox_inches="tight"``).

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=dpi, **savefig)
    finally:
        plt.close(figure)
    return Path(path)
