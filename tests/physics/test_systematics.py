import awkward as ak
import numpy as np
import pytest

from agcflow.analyses.cms_ttbar import systematics
from agcflow.physics import weights


def test_pt_scale_multiplies_every_jet():
    pt = ak.Array([[100.0, 50.0], [30.0]])
    scaled = systematics.scaled_pt(pt, 1.03)
    assert ak.to_list(ak.num(scaled)) == [2, 1]
    assert ak.to_list(ak.flatten(scaled)) == pytest.approx([103.0, 51.5, 30.9], rel=1e-6)


def test_resolution_factors_are_a_deterministic_function_of_the_jet():
    run, lumi, event = np.array([1, 1, 1]), np.array([5, 5, 6]), np.array([10, 11, 12])
    counts = np.array([3, 0, 2])
    a = systematics.resolution_factors(run, lumi, event, counts, 0.05, seed=7)
    assert ak.to_list(ak.num(a)) == [3, 0, 2]
    # the same jets in another chunking give the same factors
    b = systematics.resolution_factors(run[2:], lumi[2:], event[2:], counts[2:], 0.05, seed=7)
    assert ak.to_list(a[2]) == ak.to_list(b[0])
    # another seed or event gives other factors
    c = systematics.resolution_factors(run, lumi, event, counts, 0.05, seed=8)
    assert ak.to_list(a) != ak.to_list(c)


def test_resolution_factors_follow_normal_1_sigma():
    n = 200_000
    factors = ak.flatten(systematics.resolution_factors(
        np.ones(n), np.ones(n), np.arange(n), np.full(n, 1), 0.05, seed=1))
    values = ak.to_numpy(factors).astype(np.float64)
    assert values.mean() == pytest.approx(1.0, abs=5e-4)
    assert values.std() == pytest.approx(0.05, rel=0.01)


def test_btag_weight_factors_use_the_ith_selected_jet():
    pt = ak.Array([[100.0, 50.0, 40.0, 30.0, 20.0]])
    f = systematics.btag_weight_factors(pt, 4, 0.075, 50.0)
    assert sorted(f) == sorted(f"btag_var_{i}_{d}" for i in range(4) for d in ("up", "down"))
    assert f["btag_var_0_up"][0] == pytest.approx(1 + 0.075 * 2.0)
    assert f["btag_var_1_down"][0] == pytest.approx(1 - 0.075 * 1.0)
    assert f["btag_var_3_up"][0] == pytest.approx(1 + 0.075 * 0.6)


def test_scale_weight_factors():
    assert systematics.scale_weight_factors(0.025) == pytest.approx({"scale_var_up": 1.025, "scale_var_down": 0.975})


def test_sample_weight_is_xsec_lumi_over_events():
    assert weights.sample_weight(729.84, 3378.0, 1000) == pytest.approx(729.84 * 3.378)
    with pytest.raises(ValueError):
        weights.sample_weight(1.0, 1.0, 0)
