"""The frozen, typed settings a configuration file becomes, one dataclass per section.

Each field is named after its key in the file and typed as the stages use it; the generic
converter (:func:`agcflow.config.convert.build`) fills them from the validated mapping. The few
fields read otherwise say so in their metadata (:func:`agcflow.config.convert.spec`).

What a key means and its default are the schema's (``schema/config.schema.json``): a field of an
optional key takes its default from there (:func:`schema_default`), so that settings made in
code (``ClusterSettings(workers=2)``) have the defaults a configuration file gets.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agcflow.config import stage_settings
from agcflow.config.convert import Default, spec, typed_defaults
from agcflow.config.schemas import default
from agcflow.errors import ConfigError


def schema_default(key: str) -> Any:
    """The schema's default of the dotted ``key`` (:func:`agcflow.config.schemas.default`) as a
    field default, made the field's type by :func:`~agcflow.config.convert.typed_defaults`."""
    return Default(default(key))


@dataclass(frozen=True)
@typed_defaults
class Sample:
    """A sample of ``analysis.samples`` (its key is the name)."""

    name: str
    label: str
    xsec_pb: float | None = schema_default("analysis.samples.*.xsec_pb")
    variations: tuple[str, ...] = schema_default("analysis.samples.*.variations")
    data: bool = schema_default("analysis.samples.*.data")
    group: str | None = schema_default("analysis.samples.*.group")
    sum_weights: float | None = schema_default("analysis.samples.*.sum_weights")
    filter_efficiency: float | None = schema_default("analysis.samples.*.filter_efficiency")

    @property
    def fit_sample(self) -> str:
        """The name of the fit sample it is summed into: its group, or itself."""
        return self.group or self.name


@dataclass(frozen=True)
@typed_defaults
class Region:
    """A region: its histogram of ``observable``; ``selection`` holds the plugin's keys."""

    name: str
    label: str
    observable: str
    axis_label: str = field(metadata=spec(default_from="observable"))
    fit_edges: tuple[float, ...] | None = schema_default("analysis.regions.*.fit_edges")
    selection: dict[str, Any] = field(default_factory=dict, hash=False, metadata=spec(rest=True))


@dataclass(frozen=True)
@typed_defaults
class Systematic:
    """A systematic uncertainty: up/down templates or a normalization, on some or all samples."""

    name: str
    label: str
    samples: tuple[str, ...] | None = schema_default("analysis.systematics.*.samples")
    up: str | None = schema_default("analysis.systematics.*.up")
    down: str | None = schema_default("analysis.systematics.*.down")
    symmetrize: bool = schema_default("analysis.systematics.*.symmetrize")
    normalization: float | None = schema_default("analysis.systematics.*.normalization")


@dataclass(frozen=True)
@typed_defaults
class HistogramAxis:
    """The regular binning of every region's histogram."""

    bins: int
    low: float
    high: float


@dataclass(frozen=True)
@typed_defaults
class AnalysisSettings:
    """The ``analysis`` block: generic keys typed here, the plugin's own in ``options``."""

    name: str
    tree: str
    lumi_pb: float
    samples: tuple[Sample, ...] = field(metadata=spec(keyed="name"))
    regions: tuple[Region, ...] = field(metadata=spec(keyed="name"))
    histogram: HistogramAxis
    systematics: tuple[Systematic, ...]
    # absent (pseudodata: null): the data sample is the fit's data
    pseudodata_average: tuple[str, ...] = field(default=(), metadata=spec(key="pseudodata.average"))
    pseudodata_add: tuple[str, ...] = field(default=(), metadata=spec(key="pseudodata.add"))
    kind: str = schema_default("analysis.kind")
    # the plugin's typed settings (Analysis.options) and the agcflow.analyses.base.Analysis itself
    options: Any = field(default=None, compare=False, metadata=spec(given=True))
    plugin: Any = field(default=None, compare=False, repr=False, metadata=spec(given=True))

    def sample(self, name: str) -> Sample:
        """The sample called ``name``.

        Raises:
            KeyError: There is no such sample.
        """
        for sample in self.samples:
            if sample.name == name:
                return sample
        raise KeyError(name)

    @property
    def data_sample(self) -> Sample | None:
        """The recorded-data sample (the fit's observation), or None (pseudodata)."""
        return next((s for s in self.samples if s.data), None)

    @property
    def simulated(self) -> tuple[Sample, ...]:
        """The simulated samples (every one but the data sample)."""
        return tuple(s for s in self.samples if not s.data)

    def with_signal(self, signal: SignalSettings) -> AnalysisSettings:
        """The analysis with ``signal`` as one more sample (systematics for all samples apply)."""
        sample = Sample(signal.name, signal.label, signal.xsec_pb, filter_efficiency=signal.filter_efficiency)
        return dataclasses.replace(self, samples=(*self.samples, sample))

    def fit_samples(self) -> dict[str, tuple[Sample, ...]]:
        """The fit's samples in order of first appearance: name -> the simulated samples summed into it."""
        groups: dict[str, tuple[Sample, ...]] = {}
        for sample in self.simulated:
            groups[sample.fit_sample] = (*groups.get(sample.fit_sample, ()), sample)
        return groups


