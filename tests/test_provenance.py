"""Every result JSON says which code, packages, settings and inputs made it (the workspace and the
scan beside their results: a pyhf workspace and a scan's point map hold no other keys)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from agcflow.cli.scan import scan
from agcflow.processing.histograms import from_reference, save_root
from conftest import CONFIG, REFERENCE, assert_provenance


def test_workspace_records_its_settings_and_provenance(tmp_path):
    histograms = save_root(from_reference(REFERENCE / "agc-reference/histos_1_file_per_process.json"),
                           tmp_path / "histograms.root")
    output = tmp_path / "ws" / "workspace.json"
    run = subprocess.run([sys.executable, "-m", "agcflow", "workspace", "--config", str(CONFIG), "--histograms",
                          str(histograms), "--output", str(output)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    sidecar = json.loads((tmp_path / "ws" / "workspace.settings.json").read_text())
    assert sidecar["stage"] == "workspace" and len(sidecar["digest"]) > 0
    assert_provenance(sidecar["provenance"])
    assert sidecar["provenance"]["backend"] == {"histograms": str(histograms)}


def test_fit_results_carry_provenance(tmp_path):
    histograms = save_root(from_reference(REFERENCE / "agc-reference/histos_1_file_per_process.json"),
                           tmp_path / "histograms.root")
    workspace = tmp_path / "workspace.json"
    common = [sys.executable, "-m", "agcflow", "{}", "--config", str(CONFIG), "--set", "fit.ranking=false"]
    for command in (["workspace", "--histograms", str(histograms), "--output", str(workspace)],
                    ["fit", "--workspace", str(workspace), "--output-dir", str(tmp_path / "fit"),
                     "--figures-dir", str(tmp_path / "figures")]):
        run = subprocess.run([part.format(command[0]) for part in common] + command[1:], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "fit" / "fit_results.json").read_text())
    assert record["success"] is True
    assert_provenance(record["provenance"])
    assert record["provenance"]["backend"] == {"fit": "numpy", "ranking": "fast"}


def test_scan_writes_its_provenance_beside_the_results(tmp_path, dask_client):
    pallet = REFERENCE / "sbottom-ins1748602" / "pallet.tar.gz"
    result = CliRunner().invoke(scan, [str(pallet), "--output-dir", str(tmp_path), "--limit", "1", "--no-progress",
                                       "--address", dask_client.scheduler.address])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert_provenance(record["provenance"])
    assert record["provenance"]["backend"] == {"engine": "jax"}
    assert record["options"] == {"backend": "jax", "limit": 1, "upper_limits": False, "combine": None}
    assert record["points"] == {"RegionA": 1, "RegionB": 1, "RegionC": 1}
    assert sorted(record["files"]) == sorted(str(tmp_path / f"Region{r}.json") for r in "ABC")
