"""The real ATLAS Open Data 4lep file list as an agcflow fileset: the same files and
normalisation facts as the infofile copy it is derived from, and loadable for configs/hzz.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agcflow import config
from agcflow.errors import InputFileError
from agcflow.inputs import fileset as inputs
from agcflow.processing.run import sample_metadata

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "data/reference/atlas-open-data-4lep"


def test_the_fileset_lists_the_infofile_files_with_their_sums_of_weights():
    info = json.loads((REFERENCE / "inputs.json").read_text())
    fileset = json.loads((REFERENCE / "fileset.json").read_text())
    listed = sorted(f["path"] for process in fileset.values() for f in process["nominal"]["files"])
    assert listed == sorted(url for urls in info["files"].values() for url in urls)
    assert [f["path"] for f in fileset["data"]["nominal"]["files"]] == info["files"]["data"]
    for process, variations in fileset.items():
        if process == "data":
            continue
        entry, facts = variations["nominal"], info["samples"][process]
        assert entry["sum_weights"] == facts["sumw"] and entry["filter_efficiency"] == facts["red_eff"], process
        assert [f["path"].rsplit("/", 1)[1] for f in entry["files"]] == [f"mc_{facts['DSID']}.{process}.4lep.root"]


def test_configs_hzz_reads_it_and_normalises_by_the_infofile():
    settings = config.load(ROOT / "configs/hzz.yaml", {"inputs.source": "fileset",
                                                        "inputs.fileset": str(REFERENCE / "fileset.json")})
    samples = {s.key: s for s in inputs.load_samples(inputs.fileset_path(settings.inputs), settings.analysis)}
    assert set(samples) == {f"{s.name}__nominal" for s in settings.analysis.samples}
    ggh = samples["ggH125_ZZ4lep__nominal"]
    meta = sample_metadata(ggh.key, "ggH125_ZZ4lep", "nominal", 1234, settings.analysis, ggh.sum_weights,
                           ggh.filter_efficiency)
    assert meta["weight"] == pytest.approx(0.0060239 * 10000.0 * 1.0 / 27881776.6536, rel=1e-12)
    data = samples["data__nominal"]
    assert len(data.files) == 4 and sample_metadata(data.key, "data", "nominal", 10, settings.analysis)["data"]


def test_a_bad_normalisation_fact_names_the_fileset_and_sample(tmp_path):
    bad = {"llll": {"nominal": {"sum_weights": -1.0, "files": [{"path": "x.root", "nevts": 1}]}}}
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputFileError, match=r"fileset.json: llll/nominal: sum_weights = -1.0; expected a number above 0"):
        inputs.sample_files(bad, path, "llll", "nominal")