@dataclass(frozen=True)
@typed_defaults
class GenerateSettings:
    """``inputs.generate``: the synthetic dataset the generate stage writes."""

    directory: Path = schema_default("inputs.generate.directory")
    files_per_sample: int = schema_default("inputs.generate.files_per_sample")
    seed: int = schema_default("inputs.generate.seed")
    scale: float = schema_default("inputs.generate.scale")
    events: tuple[tuple[str, int], ...] | None = schema_default("inputs.generate.events")  # sorted by key


@dataclass(frozen=True)
@typed_defaults
class InputSettings:
    """``inputs``: where the input files come from."""

    source: str
    files_per_sample: int = schema_default("inputs.files_per_sample")
    generate: GenerateSettings = schema_default("inputs.generate")
    fileset: Path | None = schema_default("inputs.fileset")
    agc_list: Path | None = schema_default("inputs.agc_list")


@dataclass(frozen=True)
@typed_defaults
class ServiceXSettings:
    """Where the servicex backend sends its request. The endpoint URL and token stay in the
    user's servicex.yaml outside the repository; only the endpoint's name is configured here."""

    endpoint: str | None = schema_default("delivery.servicex.endpoint")
    config: Path | None = schema_default("delivery.servicex.config")
    connect_timeout_s: float = schema_default("delivery.servicex.connect_timeout_s")
    ignore_cache: bool = schema_default("delivery.servicex.ignore_cache")


@dataclass(frozen=True)
@typed_defaults
class GatewaySettings:
    """A Dask cluster from a dask-gateway server (coffea-casa, the Elastic Analysis Facility, ...).
    Values left None come from the Dask config's ``gateway.*`` keys, as facilities set them."""

    address: str | None = schema_default("cluster.gateway.address")
    proxy_address: str | None = schema_default("cluster.gateway.proxy_address")
    auth: str | None = schema_default("cluster.gateway.auth")
    username: str | None = schema_default("cluster.gateway.username")
    password_env: str = schema_default("cluster.gateway.password_env")
    options: tuple[tuple[str, Any], ...] = schema_default("cluster.gateway.options")  # sorted by key


@dataclass(frozen=True)
@typed_defaults
class TlsSettings:
    """Client certificates for a ``tls://`` scheduler address (files in PEM)."""

    ca_file: str | None = schema_default("cluster.tls.ca_file")
    cert: str | None = schema_default("cluster.tls.cert")
    key: str | None = schema_default("cluster.tls.key")


@dataclass(frozen=True)
@typed_defaults
class DeliverySettings:
    """``delivery``: how the input columns reach the cache, and the loose preselection."""

    backend: str = "local"  # required in a configuration file
    cache_dir: Path = schema_default("delivery.cache_dir")
    # the plugin's typed loose preselection (Analysis.preselection)
    preselection: Any = field(default=None, metadata=spec(given=True))
    servicex: ServiceXSettings = schema_default("delivery.servicex")


