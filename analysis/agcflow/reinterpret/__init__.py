"""RECAST-style reinterpretation: a new signal through the preserved analysis.

Only the signal is delivered and processed (same query, processor, regions and the
systematics that apply to it). A JSON patch adds it, with its own norm factor as the POI, to
the preserved background-only workspace itself; CLs at the nominal signal strength and upper
limits follow. The outputs form a pallet (``BkgOnly.json`` + pyhf ``patchset.json``) that
``pyhf patchset`` and ``agcflow scan`` read. Background inputs are never read.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import hist
import numpy as np

from agcflow.config import Settings, SignalSettings
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest import check_serves
from agcflow.errors import AgcflowError, InputFileError
from agcflow.inputs import fileset as inputs
from agcflow.processing import run as processing
from agcflow.processing.histograms import save_root
from agcflow.scan.pallet import SignalPoint, write_pallet
from agcflow.stats.workspace import check_workspace
from agcflow.util import provenance
from agcflow.util.figures import save_figure
from agcflow.util.io import atomic_set, check_writable, read_json, read_json_object, write_json

log = logging.getLogger(__name__)

RESULT = "result.json"
PALLET_DESCRIPTION = "agcflow reinterpretation: the preserved background-only workspace and the signal patch"
HEPDATA_PLACEHOLDER = "ins0000000"  # pyhf's PatchSet schema requires an INSPIRE id; this analysis has none


def generate_signal(settings: Settings, signal: SignalSettings) -> Path:
    """Generate the signal's events; return its fileset JSON."""
    from agcflow.inputs.generate import generate_dataset

    directory = settings.reinterpret.signal_directory(signal.name)
    events = {f"{signal.name}__nominal": settings.reinterpret.events}
    return generate_dataset(directory, settings.analysis.plugin, events=events, signals={signal.name: signal.parameters},
                            files_per_sample=1, seed=settings.inputs.generate.seed, tree=settings.analysis.tree)


def signal_histograms(settings: Settings, signal: SignalSettings, fileset: Path, client, progress: bool = False) -> dict[str, hist.Hist]:
    """Deliver and process the signal alone; its histograms with the AGC naming."""
    check_serves(settings.analysis, settings.delivery.preselection, "the settings")  # before any delivery
    sample = inputs.sample_files(read_json_object(fileset, "a fileset JSON"), fileset, signal.name, "nominal")
    manifest = deliver([sample], settings.delivery, settings.analysis, client,
                       skip_bad_files=settings.processing.skip_bad_files, progress=progress)
    hists, _ = processing.run_samples(manifest, settings.analysis.with_signal(signal), settings.processing, client,
                                      progress)
    return hists


def load_background(path: Path) -> dict[str, Any]:
    """The preserved background-only workspace at ``path``, checked as a pyhf workspace."""
    background = read_json(path)
    check_workspace(background, str(path), background_only=True)
    return background


def signal_patch(
    background: dict[str, Any], histograms: dict[str, hist.Hist], settings: Settings, signal: SignalSettings,
    source: Path,
) -> list[dict[str, Any]]:
    """JSON-patch operations that add the signal to the preserved background-only workspace
    ``background`` (read from ``source``, named in errors): per channel the signal sample with
    its norm factor ``reinterpret.poi`` (the new POI) and the modifiers cabinetry gives it from
    the configured systematics that apply to it, as it did for the backgrounds."""
    check_workspace(background, str(source), background_only=True)
    samples = signal_samples(histograms, settings, signal)
    channels = {channel["name"]: i for i, channel in enumerate(background["channels"])}
    observed = {o["name"]: len(o["data"]) for o in background["observations"]}
    missing = sorted(set(samples) - set(channels))
    if missing:
        raise InputFileError(f"{source}: no channel {missing} for the signal; channels: {sorted(channels)}")
    patch = []
    for name, sample in samples.items():
        i = channels[name]
        if len(sample["data"]) != observed[name]:
            raise InputFileError(
                f"{source}: channel {name!r} has {observed[name]} bins, the signal {len(sample['data'])}: the fit "
                "binning (fit.fit_edges, analysis.regions.*.fit_edges) must be that of the preserved workspace, "
                "and the workspace stage drops bins with no expected or observed events (its log names the "
                "channel); a coarser binning there keeps every bin")
        if sample["name"] in {s["name"] for s in background["channels"][i]["samples"]}:
            raise InputFileError(f"{source}: channel {name!r} already has a sample {sample['name']!r}")
        patch.append({"op": "add", "path": f"/channels/{i}/samples/{len(background['channels'][i]['samples'])}",
                      "value": sample})
    parameter = _poi_parameter(settings)
    for j, measurement in enumerate(background["measurements"]):
        parameters = measurement["config"].get("parameters", [])
        if parameter["name"] in {p["name"] for p in parameters}:
            raise InputFileError(f"{source}: measurement {measurement['name']!r} already has a parameter "
                                 f"{parameter['name']!r} (reinterpret.poi)")
        patch.append({"op": "add", "path": f"/measurements/{j}/config/parameters/{len(parameters)}",
                      "value": parameter})
        patch.append({"op": "replace", "path": f"/measurements/{j}/config/poi", "value": parameter["name"]})
    return patch


