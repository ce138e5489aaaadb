"""The configuration's closed choices, declared once: the schema carries them as ``enum``
(:func:`agcflow.config.schema`) and the modules that act on them import them from here."""

from __future__ import annotations

CLUSTER_KINDS = ("local", "address", "slurm", "htcondor", "gateway")
BATCH_KINDS = ("slurm", "htcondor")  # the dask-jobqueue kinds among CLUSTER_KINDS
DELIVERY_BACKENDS = ("local", "servicex")
FIT_BACKENDS = ("numpy", "jax")
FIT_DEVICES = ("auto", "cpu", "gpu")

# schema path (section, key) -> its choices
SCHEMA_ENUMS = {
    ("cluster", "kind"): CLUSTER_KINDS,
    ("delivery", "backend"): DELIVERY_BACKENDS,
    ("fit", "backend"): FIT_BACKENDS,
    ("fit", "device"): FIT_DEVICES,
}


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot name a Dask scheduler (None when it can), before connecting."""
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(address)
    except (ValueError, TypeError) as err:
        return f"cluster.address = {address!r}: not a Dask scheduler address ({err}); expected e.g. tcp://host:8786"
    return None
