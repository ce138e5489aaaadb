"""Configuration: YAML -> JSON-schema validation -> semantic checks -> frozen settings.

The configuration is validated once, on entry; every stage then receives the typed settings
it needs. Errors name the file, the key path, the offending value and what is allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from agcflow.config import plugins, stage_settings
from agcflow.config.enums import SCHEMA_ENUMS, address_problem
from agcflow.config.source import read_yaml, set_dotted, validate_schema
from agcflow.errors import ConfigError


@dataclass(frozen=True)
class Sample:
    name: str
    label: str
    xsec_pb: float
    variations: tuple[str, ...] = ("nominal",)


@dataclass(frozen=True)
class Region:
    """A region: its histogram of ``observable``; ``selection`` holds the plugin's keys."""

    name: str
    label: str
    observable: str
    axis_label: str
    selection: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Systematic:
    name: str
    label: str
    samples: tuple[str, ...] | None  # None: every sample
    up: str | None = None
    down: str | None = None
    symmetrize: bool = False
    normalization: float | None = None


@dataclass(frozen=True)
class HistogramAxis:
    bins: int
    low: float
    high: float


@dataclass(frozen=True)
class AnalysisSettings:
    """The ``analysis`` block: generic keys typed here, the plugin's own in ``options``."""

    name: str
    tree: str
    lumi_pb: float
    samples: tuple[Sample, ...]
    regions: tuple[Region, ...]
    histogram: HistogramAxis
    pseudodata_average: tuple[str, ...]
    pseudodata_add: tuple[str, ...]
    systematics: tuple[Systematic, ...]
    kind: str = plugins.DEFAULT_KIND
    options: Any = field(default=None, compare=False)  # the plugin's typed settings (Analysis.options)
    plugin: Any = field(default=None, compare=False, repr=False)  # the agcflow.analyses.base.Analysis

    def sample(self, name: str) -> Sample:
        """Return the sample called ``name``."""
        for sample in self.samples:
            if sample.name == name:
                return sample
        raise KeyError(name)


@dataclass(frozen=True)
class GenerateSettings:
    directory: Path = Path("data/generated")
    files_per_sample: int = 4
    seed: int = 42
    scale: float = 1.0
    events: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class InputSettings:
    source: str
    files_per_sample: int = -1
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    fileset: Path | None = None
    agc_list: Path | None = None


@dataclass(frozen=True)
class ServiceXSettings:
    """Where the servicex backend sends its request. The endpoint URL and token stay in the
    user's servicex.yaml outside the repository; only the endpoint's name is configured here."""

    endpoint: str | None = None  # a name in servicex.yaml; None: its default-endpoint, else the first
    config: Path | None = None  # servicex.yaml; None: .servicex/servicex.yaml in . or a parent, then ~
    connect_timeout_s: float = 5.0  # the reachability probe before any request
    ignore_cache: bool = False  # re-run transforms the ServiceX client has cached


@dataclass(frozen=True)
class GatewaySettings:
    """A Dask cluster from a dask-gateway server (coffea-casa, the Elastic Analysis Facility, ...).
    Values left None come from the Dask config's ``gateway.*`` keys, as facilities set them."""

    address: str | None = None  # http(s) URL of the gateway; None: gateway.address
    proxy_address: str | None = None  # scheduler proxy; None: gateway.proxy-address or the address
    auth: str | None = None  # basic | kerberos | jupyterhub; None: gateway.auth.type
    username: str | None = None  # basic auth user (None: the login name)
    password_env: str = "DASK_GATEWAY_PASSWORD"  # environment variable holding the basic-auth password
    options: tuple[tuple[str, Any], ...] = ()  # cluster options (worker_cores, image, ...), as the server offers


@dataclass(frozen=True)
class TlsSettings:
    """Client certificates for a ``tls://`` scheduler address (files in PEM)."""

    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class DeliverySettings:
    backend: str = "local"
    cache_dir: Path = Path("cache/delivery")
    preselection: Any = None  # the plugin's typed loose preselection (Analysis.preselection)
    servicex: ServiceXSettings = field(default_factory=ServiceXSettings)


