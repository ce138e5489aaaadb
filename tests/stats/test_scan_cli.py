"""`agcflow scan` and `agcflow contour` through click's test runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agcflow.cli_scan import contour, scan

from .conftest import PALLET



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
