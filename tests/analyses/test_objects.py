import awkward as ak
import numpy as np

from agcflow.analyses.cms_ttbar import objects


def test_electron_cuts_at_their_edges(settings):
    cuts = settings.analysis.options.cuts
    electrons = ak.Array([[
        {"pt": 30.0, "eta": 0.0, "cutBased": 4, "sip3d": 1.0},    # pt not > 30
        {"pt": 30.01, "eta": 2.1, "cutBased": 4, "sip3d": 1.0},   # |eta| not < 2.1
        {"pt": 30.01, "eta": -2.09, "cutBased": 4, "sip3d": 3.99},  # passes
        {"pt": 50.0, "eta": 0.0, "cutBased": 3, "sip3d": 1.0},    # medium, not tight
        {"pt": 50.0, "eta": 0.0, "cutBased": 4, "sip3d": 4.0},    # sip3d not < 4
    ]])
    assert ak.to_list(objects.electron_mask(electrons, cuts)) == [[False, False, True, False, False]]


def test_muon_cuts_at_their_edges(settings):
    cuts = settings.analysis.options.cuts
    base = {"pt": 40.0, "eta": 0.5, "tightId": True, "sip3d": 1.0, "pfRelIso04_all": 0.1}
    variants = [base, {**base, "pt": 30.0}, {**base, "eta": -2.1}, {**base, "tightId": False},
                {**base, "sip3d": 4.0}, {**base, "pfRelIso04_all": 0.15}, {**base, "pfRelIso04_all": 0.1499}]
    assert ak.to_list(objects.muon_mask(ak.Array([variants]), cuts)) == [[True, False, False, False, False, False, True]]


def test_jet_selection_uses_the_given_pt_and_the_lepton_veto_bit(settings):
    cuts = settings.analysis.options.cuts
    jets = ak.Array([[
        {"pt": 29.0, "eta": 0.0, "jetId": 6},
        {"pt": 31.0, "eta": 2.4, "jetId": 6},
        {"pt": 31.0, "eta": 2.39, "jetId": 2},   # tight but not lepton veto
        {"pt": 31.0, "eta": 2.39, "jetId": 4},
        {"pt": 31.0, "eta": 0.0, "jetId": 6},
    ]])
    assert ak.to_list(objects.jet_mask(jets, jets.pt, cuts)) == [[False, False, False, True, True]]
    scaled = jets.pt * np.float32(1.05)  # 29 -> 30.45 passes once varied
    assert ak.to_list(objects.jet_mask(jets, scaled, cuts))[0][0] is True


def test_btag_is_strictly_above_the_working_point(settings):
    jets = ak.Array([[{"btagCSVV2": 0.5}, {"btagCSVV2": 0.5001}, {"btagCSVV2": 0.2}]])
    assert ak.to_list(objects.btag_mask(jets, settings.analysis.options.cuts)) == [[False, True, False]]
