"""RECAST-style reinterpretation: a new signal through the preserved analysis.

Only the signal is delivered and processed (same query, processor, regions and the
systematics that apply to it). A JSON patch adds it, with its own norm factor, to the
preserved background-only workspace; CLs at the nominal signal strength and upper limits
follow. Background inputs are never read.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import hist
import numpy as np

from agcflow import inputs, processing
from agcflow.config import AnalysisSettings, Sample, Settings, SignalSettings
from agcflow.delivery.backends import deliver
from agcflow.errors import AgcflowError, InputFileError
from agcflow.histograms import load_root, save_root
from agcflow.io import atomic_path, read_json, read_json_object, write_json

log = logging.getLogger(__name__)

def signal_settings(settings: Settings, name: str) -> SignalSettings:
    """The configured signal called ``name``."""
    for signal in settings.reinterpret.signals:
        if signal.name == name:
            return signal
    valid = [s.name for s in settings.reinterpret.signals]
    raise AgcflowError(f"signal {name!r} is not in reinterpret.signals; configured: {valid}")


def generate_signal(settings: Settings, signal: SignalSettings) -> Path:
    """Generate the signal's events; return its fileset JSON."""
    from agcflow.generate import generate_dataset

    directory = settings.reinterpret.directory / signal.name
    events = {f"{signal.name}__nominal": settings.reinterpret.events}
    return generate_dataset(directory, events=events, files_per_sample=1, seed=settings.inputs.generate.seed)


def with_signal(analysis: AnalysisSettings, signal: SignalSettings) -> AnalysisSettings:
    """The analysis with the signal as one more sample (systematics for all samples apply)."""
    return dataclasses.replace(analysis, samples=(*analysis.samples, Sample(signal.name, signal.label, signal.xsec_pb)))


def signal_histograms(settings: Settings, signal: SignalSettings, fileset: Path, client, progress: bool = False) -> dict[str, hist.Hist]:
    """Deliver and process the signal alone; its histograms with the AGC naming."""
    sample = inputs.sample_files(read_json_object(fileset, "a fileset JSON"), fileset, signal.name, "nominal")
    manifest = deliver([sample], settings.delivery, settings.analysis.cuts, settings.analysis.tree, client,
                       skip_bad_files=settings.processing.skip_bad_files, progress=progress)
    hists, _ = processing.run_samples(manifest, with_signal(settings.analysis, signal), settings.processing, client,
                                      progress)
    return hists


def signal_patch(
    background: dict[str, Any], histograms: dict[str, hist.Hist], settings: Settings, signal: SignalSettings,
    work_dir: Path,
) -> list[dict[str, Any]]:
    """JSON-patch operations that add the signal (norm factor ``reinterpret.poi``, as POI) to
    the background-only workspace; built by cabinetry exactly as the background model was."""
    import jsonpatch

    from agcflow.stats.workspace import cabinetry_config, template_folder, workspace_from_config

    combined = work_dir / "histograms.root"
    save_root(histograms, combined)
    config = cabinetry_config(combined, with_signal(settings.analysis, signal), settings.fit, template_folder(work_dir))
    poi = settings.reinterpret.poi
    config["NormFactors"].append(
        {"Name": poi, "Samples": signal.label, "Nominal": 1.0, "Bounds": list(settings.reinterpret.poi_bounds)}
    )
    config["General"]["POI"] = poi
    full = workspace_from_config(config)
    return jsonpatch.make_patch(background, full).patch


def limits(background: dict[str, Any], patch: list[dict[str, Any]], name: str, poi_bounds: tuple[float, float]) -> dict[str, Any]:
    """CLs (observed, 5 expected) at mu = 1 and the 95 % CL upper limits with the statistical
    choices of `pyhf cls`, by the scan's compiled engine (checked against pyhf in its tests)."""
    from agcflow.stats.pallet import SignalPoint
    from agcflow.stats.scan_engine import evaluate_points

    scan = np.geomspace(max(poi_bounds[0], 1e-3 * poi_bounds[1]), poi_bounds[1], 41)
    [(_, record)] = evaluate_points(background, [SignalPoint(name, (), patch, "patch.json")], "jax", True, scan)
    if record["status"] != "ok":
        raise AgcflowError(f"{name}: the hypothesis test failed: {record['error']}")
    if not np.isfinite(record["upper_limit_obs"]):
        raise AgcflowError(f"{name}: no upper limit within reinterpret.poi_bounds = {list(poi_bounds)}; widen them")
    return {key: record[key] for key in ("CLs_obs", "CLs_exp", "upper_limit_obs", "upper_limit_exp", "fit_time")}


def run(
    settings: Settings, signal: SignalSettings, fileset: Path, background_histograms: Path,
    background_workspace: Path, output_dir: Path, client,
) -> dict[str, Any]:
    """Reinterpret one signal: patch and limits under ``output_dir``; background files untouched."""
    start = time.perf_counter()
    hists = signal_histograms(settings, signal, fileset, client)
    background = read_json(background_workspace)
    patch = signal_patch(background, {**load_root(background_histograms), **hists}, settings, signal, output_dir)
    write_json(output_dir / "patch.json", patch)
    result = {"signal": signal.name, "label": signal.label, "xsec_pb": signal.xsec_pb,
              "mass": float(signal.name.removeprefix("zprime_")), "poi": settings.reinterpret.poi,
              **limits(background, patch, signal.name, settings.reinterpret.poi_bounds)}
    result["wall_s"] = time.perf_counter() - start
    write_json(output_dir / "result.json", result)
    log.info("%s: CLs_obs %.3g, upper limit %.3g (expected %.3g)", signal.name, result["CLs_obs"],
             result["upper_limit_obs"], result["upper_limit_exp"][2])
    return result


LIMIT_KEYS = ("mass", "upper_limit_obs", "upper_limit_exp")


def read_limit_result(path: Path) -> dict[str, Any]:
    """A reinterpret result.json with what ``plot_limits`` draws: the mass, the observed limit
    and the five expected limits (-2..+2 sigma)."""
    result = read_json_object(path, "a reinterpret result.json", LIMIT_KEYS)
    band = result["upper_limit_exp"]
    numbers = [result["mass"], result["upper_limit_obs"], *(band if isinstance(band, list) else [None])]
    if not (isinstance(band, list) and len(band) == 5) or not all(isinstance(x, (int, float)) for x in numbers):
        raise InputFileError(f"{path}: expected numbers for mass and upper_limit_obs and five for upper_limit_exp")
    return result


def plot_limits(results: list[dict[str, Any]], path: Path) -> Path:
    """Upper limit on the signal strength vs mass, with the expected +/-1, 2 sigma bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted(results, key=lambda r: r["mass"])
    mass = [r["mass"] for r in results]
    expected = np.array([r["upper_limit_exp"] for r in results])
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.fill_between(mass, expected[:, 0], expected[:, 4], color="#ffdf00", label=r"expected $\pm 2\sigma$")
    ax.fill_between(mass, expected[:, 1], expected[:, 3], color="#00c000", label=r"expected $\pm 1\sigma$")
    ax.plot(mass, expected[:, 2], "k--", label="expected")
    ax.plot(mass, [r["upper_limit_obs"] for r in results], "ko-", label="observed (pseudodata)")
    ax.axhline(1.0, color="red", lw=1, label=r"$\mu = 1$")
    ax.set_xlabel(r"$m_{Z'}$ [GeV]")
    ax.set_ylabel(r"95 % CL upper limit on $\mu_{sig}$")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
