"""Semantic checks of built settings: what a JSON schema cannot say (names that must refer to
samples, histograms and variations, bin edges, bounds, keys one choice requires)."""

from __future__ import annotations

import math
from pathlib import Path

from agcflow.config.enums import address_problem
from agcflow.config.settings import AnalysisSettings, HistogramAxis, Settings
from agcflow.errors import ConfigError


def check_semantics(settings: Settings, source: Path) -> None:
    """Raise on every semantic problem of ``settings`` at once.

    Args:
        settings: The settings built from a schema-valid configuration.
        source: The configuration file, named in the error.

    Raises:
        ConfigError: One line per problem, each naming its key and what is valid.
    """
    problems = [*analysis_problems(settings.analysis), *run_problems(settings)]
    if problems:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def analysis_problems(analysis: AnalysisSettings) -> list[str]:
    """Problems of the ``analysis`` block: binning, pseudodata, systematics, the plugin's own."""
    problems = []
    simulated = [s.name for s in analysis.simulated]
    axis = analysis.histogram
    if axis.high <= axis.low:
        problems.append(f"analysis.histogram: high = {axis.high} must exceed low = {axis.low}")
    suffixes = sorted(f"{s.name}_{v}" if v != "nominal" else s.name for s in analysis.samples for v in s.variations)
    for part in ("average", "add"):
        for key in getattr(analysis, f"pseudodata_{part}"):
            if key not in suffixes:
                problems.append(f"analysis.pseudodata.{part}: {key!r} is not a sample histogram; valid: {suffixes}")
    problems.extend(sample_problems(analysis))
    problems.extend(analysis.plugin.problems(analysis))
    problems.extend(variation_problems(analysis))
    for i, syst in enumerate(analysis.systematics):
        for sample in syst.samples or ():
            if sample not in simulated:
                problems.append(f"analysis.systematics[{i}].samples: {sample!r} is not a simulated sample; valid: {simulated}")
        problems.extend(_partial_groups(analysis, i, syst.samples))
    return problems


def _partial_groups(analysis: AnalysisSettings, index: int, samples: tuple[str, ...] | None) -> list[str]:
    """A systematic applies to whole fit samples: every sample of a group or none."""
    named = set(samples or ())
    problems = []
    for group, members in analysis.fit_samples().items():
        names = {m.name for m in members}
        if samples is not None and named & names and not names <= named:
            problems.append(f"analysis.systematics[{index}].samples: names {sorted(named & names)} of group {group!r} "
                            f"but not {sorted(names - named)}; a systematic applies to every sample of a group or to none")
    return problems


def sample_problems(analysis: AnalysisSettings) -> list[str]:
    """The fit's data (one data sample or pseudodata, not both), cross sections of simulated
    samples, groups of one kind."""
    data = [s.name for s in analysis.samples if s.data]
    problems = []
    if len(data) > 1:
        problems.append(f"analysis.samples: {len(data)} samples have data: true ({data}); at most one is the fit's data")
    if data and analysis.pseudodata_average:
        problems.append(f"analysis.pseudodata: set, but samples.{data[0]} is data (data: true); keep one of them "
                        "as the fit's data (pseudodata: null uses the data sample)")
    if not data and not analysis.pseudodata_average:
        problems.append("analysis: the fit has no data: mark the data sample (samples.<name>.data: true) or set "
                        "analysis.pseudodata {average: [...], add: [...]}")
    for sample in analysis.samples:
        key = f"analysis.samples.{sample.name}"
        if sample.data and (sample.group or sample.variations != ("nominal",)):
            problems.append(f"{key}: a data sample has no group and no variations (got group {sample.group!r}, "
                            f"variations {list(sample.variations)})")
        if not sample.data and sample.xsec_pb is None:
            problems.append(f"{key}.xsec_pb: required for a simulated sample (data: false)")
    names = {s.name for s in analysis.samples}
    for sample in analysis.simulated:
        group = sample.group
        if group and group in names and analysis.sample(group).fit_sample != group:
            problems.append(f"analysis.samples.{sample.name}.group: {group!r} is another sample's name; rename the group")
    return problems


