"""A third-party analysis, written as its author would: a small package outside agcflow (a
dimuon-mass analysis in plain awkward), registered by import path, run from generation to the
fit through the CLI and through Snakemake, with no change to agcflow's source.

The physics is checked by closure: the pseudodata is the sum of the nominal templates, so the
fitted signal strength is 1, and the histograms hold exactly the events the test counts itself
on the generated files with an independent numpy selection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import uproot
import yaml

from conftest import ROOT

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent

PLUGIN = textwrap.dedent('''
    """Z -> mumu over a Drell-Yan continuum: the opposite-sign dimuon mass."""
    import awkward as ak
    import numpy as np

    from agcflow.analyses.base import Analysis, Variation
    from agcflow.physics.columns import ColumnLayout

    LAYOUT = ColumnLayout(event=("run", "luminosityBlock", "event"),
                          collections={"Muon": ("pt", "eta", "phi", "mass", "charge")})


    class Query:
        layout = LAYOUT

        def __init__(self, min_muons):
            self.min_muons = min_muons

        def func_adl_text(self):
            columns = ", ".join(f"'{n}': e.{n}" for n in LAYOUT.selected_names())
            return (f".Where('lambda e: e.Muon_pt.Count() >= {self.min_muons}')"
                    f".Select('lambda e: {{{columns}}}')")

        def preselection_mask(self, flat):
            return flat["nMuon"] >= self.min_muons

        def record(self):
            return {"min_muons": self.min_muons}


    def dimuon_mass(muons):
        """Mass of the two leading muons (awkward records with pt, eta, phi, mass)."""
        a, b = muons[:, 0], muons[:, 1]
        px = a.pt * np.cos(a.phi) + b.pt * np.cos(b.phi)
        py = a.pt * np.sin(a.phi) + b.pt * np.sin(b.phi)
        pz = a.pt * np.sinh(a.eta) + b.pt * np.sinh(b.eta)
        e = (np.sqrt((a.pt * np.cosh(a.eta)) ** 2 + a.mass ** 2)
             + np.sqrt((b.pt * np.cosh(b.eta)) ** 2 + b.mass ** 2))
        return np.sqrt(np.maximum(e ** 2 - px ** 2 - py ** 2 - pz ** 2, 0))


    class Dimuon(Analysis):
        name = "dimuon"
        description = "opposite-sign dimuon mass"
        layout = LAYOUT
        measurement = "dimuon"
        poi_sample = "zmumu"

        def options_schema(self):
            return {"required": ["muon_pt_min"], "properties": {"muon_pt_min": {"type": "number", "minimum": 0}}}

        def preselection_schema(self):
            return {"type": "object", "additionalProperties": False,
                    "properties": {"min_muons": {"type": "integer", "minimum": 0}}}

        def options(self, raw):
            return float(raw["muon_pt_min"])

        def preselection(self, raw):
            return int(raw.get("min_muons", 2))

        def observables(self):
            return {"mll": "m_mumu"}

        def delivery_query(self, analysis, preselection):
            return Query(preselection)

        def variations(self, analysis):
            return (Variation("muon_scale_up", "shift"), Variation("eff_up", "weight"),
                    Variation("eff_down", "weight"))

        def fill(self, events, chunk):
            filled = {}
            shifts = {"nominal": 1.0, **({"muon_scale_up": 1.01} if chunk.wants("muon_scale_up") else {})}
            for name, scale in shifts.items():
                muons = events.Muon
                muons = ak.zip({"pt": muons.pt * scale, "eta": muons.eta, "phi": muons.phi,
                                "mass": muons.mass, "charge": muons.charge})
                muons = muons[muons.pt > chunk.analysis.options]
                two = muons[ak.num(muons) >= 2]
                os_pair = two[two.charge[:, 0] != two.charge[:, 1]]
                mass = ak.to_numpy(dimuon_mass(os_pair))
                weights = np.full(len(mass), chunk.weight)
                filled[("os", name)] = (mass, weights)
                if name == "nominal" and chunk.wants("eff_up"):
                    filled[("os", "eff_up")] = (mass, weights * 1.04)
                    filled[("os", "eff_down")] = (mass, weights * 0.96)
            return filled

        def samples(self):
            return {"zmumu": ("nominal",), "dy": ("nominal",)}

        def default_events(self):
            return {"zmumu__nominal": 4000, "dy__nominal": 4000}

        def simulate(self, rng, process, variation, n_events, first_event, parameters):
            if process == "zmumu":
                mass = 91.19 + 2.5 * rng.standard_cauchy(n_events) / 2
            else:
                mass = 60 + rng.exponential(25.0, n_events)
            mass = np.clip(mass, 40.0, 200.0)
            pt = mass / 2 * rng.uniform(0.6, 1.0, n_events)
            eta = rng.normal(0, 1.2, (2, n_events))
            phi = rng.uniform(-np.pi, np.pi, n_events)
            record = {
                "pt": np.stack([pt, pt]).T.astype(np.float32),
                "eta": np.stack([eta[0], eta[0]]).T.astype(np.float32),
                "phi": np.stack([phi, phi + np.pi]).T.astype(np.float32),
                "mass": np.full((n_events, 2), 0.1057, np.float32),
                "charge": np.where(rng.uniform(size=(n_events, 1)) < 0.9, [[1, -1]], [[1, 1]]).astype(np.int32),
            }
            event = np.arange(first_event + 1, first_event + n_events + 1, dtype=np.uint64)
            return {"run": np.ones(n_events, np.uint32), "luminosityBlock": np.ones(n_events, np.uint32),
                    "event": event, "Muon": ak.zip({k: ak.from_regular(ak.Array(v)) for k, v in record.items()})}


    ANALYSIS = Dimuon()
''')


def write_plugin(base: Path) -> Path:
    """The analysis package, outside agcflow: ``<base>/plugins/dimuon_analysis/__init__.py``."""
    package = base / "plugins" / "dimuon_analysis"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    return base / "plugins"


def write_config(base: Path) -> Path:
    edges = list(range(70, 111, 5))
    raw = {
        "analysis": {
            "kind": "dimuon_analysis:ANALYSIS", "name": "dimuon", "tree": "Events", "lumi_pb": 1000.0,
            "muon_pt_min": 20.0,
            "samples": {"zmumu": {"label": "Z -> mumu", "xsec_pb": 2.0}, "dy": {"label": "DY continuum", "xsec_pb": 4.0}},
            "regions": {"os": {"label": "OS", "observable": "mll", "axis_label": "$m_{\\mu\\mu}$ [GeV]"}},
            "histogram": {"bins": 30, "low": 50.0, "high": 125.0},
            "pseudodata": {"average": ["zmumu"], "add": ["dy"]},
            "systematics": [
                {"name": "muon_scale", "label": "Muon momentum scale", "up": "muon_scale_up", "symmetrize": True},
                {"name": "eff", "label": "Muon efficiency", "up": "eff_up", "down": "eff_down"},
                {"name": "lumi", "label": "Luminosity", "normalization": 0.02},
            ],
        },
        "inputs": {"source": "generate", "generate": {"directory": str(base / "generated"), "files_per_sample": 2}},
        "delivery": {"backend": "local", "cache_dir": str(base / "cache"), "preselection": {"min_muons": 2}},
        "cluster": {"kind": "local", "workers": 1, "dashboard": None},
        "processing": {"chunk_size": 3000},
        "fit": {"poi": "mu_z", "poi_bounds": [0.0, 5.0], "fit_edges": edges, "ranking": True},
        "outputs": {"results_dir": str(base / "results")},
    }
    path = base / "dimuon.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def environment(plugins: Path) -> dict[str, str]:
    path = os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def selected_by_hand(generated: Path, process: str, pt_min: float) -> int:
    """Events with two muons above ``pt_min`` of opposite charge, counted with numpy alone."""
    total = 0
    for path in sorted((generated / f"{process}__nominal").glob("*.root")):
        muons = uproot.open(path)["Events"].arrays(["Muon_pt", "Muon_charge"], library="np")
        for pt, charge in zip(muons["Muon_pt"], muons["Muon_charge"]):
            keep = pt > pt_min
            total += int(keep.sum() >= 2 and charge[keep][0] != charge[keep][1])
    return total


def test_cli_runs_a_third_party_analysis_end_to_end(tmp_path):
    env = environment(write_plugin(tmp_path))
    cfg = write_config(tmp_path)
    results = tmp_path / "results"
    stage = lambda name, *args: run([str(BIN / "agcflow"), name, "--config", str(cfg), *args], env)  # noqa: E731
    stage("generate", "--no-progress")
    stage("deliver", "--no-progress", "--output", str(results / "manifest.json"))
    stage("process", "--no-progress", "--manifest", str(results / "manifest.json"), "--output", str(results / "h.root"),
          "--metrics", str(results / "metrics.json"))
    hists = uproot.open(results / "h.root")
    names = {key.split(";")[0] for key in hists.keys()} - {"agcflow_settings"}
    assert names == {"os_zmumu", "os_dy", "os_pseudodata", *(f"os_{p}_{v}" for p in ("zmumu", "dy")
                                                              for v in ("muon_scale_up", "eff_up", "eff_down"))}
    lumi, xsec, generated = 1000.0, {"zmumu": 2.0, "dy": 4.0}, 4000
    for process in ("zmumu", "dy"):
        expected = selected_by_hand(tmp_path / "generated", process, 20.0)
        values = hists[f"os_{process}"].values(flow=True)
        assert expected > 1000
        assert values.sum() == pytest.approx(expected * xsec[process] * lumi / generated, rel=1e-9)
        assert hists[f"os_{process}_eff_up"].values(flow=True).sum() == pytest.approx(values.sum() * 1.04)
    assert not np.allclose(hists["os_zmumu_muon_scale_up"].values(), hists["os_zmumu"].values())

    stage("workspace", "--histograms", str(results / "h.root"), "--output", str(results / "ws.json"))
    workspace = json.loads((results / "ws.json").read_text())
    assert workspace["measurements"][0]["name"] == "dimuon"
    assert workspace["measurements"][0]["config"]["poi"] == "mu_z"
    stage("fit", "--workspace", str(results / "ws.json"), "--output-dir", str(results / "fit"),
          "--figures-dir", str(results / "figures"))
    fit = json.loads((results / "fit" / "fit_results.json").read_text())
    assert fit["poi"] == "mu_z"
    assert fit["poi_bestfit"] == pytest.approx(1.0, abs=1e-3)  # closure: pseudodata = sum of the nominals
    assert 0 < fit["poi_uncertainty"] < 0.5


def test_snakemake_runs_a_third_party_analysis(tmp_path):
    env = environment(write_plugin(tmp_path))
    cfg = write_config(tmp_path)
    run([str(BIN / "snakemake"), "--profile", "profiles/local", "--cores", "2", "--config", f"agcflow_config={cfg}"],
        env)
    results = tmp_path / "results"
    fit = json.loads((results / "fit" / "fit_results.json").read_text())
    assert fit["poi"] == "mu_z" and fit["poi_bestfit"] == pytest.approx(1.0, abs=1e-3)
    ranked = {p["name"] for p in json.loads((results / "fit" / "ranking.json").read_text())["parameters"]}
    assert {"Muon momentum scale", "Muon efficiency", "Luminosity"} <= ranked
