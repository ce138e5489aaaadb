"""The AGC ATLAS Open Data H->ZZ*->4l analysis: ``analysis.kind: atlas_hzz``."""

from agcflow.analyses.atlas_hzz.plugin import AtlasHzz

ANALYSIS = AtlasHzz()

__all__ = ["ANALYSIS", "AtlasHzz"]
