"""The servicex delivery backend: the local backend's func_adl query, sent to a ServiceX endpoint
(servicex 3.x client, imported only here), one Sample per ``process__variation``.

Request construction is pure logic, and the checks of delivered files read local files only;
the network is touched by ``open_endpoint`` (a TCP probe with a short timeout: the client blocks
for minutes on an unreachable endpoint) and ``transform``. The endpoint URL and token stay in the
user's servicex.yaml: read to find the URL, never logged. Delivered files (tree ``servicex``, one
branch per selected column) become the same cached columns and per-sample NanoAOD-like skim as
local deliveries, so processing and cached passes read them unchanged.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from agcflow.analyses.base import DeliveryQuery
from agcflow.config import DeliverySettings, ServiceXSettings
from agcflow.delivery.local import (
    FileRecord,
    SampleSkim,
    cache_key,
    cached_record,
    merge_sample,
    store_record,
    write_columns,
)
from agcflow.delivery.remote import check_reachable
from agcflow.errors import BackendError, ConfigError, InputFileError, ServiceError
from agcflow.inputs.fileset import SampleFiles

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

OUTPUT_TREE = "servicex"  # the tree ServiceX's uproot transformer writes
CONFIG_NAMES = (".servicex", "servicex.yaml")  # searched like the client does
FILE_SCHEMES = ("root", "xroot", "https", "http")


@dataclass(frozen=True)
class SampleRequest:
    """One ServiceX Sample: a ``process__variation``, its inputs, and the local backend's query."""

    name: str
    dataset: str  # FileList | XRootD | Rucio
    inputs: tuple[str, ...]  # the file URLs; or the one XRootD pattern / Rucio DID
    query: str  # DeliveryQuery.func_adl_text()
    tree: str
    nevts_total: int  # input events the fileset declares: the sample's normalisation
    columns: tuple[str, ...] = ()  # the columns the query selects (ColumnLayout.selected_names)

    def qastle(self) -> str:
        """The query as the qastle text ServiceX's uproot code generator receives."""
        import qastle

        text = f"EventDataset('bogus.root', {self.tree!r})" + self.query
        return qastle.python_ast_to_text_ast(qastle.insert_linq_nodes(ast.parse(text)))

    @property
    def expected_files(self) -> int | None:
        """Output files to expect (one per input file); None where ServiceX expands the inputs."""
        return len(self.inputs) if self.dataset == "FileList" else None


@dataclass(frozen=True)
class Endpoint:
    """A ServiceX endpoint from servicex.yaml; its token stays in the file."""

    name: str
    url: str
    config_file: Path


@dataclass(frozen=True)
class ServiceXDelivery:
    """What the servicex backend delivered, per sample: file records, skim, input events."""

    endpoint: Endpoint
    records: dict[str, list[FileRecord]]
    skims: dict[str, SampleSkim]
    nevts_total: dict[str, int]


def build_requests(samples: Sequence[SampleFiles], query: DeliveryQuery, tree: str) -> list[SampleRequest]:
    """One request per sample, every one carrying ``query.func_adl_text()``."""
    text = query.func_adl_text()
    columns = query.layout.selected_names()
    return [SampleRequest(s.key, *_dataset(s), text, tree, _nevts_total(s), columns) for s in samples]


def _dataset(sample: SampleFiles) -> tuple[str, tuple[str, ...]]:
    paths = tuple(f.path for f in sample.files)
    if len(paths) == 1 and paths[0].startswith("rucio://"):
        return "Rucio", (paths[0].removeprefix("rucio://"),)
    if len(paths) == 1 and paths[0].startswith("root://") and "*" in paths[0]:
        return "XRootD", paths
    bad = [p for p in paths if urlsplit(p).scheme not in FILE_SCHEMES or "*" in p]
    if bad:
        raise ConfigError(
            f"sample {sample.key}: {bad[0]!r} is no input for delivery.backend = 'servicex' (ServiceX reads "
            f"its inputs over the network); valid: file URLs ({', '.join(FILE_SCHEMES)}), one root://...*.root "
            f"pattern, or one rucio://scope:name"
        )
    return "FileList", paths


def _nevts_total(sample: SampleFiles) -> int:
    missing = [f.path for f in sample.files if f.nevts is None]
    if missing:
        raise InputFileError(
            f"sample {sample.key}: the fileset gives no 'nevts' for {missing[:3]} ({len(missing)} files); "
            f"the servicex backend needs them to normalise (ServiceX returns selected events only)"
        )
    return sum(f.nevts for f in sample.files)


def servicex_spec(requests: Sequence[SampleRequest], ignore_cache: bool = False) -> Any:
    """The ``servicex.ServiceXSpec``: ROOT TTree output downloaded to the local cache."""
    sx = _servicex()
    general = sx.General(OutputFormat=sx.OutputFormat.root_ttree, Delivery=sx.Delivery.LocalCache)
    try:
        return sx.ServiceXSpec(General=general, Sample=[_sample(sx, r, ignore_cache) for r in requests])
    except (ValueError, RuntimeError) as err:  # pydantic validation, duplicate samples
        raise ConfigError(f"ServiceX request not valid: {err}") from err