@dataclass(frozen=True)
class ClusterSettings:
    kind: str = "local"
    workers: int = 0
    threads_per_worker: int = 1
    address: str | None = None
    worker_env: tuple[tuple[str, str], ...] = (("MALLOC_TRIM_THRESHOLD_", "134217728"),)
    startup_timeout_s: float = 60.0
    shutdown_timeout_s: float = 30.0  # a slower or failing shutdown is logged, never fails the stage
    dashboard: str | None = ":0"  # the Dask dashboard's address (":0" = a free port); None: off
    # Batch kinds (slurm, htcondor; dask-jobqueue): one worker per job with threads_per_worker cores.
    # A batch setting left None (or empty) is not passed on, so the site's jobqueue.yaml applies.
    queue: str | None = None  # SLURM partition
    account: str | None = None  # SLURM account (#SBATCH -A)
    memory: str | None = None  # per worker job
    walltime: str | None = None  # SLURM
    disk: str | None = None  # HTCondor request_disk
    job_extra_directives: tuple[str, ...] = ()  # "#SBATCH" options / HTCondor "Key = value"
    job_script_prologue: tuple[str, ...] = ()  # shell lines before the worker starts, after the site's
    minimum_workers: int | None = None  # adapt(minimum, workers); None: minimum = workers
    worker_lifetime: str | None = None  # e.g. "55m", a few minutes below walltime; None: unlimited
    worker_lifetime_stagger: str = "4m"
    worker_lifetime_restart: bool = False
    allowed_failures: int = 3  # distributed.scheduler.allowed-failures (every kind)
    gateway: GatewaySettings = GatewaySettings()  # kind: gateway
    tls: TlsSettings = TlsSettings()  # kind: address with a tls:// scheduler
    log_directory: str | None = None  # batch job logs; None: the batch system's default
    interface: str | None = None  # network interface the workers reach the scheduler on, e.g. ib0

    def __post_init__(self) -> None:
        object.__setattr__(self, "job_extra_directives", tuple(self.job_extra_directives))
        object.__setattr__(self, "job_script_prologue", tuple(self.job_script_prologue))

    @property
    def n_workers(self) -> int:
        """Workers to start: the configured number, or one per core when 0."""
        return self.workers or (os.cpu_count() or 1)


@dataclass(frozen=True)
class ProcessingSettings:
    chunk_size: int = 200_000
    skip_bad_files: bool = False
    seed: int = 12345


@dataclass(frozen=True)
class FitSettings:
    backend: str = "numpy"
    device: str = "auto"
    poi: str = "ttbar_norm"
    poi_bounds: tuple[float, float] = (0.0, 10.0)
    fit_edges: tuple[float, ...] = tuple(range(110, 551, 40))
    ranking: bool = True
    ranking_engine: str = "fast"  # fast: compiled Newton fits (cabinetry's where unsupported) | cabinetry


@dataclass(frozen=True)
class SignalSettings:
    name: str
    label: str
    xsec_pb: float
    parameters: dict[str, float] = field(default_factory=dict, hash=False)  # e.g. {"mass": 750.0}


@dataclass(frozen=True)
class ReinterpretSettings:
    poi: str = "mu_sig"
    poi_bounds: tuple[float, float] = (0.0, 100.0)
    directory: Path = Path("data/signals")
    events: int = 20_000
    signals: tuple[SignalSettings, ...] = ()


@dataclass(frozen=True)
class BenchmarkSettings:
    """The facility sweep of ``agcflow bench facility``: every combination, one fresh cluster each."""

    facility: str | None = None  # the name recorded with each run; None: the host name
    workers: tuple[int, ...] = (1, 2)
    chunk_sizes: tuple[int, ...] = (50_000, 100_000, 200_000)
    files_per_sample: tuple[int, ...] = (-1,)  # first N input files of each sample (-1 = all)
    repeats: int = 1
    delivery: str = "cold"  # cold: into an empty cache per run (a real first pass); cached: delivery.cache_dir


