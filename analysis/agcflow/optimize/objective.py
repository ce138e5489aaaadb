"""What ``agcflow optimize`` minimises, and where its results go.

``poi-uncertainty`` (the default): the expected uncertainty on the fit's POI (ttbar_norm).
``expected-limit``: the median expected upper limit at CLs = 0.05 on the strength
(``reinterpret.poi``) of a configured signal of ``reinterpret.signals``, added to the model
as a reinterpretation adds it (the fit's POI then a free norm factor).

Output names are declared here once: ``<strategy><suffix>.json`` and ``<figure><suffix>.png``,
the suffix empty for the default objective and ``-expected-limit-<signal>`` otherwise, so
the objectives (and signals) never overwrite each other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agcflow.config import Settings, SignalSettings
from agcflow.delivery.backends import deliver
from agcflow.delivery.manifest_types import Manifest
from agcflow.errors import ConfigError, InputFileError
from agcflow.inputs import fileset as inputs
from agcflow.inputs.fileset import FILESET
from agcflow.optimize.options import EXPECTED_LIMIT, OBJECTIVES, POI_UNCERTAINTY
from agcflow.util.io import read_json_object

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Objective:
    """An objective: its name and, for ``expected-limit``, the signal."""

    name: str = POI_UNCERTAINTY
    signal: SignalSettings | None = None

    @property
    def suffix(self) -> str:
        """What the objective adds to every output name."""
        return "" if self.signal is None else f"-{self.name}-{self.signal.name}"

    def result_path(self, output_dir: Path, strategy: str) -> Path:
        """The JSON record of ``strategy``."""
        return Path(output_dir) / f"{strategy}{self.suffix}.json"

    def figure_path(self, output_dir: Path, figure: str) -> Path:
        """The figure called ``figure`` (``landscape``, ``objective_vs_iteration``)."""
        return Path(output_dir) / f"{figure}{self.suffix}.png"

    def label(self, settings: Settings) -> str:
        """The objective in words (axis labels, messages)."""
        if self.signal is None:
            return f"expected uncertainty on {settings.fit.poi}"
        return f"expected 95% CL limit on {settings.reinterpret.poi} ({self.signal.name})"

    def record(self, settings: Settings) -> dict[str, Any]:
        """The objective as the output JSON names it."""
        if self.signal is None:
            return {"objective_name": self.name, "poi": settings.fit.poi, "signal": None}
        return {"objective_name": self.name, "poi": settings.reinterpret.poi, "signal": self.signal.name,
                "signal_xsec_pb": self.signal.xsec_pb}

    def analysis_settings(self, settings: Settings) -> Settings:
        """``settings`` with the signal as one more sample (unchanged for the default)."""
        if self.signal is None:
            return settings
        return dataclasses.replace(settings, analysis=settings.analysis.with_signal(self.signal))

    def measure(self, settings: Settings) -> Callable[[Any], Any] | None:
        """The relaxed objective of templates (JAX): ``settings`` as :meth:`analysis_settings` returns
        them; None for the default, which :func:`agcflow.optimize.gradient.relaxed_objective` computes."""
        if self.signal is None:
            return None
        from agcflow.relaxed.limit import expected_limit, signal_layout
        from agcflow.scan.engine import CLS_LEVEL

        layout = signal_layout(settings.analysis, settings.fit, self.signal.name, settings.reinterpret.poi)
        return lambda templates: expected_limit(templates, layout, CLS_LEVEL)

    def hard(self, manifest: Manifest, analysis: Any, settings: Settings, work_dir: Path) -> float:
        """The objective of the hard-cut ``analysis`` (without the signal; it is added here); an
        expected limit by the JAX engine (pyhf's upper_limit takes minutes a point: it checks the optimum)."""
        from agcflow.optimize import hard

        seed = settings.processing.seed
        if self.signal is None:
            return hard.expected_uncertainty(manifest, analysis, settings.fit, seed, work_dir)
        return hard.expected_limit(manifest, analysis, settings.fit, seed, work_dir, self.signal, settings.reinterpret,
                                   engine="jax")

    def with_signal(self, settings: Settings, manifest: Manifest, client: Client) -> Manifest:
        """``manifest`` with the signal delivered (as the backgrounds, from its generated fileset)."""
        if self.signal is None:
            return manifest
        path = signal_fileset(settings, self.signal)
        sample = inputs.sample_files(read_json_object(path, "a fileset JSON"), path, self.signal.name, "nominal")
        delivered = deliver([sample], settings.delivery, settings.analysis, client,
                            skip_bad_files=settings.processing.skip_bad_files, progress=False)
        return dataclasses.replace(manifest, samples={**manifest.samples, **delivered.samples})


def signal_fileset(settings: Settings, signal: SignalSettings) -> Path:
    """The generated signal's fileset JSON (``agcflow reinterpret`` writes it, or ``optimize --generate-signal``)."""
    return settings.reinterpret.signal_directory(signal.name) / FILESET


def objective_of(settings: Settings, name: str, signal: str | None) -> Objective:
    """The objective ``name``, checked before any compute: an expected limit needs a configured
    signal whose sample has been generated."""
    if name not in OBJECTIVES:
        raise ConfigError(f"objective {name!r} unknown; valid: {', '.join(OBJECTIVES)}")
    if name == POI_UNCERTAINTY:
        if signal is not None:
            raise ConfigError(f"--signal {signal!r} is for --objective {EXPECTED_LIMIT} only")
        return Objective(name)
    configured = [s.name for s in settings.reinterpret.signals]
    if signal is None:
        raise ConfigError(f"--objective {EXPECTED_LIMIT} needs --signal NAME; configured (reinterpret.signals): "
                          f"{configured}")
    chosen = settings.reinterpret.signal(signal)
    path = signal_fileset(settings, chosen)
    if not path.exists():
        raise InputFileError(f"signal {signal!r}: no generated sample ({path} does not exist); generate it with "
                             f"`agcflow optimize --objective {EXPECTED_LIMIT} --signal {signal} --generate-signal ...` "
                             f"or `agcflow reinterpret --name {signal}` (both write it under reinterpret.directory)")
    return Objective(name, chosen)
