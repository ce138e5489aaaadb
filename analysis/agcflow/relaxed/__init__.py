"""The relaxed likelihood: the HistFactory model of :mod:`agcflow.stats.workspace` built in
JAX from an analysis' soft templates (:class:`agcflow.analyses.base.RelaxedForm`), and its
expected uncertainty on the POI, differentiable with respect to the cuts that made them.
"""