@dataclass(frozen=True)
@typed_defaults
class ClusterSettings:
    """``cluster``: the Dask cluster a stage computes on."""

    kind: str = "local"  # required in a configuration file
    workers: int = schema_default("cluster.workers")
    threads_per_worker: int = schema_default("cluster.threads_per_worker")
    address: str | None = schema_default("cluster.address")
    worker_env: tuple[tuple[str, str], ...] = schema_default("cluster.worker_env")
    startup_timeout_s: float = schema_default("cluster.startup_timeout_s")
    shutdown_timeout_s: float = schema_default("cluster.shutdown_timeout_s")
    dashboard: str | None = schema_default("cluster.dashboard")
    # Batch kinds (slurm, htcondor; dask-jobqueue): one worker per job with threads_per_worker cores.
    # A batch setting left None (or empty) is not passed on, so the site's jobqueue.yaml applies.
    queue: str | None = schema_default("cluster.queue")
    account: str | None = schema_default("cluster.account")
    memory: str | None = schema_default("cluster.memory")
    walltime: str | None = schema_default("cluster.walltime")
    disk: str | None = schema_default("cluster.disk")
    job_extra_directives: tuple[str, ...] = schema_default("cluster.job_extra_directives")
    job_script_prologue: tuple[str, ...] = schema_default("cluster.job_script_prologue")
    minimum_workers: int | None = schema_default("cluster.minimum_workers")
    worker_lifetime: str | None = schema_default("cluster.worker_lifetime")
    worker_lifetime_stagger: str = schema_default("cluster.worker_lifetime_stagger")
    worker_lifetime_restart: bool = schema_default("cluster.worker_lifetime_restart")
    allowed_failures: int = schema_default("cluster.allowed_failures")
    gateway: GatewaySettings = schema_default("cluster.gateway")
    tls: TlsSettings = schema_default("cluster.tls")
    log_directory: str | None = schema_default("cluster.log_directory")
    interface: str | None = schema_default("cluster.interface")

    def __post_init__(self) -> None:
        object.__setattr__(self, "job_extra_directives", tuple(self.job_extra_directives))
        object.__setattr__(self, "job_script_prologue", tuple(self.job_script_prologue))

    @property
    def n_workers(self) -> int:
        """Workers to start: the configured number, or one per core when 0."""
        return self.workers or (os.cpu_count() or 1)


@dataclass(frozen=True)
@typed_defaults
class ProcessingSettings:
    """``processing``: how the events are processed (chunks, bad files, the random seed)."""

    chunk_size: int = schema_default("processing.chunk_size")
    skip_bad_files: bool = schema_default("processing.skip_bad_files")
    seed: int = schema_default("processing.seed")


@dataclass(frozen=True)
@typed_defaults
class FitSettings:
    """``fit``: the statistical model's fit and its binning."""

    backend: str = schema_default("fit.backend")
    device: str = schema_default("fit.device")
    poi: str = schema_default("fit.poi")
    poi_bounds: tuple[float, float] = schema_default("fit.poi_bounds")
    fit_edges: tuple[float, ...] = schema_default("fit.fit_edges")
    ranking: bool = schema_default("fit.ranking")
    ranking_engine: str = schema_default("fit.ranking_engine")
    hypothesis_tests: bool = schema_default("fit.hypothesis_tests")

    def region_edges(self, region: Region) -> tuple[float, ...]:
        """A region's bin edges in the fit: its own (``analysis.regions.*.fit_edges``) or ``fit_edges``."""
        return region.fit_edges or self.fit_edges


@dataclass(frozen=True)
@typed_defaults
class SignalSettings:
    """A signal hypothesis of ``reinterpret.signals`` (its label defaults to its name)."""

    name: str
    label: str = field(metadata=spec(default_from="name"))
    xsec_pb: float
    parameters: dict[str, float] = field(default_factory=dict, hash=False)  # e.g. {"mass": 750.0}
    filter_efficiency: float | None = schema_default("reinterpret.signals.*.filter_efficiency")


