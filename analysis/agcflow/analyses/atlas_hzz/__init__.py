"""The ATLAS Open Data H -> ZZ* -> 4l analysis (13 TeV, 10 fb^-1): ``analysis.kind: atlas_hzz``."""
