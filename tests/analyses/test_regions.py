import numpy as np

from agcflow.analyses.cms_ttbar import regions


def test_preselection_needs_exactly_one_lepton_and_four_jets():
    n_lep = np.array([1, 1, 0, 2, 1])
    n_jet = np.array([4, 3, 5, 5, 7])
    assert regions.preselection(n_lep, n_jet, 4).tolist() == [True, False, False, False, True]


def test_btag_regions_are_exclusive():
    n_b = np.array([0, 1, 2, 3])
    one = regions.btag_region(n_b, 1, 1)
    two = regions.btag_region(n_b, 2, None)
    assert one.tolist() == [False, True, False, False]
    assert two.tolist() == [False, False, True, True]
    assert not (one & two).any()
