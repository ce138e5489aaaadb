"""The ttbar analysis relaxed: sigmoid cuts and soft histograms, differentiable in JAX.

``columns`` prepares each sample's cached columns as padded arrays, ``selection`` relaxes
the selection and observables, ``templates`` fills soft histograms of every sample and
variation, and ``likelihood`` builds the HistFactory model of ``agcflow.stats.workspace``
from them and its expected uncertainty on the POI.
"""