def signal_samples(histograms: dict[str, hist.Hist], settings: Settings, signal: SignalSettings) -> dict[str, Any]:
    """Per channel name, the signal sample of the workspace (yields, staterror, the POI norm
    factor, and every configured systematic whose samples include the signal): cabinetry's
    configuration of the analysis restricted to the signal, built from its histograms only."""
    import cabinetry

    from agcflow.stats.workspace import drop_empty_samples, rebinning_router

    with tempfile.TemporaryDirectory(prefix="agcflow-signal-") as work_dir:
        config = _signal_config(save_root(histograms, Path(work_dir) / "signal.root"), settings, signal, Path(work_dir))
        cabinetry.templates.build(config, router=rebinning_router(config))
        cabinetry.templates.postprocess(config)
        # a channel the signal does not reach (a 1 TeV graviton at 80-250 GeV) has 0/0 normalisation
        # effects: that sample is dropped just below, so numpy's warning about it is noise
        with np.errstate(invalid="ignore", divide="ignore"):
            channels = cabinetry.workspace.WorkspaceBuilder(config).channels()
    drop_empty_samples({"channels": channels})
    return {channel["name"]: sample for channel in channels for sample in channel["samples"]}


def _signal_config(histograms: Path, settings: Settings, signal: SignalSettings, work_dir: Path) -> dict[str, Any]:
    from agcflow.stats.workspace import cabinetry_config, template_folder

    config = cabinetry_config(histograms, settings.analysis.with_signal(signal), settings.fit, template_folder(work_dir))
    config["Samples"] = [s for s in config["Samples"] if s["Name"] == signal.label]
    config["Systematics"] = [{**s, "Samples": [signal.label]} for s in config["Systematics"]
                             if signal.label in s["Samples"]]
    poi = settings.reinterpret.poi
    config["NormFactors"] = [{"Name": poi, "Samples": signal.label, "Nominal": 1.0,
                              "Bounds": list(settings.reinterpret.poi_bounds)}]
    config["General"]["POI"] = poi
    return config


def _poi_parameter(settings: Settings) -> dict[str, Any]:
    """The POI's measurement entry, as cabinetry writes a norm factor's."""
    return {"name": settings.reinterpret.poi, "inits": [1.0], "bounds": [list(settings.reinterpret.poi_bounds)]}


def limits(background: dict[str, Any], patch: list[dict[str, Any]], name: str, poi_bounds: tuple[float, float]) -> dict[str, Any]:
    """CLs (observed, 5 expected) at mu = 1 and the 95 % CL upper limits with the statistical
    choices of `pyhf cls`, by the scan's compiled engine (checked against pyhf in its tests)."""
    from agcflow.scan.engine import evaluate_points

    # three decades below the upper bound first; a limit below them (a strong signal) is looked
    # for further down, as far as the lower bound allows
    for top in poi_bounds[1] * np.array([1.0, 1e-3, 1e-6]):
        scan = np.geomspace(max(poi_bounds[0], 1e-3 * top), top, 41)
        [(_, record)] = evaluate_points(background, [SignalPoint(name, (), patch, "patch")], "jax", True, scan)
        if record["status"] != "ok":
            raise AgcflowError(f"{name}: the hypothesis test failed: {record['error']}")
        if np.isfinite(record["upper_limit_obs"]) and np.all(np.isfinite(record["upper_limit_exp"])):
            break
        if scan[0] <= poi_bounds[0]:
            break
    if not np.isfinite(record["upper_limit_obs"]):
        raise AgcflowError(f"{name}: no upper limit within reinterpret.poi_bounds = {list(poi_bounds)}; widen them")
    return {key: record[key] for key in ("CLs_obs", "CLs_exp", "upper_limit_obs", "upper_limit_exp", "fit_time")}


