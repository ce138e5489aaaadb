"""Loading scan inputs: pallet archive, region folder, folder of regions; HEPData offline."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from agcflow.errors import InputFileError, ServiceError
from agcflow.scan.pallet import fetch_pallet, load_pallet, point_values, write_pallet

from .conftest import PALLET

PYHF = str(Path(sys.executable).with_name("pyhf"))  # the pyhf command line of this environment


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


def contrib_region(extracted_pallet, folder, region="RegionA", n_points=4):
    """A region of the sbottom pallet rewritten in the `pyhf contrib download` layout
    (BkgOnly.json + patchset.json), first ``n_points`` points."""
    [source] = load_pallet(extracted_pallet / region)
    points = source.limited(n_points).points
    write_pallet(folder, source.background, points, ["m_sbottom", "m_chi2", "m_chi1"], "sbottom test", "ins1748602")
    return source.limited(n_points)


def test_pyhf_contrib_layout_is_read_and_accepted_by_pyhf(extracted_pallet, tmp_path):
    original = contrib_region(extracted_pallet, tmp_path / "RegionA")
    assert sorted(p.name for p in (tmp_path / "RegionA").iterdir()) == ["BkgOnly.json", "patchset.json"]
    inspect = subprocess.run([PYHF, "patchset", "inspect", str(tmp_path / "RegionA" / "patchset.json")],
                             capture_output=True, text=True, check=True)
    assert all(p.name in inspect.stdout for p in original.points)
    verify = subprocess.run([PYHF, "patchset", "verify", str(tmp_path / "RegionA" / "BkgOnly.json"),
                             str(tmp_path / "RegionA" / "patchset.json")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    for source in (tmp_path / "RegionA", tmp_path):  # the region folder, and a folder of regions
        [region] = load_pallet(source)
        assert region.name == "RegionA" and region.background == original.background
        assert [(p.name, p.values, p.patch) for p in region.points] == [
            (p.name, p.values, p.patch) for p in original.points]


def test_patchset_for_another_background_is_refused(extracted_pallet, tmp_path):
    contrib_region(extracted_pallet, tmp_path / "RegionA", n_points=1)
    other = json.loads((extracted_pallet / "RegionB" / "BkgOnly.json").read_text())
    (tmp_path / "RegionA" / "BkgOnly.json").write_text(json.dumps(other))
    with pytest.raises(InputFileError, match=r"patchset\.json: made for another background-only workspace"):
        load_pallet(tmp_path / "RegionA")


def test_invalid_background_in_archive_names_the_archive_member(extracted_pallet, tmp_path):
    """The background-only workspace is checked before any patch, and the error names the
    archive and member, not the temporary folder it was extracted to."""
    region = tmp_path / "pack" / "RegionA"
    shutil.copytree(extracted_pallet / "RegionA", region)
    background = json.loads((region / "BkgOnly.json").read_text())
    background["observations"][0]["data"].pop()  # one observed bin short
    (region / "BkgOnly.json").write_text(json.dumps(background))
    with pytest.raises(InputFileError, match=r"RegionA/BkgOnly\.json: channel .* observed"):
        load_pallet(region)
    archive = tmp_path / "broken.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(region, arcname="RegionA")
    with pytest.raises(InputFileError) as err:
        load_pallet(archive)
    assert str(err.value).startswith(f"{archive}:RegionA/BkgOnly.json: ") and "pallet-" not in str(err.value)


def test_single_json_patch_file_with_its_workspace(extracted_pallet, tmp_path):
    """An older `agcflow reinterpret` output, <signal>/patch.json, scans with --patches; the
    point is named after its folder."""
    from agcflow.scan.pallet import load_workspace

    [source] = load_pallet(extracted_pallet / "RegionA")
    point = source.points[0]
    (tmp_path / "zprime_500").mkdir()
    (tmp_path / "zprime_500" / "patch.json").write_text(json.dumps(point.patch))
    (tmp_path / "bkg_only.json").write_text(json.dumps(source.background))
    region = load_workspace(tmp_path / "bkg_only.json", tmp_path / "zprime_500" / "patch.json")
    assert [(p.name, p.values, p.patch, p.error) for p in region.points] == [("zprime_500", (500.0,), point.patch, None)]