def variation_problems(analysis: AnalysisSettings) -> list[str]:
    """Every systematic template names a histogram that will exist: a sample variation or a
    variation of the plugin's registry filled for each of its samples."""
    registry = {v.name: v for v in analysis.plugin.variations(analysis)}
    problems = []
    for i, syst in enumerate(analysis.systematics):
        for template in (syst.up, syst.down):
            if template is None:
                continue
            known = {s.name for s in analysis.simulated}
            samples = [name for name in syst.samples or known if name in known]
            missing = [name for name in samples if template not in analysis.sample(name).variations
                       and not (template in registry and registry[template].applies_to(name))]
            if missing:
                problems.append(
                    f"analysis.systematics[{i}] ({syst.name}): no histogram {template!r} for samples {missing}; "
                    f"valid: their sample variations or the analysis' variations {sorted(registry)}")
    return problems


def run_problems(settings: Settings) -> list[str]:
    """Problems of how the analysis runs: the cluster address, the inputs, the fit's edges and bounds."""
    problems = []
    if settings.cluster.kind == "address" and not settings.cluster.address:
        problems.append("cluster.address: required when cluster.kind = 'address' (e.g. tcp://host:8786)")
    elif settings.cluster.kind == "address":
        problems.append(address_problem(settings.cluster.address))
    tls = settings.cluster.tls
    if settings.cluster.kind == "address" and str(settings.cluster.address).startswith("tls://") \
            and not (tls.ca_file and tls.cert and tls.key):
        problems.append("cluster.tls: a tls:// cluster.address needs cluster.tls.ca_file, cert and key (PEM files)")
    inputs = settings.inputs
    if inputs.source == "fileset" and inputs.fileset is None:
        problems.append("inputs.fileset: required when inputs.source = 'fileset'")
    if inputs.source == "agc" and inputs.agc_list is None:
        problems.append("inputs.agc_list: required when inputs.source = 'agc'")
    problems.extend(fit_edge_problems(settings))
    problems.extend(bounds_problems(settings))
    problems.extend(family_problems(settings))
    return [problem for problem in problems if problem]


def fit_edge_problems(settings: Settings) -> list[str]:
    """``fit.fit_edges`` and each region's ``fit_edges`` must be strictly increasing edges of
    the histogram's bins."""
    axis = settings.analysis.histogram
    if axis.high <= axis.low:  # no bins to compare with; analysis_problems names the histogram
        return []
    problems = _edge_problems("fit.fit_edges", settings.fit.fit_edges, axis)
    for region in settings.analysis.regions:
        if region.fit_edges:
            problems += _edge_problems(f"analysis.regions.{region.name}.fit_edges", region.fit_edges, axis)
    return problems


def _edge_problems(key: str, edges: tuple[float, ...], axis: HistogramAxis) -> list[str]:
    width = (axis.high - axis.low) / axis.bins
    problems = []
    if list(edges) != sorted(set(edges)):
        problems.append(f"{key} = {list(edges)}: must be strictly increasing")
    for edge in edges:
        offset = (edge - axis.low) / width
        if not axis.low <= edge <= axis.high or abs(offset - round(offset)) > 1e-9:
            problems.append(
                f"{key}: {edge} is not a histogram bin edge "
                f"({axis.bins} bins from {axis.low} to {axis.high})"
            )
    return problems


def bounds_problems(settings: Settings) -> list[str]:
    """The fit's and the reinterpretation's POI bounds: finite, the lower below the upper."""
    problems = []
    for key, (lo, hi) in {"fit.poi_bounds": settings.fit.poi_bounds,
                          "reinterpret.poi_bounds": settings.reinterpret.poi_bounds}.items():
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            problems.append(f"{key} = {[lo, hi]}: expected finite bounds with the lower below the upper")
    return problems


def family_problems(settings: Settings) -> list[str]:
    """Each ``reinterpret.families`` entry: grids with a positive step, last >= first, a reference
    value for every scaled parameter, scaling only of grid parameters, names unique."""
    problems = []
    names = [family.name for family in settings.reinterpret.families]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"reinterpret.families: the name {name!r} is used {names.count(name)} times; names are folders")
    for family in settings.reinterpret.families:
        key = f"reinterpret.families.{family.name}"
        for parameter, (first, last, step) in family.parameters.items():
            if step <= 0 or last < first:
                problems.append(f"{key}.parameters.{parameter} = {[first, last, step]}: expected [first, last, step] "
                                "with step > 0 and last >= first")
        for parameter in family.xsec_scaling:
            if parameter not in family.parameters:
                problems.append(f"{key}.xsec_scaling.{parameter}: not a grid parameter; valid: {sorted(family.parameters)}")
            elif parameter not in family.reference:
                problems.append(f"{key}.reference: no value for {parameter!r}, which xsec_scaling scales with")
    return problems