@dataclass(frozen=True)
class Settings:
    source: Path
    digest: str
    analysis: AnalysisSettings
    inputs: InputSettings
    delivery: DeliverySettings
    cluster: ClusterSettings
    processing: ProcessingSettings
    fit: FitSettings
    results_dir: Path
    reinterpret: ReinterpretSettings = field(default_factory=ReinterpretSettings)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the validated mapping

    def stage_record(self, stage: str) -> dict[str, Any]:
        """The settings ``stage``'s results depend on, with their digest (agcflow.config.stage_settings)."""
        return stage_settings.record(self.raw, stage)


@cache
def base_schema() -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of a configuration file's generic keys."""
    text = resources.files("agcflow").joinpath("config/schema/config.schema.json").read_text()
    loaded = json.loads(text)
    for (section, key), choices in SCHEMA_ENUMS.items():
        loaded["properties"][section]["properties"][key]["enum"] = list(choices)
    return loaded


def schema(plugin: Any = None) -> dict[str, Any]:
    """The configuration's JSON schema with ``plugin``'s keys: its ``analysis`` and region
    properties, its observables and its ``delivery.preselection`` (default: the default plugin)."""
    plugin = plugin or plugins.load(plugins.DEFAULT_KIND)
    full = copy.deepcopy(base_schema())
    analysis = full["properties"]["analysis"]
    extra = plugin.options_schema()
    analysis["properties"].update(extra.get("properties", {}))
    analysis["required"] = [*analysis["required"], *extra.get("required", [])]
    region = full["$defs"]["region"]
    extra = plugin.region_schema()
    region["properties"].update(extra.get("properties", {}))
    region["required"] = [*region["required"], *extra.get("required", [])]
    region["properties"]["observable"] = {"enum": sorted(plugin.observables())}
    full["properties"]["delivery"]["properties"]["preselection"] = plugin.preselection_schema()
    return full


def workflow_schema() -> dict[str, Any]:
    """The schema the Snakefile validates a configuration with (``configs/schema/``): the
    generic keys, any plugin's keys allowed (the CLI validates them with the plugin's schema)."""
    full = copy.deepcopy(base_schema())
    full["properties"]["analysis"]["additionalProperties"] = True
    full["$defs"]["region"]["additionalProperties"] = True
    return full


def analysis_plugin(raw: dict[str, Any], source: Path) -> Any:
    """The plugin ``analysis.kind`` names (default ``cms_ttbar``), its errors naming the file."""
    analysis = raw.get("analysis")
    kind = analysis.get("kind", plugins.DEFAULT_KIND) if isinstance(analysis, dict) else plugins.DEFAULT_KIND
    if not isinstance(kind, str):
        raise ConfigError(f"{source}: analysis.kind = {kind!r}: expected a plugin name or package.module:OBJECT")
    try:
        return plugins.load(kind)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from err


def load(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> Settings:
    """Load, validate and freeze a configuration file; ``overrides`` are dotted keys."""
    source = Path(path)
    raw = read_yaml(source)
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    return from_dict(raw, source)


def from_dict(raw: dict[str, Any], source: Path = Path("<dict>")) -> Settings:
    """Validate a configuration mapping and build the frozen settings."""
    plugin = analysis_plugin(raw, source)
    validate_schema(raw, schema(plugin), source)
    unsafe = stage_settings.path_problems(raw)
    if unsafe:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(unsafe))
    settings = _build(raw, source, plugin)
    _check_semantics(settings, source)
    return settings


