"""Analysis plugins and their interface (:mod:`agcflow.analyses.base`).

Stages use only the interface; each plugin lives in its own subpackage and is found by
``agcflow.config.plugins`` from ``analysis.kind``.
"""
