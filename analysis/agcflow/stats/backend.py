"""The tensor backend and device of the fit, resolved in one place."""

from __future__ import annotations

import logging
import os

from agcflow.config.enums import FIT_BACKENDS, FIT_DEVICES
from agcflow.errors import BackendError

log = logging.getLogger(__name__)



def use_backend(backend: str, device: str = "auto") -> str:
    """Set pyhf's tensor backend; return the device it runs on ("cpu" or "gpu").

    ``jax`` runs on a GPU when one is present and ``device`` is ``auto`` or ``gpu``;
    ``gpu`` without a GPU is an error rather than a silent fallback.
    """
    if backend not in FIT_BACKENDS:
        raise BackendError(f"fit backend {backend!r} unknown; valid: {', '.join(FIT_BACKENDS)}")
    if device not in FIT_DEVICES:
        raise BackendError(f"fit device {device!r} unknown; valid: {', '.join(FIT_DEVICES)}")
    import pyhf

    if backend == "numpy":
        if device == "gpu":
            raise BackendError("fit device 'gpu' needs fit backend 'jax'")
        pyhf.set_backend("numpy", "minuit")
        return "cpu"
    return _use_jax(device)


def _use_jax(device: str) -> str:
    if device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    import pyhf

    pyhf.set_backend("jax", "minuit")
    found = "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
    if device == "gpu" and found != "gpu":
        raise BackendError(f"fit device 'gpu' asked for, but JAX sees only: {jax.devices()}")
    log.info("pyhf backend jax on %s", found)
    return found
