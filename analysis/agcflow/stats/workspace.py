"""The statistical model: cabinetry configuration -> templates -> pyhf workspace.

The fit binning is applied by cabinetry itself: every region carries its ``Binning``
(the fit edges), and a template builder registered on cabinetry's router reads each
histogram from the hand-off ROOT file and slices/rebins it to that ``Binning``.
(cabinetry 0.6 only uses ``Binning`` when building templates from ntuples; its histogram
``collect`` step copies histograms as they are.)
"""

from __future__ import annotations

import copy
import functools
import logging
from pathlib import Path
from typing import Any

import boost_histogram as bh

from agcflow.config import AnalysisSettings, FitSettings, Sample, Systematic
from agcflow.errors import AgcflowError, InputFileError
from agcflow.processing.histograms import load_root
from agcflow.util.io import read_json, write_json

log = logging.getLogger(__name__)

DATA_SAMPLE = "Pseudodata"
DATA_PATH = "pseudodata"


def cabinetry_config(
    histograms: Path,
    analysis: AnalysisSettings,
    fit: FitSettings,
    histogram_folder: Path = Path("histograms"),
) -> dict[str, Any]:
    """The validated cabinetry configuration of the fit; templates go to ``histogram_folder``."""
    import cabinetry
    import jsonschema

    plugin = analysis.plugin
    fit_samples = analysis.fit_samples()
    if plugin.poi_sample not in fit_samples:
        raise AgcflowError(f"analysis.samples: the fit needs a {plugin.poi_sample!r} sample or group for {fit.poi} "
                           f"(the sample analysis {plugin.name} scales by the POI); fit samples: {sorted(fit_samples)}")
    config = {
        "General": {
            "Measurement": plugin.measurement,
            "POI": fit.poi,
            "InputPath": f"{histograms}:{{RegionPath}}_{{SamplePath}}{{VariationPath}}",
            "VariationPath": "",
            "HistogramFolder": str(histogram_folder),
        },
        "Regions": [
            {
                "Name": region.label,
                "RegionPath": region.name,
                "Variable": region.axis_label,
                "Binning": list(fit.region_edges(region)),
            }
            for region in analysis.regions
        ],
        "Samples": [
            data_entry(analysis),
            *({"Name": members[0].label, "SamplePath": sample_path(members)} for members in fit_samples.values()),
        ],
        "NormFactors": [
            {
                "Name": fit.poi,
                "Samples": fit_samples[plugin.poi_sample][0].label,
                "Nominal": 1.0,
                "Bounds": list(fit.poi_bounds),
            }
        ],
        "Systematics": [_systematic(s, analysis, fit_labels(fit_samples)) for s in analysis.systematics],
    }
    try:
        cabinetry.configuration.validate(config)
    except (jsonschema.ValidationError, ValueError, NotImplementedError) as err:
        raise AgcflowError(f"cabinetry rejects the configuration derived from the settings: {err}") from err
    return config


def data_entry(analysis: AnalysisSettings) -> dict[str, Any]:
    """The cabinetry sample of the fit's data: the data sample, or the pseudodata histograms."""
    data = analysis.data_sample
    if data is not None:
        return {"Name": data.label, "SamplePath": data.name, "Data": True}
    return {"Name": DATA_SAMPLE, "SamplePath": DATA_PATH, "Data": True}


def sample_path(members: tuple[Sample, ...]) -> str | list[str]:
    """A fit sample's ``SamplePath``: one sample's name, or the names of a group's samples
    (their histograms are summed by :func:`rebinning_router`)."""
    return members[0].name if len(members) == 1 else [m.name for m in members]


def fit_labels(fit_samples: dict[str, tuple[Sample, ...]]) -> dict[str, str]:
    """Each simulated sample's fit sample label (a group's: its first sample's label)."""
    return {sample.name: members[0].label for members in fit_samples.values() for sample in members}


def _systematic(systematic: Systematic, analysis: AnalysisSettings, labels_of: dict[str, str]) -> dict[str, Any]:
    samples = systematic.samples or tuple(s.name for s in analysis.simulated)
    labels = [labels_of[name] for name in samples]
    entry: dict[str, Any] = {
        "Name": systematic.label,  # the modifier name, as in the AGC's workspace
        "Samples": list(dict.fromkeys(labels)),
    }
    if systematic.normalization is not None:
        return {
            **entry,
            "Type": "Normalization",
            "Up": {"Normalization": systematic.normalization},
            "Down": {"Normalization": -systematic.normalization},
        }
    if systematic.up is None:
        raise AgcflowError(f"systematic {systematic.name!r}: needs an 'up' variation or a 'normalization'")
    return {**entry, "Type": "NormPlusShape", "Up": _template(systematic.up), "Down": _down(systematic)}


