import awkward as ak
import numpy as np
import pytest

from agcflow.analyses.cms_ttbar import observables


def _jets(rows):
    return ak.Array([[{"pt": pt, "eta": eta, "phi": phi, "mass": m} for pt, eta, phi, m in row] for row in rows])


def test_ht_is_the_scalar_sum_of_jet_pt():
    pt = ak.Array([[40.0, 35.0, 31.0, 30.5], [100.0, 50.0, 40.0, 40.0, 33.0], []])
    assert observables.ht(pt).tolist() == [136.5, 263.0, 0.0]


def _mass(jets):
    px = sum(pt * np.cos(phi) for pt, eta, phi, m in jets)
    py = sum(pt * np.sin(phi) for pt, eta, phi, m in jets)
    pz = sum(pt * np.sinh(eta) for pt, eta, phi, m in jets)
    e = sum(np.sqrt((pt * np.cosh(eta)) ** 2 + m**2) for pt, eta, phi, m in jets)
    return np.sqrt(e**2 - px**2 - py**2 - pz**2)


def test_trijet_mass_takes_the_highest_pt_combination_with_a_btag():
    row = [(100.0, 0.0, 0.0, 10.0), (90.0, 0.5, 0.1, 10.0), (80.0, -0.5, 3.0, 10.0), (50.0, 1.0, 1.5, 5.0)]
    jets = _jets([row])
    # only jet 3 is b-tagged: the best combination overall, (0, 1, 2)?
    # combos with jet 3: (0,1,3) has the largest vector pt among them.
    btag = ak.Array([[False, False, False, True]])
    got = observables.trijet_mass(jets, jets.pt, btag)
    assert got[0] == pytest.approx(_mass([row[0], row[1], row[3]]), rel=1e-9)


def test_trijet_mass_without_btag_restriction_picks_the_global_best():
    row = [(100.0, 0.0, 0.0, 10.0), (90.0, 0.5, 0.1, 10.0), (80.0, -0.5, 3.0, 10.0), (50.0, 1.0, 1.5, 5.0)]
    jets = _jets([row])
    btag = ak.Array([[True, True, True, True]])
    pts = {c: np.hypot(sum(row[i][0] * np.cos(row[i][2]) for i in c), sum(row[i][0] * np.sin(row[i][2]) for i in c))
           for c in [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]}
    best = max(pts, key=pts.get)
    assert observables.trijet_mass(jets, jets.pt, btag)[0] == pytest.approx(_mass([row[i] for i in best]), rel=1e-9)


def test_trijet_mass_takes_the_first_combination_on_ties():
    # four identical jets: every combination ties; the first, (0, 1, 2), wins
    row = [(50.0, 0.0, 0.0, 5.0), (50.0, 0.0, 0.0, 5.0), (50.0, 0.0, 0.0, 5.0), (50.0, 0.0, 0.0, 7.0)]
    jets = _jets([row])
    got = observables.trijet_mass(jets, jets.pt, ak.Array([[True, True, True, True]]))
    assert got[0] == pytest.approx(_mass(row[:3]), rel=1e-9)
    assert got[0] != pytest.approx(_mass([row[0], row[1], row[3]]), rel=1e-9)


def test_trijet_mass_uses_the_varied_pt():
    row = [(100.0, 0.0, 0.0, 10.0), (90.0, 0.5, 0.1, 10.0), (80.0, -0.5, 3.0, 10.0)]
    jets = _jets([row])
    btag = ak.Array([[True, False, False]])
    scaled = observables.trijet_mass(jets, jets.pt * 1.03, btag)[0]
    assert scaled == pytest.approx(_mass([(pt * 1.03, e, p, m) for pt, e, p, m in row]), rel=1e-9)
