import awkward as ak
import numpy as np
import pytest

from agcflow.analyses.cms_ttbar.selection import ELECTRON_FIELDS, JET_FIELDS, MUON_FIELDS, ChunkInput, Options, analyse
from agcflow.physics.jagged import from_awkward

TIGHT_E = {"pt": 40.0, "eta": 0.1, "cutBased": 4, "sip3d": 1.0}
LOOSE_E = {"pt": 40.0, "eta": 0.1, "cutBased": 2, "sip3d": 1.0}


def _jet(pt, btag, eta=0.0, phi=0.0):
    return {"pt": pt, "eta": eta, "phi": phi, "mass": 5.0, "btagCSVV2": btag, "jetId": 6}


def _chunk():
    jets = [
        # event 0: one lepton, 4 jets, 1 b-tag -> 4j1b; HT = 100+80+60+40 = 280
        [_jet(100, 0.9), _jet(80, 0.1, phi=1.0), _jet(60, 0.1, phi=2.0), _jet(40, 0.1, phi=-2.0)],
        # event 1: one lepton, 5 jets (one below 30), 2 b-tags -> 4j2b
        [_jet(120, 0.9), _jet(90, 0.8, phi=2.5), _jet(70, 0.2, phi=-1.0), _jet(35, 0.1, phi=1.0), _jet(29.5, 0.9)],
        # event 2: two tight leptons -> no region
        [_jet(100, 0.9), _jet(80, 0.9), _jet(60, 0.1), _jet(40, 0.1)],
        # event 3: one lepton but 3 jets -> no region; 29.5 jets pass only when scaled by 1.03
        [_jet(100, 0.9), _jet(80, 0.1), _jet(60, 0.1), _jet(29.5, 0.1)],
    ]
    electrons = [[TIGHT_E, LOOSE_E], [TIGHT_E], [TIGHT_E, TIGHT_E], [TIGHT_E]]
    no_muon = {"pt": 1.0, "eta": 0.0, "tightId": False, "sip3d": 9.0, "pfRelIso04_all": 1.0}
    return ChunkInput(
        electrons=from_awkward(ak.Array(electrons), ELECTRON_FIELDS),
        muons=from_awkward(ak.Array([[no_muon]] * 4), MUON_FIELDS),
        jets=from_awkward(ak.Array(jets), JET_FIELDS),
        run=np.ones(4, np.uint32), lumi=np.ones(4, np.uint32), event=np.arange(4, dtype=np.uint64),
    )


def _options(settings, systematics=True, scale=False):
    a = settings.analysis
    return Options(a.options.cuts, a.regions, a.options.variations, weight=2.0, seed=1, systematics=systematics, scale_variation=scale)


def test_nominal_regions_observables_and_weights(settings):
    filled = analyse(_chunk(), _options(settings))
    ht, w = filled[("4j1b", "nominal")]
    assert ht.tolist() == pytest.approx([280.0])
    assert w.tolist() == [2.0]
    mbjj, _ = filled[("4j2b", "nominal")]
    assert mbjj.shape == (1,) and 100 < mbjj[0] < 400


def test_jet_pt_scale_moves_events_between_regions(settings):
    filled = analyse(_chunk(), _options(settings))
    ht, _ = filled[("4j1b", "pt_scale_up")]
    # event 0 scaled, and event 3 gains its 4th jet (29.5 * 1.03 > 30)
    assert sorted(ht.tolist()) == pytest.approx(sorted([280 * 1.03, (100 + 80 + 60 + 29.5) * 1.03]), rel=1e-5)
    # event 1: the 29.5 GeV b-tagged jet passes too once scaled: still 4j2b
    assert len(filled[("4j2b", "pt_scale_up")][0]) == 1


def test_btag_weight_variations_follow_the_ith_jet(settings):
    filled = analyse(_chunk(), _options(settings))
    for i, pt in enumerate([100, 80, 60, 40]):
        _, up = filled[("4j1b", f"btag_var_{i}_up")]
        _, down = filled[("4j1b", f"btag_var_{i}_down")]
        assert up[0] == pytest.approx(2.0 * (1 + 0.075 * pt / 50))
        assert down[0] == pytest.approx(2.0 * (1 - 0.075 * pt / 50))
    assert ("4j1b", "scale_var_up") not in filled


def test_scale_variation_only_when_asked(settings):
    filled = analyse(_chunk(), _options(settings, scale=True))
    assert filled[("4j1b", "scale_var_up")][1][0] == pytest.approx(2.0 * 1.025)
    assert filled[("4j2b", "scale_var_down")][1][0] == pytest.approx(2.0 * 0.975)


def test_alternative_samples_get_only_the_nominal(settings):
    filled = analyse(_chunk(), _options(settings, systematics=False))
    assert sorted(filled) == [("4j1b", "nominal"), ("4j2b", "nominal")]


def test_resolution_variation_is_reproducible(settings):
    a = analyse(_chunk(), _options(settings))[("4j1b", "pt_res_up")][0]
    b = analyse(_chunk(), _options(settings))[("4j1b", "pt_res_up")][0]
    assert a.tolist() == b.tolist()
