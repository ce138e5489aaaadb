"""The cut parameters an optimisation varies: the plugin's default grid, command-line specs,
and the errors for cuts the analysis (or its relaxed form) does not have."""

from __future__ import annotations

import dataclasses

import pytest

from agcflow.analyses.base import CutParameter
from agcflow.errors import ConfigError
from agcflow.optimize.gradient import relaxation_of, relaxed_form_of
from agcflow.optimize.options import GradientOptions
from agcflow.optimize.parameters import chosen_parameters, grid_points, parse_parameter, with_cuts


def test_the_default_grid_is_the_plugins_and_starts_where_the_delivery_allows(settings):
    parameters = chosen_parameters(settings.analysis, settings.delivery.preselection)
    assert [p.name for p in parameters] == ["jet_pt_min", "btag_min"]
    lowest = settings.delivery.preselection.jet_pt_min * settings.analysis.options.variations.pt_scale_factor
    assert parameters[0] == CutParameter("jet_pt_min", max(25.0, lowest), 60.0, 8)
    assert parameters[1] == CutParameter("btag_min", 0.3, 0.9, 7)
    assert len(grid_points(parameters)) == 56


def test_specs_choose_and_narrow_the_cuts(settings):
    parameters = chosen_parameters(settings.analysis, settings.delivery.preselection, ["btag_min=0.4:0.8:3"])
    assert parameters == (CutParameter("btag_min", 0.4, 0.8, 3),)
    default_pt = chosen_parameters(settings.analysis, settings.delivery.preselection)[0]
    (pt,) = chosen_parameters(settings.analysis, settings.delivery.preselection, ["jet_pt_min=::4"])
    assert (pt.low, pt.high, pt.points) == (default_pt.low, default_pt.high, 4)
    assert {p.points for p in chosen_parameters(settings.analysis, settings.delivery.preselection, points=3)} == {3}


@pytest.mark.parametrize(("spec", "message"), [
    ("btag_min", "expected NAME=LOW:HIGH:POINTS"),
    ("btag_min=a:0.9:7", "LOW and HIGH are numbers"),
    ("lepton_pt=1:2:3", "not a cut of analysis 'cms_ttbar'; valid: jet_pt_min, btag_min"),
    ("btag_min=0.9:0.3:7", "needs LOW < HIGH and at least 2 points"),
])
def test_bad_specs_are_refused_naming_what_is_valid(settings, spec, message):
    with pytest.raises(ConfigError, match=message):
        chosen_parameters(settings.analysis, settings.delivery.preselection, [spec])


def test_parse_parameter_keeps_empty_fields_as_defaults():
    assert parse_parameter("x=1:2:3") == ("x", 1.0, 2.0, 3)
    assert parse_parameter("x=::") == ("x", None, None, None)


def test_with_cuts_sets_the_plugins_cuts_and_refuses_unknown_ones(settings):
    changed = with_cuts(settings.analysis, {"btag_min": 0.7})
    assert changed.plugin.cut_values(changed) == {**settings.analysis.plugin.cut_values(settings.analysis), "btag_min": 0.7}
    with pytest.raises(ValueError, match="has no cuts \\['lepton_pt'\\]"):
        with_cuts(settings.analysis, {"lepton_pt": 30.0})


def test_the_relaxed_form_relaxes_only_its_cuts(settings):
    form = relaxed_form_of(settings)
    relaxation = relaxation_of(form, [CutParameter("btag_min", 0.3, 0.9, 7)], GradientOptions(steepness=4.0))
    assert relaxation.widths == {"jet_pt_min": 0.0, "btag_min": pytest.approx(0.1 / 4.0)}
    with pytest.raises(ConfigError, match="cannot vary lepton_pt; valid: jet_pt_min, btag_min"):
        relaxation_of(form, [CutParameter("lepton_pt", 1.0, 2.0, 2)], GradientOptions())


def test_an_analysis_without_a_relaxed_form_is_refused_for_the_gradient_strategy(settings):
    class NoRelaxedForm(type(settings.analysis.plugin)):
        def relaxed_form(self):
            return None

    plain = dataclasses.replace(settings, analysis=dataclasses.replace(settings.analysis, plugin=NoRelaxedForm()))
    with pytest.raises(ConfigError, match="has no relaxed form .* use --strategy grid"):
        relaxed_form_of(plain)
