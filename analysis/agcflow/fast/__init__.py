"""The fast HistFactory engine: pyhf workspaces as dense tensors and asymptotic CLs; imports nothing from agcflow."""
