"""Configuration errors of the generic sample keys the H->ZZ*->4l slice brought (data samples,
cross sections, groups): configs/hzz.yaml changed one way at a time, each refused naming its key."""

from __future__ import annotations

import copy

import pytest
import yaml

from agcflow import config
from agcflow.errors import ConfigError

from .conftest import HZZ_CONFIG


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(HZZ_CONFIG.read_text())


def refused(raw: dict, change) -> str:
    changed = copy.deepcopy(raw)
    change(changed)
    with pytest.raises(ConfigError) as err:
        config.from_dict(changed)
    return str(err.value)


def test_the_slice_config_loads(raw):
    settings = config.from_dict(copy.deepcopy(raw))
    assert settings.analysis.data_sample.name == "data"
    assert set(settings.analysis.fit_samples()) == {"Signal", "ZZ", "Z_ttbar"}


def test_two_data_samples(raw):
    def change(r):
        r["analysis"]["samples"]["data_2016"] = {"label": "Data 2016", "data": True}

    message = refused(raw, change)
    assert "analysis.samples: 2 samples have data: true (['data', 'data_2016']); at most one is the fit's data" in message


def test_pseudodata_and_a_data_sample(raw):
    def change(r):
        r["analysis"]["pseudodata"] = {"average": ["llll"], "add": []}

    message = refused(raw, change)
    assert "analysis.pseudodata: set, but samples.data is data (data: true)" in message


def test_neither_data_nor_pseudodata(raw):
    def change(r):
        del r["analysis"]["samples"]["data"]

    assert "analysis: the fit has no data: mark the data sample" in refused(raw, change)


def test_a_simulated_sample_without_a_cross_section(raw):
    def change(r):
        del r["analysis"]["samples"]["llll"]["xsec_pb"]

    assert "analysis.samples.llll.xsec_pb: required for a simulated sample (data: false)" in refused(raw, change)


def test_a_data_sample_with_a_group(raw):
    def change(r):
        r["analysis"]["samples"]["data"]["group"] = "Signal"

    assert "analysis.samples.data: a data sample has no group and no variations" in refused(raw, change)


def test_a_systematic_naming_part_of_a_group(raw):
    def change(r):
        r["analysis"]["systematics"].append({"name": "Zee_norm", "label": "Zee norm", "samples": ["Zee"],
                                             "normalization": 0.2})

    message = refused(raw, change)
    assert ("analysis.systematics[3].samples: names ['Zee'] of group 'Z_ttbar' but not ['Zmumu', 'ttbar_lep']; "
            "a systematic applies to every sample of a group or to none") in message


def test_every_problem_is_named_at_once(raw):
    def change(r):
        del r["analysis"]["samples"]["llll"]["xsec_pb"]
        r["analysis"]["samples"]["data_2016"] = {"label": "Data 2016", "data": True}

    message = refused(raw, change)
    assert "llll.xsec_pb" in message and "2 samples have data: true" in message
