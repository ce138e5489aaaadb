"""Data delivery: the analysis query run on the inputs (locally or by ServiceX), skims cached by query and inputs, and the manifest every later stage checks."""