def _build(raw: dict[str, Any], source: Path, plugin: Any) -> Settings:
    return Settings(
        source=source,
        digest=hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:16],
        analysis=_build_analysis(raw["analysis"], plugin),
        inputs=_build_inputs(raw["inputs"]),
        delivery=_build_delivery(raw["delivery"], plugin),
        cluster=_build_cluster(raw["cluster"]),
        processing=ProcessingSettings(**raw.get("processing", {})),
        fit=_build_fit(raw.get("fit", {})),
        results_dir=Path(raw["outputs"]["results_dir"]),
        reinterpret=_build_reinterpret(raw.get("reinterpret", {})),
        benchmark=_build_benchmark(raw.get("benchmark", {})),
        raw=copy.deepcopy(raw),
    )


REGION_KEYS = ("label", "observable", "axis_label")


def _build_analysis(raw: dict[str, Any], plugin: Any) -> AnalysisSettings:
    return AnalysisSettings(
        name=raw["name"],
        tree=raw["tree"],
        lumi_pb=float(raw["lumi_pb"]),
        samples=tuple(
            Sample(name, s["label"], float(s["xsec_pb"]), tuple(s.get("variations", ["nominal"])))
            for name, s in raw["samples"].items()
        ),
        regions=tuple(
            Region(name, r["label"], r["observable"], r.get("axis_label", r["observable"]),
                   {k: v for k, v in r.items() if k not in REGION_KEYS})
            for name, r in raw["regions"].items()
        ),
        histogram=HistogramAxis(**raw["histogram"]),
        pseudodata_average=tuple(raw["pseudodata"]["average"]),
        pseudodata_add=tuple(raw["pseudodata"]["add"]),
        systematics=tuple(_build_systematic(s) for s in raw["systematics"]),
        kind=raw.get("kind", plugins.DEFAULT_KIND),
        options=plugin.options(raw),
        plugin=plugin,
    )


def _build_systematic(raw: dict[str, Any]) -> Systematic:
    samples = raw.get("samples")
    return Systematic(**{**raw, "samples": tuple(samples) if samples else None})


def _build_inputs(raw: dict[str, Any]) -> InputSettings:
    gen = dict(raw.get("generate") or {})
    if "directory" in gen:
        gen["directory"] = Path(gen["directory"])
    if "events" in gen:
        gen["events"] = tuple(sorted(gen["events"].items()))
    return InputSettings(
        source=raw["source"],
        files_per_sample=raw.get("files_per_sample", -1),
        generate=GenerateSettings(**gen),
        fileset=_optional_path(raw.get("fileset")),
        agc_list=_optional_path(raw.get("agc_list")),
    )


def _build_delivery(raw: dict[str, Any], plugin: Any) -> DeliverySettings:
    return DeliverySettings(
        backend=raw["backend"],
        cache_dir=Path(raw.get("cache_dir", "cache/delivery")),
        preselection=plugin.preselection(raw.get("preselection", {})),
        servicex=_build_servicex(raw.get("servicex", {})),
    )


def _build_servicex(raw: dict[str, Any]) -> ServiceXSettings:
    values = dict(raw)
    values["config"] = _optional_path(values.get("config"))
    return ServiceXSettings(**values)


def _build_cluster(raw: dict[str, Any]) -> ClusterSettings:
    values = dict(raw)
    if "worker_env" in values:
        values["worker_env"] = tuple(sorted(values["worker_env"].items()))
    if "gateway" in values:
        gateway = dict(values["gateway"])
        gateway["options"] = tuple(sorted((gateway.get("options") or {}).items()))
        values["gateway"] = GatewaySettings(**gateway)
    if "tls" in values:
        values["tls"] = TlsSettings(**values["tls"])
    return ClusterSettings(**values)


def _build_fit(raw: dict[str, Any]) -> FitSettings:
    values = dict(raw)
    if "poi_bounds" in values:
        values["poi_bounds"] = tuple(values["poi_bounds"])
    if "fit_edges" in values:
        values["fit_edges"] = tuple(float(x) for x in values["fit_edges"])
    return FitSettings(**values)


