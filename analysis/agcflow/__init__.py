"""agcflow: Analysis Grand Challenge vertical slices end to end (delivery, processing, statistical
model, fits, optimisation, reinterpretation); each analysis is a plugin (:mod:`agcflow.analyses`)."""

__version__ = "0.1.0"
