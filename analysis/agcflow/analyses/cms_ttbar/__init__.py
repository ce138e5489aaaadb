"""The AGC CMS open-data ttbar analysis: ``analysis.kind: cms_ttbar``."""

from agcflow.analyses.cms_ttbar.plugin import CmsTtbar

ANALYSIS = CmsTtbar()

__all__ = ["ANALYSIS", "CmsTtbar"]
