"""The signal scan on the published ATLAS sbottom likelihoods (HEPData ins1748602)."""

from __future__ import annotations

import json
import math

import pytest

from agcflow.fast import asymptotics
from agcflow.fast.hf_tensors import model_tensors, parameter_names
from agcflow.scan.engine import _patched, evaluate_points
from agcflow.scan.pallet import Region, load_pallet, load_region
from agcflow.scan.run import combine_best_expected, scan_on_client

# Points over the three regions, several near CLs = 0.05 (the published exclusion edge),
# strongly excluded ones (slowly converging mu = 1 fits) and allowed ones.
COMPARED = {
    "RegionA": ["sbottom_500_131_1", "sbottom_1100_205_60", "sbottom_1200_250_60", "sbottom_1100_730_600"],
    "RegionB": ["sbottom_400_300_60", "sbottom_600_400_60", "sbottom_1000_930_800"],
    "RegionC": ["sbottom_900_850_60", "sbottom_1100_550_60", "sbottom_1200_750_60"],
}
BAD_POINT = "sbottom_1500_1495_60"


@pytest.fixture(scope="module")
def regions(extracted_pallet) -> dict[str, Region]:
    return {r.name: r for r in load_pallet(extracted_pallet)}


def subset(region: Region, names: list[str]) -> Region:
    by_name = {p.name: p for p in region.points}
    return Region(region.name, region.background, tuple(by_name[n] for n in names))


