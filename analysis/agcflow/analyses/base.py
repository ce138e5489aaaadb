"""The analysis plugin interface: everything analysis-specific, each thing declared once.

The stages (generate, deliver, process, workspace, fit, reinterpret, bench) receive an
``Analysis`` (``settings.analysis.plugin``) and never import an analysis module. A plugin is
found by name (``analysis.kind: cms_ttbar``), by import path (``my_package.module:ANALYSIS``)
or through the ``agcflow.analyses`` entry-point group (:mod:`agcflow.config.plugins`).

A plugin declares:
- its configuration: a JSON schema for its own keys of the ``analysis`` block and of
  ``delivery.preselection``, a typed form of them (``options``, ``preselection``) and checks;
- the input columns (:class:`~agcflow.physics.columns.ColumnLayout`) and the delivery query
  (func_adl text and the same loose preselection on arrays);
- ONE registry of variations (object shifts and weight variations, :class:`Variation`): the
  histogram names a sample gets are derived from it, and a filled name it does not declare is
  an error, never dropped;
- the per-chunk physics (:meth:`Analysis.fill`), in plain coffea/awkward idiom or on flat numpy;
- the statistical model's analysis-specific pieces (measurement name, the sample the POI scales);
- the embedded synthetic generator (:meth:`Analysis.simulate`), signals included;
- optionally, for optimisation: its cut parameters (:meth:`Analysis.cut_parameters`) and a
  relaxed, differentiable form of its selection (:class:`RelaxedForm`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from agcflow.config import AnalysisSettings
    from agcflow.physics.columns import ColumnLayout

# (region, variation) -> (observable values, event weights), what ``Analysis.fill`` returns
Filled = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]

VARIATION_KINDS = ("shift", "weight")

# (region, process, variation) -> (yields, squared-weight sums) in the fit bins (JAX arrays)
Templates = dict[tuple[str, str, str], tuple[Any, Any]]


@dataclass(frozen=True)
class Variation:
    """One systematic variation the per-chunk physics fills for nominal samples.

    Attributes:
        name: the histogram-name suffix (``pt_scale_up``), what systematics refer to.
        kind: ``shift`` (objects changed, selection rerun) or ``weight`` (event weights only).
        processes: the processes it is filled for; None: every process.
    """

    name: str
    kind: str
    processes: tuple[str, ...] | None = None

    def applies_to(self, process: str) -> bool:
        """Whether nominal samples of ``process`` get this variation's histograms."""
        return self.processes is None or process in self.processes


@dataclass(frozen=True)
class Chunk:
    """What the per-chunk physics knows of the chunk's sample.

    Attributes:
        process: the process (sample) name.
        variation: the sample's variation (``nominal`` or an alternative sample, e.g. ``scaleup``).
        weight: the per-event normalisation (cross section x luminosity / generated events).
        seed: the processing seed, for per-event random numbers (smearing).
        variations: the registry variations to fill (empty for alternative samples and data).
        analysis: the analysis settings (options: ``analysis.options``).
        data: recorded data (``analysis.samples.<process>.data``): unweighted, nominal only.
    """

    process: str
    variation: str
    weight: float
    seed: int
    variations: tuple[Variation, ...]
    analysis: AnalysisSettings
    data: bool = False

    def wants(self, name: str) -> bool:
        """Whether the registry variation ``name`` is to be filled for this chunk."""
        return any(v.name == name for v in self.variations)


