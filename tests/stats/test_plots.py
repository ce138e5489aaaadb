"""File naming and PNG writing of the fit figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from agcflow.util.figure_names import safe_name
from agcflow.util.figures import save_figure as save_png

from .conftest import PNG_SIGNATURE


@pytest.mark.parametrize(
    ("region", "expected"),
    [("4j1b CR", "4j1b-CR"), ("4j2b SR", "4j2b-SR"), (" m_bjj / SR (2b) ", "m_bjj-SR-2b"), ("plain", "plain")],
)
def test_region_names_become_safe_file_names(region, expected):
    assert safe_name(region) == expected


def test_save_png_writes_atomically_and_closes_the_figure(tmp_path):
    plt.switch_backend("Agg")
    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_png(figure, tmp_path / "figures" / "line.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in path.parent.iterdir()] == ["line.png"]
    assert not plt.fignum_exists(figure.number)