def test_likelihood_equals_pyhf(regions):
    """-2 ln L of the array model equals pyhf's (code4/code4p) at random parameters."""
    import jax
    import numpy as np
    import pyhf

    from agcflow.stats.backend import use_backend

    use_backend("jax", "cpu")
    pyhf.set_backend("numpy")
    region = regions["RegionC"]
    spec = _patched(region.background, region.points[3].patch)
    tensors = model_tensors(spec, pad=False)
    workspace = pyhf.Workspace(spec)
    model = workspace.model(modifier_settings={"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}})
    data = workspace.data(model)
    slots = []
    for name in parameter_names(spec):
        base, _, rest = name.partition("[")
        slots.append(model.config.par_slice(base).start + (int(rest[:-1]) if rest else 0))
    assert sorted(slots) == list(range(model.config.npars))
    arrays = {k: jax.numpy.asarray(v) for k, v in tensors.arrays().items()}
    rng = np.random.default_rng(7)
    for scale in (0.3, 1.6):  # inside and beyond |alpha| = 1 of the interpolations
        mine = np.where(tensors.fixed, tensors.init, tensors.init + rng.normal(0, scale, len(tensors.init)))
        mine = np.clip(mine, np.maximum(tensors.lower, 0.3 * (tensors.lower >= 0)), tensors.upper)
        theirs = np.asarray(model.config.suggested_init(), dtype=float)
        theirs[slots] = mine
        expected = float(pyhf.infer.mle.twice_nll(theirs, data, model)[0])
        got = float(asymptotics.twice_nll(arrays, jax.numpy.asarray(mine), arrays["observed"], arrays["gauss_aux"]))
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-9)


@pytest.mark.slow
def test_cls_equals_pyhf_on_a_subset(regions):
    """The fast engine against pyhf's own hypotest with the `pyhf cls` settings, 10 points."""
    worst = 0.0
    near_edge = 0
    for region_name, names in COMPARED.items():
        region = subset(regions[region_name], names)
        fast = dict(evaluate_points(region.background, region.points, "jax", False))
        naive = dict(evaluate_points(region.background, region.points, "numpy", False))
        for point in region.points:
            reference, mine = naive[point.name], fast[point.name]
            assert reference["status"] == mine["status"] == "ok", (reference["error"], mine["error"])
            for a, b in zip([mine["CLs_obs"], *mine["CLs_exp"]], [reference["CLs_obs"], *reference["CLs_exp"]]):
                worst = max(worst, abs(a - b))
                assert a == pytest.approx(b, abs=1e-3), f"{region_name}/{point.name}"
            near_edge += 0.01 < reference["CLs_obs"] < 0.2
    assert near_edge >= 3
    assert worst < 1e-3


def test_bad_points_fail_with_reasons(regions, tmp_path):
    """The published patch that removes the POI, a malformed patch file, a file that is not
    a JSON-Patch, and a patch that does not apply: each fails alone, naming its file."""
    region_b = regions["RegionB"]
    folder = tmp_path / "RegionB"
    folder.mkdir()
    (folder / "BkgOnly.json").write_text(json.dumps(region_b.background))
    bad = next(p for p in region_b.points if p.name == BAD_POINT)
    good = next(p for p in region_b.points if p.name == "sbottom_600_400_60")
    (folder / f"patch.{BAD_POINT}.json").write_text(json.dumps(bad.patch))
    (folder / f"patch.{good.name}.json").write_text(json.dumps(good.patch))
    (folder / "patch.broken_1_2_3.json").write_text('[{"op": "add", ')
    (folder / "patch.notalist_1_2_3.json").write_text('{"op": "add"}')
    (folder / "patch.noapply_1_2_3.json").write_text('[{"op": "replace", "path": "/channels/9/samples/0", "value": 1}]')
    region = load_region(folder)
    records = dict(evaluate_points(region.background, region.points, "jax", False))
    assert records[good.name]["status"] == "ok"
    assert records["broken_1_2_3"]["values"] == [1.0, 2.0, 3.0]
    for name, words in {
        BAD_POINT: ["POI", "mu_SIG"],
        "broken_1_2_3": ["not valid JSON"],
        "notalist_1_2_3": ["not a JSON-Patch"],
        "noapply_1_2_3": ["JsonPointerException"],
    }.items():
        record = records[name]
        assert record["status"] == "failed" and record["CLs_obs"] is None
        assert f"patch.{name}.json" in record["error"]
        for word in words:
            assert word in record["error"]


def test_non_finite_cls_is_a_failure(monkeypatch, regions):
    region = subset(regions["RegionA"], ["sbottom_1000_131_1"])
    monkeypatch.setattr(
        "agcflow.scan.engine._fast_hypotest",
        lambda background, patch, mu=1.0: {"CLs_obs": math.nan, "CLs_exp": [0.1] * 5, "converged": True},
    )
    [(name, record)] = evaluate_points(region.background, region.points, "jax", False)
    assert record["status"] == "failed" and "not finite" in record["error"]


def test_scan_on_cluster_and_combination(dask_client, regions):
    """Two regions on a real two-worker LocalCluster; the combination takes per point the
    region with the lower median expected CLs."""
    names = ["sbottom_1000_131_1", "sbottom_1200_250_60", "sbottom_600_595_60"]
    chosen = [subset(regions["RegionA"], names), subset(regions["RegionC"], names)]
    results = scan_on_client(dask_client, chosen, "jax", progress=False)
    assert list(results) == ["RegionA", "RegionC"]
    combined = combine_best_expected(results)
    assert set(combined) == set(names)
    for name in names:
        a, c = results["RegionA"][name], results["RegionC"][name]
        assert a["status"] == c["status"] == "ok"
        best = "RegionA" if a["CLs_exp"][2] < c["CLs_exp"][2] else "RegionC"
        assert combined[name]["region"] == best
        assert combined[name]["CLs_exp"] == results[best][name]["CLs_exp"]
        assert set(a) >= {"CLs_obs", "CLs_exp", "values", "status", "error", "fit_time"}


def test_combination_skips_failed_regions():
    ok = {"CLs_obs": 0.5, "CLs_exp": [0.1, 0.2, 0.3, 0.4, 0.5], "status": "ok", "error": None}
    failed = {"CLs_obs": None, "CLs_exp": None, "status": "failed", "error": "x"}
    combined = combine_best_expected({"A": {"p": failed, "q": failed}, "B": {"p": ok, "q": failed}})
    assert combined["p"]["region"] == "B" and combined["p"]["status"] == "ok"
    assert combined["q"]["status"] == "failed" and combined["q"]["region"] == "A"


def test_point_record_of_a_patchset(regions, tmp_path):
    """A single workspace with a pyhf PatchSet (its digest that of the workspace, as pyhf
    checks): names and values from its metadata."""
    import pyhf

    from agcflow.scan.pallet import load_workspace

    region = subset(regions["RegionA"], ["sbottom_1000_131_1"])
    digest = pyhf.utils.digest(region.background, algorithm="sha256")
    patchset = {
        "metadata": {"description": "test", "digests": {"sha256": digest}, "labels": ["msb", "mn2", "mn1"],
                     "references": {"hepdata": "ins1748602"}},
        "patches": [{"metadata": {"name": "sb_1000_131_1", "values": [1000, 131, 1]}, "patch": region.points[0].patch}],
        "version": "1.0.0",
    }
    (tmp_path / "patchset.json").write_text(json.dumps(patchset))
    (tmp_path / "bkg.json").write_text(json.dumps(region.background))
    loaded = load_workspace(tmp_path / "bkg.json", tmp_path / "patchset.json")
    assert [(p.name, p.values) for p in loaded.points] == [("sb_1000_131_1", (1000.0, 131.0, 1.0))]
    assert loaded.points[0].patch == region.points[0].patch