@dataclass(frozen=True)
@typed_defaults
class SignalFamily:
    """A continuous signal family of ``reinterpret.families``: a grid over the generator's
    parameters and a cross section that scales with them."""

    name: str
    label: str = field(metadata=spec(default_from="name"))
    parameters: dict[str, tuple[float, float, float]] = field(hash=False)  # [first, last, step] each
    xsec_pb: float
    reference: dict[str, float] = field(hash=False)
    xsec_scaling: dict[str, float] = field(default_factory=dict, hash=False)

    def axes(self) -> dict[str, np.ndarray]:
        """Each parameter's grid values, first to last inclusive."""
        return {name: np.round(np.arange(first, last + step / 2, step), 10)
                for name, (first, last, step) in self.parameters.items()}

    def xsec(self, point: dict[str, float]) -> float:
        """The cross section in pb at ``point``."""
        return self.xsec_pb * float(np.prod([(point[p] / self.reference[p]) ** power
                                             for p, power in self.xsec_scaling.items()]))


@dataclass(frozen=True)
@typed_defaults
class ReinterpretSettings:
    """``reinterpret``: new signals through the same chain, the backgrounds untouched."""

    poi: str = schema_default("reinterpret.poi")
    poi_bounds: tuple[float, float] = schema_default("reinterpret.poi_bounds")
    directory: Path = schema_default("reinterpret.directory")
    events: int = schema_default("reinterpret.events")
    signals: tuple[SignalSettings, ...] = schema_default("reinterpret.signals")
    families: tuple[SignalFamily, ...] = schema_default("reinterpret.families")

    def family(self, name: str) -> SignalFamily:
        """The family called ``name``; an unknown name lists the configured ones."""
        for family in self.families:
            if family.name == name:
                return family
        raise ConfigError(f"reinterpret.families: no family {name!r}; configured: "
                          f"{[f.name for f in self.families] or 'none (add one to reinterpret.families)'}")

    def signal_directory(self, name: str) -> Path:
        """The folder of the generated sample of the signal called ``name``."""
        return self.directory / name

    def signal(self, name: str) -> SignalSettings:
        """The configured signal called ``name``.

        Raises:
            ConfigError: No signal of ``reinterpret.signals`` has that name (the error lists them).
        """
        for signal in self.signals:
            if signal.name == name:
                return signal
        raise ConfigError(f"signal {name!r} is not in reinterpret.signals; configured: {[s.name for s in self.signals]}")


@dataclass(frozen=True)
@typed_defaults
class BenchmarkSettings:
    """The facility sweep of ``agcflow bench facility``: every combination, one fresh cluster each."""

    facility: str | None = schema_default("benchmark.facility")
    workers: tuple[int, ...] = schema_default("benchmark.workers")
    chunk_sizes: tuple[int, ...] = schema_default("benchmark.chunk_sizes")
    files_per_sample: tuple[int, ...] = schema_default("benchmark.files_per_sample")
    repeats: int = schema_default("benchmark.repeats")
    delivery: str = schema_default("benchmark.delivery")


@dataclass(frozen=True)
@typed_defaults
class Settings:
    """A whole configuration, validated and typed; ``raw`` keeps the validated mapping with the
    workflow schema's defaults filled in, as the Snakefile has it (the digests are of it)."""

    source: Path = field(metadata=spec(given=True))
    digest: str = field(metadata=spec(given=True))
    analysis: AnalysisSettings
    inputs: InputSettings
    delivery: DeliverySettings
    cluster: ClusterSettings
    processing: ProcessingSettings
    fit: FitSettings
    results_dir: Path = field(metadata=spec(key="outputs.results_dir"))
    reinterpret: ReinterpretSettings = schema_default("reinterpret")
    benchmark: BenchmarkSettings = schema_default("benchmark")
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=spec(given=True))

    def stage_record(self, stage: str) -> dict[str, Any]:
        """The settings ``stage``'s results depend on, with their digest (agcflow.config.stage_settings)."""
        return stage_settings.record(self.raw, stage)