def _sample(sx: Any, request: SampleRequest, ignore_cache: bool) -> Any:
    from servicex.func_adl.func_adl_dataset import FuncADLQuery_Uproot

    query = FuncADLQuery_Uproot()
    query.set_provided_qastle(request.qastle())  # what the client makes of func_adl text in a spec file
    inputs = list(request.inputs) if request.dataset == "FileList" else request.inputs[0]
    dataset = getattr(sx.dataset, request.dataset)(inputs)
    return sx.Sample(Name=request.name, Dataset=dataset, Query=query, IgnoreLocalCache=ignore_cache)


def _servicex() -> Any:
    try:
        import servicex
    except ImportError as err:
        raise BackendError(
            "delivery.backend = 'servicex' needs the ServiceX client: pip install 'servicex==3.3.1' "
            f"(or agcflow[servicex]); valid without it: local ({err})"
        ) from err
    return servicex


def find_config(configured: Path | None, start: Path | None = None) -> Path:
    """The servicex.yaml to use: the configured one, else the client's search (``start`` and its
    parents, then the home directory)."""
    if configured is not None:
        if not configured.is_file():
            raise ConfigError(f"delivery.servicex.config = {str(configured)!r}: file not found")
        return configured
    start = (start or Path.cwd()).resolve()
    for directory in (start, *start.parents, Path.home()):
        for name in CONFIG_NAMES:
            if (directory / name).is_file():
                return directory / name
    raise ConfigError(
        f"no ServiceX configuration ({' or '.join(CONFIG_NAMES)}) in {start}, its parents or ~; write one with "
        f"'api_endpoints: [{{name, endpoint, token}}]' outside the repository, or set delivery.servicex.config"
    )


