"""Synthetic CMS NanoAOD events: the embedded default input of the AGC ttbar analysis.

Events are generated in three vectorised steps:

1. Hard process: top quarks and W bosons with their two-body decays (isotropic in the rest
   frame, boosted to the lab) and initial-state radiation; W+jets is a leptonically decaying
   W recoiling against a steeply falling number of light and heavy-flavour partons; a Z'
   signal decays to ttbar at the mass its parameters give.
2. Shower and detector, the same for every process: tau decays, final-state splittings, jet
   response and resolution, pileup jets, jets made by leptons, jet ID, CSVv2 scores by hadron
   flavour, and prompt, heavy-flavour and fake leptons with their ID, isolation and sip3d.
3. Output: NanoAOD branch names and types (uint64 event numbers), floats rounded to
   NanoAOD-like mantissa precision; ``agcflow.inputs.generate`` writes the files.

The constants are tuned so that the selection efficiencies of the AGC selection and the shapes
of HT (4j1b) and m_bjj (4j2b) come close to the AGC reference histograms of the real inputs.

The package is split by concern: ``samples`` (sample table, default sizes, variation tunes),
``particles`` (codes, masses, the particle list), ``kinematics`` (four-vector helpers),
``decays`` (W, top and tau), ``radiation`` (initial- and final-state), ``top`` and ``wjets``
(hard processes), ``jets``, ``leptons``, ``nanoaod`` (branch layout) and ``events`` (assembly).
"""

from agcflow.analyses.cms_ttbar.generator.events import simulate
from agcflow.analyses.cms_ttbar.generator.samples import (
    DEFAULT_EVENTS,
    SAMPLES,
    SIGNAL_MASS_MIN,
)

__all__ = ["DEFAULT_EVENTS", "SAMPLES", "SIGNAL_MASS_MIN", "simulate"]
