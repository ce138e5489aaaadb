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
from agcflow.cli import main
from agcflow.errors import ConfigError

from conftest import CONFIG, ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "analysis")}


def agcflow(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real command line in a process of its own."""
    return subprocess.run([sys.executable, "-m", "agcflow", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def cli(capsys, monkeypatch):
    """run(*args) -> (exit code, stdout, stderr) of ``agcflow.cli.main`` in this process; the
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
    assert "agcflow.stats.contour INFO" not in quiet.stderr
    assert "agcflow.stats.contour INFO: contours from 16 points" in one.stderr
    assert "matplotlib" not in one.stderr and "DEBUG" not in one.stderr
    assert "matplotlib" in three.stderr and " DEBUG: " in three.stderr
