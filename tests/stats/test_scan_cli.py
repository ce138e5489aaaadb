"""`agcflow scan` and `agcflow contour` through click's test runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agcflow.cli.scan import contour, scan

from .conftest import PALLET
from .test_pallet import contrib_region


@pytest.mark.slow
def test_scan_cli_with_limit_and_combination(tmp_path, dask_client):
    """Through --address, on the session's two-worker LocalCluster."""
    out = tmp_path / "scan"
    address = dask_client.scheduler.address
    result = CliRunner().invoke(
        scan, [str(PALLET), "--output-dir", str(out), "--address", address, "--limit", "3", "--combine", "best-expected", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "9 points in 3 regions, 0 failed" in result.output
    for region in ("RegionA", "RegionB", "RegionC"):
        records = json.loads((out / f"{region}.json").read_text())
        assert len(records) == 3
        for record in records.values():
            assert record["status"] == "ok" and record["error"] is None
            assert 0 <= record["CLs_obs"] <= 1 and len(record["CLs_exp"]) == 5
            assert record["CLs_exp"] == sorted(record["CLs_exp"])
            assert len(record["values"]) == 3 and record["fit_time"] > 0
    combined = json.loads((out / "combined.json").read_text())
    assert all(r["region"] in {"RegionA", "RegionB", "RegionC"} for r in combined.values())


@pytest.mark.slow
def test_scan_of_pyhf_contrib_layout_equals_the_original(extracted_pallet, tmp_path, dask_client):
    """The same points scanned from the patch.<name>.json region folder and from its
    `pyhf contrib download` form (BkgOnly.json + patchset.json) give the same CLs."""
    contrib_region(extracted_pallet, tmp_path / "contrib" / "RegionA", n_points=3)
    address = dask_client.scheduler.address
    records = {}
    for form, source in {"original": extracted_pallet / "RegionA", "contrib": tmp_path / "contrib"}.items():
        result = CliRunner().invoke(scan, [str(source), "--output-dir", str(tmp_path / form), "--address", address,
                                           "--limit", "3", "--no-progress"])
        assert result.exit_code == 0, result.output
        records[form] = json.loads((tmp_path / form / "RegionA.json").read_text())
    assert list(records["contrib"]) == list(records["original"])
    for name, record in records["original"].items():
        assert record["status"] == "ok"
        assert records["contrib"][name]["CLs_obs"] == pytest.approx(record["CLs_obs"], abs=1e-9)
        assert records["contrib"][name]["CLs_exp"] == pytest.approx(record["CLs_exp"], abs=1e-9)


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "-1"], ["--workers", "-3"]])
def test_scan_rejects_out_of_range_counts(args, tmp_path):
    result = CliRunner().invoke(scan, [str(PALLET), "--output-dir", str(tmp_path), *args])
    assert result.exit_code == 2 and "is not in the range" in result.output
    assert not list(tmp_path.iterdir())


def test_scan_checks_inputs_and_output_before_compute(extracted_pallet, tmp_path):
    """No cluster is given: each case must fail before the scan starts."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = CliRunner().invoke(scan, [str(extracted_pallet / "RegionA"), "--output-dir", str(blocker / "out")])
    assert result.exit_code != 0 and "cannot write a test file in this output directory" in str(result.exception)
    contrib_region(extracted_pallet, tmp_path / "regions" / "combined", n_points=1)
    result = CliRunner().invoke(scan, [str(tmp_path / "regions"), "--output-dir", str(tmp_path / "o"),
                                       "--combine", "best-expected"])
    assert result.exit_code != 0 and "a region is named 'combined'" in str(result.exception)
    background = tmp_path / "regions" / "combined" / "BkgOnly.json"
    background.write_text(json.dumps({**json.loads(background.read_text()), "observations": []}))
    result = CliRunner().invoke(scan, [str(tmp_path / "regions"), "--output-dir", str(tmp_path / "o")])
    assert result.exit_code != 0 and str(result.exception).startswith(f"{background}: ")


def test_contour_cli(tmp_path):
    records = {
        f"p_{x}_{y}_60": {"CLs_obs": 0.05 * 10 ** ((x - 1000) / 500), "CLs_exp": [0.05 * 10 ** ((x - 1000 - d) / 500) for d in (-200, -100, 0, 100, 200)],
                          "values": [x, y, 60], "status": "ok", "error": None}
        for x in range(200, 1801, 100) for y in range(0, 1001, 100)
    }
    (tmp_path / "r.json").write_text(json.dumps(records))
    png = tmp_path / "c.png"
    result = CliRunner().invoke(contour, [str(tmp_path / "r.json"), "--where", "2=60", "--output", str(png)])
    assert result.exit_code == 0, result.output
    contours = json.loads(png.with_suffix(".json").read_text())
    xs = [x for segment in contours["observed"] for x, _ in segment]
    assert min(xs) == pytest.approx(1000, abs=5) and max(xs) == pytest.approx(1000, abs=5)
    assert "observed 1000" in result.output
