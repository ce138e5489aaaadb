"""Shared fixtures: the analysis settings, and a tiny generated dataset on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from agcflow import config

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "data" / "reference"  # copies of the shared reference data: data/reference/README.md
CONFIG = ROOT / "configs" / "ttbar.yaml"
HZZ_CONFIG = ROOT / "configs" / "hzz.yaml"

# Small, but large enough that every sample has events in both regions and every variation.
TINY_EVENTS = {
    "ttbar__nominal": 40_000,
    "ttbar__scaledown": 10_000,
    "ttbar__scaleup": 10_000,
    "ttbar__ME_var": 10_000,
    "ttbar__PS_var": 10_000,
    "single_top_s_chan__nominal": 60_000,
    "single_top_t_chan__nominal": 40_000,
    "single_top_tW__nominal": 20_000,
    "wjets__nominal": 200_000,
}


@pytest.fixture(scope="session")
def settings() -> config.Settings:
    return config.load(CONFIG)


def run_paths(base: Path) -> dict[str, object]:
    """Overrides that put a run's generated inputs, delivery cache and results under ``base``."""
    return {
        "inputs.generate.directory": str(base / "generated"),
        "delivery.cache_dir": str(base / "cache"),
        "outputs.results_dir": str(base / "results"),
    }


def tiny_overrides(base: Path) -> dict[str, object]:
    """Overrides that point a run at a tiny generated dataset under ``base``."""
    return {
        **run_paths(base),
        "inputs.generate.events": TINY_EVENTS,
        "inputs.generate.files_per_sample": 2,
        "cluster.workers": 2,
        "processing.chunk_size": 20_000,
        "fit.ranking": False,
    }


def write_tiny_config(base: Path) -> Path:
    """The analysis config with ``tiny_overrides`` applied, written to ``base/tiny.yaml``
    (for runs that read a config file: Snakemake, the CLI)."""
    return write_config(base / "tiny.yaml", tiny_overrides(base))


def tiny_hzz_overrides(base: Path, signals: tuple[str, ...] = ("RS_G_ZZ_llll_c10_m0200", "RS_G_ZZ_llll_c10_m1000")
                       ) -> dict[str, object]:
    """Overrides of configs/hzz.yaml for a tiny H->ZZ*->4l run under ``base``: a quarter of the
    generator's default simulated events (the recorded data are not scaled), one file per sample,
    one worker, no ranking, and the graviton ``signals`` with 5,000 events each."""
    import yaml

    configured = yaml.safe_load(HZZ_CONFIG.read_text())["reinterpret"]["signals"]
    return {
        **run_paths(base),
        "inputs.generate.scale": 0.25,
        "inputs.generate.files_per_sample": 1,
        "cluster.workers": 1,
        "fit.ranking": False,
        # the generated ZZ* tail is too thin above 1 TeV in a quarter of the events: its 1-1.5 and
        # 1.5-2.5 TeV bins merged, none is empty (the workspace would drop it, the signal patch not fit)
        "analysis.regions.4l_high_mass.fit_edges": [250, 300, 400, 600, 1000, 2500],
        "reinterpret.directory": str(base / "signals"),
        "reinterpret.events": 5000,
        "reinterpret.signals": [signal for signal in configured if signal["name"] in signals],
    }


def write_config(path: Path, overrides: dict[str, object], base_config: Path = CONFIG) -> Path:
    """The analysis config ``base_config`` with dotted-key ``overrides`` applied, written to ``path``."""
    import yaml

    raw = yaml.safe_load(base_config.read_text())
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="session")
def tiny_settings(tmp_path_factory) -> config.Settings:
    base = tmp_path_factory.mktemp("tiny")
    return config.load(CONFIG, tiny_overrides(base))


@pytest.fixture(scope="session")
def tiny_fileset(tiny_settings) -> Path:
    from agcflow import stages as pipeline

    return pipeline.generate(tiny_settings, progress=False)


@pytest.fixture(scope="session")
def dask_client():
    """One real two-worker LocalCluster shared by the tests that need a cluster."""
    from agcflow.compute.cluster import open_client

    with open_client(config.ClusterSettings(workers=2)) as client:
        yield client


def assert_provenance(block: dict) -> None:
    """A result's provenance block names the code (version, git commit), the key packages, the
    config and input digests, and when and how long it ran."""
    import agcflow

    assert block["package"] == "agcflow" and block["version"] == agcflow.__version__
    assert block["git_commit"] is None or len(block["git_commit"].split("+")[0]) == 40
    assert {"numpy", "pyhf", "cabinetry", "coffea", "uproot"} <= set(block["packages"]), block["packages"]
    assert len(block["config_digest"]) == 16 and len(block["input_digest"]) == 16
    assert block["started"] and block["wall_s"] >= 0


def tool_venv(name: str, packages: list[str]) -> Path:
    """The bin folder of a virtual environment of its own under .cache/ for a tool whose pins
    clash with agcflow's (reana-client's Snakemake 7, recast-atlas/yadage), made once per
    package set (PyPI must be reachable the first time)."""
    import subprocess
    import venv

    env = ROOT / ".cache" / name
    marker = env / f".installed-{'-'.join(packages)}"
    if not marker.exists():
        venv.create(env, with_pip=True)
        install = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", *packages],
                                 capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
        marker.touch()
    return env / "bin"


def assert_gradient_matches_finite_differences(evaluate, cuts: dict[str, float], parameters, rel: float = 1e-3) -> None:
    """``evaluate(cuts) -> (value, {name: gradient})`` against central differences of step
    1e-3 grid steps in every parameter, to ``rel``; every gradient component non-zero."""
    _, grad = evaluate(cuts)
    for p in parameters:
        h = p.step * 1e-3
        up, _ = evaluate({**cuts, p.name: cuts[p.name] + h})
        down, _ = evaluate({**cuts, p.name: cuts[p.name] - h})
        assert grad[p.name] == pytest.approx((up - down) / (2 * h), rel=rel), p.name
        assert abs(grad[p.name]) > 0
