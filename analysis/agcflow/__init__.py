"""agcflow: the AGC ttbar vertical slice from delivery to inference."""

__version__ = "0.1.0"
