"""Loading scan inputs: pallet archive, region folder, folder of regions; HEPData offline."""

from __future__ import annotations

import json
import shutil
import socket
import time

import pytest

from agcflow.errors import InputFileError, ServiceError
from agcflow.stats.pallet import fetch_pallet, load_pallet, point_values

from .conftest import PALLET



def test_archive_holds_three_regions():
    regions = load_pallet(PALLET)
    assert [r.name for r in regions] == ["RegionA", "RegionB", "RegionC"]
    assert sum(len(r.points) for r in regions) > 600
    assert all(r.background["measurements"][0]["config"]["poi"] == "mu_SIG" for r in regions)
    point = next(p for p in regions[0].points if p.name == "sbottom_1000_131_1")
    assert point.values == (1000.0, 131.0, 1.0) and point.error is None and isinstance(point.patch, list)


def test_region_folder_and_folder_of_regions(extracted_pallet, tmp_path):
    single = load_pallet(extracted_pallet / "RegionB")
    assert [r.name for r in single] == ["RegionB"] and len(single[0].points) > 200
    both = tmp_path / "two"
    both.mkdir()
    for name in ("RegionA", "RegionC"):
        shutil.copytree(extracted_pallet / name, both / name)
    assert [r.name for r in load_pallet(both)] == ["RegionA", "RegionC"]
    first = [(p.name, p.patch) for p in load_pallet(both)[0].limited(5).points]
    assert first == [(p.name, p.patch) for p in load_pallet(extracted_pallet / "RegionA")[0].points[:5]]


def test_missing_and_wrong_inputs(tmp_path):
    with pytest.raises(InputFileError, match="no BkgOnly.json"):
        load_pallet(tmp_path)
    (tmp_path / "BkgOnly.json").write_text(json.dumps({"channels": []}))
    (tmp_path / "patch.a_1.json").write_text("[]")
    with pytest.raises(InputFileError, match="not a pyhf workspace"):
        load_pallet(tmp_path)
    with pytest.raises(InputFileError, match="expected a pallet"):
        load_pallet(tmp_path / "nothing.tar.gz")


def test_point_values():
    assert point_values("sbottom_1000_131_1") == (1000.0, 131.0, 1.0)
    assert point_values("gluino_1.5_x_60") == (1.5, 60.0)


def test_hepdata_fetch_fails_clearly_offline(tmp_path):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(ServiceError, match=r"cannot fetch the pallet http://127\.0\.0\.1"):
        fetch_pallet(f"http://127.0.0.1:{port}/record/resource/1/pallet.tar.gz", tmp_path / "p.tar.gz", timeout_s=2)
    assert time.perf_counter() - started < 5
    assert not (tmp_path / "p.tar.gz").exists()