def _down(systematic: Systematic) -> dict[str, Any]:
    if systematic.down is not None:
        return _template(systematic.down)
    if systematic.symmetrize:
        return {"Symmetrize": True}
    return {}  # one-sided: the nominal histogram is the down template


def _template(variation: str) -> dict[str, str]:
    return {"VariationPath": f"_{variation}"}


def build_workspace(
    histograms: Path, analysis: AnalysisSettings, fit: FitSettings, work_dir: Path,
    dropped: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Build the pyhf workspace from the hand-off ROOT file; templates are kept in ``work_dir``.
    ``dropped`` receives the bins :func:`drop_empty_bins` removed, per channel."""
    return workspace_from_config(cabinetry_config(histograms, analysis, fit, template_folder(work_dir)), dropped)


def figure_binnings(analysis: AnalysisSettings, fit: FitSettings,
                    dropped: dict[str, list[int]] | None = None) -> dict[str, list[float]]:
    """Each channel's bin edges for its figures: the region's fit edges without the bins
    ``dropped`` (as :func:`build_workspace` reports them); one edge more than the channel's bins."""
    binnings = {}
    for region in analysis.regions:
        edges = [float(edge) for edge in fit.region_edges(region)]
        binnings[region.label] = kept_edges(edges, (dropped or {}).get(region.label, []))
    return binnings


def kept_edges(edges: list[float], dropped: list[int]) -> list[float]:
    """The edges of the bins left when ``dropped`` (indices) are removed: each kept bin reaches
    up to the next kept one (an empty bin between two is drawn as part of the one below)."""
    removed = set(dropped)
    kept = [i for i in range(len(edges) - 1) if i not in removed]
    return [edges[i] for i in kept] + [edges[kept[-1] + 1]] if kept else []


def template_folder(work_dir: Path) -> Path:
    """Where cabinetry keeps the templates of a workspace built in ``work_dir``."""
    folder = Path(work_dir) / "histograms"
    folder.mkdir(parents=True, exist_ok=True)  # cabinetry creates one level only
    return folder


def workspace_from_config(config: dict[str, Any], dropped: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Templates (rebinned to each region's Binning), then the validated pyhf workspace;
    ``dropped`` receives the bins removed as empty, per channel."""
    import cabinetry

    cabinetry.templates.build(config, router=rebinning_router(config))
    cabinetry.templates.postprocess(config)
    ws = drop_empty_bins(drop_empty_samples(cabinetry.workspace.build(config, with_validation=False)), dropped)
    source = config["General"]["InputPath"].split(":")[0]
    check_workspace(ws, f"workspace built from {source}")
    log.info("built workspace: %d channels from %s", len(ws["channels"]), source)
    return ws


def drop_empty_samples(ws: dict[str, Any]) -> dict[str, Any]:
    """Remove samples with no expected events in a channel: their normalisation systematics
    would be 0/0 and they contribute nothing to the model."""
    for channel in ws["channels"]:
        empty = [s["name"] for s in channel["samples"] if not any(s["data"])]
        if empty:
            log.warning("channel %s: dropping samples with zero yield: %s", channel["name"], ", ".join(empty))
            channel["samples"] = [s for s in channel["samples"] if s["name"] not in empty]
    _check_normalisation_variations(ws)
    return ws


def drop_empty_bins(ws: dict[str, Any], dropped: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Remove bins that no sample populates and nothing is observed in (e.g. HT below four
    times a raised jet pt threshold): Poisson(0 | 0) carries no information, and its
    gradient is NaN in automatic differentiation. ``dropped`` receives the removed bins'
    indices per channel (a channel's figures need its remaining edges: :func:`kept_edges`)."""
    observed = {o["name"]: o for o in ws["observations"]}
    for channel in ws["channels"]:
        observation = observed[channel["name"]]
        keep = [i for i in range(len(observation["data"]))
                if observation["data"][i] or any(s["data"][i] for s in channel["samples"])]
        if len(keep) == len(observation["data"]):
            continue
        log.warning("channel %s: dropping %d bin(s) with no expected or observed events", channel["name"],
                    len(observation["data"]) - len(keep))
        if dropped is not None:
            kept = set(keep)
            dropped[channel["name"]] = [i for i in range(len(observation["data"])) if i not in kept]
        observation["data"] = [observation["data"][i] for i in keep]
        for sample in channel["samples"]:
            sample["data"] = [sample["data"][i] for i in keep]
            for modifier in sample["modifiers"]:
                modifier["data"] = _bins_kept(modifier["data"], keep)
    return ws


def _bins_kept(data: Any, keep: list[int]) -> Any:
    """A modifier's data restricted to the ``keep`` bins (per-bin lists only)."""
    if isinstance(data, list):
        return [data[i] for i in keep]
    if isinstance(data, dict) and "hi_data" in data:
        return {"hi_data": [data["hi_data"][i] for i in keep], "lo_data": [data["lo_data"][i] for i in keep]}
    return data


def _check_normalisation_variations(ws: dict[str, Any]) -> None:
    """A normalisation variation of zero (an empty varied template) has no log; say where."""
    for channel in ws["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                if modifier["type"] == "normsys" and not (modifier["data"]["hi"] > 0 and modifier["data"]["lo"] > 0):
                    raise AgcflowError(
                        f"channel {channel['name']!r}, sample {sample['name']!r}: systematic {modifier['name']!r} "
                        f"has a non-positive normalisation variation {_floats(modifier['data'])} (an empty varied "
                        "template); more simulated events or a coarser fit binning are needed"
                    )


def _floats(data: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in data.items()}


def rebinning_router(config: dict[str, Any]) -> Any:
    """A cabinetry router whose template builder reads each histogram of the config's
    ``InputPath`` and slices/rebins it to the region's ``Binning``."""
    import cabinetry
    from cabinetry.templates.collector import _histo_path

    general = config["General"]
    router = cabinetry.route.Router()
    read_file = functools.cache(load_root)

    @router.register_template_builder()
    def read_and_rebin(region: dict, sample: dict, systematic: dict, template: str | None) -> bh.Histogram:
        paths = sample["SamplePath"] if isinstance(sample["SamplePath"], list) else [sample["SamplePath"]]
        parts = [read_one(region, {**sample, "SamplePath": path}, systematic, template) for path in paths]
        return sum(parts[1:], parts[0])  # a group: its samples' histograms summed

    def read_one(region: dict, sample: dict, systematic: dict, template: str | None) -> bh.Histogram:
        path = _histo_path(general["InputPath"], general["VariationPath"], region, sample, systematic, template)
        file_name, _, key = path.rpartition(":")
        contents = read_file(file_name)
        if key not in contents:
            variation = f"{systematic['Name']} {template}" if template else "nominal"
            raise InputFileError(
                f"{file_name}: no histogram {key!r} (region {region['Name']!r}, "
                f"sample {sample['Name']!r}, {variation})"
            )
        return rebin(contents[key], region["Binning"], f"{file_name}:{key}")

    return router


def rebin(histogram: bh.Histogram, edges: list[float], name: str) -> bh.Histogram:
    """Cut ``histogram`` to ``edges[0]..edges[-1]`` and merge its bins into ``edges``."""
    try:
        cut = histogram[bh.loc(edges[0]) : bh.loc(edges[-1])]
        return cut[:: bh.rebin(edges=edges)]
    except ValueError as err:
        raise InputFileError(
            f"{name}: cannot rebin to the fit edges {list(edges)} ({err}); "
            f"histogram edges: {histogram.axes[0].edges.tolist()}"
        ) from err


def save_workspace(ws: dict[str, Any], path: Path) -> Path:
    """Write a workspace as JSON, atomically."""
    return write_json(path, ws)


def load_workspace(path: Path) -> dict[str, Any]:
    """Read a workspace JSON; check it against pyhf's schema and that its model builds."""
    ws = read_json(path)
    check_workspace(ws, str(path))
    return ws


def check_workspace(ws: Any, source: str, background_only: bool = False) -> None:
    """Check ``ws`` against pyhf's schema, build its model and match observations to bins;
    errors name ``source``. A ``background_only`` workspace may name a POI that only its
    signal patches add."""
    import pyhf

    if not isinstance(ws, dict):
        raise InputFileError(f"{source}: expected a pyhf workspace (a JSON object), got {type(ws).__name__}")
    invalid = (
        pyhf.exceptions.InvalidSpecification,
        pyhf.exceptions.InvalidModel,
        pyhf.exceptions.InvalidMeasurement,
        pyhf.exceptions.InvalidModifier,
    )
    try:
        workspace = pyhf.Workspace(ws)
        model = workspace.model(poi_name=None) if background_only else workspace.model()
    except invalid as err:
        raise InputFileError(f"{source}: not a valid pyhf workspace ({err})") from err
    for channel, bins in model.config.channel_nbins.items():
        observed = len(workspace.observations.get(channel, []))
        if observed != bins:
            raise InputFileError(
                f"{source}: channel {channel!r} has {bins} bins but {observed} observed values"
            )


def asimov_closure_workspace(ws: dict[str, Any], poi_value: float) -> dict[str, Any]:
    """A copy of ``ws`` observing the model's nominal expectation with the POI at ``poi_value``
    (other parameters at their nominal values; auxiliary data not included)."""
    import cabinetry

    model, _ = cabinetry.model_utils.model_and_data(ws)
    expected = cabinetry.model_utils.asimov_data(model, poi_value=poi_value, include_auxdata=False)
    observed = {ch: expected[model.config.channel_slices[ch]] for ch in model.config.channels}
    closure = copy.deepcopy(ws)
    for observation in closure["observations"]:
        observation["data"] = list(observed[observation["name"]])
    return closure
