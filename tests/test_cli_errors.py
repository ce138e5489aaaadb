"""User mistakes, made carelessly or on purpose, end in one line on stderr naming the culprit
and a non-zero exit, never a traceback: bad configuration files and values, bad ``--set``
items, JSON of the wrong kind, unusable points, credentials in URLs; Ctrl-C exits 130; ``-v``
raises agcflow's log level only."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agcflow import config
from agcflow.cli.main import main
from agcflow.errors import ConfigError
from conftest import CONFIG, ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "analysis")}


def agcflow(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real command line in a process of its own."""
    return subprocess.run([sys.executable, "-m", "agcflow", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def cli(capsys, monkeypatch):
    """run(*args) -> (exit code, stdout, stderr) of ``agcflow.cli.main.main`` in this process; the
    logging set-up it makes is undone afterwards."""
    root, own = logging.getLogger(), logging.getLogger("agcflow")
    saved = root.handlers[:], root.level, own.level
    monkeypatch.setenv("DASK_LOGGING__DISTRIBUTED", "warning")

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["agcflow", *map(str, args)])
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        return exited.value.code, out, err

    yield run
    root.handlers[:], root.level = saved[0], saved[1]
    own.setLevel(saved[2])


def assert_one_line_error(code: int, err: str, *culprits: str) -> None:
    """Exit 1 and a single ``agcflow: error:`` line on stderr that names every culprit."""
    assert code == 1, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("agcflow: error: "), err
    for culprit in culprits:
        assert culprit in err, (culprit, err)


def _raw():
    return yaml.safe_load(CONFIG.read_text())


# 1. Non-finite numbers --------------------------------------------------------------------


@pytest.mark.parametrize(("dotted", "value", "shown"), [
    ("analysis.lumi_pb", float("nan"), "analysis.lumi_pb = nan"),
    ("analysis.samples.ttbar.xsec_pb", float("-inf"), "analysis.samples.ttbar.xsec_pb = -inf"),
    ("fit.poi_bounds", [0, float("inf")], "fit.poi_bounds.1 = inf"),
    ("cluster.startup_timeout_s", float("nan"), "cluster.startup_timeout_s = nan"),
    ("analysis.histogram.high", float("inf"), "analysis.histogram.high = inf"),
])
def test_non_finite_numbers_are_rejected_anywhere_naming_the_key(dotted, value, shown):
    with pytest.raises(ConfigError) as err:
        config.load(CONFIG, {dotted: value})
    assert f"{shown}: must be a finite number" in str(err.value)


def test_nan_from_the_command_line_is_one_line_naming_the_key(cli):
    code, _, err = cli("generate", "--config", CONFIG, "--set", "analysis.lumi_pb=.nan")
    assert_one_line_error(code, err, str(CONFIG), "analysis.lumi_pb = nan: must be a finite number")


def test_nan_in_a_config_file_is_rejected(cli, tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text(CONFIG.read_text().replace("lumi_pb: 3378.0", "lumi_pb: .NaN"))
    assert ".NaN" in path.read_text()
    code, _, err = cli("generate", "--config", path)
    assert_one_line_error(code, err, str(path), "analysis.lumi_pb = nan")


# 2. Files and --set items that are not what they should be ----------------------------------


def _write(path: Path, content: bytes | None) -> Path:
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(("content", "expected"), [
    (None, "is a directory; expected a YAML configuration file"),
    ("analysis: caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    (b"a: &x [*x]\n", "a YAML alias refers to its own anchor"),
    (b"- just\n- a list\n", "expected a mapping of sections, got list"),
    (b"analysis: [unclosed\n", "not valid YAML"),
])
def test_unusable_config_files_are_one_line_naming_the_file(cli, tmp_path, content, expected):
    path = _write(tmp_path / "config.yaml", content)
    code, _, err = cli("generate", "--config", path)
    assert_one_line_error(code, err, str(path), expected)


@pytest.mark.parametrize(("item", "expected"), [
    ("fit.poi=[", "--set 'fit.poi=[': the value is not valid YAML"),
    ("fit.poi.x=1", "--set fit.poi.x: fit.poi = \"ttbar_norm\" is not a section; it has no key 'x'"),
    ("analysis.lumi_pb.a.b=1", "analysis.lumi_pb = 3378.0 is not a section; it has no key 'a.b'"),
    ("fit.poi", "--set 'fit.poi': expected KEY=VALUE"),
    ("fit.poi_bounds=&x [*x]", "a YAML alias refers to its own anchor"),
])
def test_bad_set_items_are_one_line_naming_the_item(cli, item, expected):
    code, _, err = cli("generate", "--config", CONFIG, "--set", item)
    assert_one_line_error(code, err, expected)


# 4. A missing section names the key and the file ------------------------------------------


def test_missing_section_names_key_and_file_not_the_whole_config(cli, tmp_path):
    raw = _raw()
    del raw["fit"]
    del raw["analysis"]["objects"]["muon"]
    path = tmp_path / "partial.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, _, err = cli("generate", "--config", path)
    assert_one_line_error(code, err, str(path), "<top level>: missing required key 'fit'",
                          "analysis.objects: missing required key 'muon'")
    assert "ttbar_norm" not in err and "xsec_pb" not in err  # no dump of the configuration
    assert len(err) < 300


def test_long_values_are_shown_cut():
    with pytest.raises(ConfigError) as err:
        config.load(CONFIG, {"analysis.systematics": [{"name": "not a name " * 30, "label": "l", "up": "a"}]})
    assert len(str(err.value)) < 600
    assert "..." in str(err.value)


# SIGINT and logging, through the real command in a process of its own ----------------------


@pytest.mark.slow
def test_sigint_during_generate_exits_130_without_traceback(tmp_path):
    directory = tmp_path / "generated"
    process = subprocess.Popen(
        [sys.executable, "-m", "agcflow", "generate", "--no-progress", "--set", f"inputs.generate.directory={directory}",
         "--set", "cluster.workers=2"],  # the full default dataset: minutes, far longer than this test waits
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not directory.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None and directory.exists(), "generate did not start"
    time.sleep(1.0)  # inside the pool of generating processes
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted" in err
    assert not (directory / "fileset.json").exists()
    leftovers = [p for p in directory.rglob("*.root") if p.name.startswith(".")]
    assert all(".tmp" in p.name for p in leftovers)  # only hidden temporaries, nothing half-written


def _scan_records(path: Path) -> Path:
    """A small scan result on a 4 x 4 grid, CLs falling with x."""
    records = {
        f"p{x}_{y}": {"values": [float(x), float(y)], "status": "ok", "CLs_obs": 0.2 / (1 + x),
                      "CLs_exp": [0.2 / (1 + x)] * 5}
        for x in range(4) for y in range(4)
    }
    path.write_text(json.dumps(records))
    return path


@pytest.mark.slow
def test_verbose_raises_only_agcflows_log_level(tmp_path):
    results = _scan_records(tmp_path / "scan.json")
    args = ["contour", results, "--output", tmp_path / "contour.png"]
    quiet, one, three = agcflow(*args), agcflow("-v", *args), agcflow("-vvv", *args)
    for run in (quiet, one, three):
        assert run.returncode == 0, run.stderr
    assert "agcflow.scan.contour INFO" not in quiet.stderr
    assert "agcflow.scan.contour INFO: contours from 16 points" in one.stderr
    assert "matplotlib" not in one.stderr and "DEBUG" not in one.stderr
    assert "matplotlib" in three.stderr and " DEBUG: " in three.stderr


# 2. JSON of the wrong kind, fileset entries, unusable points, scheduler addresses ----------


@pytest.fixture()
def wrong_json(tmp_path):
    """Files that are not what validate/contour/limit-plot read: name -> path."""
    files = {"list": "[1, 2]", "not_json": "nope", "other_result": json.dumps({"CLs_obs": 0.3, "mass": 750.0}),
             "scan": _scan_records(tmp_path / "scan.json").read_text()}
    for name, text in files.items():
        (tmp_path / f"{name}.json").write_text(text)
    return {name: tmp_path / f"{name}.json" for name in files}


@pytest.mark.parametrize(("command", "given", "expected"), [
    ("validate", "list", "expected histograms as JSON"),
    ("validate", "not_json", "not valid JSON"),
    ("validate", "scan", "is not a histogram {'edges'"),
    ("contour", "list", "expected a scan result JSON (point name -> record) (a JSON object), got a JSON array"),
    ("contour", "not_json", "not valid JSON"),
    ("contour", "other_result", "point 'CLs_obs' is not a scan record"),
    ("limit-plot", "list", "expected a reinterpret result.json (a JSON object), got a JSON array"),
    ("limit-plot", "scan", "expected a reinterpret result.json; it lacks 'mass', 'upper_limit_obs'"),
    ("limit-plot", "other_result", "it lacks 'upper_limit_obs', 'upper_limit_exp'"),
])
def test_json_of_the_wrong_kind_is_one_line_naming_the_file(cli, wrong_json, tmp_path, command, given, expected):
    path = wrong_json[given]
    args = {"validate": ["--histograms", path, "--reference", wrong_json["scan"]],
            "contour": [path, "--output", tmp_path / "c.png"],
            "limit-plot": [path, "--output", tmp_path / "l.png"]}[command]
    if command == "validate" and given == "scan":
        args = ["--histograms", path, "--reference", path]
    code, _, err = cli(command, *args)
    assert_one_line_error(code, err, str(path), expected)
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(("command", "given", "expected"), [
    ("process", "list", "not a delivery manifest this agcflow reads: the file is an array, not an object"),
    ("cached-pass", "other_result", "not a delivery manifest this agcflow reads: key 'samples' is missing"),
    ("optimize", "scan", "not a delivery manifest this agcflow reads: key 'samples' is missing"),
])
def test_a_file_that_is_no_manifest_is_one_line_naming_it(cli, wrong_json, tmp_path, command, given, expected):
    path = wrong_json[given]
    outputs = {"optimize": ["--strategy", "grid", "--output-dir", tmp_path / "out"]}.get(
        command, ["--output", tmp_path / "h.root", "--metrics", tmp_path / "m.json"])
    code, _, err = cli(command, "--config", CONFIG, "--manifest", path, *outputs)
    assert_one_line_error(code, err, str(path), expected, "run `agcflow deliver` again")
    assert not (tmp_path / "h.root").exists() and not (tmp_path / "out").exists()

def test_contour_on_points_on_one_line_names_the_file(cli, tmp_path):
    records = {f"p{i}": {"values": [100.0 * i, 50.0 * i], "status": "ok", "CLs_obs": 0.01 * i, "CLs_exp": [0.01 * i] * 5}
               for i in range(1, 6)}
    path = tmp_path / "line.json"
    path.write_text(json.dumps(records))
    code, _, err = cli("contour", path, "--output", tmp_path / "c.png")
    assert_one_line_error(code, err, str(path), "the 5 points lie on one line", "span an area")


@pytest.mark.parametrize(("fileset", "expected"), [
    ([{"ttbar": {}}], "expected a fileset JSON"),
    ({"ttbar": ["nominal"]}, "no entry for sample ttbar/nominal"),
    ({"ttbar": {"nominal": {"files": [{"path": "a.root", "nevts": "many"}]}}}, "a.root: nevts = 'many'; expected a whole"),
    ({"ttbar": {"nominal": {"files": ["a.root"]}}}, "ttbar/nominal: expected 'files': [{'path'"),
])
def test_fileset_mistakes_are_one_line_naming_the_file(cli, tmp_path, fileset, expected):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    code, _, err = cli("deliver", "--config", CONFIG, "--set", "inputs.source=fileset", "--set", f"inputs.fileset={path}",
                       "--output", tmp_path / "manifest.json", "--no-progress")
    assert_one_line_error(code, err, str(path), expected)


@pytest.mark.parametrize(("address", "expected"), [
    ("notaurl", "missing port number"),
    ("tcp://host:notaport", "not a Dask scheduler address"),
])
def test_bad_scheduler_address_is_rejected_with_the_config(cli, address, expected):
    code, _, err = cli("generate", "--config", CONFIG, "--set", "cluster.kind=address", "--set", f"cluster.address={address}")
    assert_one_line_error(code, err, f"cluster.address = {address!r}", expected, "expected e.g. tcp://host:8786")


# 3. Credentials in URLs are never shown -----------------------------------------------------


SECRET_URL = "https://user:s3cret@127.0.0.1:9/path?token=t0ken&n=1"


def test_credentials_in_cluster_address_are_masked(cli):
    code, _, err = cli("generate", "--config", CONFIG, "--set", "cluster.kind=address", "--set",
                       f"cluster.address={SECRET_URL}")
    assert_one_line_error(code, err, "cluster.address = 'https://***@127.0.0.1:9/path?token=***&n=1'")
    assert "s3cret" not in err and "t0ken" not in err and "user" not in err


def test_credentials_of_a_scan_address_are_masked(cli, tmp_path):
    pallet = ROOT / "data" / "reference" / "sbottom-ins1748602" / "pallet.tar.gz"
    code, _, err = cli("scan", pallet, "--limit", "1", "--address", "tcp://user:s3cret@127.0.0.1:8786",
                       "--output-dir", tmp_path)
    assert_one_line_error(code, err, "cluster.address = 'tcp://***@127.0.0.1:8786': not a Dask scheduler address")
    assert "s3cret" not in err


def test_credentials_of_a_servicex_endpoint_are_masked(tmp_path):
    from agcflow.config import ServiceXSettings
    from agcflow.delivery.servicex import open_endpoint
    from agcflow.errors import ServiceError

    path = tmp_path / "servicex.yaml"
    path.write_text(yaml.safe_dump({"api_endpoints": [{"name": "mine", "endpoint": SECRET_URL, "token": "x"}]}))
    with pytest.raises(ServiceError) as err:
        open_endpoint(ServiceXSettings(config=path, connect_timeout_s=1))
    assert "ServiceX endpoint 'mine' https://***@127.0.0.1:9/path?token=***&n=1: no connection" in str(err.value)
    assert "s3cret" not in str(err.value) and "t0ken" not in str(err.value)


def test_log_lines_are_masked(cli, capsys):
    from agcflow.cli.main import configure_logging

    configure_logging(1)
    logging.getLogger("agcflow.test").info("fetching %s", SECRET_URL)
    err = capsys.readouterr().err
    assert "fetching https://***@127.0.0.1:9/path?token=***&n=1" in err and "s3cret" not in err


# 6. Output directories are checked before any compute ----------------------------------------


@pytest.mark.parametrize("command", [
    ["fit", "--workspace", "never_read.json", "--output-dir", "{blocked}", "--figures-dir", "{free}"],
    ["fit", "--workspace", "never_read.json", "--output-dir", "{free}", "--figures-dir", "{blocked}"],
    ["bench", "processing", "--output", "{blocked}/processing.json"],
    ["bench", "cached-pass", "--output", "{blocked}/cached_pass.json"],
    ["bench", "facility", "--output", "{blocked}/facility.json"],
    ["bench", "scan", str(ROOT / "data/reference/sbottom-ins1748602/pallet.tar.gz"), "--output", "{blocked}/scan.json"],
    ["bench", "scan", str(ROOT / "data/reference/sbottom-ins1748602/pallet.tar.gz"), "--adaptive", "--output", "{blocked}/scan.json"],
], ids=["fit-output", "fit-figures", "bench-processing", "bench-cached-pass", "bench-facility", "bench-scan", "bench-scan-adaptive"])
def test_unwritable_outputs_fail_before_compute(cli, tmp_path, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    blocked = blocker / "out"
    args = [part.format(blocked=blocked, free=tmp_path / "free") for part in command]
    if command[0] != "bench" or command[1] != "scan":
        args += ["--config", str(CONFIG)]
    started = time.monotonic()
    code, _, err = cli(*args)
    assert_one_line_error(code, err, f"{blocked}: cannot write a test file in this output directory")
    assert "never_read" not in err
    assert time.monotonic() - started < 30  # no benchmark ran


def test_version_names_the_package_version():
    import agcflow

    run = subprocess.run([sys.executable, "-m", "agcflow", "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith(f"agcflow {agcflow.__version__} (python "), run.stdout


@pytest.mark.parametrize(("expected", "message"), [
    ("fit=0123456789abcdef", "--expect-settings fit=0123456789abcdef: agcflow computes "),
    ("fitting=0123456789abcdef", "unknown stage 'fitting'; valid: generate, deliver"),
])
def test_a_workflow_digest_that_differs_fails_before_compute(expected, message, tmp_path):
    run = subprocess.run([sys.executable, "-m", "agcflow", "--expect-settings", expected, "fit", "--workspace",
                          "never_read.json", "--output-dir", str(tmp_path / "fit")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and not (tmp_path / "fit").exists()


# 7. Adaptive scan options are checked before any compute -----------------------------------


@pytest.mark.parametrize(("command", "args", "culprit"), [
    (["scan"], ["--budget", "1.5"], "--budget 1.5 out of range; valid: a fraction in (0, 1]"),
    (["scan"], ["--tolerance", "0"], "--tolerance 0.0 out of range; valid: a probability in (0, 0.5)"),
    (["scan"], ["--initial-fraction", "0.5"], "--initial-fraction 0.5 exceeds --budget 0.25"),
    (["scan"], ["--batch", "0"], "--batch 0 out of range; valid: 1 or more points per round"),
    (["scan"], ["--upper-limits"], "--adaptive cannot compute --upper-limits"),
    (["scan"], ["--where", "2:60"], "--where '2:60': expected INDEX=VALUE"),
    (["bench", "scan"], ["--budget", "-0.1"], "--budget -0.1 out of range"),
])
def test_bad_adaptive_scan_options_are_one_line_naming_the_option(cli, tmp_path, command, args, culprit):
    """Checked before the pallet is read or a cluster started."""
    pallet = ROOT / "data" / "reference" / "sbottom-ins1748602" / "pallet.tar.gz"
    output = ["--output", tmp_path / "bench.json"] if command == ["bench", "scan"] else ["--output-dir", tmp_path]
    code, _, err = cli(*command, pallet, "--adaptive", *output, *args)
    assert_one_line_error(code, err, culprit)
