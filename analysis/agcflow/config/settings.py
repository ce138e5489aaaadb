"""The frozen, typed settings a configuration file becomes, one dataclass per section.

Each field is named after its key in the file and typed as the stages use it; the generic
converter (:func:`agcflow.config.convert.build`) fills them from the validated mapping. The few
fields read otherwise say so in their metadata (:func:`agcflow.config.convert.spec`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agcflow.config import plugins, stage_settings
from agcflow.config.convert import spec


@dataclass(frozen=True)
class Sample:
    """A sample of ``analysis.samples`` (its key is the name)."""

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
    axis_label: str = field(metadata=spec(default_from="observable"))
    selection: dict[str, Any] = field(default_factory=dict, hash=False, metadata=spec(rest=True))


@dataclass(frozen=True)
class Systematic:
    """A systematic uncertainty: up/down templates or a normalization, on some or all samples."""

    name: str
    label: str
    samples: tuple[str, ...] | None = None  # None: every sample
    up: str | None = None
    down: str | None = None
    symmetrize: bool = False
    normalization: float | None = None


@dataclass(frozen=True)
class HistogramAxis:
    """The regular binning of every region's histogram."""

    bins: int
    low: float
    high: float


@dataclass(frozen=True)
class AnalysisSettings:
    """The ``analysis`` block: generic keys typed here, the plugin's own in ``options``."""

    name: str
    tree: str
    lumi_pb: float
    samples: tuple[Sample, ...] = field(metadata=spec(keyed="name"))
    regions: tuple[Region, ...] = field(metadata=spec(keyed="name"))
    histogram: HistogramAxis
    pseudodata_average: tuple[str, ...] = field(metadata=spec(key="pseudodata.average"))
    pseudodata_add: tuple[str, ...] = field(metadata=spec(key="pseudodata.add"))
    systematics: tuple[Systematic, ...]
    kind: str = plugins.DEFAULT_KIND
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


@dataclass(frozen=True)
class GenerateSettings:
    """``inputs.generate``: the synthetic dataset the generate stage writes."""

    directory: Path = Path("data/generated")
    files_per_sample: int = 4
    seed: int = 42
    scale: float = 1.0
    events: tuple[tuple[str, int], ...] | None = None  # (sample__variation, events), sorted


@dataclass(frozen=True)
class InputSettings:
    """``inputs``: where the input files come from."""

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
    """``delivery``: how the input columns reach the cache, and the loose preselection."""

    backend: str = "local"
    cache_dir: Path = Path("cache/delivery")
    # the plugin's typed loose preselection (Analysis.preselection)
    preselection: Any = field(default=None, metadata=spec(given=True))
    servicex: ServiceXSettings = field(default_factory=ServiceXSettings)


@dataclass(frozen=True)
class ClusterSettings:
    """``cluster``: the Dask cluster a stage computes on."""

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
    """``processing``: how the events are processed (chunks, bad files, the random seed)."""

    chunk_size: int = 200_000
    skip_bad_files: bool = False
    seed: int = 12345


@dataclass(frozen=True)
class FitSettings:
    """``fit``: the statistical model's fit and its binning."""

    backend: str = "numpy"
    device: str = "auto"
    poi: str = "ttbar_norm"
    poi_bounds: tuple[float, float] = (0.0, 10.0)
    fit_edges: tuple[float, ...] = tuple(float(edge) for edge in range(110, 551, 40))
    ranking: bool = True
    ranking_engine: str = "fast"  # fast: compiled Newton fits (cabinetry's where unsupported) | cabinetry


@dataclass(frozen=True)
class SignalSettings:
    """A signal hypothesis of ``reinterpret.signals`` (its label defaults to its name)."""

    name: str
    label: str = field(metadata=spec(default_from="name"))
    xsec_pb: float
    parameters: dict[str, float] = field(default_factory=dict, hash=False)  # e.g. {"mass": 750.0}


@dataclass(frozen=True)
class ReinterpretSettings:
    """``reinterpret``: new signals through the same chain, the backgrounds untouched."""

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
    """A whole configuration, validated and typed; ``raw`` keeps the validated mapping."""

    source: Path = field(metadata=spec(given=True))
    digest: str = field(metadata=spec(given=True))
    analysis: AnalysisSettings
    inputs: InputSettings
    delivery: DeliverySettings
    cluster: ClusterSettings
    processing: ProcessingSettings
    fit: FitSettings
    results_dir: Path = field(metadata=spec(key="outputs.results_dir"))
    reinterpret: ReinterpretSettings = field(default_factory=ReinterpretSettings)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=spec(given=True))

    def stage_record(self, stage: str) -> dict[str, Any]:
        """The settings ``stage``'s results depend on, with their digest (agcflow.config.stage_settings)."""
        return stage_settings.record(self.raw, stage)
