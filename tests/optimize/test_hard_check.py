"""The gradient run's hard-cut check of its optimum: the record it writes, its warning, and a
hard-cut model that cannot be built (the gradient's result is kept, the reason recorded)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agcflow import config
from agcflow.analyses.base import CutParameter
from agcflow.errors import AgcflowError
from agcflow.optimize.objective import Objective
from agcflow.optimize.run import HARD_CUT_TOLERANCE, hard_cut_check
from conftest import CONFIG

PARAMETERS = (CutParameter("jet_pt_min", 25.0, 60.0, 8), CutParameter("btag_min", 0.3, 0.9, 7))
BEST = {"jet_pt_min": 31.5, "btag_min": 0.75, "objective": 1.0}


@dataclass(frozen=True)
class KnownHard(Objective):
    """An objective whose hard-cut value is given (or whose model fails), at the cuts it was asked for."""

    value: float | None = None

    def hard(self, manifest, analysis, settings, work_dir):
        assert analysis.plugin.cut_values(analysis) == {p.name: BEST[p.name] for p in PARAMETERS}
        if self.value is None:
            raise AgcflowError("the workspace has an empty template")
        return self.value


def test_the_check_records_the_hard_value_and_warns_beyond_the_tolerance(caplog):
    settings = config.load(CONFIG)
    close = hard_cut_check(KnownHard(value=1.05), settings, None, BEST, PARAMETERS)
    assert close == {"objective": 1.05, "relative_difference": pytest.approx(1 / 1.05 - 1), "tolerance": HARD_CUT_TOLERANCE}
    assert "off its hard-cut value" not in caplog.text
    far = hard_cut_check(KnownHard(value=1.25), settings, None, BEST, PARAMETERS)
    assert far["relative_difference"] == pytest.approx(-0.2)
    assert "-20.0 % off its hard-cut value" in caplog.text


def test_a_hard_model_that_cannot_be_built_is_recorded_not_raised():
    checked = hard_cut_check(KnownHard(), config.load(CONFIG), None, BEST, PARAMETERS)
    assert checked["objective"] is None and checked["relative_difference"] is None
    assert "empty template" in checked["error"]