def _build_reinterpret(raw: dict[str, Any]) -> ReinterpretSettings:
    values = dict(raw)
    if "poi_bounds" in values:
        values["poi_bounds"] = tuple(values["poi_bounds"])
    if "directory" in values:
        values["directory"] = Path(values["directory"])
    values["signals"] = tuple(
        SignalSettings(s["name"], s.get("label", s["name"]), float(s["xsec_pb"]),
                       {k: float(v) for k, v in s["parameters"].items()})
        for s in values.get("signals", [])
    )
    return ReinterpretSettings(**values)


def _build_benchmark(raw: dict[str, Any]) -> BenchmarkSettings:
    values = dict(raw)
    for key in ("workers", "chunk_sizes", "files_per_sample"):
        if key in values:
            values[key] = tuple(values[key])
    return BenchmarkSettings(**values)


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _check_semantics(settings: Settings, source: Path) -> None:
    problems = [*_analysis_problems(settings.analysis), *_run_problems(settings)]
    if problems:
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(problems))


def _analysis_problems(analysis: AnalysisSettings) -> list[str]:
    problems = []
    names = [s.name for s in analysis.samples]
    axis = analysis.histogram
    if axis.high <= axis.low:
        problems.append(f"analysis.histogram: high = {axis.high} must exceed low = {axis.low}")
    suffixes = sorted(f"{s.name}_{v}" if v != "nominal" else s.name for s in analysis.samples for v in s.variations)
    for part in ("average", "add"):
        for key in getattr(analysis, f"pseudodata_{part}"):
            if key not in suffixes:
                problems.append(f"analysis.pseudodata.{part}: {key!r} is not a sample histogram; valid: {suffixes}")
    problems.extend(analysis.plugin.problems(analysis))
    problems.extend(_variation_problems(analysis))
    for i, syst in enumerate(analysis.systematics):
        for sample in syst.samples or ():
            if sample not in names:
                problems.append(f"analysis.systematics[{i}].samples: {sample!r} is not a sample; valid: {names}")
    return problems


def _variation_problems(analysis: AnalysisSettings) -> list[str]:
    """Every systematic template names a histogram that will exist: a sample variation or a
    variation of the plugin's registry filled for each of its samples."""
    registry = {v.name: v for v in analysis.plugin.variations(analysis)}
    problems = []
    for i, syst in enumerate(analysis.systematics):
        for template in (syst.up, syst.down):
            if template is None:
                continue
            known = {s.name for s in analysis.samples}
            samples = [name for name in syst.samples or known if name in known]
            missing = [name for name in samples if template not in analysis.sample(name).variations
                       and not (template in registry and registry[template].applies_to(name))]
            if missing:
                problems.append(
                    f"analysis.systematics[{i}] ({syst.name}): no histogram {template!r} for samples {missing}; "
                    f"valid: their sample variations or the analysis' variations {sorted(registry)}")
    return problems


def _run_problems(settings: Settings) -> list[str]:
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
    problems.extend(_fit_edge_problems(settings))
    problems.extend(_bounds_problems(settings))
    return [problem for problem in problems if problem]


def _fit_edge_problems(settings: Settings) -> list[str]:
    axis = settings.analysis.histogram
    width = (axis.high - axis.low) / axis.bins
    edges = settings.fit.fit_edges
    problems = []
    if list(edges) != sorted(set(edges)):
        problems.append(f"fit.fit_edges = {list(edges)}: must be strictly increasing")
    for edge in edges:
        offset = (edge - axis.low) / width
        if not axis.low <= edge <= axis.high or abs(offset - round(offset)) > 1e-9:
            problems.append(
                f"fit.fit_edges: {edge} is not a histogram bin edge "
                f"({axis.bins} bins from {axis.low} to {axis.high})"
            )
    return problems


def _bounds_problems(settings: Settings) -> list[str]:
    problems = []
    for key, (lo, hi) in {"fit.poi_bounds": settings.fit.poi_bounds,
                          "reinterpret.poi_bounds": settings.reinterpret.poi_bounds}.items():
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            problems.append(f"{key} = {[lo, hi]}: expected finite bounds with the lower below the upper")
    return problems