def run(
    settings: Settings, signal: SignalSettings, fileset: Path, background_workspace: Path, output_dir: Path, client,
) -> dict[str, Any]:
    """Reinterpret one signal by patching the preserved ``background_workspace``; write the
    pallet (``BkgOnly.json`` + ``patchset.json``) and ``result.json`` as a set under
    ``output_dir`` once everything is computed. Background inputs are never read."""
    start, started = time.perf_counter(), provenance.now()
    check_writable(output_dir)
    background = load_background(background_workspace)
    hists = signal_histograms(settings, signal, fileset, client)
    patch = signal_patch(background, hists, settings, signal, background_workspace)
    values = tuple(float(v) for v in signal.parameters.values())
    result = {"signal": signal.name, "label": signal.label, "xsec_pb": signal.xsec_pb,
              "parameters": dict(signal.parameters), "mass": signal.parameters.get("mass"),
              "poi": settings.reinterpret.poi,
              "observed": "data" if settings.analysis.data_sample is not None else "pseudodata",
              "background_workspace": str(background_workspace),
              **limits(background, patch, signal.name, settings.reinterpret.poi_bounds)}
    result["wall_s"] = time.perf_counter() - start
    result["provenance"] = provenance.block(settings.digest, provenance.digest_files([background_workspace, fileset]),
                                            started, result["wall_s"], {"cluster": settings.cluster.kind})
    point = SignalPoint(signal.name, values, patch, str(output_dir))
    write_outputs(output_dir, background, point, result)
    log.info("%s: CLs_obs %.3g, upper limit %.3g (expected %.3g)", signal.name, result["CLs_obs"],
             result["upper_limit_obs"], result["upper_limit_exp"][2])
    return result


def write_outputs(output_dir: Path, background: dict[str, Any], point: SignalPoint, result: dict[str, Any]) -> None:
    """The pallet and ``result.json`` as one set (``io.atomic_set``); a ``patch.json`` of an
    older version is removed, being no longer current."""
    with atomic_set(output_dir, replaces=[output_dir / "patch.json"]) as staging:
        labels = list(result["parameters"]) or ["signal"]
        write_pallet(staging[output_dir], background, [point], labels, PALLET_DESCRIPTION,
                     HEPDATA_PLACEHOLDER, name=point.name)
        write_json(staging[output_dir] / RESULT, result)


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


def poi_label(name: str) -> str:
    """A POI name as the plot writes it: ``mu_G`` -> $\\mu_{G}$, ``mu`` -> $\\mu$; other names as they are."""
    match = re.fullmatch(r"mu(?:_(\w+))?", name)
    if match is None:
        return name
    if not match.group(1):
        return r"$\mu$"
    subscript = match.group(1).replace("_", r"\_")
    return rf"$\mu_{{\mathrm{{{subscript}}}}}$"


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
    observed = [r["upper_limit_obs"] for r in results]
    ax.plot(mass, observed, "ko-", label=f"observed ({results[0].get('observed', 'pseudodata')})")
    poi = poi_label(results[0].get("poi", "mu_sig"))
    ax.axhline(1.0, color="red", lw=1, label=f"{poi} = 1")
    if max(*observed, *expected[:, 4]) > 20 * min(*observed, *expected[:, 0]):
        ax.set_yscale("log")
    ax.set_xlabel("signal mass [GeV]")
    ax.set_ylabel(f"95 % CL upper limit on {poi}")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path
