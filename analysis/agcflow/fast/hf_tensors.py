"""A HistFactory workspace specification as flat numpy arrays, for the fast CLs engine.

Covers the modifier types of published likelihoods such as the ATLAS sbottom pallet
(normfactor, lumi, staterror, normsys with interpolation code 4, histosys with code 4p, the
settings of ``pyhf cls``). Every array dimension can be padded with inert entries, so that
the patches of one region share a few array shapes and therefore a few compiled programs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

SUPPORTED_MODIFIERS = ("normfactor", "lumi", "staterror", "normsys", "histosys")
ALPHA_BOUNDS = (-5.0, 5.0)  # pyhf's default bounds of normsys/histosys parameters
GAMMA_BOUNDS = (1e-10, 10.0)  # ... of staterror parameters
NORMFACTOR_BOUNDS = (0.0, 10.0)
PAD_QUANTUM = 16  # dimensions are rounded up to a multiple of this


class UnsupportedModel(ValueError):
    """The specification cannot be expressed by these arrays (e.g. no POI, shapesys).

    A ``ValueError``: this engine imports nothing from agcflow; its callers translate it.
    """


@dataclass(frozen=True)
class ModelTensors:
    """Arrays of one model and its observed data. Shapes: S samples, B bins (all channels
    concatenated), P parameters, N normsys, H histosys, M multiplicative per-bin modifiers
    (normfactor, lumi, staterror), G Gaussian constraints."""

    nominal: np.ndarray  # [S, B]
    observed: np.ndarray  # [B]
    normsys_par: np.ndarray  # [N] parameter index
    normsys_hi: np.ndarray  # [N, S, B] factor at alpha = +1 (1 where absent)
    normsys_lo: np.ndarray  # [N, S, B] factor at alpha = -1
    histosys_par: np.ndarray  # [H]
    histosys_up: np.ndarray  # [H, S, B] hi_data - nominal (0 where absent)
    histosys_down: np.ndarray  # [H, S, B] nominal - lo_data
    factor_par: np.ndarray  # [M, B] parameter index per bin
    factor_mask: np.ndarray  # [M, S, B] whether the modifier scales that sample and bin
    gauss_par: np.ndarray  # [G]
    gauss_aux: np.ndarray  # [G] observed auxiliary data
    gauss_sigma: np.ndarray  # [G]
    gauss_weight: np.ndarray  # [G] 1, or 0 for padding
    init: np.ndarray  # [P]
    lower: np.ndarray  # [P]
    upper: np.ndarray  # [P]
    fixed: np.ndarray  # [P] bool
    poi: int

    def shape_key(self) -> tuple[tuple[int, ...], ...]:
        """The array shapes: models with equal keys share one compiled program."""
        return tuple(np.shape(getattr(self, f.name)) for f in fields(self) if f.name != "poi")

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays, the POI index included, keyed by field name."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}


@dataclass
class _Parameter:
    index: int
    kind: str
    init: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    aux: list[float] | None = None
    sigma: list[float] | None = None


def model_tensors(spec: dict[str, Any], pad: bool = True) -> ModelTensors:
    """Translate a workspace specification (its first measurement) into :class:`ModelTensors`.

    Raises :class:`UnsupportedModel` for specifications pyhf would reject here (the POI is
    not a parameter) or that use other modifier types.
    """
    builder = _Builder(spec)
    tensors = builder.build()
    return _padded(tensors) if pad else tensors


class _Builder:
    def __init__(self, spec: dict[str, Any]) -> None:
        try:
            self.measurement = spec["measurements"][0]["config"]
            self.channels = spec["channels"]
            observations = {obs["name"]: obs["data"] for obs in spec["observations"]}
        except (KeyError, IndexError, TypeError) as err:
            raise UnsupportedModel(f"not a workspace specification: missing {err}") from err
        self.user_config = {p["name"]: p for p in self.measurement.get("parameters", [])}
        self.samples = list(dict.fromkeys(s["name"] for ch in self.channels for s in ch["samples"]))
        self.offsets: list[int] = []
        observed: list[float] = []
        for channel in self.channels:
            if channel["name"] not in observations:
                raise UnsupportedModel(f"channel {channel['name']!r} has no observations")
            self.offsets.append(len(observed))
            observed += observations[channel["name"]]
        self.observed = np.asarray(observed, dtype=float)
        self.n_bins = len(observed)
        self.parameters: dict[str, _Parameter] = {}
        self.n_pars = 0

    def build(self) -> ModelTensors:
        shape = (len(self.samples), self.n_bins)
        nominal = np.zeros(shape)
        normsys: dict[str, dict[str, np.ndarray]] = {}
        histosys: dict[str, dict[str, np.ndarray]] = {}
        factors: dict[str, dict[str, np.ndarray]] = {}
        staterror: dict[str, list[tuple[int, slice, dict[str, Any]]]] = {}
        for offset, channel in zip(self.offsets, self.channels):
            for sample in channel["samples"]:
                s = self.samples.index(sample["name"])
                bins = slice(offset, offset + len(sample["data"]))
                nominal[s, bins] = sample["data"]
                for modifier in sample["modifiers"]:
                    name, kind, data = modifier["name"], modifier["type"], modifier.get("data")
                    if kind == "normsys":
                        entry = normsys.setdefault(name, {"hi": np.ones(shape), "lo": np.ones(shape)})
                        entry["hi"][s, bins], entry["lo"][s, bins] = data["hi"], data["lo"]
                        self._scalar(name, "alpha")
                    elif kind == "histosys":
                        entry = histosys.setdefault(name, {"up": np.zeros(shape), "down": np.zeros(shape)})
                        entry["up"][s, bins] = np.subtract(data["hi_data"], sample["data"])
                        entry["down"][s, bins] = np.subtract(sample["data"], data["lo_data"])
                        self._scalar(name, "alpha")
                    elif kind in ("normfactor", "lumi"):
                        entry = factors.setdefault(name, {"mask": np.zeros(shape, bool)})
                        entry["mask"][s, bins] = True
                        self._scalar(name, kind)
                    elif kind == "staterror":
                        staterror.setdefault(name, []).append((s, bins, modifier))
                    else:
                        raise UnsupportedModel(
                            f"modifier {name!r} has type {kind!r}; the fast engine supports "
                            f"{', '.join(SUPPORTED_MODIFIERS)} (use the numpy backend)"
                        )
        factor_par = [np.full(self.n_bins, self.parameters[n].index) for n in factors]
        factor_mask = [entry["mask"] for entry in factors.values()]
        for name, entries in staterror.items():
            index, mask = self._staterror(name, entries, nominal)
            factor_par.append(index)
            factor_mask.append(mask)
        poi_name = self.measurement.get("poi")
        if poi_name not in self.parameters:
            raise UnsupportedModel(
                f"the POI {poi_name!r} of the measurement is not a parameter of the model "
                "(no modifier of that name): the patch removed or did not add it"
            )
        return ModelTensors(
            nominal=nominal,
            observed=self.observed,
            normsys_par=np.array([self.parameters[n].index for n in normsys], dtype=int),
            normsys_hi=_stack([e["hi"] for e in normsys.values()], shape, 1.0),
            normsys_lo=_stack([e["lo"] for e in normsys.values()], shape, 1.0),
            histosys_par=np.array([self.parameters[n].index for n in histosys], dtype=int),
            histosys_up=_stack([e["up"] for e in histosys.values()], shape, 0.0),
            histosys_down=_stack([e["down"] for e in histosys.values()], shape, 0.0),
            factor_par=np.array(factor_par, dtype=int).reshape(-1, self.n_bins),
            factor_mask=_stack(factor_mask, shape, False),
            **self._parameter_arrays(),
            poi=self.parameters[poi_name].index,
        )

    def _scalar(self, name: str, kind: str) -> None:
        if kind == "alpha":
            self._register(name, kind, [0.0], [ALPHA_BOUNDS], [False], aux=[0.0], sigma=[1.0])
        elif kind == "normfactor":
            self._register(name, kind, [1.0], [NORMFACTOR_BOUNDS], [False])
        else:  # lumi: pyhf requires its auxdata, sigma and bounds in the measurement
            config = self.user_config.get(name)
            if not config or not {"auxdata", "sigmas", "bounds"} <= set(config):
                raise UnsupportedModel(f"lumi parameter {name!r} needs auxdata, sigmas and bounds in the measurement")
            self._register(name, kind, config["auxdata"], config["bounds"], [False], config["auxdata"], config["sigmas"])

    def _staterror(
        self, name: str, entries: list[tuple[int, slice, dict[str, Any]]], nominal: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """pyhf's combined staterror: one gamma per bin, sigma from all samples' errors."""
        mask = np.zeros(nominal.shape, bool)
        for s, bins, _ in entries:
            mask[s, bins] = True
        covered = mask.any(axis=0)
        total = np.where(mask, nominal, 0.0).sum(axis=0)[covered]
        relative_sq = np.zeros(covered.sum())
        for s, bins, modifier in entries:
            uncertainty = np.zeros(self.n_bins)
            uncertainty[bins] = modifier["data"]
            ratio = np.divide(uncertainty[covered], total, out=np.zeros_like(total), where=total > 0)
            relative_sq += ratio**2
        sigma = np.sqrt(relative_sq)
        fixed = sigma == 0  # as pyhf: a bin without uncertainty keeps gamma = 1
        n = len(sigma)
        self._register(
            name, "staterror", [1.0] * n, [GAMMA_BOUNDS] * n, fixed.tolist(), [1.0] * n, np.where(fixed, 1.0, sigma).tolist()
        )
        index = np.full(self.n_bins, -1)
        index[covered] = self.parameters[name].index + np.arange(n)
        return index, mask

    def _register(self, name, kind, init, bounds, fixed, aux=None, sigma=None) -> None:
        known = self.parameters.get(name)
        if known:
            if known.kind != kind:
                raise UnsupportedModel(f"parameter {name!r} is used as {known.kind} and as {kind}")
            return
        user = self.user_config.get(name, {})
        user_fixed = user.get("fixed", fixed)
        parameter = _Parameter(
            index=self.n_pars,
            kind=kind,
            init=list(user.get("inits", init)),
            bounds=[tuple(b) for b in user.get("bounds", bounds)],
            fixed=[user_fixed] * len(init) if isinstance(user_fixed, bool) else list(user_fixed),
            aux=list(user.get("auxdata", aux)) if aux is not None else None,
            sigma=list(user.get("sigmas", sigma)) if sigma is not None else None,
        )
        self.parameters[name] = parameter
        self.n_pars += len(init)

    def _parameter_arrays(self) -> dict[str, np.ndarray]:
        ordered = list(self.parameters.values())
        constrained = [p for p in ordered if p.aux is not None]
        bounds = np.array([b for p in ordered for b in p.bounds], dtype=float).reshape(-1, 2)
        gauss_par = [p.index + i for p in constrained for i in range(len(p.init))]
        return {
            "gauss_par": np.array(gauss_par, dtype=int),
            "gauss_aux": np.array([a for p in constrained for a in p.aux], dtype=float),
            "gauss_sigma": np.array([s for p in constrained for s in p.sigma], dtype=float),
            "gauss_weight": np.ones(len(gauss_par)),
            "init": np.array([v for p in ordered for v in p.init], dtype=float),
            "lower": bounds[:, 0],
            "upper": bounds[:, 1],
            "fixed": np.array([f for p in ordered for f in p.fixed], dtype=bool),
        }


def parameter_names(spec: dict[str, Any]) -> list[str]:
    """Name of each parameter slot of ``model_tensors(spec)``, as pyhf labels them
    (``name`` for scalars, ``name[i]`` for per-bin parameters)."""
    builder = _Builder(spec)
    builder.build()
    return [
        name if len(p.init) == 1 and p.kind != "staterror" else f"{name}[{i}]"
        for name, p in builder.parameters.items()
        for i in range(len(p.init))
    ]


def _stack(arrays: list[np.ndarray], shape: tuple[int, int], fill: float | bool) -> np.ndarray:
    if arrays:
        return np.stack(arrays)
    return np.full((0, *shape), fill)


def _padded(t: ModelTensors) -> ModelTensors:
    """Round every variable dimension up to a multiple of :data:`PAD_QUANTUM` with inert
    entries: one extra parameter slot, fixed at 0, absorbs all padded indices."""
    n_pars = _round_up(len(t.init) + 1)
    spare = len(t.init)  # fixed at 0: normsys/histosys at alpha = 0 are the identity
    n_norm, n_hist = _round_up(len(t.normsys_par)), _round_up(len(t.histosys_par))
    n_fact, n_gauss = _round_up(len(t.factor_par)), _round_up(len(t.gauss_par))
    return replace(
        t,
        normsys_par=_pad(t.normsys_par, n_norm, spare),
        normsys_hi=_pad(t.normsys_hi, n_norm, 1.0),
        normsys_lo=_pad(t.normsys_lo, n_norm, 1.0),
        histosys_par=_pad(t.histosys_par, n_hist, spare),
        histosys_up=_pad(t.histosys_up, n_hist, 0.0),
        histosys_down=_pad(t.histosys_down, n_hist, 0.0),
        factor_par=_pad(np.where(t.factor_par < 0, spare, t.factor_par), n_fact, spare),
        factor_mask=_pad(t.factor_mask, n_fact, False),
        gauss_par=_pad(t.gauss_par, n_gauss, spare),
        gauss_aux=_pad(t.gauss_aux, n_gauss, 0.0),
        gauss_sigma=_pad(t.gauss_sigma, n_gauss, 1.0),
        gauss_weight=_pad(t.gauss_weight, n_gauss, 0.0),
        init=_pad(t.init, n_pars, 0.0),
        lower=_pad(t.lower, n_pars, 0.0),
        upper=_pad(t.upper, n_pars, 0.0),
        fixed=_pad(t.fixed, n_pars, True),
    )


def _round_up(n: int) -> int:
    return max(PAD_QUANTUM, math.ceil(n / PAD_QUANTUM) * PAD_QUANTUM)


def _pad(array: np.ndarray, length: int, fill: float | bool | int) -> np.ndarray:
    extra = length - len(array)
    padding = np.full((extra, *array.shape[1:]), fill, dtype=array.dtype)
    return np.concatenate([array, padding])