def read_endpoint(path: Path, name: str | None) -> Endpoint:
    """The endpoint called ``name`` (None: default-endpoint, else the first) in ``path``."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:  # no detail: the offending line may hold the token
        raise ConfigError(f"{path}: not valid YAML (near line {_line(err)})") from None
    endpoints = raw.get("api_endpoints") if isinstance(raw, dict) else None
    if not isinstance(endpoints, list) or not all(isinstance(e, dict) and "endpoint" in e for e in endpoints):
        raise ConfigError(f"{path}: expected 'api_endpoints: [{{name, endpoint, token}}, ...]'")
    urls = {str(e.get("name")): str(e["endpoint"]) for e in endpoints}
    chosen = name or raw.get("default-endpoint") or next(iter(urls), None)
    if chosen not in urls:
        key = "delivery.servicex.endpoint" if name else f"{path}: default-endpoint"
        raise ConfigError(f"{key} = {chosen!r}: no such endpoint in {path}; valid: {', '.join(urls) or 'none'}")
    if urlsplit(urls[chosen]).scheme not in ("http", "https"):
        raise ConfigError(f"{path}: endpoint {chosen!r} = {urls[chosen]!r}: not an http(s):// URL")
    return Endpoint(chosen, urls[chosen], path)


def _line(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    return str(mark.line + 1) if mark else "?"


def open_endpoint(settings: ServiceXSettings) -> Endpoint:
    """The configured endpoint, once a TCP connection to it succeeds within the timeout."""
    endpoint = read_endpoint(find_config(settings.config), settings.endpoint)
    check_reachable(
        endpoint.url, settings.connect_timeout_s, f"ServiceX endpoint {endpoint.name!r}",
        hint=f"check its URL in {endpoint.config_file}, network/VPN access to it, "
             f"or raise delivery.servicex.connect_timeout_s",
    )
    return endpoint


def transform(spec: Any, endpoint: Endpoint, cache_dir: str, progress: bool = True) -> dict[str, list[str]]:
    """Run the request at ``endpoint``; the delivered local files of each sample."""
    sx = _servicex()
    where = f"ServiceX endpoint {endpoint.name!r} ({endpoint.url})"
    bar = sx.ProgressBarFormat.compact if progress else sx.ProgressBarFormat.none
    try:
        results = sx.deliver(spec, config_path=str(endpoint.config_file), servicex_name=endpoint.name,
                             fail_if_incomplete=True, progress_bar=bar, cache_dir=cache_dir)
    except Exception as err:
        raise ServiceError(f"{where}: request failed ({type(err).__name__}: {err})") from err
    files = {}
    for sample in spec.Sample:
        try:
            files[sample.Name] = sorted(str(path) for path in results[sample.Name])
        except Exception as err:  # GuardList raises the transform's error on access
            raise ServiceError(f"{where}: sample {sample.Name}: transform failed ({_last_line(err)})") from err
    return files


def _last_line(err: Exception) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def check_delivered(request: SampleRequest, files: Sequence[str]) -> list[int]:
    """The entries of each delivered file; ServiceError naming the sample and files when fewer
    came back than requested or one is missing, empty, unreadable, or lacks the tree/columns."""
    expected = request.expected_files
    if not files or (expected is not None and len(files) < expected):
        raise ServiceError(
            f"ServiceX sample {request.name}: {len(files)} files delivered for {expected or 'at least 1'} "
            f"expected ({request.dataset} {list(request.inputs[:3])}{'...' if len(request.inputs) > 3 else ''}); "
            f"delivered: {list(files)}"
        )
    inspected = [_inspect(path, request.columns) for path in files]
    problems = [problem for _, problem in inspected if problem]
    if problems:
        raise ServiceError(f"ServiceX sample {request.name}: unusable delivered files:\n  " + "\n  ".join(problems))
    return [entries for entries, _ in inspected]


def _inspect(path: str, columns: Sequence[str]) -> tuple[int, str | None]:
    import uproot

    file = Path(path)
    if not file.is_file():
        return 0, f"{path}: missing"
    if file.stat().st_size == 0:
        return 0, f"{path}: empty (0 bytes)"
    try:
        with uproot.open(path) as handle:
            if OUTPUT_TREE not in handle:
                return 0, f"{path}: no tree {OUTPUT_TREE!r}; the file holds {handle.keys(cycle=False)}"
            events = handle[OUTPUT_TREE]
            missing = sorted(set(columns) - set(events.keys()))
            if missing:
                return 0, f"{path}: tree {OUTPUT_TREE!r} lacks the query's columns {missing}"
            return events.num_entries, None
    except Exception as err:  # uproot raises many types for damaged files
        return 0, f"{path}: not a readable ROOT file ({type(err).__name__}: {err})"


def convert_delivered(path: str, query: DeliveryQuery, cache_dir: str) -> FileRecord:
    """One delivered file's events as cached flat columns (the local backend's format); a file
    with no events gets no columns."""
    import uproot

    key = cache_key(path, OUTPUT_TREE, query)
    columns = Path(cache_dir) / key[:2] / f"{key}.columns.npz"
    sidecar = columns.with_suffix("").with_suffix(".json")
    cached = cached_record(FileRecord, sidecar, cache_dir)
    if cached is not None:
        return cached
    start = time.perf_counter()
    with uproot.open(path) as handle:
        events = handle[OUTPUT_TREE]
        names = list(query.layout.selected_names())
        arrays = events.arrays(names, how=dict) if events.num_entries else {names[0]: []}
    n_out = len(arrays[names[0]])
    if n_out:
        write_columns(columns, arrays, query.layout)
    record = FileRecord(path, str(columns) if n_out else "", 0, n_out, Path(path).stat().st_size,
                        time.perf_counter() - start)
    store_record(sidecar, record, cache_dir)
    return record


def collect(
    requests: Sequence[SampleRequest], delivered: dict[str, list[str]], query: DeliveryQuery, cache_dir: str,
    client: Client,
) -> tuple[dict[str, list[FileRecord]], dict[str, SampleSkim]]:
    """Check every sample's delivered files, then convert them to cached columns and merge one
    skim per sample on the cluster (a sample without events gets an empty skim record)."""
    for request in requests:
        check_delivered(request, delivered.get(request.name, []))
    futures = {r.name: client.map(convert_delivered, delivered[r.name], query=query, cache_dir=cache_dir, pure=False)
               for r in requests}
    records = {name: client.gather(fs) for name, fs in futures.items()}
    columns = {name: [r.columns for r in rs if r.nevts_out] for name, rs in records.items()}
    merged = client.gather({name: client.submit(merge_sample, cols, cache_dir, query.layout, pure=False)
                            for name, cols in columns.items() if cols})
    return records, {name: merged.get(name, SampleSkim("", "", 0)) for name in records}


def deliver_servicex(
    samples: Sequence[SampleFiles], query: DeliveryQuery, tree: str, delivery: DeliverySettings, client: Client,
    progress: bool = True,
) -> ServiceXDelivery:
    """Request every sample from ServiceX and collect what comes back. Nothing reaches the
    cluster before the endpoint answers."""
    requests = build_requests(samples, query, tree)
    endpoint = open_endpoint(delivery.servicex)
    spec = servicex_spec(requests, delivery.servicex.ignore_cache)
    log.info("ServiceX: %d samples to endpoint %r (%s)", len(requests), endpoint.name, endpoint.url)
    cache_dir = str(delivery.cache_dir)
    delivered = transform(spec, endpoint, str(Path(cache_dir) / "servicex"), progress)
    records, skims = collect(requests, delivered, query, cache_dir, client)
    return ServiceXDelivery(endpoint, records, skims, {r.name: r.nevts_total for r in requests})
