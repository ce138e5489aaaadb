"""RECAST: a new signal through the preserved analysis, backgrounds never read again; the
signal is patched into the preserved background-only workspace itself and the outputs form a
pallet that pyhf's patchset commands and `agcflow scan` read."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonpatch
import pyhf
import pytest
from click.testing import CliRunner

from agcflow import config, reinterpret
from agcflow import stages as pipeline
from agcflow.cli.main import cli
from agcflow.cli.scan import scan
from agcflow.errors import AgcflowError, InputFileError
from agcflow.scan.engine import PYHF_CLS_MODIFIER_SETTINGS
from agcflow.stats.workspace import build_workspace, drop_empty_bins, save_workspace
from conftest import CONFIG, assert_provenance, tiny_overrides, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PYHF = str(Path(sys.executable).with_name("pyhf"))
# zprime_500 on these tiny inputs by the former implementation (the patch a diff from the
# bkg-only workspace to one rebuilt with the signal from all histograms; commit f514c1d)
BEFORE = {"CLs_obs": 0.8953876374684853,
          "CLs_exp": [0.6988231239638198, 0.7922808451379912, 0.8831652815452271, 0.9546408124542523,
                      0.9905980774803803],
          "upper_limit_obs": 14.325685919260259,
          "upper_limit_exp": [7.04966677627014, 9.407979560560271, 12.98968074522129, 18.176994112366792,
                              24.886364363013787]}


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
                   base / "bkg_only.json")
    shutil.rmtree(base / "generated")  # any attempt to reprocess a background now fails
    (base / "histograms.root").unlink()  # nor are the background histograms read again
    return settings, base


@pytest.fixture(scope="module")
def zprime(preserved):
    settings, _ = preserved
    signal = settings.reinterpret.signal("zprime_500")
    return signal, reinterpret.generate_signal(settings, signal)


@pytest.fixture(scope="module")
def signal_hists(preserved, zprime, dask_client):
    settings, _ = preserved
    signal, fileset = zprime
    return reinterpret.signal_histograms(settings, signal, fileset, dask_client)


def test_signal_is_reinterpreted_without_touching_the_backgrounds(preserved, zprime, dask_client):
    settings, base = preserved
    signal, fileset = zprime
    out = base / "reinterpret" / signal.name
    out.mkdir(parents=True)
    (out / "patch.json").write_text("[]")  # an older version's output, stale once a new set is written
    result = reinterpret.run(settings, signal, fileset, base / "bkg_only.json", out, dask_client)
    assert sorted(p.name for p in out.iterdir()) == ["BkgOnly.json", "patchset.json", "result.json"]
    patchset = json.loads((out / "patchset.json").read_text())
    assert patchset["metadata"]["labels"] == ["mass"]
    assert patchset["patches"][0]["metadata"] == {"name": "zprime_500", "values": [500.0]}
    patch = patchset["patches"][0]["patch"]
    added = [op for op in patch if op["op"] == "add" and op["path"].startswith("/channels/")]
    assert len(added) == 2 and all(op["value"]["name"] == signal.label for op in added)
    modifiers = {m["name"]: m["type"] for m in added[0]["value"]["modifiers"]}
    assert modifiers["mu_sig"] == "normfactor" and modifiers["Jet energy scale"] in ("normsys", "histosys")
    assert modifiers["Luminosity"] == "normsys" and modifiers["staterror_4j1b-CR"] == "staterror"
    assert "ME variation" not in modifiers  # ttbar-only systematics do not apply to the signal
    assert {"op": "replace", "path": "/measurements/0/config/poi", "value": "mu_sig"} in patch
    reference = _pyhf_cls(jsonpatch.apply_patch(json.loads((base / "bkg_only.json").read_text()), patch))
    # at CLs ~ 0.7 pyhf's own minimiser tolerance moves its CLs by ~2e-3 (see tests/stats/test_scan*)
    assert result["CLs_obs"] == pytest.approx(reference[0], abs=3e-3)
    assert result["CLs_exp"] == pytest.approx(reference[1], abs=3e-3)
    for key, before in BEFORE.items():  # same fit engine and inputs: the former numbers within fit tolerance
        assert result[key] == pytest.approx(before, rel=1e-3, abs=1e-4), key
    low, _, median, _, high = result["upper_limit_exp"]
    assert 0 < low < median < high and 0 < result["upper_limit_obs"]
    written = json.loads((out / "result.json").read_text())
    assert written["signal"] == "zprime_500"
    assert_provenance(written["provenance"])


def test_reinterpretation_is_a_pallet_for_pyhf_and_scan(preserved, dask_client, tmp_path):
    """Runs after the test above (same module): its output folder is the pallet."""
    _, base = preserved
    out = base / "reinterpret" / "zprime_500"
    result = json.loads((out / "result.json").read_text())
    inspect = subprocess.run([PYHF, "patchset", "inspect", str(out / "patchset.json")], capture_output=True,
                             text=True)
    assert inspect.returncode == 0 and "zprime_500" in inspect.stdout, inspect.stderr
    applied = tmp_path / "applied.json"
    subprocess.run([PYHF, "patchset", "apply", str(out / "BkgOnly.json"), str(out / "patchset.json"),
                    "--name", "zprime_500", "--output-file", str(applied)], check=True, capture_output=True)
    assert json.loads(applied.read_text())["measurements"][0]["config"]["poi"] == "mu_sig"
    cli = CliRunner().invoke(scan, [str(base / "reinterpret"), "--output-dir", str(tmp_path / "scan"),
                                    "--address", dask_client.scheduler.address, "--no-progress"])
    assert cli.exit_code == 0, cli.output
    record = json.loads((tmp_path / "scan" / "zprime_500.json").read_text())["zprime_500"]
    assert record["values"] == [500.0]
    assert record["CLs_obs"] == pytest.approx(result["CLs_obs"], abs=1e-6)
    assert record["CLs_exp"] == pytest.approx(result["CLs_exp"], abs=1e-6)


def test_the_preserved_workspace_itself_is_patched(preserved, signal_hists):
    """Backgrounds scaled in the bkg-only workspace change the result; a workspace that does
    not fit the signal is refused, naming the file."""
    settings, base = preserved
    signal = settings.reinterpret.signal("zprime_500")
    background = json.loads((base / "bkg_only.json").read_text())
    bounds = settings.reinterpret.poi_bounds
    scaled = copy.deepcopy(background)
    for channel in scaled["channels"]:
        for sample in channel["samples"]:
            sample["data"] = [1.3 * x for x in sample["data"]]
    patch = reinterpret.signal_patch(scaled, signal_hists, settings, signal, Path("scaled.json"))
    changed = reinterpret.limits(scaled, patch, signal.name, bounds)
    assert abs(changed["CLs_obs"] - BEFORE["CLs_obs"]) > 0.01
    assert abs(changed["upper_limit_exp"][2] - BEFORE["upper_limit_exp"][2]) > 0.1
    renamed = copy.deepcopy(background)
    renamed["channels"][0]["name"] = renamed["observations"][0]["name"] = "elsewhere"
    with pytest.raises(InputFileError, match=r"renamed\.json: no channel \['4j1b CR'\] for the signal"):
        reinterpret.signal_patch(renamed, signal_hists, settings, signal, Path("renamed.json"))
    fewer = copy.deepcopy(background)
    fewer["observations"][0]["data"][-1] = 0
    for sample in fewer["channels"][0]["samples"]:
        sample["data"][-1] = 0
    with pytest.raises(InputFileError, match=r"fewer\.json: channel '4j1b CR' has 10 bins, the signal 11"):
        reinterpret.signal_patch(drop_empty_bins(fewer), signal_hists, settings, signal, Path("fewer.json"))


def test_not_a_workspace_fails_naming_it_and_outputs_stay(preserved, zprime, dask_client):
    settings, base = preserved
    signal, fileset = zprime
    hello = base / "hello.json"
    hello.write_text(json.dumps({"hello": "world"}))
    out = base / "untouched"
    with pytest.raises(InputFileError, match=rf"^{hello}: not a valid pyhf workspace"):
        reinterpret.run(settings, signal, fileset, hello, out, dask_client)
    (out / "result.json").write_text('{"old": true}')
    narrow = config.load(CONFIG, {**tiny_overrides(base), "reinterpret.poi_bounds": [0.0, 1e-3]})
    with pytest.raises(AgcflowError, match="no upper limit within reinterpret.poi_bounds"):
        reinterpret.run(narrow, signal, fileset, base / "bkg_only.json", out, dask_client)
    assert [p.name for p in out.iterdir()] == ["result.json"]  # the old set is left whole
    assert json.loads((out / "result.json").read_text()) == {"old": True}


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
        settings.reinterpret.signal("zprime_9999")


@pytest.mark.parametrize(("poi", "label"), [("mu_sig", r"$\mu_{\mathrm{sig}}$"), ("mu_G", r"$\mu_{\mathrm{G}}$"),
                                            ("mu", r"$\mu$"), ("mu_Z_prime", r"$\mu_{\mathrm{Z\_prime}}$"),
                                            ("signal_norm", "signal_norm")])
def test_limit_plot_writes_the_poi_as_math(poi, label):
    assert reinterpret.poi_label(poi) == label


FAMILY = {"name": "zp_mass", "label": "Z'", "parameters": {"mass": [500, 1200, 100]}, "xsec_pb": 400.0,
          "reference": {"mass": 500}, "xsec_scaling": {"mass": -4}}


@pytest.fixture(scope="module")
def family_runs(preserved, dask_client, tmp_path_factory):
    """The 8-point mass family on the tiny preserved run, every point fitted and adaptively."""
    from agcflow.reinterpret.family import run_family, signal_evaluator
    from agcflow.scan.adaptive import AdaptiveSettings

    settings, base = preserved
    settings = config.load(CONFIG, {**tiny_overrides(base), "reinterpret.directory": str(base / "signals"),
                                    "reinterpret.events": 8000, "reinterpret.families": [FAMILY]})
    family = settings.reinterpret.family("zp_mass")
    runs = {}
    for strategy, options in (("dense", None), ("adaptive", AdaptiveSettings(budget=0.75, batch=1))):
        output = tmp_path_factory.mktemp(strategy)
        evaluate = signal_evaluator(settings, base / "bkg_only.json", output, dask_client)
        runs[strategy] = (run_family(settings, family, evaluate, output, strategy, options,
                                     inputs=[base / "bkg_only.json"]), output)
    return runs


def test_a_dense_family_fits_every_point_and_classifies_it_by_cls(family_runs):
    result, output = family_runs["dense"]
    assert result["evaluations"] == result["grid_points"] == 8
    masses = [p["parameters"]["mass"] for p in result["points"]]
    assert masses == [500, 600, 700, 800, 900, 1000, 1100, 1200]
    for point in result["points"]:
        assert point["xsec_pb"] == pytest.approx(400.0 * (point["parameters"]["mass"] / 500) ** -4)
        assert point["excluded_obs"] == (point["CLs_obs"] < 0.05) and point["excluded_exp"] == (point["CLs_exp"] < 0.05)
        # each point is a reinterpretation of its own: its pallet and result beside the family's
        single = json.loads((output / "points" / point["signal"] / "result.json").read_text())
        assert single["CLs_obs"] == point["CLs_obs"] and single["parameters"] == {"mass": point["parameters"]["mass"]}
    # the boundary lies inside the grid: the light end excluded, the heavy end not
    classes = [p["excluded_exp"] for p in result["points"]]
    assert classes[0] and not classes[-1], classes
    assert (output / "excluded.png").stat().st_size > 10_000
    assert_provenance(result["provenance"])


def test_the_adaptive_family_fits_fewer_points_and_classifies_all_as_the_dense_one(family_runs):
    dense, _ = family_runs["dense"]
    adaptive, output = family_runs["adaptive"]
    assert adaptive["evaluations"] <= 6 < dense["evaluations"], adaptive["evaluations"]
    for kind in ("obs", "exp"):
        assert [p[f"excluded_{kind}"] for p in adaptive["points"]] == [p[f"excluded_{kind}"] for p in dense["points"]]
    for point, reference in zip(adaptive["points"], dense["points"], strict=True):
        if point["evaluated"]:
            assert point["CLs_obs"] == reference["CLs_obs"] and point["probability_obs"] == 1.0
        else:
            assert 0.5 <= point["probability_obs"] <= 1.0 and "CLs_obs_surrogate" in point
    assert adaptive["stopped"].startswith(("resolved", "budget")) and sum(map(len, adaptive["rounds"])) == adaptive["evaluations"]
    fitted = {p["signal"] for p in adaptive["points"] if p["evaluated"]}
    assert {path.name for path in (output / "points").iterdir()} == fitted  # only the chosen signals were run


def test_family_options_and_names_fail_before_any_compute(preserved, tmp_path):
    settings, base = preserved
    runner = CliRunner()
    config_path = tmp_path / "family.yaml"
    write_config(config_path, {**tiny_overrides(base), "reinterpret.families": [FAMILY]})
    cases = {
        ("--family", "nope"): "no family 'nope'; configured: ['zp_mass']",
        ("--family", "zp_mass", "--adaptive", "--budget", "1.5"): "--budget 1.5 out of range",
        ("--name", "zprime_500", "--adaptive"): "--adaptive needs --family",
        ("--name", "zprime_500", "--family", "zp_mass"): "exactly one of --name SIGNAL and --family FAMILY",
    }
    for args, message in cases.items():
        outcome = runner.invoke(cli, ["reinterpret", "--config", str(config_path), *args,
                                      "--workspace", str(base / "bkg_only.json"), "--output-dir", str(tmp_path / "out")])
        assert outcome.exit_code != 0 and message in outcome.output + str(outcome.exception), (args, outcome.output)
    assert not (tmp_path / "out").exists()
