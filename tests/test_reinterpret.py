"""RECAST: a new signal through the preserved analysis, backgrounds never read again."""

from __future__ import annotations

import json
import shutil

import jsonpatch
import pyhf
import pytest

from agcflow import config, pipeline, reinterpret
from agcflow.stats.scan_engine import PYHF_CLS_MODIFIER_SETTINGS
from agcflow.stats.workspace import build_workspace, save_workspace

from conftest import CONFIG, tiny_overrides

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def preserved(tmp_path_factory, dask_client):
    """A finished background run whose input files are then removed."""
    base = tmp_path_factory.mktemp("recast")
    settings = config.load(CONFIG, {**tiny_overrides(base), "reinterpret.directory": str(base / "signals"),
                                    "reinterpret.events": 8000})
    pipeline.generate(settings, progress=False)
    pipeline.run_delivery(settings, base / "manifest.json", client=dask_client, progress=False)
    pipeline.run_processing(settings, base / "manifest.json", base / "histograms.root", base / "metrics.json",
                            client=dask_client, progress=False)
    save_workspace(build_workspace(base / "histograms.root", settings.analysis, settings.fit, base / "ws"),
                   base / "workspace.json")
    shutil.rmtree(base / "generated")  # any attempt to reprocess a background now fails
    return settings, base


def test_signal_is_reinterpreted_without_touching_the_backgrounds(preserved, dask_client):
    settings, base = preserved
    signal = reinterpret.signal_settings(settings, "zprime_500")
    fileset = reinterpret.generate_signal(settings, signal)
    out = base / "reinterpret" / signal.name
    result = reinterpret.run(settings, signal, fileset, base / "histograms.root", base / "workspace.json", out,
                             dask_client)
    patch = json.loads((out / "patch.json").read_text())
    added = [op for op in patch if op["op"] == "add" and op["path"].startswith("/channels/")]
    assert len(added) == 2 and all(op["value"]["name"] == signal.label for op in added)
    modifiers = {m["name"]: m["type"] for m in added[0]["value"]["modifiers"]}
    assert modifiers["mu_sig"] == "normfactor" and modifiers["Jet energy scale"] in ("normsys", "histosys")
    assert "ME variation" not in modifiers  # ttbar-only systematics do not apply to the signal
    assert {"op": "replace", "path": "/measurements/0/config/poi", "value": "mu_sig"} in patch
    reference = _pyhf_cls(jsonpatch.apply_patch(json.loads((base / "workspace.json").read_text()), patch))
    # at CLs ~ 0.7 pyhf's own minimiser tolerance moves its CLs by ~2e-3 (see tests/stats/test_scan*)
    assert result["CLs_obs"] == pytest.approx(reference[0], abs=3e-3)
    assert result["CLs_exp"] == pytest.approx(reference[1], abs=3e-3)
    low, _, median, _, high = result["upper_limit_exp"]
    assert 0 < low < median < high and 0 < result["upper_limit_obs"]
    assert json.loads((out / "result.json").read_text())["signal"] == "zprime_500"


def _pyhf_cls(workspace):
    """CLs at mu = 1 by pyhf itself, with the `pyhf cls` settings."""
    pyhf.set_backend("numpy")
    ws = pyhf.Workspace(workspace)
    model = ws.model(modifier_settings=PYHF_CLS_MODIFIER_SETTINGS)
    cls_obs, cls_exp = pyhf.infer.hypotest(1.0, ws.data(model), model, test_stat="qtilde", return_expected_set=True)
    return float(cls_obs), [float(x) for x in cls_exp]


def test_unknown_signal_is_named(preserved):
    settings, _ = preserved
    with pytest.raises(Exception, match="'zprime_9999' is not in reinterpret.signals"):
        reinterpret.signal_settings(settings, "zprime_9999")