class DeliveryQuery(Protocol):
    """The delivery query of an analysis, rendered for func_adl and run on arrays.

    ``func_adl_text`` is the query's identity (cache keys, manifests); ``preselection_mask``
    is the same selection on flat columns (``layout.flat``), run by the local backend. A query
    whose layout has ``derived`` columns also has ``derived_columns(flat) -> {name: array}``,
    the same computed columns on arrays (:func:`derived_columns`).
    """

    layout: ColumnLayout

    def func_adl_text(self) -> str: ...

    def preselection_mask(self, flat: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def record(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CutParameter:
    """One cut an optimisation varies, from ``low`` to ``high`` in ``points`` grid points.

    Attributes:
        name: the cut's name, as :meth:`Analysis.cut_values` and :meth:`Analysis.with_cuts` know it.
        low: the grid's first value.
        high: the grid's last value.
        points: the number of grid points (at least 2).
    """

    name: str
    low: float
    high: float
    points: int

    @property
    def step(self) -> float:
        """The grid step."""
        return (self.high - self.low) / (self.points - 1)

    def values(self) -> np.ndarray:
        """The grid values."""
        return np.round(np.linspace(self.low, self.high, self.points), 10)


@dataclass(frozen=True)
class Relaxation:
    """How soft a relaxed analysis is: the sigmoid width per cut (0: hard) and the Gaussian
    kernel width of its soft histograms in observable units (0: hard bins)."""

    widths: Mapping[str, float]
    bandwidth: float


# one delivered sample: a function reading its flat columns, and its metadata (process, variation, weight:
# processing.run.sample_metadata)
DeliveredSample = tuple[Callable[[], Mapping[str, np.ndarray]], Mapping[str, Any]]


class RelaxedForm(Protocol):
    """An analysis with sigmoid cuts and soft histograms, differentiable in JAX.

    ``cuts`` names the cuts it can relax (a subset of :meth:`Analysis.cut_values`);
    ``events`` prepares every delivered sample once (padded arrays, a JAX pytree in
    ``tables``); ``templates`` fills the soft histograms of every sample and variation, for the
    fit's bin ``edges``, with cut values ``cuts`` (JAX scalars), sigmoid widths
    ``relaxation.widths`` and kernel width ``relaxation.bandwidth``, each times ``scale``.
    """

    cuts: tuple[str, ...]

    def events(self, samples: Mapping[str, DeliveredSample], analysis: AnalysisSettings, seed: int) -> Any: ...

    def tables(self, events: Any) -> Any: ...

    def templates(self, cuts: Mapping[str, Any], tables: Any, events: Any, analysis: AnalysisSettings, edges: Any,
                  relaxation: Relaxation, scale: Any) -> Templates: ...


class Analysis(ABC):
    """An analysis plugin; subclass it and expose an instance (e.g. ``ANALYSIS``).

    Class attributes:
        name: the plugin's name (``analysis.kind``).
        description: one line for ``--help`` and logs.
        layout: the input columns: per-event columns and collections (``ColumnLayout``).
        schema: the coffea schema of the delivered skims: ``nanoaod`` or ``base``.
        measurement: the pyhf measurement's name.
        poi_sample: the sample the fit's POI (``fit.poi``) scales.
    """

    name: str = ""
    description: str = ""
    layout: ColumnLayout
    schema: str = "nanoaod"
    measurement: str = "measurement"
    poi_sample: str = "signal"

    # --- configuration -----------------------------------------------------------------
    def options_schema(self) -> dict[str, Any]:
        """JSON-schema ``properties`` of the plugin's own keys in the ``analysis`` block."""
        return {}

    def region_schema(self) -> dict[str, Any]:
        """JSON-schema ``properties`` of the plugin's own keys in each region."""
        return {}

    def preselection_schema(self) -> dict[str, Any]:
        """JSON schema of ``delivery.preselection`` (its defaults fill absent keys)."""
        return {"type": "object"}

    def options(self, raw: Mapping[str, Any]) -> Any:
        """The typed form of the plugin's keys of the ``analysis`` block (validated, the schema's
        defaults filled in)."""
        return None

    def preselection(self, raw: Mapping[str, Any]) -> Any:
        """The typed form of ``delivery.preselection`` (validated, the schema's defaults filled in)."""
        return dict(raw)

    def problems(self, analysis: AnalysisSettings) -> list[str]:
        """Semantic problems of the analysis settings, each naming its key and what is valid."""
        return []

    def observables(self) -> Mapping[str, str]:
        """Observable name -> label, what regions may histogram."""
        return {}

    # --- delivery ------------------------------------------------------------------------
    @abstractmethod
    def delivery_query(self, analysis: AnalysisSettings, preselection: Any) -> DeliveryQuery:
        """The delivery query for these settings (``preselection`` as ``self.preselection``)."""

    def serves(self, analysis: AnalysisSettings, preselection: Any) -> list[str]:
        """Where ``preselection`` is tighter than the analysis needs (it would lose events),
        one problem per cut; empty when it keeps every event the analysis selects."""
        return []

    # --- processing ----------------------------------------------------------------------
    def variations(self, analysis: AnalysisSettings) -> tuple[Variation, ...]:
        """The registry of variations filled for nominal samples."""
        return ()

    def fill_flat(self, columns: Mapping[str, np.ndarray], chunk: Chunk) -> Filled:
        """``fill`` on one sample's flat delivered columns (``ColumnLayout.flat``), for cached
        passes. The default zips the columns into awkward records as NanoEvents would name
        them (``events.Muon.pt``) and calls ``fill``; override it for a flat-numpy fast path."""
        return self.fill(events_from_flat(columns, self.layout), chunk)

    @abstractmethod
    def fill(self, events: Any, chunk: Chunk) -> Filled:
        """Observable values and weights per (region, variation) of one chunk.

        ``events`` are coffea NanoEvents of the skim (collections as declared by the layout).
        Return ``nominal`` (for alternative samples: ``nominal`` only, named after the sample's
        variation by the caller) and every variation of ``chunk.variations``.
        """

    # --- generation ----------------------------------------------------------------------
    def samples(self) -> Mapping[str, Sequence[str]]:
        """The generator's processes and their variations."""
        return {}

    def default_events(self) -> Mapping[str, int]:
        """Events per ``process__variation`` of the embedded default dataset."""
        return {}

    def simulate(self, rng: np.random.Generator, process: str, variation: str, n_events: int, first_event: int,
                 parameters: Mapping[str, float]) -> dict[str, Any]:
        """Branches of ``n_events`` synthetic events (collections as awkward records), event
        numbers from ``first_event + 1``; signals (processes not in ``samples``) get their
        ``parameters`` (e.g. ``{"mass": 750}``)."""
        raise NotImplementedError(f"analysis {self.name!r} has no synthetic generator")

    def filter_efficiency(self, process: str, parameters: Mapping[str, float]) -> float | None:
        """The fraction of ``process``' cross section its synthetic events represent (a generator
        filter or skim), written into the generated fileset (``inputs.fileset``); None: all of it."""
        return None

    # --- optimisation ----------------------------------------------------------------------
    def cut_values(self, analysis: AnalysisSettings) -> dict[str, float]:
        """The configured value of every cut an optimisation may vary (none by default)."""
        return {}

    def with_cuts(self, analysis: AnalysisSettings, values: Mapping[str, float]) -> AnalysisSettings:
        """``analysis`` with the cuts set to ``values`` (names of :meth:`cut_values`); a plugin
        with cuts overrides it and calls this first, which refuses names it does not have."""
        unknown = sorted(set(values) - set(self.cut_values(analysis)))
        if unknown:
            raise ValueError(f"analysis {self.name!r} has no cuts {unknown}; valid: {sorted(self.cut_values(analysis))}")
        return analysis

    def cut_parameters(self, analysis: AnalysisSettings, preselection: Any) -> tuple[CutParameter, ...]:
        """The default optimisation grid, within what ``preselection`` delivered (none by default)."""
        return ()

    def relaxed_form(self) -> RelaxedForm | None:
        """The relaxed, differentiable form of the analysis, or None (gradient optimisation
        is then refused with a clear error; the grid strategy still works)."""
        return None

    def __repr__(self) -> str:
        return f"<analysis {self.name}>"


def expected_variations(analysis: AnalysisSettings, process: str, variation: str) -> list[str]:
    """The histogram variations a sample gets: its own, plus the registry's for nominal simulated samples."""
    data = analysis.data_sample
    if variation != "nominal" or (data is not None and data.name == process):
        return [variation]
    return ["nominal", *(v.name for v in analysis.plugin.variations(analysis) if v.applies_to(process))]


def derived_columns(query: DeliveryQuery, flat: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns ``query`` computes from flat input columns (none for a query without
    ``derived_columns``); each of ``query.layout.derived``, one value per event."""
    compute = getattr(query, "derived_columns", None)
    derived = dict(compute(flat)) if compute is not None else {}
    missing = sorted(set(query.layout.derived) - set(derived))
    if missing:
        raise TypeError(f"{type(query).__name__}.derived_columns: no columns {missing} of its layout's derived")
    return derived


def query_columns(query: DeliveryQuery, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """What ``query`` delivers from input ``columns`` (input branch name -> array): the flat
    columns of the events its preselection keeps, its derived columns included."""
    flat = query.layout.flat(columns)
    mask = query.preselection_mask(flat)
    return query.layout.select({**flat, **derived_columns(query, flat)}, mask)


def events_from_flat(columns: Mapping[str, np.ndarray], layout: ColumnLayout) -> Any:
    """Flat columns as one awkward array of events: per-event fields and collections of records."""
    import awkward as ak

    return ak.zip(layout.tree(columns), depth_limit=1)
